//! The API's routes, one file per area.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;

use crate::error::ApiError;
use crate::state::AppState;

pub mod accounts;
pub mod alerts;
pub mod care;
pub mod comments;
pub mod health;
pub mod me;
pub mod records;
pub mod sync;
pub mod therapist;

/// Microseconds since the Unix epoch: how every timestamp is stored.
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
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
