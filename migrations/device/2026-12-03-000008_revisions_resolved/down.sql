DROP INDEX revisions_unresolved;
ALTER TABLE revisions DROP COLUMN resolved_at;
