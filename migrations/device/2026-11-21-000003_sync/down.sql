DROP TABLE held_pulls;
DROP INDEX revisions_by_record;
DROP TABLE revisions;
DROP INDEX outbox_by_record;
ALTER TABLE outbox DROP COLUMN changed_fields;
ALTER TABLE outbox DROP COLUMN base_hlc;
