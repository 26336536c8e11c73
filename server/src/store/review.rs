//! What a therapist reads of their patients: the list of linked patients,
//! a patient's shared feed, one shared item, the records of the trends
//! timeline.
//!
//! - What may be read is decided by [`access::grants`] and
//!   [`Grants::allowing`] alone. [`shared_scope`] only narrows the SQL to
//!   the shared kinds and items so the database does the filtering; every
//!   row it returns is checked with [`Grants::allowing`] again before it is
//!   served, and its share id is what the audit row names.
//! - Every record served is written to the audit log ([`audit::write`]) in
//!   the transaction of the read, before the answer. The list of patients
//!   returns counts, not records, and is not logged.
//! - A patient who is not (or no longer) linked answers `NotFound` exactly
//!   like an unknown id; so does an item that is unshared, revoked,
//!   deleted, another patient's or unknown.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal_core::ids::RecordId;
use journal_core::query::{ListCursor, ListQuery, RecordPage};
use journal_core::records::{Record, RecordKind};
use uuid::Uuid;

use super::access::{self, Grants};
use super::audit::{self, AuditedRead};
use super::records::{Db, NOT_FOUND, narrowed};
use super::rows::RecordRow;
use super::schema::{care_links, records, users};
use super::time::micros_to_time;
use super::{DbConnection, StoreError, alerts};

/// What an unknown, unlinked or no longer linked patient answers.
pub const NO_SUCH_PATIENT: &str = "no such patient";

fn no_such_patient() -> StoreError {
    StoreError::NotFound(NO_SUCH_PATIENT.to_owned())
}

fn no_such_record() -> StoreError {
    StoreError::NotFound(NOT_FOUND.to_owned())
}

/// Where a therapist reads from: the REST API, or the portal. The audit log
/// names the portal's reads `portal-…`, so the patient's access log can
/// tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The REST API.
    Api,
    /// The therapist portal.
    Portal,
}

impl Via {
    /// The audit action of a read of this kind (`feed`, `item`, …) from here.
    pub fn action(self, read: &str) -> String {
        match self {
            Via::Api => read.to_owned(),
            Via::Portal => format!("portal-{read}"),
        }
    }
}

/// One of a therapist's actively linked patients, with what they share.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedPatient {
    /// The patient's account id.
    pub id: Uuid,
    /// The name they chose, if any.
    pub display_name: Option<String>,
    /// Their email address.
    pub email: String,
    /// When the patient accepted the therapist's invitation.
    pub linked_at: DateTime<Utc>,
    /// The kinds shared as a whole (never shares themselves).
    pub shared_kinds: Vec<RecordKind>,
    /// The questionnaires shared by instrument (not as a whole kind).
    pub shared_instruments: Vec<journal_core::records::Instrument>,
    /// How many live records are shared one by one.
    pub shared_items: i64,
    /// How many of this therapist's alerts about the patient are open.
    pub open_alerts: i64,
}

/// A record a patient shared, with the share that allows reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedRecord {
    /// The record.
    pub record: Record,
    /// The share that allows this therapist to read it.
    pub shared_by: RecordId,
}

impl SharedRecord {
    pub(super) fn audited(&self) -> AuditedRead {
        AuditedRead {
            record_id: self.record.id,
            kind: self.record.kind(),
            share_id: self.shared_by,
        }
    }
}

/// One page of what a patient shared.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPage {
    /// The shared records, newest first.
    pub items: Vec<SharedRecord>,
    /// The cursor of the next page, when more follow.
    pub next_cursor: Option<ListCursor>,
}

/// The therapist's actively linked patients, newest link first.
pub fn linked_patients(
    conn: &mut DbConnection,
    therapist: &str,
) -> Result<Vec<LinkedPatient>, StoreError> {
    Ok(linked_with_grants(conn, therapist, None)?
        .into_iter()
        .map(|(patient, _)| patient)
        .collect())
}

/// The therapist's actively linked patient `patient`, as the list of
/// linked patients shows them; `NotFound` when not linked (or unknown).
pub fn linked_patient(
    conn: &mut DbConnection,
    therapist: &str,
    patient: Uuid,
) -> Result<LinkedPatient, StoreError> {
    linked_with_grants(conn, therapist, Some(&patient.to_string()))?
        .into_iter()
        .map(|(patient, _)| patient)
        .next()
        .ok_or_else(no_such_patient)
}

/// Record ids per `eq_any` list: well under both backends' limits on bound
/// parameters.
const IDS_PER_STATEMENT: usize = 1_000;

/// The linked patients (or the one `only`), each with what they grant the
/// therapist. A fixed number of statements, whatever the caseload's size:
/// the links, the grants, the shared items still live, the open alerts.
pub(super) fn linked_with_grants(
    conn: &mut DbConnection,
    therapist: &str,
    only: Option<&str>,
) -> Result<Vec<(LinkedPatient, Grants)>, StoreError> {
    conn.transaction(|conn| {
        let mut sql = care_links::table
            .inner_join(users::table.on(users::id.eq(care_links::patient_id)))
            .filter(care_links::therapist_id.eq(therapist))
            .filter(care_links::ended_at.is_null())
            .into_boxed();
        if let Some(patient) = only {
            sql = sql.filter(care_links::patient_id.eq(patient));
        }
        let rows: Vec<(String, i64, String, Option<String>)> = sql
            .order((care_links::created_at.desc(), care_links::id.desc()))
            .select((
                care_links::patient_id,
                care_links::created_at,
                users::email,
                users::display_name,
            ))
            .load(conn)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut grants: HashMap<String, Grants> = match only {
            Some(patient) => access::grants(conn, therapist, patient)?
                .map(|grants| (patient.to_owned(), grants))
                .into_iter()
                .collect(),
            None => access::caseload_grants(conn, therapist)?
                .into_iter()
                .collect(),
        };
        // Which records shared one by one are still live, for every
        // patient at once.
        let items: Vec<String> = grants
            .values()
            .flat_map(Grants::items)
            .map(|id| id.to_string())
            .collect();
        let mut live_items: HashSet<(String, String)> = HashSet::new();
        for chunk in items.chunks(IDS_PER_STATEMENT) {
            let found: Vec<(String, String)> = records::table
                .filter(records::deleted.eq(false))
                .filter(records::kind.ne(RecordKind::Share.as_str()))
                .filter(records::id.eq_any(chunk))
                .select((records::owner_id, records::id))
                .load(conn)?;
            live_items.extend(found);
        }
        let open_alerts = alerts::open_counts(conn, therapist)?;
        rows.into_iter()
            .map(|(patient, linked_at, email, display_name)| {
                let grants = grants.remove(&patient).unwrap_or_default();
                let shared_items = grants
                    .items()
                    .iter()
                    .filter(|id| live_items.contains(&(patient.clone(), id.to_string())))
                    .count() as i64;
                let linked = LinkedPatient {
                    id: Uuid::parse_str(&patient).map_err(|_| {
                        StoreError::Internal(format!("care link names user {patient:?}"))
                    })?,
                    display_name,
                    email,
                    linked_at: micros_to_time(linked_at)?,
                    shared_kinds: grants
                        .kinds()
                        .into_iter()
                        .filter(|k| *k != RecordKind::Share)
                        .collect(),
                    shared_instruments: grants.instruments(),
                    shared_items,
                    open_alerts: open_alerts.get(&patient).copied().unwrap_or(0),
                };
                Ok((linked, grants))
            })
            .collect()
    })
}

/// One page of what the patient shares with the therapist, with the same
/// filters and cursors as the patient's own list; each record served is
/// logged (action `feed`).
pub fn feed(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    query: &ListQuery,
    via: Via,
) -> Result<SharedPage, StoreError> {
    conn.write_transaction(|conn| {
        let grants = access::grants(conn, therapist, patient)?.ok_or_else(no_such_patient)?;
        let page = feed_page(conn, patient, &grants, query)?;
        let reads: Vec<AuditedRead> = page.items.iter().map(SharedRecord::audited).collect();
        audit::write(conn, therapist, patient, &via.action("feed"), &reads)?;
        Ok(page)
    })
}

/// One page of the shared records: narrowed in SQL to the shared kinds and
/// items, each row checked again with [`Grants::allowing`].
fn feed_page(
    conn: &mut DbConnection,
    patient: &str,
    grants: &Grants,
    query: &ListQuery,
) -> Result<SharedPage, StoreError> {
    let Some(sql) = shared_scope(patient, grants) else {
        return Ok(SharedPage {
            items: Vec::new(),
            next_cursor: None,
        });
    };
    let rows: Vec<RecordRow> = narrowed(sql, query)
        .select(RecordRow::as_select())
        .load(conn)?;
    // The cursor follows the last row read, served or not, so a page can
    // never loop.
    let page = RecordPage::cut(rows, query, RecordRow::into_record)?;
    let items = page
        .records
        .into_iter()
        .filter_map(|record| {
            let share = grants.allowing_record(&record);
            if share.is_none() {
                tracing::warn!(record = %record.id, "a row of the shared scope is not allowed");
            }
            share.map(|shared_by| SharedRecord { record, shared_by })
        })
        .collect();
    Ok(SharedPage {
        items,
        next_cursor: page.next_cursor,
    })
}

/// One record the patient shares with the therapist right now, logged
/// (action `item`); `NotFound` for anything else.
pub fn shared_item(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    id: RecordId,
    via: Via,
) -> Result<SharedRecord, StoreError> {
    conn.write_transaction(|conn| {
        let grants = access::grants(conn, therapist, patient)?.unwrap_or_default();
        let item = shared_record(conn, patient, &grants, id)?.ok_or_else(no_such_record)?;
        audit::write(
            conn,
            therapist,
            patient,
            &via.action("item"),
            &[item.audited()],
        )?;
        Ok(item)
    })
}

/// The shared check-ins, questionnaires and dosing sessions in the window
/// `[from, to)`, oldest first, logged (action `timeline`).
pub fn timeline_records(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    via: Via,
) -> Result<Vec<SharedRecord>, StoreError> {
    const TIMELINE: [RecordKind; 3] = [
        RecordKind::MoodCheckIn,
        RecordKind::Assessment,
        RecordKind::DosingSession,
    ];
    conn.write_transaction(|conn| {
        let grants = access::grants(conn, therapist, patient)?.ok_or_else(no_such_patient)?;
        let shared = shared_of_kinds(conn, patient, &grants, &TIMELINE, from, to)?;
        let reads: Vec<AuditedRead> = shared.iter().map(SharedRecord::audited).collect();
        audit::write(conn, therapist, patient, &via.action("timeline"), &reads)?;
        Ok(shared)
    })
}

/// The shared live records of these kinds about a moment in `[from, to)`,
/// oldest first, each checked with [`Grants::allowing`]. Not logged: the
/// caller logs what it serves.
fn shared_of_kinds(
    conn: &mut DbConnection,
    patient: &str,
    grants: &Grants,
    kinds: &[RecordKind],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<SharedRecord>, StoreError> {
    let Some(mut sql) = shared_scope(patient, grants) else {
        return Ok(Vec::new());
    };
    let kinds: Vec<&'static str> = kinds.iter().map(|k| k.as_str()).collect();
    sql = sql.filter(records::kind.eq_any(kinds));
    if let Some(from) = from {
        sql = sql.filter(records::occurred_at.ge(from.timestamp_micros()));
    }
    if let Some(to) = to {
        sql = sql.filter(records::occurred_at.lt(to.timestamp_micros()));
    }
    let rows: Vec<RecordRow> = sql
        .order((records::occurred_at.asc(), records::id.asc()))
        .select(RecordRow::as_select())
        .load(conn)?;
    let mut shared = Vec::with_capacity(rows.len());
    for row in rows {
        let record = row.into_record()?;
        if let Some(shared_by) = grants.allowing_record(&record) {
            shared.push(SharedRecord { record, shared_by });
        }
    }
    Ok(shared)
}

/// The patient's shared live records written or changed after their
/// version `since` (all of them when `None`): ids only, not a read.
pub fn changed_since(
    conn: &mut DbConnection,
    patient: &str,
    grants: &Grants,
    since: Option<i64>,
) -> Result<Vec<RecordId>, StoreError> {
    let Some(mut sql) = shared_scope(patient, grants) else {
        return Ok(Vec::new());
    };
    if let Some(since) = since {
        sql = sql.filter(records::version.gt(since));
    }
    let rows: Vec<(String, String, Option<String>)> = sql
        .select((records::id, records::kind, super::rows::assessment_body()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, body)| {
            let id: RecordId = id.parse().ok()?;
            let kind: RecordKind = kind.parse().ok()?;
            let instrument = super::rows::instrument_in(body.as_deref());
            grants.allowing(kind, id, instrument).map(|_| id)
        })
        .collect())
}

/// The patient's live records that `grants` may allow, as a query to narrow
/// further: not deleted, never shares, and of a shared kind or a shared
/// item. `None` when nothing at all is shared (there is nothing to ask the
/// database). Rows it returns must still pass [`Grants::allowing`].
fn shared_scope<'a>(patient: &'a str, grants: &Grants) -> Option<records::BoxedQuery<'a, Db>> {
    let mut kinds: Vec<&'static str> = grants
        .kinds()
        .into_iter()
        .filter(|k| *k != RecordKind::Share)
        .map(RecordKind::as_str)
        .collect();
    // Some questionnaires only: every questionnaire is read, and each row
    // passes `Grants::allowing` with its instrument.
    if !grants.instruments().is_empty() && !kinds.contains(&RecordKind::Assessment.as_str()) {
        kinds.push(RecordKind::Assessment.as_str());
    }
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
pub fn shared_record(
    conn: &mut DbConnection,
    patient: &str,
    grants: &Grants,
    id: RecordId,
) -> Result<Option<SharedRecord>, StoreError> {
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
        .allowing_record(&record)
        .map(|shared_by| SharedRecord { record, shared_by }))
}
