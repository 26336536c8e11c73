//! Safety alerts: raised when a PHQ-9 risk answer becomes visible to a
//! linked therapist, listed by that therapist, and moved through
//! `open → acknowledged → resolved`.
//!
//! - [`raise`] runs at the end of every write transaction of a patient's
//!   records (REST create and update, sync push). Whatever was written —
//!   the questionnaire or the share — it raises one alert per (therapist,
//!   record) for every PHQ-9 with journal-core's risk flag that a linked
//!   therapist may now read. The unique index on `(therapist_id,
//!   record_id)` keeps it to one, ever: an alert that was resolved is not
//!   raised again.
//! - An alert names the patient and the record but holds none of its
//!   content, and stays after the share is revoked or the link ended (a
//!   patient must not be able to clear a raised alert by unsharing; the
//!   therapist can still acknowledge and resolve it). Once the link ended
//!   it shows nothing new: no name, and no new alert is raised
//!   (`docs/decisions/0008-alerts-after-a-link-ends.md`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use journal_core::ids::RecordId;
use journal_core::records::{RecordBody, RecordKind};
use uuid::Uuid;

use super::access;
use super::schema::{alerts, care_links, records, users};
use super::time::{TimeCursor, cut_by_time, micros_to_time, now_micros};
use super::{DbConnection, StoreError};

/// The reason stored on an alert raised by a PHQ-9 risk answer (the
/// camelCase name of journal-core's [`journal_core::safety::RiskReason`]).
pub const PHQ9_ITEM9: &str = "phq9Item9";

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Raised, not yet seen to.
    Open,
    /// The therapist has seen it.
    Acknowledged,
    /// The therapist has dealt with it.
    Resolved,
}

impl AlertState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(AlertState::Open),
            "acknowledged" => Some(AlertState::Acknowledged),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// One alert of a therapist's, with the patient's name.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// The alert's id.
    pub id: Uuid,
    /// Whom it is about.
    pub patient_id: Uuid,
    /// The name the patient chose, if any.
    pub patient_name: Option<String>,
    /// The record that raised it.
    pub record_id: RecordId,
    /// Why (e.g. [`PHQ9_ITEM9`]).
    pub reason: String,
    /// Where it stands.
    pub status: AlertState,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When the therapist acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When the therapist resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The therapist's note on resolving it.
    pub note: Option<String>,
}

/// A step of an alert's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Open → acknowledged.
    Acknowledge,
    /// Open or acknowledged → resolved, with an optional note.
    Resolve(Option<String>),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = alerts)]
struct AlertRow {
    id: String,
    patient_id: String,
    record_id: String,
    reason: String,
    status: String,
    created_at: i64,
    acknowledged_at: Option<i64>,
    resolved_at: Option<i64>,
    note: Option<String>,
}

impl AlertRow {
    fn into_alert(
        self,
        names: &HashMap<String, Option<String>>,
    ) -> Result<StoredAlert, StoreError> {
        let corrupt = |what: &str| StoreError::corrupt(format_args!("alert {}", self.id), what);
        Ok(StoredAlert {
            id: Uuid::parse_str(&self.id).map_err(|_| corrupt("bad id"))?,
            patient_name: names.get(&self.patient_id).cloned().flatten(),
            patient_id: Uuid::parse_str(&self.patient_id).map_err(|_| corrupt("bad patient id"))?,
            record_id: self
                .record_id
                .parse()
                .map_err(|_| corrupt("bad record id"))?,
            status: AlertState::parse(&self.status).ok_or_else(|| corrupt("unknown status"))?,
            created_at: micros_to_time(self.created_at)?,
            acknowledged_at: self.acknowledged_at.map(micros_to_time).transpose()?,
            resolved_at: self.resolved_at.map(micros_to_time).transpose()?,
            reason: self.reason,
            note: self.note,
        })
    }
}

/// One page of the therapist's alerts, newest first, optionally of one
/// state, and the cursor after it when more follow.
pub fn list(
    conn: &mut DbConnection,
    therapist: &str,
    status: Option<AlertState>,
    cursor: Option<TimeCursor>,
    limit: u32,
) -> Result<(Vec<StoredAlert>, Option<TimeCursor>), StoreError> {
    let mut sql = alerts::table
        .filter(alerts::therapist_id.eq(therapist))
        .select(AlertRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        sql = sql.filter(alerts::status.eq(status.as_str()));
    }
    if let Some(cursor) = cursor {
        sql = sql.filter(
            alerts::created_at.lt(cursor.at).or(alerts::created_at
                .eq(cursor.at)
                .and(alerts::id.lt(cursor.id.to_string()))),
        );
    }
    let rows: Vec<AlertRow> = sql
        .order((alerts::created_at.desc(), alerts::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let (rows, next) = cut_by_time(rows, limit, |r| (r.created_at, r.id.as_str()))?;
    let names = patient_names(conn, therapist, &rows)?;
    let alerts = rows
        .into_iter()
        .map(|row| row.into_alert(&names))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((alerts, next))
}

/// How many of the therapist's alerts about the patient are open.
pub fn open_count(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
) -> Result<i64, StoreError> {
    Ok(alerts::table
        .filter(alerts::therapist_id.eq(therapist))
        .filter(alerts::patient_id.eq(patient))
        .filter(alerts::status.eq(AlertState::Open.as_str()))
        .count()
        .get_result(conn)?)
}

/// The therapist's open alerts per patient, in one query: patient id and
/// count, for patients with at least one.
pub fn open_counts(
    conn: &mut DbConnection,
    therapist: &str,
) -> Result<HashMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> = alerts::table
        .filter(alerts::therapist_id.eq(therapist))
        .filter(alerts::status.eq(AlertState::Open.as_str()))
        .group_by(alerts::patient_id)
        .select((alerts::patient_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The names of the patients of these alerts who are still linked to the
/// therapist: once a link ended, the alert stays (safety data, to be
/// resolved) but shows nothing more of the patient than their id.
fn patient_names(
    conn: &mut DbConnection,
    therapist: &str,
    rows: &[AlertRow],
) -> Result<HashMap<String, Option<String>>, StoreError> {
    let mut ids: Vec<&str> = rows.iter().map(|r| r.patient_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(users::table
        .inner_join(care_links::table.on(care_links::patient_id.eq(users::id)))
        .filter(users::id.eq_any(ids))
        .filter(care_links::therapist_id.eq(therapist))
        .filter(care_links::ended_at.is_null())
        .select((users::id, users::display_name))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .collect())
}

fn no_such_alert() -> StoreError {
    StoreError::NotFound("no such alert".to_owned())
}

/// Moves one of the therapist's alerts one step, if its state allows
/// (`Conflict` otherwise); another therapist's alert is `NotFound`.
pub fn advance(
    conn: &mut DbConnection,
    therapist: &str,
    id: Uuid,
    transition: Transition,
) -> Result<StoredAlert, StoreError> {
    let id = id.to_string();
    conn.write_transaction(|conn| {
        let mine = alerts::table
            .filter(alerts::id.eq(&id))
            .filter(alerts::therapist_id.eq(therapist));
        let now = now_micros();
        // Conditional updates: two requests racing on one alert cannot both
        // move it.
        let moved = match transition {
            Transition::Acknowledge => {
                diesel::update(mine.filter(alerts::status.eq(AlertState::Open.as_str())))
                    .set((
                        alerts::status.eq(AlertState::Acknowledged.as_str()),
                        alerts::acknowledged_at.eq(now),
                    ))
                    .execute(conn)?
            }
            Transition::Resolve(note) => diesel::update(
                mine.filter(
                    alerts::status
                        .eq_any([AlertState::Open.as_str(), AlertState::Acknowledged.as_str()]),
                ),
            )
            .set((
                alerts::status.eq(AlertState::Resolved.as_str()),
                alerts::resolved_at.eq(now),
                alerts::note.eq(note),
            ))
            .execute(conn)?,
        };
        let row: AlertRow = mine
            .select(AlertRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(no_such_alert)?;
        if moved == 0 {
            return Err(StoreError::Conflict(format!(
                "this alert is already {}",
                row.status
            )));
        }
        let names = patient_names(conn, therapist, std::slice::from_ref(&row))?;
        row.into_alert(&names)
    })
}

/// Safety alerts held, by state (open, acknowledged, resolved), across
/// every therapist: for the metrics, without any id.
pub fn count_by_state(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(alerts::table
        .group_by(alerts::status)
        .select((alerts::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Raises the alerts the patient's records now call for: for every active
/// care link, one open alert per PHQ-9 with the risk flag (journal-core's
/// [`journal_core::records::Assessment::score`]) that the therapist may
/// read through a share, unless that therapist already has one for that
/// record. Returns how many it raised.
///
/// Call it at the end of every transaction that writes the patient's
/// records or shares; it only inserts, and inserting twice is harmless.
pub fn raise(conn: &mut DbConnection, patient: &str) -> Result<usize, StoreError> {
    let therapists: Vec<String> = care_links::table
        .filter(care_links::patient_id.eq(patient))
        .filter(care_links::ended_at.is_null())
        .select(care_links::therapist_id)
        .load(conn)?;
    if therapists.is_empty() {
        return Ok(0);
    }
    let risky = risk_assessments(conn, patient)?;
    if risky.is_empty() {
        return Ok(0);
    }
    let mut raised = 0;
    for therapist in therapists {
        let Some(grants) = access::grants(conn, &therapist, patient)? else {
            continue;
        };
        let visible: Vec<&RecordId> = risky
            .iter()
            .filter(|(id, instrument)| {
                grants
                    .allowing(RecordKind::Assessment, *id, Some(*instrument))
                    .is_some()
            })
            .map(|(id, _)| id)
            .collect();
        if visible.is_empty() {
            continue;
        }
        let known: Vec<String> = alerts::table
            .filter(alerts::therapist_id.eq(&therapist))
            .filter(alerts::record_id.eq_any(visible.iter().map(ToString::to_string)))
            .select(alerts::record_id)
            .load(conn)?;
        for record in visible {
            let record = record.to_string();
            if known.contains(&record) {
                continue;
            }
            if insert_alert(conn, patient, &therapist, &record)? {
                raised += 1;
            }
        }
    }
    Ok(raised)
}

/// The patient's live PHQ-9s whose answers carry the risk flag.
fn risk_assessments(
    conn: &mut DbConnection,
    patient: &str,
) -> Result<Vec<(RecordId, journal_core::records::Instrument)>, StoreError> {
    let rows: Vec<(String, String)> = records::table
        .filter(records::owner_id.eq(patient))
        .filter(records::kind.eq(RecordKind::Assessment.as_str()))
        .filter(records::deleted.eq(false))
        .select((records::id, records::body))
        .load(conn)?;
    let mut risky = Vec::new();
    for (id, body) in rows {
        let flagged = match RecordBody::from_json(RecordKind::Assessment, &body) {
            Ok(RecordBody::Assessment(assessment)) => assessment
                .score()
                .is_ok_and(|score| score.risk_flag)
                .then_some(assessment.instrument),
            _ => {
                tracing::warn!(record = %id, "unreadable assessment skipped by the alert check");
                None
            }
        };
        if let Some(instrument) = flagged
            && let Ok(id) = id.parse::<RecordId>()
        {
            risky.push((id, instrument));
        }
    }
    Ok(risky)
}

/// Inserts one open alert, in a savepoint so that a concurrent insert of
/// the same alert (the unique index) undoes only this insert. Whether this
/// call inserted it.
fn insert_alert(
    conn: &mut DbConnection,
    patient: &str,
    therapist: &str,
    record: &str,
) -> Result<bool, StoreError> {
    let now = now_micros();
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(alerts::table)
            .values((
                alerts::id.eq(Uuid::now_v7().to_string()),
                alerts::patient_id.eq(patient),
                alerts::therapist_id.eq(therapist),
                alerts::record_id.eq(record),
                alerts::reason.eq(PHQ9_ITEM9),
                alerts::status.eq(AlertState::Open.as_str()),
                alerts::created_at.eq(now),
                // The therapist's email, due at once (see `due_emails`).
                alerts::email_due_at.eq(Some(now)),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}
