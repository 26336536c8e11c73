//! Care plans: a linked therapist writes one plan per patient —
//! questionnaires and how often, integration follow-ups after each dosing
//! session, the check-in cadence — and the patient reads the plans of the
//! therapists they are linked with.
//!
//! - Only a therapist writes, and only for a patient linked with them now;
//!   any other patient id answers 404, like an unknown one.
//! - A plan breaking journal-core's rules (cadence 0, days after a session
//!   out of 1–365 or repeated, unknown prompt ids, a questionnaire planned
//!   twice or with no due rule) answers 422 naming every field, and
//!   nothing is written.
//! - A patient cannot write a plan through these routes (403): their own
//!   plan is a `carePlan` record on their devices.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::plan::CarePlan;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Patient, Therapist};
use super::problem::ApiError;
use crate::state::AppState;
use crate::store::adherence::{self as plan_adherence, PlanAdherence};
use crate::store::care_plans::{self, StoredPlan};
use crate::store::review::NO_SUCH_PATIENT;
use crate::store::{DbConnection, StoreError};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/care-plans/{patientId}")
            .route(web::put().to(set_plan))
            .route(web::get().to(get_plan))
            .route(web::delete().to(delete_plan)),
    )
    .service(web::resource("/care-plans/{patientId}/adherence").route(web::get().to(adherence)))
    .service(web::resource("/care-plans").route(web::get().to(my_plans)));
}

/// A care plan with who wrote it for whom, and when.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarePlanView {
    /// The plan's id.
    pub id: Uuid,
    /// The patient it is for.
    pub patient_id: Uuid,
    /// The therapist who wrote it.
    pub therapist_id: Uuid,
    /// The plan.
    pub plan: CarePlan,
    /// When it was first written.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<StoredPlan> for CarePlanView {
    fn from(stored: StoredPlan) -> Self {
        Self {
            id: stored.id,
            patient_id: stored.patient_id,
            therapist_id: stored.therapist_id,
            plan: stored.plan,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

/// How many of one kind of task the plan made due in the period, and
/// what became of them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TallyView {
    /// Became due in the period.
    pub due: u32,
    /// Of those, done.
    pub done: u32,
    /// Not done, still open (they may yet be done).
    pub open: u32,
    /// Not done, and their window has passed.
    pub missed: u32,
    /// Done of due, 0–1; absent when nothing was due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

impl From<journal_core::adherence::Tally> for TallyView {
    fn from(tally: journal_core::adherence::Tally) -> Self {
        Self {
            due: tally.due,
            done: tally.done,
            open: tally.open,
            missed: tally.missed(),
            rate: tally.rate(),
        }
    }
}

/// A patient's adherence to the therapist's care plan over the last 30
/// days (or since the plan was set, if later), counted by the rules the
/// patient's agenda follows, from what the patient shares only. A count
/// needing a kind the patient does not share as a whole is absent. Days
/// are counted in UTC.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdherenceView {
    /// When the plan was set or last changed.
    pub plan_since: DateTime<Utc>,
    /// The period counted: from …
    pub from: DateTime<Utc>,
    /// … to now.
    pub to: DateTime<Utc>,
    /// Questionnaires, those shared only (absent when none the plan asks
    /// for is shared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questionnaires: Option<TallyView>,
    /// Integration follow-ups (absent unless journal entries and dosing
    /// sessions are shared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_ups: Option<TallyView>,
    /// Check-ins (absent unless check-ins are shared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_ins: Option<TallyView>,
}

impl From<PlanAdherence> for AdherenceView {
    fn from(found: PlanAdherence) -> Self {
        Self {
            plan_since: found.plan_since,
            from: found.from,
            to: found.to,
            questionnaires: found.questionnaires.map(Into::into),
            follow_ups: found.follow_ups.map(Into::into),
            check_ins: found.check_ins.map(Into::into),
        }
    }
}

fn patient_id(text: &str) -> Result<String, ApiError> {
    Uuid::parse_str(text)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::NotFound(NO_SUCH_PATIENT.to_owned()))
}

/// Runs `work` with the signed-in therapist's id and the path's patient id
/// (a malformed one answers 404, like an unknown one) on the database.
async fn for_patient<T, F>(
    state: &AppState,
    therapist: &Therapist,
    path: &str,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection, &str, &str) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let patient = patient_id(path)?;
    let me = therapist.id();
    state
        .db
        .run(move |conn| work(conn, &me, &patient))
        .await
        .map_err(ApiError::from)
}

/// Sets (makes or replaces) the signed-in therapist's care plan for a
/// linked patient.
#[utoipa::path(put, path = "/api/v1/care-plans/{patientId}", tag = "care plans",
    params(("patientId" = Uuid, Path, description = "The patient's account id")),
    request_body(content = CarePlan, description = "The plan"),
    responses(
        (status = 200, description = "Set", body = CarePlanView),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such patient linked with you", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "The plan breaks a rule; every broken rule is named",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_plan(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    // Read as a JSON object only (serde would also take an array for a
    // struct, positionally).
    let body = body.into_inner();
    if !body.is_object() {
        return Err(ApiError::BadRequest(
            "a care plan is a JSON object with measures, followUps and checkIns".to_owned(),
        ));
    }
    let plan: CarePlan = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    plan.validate()?;
    let stored = for_patient(&state, &therapist, &path, move |conn, me, patient| {
        care_plans::set(conn, me, patient, &plan)
    })
    .await?;
    Ok(HttpResponse::Ok().json(CarePlanView::from(stored)))
}

/// The signed-in therapist's care plan for a linked patient.
#[utoipa::path(get, path = "/api/v1/care-plans/{patientId}", tag = "care plans",
    params(("patientId" = Uuid, Path, description = "The patient's account id")),
    responses(
        (status = 200, description = "The plan", body = CarePlanView),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such patient linked with you, or no plan for them yet",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_plan(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let stored = for_patient(&state, &therapist, &path, care_plans::own).await?;
    Ok(HttpResponse::Ok().json(CarePlanView::from(stored)))
}

/// Removes the signed-in therapist's care plan for a linked patient.
#[utoipa::path(delete, path = "/api/v1/care-plans/{patientId}", tag = "care plans",
    params(("patientId" = Uuid, Path, description = "The patient's account id")),
    responses(
        (status = 204, description = "Removed"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such patient linked with you, or no plan for them",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_plan(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    for_patient(&state, &therapist, &path, care_plans::remove).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A linked patient's adherence to the signed-in therapist's care plan.
#[utoipa::path(get, path = "/api/v1/care-plans/{patientId}/adherence", tag = "care plans",
    params(("patientId" = Uuid, Path, description = "The patient's account id")),
    responses(
        (status = 200, description = "Adherence over the last 30 days", body = AdherenceView),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such patient linked with you, or no plan for them",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn adherence(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = for_patient(&state, &therapist, &path, |conn, me, patient| {
        plan_adherence::of_patient(conn, me, patient, Utc::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(AdherenceView::from(found)))
}

/// The signed-in patient's care plans from the therapists they are linked
/// with, most recently changed first.
#[utoipa::path(get, path = "/api/v1/care-plans", tag = "care plans",
    responses(
        (status = 200, description = "The plans", body = Vec<CarePlanView>),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
    ),
    security(("bearer" = [])))]
pub async fn my_plans(
    state: web::Data<AppState>,
    patient: Patient,
) -> Result<HttpResponse, ApiError> {
    let me = patient.owner();
    let plans = state
        .db
        .run(move |conn| care_plans::of_patient(conn, &me))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(
        plans
            .into_iter()
            .map(CarePlanView::from)
            .collect::<Vec<_>>(),
    ))
}

/// The care plans' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(set_plan, get_plan, delete_plan, adherence, my_plans),
    components(schemas(
        CarePlanView,
        AdherenceView,
        TallyView,
        journal_core::plan::CarePlan,
        journal_core::plan::MeasurePlan,
        journal_core::plan::FollowUpPlan,
        journal_core::plan::CheckInCadence,
    )),
    tags((name = "care plans", description = "What a linked therapist asks of a patient between sessions"))
)]
pub struct CarePlansApi;
