-- Patients' replies to their therapists' comments. A reply is a row of the
-- same conversation: `therapist_id` stays the therapist the patient talks
-- with, `from_patient` says the patient wrote it, and `reply_to` names the
-- therapist's comment it answers. Versioned in the patient's history like
-- every comment, so it reaches their other devices by pull.
ALTER TABLE comments ADD COLUMN from_patient BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE comments ADD COLUMN reply_to TEXT;
