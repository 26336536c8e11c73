//! The HTTP layer: actix-web handlers and their DTOs, one file per area of
//! the API, the extractors, the problem type and the OpenAPI document. It
//! speaks HTTP and JSON only: every read and write goes through
//! [`crate::store`], and no file here mentions the database's query
//! language (a test, `server/tests/layers.rs`, keeps it so).

use std::net::{IpAddr, Ipv4Addr};

use actix_web::{HttpRequest, web};

use crate::state::AppState;

pub mod access_log;
pub mod accounts;
pub mod alerts;
pub mod care;
pub mod comments;
mod cursor;
pub mod extract;
pub mod health;
pub mod me;
pub mod openapi;
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
        .configure(records::configure)
        .configure(therapist::configure)
        .configure(access_log::configure)
        .configure(alerts::configure)
        .configure(sync::configure)
        .configure(comments::configure)
        .configure(me::configure);
}

/// The client's address as the socket saw it. Forwarded-for headers are not
/// trusted: anyone can write them.
pub(crate) fn client_address(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Counts an attempt at a guessable secret from this client.
pub(crate) fn guard_attempt(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    state
        .guard
        .check(client_address(req))
        .map_err(ApiError::TooManyRequests)
}
