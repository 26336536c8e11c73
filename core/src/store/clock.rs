//! The phone's clock when its wall clock runs ahead of the server's.
//!
//! Clock stamps never go back, so a change stamped by a clock set to next
//! year would drag every device's clock along with it. The server refuses a
//! push carrying a stamp later than its own clock allows
//! ([`crate::plausible::latest_stamp`]); the phone then:
//!
//! 1. learns how far its wall clock runs ahead from the `serverTime` of a
//!    pull, and from then on reads its wall clock that much earlier (kept
//!    across restarts, relearnt at every pull, back to zero once the clock
//!    is right again);
//! 2. stamps its waiting changes again ([`restamp`]): every outbox change
//!    stamped past the limit gets a new stamp in the same order, and the
//!    record and any later change built on it follow, so nothing in the
//!    outbox is dropped and the changes still order among themselves;
//! 3. sends them again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::pull::{greatest_pulled_stamp, meta, set_meta};
use super::schema::{outbox, records};
use super::{Clock, StoreError};
use crate::hlc::{Hlc, HlcClock, WallClock};

/// `journal_meta` key of how many milliseconds the wall clock runs ahead.
const AHEAD_KEY: &str = "clock_ahead_ms";

/// A wall clock behind this little ahead of the server's is left alone:
/// the time a pull's answer takes to arrive is not a clock error.
const TOLERANCE_MILLIS: u64 = 60_000;

/// The device's wall clock, read `ahead` milliseconds earlier.
#[derive(Clone)]
pub(super) struct Corrected {
    wall: Arc<dyn WallClock>,
    ahead: Arc<AtomicU64>,
}

impl Corrected {
    /// Wraps `wall`, correcting it by `ahead` milliseconds.
    pub(super) fn new(wall: Arc<dyn WallClock>, ahead: u64) -> Self {
        Self {
            wall,
            ahead: Arc::new(AtomicU64::new(ahead)),
        }
    }

    /// How far the wall clock is taken to run ahead, in milliseconds.
    pub(super) fn ahead(&self) -> u64 {
        self.ahead.load(Ordering::SeqCst)
    }

    /// The uncorrected reading.
    pub(super) fn raw_millis(&self) -> u64 {
        self.wall.now_millis()
    }

    fn set_ahead(&self, ahead: u64) {
        self.ahead.store(ahead, Ordering::SeqCst);
    }
}

impl WallClock for Corrected {
    fn now_millis(&self) -> u64 {
        self.wall.now_millis().saturating_sub(self.ahead())
    }
}

/// The correction kept from earlier launches (0 when none).
pub(super) fn stored_ahead(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    match meta(conn, AHEAD_KEY)? {
        None => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("bad clock correction {text:?}"))),
    }
}

/// Learns from `server_time` (a pull's answer, read at the device's
/// uncorrected `raw_millis`) how far the wall clock runs ahead, keeps it,
/// and corrects `clock` by it. A wall clock behind the server's needs no
/// correction: clock stamps already order after everything seen.
pub(super) fn learn(
    conn: &mut SqliteConnection,
    clock: &Clock,
    server_time: DateTime<Utc>,
) -> Result<(), StoreError> {
    let server = u64::try_from(server_time.timestamp_millis()).unwrap_or(0);
    let raw = clock.wall().raw_millis();
    let ahead = raw.saturating_sub(server);
    let ahead = if ahead <= TOLERANCE_MILLIS { 0 } else { ahead };
    if ahead != clock.wall().ahead() {
        set_meta(conn, AHEAD_KEY, &ahead.to_string())?;
        clock.wall().set_ahead(ahead);
    }
    Ok(())
}

/// Stamps again every outbox change stamped past `limit` (see the module),
/// with stamps from the corrected wall clock after the greatest stamp not
/// past `limit` this journal holds. Returns how many changes were stamped
/// again and leaves `clock` after the last of them. The caller wraps it in
/// one transaction.
pub(super) fn restamp(
    conn: &mut SqliteConnection,
    clock: &mut Clock,
    limit: Hlc,
) -> Result<u64, StoreError> {
    let ahead: Vec<(i64, String, i64)> = outbox::table
        .filter(outbox::hlc.gt(limit.to_i64()))
        .order(outbox::mutation_id.asc())
        .select((outbox::mutation_id, outbox::record_id, outbox::hlc))
        .load(conn)?;
    if ahead.is_empty() {
        return Ok(0);
    }
    let newest_kept: Option<i64> = records::table
        .filter(records::hlc.le(limit.to_i64()))
        .select(diesel::dsl::max(records::hlc))
        .first(conn)?;
    let pulled = greatest_pulled_stamp(conn)?;
    let floor = Hlc::from_i64(newest_kept.unwrap_or(0))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .max(if pulled <= limit { pulled } else { Hlc::ZERO });
    let mut fresh = HlcClock::resume(floor, clock.wall().clone());
    let mut count = 0u64;
    for (mutation_id, record_id, old) in ahead {
        let new = fresh.tick().to_i64();
        diesel::update(outbox::table.find(mutation_id))
            .set(outbox::hlc.eq(new))
            .execute(conn)?;
        // A later change made on top of this one names it as its base.
        diesel::update(
            outbox::table
                .filter(outbox::record_id.eq(&record_id))
                .filter(outbox::base_hlc.eq(old)),
        )
        .set(outbox::base_hlc.eq(new))
        .execute(conn)?;
        diesel::update(
            records::table
                .filter(records::id.eq(&record_id))
                .filter(records::hlc.eq(old)),
        )
        .set(records::hlc.eq(new))
        .execute(conn)?;
        count += 1;
    }
    *clock = fresh;
    Ok(count)
}
