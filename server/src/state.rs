//! What every handler shares: the database, token keys, password hasher and
//! throttles. Nothing here holds per-user state, so several server
//! instances can run side by side against one PostgreSQL.

use std::time::Duration;

use crate::auth::passwords::Passwords;
use crate::auth::throttle::AddressLimiter;
use crate::auth::tokens::AccessTokens;
use crate::db::Database;

/// Shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    /// The database pool.
    pub db: Database,
    /// Access-token keys.
    pub tokens: AccessTokens,
    /// Password hashing.
    pub passwords: Passwords,
    /// Per-address limit on endpoints that guess at secrets.
    pub guard: AddressLimiter,
    /// How long a refresh token lives.
    pub refresh_lifetime: Duration,
    /// How long a care invitation code stays valid.
    pub invitation_lifetime: Duration,
}
