-- Accounts, sign-in tokens, care links and patients' records.
-- Timestamps are microseconds since the Unix epoch (BIGINT), as on the
-- SQLite backend and the phone, so one code path reads them all
-- (docs/decisions/0005-one-schema-two-databases.md).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('patient', 'therapist')),
    display_name TEXT,
    created_at BIGINT NOT NULL
);

-- Failed sign-ins per email (hashed: unknown emails are throttled the same
-- way as known ones, without keeping them).
CREATE TABLE login_throttle (
    email_hash TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE care_invitations (
    id TEXT PRIMARY KEY,
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    revoked_at BIGINT
);
CREATE INDEX care_invitations_therapist ON care_invitations (therapist_id);

CREATE TABLE care_links (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    ended_by TEXT
);
CREATE UNIQUE INDEX care_links_active ON care_links (patient_id, therapist_id) WHERE ended_at IS NULL;
CREATE INDEX care_links_therapist ON care_links (therapist_id);

-- The per-owner counter that versions every write (the sync cursor).
CREATE TABLE owner_versions (
    owner_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version BIGINT NOT NULL
);

CREATE TABLE records (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    phase TEXT,
    dosing_session_id TEXT,
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    hlc BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    body TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX records_timeline ON records (owner_id, deleted, occurred_at DESC, id DESC);
CREATE INDEX records_by_kind ON records (owner_id, kind, deleted, occurred_at DESC, id DESC);
CREATE INDEX records_by_version ON records (owner_id, version);
CREATE INDEX records_by_session ON records (owner_id, dosing_session_id) WHERE dosing_session_id IS NOT NULL;
