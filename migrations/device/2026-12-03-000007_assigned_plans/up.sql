-- Care plans the patient's linked therapists wrote, as sync delivers them
-- (journal-core's `AssignedPlan`). A withdrawn plan is removed.
CREATE TABLE assigned_plans (
    id TEXT PRIMARY KEY NOT NULL,
    therapist_id TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
