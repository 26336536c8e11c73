//! The HTTP layer: actix-web handlers and their DTOs, one file per area of
//! the API, the extractors, the problem type and the OpenAPI document. It
//! speaks HTTP and JSON only: every read and write goes through
//! [`crate::store`], and no file here mentions the database's query
//! language (a test, `server/tests/layers.rs`, keeps it so).

use actix_web::middleware::DefaultHeaders;
use actix_web::web;

pub mod access_log;
pub mod accounts;
pub mod alerts;
pub mod care;
pub mod care_plans;
pub mod client;
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

pub use client::ClientSpan;
pub(crate) use client::guard_attempt;
pub use problem::ApiError;

/// Registers every route of `/api/v1` (health and the OpenAPI document sit
/// outside it; see `crate::build_app`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Routes are tried in this order, each with a path pattern to match;
    // sync comes first because phones call it most (an up-to-date pull is
    // the commonest request), and the paths here never overlap, so the
    // order changes nothing else.
    cfg.configure(sync::configure)
        .configure(accounts::configure)
        .configure(care::configure)
        .configure(care_plans::configure)
        .configure(records::configure)
        .configure(therapist::configure)
        .configure(access_log::configure)
        .configure(alerts::configure)
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
