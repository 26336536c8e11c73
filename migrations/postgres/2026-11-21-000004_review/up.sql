-- Therapist review: comments on shared items, the audit log of every
-- therapist read, and safety alerts.

-- A therapist's comment on one of a patient's records. Versioned in the
-- patient's history, so it reaches their devices by pull.
CREATE TABLE comments (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    record_id TEXT NOT NULL,
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL
);
CREATE INDEX comments_by_version ON comments (owner_id, version);
CREATE INDEX comments_by_record ON comments (owner_id, record_id);

-- Every therapist read of patient data: who, which record, when, and the
-- share that allowed it. Append-only: no route updates or deletes a row,
-- and no foreign keys, so rows outlive an erased account (they hold ids and
-- kinds, never content).
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    therapist_id TEXT NOT NULL,
    action TEXT NOT NULL,
    record_id TEXT,
    record_kind TEXT,
    share_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_by_patient ON audit_log (patient_id, at);
CREATE INDEX audit_log_by_therapist ON audit_log (therapist_id, at);

-- A risk answer shared with a linked therapist. The patient cannot clear
-- it; the therapist acknowledges, then resolves.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    record_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    resolved_at BIGINT,
    note TEXT
);
CREATE UNIQUE INDEX alerts_once ON alerts (therapist_id, record_id);
CREATE INDEX alerts_by_therapist ON alerts (therapist_id, status, created_at);
