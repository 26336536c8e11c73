//! The queue of safety-alert emails, kept on the alerts themselves.
//!
//! Raising an alert makes its email due at once, in the same transaction
//! ([`super::alerts::raise`]), so an email is never lost to a crash between
//! the two. The mailer ([`crate::mail`]) reads what is due, claims one
//! attempt at a time with a conditional update (so several instances on
//! one database never send the same email twice), and records the outcome:
//! sent, failed (due again later), or not needed (the alert was
//! acknowledged or resolved before it could be sent).
//!
//! Nothing here holds patient data: the mailer gets the therapist's
//! address and the alert's id, nothing of the patient.

use diesel::prelude::*;

use super::schema::{alerts, users};
use super::{DbConnection, StoreError};

/// One email waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEmail {
    /// The alert it tells of.
    pub alert_id: String,
    /// Where it goes: the therapist's sign-in address.
    pub to: String,
    /// When this attempt became due (microseconds); the claim checks it.
    pub due_at: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    /// Whether the alert is still open: an acknowledged or resolved alert
    /// needs no email.
    pub still_open: bool,
}

/// Up to `limit` emails due at `now` (microseconds), the longest waiting
/// first.
pub fn due(conn: &mut DbConnection, now: i64, limit: i64) -> Result<Vec<DueEmail>, StoreError> {
    let rows: Vec<(String, String, Option<i64>, i32, String)> = alerts::table
        .inner_join(users::table.on(users::id.eq(alerts::therapist_id)))
        .filter(alerts::email_due_at.le(now))
        .order(alerts::email_due_at.asc())
        .limit(limit)
        .select((
            alerts::id,
            users::email,
            alerts::email_due_at,
            alerts::email_attempts,
            alerts::status,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(alert_id, to, due_at, attempts, status)| {
            Some(DueEmail {
                alert_id,
                to,
                due_at: due_at?,
                attempts,
                still_open: status == "open",
            })
        })
        .collect())
}

/// Claims the attempt `email` describes for this instance until `until`
/// (microseconds): true when no other instance claimed it first. A claim
/// whose sender dies simply falls due again at `until`.
pub fn claim(conn: &mut DbConnection, email: &DueEmail, until: i64) -> Result<bool, StoreError> {
    let moved = diesel::update(
        alerts::table
            .filter(alerts::id.eq(&email.alert_id))
            .filter(alerts::email_due_at.eq(email.due_at)),
    )
    .set((
        alerts::email_due_at.eq(Some(until)),
        alerts::email_attempts.eq(alerts::email_attempts + 1),
    ))
    .execute(conn)?;
    Ok(moved == 1)
}

/// The email went out at `at`.
pub fn sent(conn: &mut DbConnection, alert_id: &str, at: i64) -> Result<(), StoreError> {
    diesel::update(alerts::table.find(alert_id))
        .set((
            alerts::email_due_at.eq(None::<i64>),
            alerts::email_sent_at.eq(Some(at)),
            alerts::email_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The attempt failed with `error` (the SMTP server's or the network's
/// words); the next is due at `retry_at`.
pub fn failed(
    conn: &mut DbConnection,
    alert_id: &str,
    retry_at: i64,
    error: &str,
) -> Result<(), StoreError> {
    diesel::update(alerts::table.find(alert_id))
        .set((
            alerts::email_due_at.eq(Some(retry_at)),
            alerts::email_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The alert was handled before its email went out: nothing to send.
pub fn not_needed(conn: &mut DbConnection, alert_id: &str) -> Result<(), StoreError> {
    diesel::update(alerts::table.find(alert_id))
        .set(alerts::email_due_at.eq(None::<i64>))
        .execute(conn)?;
    Ok(())
}

/// What became of an alert's email: attempts made, when it was sent, the
/// last error. For operators and tests.
pub fn state(
    conn: &mut DbConnection,
    alert_id: &str,
) -> Result<(i32, Option<i64>, Option<String>), StoreError> {
    alerts::table
        .find(alert_id)
        .select((
            alerts::email_attempts,
            alerts::email_sent_at,
            alerts::email_error,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::NotFound("no such alert".to_owned()))
}
