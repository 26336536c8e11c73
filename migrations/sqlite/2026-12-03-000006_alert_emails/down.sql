DROP INDEX alerts_email_due;
ALTER TABLE alerts DROP COLUMN email_error;
ALTER TABLE alerts DROP COLUMN email_sent_at;
ALTER TABLE alerts DROP COLUMN email_attempts;
ALTER TABLE alerts DROP COLUMN email_due_at;
