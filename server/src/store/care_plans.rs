//! Care plans therapists write for their patients: one per therapist and
//! patient, written only by its author and only while the care link is
//! active; the patient reads the plans of the therapists they are linked
//! with. The plan's rules are journal-core's (`CarePlan::validate`),
//! checked by the caller before it gets here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal_core::plan::CarePlan;
use uuid::Uuid;

use super::schema::{care_links, care_plans};
use super::time::{micros_to_time, now_micros};
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

/// Sets the therapist's plan for a linked patient (made, or replaced);
/// `NotFound` when the patient is not linked with them.
pub fn set(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    plan: &CarePlan,
) -> Result<StoredPlan, StoreError> {
    let body = serde_json::to_string(plan)
        .map_err(|e| StoreError::Internal(format!("care plan to JSON: {e}")))?;
    conn.write_transaction(|conn| {
        access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
        let now = now_micros();
        let changed = diesel::update(
            care_plans::table
                .filter(care_plans::therapist_id.eq(therapist))
                .filter(care_plans::patient_id.eq(patient)),
        )
        .set((care_plans::body.eq(&body), care_plans::updated_at.eq(now)))
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
        .select(columns())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(NO_PLAN.to_owned()))?;
    decode(row)
}

/// Removes the therapist's plan for a linked patient; `NotFound` when
/// there is none.
pub fn remove(conn: &mut DbConnection, therapist: &str, patient: &str) -> Result<(), StoreError> {
    conn.write_transaction(|conn| {
        access::grants(conn, therapist, patient)?.ok_or_else(not_linked)?;
        let gone = diesel::delete(
            care_plans::table
                .filter(care_plans::therapist_id.eq(therapist))
                .filter(care_plans::patient_id.eq(patient)),
        )
        .execute(conn)?;
        if gone == 0 {
            return Err(StoreError::NotFound(NO_PLAN.to_owned()));
        }
        Ok(())
    })
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
        .order(care_plans::updated_at.desc())
        .select(columns())
        .load(conn)?;
    rows.into_iter().map(decode).collect()
}
