-- Care plans a linked therapist writes for a patient: which questionnaires
-- and how often, the integration follow-ups after each dosing session, and
-- the check-in cadence (journal-core's `CarePlan`, as JSON). One plan per
-- therapist and patient; only its author changes it.
CREATE TABLE care_plans (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    therapist_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX care_plans_once ON care_plans (therapist_id, patient_id);
CREATE INDEX care_plans_by_patient ON care_plans (patient_id);
