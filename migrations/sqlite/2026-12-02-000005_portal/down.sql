DROP TABLE portal_visits;
DROP TABLE portal_sessions;
