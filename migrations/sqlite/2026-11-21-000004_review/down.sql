DROP TABLE alerts;
DROP TABLE audit_log;
DROP TABLE comments;
