//! The OpenAPI document, generated from the handlers and types, served at
//! `/api/v1/openapi.json`.

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "KAP Integration Journal API",
        description = "Patients' journal, sync and therapist review."
    ),
    paths(crate::routes::health::healthz, crate::routes::health::readyz),
    components(schemas(crate::error::Problem))
)]
pub struct ApiDoc;

/// Serves the document.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
