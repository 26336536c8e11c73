-- A kept revision the patient has dealt with (restored, or dismissed
-- keeping the current text) no longer shows among the conflicts or the
-- recently deleted; it stays listed with its record.
ALTER TABLE revisions ADD COLUMN resolved_at BIGINT;
CREATE INDEX revisions_unresolved ON revisions (resolved_at, reason);
