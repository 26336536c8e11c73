//! The audit log: one row per record a therapist read, appended in the
//! transaction of the read (a read that is answered is a read that is
//! logged), and the patient's paged view of it. Nothing updates or deletes
//! a row; erasing an account leaves it (it holds ids and kinds, never
//! content).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal_core::ids::RecordId;
use journal_core::records::RecordKind;
use uuid::Uuid;

use super::schema::{audit_log, users};
use super::time::{TimeCursor, cut_by_time, micros_to_time, now_micros};
use super::{DbConnection, StoreError};

/// Audit rows inserted per statement: well under both backends' limits on
/// bound parameters.
const AUDIT_ROWS_PER_INSERT: usize = 500;

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
pub fn write(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    action: &str,
    reads: &[AuditedRead],
) -> Result<(), StoreError> {
    write_many(conn, therapist, action, &[(patient, reads)])
}

/// Like [`write`], for reads of several patients' records at once (the
/// portal's caseload): one insert per [`AUDIT_ROWS_PER_INSERT`] rows, not
/// one per patient.
pub fn write_many(
    conn: &mut DbConnection,
    therapist: &str,
    action: &str,
    reads: &[(&str, &[AuditedRead])],
) -> Result<(), StoreError> {
    let at = now_micros();
    let rows: Vec<NewAuditRow<'_>> = reads
        .iter()
        .flat_map(|(patient, reads)| {
            reads.iter().map(move |read| NewAuditRow {
                id: Uuid::now_v7().to_string(),
                patient_id: patient,
                therapist_id: therapist,
                action,
                record_id: read.record_id.to_string(),
                record_kind: read.kind.as_str(),
                share_id: read.share_id.to_string(),
                at,
            })
        })
        .collect();
    for chunk in rows.chunks(AUDIT_ROWS_PER_INSERT) {
        conn.execute_native(diesel::insert_into(audit_log::table).values(chunk))?;
    }
    Ok(())
}

/// One entry of a patient's access log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRead {
    /// When.
    pub at: DateTime<Utc>,
    /// Who read.
    pub therapist_id: Uuid,
    /// Their name; `None` when they gave none or the account is gone.
    pub therapist_name: Option<String>,
    /// How (`feed`, `item`, `timeline`, …).
    pub action: String,
    /// Which record.
    pub record_id: Option<RecordId>,
    /// Its kind.
    pub record_kind: Option<RecordKind>,
    /// The share that allowed the read.
    pub share_id: Option<RecordId>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: String,
    therapist_id: String,
    action: String,
    record_id: Option<String>,
    record_kind: Option<String>,
    share_id: Option<String>,
    at: i64,
}

/// One page of the patient's access log, newest first, and the cursor
/// after it when more follow.
pub fn page(
    conn: &mut DbConnection,
    patient: &str,
    cursor: Option<TimeCursor>,
    limit: u32,
) -> Result<(Vec<LoggedRead>, Option<TimeCursor>), StoreError> {
    let mut sql = audit_log::table
        .filter(audit_log::patient_id.eq(patient))
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        sql = sql.filter(
            audit_log::at.lt(cursor.at).or(audit_log::at
                .eq(cursor.at)
                .and(audit_log::id.lt(cursor.id.to_string()))),
        );
    }
    let rows: Vec<AuditRow> = sql
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let (rows, next) = cut_by_time(rows, limit, |r| (r.at, r.id.as_str()))?;
    let mut therapists: Vec<&str> = rows.iter().map(|r| r.therapist_id.as_str()).collect();
    therapists.sort_unstable();
    therapists.dedup();
    let names: HashMap<String, Option<String>> = if therapists.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(therapists))
            .select((users::id, users::display_name))
            .load::<(String, Option<String>)>(conn)?
            .into_iter()
            .collect()
    };
    let entries = rows
        .into_iter()
        .map(|row| logged_read(row, &names))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, next))
}

fn logged_read(
    row: AuditRow,
    names: &HashMap<String, Option<String>>,
) -> Result<LoggedRead, StoreError> {
    let therapist_id = Uuid::parse_str(&row.therapist_id).map_err(|_| {
        StoreError::Internal(format!(
            "audit row {} names therapist {:?}",
            row.id, row.therapist_id
        ))
    })?;
    Ok(LoggedRead {
        at: micros_to_time(row.at)?,
        therapist_id,
        therapist_name: names.get(&row.therapist_id).cloned().flatten(),
        action: row.action,
        // Rows hold what was read when it was read; one unreadable column
        // must not hide the rest of the log from the patient.
        record_id: row.record_id.and_then(|r| r.parse().ok()),
        record_kind: row.record_kind.and_then(|k| k.parse().ok()),
        share_id: row.share_id.and_then(|s| s.parse().ok()),
    })
}
