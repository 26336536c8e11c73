//! When pooled connections are checked before use.
//!
//! Checking each connection with a round trip (`SELECT 1`) every time one
//! is taken from the pool cost PostgreSQL's up-to-date pull about a quarter
//! of its rate: the pull itself is one statement, so the check doubled the
//! round trips. Connections die only with the database server (a restart,
//! a failover) or the network, and such a death shows: the statement sent
//! on a dead connection fails as a lost connection. So connections are
//! taken unchecked until one is found lost; from then on, for
//! [`CHECK_WINDOW`], every connection is checked when taken and when given
//! back, and those that died with it are replaced before they fail a
//! request. The request that found the loss is answered 503 (the
//! database is unavailable), which clients retry.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long connections are checked after one was found lost.
pub const CHECK_WINDOW: Duration = Duration::from_secs(30);

/// When the process first asked: the origin of [`CHECK_UNTIL`].
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Until when (milliseconds after [`origin`]) connections are checked.
static CHECK_UNTIL: AtomicU64 = AtomicU64::new(0);

fn now_millis() -> u64 {
    u64::try_from(origin().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A connection was found lost (or none could be made): check connections
/// for the next [`CHECK_WINDOW`].
pub fn connection_lost() {
    let until = now_millis().saturating_add(CHECK_WINDOW.as_millis() as u64);
    CHECK_UNTIL.fetch_max(until, Ordering::Relaxed);
}

/// Whether pooled connections are being checked now.
pub fn checking() -> bool {
    now_millis() < CHECK_UNTIL.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_starts_the_checks() {
        // The window may be open already from another test in this
        // process; it is open after a loss in any case.
        connection_lost();
        assert!(checking());
        let until = CHECK_UNTIL.load(Ordering::Relaxed);
        assert!(until >= now_millis() + CHECK_WINDOW.as_millis() as u64 - 1_000);
    }
}
