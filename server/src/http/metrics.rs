//! The metrics address (`--metrics-bind`): its one route, and the
//! middleware that counts and times every request of the API and portal.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::http::problem::ApiError;
use crate::state::AppState;

/// Middleware: counts and times every request by its route pattern.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // A standard method clones without allocating.
    let method = req.method().clone();
    let answered = next.call(req).await;
    if let Some(state) = state {
        let (route, status) = match &answered {
            Ok(res) => (
                res.request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned()),
                res.status().as_u16(),
            ),
            Err(e) => (
                "unmatched".to_owned(),
                e.as_response_error().status_code().as_u16(),
            ),
        };
        state.metrics.observe_request(
            &route,
            method.as_str(),
            status,
            started.elapsed().as_secs_f64(),
        );
    }
    answered
}

/// `GET /metrics` on the metrics address.
async fn serve(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let alerts = state
        .db
        .run(crate::store::alerts::count_by_state)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(state.db.pool_state(), &alerts)))
}

/// The metrics address's application: `GET /metrics` only.
pub fn build_metrics_app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .app_data(state)
        .service(web::resource("/metrics").route(web::get().to(serve)))
}
