//! Attempts at guessable secrets per client address, counted in the
//! database in fixed windows, so that every server instance on one
//! database holds the same limit (N instances counting in memory would give
//! an attacker N times the attempts). Per-account sign-in throttling is in
//! `accounts` (`login_throttle`).

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::schema::address_throttle;
use super::time::now_micros;
use super::{DbConnection, StoreError};

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    window_start: i64,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// One statement on both backends: start a window for a new address, or
/// count one more attempt in its window. Atomic, so attempts arriving at
/// several instances at once are each counted.
const COUNT: &str = "INSERT INTO address_throttle (address, window_start, attempts) \
     VALUES ($1, $2, 1) \
     ON CONFLICT (address) DO UPDATE SET attempts = address_throttle.attempts + 1 \
     RETURNING window_start, attempts";

/// Counts an attempt from `address`: at most `max` per `window`. `Ok(Err(
/// seconds))` when it is one too many, with how long until the window ends.
pub fn count_attempt(
    conn: &mut DbConnection,
    address: &str,
    max: u32,
    window: Duration,
) -> Result<Result<(), u64>, StoreError> {
    let window = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    conn.write_transaction(|conn| {
        let now = now_micros();
        // Windows that have ended are forgotten (by the index on
        // window_start), so the address starts a new one.
        diesel::delete(
            address_throttle::table.filter(address_throttle::window_start.le(now - window)),
        )
        .execute(conn)?;
        let counted: Counted = match conn {
            DbConnection::Postgresql(pg) => diesel::sql_query(COUNT)
                .bind::<Text, _>(address)
                .bind::<BigInt, _>(now)
                .get_result(pg),
            DbConnection::Sqlite(lite) => diesel::sql_query(COUNT)
                .bind::<Text, _>(address)
                .bind::<BigInt, _>(now)
                .get_result(lite),
        }?;
        if i64::from(counted.attempts) > i64::from(max.max(1)) {
            let left = (counted.window_start + window - now).max(0);
            return Ok(Err(u64::try_from(left / 1_000_000).unwrap_or(0).max(1)));
        }
        Ok(Ok(()))
    })
}
