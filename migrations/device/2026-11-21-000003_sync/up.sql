-- What sync needs on the phone: the outbox says which version each change
-- was made on and which fields it set (so the server can tell a concurrent
-- edit from a fast-forward, and merge small records field by field), and
-- the text that lost a conflict is kept for the patient to see and restore.

-- The stamp of the version the change was made on; NULL for a create.
ALTER TABLE outbox ADD COLUMN base_hlc BIGINT;
-- JSON array of the top-level content fields the change set; NULL: all.
ALTER TABLE outbox ADD COLUMN changed_fields TEXT;

-- Pulling asks whether a record still has changes waiting to be pushed.
CREATE INDEX outbox_by_record ON outbox (record_id);

-- Conflict revisions pulled from the server: text that lost a conflict.
CREATE TABLE revisions (
    id TEXT PRIMARY KEY NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- The packed stamp of the losing edit.
    hlc BIGINT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('conflict', 'deleted')),
    -- The losing content as JSON.
    body TEXT NOT NULL,
    -- Microseconds since the Unix epoch: when the server kept it.
    created_at BIGINT NOT NULL
);

CREATE INDEX revisions_by_record ON revisions (record_id, hlc DESC);

-- The server's version of a record, pulled while the record still had
-- changes waiting to be pushed (those win locally until the server has
-- them). Once they are pushed and a pull has caught up without a newer
-- version, this is what the server holds, and it becomes the local copy.
CREATE TABLE held_pulls (
    record_id TEXT PRIMARY KEY NOT NULL,
    -- Its position in the owner's history.
    version BIGINT NOT NULL,
    -- The pulled record (wire JSON).
    state TEXT NOT NULL
) WITHOUT ROWID;
