-- The phone's records, the outbox of changes not yet pushed, and small
-- key/value facts about this installation (device id, clock).

CREATE TABLE records (
    -- Integer primary key: the rowid the search index is keyed by. Kept
    -- stable by being declared (VACUUM may renumber an implicit rowid).
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('journalEntry', 'intention', 'moodCheckIn',
        'assessment', 'exercisePractice', 'dosingSession')),
    phase TEXT CHECK (phase IN ('preparation', 'dosing', 'integration')),
    dosing_session_id TEXT,
    -- Microseconds since the Unix epoch.
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    hlc BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    -- The kind's content as JSON; '{}' once deleted (a tombstone keeps no text).
    body TEXT NOT NULL
);

-- Newest first, the list every screen starts from.
CREATE INDEX records_timeline ON records (deleted, occurred_at DESC, id DESC);
CREATE INDEX records_by_kind ON records (kind, deleted, occurred_at DESC, id DESC);
CREATE INDEX records_by_session ON records (dosing_session_id, occurred_at DESC)
    WHERE dosing_session_id IS NOT NULL;

CREATE TABLE outbox (
    -- The mutation id the server sees: AUTOINCREMENT so a number is never
    -- handed out twice, even after acknowledged rows are removed.
    mutation_id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    hlc BIGINT NOT NULL,
    -- The record's content as JSON at the time of the change; NULL for deletes.
    body TEXT,
    queued_at BIGINT NOT NULL
);

CREATE TABLE journal_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
