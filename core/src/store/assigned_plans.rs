//! Care plans the patient's linked therapists wrote, as sync delivers them:
//! kept per plan, removed when withdrawn.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::schema::assigned_plans;
use super::{StoreError, micros_to_time, time_to_micros};
use crate::plan::AssignedPlan;
use crate::sync::OwnerVersion;

#[derive(Queryable, Selectable)]
#[diesel(table_name = assigned_plans, check_for_backend(diesel::sqlite::Sqlite))]
struct PlanRow {
    id: String,
    therapist_id: String,
    author: String,
    body: String,
    updated_at: i64,
}

/// Stores a pulled plan (or removes it, when withdrawn). Idempotent.
pub(super) fn apply(
    conn: &mut SqliteConnection,
    version: OwnerVersion,
    assigned: &AssignedPlan,
) -> Result<(), StoreError> {
    let id = assigned.id.to_string();
    let Some(plan) = &assigned.plan else {
        diesel::delete(assigned_plans::table.find(&id)).execute(conn)?;
        return Ok(());
    };
    // The server checked it; a plan this device's rules refuse (a newer
    // server's) is not applied as something else.
    plan.validate().map_err(|e| StoreError::UnreadableChange {
        version,
        reason: format!("care plan {}: {e}", assigned.id),
    })?;
    let body = serde_json::to_string(plan)
        .map_err(|e| StoreError::Corrupt(format!("a care plan cannot be kept: {e}")))?;
    diesel::replace_into(assigned_plans::table)
        .values((
            assigned_plans::id.eq(&id),
            assigned_plans::therapist_id.eq(assigned.therapist_id.to_string()),
            assigned_plans::author.eq(&assigned.author),
            assigned_plans::body.eq(body),
            assigned_plans::updated_at.eq(time_to_micros(assigned.updated_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The plans in force from the patient's therapists, most recently changed
/// first.
pub(super) fn all(conn: &mut SqliteConnection) -> Result<Vec<AssignedPlan>, StoreError> {
    let rows: Vec<PlanRow> = assigned_plans::table
        .order((assigned_plans::updated_at.desc(), assigned_plans::id.desc()))
        .select(PlanRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let corrupt =
                |what: &str| StoreError::Corrupt(format!("care plan {}: bad {what}", row.id));
            Ok(AssignedPlan {
                id: row.id.parse().map_err(|_| corrupt("id"))?,
                therapist_id: row
                    .therapist_id
                    .parse()
                    .map_err(|_| corrupt("therapist id"))?,
                author: row.author,
                plan: Some(serde_json::from_str(&row.body).map_err(|_| corrupt("plan"))?),
                updated_at: micros_to_time(row.updated_at)?,
            })
        })
        .collect()
}
