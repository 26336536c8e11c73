DROP TABLE assigned_plans;
