//! Adherence to a therapist's care plan, per linked patient: of the
//! questionnaires, integration follow-ups and check-ins the plan made due
//! in the period (journal-core's `adherence::period`), how many were done
//! — counted by journal-core's agenda rules, the ones the patient's phone
//! applies.
//!
//! It is worked out only from what the patient shares with the therapist
//! (checked by [`super::access`]'s grants, record by record): a count that
//! needs a kind the patient does not share as a whole is not given at all
//! rather than shown as missed. Journal entries are read by their date,
//! phase and session only, never their text. Days are counted in UTC (the
//! patient's time zone stays on their phone).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal_core::adherence::{self, Tally};
use journal_core::agenda::{EntryFact, History, PlanInForce, SessionFact};
use journal_core::ids::RecordId;
use journal_core::phase::Phase;
use journal_core::plan::CarePlan;
use journal_core::records::{RecordBody, RecordKind};
use journal_core::zone::Zone;

use super::access::Grants;
use super::rows::RecordRow;
use super::schema::{care_plans, records};
use super::time::micros_to_time;
use super::{DbConnection, StoreError};

/// Patients per `eq_any` list.
const PATIENTS_PER_STATEMENT: usize = 500;

/// One patient's adherence to the therapist's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanAdherence {
    /// When the plan was set or last changed.
    pub plan_since: DateTime<Utc>,
    /// The period counted: from …
    pub from: DateTime<Utc>,
    /// … to now.
    pub to: DateTime<Utc>,
    /// Questionnaires; `None` when none of those the plan asks for is
    /// shared.
    pub questionnaires: Option<Tally>,
    /// Integration follow-ups; `None` when journal entries or dosing
    /// sessions are not shared as a whole.
    pub follow_ups: Option<Tally>,
    /// Check-ins; `None` when check-ins are not shared as a whole.
    pub check_ins: Option<Tally>,
}

/// The adherence of each of these patients (with what they grant the
/// therapist) who has a plan in force from this therapist, as at `now`.
/// A fixed number of statements whatever the number of patients.
pub fn of_patients(
    conn: &mut DbConnection,
    therapist: &str,
    patients: &[(String, &Grants)],
    now: DateTime<Utc>,
) -> Result<HashMap<String, PlanAdherence>, StoreError> {
    let ids: Vec<String> = patients.iter().map(|(id, _)| id.clone()).collect();
    let plans = plans_of(conn, therapist, &ids)?;
    if plans.is_empty() {
        return Ok(HashMap::new());
    }
    let planned: Vec<String> = plans.keys().cloned().collect();
    let earliest = plans
        .values()
        .map(|(_, since)| adherence::period(*since, now).0.min(*since))
        .min()
        .unwrap_or(now);
    let mut histories = histories_of(conn, &planned, earliest)?;
    let tz = Zone::utc();
    let mut found = HashMap::new();
    for (patient, grants) in patients {
        let Some((plan, since)) = plans.get(patient) else {
            continue;
        };
        let visible = histories
            .remove(patient)
            .unwrap_or_default()
            .visible_to(grants);
        let (from, to) = adherence::period(*since, now);
        // Only the questionnaires the patient shares are counted (a
        // questionnaire not shared is never shown as missed).
        let shown = CarePlan {
            measures: plan
                .measures
                .iter()
                .filter(|m| grants.shares_instrument(m.instrument))
                .cloned()
                .collect(),
            ..plan.clone()
        };
        let counted = adherence::adherence(
            PlanInForce {
                plan: &shown,
                since: *since,
            },
            &visible,
            &tz,
            from,
            to,
        );
        let kinds = grants.kinds();
        let shared = |kind: RecordKind| kinds.contains(&kind);
        found.insert(
            patient.clone(),
            PlanAdherence {
                plan_since: *since,
                from,
                to,
                questionnaires: (!shown.measures.is_empty()
                    || (plan.measures.is_empty() && shared(RecordKind::Assessment)))
                .then_some(counted.questionnaires),
                follow_ups: (shared(RecordKind::JournalEntry) && shared(RecordKind::DosingSession))
                    .then_some(counted.follow_ups),
                check_ins: shared(RecordKind::MoodCheckIn).then_some(counted.check_ins),
            },
        );
    }
    Ok(found)
}

/// One linked patient's adherence to the therapist's plan as at `now`;
/// `NotFound` when the patient is not linked with them or has no plan
/// from them.
pub fn of_patient(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    now: DateTime<Utc>,
) -> Result<PlanAdherence, StoreError> {
    let grants = super::access::grants(conn, therapist, patient)?
        .ok_or_else(|| StoreError::NotFound(super::review::NO_SUCH_PATIENT.to_owned()))?;
    of_patients(conn, therapist, &[(patient.to_owned(), &grants)], now)?
        .remove(patient)
        .ok_or_else(|| StoreError::NotFound(super::care_plans::NO_PLAN.to_owned()))
}

/// The therapist's plans in force for these patients, with since when.
fn plans_of(
    conn: &mut DbConnection,
    therapist: &str,
    patients: &[String],
) -> Result<HashMap<String, (CarePlan, DateTime<Utc>)>, StoreError> {
    let mut plans = HashMap::new();
    for chunk in patients.chunks(PATIENTS_PER_STATEMENT) {
        let rows: Vec<(String, String, String, i64)> = care_plans::table
            .filter(care_plans::therapist_id.eq(therapist))
            .filter(care_plans::patient_id.eq_any(chunk))
            .filter(care_plans::withdrawn.eq(false))
            .select((
                care_plans::id,
                care_plans::patient_id,
                care_plans::body,
                care_plans::updated_at,
            ))
            .load(conn)?;
        for (id, patient, body, updated_at) in rows {
            let plan: CarePlan = serde_json::from_str(&body).map_err(|e| {
                StoreError::corrupt(format_args!("care plan {id}"), format!("unreadable: {e}"))
            })?;
            plans.insert(patient, (plan, micros_to_time(updated_at)?));
        }
    }
    Ok(plans)
}

/// A patient's facts with the record each came from, before any grant is
/// checked.
#[derive(Debug, Default)]
struct Sourced {
    sessions: Vec<(RecordId, SessionFact)>,
    assessments: Vec<(RecordId, journal_core::records::Instrument, DateTime<Utc>)>,
    entries: Vec<(RecordId, EntryFact)>,
    check_ins: Vec<(RecordId, DateTime<Utc>)>,
}

impl Sourced {
    /// The history made of what `grants` allow the therapist to read.
    fn visible_to(self, grants: &Grants) -> History {
        let allowed = |kind: RecordKind, id: RecordId| grants.allowing(kind, id, None).is_some();
        let mut history = History {
            sessions: self
                .sessions
                .into_iter()
                .filter(|(id, _)| allowed(RecordKind::DosingSession, *id))
                .map(|(_, fact)| fact)
                .collect(),
            assessments: self
                .assessments
                .into_iter()
                .filter(|(id, instrument, _)| {
                    grants
                        .allowing(RecordKind::Assessment, *id, Some(*instrument))
                        .is_some()
                })
                .map(|(_, instrument, at)| (instrument, at))
                .collect(),
            entries: self
                .entries
                .into_iter()
                .filter(|(id, _)| allowed(RecordKind::JournalEntry, *id))
                .map(|(_, fact)| fact)
                .collect(),
            check_ins: self
                .check_ins
                .into_iter()
                .filter(|(id, _)| allowed(RecordKind::MoodCheckIn, *id))
                .map(|(_, at)| at)
                .collect(),
            ..History::default()
        };
        history.assessments.sort_by_key(|(_, at)| *at);
        history.check_ins.sort();
        history.entries.sort_by_key(|e| e.at);
        history
    }
}

/// Every patient's live sessions and questionnaires, and their journal
/// entries and check-ins about moments since `since` (read without their
/// text), by patient.
fn histories_of(
    conn: &mut DbConnection,
    patients: &[String],
    since: DateTime<Utc>,
) -> Result<HashMap<String, Sourced>, StoreError> {
    let mut all: HashMap<String, Sourced> = HashMap::new();
    let measured = [
        RecordKind::DosingSession.as_str(),
        RecordKind::Assessment.as_str(),
    ];
    let dated = [
        RecordKind::JournalEntry.as_str(),
        RecordKind::MoodCheckIn.as_str(),
    ];
    // A day's margin: an entry written just before the period may answer
    // a follow-up in it.
    let since = (since - chrono::TimeDelta::days(1)).timestamp_micros();
    for chunk in patients.chunks(PATIENTS_PER_STATEMENT) {
        let rows: Vec<(String, RecordRow)> = records::table
            .filter(records::owner_id.eq_any(chunk))
            .filter(records::kind.eq_any(measured))
            .filter(records::deleted.eq(false))
            .select((records::owner_id, RecordRow::as_select()))
            .load(conn)?;
        for (owner, row) in rows {
            let record = row.into_record()?;
            let sourced = all.entry(owner).or_default();
            match record.body {
                RecordBody::DosingSession(session) => sourced.sessions.push((
                    record.id,
                    SessionFact {
                        id: record.id,
                        at: session.scheduled_at,
                        status: session.status,
                    },
                )),
                RecordBody::Assessment(assessment) => sourced.assessments.push((
                    record.id,
                    assessment.instrument,
                    assessment.taken_at,
                )),
                _ => {}
            }
        }
        type Dated = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            i64,
        );
        let rows: Vec<Dated> = records::table
            .filter(records::owner_id.eq_any(chunk))
            .filter(records::kind.eq_any(dated))
            .filter(records::deleted.eq(false))
            .filter(records::occurred_at.ge(since))
            .select((
                records::owner_id,
                records::id,
                records::kind,
                records::phase,
                records::dosing_session_id,
                records::occurred_at,
                records::created_at,
            ))
            .load(conn)?;
        for (owner, id, kind, phase, session, occurred_at, created_at) in rows {
            let corrupt = |what: &str| StoreError::corrupt(format_args!("record {id}"), what);
            let record: RecordId = id.parse().map_err(|_| corrupt("bad id"))?;
            let sourced = all.entry(owner).or_default();
            if kind == RecordKind::MoodCheckIn.as_str() {
                sourced
                    .check_ins
                    .push((record, micros_to_time(occurred_at)?));
                continue;
            }
            let phase: Phase = phase
                .as_deref()
                .ok_or_else(|| corrupt("an entry without a phase"))?
                .parse()
                .map_err(|_| corrupt("bad phase"))?;
            let session = session
                .map(|s| s.parse::<RecordId>())
                .transpose()
                .map_err(|_| corrupt("bad session id"))?;
            sourced.entries.push((
                record,
                EntryFact {
                    at: micros_to_time(created_at)?,
                    phase,
                    session,
                },
            ));
        }
    }
    Ok(all)
}
