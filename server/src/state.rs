//! What every handler shares: the database, token keys, password hasher and
//! throttles. Nothing here holds per-user state, so several server
//! instances can run side by side against one PostgreSQL.

use std::sync::Mutex;
use std::time::Duration;

use journal_core::hlc::{Hlc, HlcClock, SystemClock};

use crate::auth::passwords::Passwords;
use crate::auth::tokens::AccessTokens;
use crate::store::Database;

/// Shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    /// The database pool.
    pub db: Database,
    /// Access-token keys.
    pub tokens: AccessTokens,
    /// Password hashing.
    pub passwords: Passwords,
    /// Per-address limit on endpoints that guess at secrets, per minute
    /// (counted in the database: `store::throttle`).
    pub auth_attempts_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Prometheus metrics (served on `--metrics-bind` only).
    pub metrics: crate::metrics::Metrics,
    /// How long a refresh token lives.
    pub refresh_lifetime: Duration,
    /// How long a client has to send a request's body once its headers
    /// arrived.
    pub request_timeout: Duration,
    /// How long a care invitation code stays valid.
    pub invitation_lifetime: Duration,
    /// Whether the portal's session cookie is `Secure` and `__Host-`
    /// prefixed (off only for plain HTTP on one's own machine).
    pub portal_secure_cookie: bool,
    /// Shown to patients before they share anything.
    pub monitoring_statement: String,
    /// Shown with a risk answer.
    pub crisis_resources: journal_core::safety::CrisisResources,
    /// Stamps edits made through the REST API, so they order with the
    /// devices' edits by the same rules.
    pub clock: Mutex<HlcClock<SystemClock>>,
    /// How emails go out (password-reset codes); `None` without SMTP.
    pub mail: Option<crate::mail::MailSettings>,
}

impl AppState {
    /// A clock stamp for an edit made here, greater than `after` (the stamp
    /// of the version it replaces) and every stamp this process gave before.
    pub fn stamp_after(&self, after: Hlc) -> Hlc {
        let mut clock = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        clock.observe(after)
    }
}
