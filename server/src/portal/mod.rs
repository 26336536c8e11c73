//! The therapist portal: the pages a therapist signs in to, served under
//! `/portal/` by the same server (and `/` sends a browser there).
//!
//! Server-rendered HTML (maud); every form works without JavaScript and
//! the portal serves none. Its charts are SVG drawn here ([`chart`]). It
//! reads and writes only through the store, with the very functions the
//! API uses — the same access check, audit log, alert and comment rules —
//! so the portal can never show what the API would refuse. Its reads are
//! audited as `portal-…` actions, which the patient's access log shows.
//!
//! | file | owns |
//! |---|---|
//! | `session.rs` | the session cookie, sign-in and sign-out, CSRF tokens |
//! | `page.rs` | the page shell, the stylesheet, error pages and headers |
//! | `caseload.rs` | the landing page: patients, scores, alerts, invitations |
//! | `patient.rs` | one patient: charts, shared items |
//! | `comments.rs` | adding, editing and deleting one's comments |
//! | `plan.rs` | a patient's care plan: the form, and adherence to it |
//! | `export.rs` | a patient's printable summary and CSV of scores |
//! | `alerts.rs` | the alerts inbox: acknowledge, resolve |
//! | `chart.rs` | SVG charts readable without colour |
//! | `view.rs` | how records, scores and times read on a page |

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};
use uuid::Uuid;

use crate::http::ApiError;
use crate::store::StoreError;

mod alerts;
mod caseload;
pub mod chart;
mod comments;
mod export;
mod page;
mod patient;
mod plan;
mod session;
mod view;

pub use session::{COOKIE, PLAIN_COOKIE};

/// Registers `/` and every `/portal` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(to_portal)))
        .service(
            web::scope("/portal")
                .service(web::resource("").route(web::get().to(caseload::show)))
                .service(web::resource("/portal.css").route(web::get().to(page::stylesheet)))
                .service(
                    web::resource("/sign-in")
                        .route(web::get().to(session::sign_in_form))
                        .route(web::post().to(session::sign_in)),
                )
                .service(web::resource("/sign-out").route(web::post().to(session::sign_out)))
                .service(web::resource("/invitations").route(web::post().to(caseload::invite)))
                .service(web::resource("/alerts").route(web::get().to(alerts::inbox)))
                .service(
                    web::resource("/alerts/{id}/acknowledge")
                        .route(web::post().to(alerts::acknowledge)),
                )
                .service(
                    web::resource("/alerts/{id}/resolve").route(web::post().to(alerts::resolve)),
                )
                .service(web::resource("/patients/{id}").route(web::get().to(patient::show)))
                .service(
                    web::resource("/patients/{id}/summary").route(web::get().to(export::summary)),
                )
                .service(
                    web::resource("/patients/{id}/scores.csv").route(web::get().to(export::csv)),
                )
                .service(web::resource("/patients/{id}/care-plan").route(web::post().to(plan::set)))
                .service(
                    web::resource("/patients/{id}/care-plan/remove")
                        .route(web::post().to(plan::remove)),
                )
                .service(
                    web::resource("/patients/{id}/records/{record}/comments")
                        .route(web::post().to(comments::add_comment)),
                )
                .service(
                    web::resource("/patients/{id}/comments/{comment}")
                        .route(web::post().to(comments::edit_comment)),
                )
                .service(
                    web::resource("/patients/{id}/comments/{comment}/delete")
                        .route(web::post().to(comments::delete_comment)),
                )
                .default_service(web::to(page::not_found)),
        );
}

async fn to_portal() -> HttpResponse {
    see_other("/portal")
}

/// A redirect a browser follows with a GET (after a form post, too).
pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// What went wrong, as a page says it. Never a store's or database's own
/// words: those are logged, not shown.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// No live session: off to the sign-in page, saying why the last one
    /// ended (`idle`, `expired`) when it is known.
    #[error("sign in to continue")]
    NotSignedIn(Option<&'static str>),
    /// Nothing here, or nothing this therapist may see (an unknown,
    /// unlinked or another therapist's patient; an unshared item).
    #[error("{0}")]
    NotFound(String),
    /// A form that does not come from this session's page (no, or the
    /// wrong, CSRF token).
    #[error(
        "this form has expired or did not come from this portal; go back, reload and try again"
    )]
    ForgedForm,
    /// Input a rule refuses, said in the reader's terms.
    #[error("{0}")]
    Invalid(String),
    /// The change conflicts with what is there (an alert already resolved).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts.
    #[error("too many attempts; try again in {0} seconds")]
    TooMany(u64),
    /// The database cannot be reached right now.
    #[error("the service is temporarily unavailable; try again in a moment")]
    Unavailable,
    /// A fault on our side; logged, never shown.
    #[error("something went wrong on our side; it has been logged")]
    Internal(String),
}

impl From<StoreError> for PortalError {
    fn from(error: StoreError) -> Self {
        match ApiError::from(error) {
            ApiError::NotFound(detail) | ApiError::Gone(detail) => PortalError::NotFound(detail),
            ApiError::Conflict(detail) => PortalError::Conflict(detail),
            ApiError::Validation(invalid) => PortalError::Invalid(invalid.to_string()),
            ApiError::BadRequest(detail) | ApiError::WrongPassword(detail) => {
                PortalError::Invalid(detail)
            }
            ApiError::Forbidden(_) | ApiError::Unauthorized(_) => PortalError::NotSignedIn(None),
            ApiError::Unavailable | ApiError::DatabaseUnavailable(_) => PortalError::Unavailable,
            other => PortalError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            PortalError::NotSignedIn(_) => StatusCode::SEE_OTHER,
            PortalError::NotFound(_) => StatusCode::NOT_FOUND,
            PortalError::ForgedForm => StatusCode::FORBIDDEN,
            PortalError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PortalError::Conflict(_) => StatusCode::CONFLICT,
            PortalError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            PortalError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PortalError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PortalError::NotSignedIn(None) => see_other("/portal/sign-in"),
            PortalError::NotSignedIn(Some(why)) => {
                see_other(&format!("/portal/sign-in?ended={why}"))
            }
            PortalError::Internal(cause) => {
                tracing::error!(%cause, "portal: internal error");
                page::error_page(self.status_code(), &self.to_string())
            }
            other => page::error_page(other.status_code(), &other.to_string()),
        }
    }
}

/// A form that cannot be read (not a form, missing fields, too large):
/// a page that says so.
pub fn form_error(
    error: actix_web::error::UrlencodedError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    let message = match error {
        actix_web::error::UrlencodedError::Overflow { .. } => {
            "The form is too large to be sent.".to_owned()
        }
        actix_web::error::UrlencodedError::ContentType => {
            "This address takes a form sent from the portal's page.".to_owned()
        }
        _ => "The form could not be read; go back, reload and try again.".to_owned(),
    };
    PortalError::Invalid(message).into()
}

/// A patient id from the path; one that is not a UUID names nobody.
pub(crate) fn patient_id(text: &str) -> Result<Uuid, PortalError> {
    Uuid::parse_str(text).map_err(|_| no_such_patient())
}

pub(crate) fn no_such_patient() -> PortalError {
    PortalError::NotFound(
        "no such patient: not linked to you (or no longer), or the link is wrong".to_owned(),
    )
}
