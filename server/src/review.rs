//! Therapist review's shared parts: reading shared records, the audit log
//! every therapist read appends to, safety alerts, and the arithmetic of
//! measurement-based care.
//!
//! - **What a therapist may read** is decided by [`access::grants`] and
//!   [`Grants::allowing`] alone. [`shared_scope`] only narrows the SQL to
//!   the shared kinds and items so the database does the filtering; every
//!   row it returns is checked with [`Grants::allowing`] again before it is
//!   served, and its share id is what the audit row names.
//! - **The audit log** is append-only: [`write_audit`] inserts one row per
//!   record served, in the transaction of the read, so a read that is
//!   answered is a read that is logged. Nothing updates or deletes a row.
//! - **Alerts**: [`raise_alerts`] runs at the end of every write transaction
//!   of a patient's records (REST create and update, sync push). Whatever
//!   was written — the questionnaire or the share — it raises one alert
//!   per (therapist, record) for every PHQ-9 with journal-core's risk flag
//!   that a linked therapist may now read. The unique index on
//!   `(therapist_id, record_id)` keeps it to one, ever: an alert that was
//!   resolved is not raised again.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use journal_core::hlc::Hlc;
use journal_core::ids::RecordId;
use journal_core::records::{Instrument, Record, RecordBody, RecordKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{self, Grants};
use crate::db::DbConnection;
use crate::db::schema::{alerts, audit_log, care_links, records};
use crate::error::ApiError;
use crate::routes::now_micros;

/// The backend type queries are boxed for.
/// The backend boxed queries run on (either database).
pub(crate) type Db = <DbConnection as diesel::Connection>::Backend;

/// The reason stored on an alert raised by a PHQ-9 risk answer (the
/// camelCase name of journal-core's [`journal_core::safety::RiskReason`]).
pub const PHQ9_ITEM9: &str = "phq9Item9";

/// Audit rows inserted per statement: well under both backends' limits on
/// bound parameters.
const AUDIT_ROWS_PER_INSERT: usize = 500;

// ---------------------------------------------------------------------------
// Reading shared records
// ---------------------------------------------------------------------------

/// The columns a [`Record`] is read from.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = records)]
pub(crate) struct RecordRow {
    id: String,
    kind: String,
    created_at: i64,
    updated_at: i64,
    hlc: i64,
    body: String,
}

impl RecordRow {
    /// The record the row holds.
    pub(crate) fn into_record(self) -> Result<Record, ApiError> {
        let corrupt = |what: String| ApiError::Internal(format!("record {}: {what}", self.id));
        let kind: RecordKind = self
            .kind
            .parse()
            .map_err(|e: journal_core::records::UnknownKind| corrupt(e.to_string()))?;
        let body = RecordBody::from_json(kind, &self.body)
            .map_err(|e| corrupt(format!("unreadable body: {e}")))?;
        Ok(Record {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| corrupt(e.to_string()))?,
            body,
        })
    }
}

/// The patient's live records that `grants` may allow, as a query to narrow
/// further: not deleted, never shares, and of a shared kind or a shared
/// item. `None` when nothing at all is shared (there is nothing to ask the
/// database). Rows it returns must still pass [`Grants::allowing`].
pub(crate) fn shared_scope<'a>(
    patient: &'a str,
    grants: &Grants,
) -> Option<records::BoxedQuery<'a, Db>> {
    let kinds: Vec<&'static str> = grants
        .kinds()
        .into_iter()
        .filter(|k| *k != RecordKind::Share)
        .map(RecordKind::as_str)
        .collect();
    let items: Vec<String> = grants.items().iter().map(ToString::to_string).collect();
    if kinds.is_empty() && items.is_empty() {
        return None;
    }
    Some(
        records::table
            .filter(records::owner_id.eq(patient))
            .filter(records::deleted.eq(false))
            .filter(records::kind.ne(RecordKind::Share.as_str()))
            .filter(records::kind.eq_any(kinds).or(records::id.eq_any(items)))
            .into_boxed(),
    )
}

/// One live record of the patient's that `grants` allow, with the share
/// that allows it; `None` for anything else (unknown, deleted, another
/// patient's, a share, not shared).
pub(crate) fn shared_record(
    conn: &mut DbConnection,
    patient: &str,
    grants: &Grants,
    id: RecordId,
) -> Result<Option<(Record, RecordId)>, ApiError> {
    if grants.is_empty() {
        return Ok(None);
    }
    let row: Option<RecordRow> = records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::owner_id.eq(patient))
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let record = row.into_record()?;
    Ok(grants
        .allowing(record.kind(), record.id)
        .map(|share| (record, share)))
}

// ---------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------

/// What a therapist read: one record, and the share that allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditedRead {
    /// The record served.
    pub record_id: RecordId,
    /// Its kind.
    pub kind: RecordKind,
    /// The share that allowed serving it.
    pub share_id: RecordId,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow<'a> {
    id: String,
    patient_id: &'a str,
    therapist_id: &'a str,
    action: &'a str,
    // Never `None`: a batch insert on SQLite cannot write defaults.
    record_id: String,
    record_kind: &'static str,
    share_id: String,
    at: i64,
}

/// Appends one audit row per record read: who (`therapist`), whose
/// (`patient`), what was done (`action`, e.g. `feed`), which record, of
/// which kind, through which share, and when. Call it in the transaction
/// of the read, before answering.
pub fn write_audit(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    action: &str,
    reads: &[AuditedRead],
) -> Result<(), ApiError> {
    let at = now_micros();
    for chunk in reads.chunks(AUDIT_ROWS_PER_INSERT) {
        let rows: Vec<NewAuditRow<'_>> = chunk
            .iter()
            .map(|read| NewAuditRow {
                id: Uuid::now_v7().to_string(),
                patient_id: patient,
                therapist_id: therapist,
                action,
                record_id: read.record_id.to_string(),
                record_kind: read.kind.as_str(),
                share_id: read.share_id.to_string(),
                at,
            })
            .collect();
        // One statement per chunk; the batch insert is each backend's own
        // (diesel's multi-backend connection has none).
        let insert = diesel::insert_into(audit_log::table).values(&rows);
        match conn {
            DbConnection::Postgresql(pg) => insert.execute(pg)?,
            DbConnection::Sqlite(sqlite) => insert.execute(sqlite)?,
        };
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Safety alerts
// ---------------------------------------------------------------------------

/// Raises the alerts the patient's records now call for: for every active
/// care link, one open alert per PHQ-9 with the risk flag (journal-core's
/// [`journal_core::records::Assessment::score`]) that the therapist may
/// read through a share, unless that therapist already has one for that
/// record. Returns how many it raised.
///
/// Call it at the end of every transaction that writes the patient's
/// records or shares; it only inserts, and inserting twice is harmless.
pub fn raise_alerts(conn: &mut DbConnection, patient: &str) -> Result<usize, ApiError> {
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
        let grants = access::grants(conn, &therapist, patient)?;
        let visible: Vec<&RecordId> = risky
            .iter()
            .filter(|id| grants.allowing(RecordKind::Assessment, **id).is_some())
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
fn risk_assessments(conn: &mut DbConnection, patient: &str) -> Result<Vec<RecordId>, ApiError> {
    let rows: Vec<(String, String)> = records::table
        .filter(records::owner_id.eq(patient))
        .filter(records::kind.eq(RecordKind::Assessment.as_str()))
        .filter(records::deleted.eq(false))
        .select((records::id, records::body))
        .load(conn)?;
    let mut risky = Vec::new();
    for (id, body) in rows {
        let flagged = match RecordBody::from_json(RecordKind::Assessment, &body) {
            Ok(RecordBody::Assessment(assessment)) => {
                assessment.score().is_ok_and(|score| score.risk_flag)
            }
            _ => {
                tracing::warn!(record = %id, "unreadable assessment skipped by the alert check");
                false
            }
        };
        if flagged && let Ok(id) = id.parse::<RecordId>() {
            risky.push(id);
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
) -> Result<bool, ApiError> {
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(alerts::table)
            .values((
                alerts::id.eq(Uuid::now_v7().to_string()),
                alerts::patient_id.eq(patient),
                alerts::therapist_id.eq(therapist),
                alerts::record_id.eq(record),
                alerts::reason.eq(PHQ9_ITEM9),
                alerts::status.eq("open"),
                alerts::created_at.eq(now_micros()),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------
// Measurement-based care
// ---------------------------------------------------------------------------

/// One questionnaire total at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScorePoint {
    /// The questionnaire's record.
    pub record_id: RecordId,
    /// When it was answered.
    pub taken_at: DateTime<Utc>,
    /// Its total (journal-core's scoring).
    pub total: u8,
}

impl ScorePoint {
    fn order(&self, other: &Self) -> Ordering {
        self.taken_at
            .cmp(&other.taken_at)
            .then_with(|| self.record_id.to_string().cmp(&other.record_id.to_string()))
    }
}

/// The measurement-based-care summary of one questionnaire: where the
/// patient started, where they are, and whether that counts as response
/// or remission.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MbcSummary {
    /// How many scores it is made of.
    pub count: usize,
    /// The earliest score.
    pub baseline: ScorePoint,
    /// The most recent score.
    pub latest: ScorePoint,
    /// `latest − baseline` (negative is better).
    pub change: i32,
    /// The change as a percentage of the baseline, to one decimal (e.g.
    /// −55.0); `null` when the baseline is 0.
    pub percent_change: Option<f64>,
    /// Response: the latest total is at most half the baseline (a
    /// reduction of 50 % or more). Never with a baseline of 0.
    pub response: bool,
    /// Remission: the latest total is below the questionnaire's remission
    /// threshold (fewer than 5 points on PHQ-9 and GAD-7).
    pub remission: bool,
}

/// The summary of the scores of one questionnaire, in any order; `None`
/// without any score.
pub fn mbc_summary(instrument: Instrument, scores: &[ScorePoint]) -> Option<MbcSummary> {
    let baseline = *scores.iter().min_by(|a, b| a.order(b))?;
    let latest = *scores.iter().max_by(|a, b| a.order(b))?;
    let (first, last) = (i32::from(baseline.total), i32::from(latest.total));
    let percent_change =
        (first > 0).then(|| (f64::from(last - first) * 1000.0 / f64::from(first)).round() / 10.0);
    Some(MbcSummary {
        count: scores.len(),
        baseline,
        latest,
        change: last - first,
        percent_change,
        response: first > 0 && last * 2 <= first,
        remission: latest.total < instrument.remission_below(),
    })
}

// ---------------------------------------------------------------------------
// Cursors and times
// ---------------------------------------------------------------------------

/// Where a page of a newest-first list of rows ended: the last row's time
/// (microseconds) and id. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    /// The last row's time, in microseconds since the Unix epoch.
    pub at: i64,
    /// The last row's id.
    pub id: Uuid,
}

impl fmt::Display for TimeCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}", self.at, self.id)
    }
}

/// The error of reading a cursor no page handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a page cursor: {0:?}")]
pub struct BadTimeCursor(pub String);

impl FromStr for TimeCursor {
    type Err = BadTimeCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTimeCursor(s.to_owned());
        let (at, id) = s.split_once('~').ok_or_else(bad)?;
        let at: i64 = at.parse().map_err(|_| bad())?;
        DateTime::<Utc>::from_timestamp_micros(at).ok_or_else(bad)?;
        Ok(Self {
            at,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        })
    }
}

impl Serialize for TimeCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for TimeCursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^-?[0-9]+~[0-9a-fA-F-]{36}$"))
            .description(Some(
                "Where a page ended. Opaque: pass it back as it was received.",
            ))
            .into()
    }
}

impl ToSchema for TimeCursor {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PageCursor")
    }
}

/// A stored time (microseconds since the Unix epoch).
pub(crate) fn micros_to_time(micros: i64) -> Result<DateTime<Utc>, ApiError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ApiError::Internal(format!("timestamp {micros} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(day: u32, total: u8) -> ScorePoint {
        ScorePoint {
            record_id: RecordId::new(),
            taken_at: DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T09:00:00Z"))
                .unwrap()
                .with_timezone(&Utc),
            total,
        }
    }

    #[test]
    fn no_score_no_summary() {
        assert_eq!(mbc_summary(Instrument::Phq9, &[]), None);
    }

    #[test]
    fn one_score_is_baseline_and_latest() {
        let only = point(1, 12);
        let s = mbc_summary(Instrument::Phq9, &[only]).unwrap();
        assert_eq!(
            (s.count, s.baseline, s.latest, s.change),
            (1, only, only, 0)
        );
        assert_eq!(s.percent_change, Some(0.0));
        assert!(!s.response && !s.remission);
    }

    #[test]
    fn response_is_half_or_less_of_the_baseline() {
        // 20 → 9: −11, −55 %: response, not remission. Given out of order.
        let s = mbc_summary(
            Instrument::Phq9,
            &[point(20, 9), point(1, 20), point(10, 14)],
        )
        .unwrap();
        assert_eq!((s.baseline.total, s.latest.total, s.change), (20, 9, -11));
        assert_eq!(s.percent_change, Some(-55.0));
        assert!(s.response && !s.remission);
        // 20 → 10 is exactly half: response; 20 → 11 is not.
        assert!(
            mbc_summary(Instrument::Phq9, &[point(1, 20), point(2, 10)])
                .unwrap()
                .response
        );
        assert!(
            !mbc_summary(Instrument::Phq9, &[point(1, 20), point(2, 11)])
                .unwrap()
                .response
        );
    }

    #[test]
    fn remission_is_below_five() {
        // 20 → 4: −16, −80 %: response and remission.
        let s = mbc_summary(Instrument::Phq9, &[point(1, 20), point(2, 4)]).unwrap();
        assert_eq!((s.change, s.percent_change), (-16, Some(-80.0)));
        assert!(s.response && s.remission);
        assert!(
            !mbc_summary(Instrument::Gad7, &[point(1, 15), point(2, 5)])
                .unwrap()
                .remission
        );
        assert!(
            mbc_summary(Instrument::Gad7, &[point(1, 15), point(2, 4)])
                .unwrap()
                .remission
        );
    }

    #[test]
    fn a_zero_baseline_has_no_percentage_and_no_response() {
        let s = mbc_summary(Instrument::Gad7, &[point(1, 0), point(2, 3)]).unwrap();
        assert_eq!((s.change, s.percent_change), (3, None));
        assert!(!s.response && s.remission);
        let s = mbc_summary(Instrument::Gad7, &[point(1, 15), point(2, 10)]).unwrap();
        assert_eq!(s.percent_change, Some(-33.3));
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = TimeCursor {
            at: 1_767_225_600_000_000,
            id: Uuid::now_v7(),
        };
        assert_eq!(cursor.to_string().parse::<TimeCursor>(), Ok(cursor));
        for bad in ["", "12", "x~0190b1c2-0000-7000-8000-000000000000", "1~nope"] {
            assert!(bad.parse::<TimeCursor>().is_err(), "{bad}");
        }
    }
}
