DROP TABLE care_plans;
