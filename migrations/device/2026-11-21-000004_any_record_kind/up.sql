-- Shares are records too. The first schema listed the kinds in a CHECK
-- constraint, which SQLite cannot alter: rebuild the table without it (the
-- store validates kinds in code) so that new kinds need no rebuild again.
-- `seq` is copied as it is: the search index is keyed by it.
CREATE TABLE records_rebuilt (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    phase TEXT CHECK (phase IN ('preparation', 'dosing', 'integration')),
    dosing_session_id TEXT,
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    hlc BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
INSERT INTO records_rebuilt (seq, id, kind, phase, dosing_session_id, occurred_at,
    created_at, updated_at, hlc, deleted, body)
SELECT seq, id, kind, phase, dosing_session_id, occurred_at, created_at, updated_at,
    hlc, deleted, body FROM records;
DROP TABLE records;
ALTER TABLE records_rebuilt RENAME TO records;
CREATE INDEX records_timeline ON records (deleted, occurred_at DESC, id DESC);
CREATE INDEX records_by_kind ON records (kind, deleted, occurred_at DESC, id DESC);
CREATE INDEX records_by_session ON records (dosing_session_id, occurred_at DESC)
    WHERE dosing_session_id IS NOT NULL;
