-- Therapists' comments on the patient's records, as sync delivers them.
-- A deleted comment is removed.
CREATE TABLE comments (
    id TEXT PRIMARY KEY NOT NULL,
    record_id TEXT NOT NULL,
    therapist_id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX comments_by_record ON comments (record_id, created_at);
