//! The portal's caseload: every linked patient of a therapist's with their
//! shared questionnaires and dosing sessions and how much is new since the
//! therapist last looked — read in a fixed number of statements whatever
//! the caseload's size (a clinic's therapist may have hundreds of
//! patients; one round trip per patient would be felt on PostgreSQL).
//!
//! Access is decided as everywhere else: by the grants of
//! [`super::access`] and `Grants::allowing` on every row; the records served are logged in
//! one batch (action `portal-caseload`).

use std::collections::HashMap;

use diesel::prelude::*;
use journal_core::ids::RecordId;
use journal_core::records::RecordKind;
use uuid::Uuid;

use super::audit::{self, AuditedRead};
use super::review::{LinkedPatient, SharedRecord, Via, linked_with_grants};
use super::rows::RecordRow;
use super::schema::records;
use super::{DbConnection, StoreError};

/// Patients per `eq_any` list: well under both backends' limits on bound
/// parameters.
const PATIENTS_PER_STATEMENT: usize = 500;

/// A record's id, kind, instrument (questionnaires) and the owner's
/// version it was last written at.
type Versioned = (
    RecordId,
    RecordKind,
    Option<journal_core::records::Instrument>,
    i64,
);

/// The kinds the caseload shows.
const MEASURES: [RecordKind; 2] = [RecordKind::Assessment, RecordKind::DosingSession];

/// One linked patient on the portal's caseload, with what it shows of
/// them.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseloadEntry {
    /// The patient, with what they share and their open alerts.
    pub patient: LinkedPatient,
    /// Their shared questionnaires and dosing sessions, oldest first.
    pub measures: Vec<SharedRecord>,
    /// When the therapist last opened their page, if ever.
    pub last_visit: Option<super::portal::Visit>,
    /// Shared records written or changed since then (all of them, before
    /// the first visit).
    pub new_since_visit: i64,
    /// Adherence to the therapist's care plan, when there is one.
    pub adherence: Option<super::adherence::PlanAdherence>,
}

/// The portal's caseload: every actively linked patient with their shared
/// questionnaires and dosing sessions (logged, action `portal-caseload`)
/// and how many shared records are new since the therapist's last visit.
pub fn caseload(
    conn: &mut DbConnection,
    therapist: &str,
) -> Result<Vec<CaseloadEntry>, StoreError> {
    let therapist_id = Uuid::parse_str(therapist)
        .map_err(|_| StoreError::Internal(format!("therapist id {therapist:?}")))?;
    conn.write_transaction(|conn| {
        let visits: HashMap<Uuid, super::portal::Visit> =
            super::portal::visits(conn, therapist_id)?
                .into_iter()
                .collect();
        let linked = linked_with_grants(conn, therapist, None)?;
        // Only patients who share something have anything to read.
        let sharing: Vec<String> = linked
            .iter()
            .filter(|(_, grants)| !grants.is_empty())
            .map(|(patient, _)| patient.id.to_string())
            .collect();
        let mut measures = measures_of(conn, &sharing)?;
        let with_grants: Vec<(String, &super::access::Grants)> = linked
            .iter()
            .map(|(patient, grants)| (patient.id.to_string(), grants))
            .collect();
        let mut adherence =
            super::adherence::of_patients(conn, therapist, &with_grants, chrono::Utc::now())?;
        let mut versions = versions_of(conn, &sharing)?;
        let mut entries = Vec::with_capacity(linked.len());
        for (patient, grants) in linked {
            let id = patient.id.to_string();
            let shown: Vec<SharedRecord> = measures
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|record| {
                    grants
                        .allowing_record(&record)
                        .map(|shared_by| SharedRecord { record, shared_by })
                })
                .collect();
            let last_visit = visits.get(&patient.id).copied();
            let seen = last_visit.map(|v| v.seen_version);
            let new_since_visit = versions
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, _, _, version)| seen.is_none_or(|seen| *version > seen))
                .filter(|(record, kind, instrument, _)| {
                    grants.allowing(*kind, *record, *instrument).is_some()
                })
                .count() as i64;
            entries.push(CaseloadEntry {
                patient,
                measures: shown,
                last_visit,
                new_since_visit,
                adherence: adherence.remove(&id),
            });
        }
        let reads: Vec<(String, Vec<AuditedRead>)> = entries
            .iter()
            .map(|entry| {
                (
                    entry.patient.id.to_string(),
                    entry.measures.iter().map(SharedRecord::audited).collect(),
                )
            })
            .collect();
        let reads: Vec<(&str, &[AuditedRead])> = reads
            .iter()
            .map(|(patient, reads)| (patient.as_str(), reads.as_slice()))
            .collect();
        audit::write_many(conn, therapist, &Via::Portal.action("caseload"), &reads)?;
        Ok(entries)
    })
}

/// The live questionnaires and dosing sessions of these patients, oldest
/// first per patient (not yet checked against any grant).
fn measures_of(
    conn: &mut DbConnection,
    patients: &[String],
) -> Result<HashMap<String, Vec<journal_core::records::Record>>, StoreError> {
    let kinds: Vec<&'static str> = MEASURES.iter().map(|k| k.as_str()).collect();
    let mut all: HashMap<String, Vec<journal_core::records::Record>> = HashMap::new();
    for chunk in patients.chunks(PATIENTS_PER_STATEMENT) {
        let rows: Vec<(String, RecordRow)> = records::table
            .filter(records::owner_id.eq_any(chunk))
            .filter(records::kind.eq_any(&kinds))
            .filter(records::deleted.eq(false))
            .order((records::occurred_at.asc(), records::id.asc()))
            .select((records::owner_id, RecordRow::as_select()))
            .load(conn)?;
        for (owner, row) in rows {
            all.entry(owner).or_default().push(row.into_record()?);
        }
    }
    Ok(all)
}

/// Every live record of these patients (shares aside) with its kind and
/// version: what "new since you last looked" counts, once checked against
/// the grants.
fn versions_of(
    conn: &mut DbConnection,
    patients: &[String],
) -> Result<HashMap<String, Vec<Versioned>>, StoreError> {
    let mut all: HashMap<String, Vec<Versioned>> = HashMap::new();
    for chunk in patients.chunks(PATIENTS_PER_STATEMENT) {
        type Row = (String, String, String, i64, Option<String>);
        let rows: Vec<Row> = records::table
            .filter(records::owner_id.eq_any(chunk))
            .filter(records::deleted.eq(false))
            .filter(records::kind.ne(RecordKind::Share.as_str()))
            .select((
                records::owner_id,
                records::id,
                records::kind,
                records::version,
                super::rows::assessment_body(),
            ))
            .load(conn)?;
        for (owner, id, kind, version, body) in rows {
            let (Ok(id), Ok(kind)) = (id.parse::<RecordId>(), kind.parse::<RecordKind>()) else {
                tracing::warn!(record = %id, "unreadable record id or kind skipped on the caseload");
                continue;
            };
            let instrument = super::rows::instrument_in(body.as_deref());
            all.entry(owner)
                .or_default()
                .push((id, kind, instrument, version));
        }
    }
    Ok(all)
}
