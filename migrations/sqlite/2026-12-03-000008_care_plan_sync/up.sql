-- Care plans reach the patient's devices through pull, like comments: each
-- change (set, changed, withdrawn) takes the next version of the patient's
-- history. A withdrawn plan (removed by its author, or its care link ended)
-- stays as a row marked withdrawn until it is set again, so devices learn
-- it is gone.
ALTER TABLE care_plans ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE care_plans ADD COLUMN withdrawn BOOLEAN NOT NULL DEFAULT 0;

-- Plans written before this change get versions above everything their
-- patient's devices may already have pulled, in a stable order, and the
-- patients' counters move past them.
INSERT INTO owner_versions (owner_id, version)
SELECT DISTINCT patient_id, 0 FROM care_plans
WHERE patient_id NOT IN (SELECT owner_id FROM owner_versions);
UPDATE care_plans SET version =
    (SELECT v.version FROM owner_versions v WHERE v.owner_id = care_plans.patient_id)
    + (SELECT count(*) FROM care_plans p
       WHERE p.patient_id = care_plans.patient_id AND p.id <= care_plans.id);
UPDATE owner_versions SET version = version
    + (SELECT count(*) FROM care_plans p WHERE p.patient_id = owner_versions.owner_id)
WHERE owner_id IN (SELECT patient_id FROM care_plans);

-- A plan whose care link has already ended is withdrawn.
UPDATE care_plans SET withdrawn = TRUE
WHERE NOT EXISTS (
    SELECT 1 FROM care_links l
    WHERE l.patient_id = care_plans.patient_id
      AND l.therapist_id = care_plans.therapist_id
      AND l.ended_at IS NULL
);

CREATE INDEX care_plans_by_version ON care_plans (patient_id, version);
