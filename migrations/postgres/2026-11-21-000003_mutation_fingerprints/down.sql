ALTER TABLE mutation_outcomes DROP COLUMN hlc;
ALTER TABLE mutation_outcomes DROP COLUMN record_id;
