-- What each mutation was (its record and stamp), so that a device whose
-- numbering went back (a phone restored from a backup) is told apart from
-- a device replaying a push: the same number for a different change.
-- Outcomes are kept for good from now on (a few dozen bytes each) so that
-- the check never misses.
ALTER TABLE mutation_outcomes ADD COLUMN record_id TEXT;
ALTER TABLE mutation_outcomes ADD COLUMN hlc BIGINT;
