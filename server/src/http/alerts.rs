//! Safety: the alerts a PHQ-9 risk answer raises for the therapists it is
//! shared with, and the deployment's policy texts the app shows before a
//! patient shares anything.
//!
//! - Alerts are raised by [`crate::store::alerts::raise`] when a risk
//!   answer becomes visible to a linked therapist; here a therapist lists
//!   their own and moves each through `open → acknowledged → resolved`
//!   (resolving straight from `open` is allowed; anything else is a 409).
//!   Another therapist's alert answers 404 like an unknown one. Patients
//!   have no route that changes an alert: they cannot clear one.
//! - An alert names the patient and the record but holds none of its
//!   content, and stays in the therapist's list after the share is revoked
//!   or the link ended (a patient must not be able to clear a raised alert
//!   by unsharing); reading the record itself still needs a live share.
//! - `GET /policy` needs no sign-in: the texts are the deployment's, not
//!   anyone's data, and the app may show them before an account exists.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::ids::RecordId;
use journal_core::safety::CrisisResources;
use journal_core::validation::{FieldViolation, InvalidInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Therapist;
use super::problem::ApiError;
use crate::state::AppState;
use crate::store::alerts::{self, AlertState, StoredAlert, Transition};
use crate::store::time::TimeCursor;

/// The longest note a therapist may leave when resolving an alert.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Alerts per page when no limit is given.
const DEFAULT_PAGE: u32 = 50;
/// The most alerts one page may hold.
const MAX_PAGE: u32 = 200;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/therapist/alerts").route(web::get().to(list_alerts)))
        .service(
            web::resource("/therapist/alerts/{id}/acknowledge")
                .route(web::post().to(acknowledge_alert)),
        )
        .service(
            web::resource("/therapist/alerts/{id}/resolve").route(web::post().to(resolve_alert)),
        )
        .service(web::resource("/policy").route(web::get().to(policy)));
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Raised, not yet seen to.
    Open,
    /// The therapist has seen it.
    Acknowledged,
    /// The therapist has dealt with it.
    Resolved,
}

impl From<AlertState> for AlertStatus {
    fn from(state: AlertState) -> Self {
        match state {
            AlertState::Open => AlertStatus::Open,
            AlertState::Acknowledged => AlertStatus::Acknowledged,
            AlertState::Resolved => AlertStatus::Resolved,
        }
    }
}

impl From<AlertStatus> for AlertState {
    fn from(status: AlertStatus) -> Self {
        match status {
            AlertStatus::Open => AlertState::Open,
            AlertStatus::Acknowledged => AlertState::Acknowledged,
            AlertStatus::Resolved => AlertState::Resolved,
        }
    }
}

/// The patient an alert is about.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertPatient {
    /// The patient's account id.
    pub id: Uuid,
    /// The name they chose, if any, while the care link is active; `null`
    /// once it ended (the alert stays until resolved, but shows nothing
    /// new of the patient).
    pub display_name: Option<String>,
}

/// A safety alert: a shared answer that signals risk.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The alert's id.
    pub id: Uuid,
    /// Whom it is about.
    pub patient: AlertPatient,
    /// The record that raised it (read it through the patient's shared
    /// items while it is shared).
    pub record_id: RecordId,
    /// Why: `phq9Item9` (PHQ-9 item 9 answered 1 or more).
    pub reason: String,
    /// Where it stands.
    pub status: AlertStatus,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When the therapist acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When the therapist resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The therapist's note on resolving it.
    pub note: Option<String>,
}

/// One page of alerts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertPage {
    /// The alerts, newest first.
    pub alerts: Vec<Alert>,
    /// Pass this as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, value_type = Option<String>)]
    pub next_cursor: Option<TimeCursor>,
}

/// The filters and page of `GET /therapist/alerts`. Unknown parameters are
/// refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertParams {
    /// Only alerts in this state; every state when absent.
    pub status: Option<AlertStatus>,
    /// Page size, 1–200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(value_type = Option<String>)]
    pub cursor: Option<TimeCursor>,
}

/// What a therapist may say on resolving an alert.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveAlert {
    /// What was done (at most 2,000 characters; line breaks allowed).
    pub note: Option<String>,
}

impl From<StoredAlert> for Alert {
    fn from(alert: StoredAlert) -> Self {
        Alert {
            id: alert.id,
            patient: AlertPatient {
                id: alert.patient_id,
                display_name: alert.patient_name,
            },
            record_id: alert.record_id,
            reason: alert.reason,
            status: alert.status.into(),
            created_at: alert.created_at,
            acknowledged_at: alert.acknowledged_at,
            resolved_at: alert.resolved_at,
            note: alert.note,
        }
    }
}

/// The signed-in therapist's alerts, newest first, optionally of one
/// status, one page at a time.
#[utoipa::path(get, path = "/api/v1/therapist/alerts", tag = "therapist",
    params(AlertParams),
    responses(
        (status = 200, description = "One page of your alerts", body = AlertPage),
        (status = 400, description = "Unreadable parameters: an unknown status, a bad cursor, an unknown parameter",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 422, description = "A limit outside 1–200", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_alerts(
    state: web::Data<AppState>,
    therapist: Therapist,
    params: web::Query<AlertParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(InvalidInput::single(
            "limit",
            "range",
            format!("must be between 1 and {MAX_PAGE}"),
        )
        .into());
    }
    let me = therapist.id();
    let status = params.status.map(AlertState::from);
    let (found, next_cursor) = state
        .db
        .run(move |conn| alerts::list(conn, &me, status, params.cursor, limit))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(AlertPage {
        alerts: found.into_iter().map(Alert::from).collect(),
        next_cursor,
    }))
}

/// Acknowledges one of the signed-in therapist's open alerts.
#[utoipa::path(post, path = "/api/v1/therapist/alerts/{id}/acknowledge", tag = "therapist",
    params(("id" = Uuid, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert, acknowledged", body = Alert),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such alert of yours", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "The alert is not open", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn acknowledge_alert(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_alert_id(&path)?;
    let alert = move_alert(&state, therapist, id, Transition::Acknowledge).await?;
    Ok(HttpResponse::Ok().json(alert))
}

/// Resolves one of the signed-in therapist's open or acknowledged alerts,
/// with an optional note (`{"note": "…"}`, at most 2,000 characters). The
/// body may be left out.
#[utoipa::path(post, path = "/api/v1/therapist/alerts/{id}/resolve", tag = "therapist",
    params(("id" = Uuid, Path, description = "The alert's id")),
    request_body(content = Option<ResolveAlert>, description = "An optional note"),
    responses(
        (status = 200, description = "The alert, resolved", body = Alert),
        (status = 400, description = "Not a note: malformed JSON, wrong types or unknown fields",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such alert of yours", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "The alert is already resolved", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        (status = 415, description = "A body that is not JSON", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "The note is too long or holds control characters",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn resolve_alert(
    state: web::Data<AppState>,
    therapist: Therapist,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_alert_id(&path)?;
    let note = read_note(&req, &body)?;
    let alert = move_alert(&state, therapist, id, Transition::Resolve(note)).await?;
    Ok(HttpResponse::Ok().json(alert))
}

/// The optional note of a resolve request: no body, or a JSON
/// [`ResolveAlert`].
fn read_note(req: &HttpRequest, body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".to_owned(),
        ));
    }
    let request: ResolveAlert = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let Some(note) = request.note else {
        return Ok(None);
    };
    Ok(check_note(note)?)
}

/// The rule for a resolving note, the API's and the portal's: at most
/// 2,000 characters, no control characters but line breaks and tabs; a
/// blank note is no note.
pub(crate) fn check_note(note: String) -> Result<Option<String>, InvalidInput> {
    let mut violations = Vec::new();
    if note.chars().count() > MAX_NOTE_CHARS {
        violations.push(FieldViolation {
            field: "note".to_owned(),
            rule: "length".to_owned(),
            message: format!("must be at most {MAX_NOTE_CHARS} characters"),
        });
    }
    if note.chars().any(forbidden_in_note) {
        violations.push(FieldViolation {
            field: "note".to_owned(),
            rule: "control_characters".to_owned(),
            message: "must not contain control characters other than line breaks and tabs"
                .to_owned(),
        });
    }
    if !violations.is_empty() {
        return Err(InvalidInput { violations });
    }
    Ok((!note.trim().is_empty()).then_some(note))
}

/// journal-core's rule for free text: no control characters but line
/// breaks and tabs, no byte-order marks or bidi overrides.
fn forbidden_in_note(c: char) -> bool {
    if matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn parse_alert_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| no_such_alert())
}

fn no_such_alert() -> ApiError {
    ApiError::NotFound("no such alert".to_owned())
}

/// Moves one of the therapist's alerts one step, if its state allows.
async fn move_alert(
    state: &AppState,
    therapist: Therapist,
    id: Uuid,
    transition: Transition,
) -> Result<Alert, ApiError> {
    let me = therapist.id();
    let alert = state
        .db
        .run(move |conn| alerts::advance(conn, &me, id, transition))
        .await
        .map_err(ApiError::from)?;
    Ok(Alert::from(alert))
}

// ---------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------

/// What the app shows a patient before they share anything.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Whether and how shared entries are watched (e.g. "not monitored in
    /// real time"), as this deployment states it.
    pub monitoring_statement: String,
    /// Where to find help in a crisis, as this deployment lists it.
    pub crisis_resources: CrisisResources,
}

/// This deployment's monitoring statement and crisis resources, for the
/// app to show before the patient shares anything. Needs no sign-in.
#[utoipa::path(get, path = "/api/v1/policy", tag = "privacy",
    responses(
        (status = 200, description = "The monitoring statement and crisis resources", body = Policy),
    ))]
pub async fn policy(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Policy {
        monitoring_statement: state.monitoring_statement.clone(),
        crisis_resources: state.crisis_resources.clone(),
    })
}

/// The alerts' and the policy's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_alerts, acknowledge_alert, resolve_alert, policy),
    components(schemas(
        Alert,
        AlertStatus,
        AlertPatient,
        AlertPage,
        ResolveAlert,
        Policy,
        journal_core::safety::CrisisResources,
        journal_core::safety::CrisisContact,
        journal_core::ids::RecordId,
        crate::http::problem::Problem
    ))
)]
pub struct AlertsApi;
