//! The patient's access log: every record a therapist read (written by
//! the store in the transaction of the read), who read it, how, when and
//! through which share, newest first. Nobody can change or delete an entry.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::ids::RecordId;
use journal_core::records::RecordKind;
use journal_core::validation::{FieldViolation, InvalidInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Patient;
use super::problem::ApiError;
use crate::state::AppState;
use crate::store::audit;
use crate::store::time::TimeCursor;

/// Entries of the access log per page when no limit is given.
const DEFAULT_LOG_PAGE: u32 = 50;
/// The most entries of the access log one page may hold.
const MAX_LOG_PAGE: u32 = 200;

/// Registers the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // A resource (not a bare route) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/me/access-log").route(web::get().to(access_log)));
}

/// The page of `GET /me/access-log`. Unknown parameters are refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLogParams {
    /// Page size, 1–200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(value_type = Option<String>)]
    pub cursor: Option<TimeCursor>,
}

/// Who read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogTherapist {
    /// The therapist's account id.
    pub id: Uuid,
    /// Their name; `null` when they gave none or the account is gone.
    pub display_name: Option<String>,
}

/// One record a therapist read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub therapist: AccessLogTherapist,
    /// How: `feed` (a page of the shared feed), `item` (one record),
    /// `timeline` (the trends), or another read the API adds later.
    pub action: String,
    /// Which record.
    pub record_id: Option<RecordId>,
    /// Its kind.
    pub record_kind: Option<RecordKind>,
    /// The share that allowed the read.
    pub share_id: Option<RecordId>,
}

/// One page of the access log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogPage {
    /// The reads, newest first.
    pub entries: Vec<AccessLogEntry>,
    /// Pass this as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, value_type = Option<String>)]
    pub next_cursor: Option<TimeCursor>,
}

/// The signed-in patient's access log: every record a therapist read, who
/// read it, how, when, and through which share; newest first, one page at
/// a time. Nobody can change or delete an entry.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "privacy",
    params(AccessLogParams),
    responses(
        (status = 200, description = "One page of the access log", body = AccessLogPage),
        (status = 400, description = "Unreadable parameters: a bad cursor, an unknown parameter",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 422, description = "A limit outside 1–200", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn access_log(
    state: web::Data<AppState>,
    patient: Patient,
    params: web::Query<AccessLogParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(DEFAULT_LOG_PAGE);
    if !(1..=MAX_LOG_PAGE).contains(&limit) {
        return Err(InvalidInput {
            violations: vec![FieldViolation {
                field: "limit".to_owned(),
                rule: "range".to_owned(),
                message: format!("must be between 1 and {MAX_LOG_PAGE}"),
            }],
        }
        .into());
    }
    let me = patient.owner();
    let cursor = params.cursor;
    let (entries, next_cursor) = state
        .db
        .run(move |conn| audit::page(conn, &me, cursor, limit))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(AccessLogPage {
        entries: entries.into_iter().map(AccessLogEntry::from).collect(),
        next_cursor,
    }))
}

impl From<audit::LoggedRead> for AccessLogEntry {
    fn from(read: audit::LoggedRead) -> Self {
        AccessLogEntry {
            at: read.at,
            therapist: AccessLogTherapist {
                id: read.therapist_id,
                display_name: read.therapist_name,
            },
            action: read.action,
            record_id: read.record_id,
            record_kind: read.record_kind,
            share_id: read.share_id,
        }
    }
}

/// The access log's part of the OpenAPI document (its tag is described
/// with the therapist's reads, [`super::therapist::ReviewApi`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(access_log),
    components(schemas(
        AccessLogTherapist,
        AccessLogEntry,
        AccessLogPage,
        journal_core::records::RecordKind,
        journal_core::ids::RecordId,
        crate::http::problem::Problem
    ))
)]
pub struct AccessLogApi;
