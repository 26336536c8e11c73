-- Sync: who wrote each record's current version and when it was created (by
-- clock stamp), per-field stamps for records merged field by field, the
-- devices that push, the outcome of each recent mutation (so a replay gets
-- the answer it got the first time), and conflict revisions.
-- Timestamps are microseconds since the Unix epoch, clock stamps packed Hlc
-- integers, ids TEXT: as in the first migration.

-- The device whose version is current; edits made through the REST API
-- carry the nil device id.
ALTER TABLE records ADD COLUMN origin_device TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
-- The stamp the record was created with; NULL for rows written before this
-- migration, read as the row's current stamp.
ALTER TABLE records ADD COLUMN created_hlc BIGINT;
ALTER TABLE records ADD COLUMN created_device TEXT;
-- journal-core's FieldStamps as JSON (intentions and dosing sessions).
ALTER TABLE records ADD COLUMN field_stamps TEXT NOT NULL DEFAULT '{}';

CREATE TABLE sync_devices (
    device_id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_mutation_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sync_devices_owner ON sync_devices (owner_id);

-- The JSON of the MutationOutcome a mutation first got. Rows below a push's
-- first mutation id are deleted: the device no longer sends those.
CREATE TABLE mutation_outcomes (
    device_id TEXT NOT NULL REFERENCES sync_devices (device_id) ON DELETE CASCADE,
    mutation_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (device_id, mutation_id)
);

-- Content that lost a conflict (or to a delete), kept for the patient.
-- Stamped with a version of the owner's history, like records, so pull
-- passes them on in order.
CREATE TABLE record_revisions (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hlc BIGINT NOT NULL,
    origin_device TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('conflict', 'deleted')),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX record_revisions_by_version ON record_revisions (owner_id, version);
CREATE INDEX record_revisions_by_record ON record_revisions (owner_id, record_id);
