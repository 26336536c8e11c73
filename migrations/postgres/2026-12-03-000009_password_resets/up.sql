-- Password resets by a single-use code sent by email. One row per email
-- (hashed, so emails without an account are throttled alike without being
-- kept): how many codes were asked for in the current window, and the
-- code in force (hashed), until when, and how many wrong tries it had.
CREATE TABLE password_resets (
    email_hash TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT,
    expires_at BIGINT,
    wrong_tries INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    window_start BIGINT NOT NULL
);
