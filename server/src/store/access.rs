//! Who may read what: the one place that decides whether a therapist may
//! see a patient's record.
//!
//! A therapist sees a record only while (a) an active care link joins them
//! to the patient, and (b) a live, unrevoked share of the patient's names
//! this therapist and covers the record — the record itself, or its kind.
//! Both are read from the database on every request, never from a token,
//! so ending a link or revoking a share takes effect on the next request,
//! and both are read by one query ([`grants`], or [`caseload_grants`] for
//! every linked patient at once). The API, the portal,
//! comments and alerts all ask it; nothing else decides.

use diesel::prelude::*;
use journal_core::RecordId;
use journal_core::records::{Instrument, Record, RecordBody, RecordKind, Share};

use super::schema::{care_links, records};
use super::{DbConnection, StoreError};

/// The shares through which one therapist may read one patient's records
/// right now.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    shares: Vec<(RecordId, Share)>,
}

impl Grants {
    /// The share that allows reading this record, if any: of `kind`, with
    /// `id`, and — a questionnaire — of `instrument` (without it, a share
    /// of some questionnaires only never allows it).
    pub fn allowing(
        &self,
        kind: RecordKind,
        id: RecordId,
        instrument: Option<Instrument>,
    ) -> Option<RecordId> {
        if kind == RecordKind::Share {
            return None;
        }
        self.shares
            .iter()
            .find(|(_, share)| share.covers(kind, id, instrument))
            .map(|(share_id, _)| *share_id)
    }

    /// The share that allows reading this record, if any.
    pub fn allowing_record(&self, record: &Record) -> Option<RecordId> {
        self.allowing(record.kind(), record.id, record.body.instrument())
    }

    /// The questionnaires shared by instrument (not as a whole kind).
    pub fn instruments(&self) -> Vec<Instrument> {
        let mut all: Vec<Instrument> = self
            .shares
            .iter()
            .filter_map(|(_, share)| match &share.scope {
                journal_core::records::ShareScope::Instruments { instruments } => {
                    Some(instruments.clone())
                }
                _ => None,
            })
            .flatten()
            .collect();
        all.sort_by_key(|i| i.as_str());
        all.dedup();
        all
    }

    /// Whether every questionnaire of `instrument` is shared (as a kind, or
    /// by instrument).
    pub fn shares_instrument(&self, instrument: Instrument) -> bool {
        self.kinds().contains(&RecordKind::Assessment) || self.instruments().contains(&instrument)
    }

    /// Whether anything is shared at all.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// The kinds shared as a whole.
    pub fn kinds(&self) -> Vec<RecordKind> {
        let mut kinds: Vec<RecordKind> = self
            .shares
            .iter()
            .filter_map(|(_, share)| match &share.scope {
                journal_core::records::ShareScope::Kinds { kinds } => Some(kinds.clone()),
                journal_core::records::ShareScope::Item { .. }
                | journal_core::records::ShareScope::Instruments { .. } => None,
            })
            .flatten()
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// The records shared one by one.
    pub fn items(&self) -> Vec<RecordId> {
        self.shares
            .iter()
            .filter_map(|(_, share)| match &share.scope {
                journal_core::records::ShareScope::Item { record_id } => Some(*record_id),
                journal_core::records::ShareScope::Kinds { .. }
                | journal_core::records::ShareScope::Instruments { .. } => None,
            })
            .collect()
    }
}

/// What `therapist` may read of `patient`'s records now, in one query:
/// `None` without an active care link (the patient is not theirs to see at
/// all); otherwise the patient's live, unrevoked shares naming this
/// therapist, which may be none.
pub fn grants(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
) -> Result<Option<Grants>, StoreError> {
    Ok(grants_of(conn, therapist, Some(patient))?
        .into_iter()
        .next()
        .map(|(_, grants)| grants))
}

/// What `therapist` may read of each actively linked patient's records
/// now, in one query for the whole caseload: every linked patient's id
/// with their grants (which may be empty), in no particular order.
pub fn caseload_grants(
    conn: &mut DbConnection,
    therapist: &str,
) -> Result<Vec<(String, Grants)>, StoreError> {
    grants_of(conn, therapist, None)
}

/// The grants of the therapist's linked patients, or of `only` that one.
fn grants_of(
    conn: &mut DbConnection,
    therapist: &str,
    only: Option<&str>,
) -> Result<Vec<(String, Grants)>, StoreError> {
    let therapist_id = uuid::Uuid::parse_str(therapist)
        .map_err(|_| StoreError::Internal(format!("therapist id {therapist:?} is not a UUID")))?;
    // The active links, joined with every live share of each patient's: no
    // row for a patient means no link, a row without a share means a link
    // sharing nothing.
    let mut sql = care_links::table
        .left_join(
            records::table.on(records::owner_id
                .eq(care_links::patient_id)
                .and(records::kind.eq(RecordKind::Share.as_str()))
                .and(records::deleted.eq(false))),
        )
        .filter(care_links::therapist_id.eq(therapist))
        .filter(care_links::ended_at.is_null())
        .into_boxed();
    if let Some(patient) = only {
        sql = sql.filter(care_links::patient_id.eq(patient));
    }
    let rows: Vec<(String, Option<String>, Option<String>)> = sql
        .select((
            care_links::patient_id,
            records::id.nullable(),
            records::body.nullable(),
        ))
        .order((care_links::patient_id.asc(), records::id.asc()))
        .load(conn)?;
    let mut all: Vec<(String, Grants)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (patient, id, body) in rows {
        if all.last().is_none_or(|(last, _)| *last != patient) {
            all.push((patient.clone(), Grants::default()));
        }
        let (Some(id), Some(body)) = (id, body) else {
            continue;
        };
        // Two active links (never made, but never relied on) would list a
        // share twice.
        if !seen.insert(id.clone()) {
            continue;
        }
        // A share that cannot be read grants nothing (and is logged): never
        // fail open.
        let parsed = id
            .parse::<RecordId>()
            .ok()
            .zip(RecordBody::from_json(RecordKind::Share, &body).ok());
        match parsed {
            Some((share_id, RecordBody::Share(share)))
                if share.therapist_id == therapist_id && !share.revoked =>
            {
                if let Some((_, grants)) = all.last_mut() {
                    grants.shares.push((share_id, share));
                }
            }
            Some(_) => {}
            None => tracing::warn!(share = %id, "unreadable share ignored"),
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_items_and_kinds_but_never_shares() {
        let therapist = uuid::Uuid::now_v7();
        let item = RecordId::new();
        let by_item = RecordId::new();
        let by_kind = RecordId::new();
        let grants = Grants {
            shares: vec![
                (by_item, Share::item(therapist, item)),
                (
                    by_kind,
                    Share::kinds(therapist, vec![RecordKind::MoodCheckIn]).unwrap(),
                ),
            ],
        };
        assert_eq!(
            grants.allowing(RecordKind::JournalEntry, item, None),
            Some(by_item)
        );
        assert_eq!(
            grants.allowing(RecordKind::JournalEntry, RecordId::new(), None),
            None
        );
        assert_eq!(
            grants.allowing(RecordKind::MoodCheckIn, RecordId::new(), None),
            Some(by_kind)
        );
        assert_eq!(grants.allowing(RecordKind::Share, by_item, None), None);
        assert_eq!(grants.kinds(), vec![RecordKind::MoodCheckIn]);
        assert_eq!(grants.items(), vec![item]);
        assert!(Grants::default().is_empty());
    }
}
