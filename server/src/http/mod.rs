//! The HTTP layer: actix-web handlers and their DTOs, one file per area of
//! the API, the extractors, the problem type and the OpenAPI document. It
//! speaks HTTP and JSON only: every read and write goes through
//! [`crate::store`], and no file here mentions the database's query
//! language (a test, `server/tests/layers.rs`, keeps it so).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, web};

use crate::state::AppState;

pub mod access_log;
pub mod accounts;
pub mod alerts;
pub mod care;
pub mod care_plans;
pub mod comments;
mod cursor;
pub mod deadline;
pub mod extract;
pub mod health;
pub mod me;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod problem;
pub mod records;
pub mod sync;
pub mod therapist;

pub use problem::ApiError;

/// Registers every route of `/api/v1` (health and the OpenAPI document sit
/// outside it; see `crate::build_app`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(accounts::configure)
        .configure(care::configure)
        .configure(care_plans::configure)
        .configure(records::configure)
        .configure(therapist::configure)
        .configure(access_log::configure)
        .configure(alerts::configure)
        .configure(sync::configure)
        .configure(comments::configure)
        .configure(me::configure)
        .configure(passwords::configure);
}

/// The headers every answer carries unless its handler set its own: none
/// is cached anywhere along the way (records, pulls, feeds, timelines,
/// exports, comments and tokens are mental-health data and credentials;
/// the few answers without them are not worth a second rule), none is
/// sniffed as another type, framed, or followed by a referrer, and a JSON
/// answer opened in a browser runs nothing.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Cache-Control", "no-store"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

/// The client's address as the socket saw it. Forwarded-for headers are not
/// trusted: anyone can write them.
pub(crate) fn client_address(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Counts an attempt at a guessable secret from this client, in the
/// database, so the limit holds across every server instance on it.
pub(crate) async fn guard_attempt(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let address = client_address(req).to_string();
    let max = state.auth_attempts_per_minute;
    state
        .db
        .run(move |conn| {
            crate::store::throttle::count_attempt(conn, &address, max, Duration::from_secs(60))
        })
        .await
        .map_err(ApiError::from)?
        .map_err(|seconds| {
            state.metrics.throttled.inc();
            ApiError::TooManyRequests(seconds)
        })
}
