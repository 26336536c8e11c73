-- The therapist portal's sign-ins. The cookie carries a random id; only its
-- SHA-256 is stored, so a copy of the database signs no one in, and every
-- server instance sharing the database knows every session. A session ends
-- after 15 minutes without a request, 12 hours after sign-in, or at sign-out
-- (`ended_at`).
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX portal_sessions_by_therapist ON portal_sessions (therapist_id);

-- When a therapist last opened each patient's page, and the patient's
-- version then: records written after it (by the server's counter, never a
-- device's clock) are "new since you last looked".
CREATE TABLE portal_visits (
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    visited_at BIGINT NOT NULL,
    seen_version BIGINT NOT NULL,
    PRIMARY KEY (therapist_id, patient_id)
);
