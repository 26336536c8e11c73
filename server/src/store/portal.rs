//! The therapist portal's sessions and visits.
//!
//! - A session is a row keyed by the SHA-256 of the random id the cookie
//!   carries (the caller hashes it), with the therapist, the CSRF token of
//!   its forms, when it began and when it was last used. It ends at
//!   sign-out (`ended_at`), after [`IDLE_MINUTES`] without a request, and
//!   [`ABSOLUTE_HOURS`] after sign-in, whichever comes first; an account
//!   that is gone, or no longer a therapist's, ends it too.
//! - A visit is when a therapist last opened a patient's page: what changed
//!   since is "new since you last looked".

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{portal_sessions, portal_visits, users};
use super::time::{micros_to_time, now_micros};
use super::{DbConnection, StoreError, versions};

/// A session with no request for this long has ended (automatic logoff).
pub const IDLE_MINUTES: i64 = 15;
/// A session this old has ended, however busy.
pub const ABSOLUTE_HOURS: i64 = 12;

const MINUTE_MICROS: i64 = 60 * 1_000_000;

/// A live portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// The signed-in therapist.
    pub therapist: Uuid,
    /// Their display name, if they have one.
    pub display_name: Option<String>,
    /// Their email.
    pub email: String,
    /// The token every state-changing form of this session carries.
    pub csrf_token: String,
}

/// Why a presented session is not live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// No such session, or it was signed out.
    Unknown,
    /// It ended after [`IDLE_MINUTES`] without a request.
    Idle,
    /// It reached [`ABSOLUTE_HOURS`].
    Expired,
}

/// A session's row with its therapist's name, email and role.
type SessionRow = (String, String, i64, i64, Option<String>, String, String);

/// Starts a session for `therapist` under the hashed id.
pub fn start(
    conn: &mut DbConnection,
    therapist: Uuid,
    id_hash: &str,
    csrf_token: &str,
) -> Result<(), StoreError> {
    let now = now_micros();
    diesel::insert_into(portal_sessions::table)
        .values((
            portal_sessions::id_hash.eq(id_hash),
            portal_sessions::therapist_id.eq(therapist.to_string()),
            portal_sessions::csrf_token.eq(csrf_token),
            portal_sessions::created_at.eq(now),
            portal_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The live session under the hashed id, marked used now; why not when it
/// is not (an idle or expired one is ended on the way).
pub fn touch(
    conn: &mut DbConnection,
    id_hash: &str,
) -> Result<Result<PortalSession, SessionEnd>, StoreError> {
    conn.write_transaction(|conn| {
        let now = now_micros();
        let row: Option<SessionRow> = portal_sessions::table
            .inner_join(users::table.on(users::id.eq(portal_sessions::therapist_id)))
            .filter(portal_sessions::id_hash.eq(id_hash))
            .filter(portal_sessions::ended_at.is_null())
            .select((
                portal_sessions::therapist_id,
                portal_sessions::csrf_token,
                portal_sessions::created_at,
                portal_sessions::last_seen_at,
                users::display_name,
                users::email,
                users::role,
            ))
            .first(conn)
            .optional()?;
        let Some((therapist, csrf_token, created_at, last_seen_at, display_name, email, role)) =
            row
        else {
            return Ok(Err(SessionEnd::Unknown));
        };
        let end = if role != "therapist" {
            Some(SessionEnd::Unknown)
        } else if now - created_at >= ABSOLUTE_HOURS * 60 * MINUTE_MICROS {
            Some(SessionEnd::Expired)
        } else if now - last_seen_at >= IDLE_MINUTES * MINUTE_MICROS {
            Some(SessionEnd::Idle)
        } else {
            None
        };
        if let Some(end) = end {
            end_session(conn, id_hash, now)?;
            return Ok(Err(end));
        }
        diesel::update(portal_sessions::table.find(id_hash))
            .set(portal_sessions::last_seen_at.eq(now))
            .execute(conn)?;
        let therapist = Uuid::parse_str(&therapist)
            .map_err(|_| StoreError::Internal(format!("session of user {therapist:?}")))?;
        Ok(Ok(PortalSession {
            therapist,
            display_name,
            email,
            csrf_token,
        }))
    })
}

/// Ends the session under the hashed id (sign-out); ending one that is
/// unknown or already ended does nothing.
pub fn end(conn: &mut DbConnection, id_hash: &str) -> Result<(), StoreError> {
    end_session(conn, id_hash, now_micros())
}

fn end_session(conn: &mut DbConnection, id_hash: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(
        portal_sessions::table
            .find(id_hash)
            .filter(portal_sessions::ended_at.is_null()),
    )
    .set(portal_sessions::ended_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Moves a session's last use back by `minutes` (tests of the idle and
/// absolute limits, which cannot wait a quarter of an hour).
#[doc(hidden)]
pub fn age(conn: &mut DbConnection, id_hash: &str, minutes: i64) -> Result<(), StoreError> {
    let by = minutes * MINUTE_MICROS;
    diesel::update(portal_sessions::table.find(id_hash))
        .set((
            portal_sessions::last_seen_at.eq(portal_sessions::last_seen_at - by),
            portal_sessions::created_at.eq(portal_sessions::created_at - by),
        ))
        .execute(conn)?;
    Ok(())
}

/// A therapist's last look at a patient's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// When.
    pub at: DateTime<Utc>,
    /// The patient's version then: records written later are new.
    pub seen_version: i64,
}

/// When the therapist last opened the patient's page, if ever.
pub fn last_visit(
    conn: &mut DbConnection,
    therapist: Uuid,
    patient: Uuid,
) -> Result<Option<Visit>, StoreError> {
    let row: Option<(i64, i64)> = portal_visits::table
        .filter(portal_visits::therapist_id.eq(therapist.to_string()))
        .filter(portal_visits::patient_id.eq(patient.to_string()))
        .select((portal_visits::visited_at, portal_visits::seen_version))
        .first(conn)
        .optional()?;
    row.map(|(at, seen_version)| {
        Ok(Visit {
            at: micros_to_time(at)?,
            seen_version,
        })
    })
    .transpose()
}

/// The therapist's last look at each patient's page.
pub fn visits(conn: &mut DbConnection, therapist: Uuid) -> Result<Vec<(Uuid, Visit)>, StoreError> {
    let rows: Vec<(String, i64, i64)> = portal_visits::table
        .filter(portal_visits::therapist_id.eq(therapist.to_string()))
        .select((
            portal_visits::patient_id,
            portal_visits::visited_at,
            portal_visits::seen_version,
        ))
        .load(conn)?;
    rows.into_iter()
        .filter_map(|(patient, at, seen)| Uuid::parse_str(&patient).ok().map(|p| (p, at, seen)))
        .map(|(patient, at, seen_version)| {
            Ok((
                patient,
                Visit {
                    at: micros_to_time(at)?,
                    seen_version,
                },
            ))
        })
        .collect()
}

/// Records that the therapist opened the patient's page now, having seen
/// everything up to the patient's current version.
pub fn visit(conn: &mut DbConnection, therapist: Uuid, patient: Uuid) -> Result<(), StoreError> {
    let now = now_micros();
    conn.write_transaction(|conn| {
        let key = (therapist.to_string(), patient.to_string());
        let seen = versions::counter(conn, &key.1)?.unwrap_or(0);
        let updated = diesel::update(
            portal_visits::table
                .filter(portal_visits::therapist_id.eq(&key.0))
                .filter(portal_visits::patient_id.eq(&key.1)),
        )
        .set((
            portal_visits::visited_at.eq(now),
            portal_visits::seen_version.eq(seen),
        ))
        .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(portal_visits::table)
                .values((
                    portal_visits::therapist_id.eq(&key.0),
                    portal_visits::patient_id.eq(&key.1),
                    portal_visits::visited_at.eq(now),
                    portal_visits::seen_version.eq(seen),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}
