-- Attempts at guessable secrets (sign-in, registration, refresh, invitation
-- and reset codes) per client address, in fixed windows: in the database so
-- that every server instance on it counts against the same limit.
CREATE TABLE address_throttle (
    address TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX address_throttle_by_window ON address_throttle (window_start);
