DROP TABLE records;
DROP TABLE owner_versions;
DROP TABLE care_links;
DROP TABLE care_invitations;
DROP TABLE refresh_tokens;
DROP TABLE login_throttle;
DROP TABLE users;
