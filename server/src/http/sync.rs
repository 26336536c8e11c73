//! Sync: a patient's devices push their local changes and pull everyone
//! else's (`docs/sync.md`). The JSON is journal-core's
//! [`journal_core::sync::wire`]; conflicts are decided by journal-core's
//! [`resolve`], the very function the phone calls, never here.
//!
//! Here the requests are read and checked as a whole; what a push does and
//! what a pull reads is the store's (`crate::store::sync`: `incoming`,
//! `outgoing`, `devices`, `write`). A rejected mutation's outcome carries
//! the problem the REST API would have answered for the same reason.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::ids::{DeviceId, RecordId};
use journal_core::plausible;
use journal_core::sync::{
    DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_MUTATIONS, MutationProblem, PullResponse,
    PushRequest, PushResponse, Revision,
};
use journal_core::validation::{FieldViolation, InvalidInput};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::Patient;
use super::problem::ApiError;
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::store::records::NOT_FOUND;
use crate::store::sync::{incoming, outgoing};
use crate::store::{self, StoreError};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/sync/push").route(web::post().to(push)))
        .service(web::resource("/sync/pull").route(web::get().to(pull)))
        .service(web::resource("/records/{id}/revisions").route(web::get().to(list_revisions)));
}

/// Pushes a device's local changes, oldest first.
///
/// The first push of a device id binds it to the signed-in patient. Each
/// mutation gets an outcome, in order: `applied` (possibly merged by the
/// conflict rules: `conflict` says so, and a losing text is kept as a
/// revision) or `rejected` with a problem (unreadable or invalid content,
/// a record of someone else's, a record of another kind). A rejected
/// mutation does not hold up the ones behind it. A mutation at or below the
/// device's last applied one is a replay: it is answered with the outcome
/// it got the first time and changes nothing.
///
/// The request as a whole is refused (nothing happens) when it is not a
/// push (400), holds no or more than 500 mutations or mutation ids that do
/// not rise (422), or names a device of another patient (403).
#[utoipa::path(post, path = "/api/v1/sync/push", tag = "sync",
    request_body(content = PushRequest, description = "The device and its changes, oldest first"),
    responses(
        (status = 200, description = "One outcome per mutation, in order", body = PushResponse),
        (status = 400, description = "Not a push: malformed JSON, wrong types or unknown fields",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        (status = 403, description = "Not a patient, or the device is another patient's",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The device's mutation ids went back (type device-rewound): a mutation id it already used names another change; take a new device id. Or a change is stamped later than the server's clock allows (type clock-ahead): the device's clock runs ahead; correct it from a pull's serverTime, stamp the changes again and resend. Nothing of the push is written",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "No or more than 500 mutations, mutation ids that do not rise, or the reserved nil device id",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn push(
    state: web::Data<AppState>,
    patient: Patient,
    body: web::Json<PushRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let ids = check_push(&request)?;
    check_stamps(&request, Utc::now())?;
    let owner = patient.owner();
    let response = state
        .db
        .run(move |conn| incoming::push(conn, &owner, &request, &ids, &describe))
        .await
        .map_err(ApiError::from)?;
    state.metrics.pushes.inc();
    state
        .metrics
        .changes_pushed
        .inc_by(response.results.len() as u64);
    Ok(HttpResponse::Ok().json(response))
}

/// Checks the request as a whole; returns the mutation ids as stored.
fn check_push(request: &PushRequest) -> Result<Vec<i64>, ApiError> {
    let mut invalid = Vec::new();
    if request.device_id.as_uuid().is_nil() {
        invalid.push(violation(
            "deviceId",
            "reserved",
            "the nil id is reserved for edits made through the API",
        ));
    }
    let count = request.mutations.len();
    if count == 0 || count > MAX_PUSH_MUTATIONS {
        invalid.push(violation(
            "mutations",
            "length",
            &format!("must hold 1 to {MAX_PUSH_MUTATIONS} mutations, not {count}"),
        ));
    }
    let mut ids = Vec::with_capacity(count.min(MAX_PUSH_MUTATIONS));
    let mut previous: Option<u64> = None;
    // Past the limit the list is refused anyway; stop reading it.
    for (index, mutation) in request
        .mutations
        .iter()
        .enumerate()
        .take(MAX_PUSH_MUTATIONS)
    {
        // Named only when something is wrong with it (pushes are hot).
        let field = || format!("mutations[{index}].mutationId");
        let id = mutation.mutation_id.0;
        match i64::try_from(id) {
            Ok(stored) if stored >= 1 => ids.push(stored),
            _ => invalid.push(violation(
                &field(),
                "range",
                &format!("must be between 1 and {}", i64::MAX),
            )),
        }
        if let Some(before) = previous
            && id <= before
        {
            invalid.push(violation(
                &field(),
                "increasing",
                &format!("mutation ids must rise; {id} follows {before}"),
            ));
        }
        previous = Some(id);
    }
    if invalid.is_empty() {
        Ok(ids)
    } else {
        invalid.sort_by(|a, b| a.field.cmp(&b.field).then(a.rule.cmp(&b.rule)));
        Err(InvalidInput {
            violations: invalid,
        }
        .into())
    }
}

/// Refuses a push carrying a change stamped later than the server's clock
/// allows (journal-core's [`plausible::latest_stamp`]): adopted, such a
/// stamp would drag every device's clock, which never goes back, into the
/// future with it.
fn check_stamps(request: &PushRequest, now: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(ahead) = request
        .mutations
        .iter()
        .find(|m| !plausible::stamp_is_plausible(m.hlc, now))
    else {
        return Ok(());
    };
    let stamped = i64::try_from(ahead.hlc.millis())
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map_or_else(|| ahead.hlc.to_string(), |t| t.to_rfc3339());
    Err(ApiError::ClockAhead(format!(
        "mutation {} is stamped {stamped} by this device's clock, but the server's clock reads \
         {} and allows {} minutes ahead: the device's clock runs ahead. Nothing was written; \
         correct the clock from a pull's serverTime, stamp the changes again and send them again",
        ahead.mutation_id.0,
        now.to_rfc3339(),
        plausible::CLOCK_SKEW_MINUTES,
    )))
}

fn violation(field: &str, rule: &str, message: &str) -> FieldViolation {
    FieldViolation {
        field: field.to_owned(),
        rule: rule.to_owned(),
        message: message.to_owned(),
    }
}

/// The problem a rejected mutation's outcome carries: the one the REST API
/// answers for the same reason.
fn describe(error: &StoreError) -> MutationProblem {
    let problem = ApiError::from(error.clone()).problem();
    MutationProblem {
        problem_type: problem.problem_type,
        detail: problem.detail,
        errors: problem.errors,
    }
}

/// The cursor and page of `GET /sync/pull`. Unknown parameters are refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullParams {
    /// The `cursor` of the previous pull; 0 (the default) for everything.
    #[param(minimum = 0)]
    pub since: Option<u64>,
    /// Page size, 1–1000; 500 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The asking device, to learn its last applied mutation.
    #[param(value_type = Option<DeviceId>)]
    pub device_id: Option<DeviceId>,
}

/// Pulls the signed-in patient's changes after a cursor: their records as
/// the server now holds them (tombstones included, without content), the
/// revisions of text that lost a conflict, and therapists' comments on
/// their records (new, edited or deleted — a deleted one comes with
/// `deleted: true` and no text), in version order.
///
/// Pass `cursor` as `since` next time; keep pulling while `hasMore`. With
/// `deviceId`, the answer says the last mutation of that device the server
/// has dealt with, so the device can drop changes whose push answer was
/// lost.
#[utoipa::path(get, path = "/api/v1/sync/pull", tag = "sync",
    params(PullParams),
    responses(
        (status = 200, description = "One page of changes", body = PullResponse),
        (status = 400, description = "Unreadable parameters: not a number, not a UUID, an unknown parameter",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        (status = 403, description = "Not a patient, or the device is another patient's",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A limit outside 1–1000, or a cursor past any version",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn pull(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<PullParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let (since, limit) = check_pull(&params)?;
    let device = params.device_id;
    let mut page = state
        .db
        .run(move |conn| outgoing::pull(conn, user, since, limit, device))
        .await
        .map_err(ApiError::from)?;
    page.server_time = Some(Utc::now());
    state.metrics.pulls.inc();
    state
        .metrics
        .changes_pulled
        .inc_by(page.changes.len() as u64);
    Ok(HttpResponse::Ok().json(page))
}

fn check_pull(params: &PullParams) -> Result<(i64, u32), ApiError> {
    let mut invalid = Vec::new();
    let since = i64::try_from(params.since.unwrap_or(0)).unwrap_or_else(|_| {
        invalid.push(violation(
            "since",
            "range",
            &format!("must be between 0 and {}", i64::MAX),
        ));
        0
    });
    let limit = params.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        invalid.push(violation(
            "limit",
            "range",
            &format!("must be between 1 and {MAX_PULL_LIMIT}"),
        ));
    }
    if invalid.is_empty() {
        Ok((since, limit))
    } else {
        Err(InvalidInput {
            violations: invalid,
        }
        .into())
    }
}

/// Lists the revisions kept of one of the signed-in patient's records (text
/// that lost a conflict or to a delete), newest first. A deleted record's
/// revisions are listed too.
#[utoipa::path(get, path = "/api/v1/records/{id}/revisions", tag = "records",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The record's revisions, newest first", body = Vec<Revision>),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such record of yours",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_revisions(
    state: web::Data<AppState>,
    patient: Patient,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(NOT_FOUND.to_owned());
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    let owner = patient.owner();
    let revisions = state
        .db
        .run(move |conn| -> Result<Option<Vec<Revision>>, ApiError> {
            Ok(store::records::revisions(conn, &owner, id)?)
        })
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(revisions))
}

/// The sync API's part of the OpenAPI document: push, pull, a record's
/// revisions, and journal-core's wire types.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(push, pull, list_revisions),
    components(schemas(
        journal_core::sync::PushRequest,
        journal_core::sync::Mutation,
        journal_core::sync::ChangeOp,
        journal_core::sync::PushResponse,
        journal_core::sync::MutationOutcome,
        journal_core::sync::OutcomeStatus,
        journal_core::sync::MutationProblem,
        journal_core::sync::PullResponse,
        journal_core::sync::PulledChange,
        journal_core::sync::RecordState,
        journal_core::sync::Revision,
        journal_core::sync::RevisionReason,
        journal_core::sync::OwnerVersion,
        journal_core::comments::Comment,
        journal_core::plan::AssignedPlan,
        journal_core::ids::DeviceId,
        journal_core::ids::MutationId,
        journal_core::ids::RecordId,
        journal_core::hlc::Hlc,
        journal_core::records::RecordKind,
        journal_core::validation::FieldViolation,
        crate::http::problem::Problem
    )),
    tags((name = "sync", description = "A patient's devices push their changes and pull everyone else's"))
)]
pub struct SyncApi;
