DROP INDEX comments_pending;
DELETE FROM comments WHERE from_patient;
ALTER TABLE comments DROP COLUMN pending;
ALTER TABLE comments DROP COLUMN reply_to;
ALTER TABLE comments DROP COLUMN from_patient;
