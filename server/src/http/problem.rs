//! Every error the API answers, as RFC 9457 problem details
//! (`application/problem+json`): a stable `type`, a `title`, the `status`, a
//! human `detail`, and for validation failures the list of fields with the
//! rule each broke. Internal errors are logged with their cause and answered
//! with nothing of it.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use journal_core::validation::{FieldViolation, InvalidInput};
use serde::Serialize;

use crate::auth::AuthError;
use crate::store::StoreError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g.
    /// `urn:kap-journal:problem:validation`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// For validation problems: every broken rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
}

/// The problem answers most routes document alike, for their OpenAPI
/// annotations: `responses(…, NotSignedIn, NotATherapist)` instead of the
/// same status, text and body written out on every route. Routes whose
/// answer says something of their own keep writing it out.
pub mod documented {
    use super::Problem;

    /// 401: no valid access token.
    #[derive(utoipa::IntoResponses)]
    #[response(
        status = 401,
        description = "Not signed in",
        content_type = "application/problem+json"
    )]
    pub struct NotSignedIn(#[allow(dead_code)] Problem);

    /// 403: a therapist-only route, called by a patient.
    #[derive(utoipa::IntoResponses)]
    #[response(
        status = 403,
        description = "Not a therapist",
        content_type = "application/problem+json"
    )]
    pub struct NotATherapist(#[allow(dead_code)] Problem);

    /// 403: a patient-only route, called by a therapist.
    #[derive(utoipa::IntoResponses)]
    #[response(
        status = 403,
        description = "Not a patient",
        content_type = "application/problem+json"
    )]
    pub struct NotAPatient(#[allow(dead_code)] Problem);

    /// 413: a body over the size limit.
    #[derive(utoipa::IntoResponses)]
    #[response(
        status = 413,
        description = "Body too large",
        content_type = "application/problem+json"
    )]
    pub struct BodyTooLarge(#[allow(dead_code)] Problem);

    /// 415: a body that is not JSON.
    #[derive(utoipa::IntoResponses)]
    #[response(
        status = 415,
        description = "Body not JSON",
        content_type = "application/problem+json"
    )]
    pub struct BodyNotJson(#[allow(dead_code)] Problem);
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The content breaks journal-core's rules.
    #[error("{0}")]
    Validation(InvalidInput),
    /// The request could not be read (malformed JSON, wrong types, unknown
    /// fields, bad query parameters).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The password given to confirm an account change (a new password,
    /// erasure) is wrong. 401 like a wrong sign-in, with its own problem
    /// type so a client can tell it from an ended sign-in.
    #[error("{0}")]
    WrongPassword(String),
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there, or nothing this user may see.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// A device sent a change under a number it had already used for
    /// another change: its numbering went back (restored from a backup).
    /// It must take a new device id and push again.
    #[error("{0}")]
    DeviceRewound(String),
    /// A push carried a change stamped later than the server's clock
    /// allows: the device's clock runs ahead. Nothing of the push was
    /// written; the device corrects its clock from a pull's `serverTime`,
    /// stamps its changes again and resends.
    #[error("{0}")]
    ClockAhead(String),
    /// It existed, but no longer can be used (an expired invitation).
    #[error("{0}")]
    Gone(String),
    /// The body is larger than the documented limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request did not arrive in time (a body that stopped coming).
    #[error("{0}")]
    RequestTimeout(String),
    /// Too many attempts; try again after the given number of seconds.
    #[error("too many attempts; try again in {0} seconds")]
    TooManyRequests(u64),
    /// The service cannot take the request right now (e.g. the password
    /// hashers are all busy).
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable,
    /// The database cannot be reached right now (down, restarting, or its
    /// connection was lost mid-request). Same problem type as
    /// [`ApiError::Unavailable`]; the detail names the database.
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// This server is not set up for the request (password resets without
    /// SMTP settings): retrying will not help until an operator sets it up.
    #[error("{0}")]
    NotConfigured(String),
    /// A fault on our side; the cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The problem type's last segment, stable for clients to match on.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::WrongPassword(_) => "wrong-password",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::DeviceRewound(_) => "device-rewound",
            ApiError::ClockAhead(_) => "clock-ahead",
            ApiError::Gone(_) => "gone",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Unavailable | ApiError::DatabaseUnavailable(_) => "unavailable",
            ApiError::NotConfigured(_) => "not-configured",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "The input breaks a rule",
            ApiError::BadRequest(_) => "The request could not be read",
            ApiError::Unauthorized(_) => "Sign-in required",
            ApiError::WrongPassword(_) => "Wrong password",
            ApiError::Forbidden(_) => "Not allowed",
            ApiError::NotFound(_) => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::DeviceRewound(_) => "The device's change numbers went back",
            ApiError::ClockAhead(_) => "The device's clock is ahead",
            ApiError::Gone(_) => "No longer available",
            ApiError::PayloadTooLarge(_) => "Request body too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::TooManyRequests(_) => "Too many attempts",
            ApiError::Unavailable | ApiError::DatabaseUnavailable(_) => "Service unavailable",
            ApiError::NotConfigured(_) => "Not set up on this server",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let detail = match self {
            ApiError::Internal(_) => {
                "Something went wrong on our side; it has been logged.".to_owned()
            }
            ApiError::Validation(invalid) => format!("Invalid input: {invalid}"),
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("urn:kap-journal:problem:{}", self.slug()),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail,
            errors: match self {
                ApiError::Validation(invalid) => invalid.violations.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::WrongPassword(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::DeviceRewound(_) | ApiError::ClockAhead(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable
            | ApiError::DatabaseUnavailable(_)
            | ApiError::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::Unauthorized(detail) => {
                let value = format!(
                    "Bearer realm=\"journal\", error=\"invalid_token\", error_description=\"{}\"",
                    detail.replace('"', "'")
                );
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            ApiError::TooManyRequests(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            ApiError::Unavailable | ApiError::DatabaseUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            // The rest of the body may still come; the connection is not
            // worth keeping for it.
            ApiError::RequestTimeout(_) => {
                response.force_close();
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl From<InvalidInput> for ApiError {
    fn from(invalid: InvalidInput) -> Self {
        ApiError::Validation(invalid)
    }
}

/// The detail of every 503 caused by the database.
pub const DATABASE_UNAVAILABLE: &str =
    "the database cannot be reached right now; try again shortly";

impl ApiError {
    /// The database is down or the connection to it was lost.
    pub fn database_unavailable() -> Self {
        ApiError::DatabaseUnavailable(DATABASE_UNAVAILABLE.to_owned())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(format!("blocking task failed: {error}"))
    }
}

/// The one mapping of the store's errors to answers: which status each
/// gets, and (through [`ApiError::error_response`]) that only internal
/// faults are logged with their cause and answered without it.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Invalid(invalid) => ApiError::Validation(invalid),
            StoreError::Unreadable(detail) => ApiError::BadRequest(detail),
            StoreError::NotFound(detail) => ApiError::NotFound(detail),
            StoreError::Conflict(detail) => ApiError::Conflict(detail),
            StoreError::Gone(detail) => ApiError::Gone(detail),
            StoreError::NotAllowed(detail) => ApiError::Forbidden(detail),
            StoreError::NotSignedIn(detail) => ApiError::Unauthorized(detail),
            StoreError::DeviceRewound(detail) => ApiError::DeviceRewound(detail),
            StoreError::Unavailable(_) => ApiError::database_unavailable(),
            StoreError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthorized(detail) => ApiError::Unauthorized(detail),
            AuthError::Busy => ApiError::Unavailable,
            AuthError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// Turns actix's own error responses (unknown route, wrong method, a body
/// too large, a malformed request) into problem documents, unless the
/// response is one already.
pub fn problem_for_bare_errors<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // A problem document, or a page of the portal's saying what went
    // wrong, is already an answer a person or a client can read.
    let is_described = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || v.as_bytes().starts_with(b"text/html")
        });
    if is_described {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let error = match status {
        StatusCode::NOT_FOUND => {
            ApiError::NotFound(format!("no route {}", response.request().path()))
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::BadRequest(String::new()),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(crate::MAX_BODY_BYTES),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("send application/json".to_owned())
        }
        s if s.is_server_error() => ApiError::Internal(format!("status {s} from the framework")),
        _ => ApiError::BadRequest(format!("the request could not be read ({status})")),
    };
    let mut problem = error.problem();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        problem.problem_type = "urn:kap-journal:problem:method-not-allowed".to_owned();
        problem.title = "Method not allowed".to_owned();
        problem.detail = format!(
            "{} is not allowed on {}",
            response.request().method(),
            response.request().path()
        );
    }
    problem.status = status.as_u16();
    let (request, original) = response.into_parts();
    let body = serde_json::to_string(&problem).unwrap_or_default();
    let mut replaced = original.set_body(body).map_into_boxed_body();
    replaced
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, replaced).map_into_right_body(),
    ))
}

/// The JSON body extractor's errors as problems.
pub fn json_error(
    error: actix_web::error::JsonPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match error {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(limit)
        }
        E::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".to_owned(),
        ),
        E::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")),
        E::Payload(actix_web::error::PayloadError::Io(e))
            if e.kind() == std::io::ErrorKind::TimedOut =>
        {
            ApiError::RequestTimeout(format!("{e}; send it whole, promptly"))
        }
        E::Serialize(e) => ApiError::Internal(e.to_string()),
        other => ApiError::BadRequest(format!("the body could not be read: {other}")),
    };
    api.into()
}

/// The query-string extractor's errors as problems.
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query parameters: {error}")).into()
}

/// The path extractor's errors as problems.
pub fn path_error(error: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no such resource ({error})")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_is_gone_is_a_503_naming_the_database() {
        let api = ApiError::from(StoreError::Unavailable("connection closed".to_owned()));
        assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let problem = api.problem();
        assert_eq!(problem.problem_type, "urn:kap-journal:problem:unavailable");
        assert!(problem.detail.contains("database"), "{}", problem.detail);
        assert!(!problem.detail.contains("connection closed"));
    }

    #[test]
    fn store_errors_keep_their_meaning() {
        let cases = [
            (StoreError::NotFound("x".to_owned()), StatusCode::NOT_FOUND),
            (StoreError::Conflict("x".to_owned()), StatusCode::CONFLICT),
            (StoreError::Gone("x".to_owned()), StatusCode::GONE),
            (
                StoreError::NotAllowed("x".to_owned()),
                StatusCode::FORBIDDEN,
            ),
            (
                StoreError::NotSignedIn("x".to_owned()),
                StatusCode::UNAUTHORIZED,
            ),
            (
                StoreError::Unreadable("x".to_owned()),
                StatusCode::BAD_REQUEST,
            ),
            (
                StoreError::DeviceRewound("x".to_owned()),
                StatusCode::CONFLICT,
            ),
            (
                StoreError::Internal("x".to_owned()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (store, status) in cases {
            assert_eq!(ApiError::from(store).status_code(), status);
        }
        let internal = ApiError::from(StoreError::Internal("secret cause".to_owned())).problem();
        assert!(!internal.detail.contains("secret cause"));
    }
}
