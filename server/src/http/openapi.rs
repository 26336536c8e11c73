//! The OpenAPI document, generated from the handlers and types, served at
//! `/api/v1/openapi.json`. Each area of the API declares its own part next
//! to its handlers; this module joins them and adds what is shared.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http as routes;

/// The document's root: metadata, health routes, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "KAP Integration Journal API",
        description = "Patients' journal, sync and therapist review. Every error is an RFC 9457 \
                       problem document (application/problem+json)."
    ),
    paths(routes::health::healthz, routes::health::readyz),
    components(schemas(crate::http::problem::Problem, journal_core::validation::FieldViolation, routes::health::Health)),
    modifiers(&BearerAuth)
)]
struct Root;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from /api/v1/auth/login, /register or /refresh",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Root::openapi();
    doc.merge(routes::accounts::AccountsApi::openapi());
    doc.merge(routes::care::CareApi::openapi());
    doc.merge(routes::care_plans::CarePlansApi::openapi());
    doc.merge(routes::records::RecordsApi::openapi());
    doc.merge(routes::sync::SyncApi::openapi());
    doc.merge(routes::therapist::ReviewApi::openapi());
    doc.merge(routes::access_log::AccessLogApi::openapi());
    doc.merge(routes::alerts::AlertsApi::openapi());
    doc.merge(routes::comments::CommentsApi::openapi());
    doc.merge(routes::me::MeApi::openapi());
    doc.merge(routes::passwords::PasswordsApi::openapi());
    doc
}

/// Serves the document.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
