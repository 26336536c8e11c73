//! Care plans therapists write for their patients: one per therapist and
//! patient, written only by its author and only while the care link is
//! active; the patient reads the plans of the therapists they are linked
//! with. The plan's rules are journal-core's (`CarePlan::validate`),
//! checked by the caller before it gets here.
//!
//! Every change of a plan (set, changed, withdrawn) is an [`owner_write`]
//! of the patient's, so pull delivers it to the patient's devices in
//! version order like a comment. A withdrawn plan (removed by its author,
//! or its care link ended) stays as a row marked withdrawn, so devices
//! learn it is gone.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal_core::plan::CarePlan;
use uuid::Uuid;

use journal_core::plan::AssignedPlan;
use journal_core::sync::PulledChange;

use super::rows::owner_version;
use super::schema::{care_links, care_plans};
use super::time::{micros_to_time, now_micros};
use super::versions::owner_write;
use super::{DbConnection, StoreError, access};

/// What a patient who is not (or no longer) linked answers.
pub const NO_PLAN: &str = "no care plan for this patient";

/// A care plan as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    /// The plan's id.
    pub id: Uuid,
    /// Whose plan it is.
    pub patient_id: Uuid,
    /// Who wrote it.
    pub therapist_id: Uuid,
    /// The plan.
    pub plan: CarePlan,
    /// When it was first written.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

type Row = (String, String, String, String, i64, i64);

fn decode(row: Row) -> Result<StoredPlan, StoreError> {
    let (id, patient, therapist, body, created_at, updated_at) = row;
    let uuid = |what: &str, text: &str| {
        Uuid::parse_str(text)
            .map_err(|_| StoreError::corrupt(format_args!("care plan {id}"), format!("bad {what}")))
    };
    Ok(StoredPlan {
        id: uuid("id", &id)?,
        patient_id: uuid("patient", &patient)?,
        therapist_id: uuid("therapist", &therapist)?,
        plan: serde_json::from_str(&body).map_err(|e| {
            StoreError::corrupt(
                format_args!("care plan {id}"),
                format!("unreadable plan: {e}"),
            )
        })?,
        created_at: micros_to_time(created_at)?,
        updated_at: micros_to_time(updated_at)?,
    })
}

fn columns() -> (
    care_plans::id,
    care_plans::patient_id,
    care_plans::therapist_id,
    care_plans::body,
    care_plans::created_at,
    care_plans::updated_at,
) {
    (
        care_plans::id,
        care_plans::patient_id,
        care_plans::therapist_id,
        care_plans::body,
        care_plans::created_at,
        care_plans::updated_at,
    )
}

fn not_linked() -> StoreError {
    StoreError::NotFound(super::review::NO_SUCH_PATIENT.to_owned())
}

/// Sets the therapist's plan for a linked patient (made, replaced, or set
/// again after it was withdrawn); `NotFound` when the patient is not
/// linked with them.
pub fn set(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    plan: &CarePlan,
) -> Result<StoredPlan, StoreError> {
    let body = serde_json::to_string(plan)
        .map_err(|e| StoreError::Internal(format!("care plan to JSON: {e}")))?;
    // Checked first so that no version is drawn for an unknown patient,
    // and again under the patient's lock.
    access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
    owner_write(conn, patient, 1, |conn, versions| {
        access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
        let now = now_micros();
        let version = versions.take()?;
        let changed = diesel::update(
            care_plans::table
                .filter(care_plans::therapist_id.eq(therapist))
                .filter(care_plans::patient_id.eq(patient)),
        )
        .set((
            care_plans::body.eq(&body),
            care_plans::updated_at.eq(now),
            care_plans::version.eq(version),
            care_plans::withdrawn.eq(false),
        ))
        .execute(conn)?;
        if changed == 0 {
            diesel::insert_into(care_plans::table)
                .values((
                    care_plans::id.eq(Uuid::now_v7().to_string()),
                    care_plans::patient_id.eq(patient),
                    care_plans::therapist_id.eq(therapist),
                    care_plans::body.eq(&body),
                    care_plans::created_at.eq(now),
                    care_plans::updated_at.eq(now),
                    care_plans::version.eq(version),
                    care_plans::withdrawn.eq(false),
                ))
                .execute(conn)?;
        }
        own(conn, therapist, patient)
    })
}

/// The therapist's plan for a linked patient; `NotFound` when there is
/// none or the patient is not linked with them.
pub fn own(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
) -> Result<StoredPlan, StoreError> {
    access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
    let row: Row = care_plans::table
        .filter(care_plans::therapist_id.eq(therapist))
        .filter(care_plans::patient_id.eq(patient))
        .filter(care_plans::withdrawn.eq(false))
        .select(columns())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(NO_PLAN.to_owned()))?;
    decode(row)
}

/// Withdraws the therapist's plan for a linked patient; `NotFound` when
/// there is none.
pub fn remove(conn: &mut DbConnection, therapist: &str, patient: &str) -> Result<(), StoreError> {
    access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
    owner_write(conn, patient, 1, |conn, versions| {
        access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
        if withdraw(conn, therapist, patient, versions.take()?)? {
            Ok(())
        } else {
            Err(StoreError::NotFound(NO_PLAN.to_owned()))
        }
    })
}

/// Marks the plan withdrawn at `version`, inside the caller's
/// [`owner_write`] of the patient's; whether there was one in force.
/// (Called too when the care link ends.)
pub(super) fn withdraw(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    version: i64,
) -> Result<bool, StoreError> {
    let withdrawn = diesel::update(
        care_plans::table
            .filter(care_plans::therapist_id.eq(therapist))
            .filter(care_plans::patient_id.eq(patient))
            .filter(care_plans::withdrawn.eq(false)),
    )
    .set((
        care_plans::withdrawn.eq(true),
        care_plans::updated_at.eq(now_micros()),
        care_plans::version.eq(version),
    ))
    .execute(conn)?;
    Ok(withdrawn > 0)
}

/// The plans written for the patient by the therapists they are linked
/// with now, most recently changed first.
pub fn of_patient(conn: &mut DbConnection, patient: &str) -> Result<Vec<StoredPlan>, StoreError> {
    let rows: Vec<Row> = care_plans::table
        .inner_join(
            care_links::table.on(care_links::therapist_id
                .eq(care_plans::therapist_id)
                .and(care_links::patient_id.eq(care_plans::patient_id))
                .and(care_links::ended_at.is_null())),
        )
        .filter(care_plans::patient_id.eq(patient))
        .filter(care_plans::withdrawn.eq(false))
        .order(care_plans::updated_at.desc())
        .select(columns())
        .load(conn)?;
    rows.into_iter().map(decode).collect()
}

/// A plan change as pull reads it.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = care_plans)]
pub struct PlanChangeRow {
    id: String,
    therapist_id: String,
    body: String,
    updated_at: i64,
    /// Its position in the patient's history.
    pub version: i64,
    withdrawn: bool,
}

/// The patient's plan changes after `since`, in version order, at most
/// `limit` of them.
pub fn changes_after(
    conn: &mut DbConnection,
    patient: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<PlanChangeRow>, StoreError> {
    Ok(care_plans::table
        .filter(care_plans::patient_id.eq(patient))
        .filter(care_plans::version.gt(since))
        .order(care_plans::version.asc())
        .limit(limit)
        .select(PlanChangeRow::as_select())
        .load(conn)?)
}

impl PlanChangeRow {
    /// The change as pull sends it, signed with the author's name.
    pub fn into_change(self, author: String) -> Result<PulledChange, StoreError> {
        let corrupt = |what: &str| {
            StoreError::corrupt(format_args!("care plan {}", self.id), what.to_owned())
        };
        let plan = if self.withdrawn {
            None
        } else {
            Some(
                serde_json::from_str(&self.body)
                    .map_err(|e| corrupt(&format!("unreadable plan: {e}")))?,
            )
        };
        Ok(PulledChange::CarePlan {
            version: owner_version(self.version)?,
            care_plan: AssignedPlan {
                id: Uuid::parse_str(&self.id).map_err(|_| corrupt("bad id"))?,
                therapist_id: Uuid::parse_str(&self.therapist_id)
                    .map_err(|_| corrupt("bad therapist"))?,
                author,
                plan,
                updated_at: micros_to_time(self.updated_at)?,
            },
        })
    }

    /// The therapist who wrote it.
    pub fn therapist_id(&self) -> &str {
        &self.therapist_id
    }
}
