-- The patient's replies to their therapists' comments, kept beside the
-- comments: `from_patient` marks a reply, `reply_to` names the comment it
-- answers, and `pending` says what a reply written here still has to tell
-- the server: 'create', 'edit' or 'delete' (sent by the next sync), or
-- 'refused' (the server would not take it; the text stays here).
ALTER TABLE comments ADD COLUMN from_patient BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE comments ADD COLUMN reply_to TEXT;
ALTER TABLE comments ADD COLUMN pending TEXT;
CREATE INDEX comments_pending ON comments (pending) WHERE pending IS NOT NULL;
