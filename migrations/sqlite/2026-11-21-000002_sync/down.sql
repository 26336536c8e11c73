DROP TABLE record_revisions;
DROP TABLE mutation_outcomes;
DROP TABLE sync_devices;
ALTER TABLE records DROP COLUMN field_stamps;
ALTER TABLE records DROP COLUMN created_device;
ALTER TABLE records DROP COLUMN created_hlc;
ALTER TABLE records DROP COLUMN origin_device;
