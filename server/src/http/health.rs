//! Liveness and readiness for load balancers and operators.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::ApiError;
use crate::state::AppState;

/// Registers the routes (outside `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
}

/// The process's or the database's state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The database backend (`/readyz` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
        database: None,
    })
}

/// How long `/readyz` waits for a database connection: shorter than the
/// pool's timeout for requests, so a probe answers promptly while the
/// database is down.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The database answers: 503 problem naming it when it does not (within
/// [`READY_TIMEOUT`] for a connection).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database cannot be reached", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend().name();
    let db = state.db.clone();
    let answer = web::block(move || db.ping(READY_TIMEOUT)).await?;
    if let Err(cause) = answer {
        tracing::warn!(%cause, database = backend, "not ready");
        return Err(ApiError::DatabaseUnavailable(format!(
            "the {backend} database does not answer"
        )));
    }
    Ok(HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
        database: Some(backend.to_owned()),
    }))
}
