-- Safety-alert emails. When an alert is raised, the therapist is sent an
-- email that says only that an alert awaits (no name, score or text). The
-- email is queued on the alert itself, in the transaction that raises it,
-- so it is never lost and never sent twice: `email_due_at` is when the
-- next attempt is due (NULL: nothing to send), `email_attempts` how many
-- were made, `email_sent_at` when one succeeded, `email_error` the last
-- failure (the SMTP server's words, never patient data). An instance
-- claims an attempt by moving `email_due_at` forward in one conditional
-- update, so several instances never send the same email twice.
ALTER TABLE alerts ADD COLUMN email_due_at BIGINT;
ALTER TABLE alerts ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN email_sent_at BIGINT;
ALTER TABLE alerts ADD COLUMN email_error TEXT;
CREATE INDEX alerts_email_due ON alerts (email_due_at) WHERE email_due_at IS NOT NULL;
