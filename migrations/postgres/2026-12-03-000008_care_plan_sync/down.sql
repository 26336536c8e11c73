DROP INDEX care_plans_by_version;
ALTER TABLE care_plans DROP COLUMN withdrawn;
ALTER TABLE care_plans DROP COLUMN version;
