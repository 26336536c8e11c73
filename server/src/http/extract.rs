//! What handlers take from a request: the signed-in user ([`AuthUser`],
//! from the access token), [`Patient`] and [`Therapist`] (the user in one
//! role, refused as such before anything else of the request is read), and
//! the middleware that refuses tokens whose account is gone.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::problem::ApiError;
use crate::auth::{AuthUser, Role};
use crate::state::AppState;
use crate::store;
use crate::store::accounts::SESSION_ENDED;

impl AuthUser {
    /// Fails with 403 unless the user is a patient.
    pub fn require_patient(self) -> Result<Self, ApiError> {
        match self.role {
            Role::Patient => Ok(self),
            Role::Therapist => Err(ApiError::Forbidden("this is for patients".to_owned())),
        }
    }

    /// Fails with 403 unless the user is a therapist.
    pub fn require_therapist(self) -> Result<Self, ApiError> {
        match self.role {
            Role::Therapist => Ok(self),
            Role::Patient => Err(ApiError::Forbidden("this is for therapists".to_owned())),
        }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".to_owned()))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized("sign in first: no Authorization header".to_owned())
        })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".to_owned()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("expected Authorization: Bearer <token>".to_owned())
        })?;
    let user = state.tokens.verify(token)?;
    if req.extensions().contains::<SessionEnded>() {
        return Err(ApiError::Unauthorized(SESSION_ENDED.to_owned()));
    }
    Ok(user)
}

/// Marks a request whose access token is valid but whose session ended
/// (signed out, its refresh token reused, the account erased) or whose
/// account no longer has the token's role.
#[derive(Debug, Clone, Copy)]
struct SessionEnded;

/// Middleware of the API's scope: a request with a valid access token has
/// its account and its session looked up, so that a token which outlives
/// them — after sign-out, after a spent refresh token was reused, after
/// erasure; valid until it expires otherwise — is refused with 401 by
/// every route that asks for a signed-in user. Routes that need no sign-in
/// are unaffected. One primary-key lookup and one indexed probe per
/// signed-in request; tokens alone cannot say it, since they stay valid
/// until they expire and instances share nothing but the database.
///
/// Routes that check the account themselves are left alone: each looks the
/// account up in the database call that serves it and answers the same
/// 401 — the same check without a second trip to the database, for what
/// devices call most (the incremental pull).
pub async fn refuse_ended_sessions(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // (method, full path): `http::sync::pull` refuses an ended session.
    const CHECK_THEIR_OWN_ACCOUNT: [(actix_web::http::Method, &str); 1] =
        [(actix_web::http::Method::GET, "/api/v1/sync/pull")];
    let checks_itself = CHECK_THEIR_OWN_ACCOUNT
        .iter()
        .any(|(method, path)| req.method() == *method && req.path() == *path);
    if !checks_itself
        && let Ok(user) = authenticate(req.request())
        && let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
    {
        let role: Option<String> = state
            .db
            .run(move |conn| -> Result<Option<String>, ApiError> {
                Ok(store::accounts::session_role(conn, user.id, user.session)?)
            })
            .await?;
        if role.as_deref() != Some(user.role.as_str()) {
            req.extensions_mut().insert(SessionEnded);
        }
    }
    next.call(req).await
}

/// The signed-in patient of a request: 401 without valid credentials, 403
/// for a therapist. Taken before the body, so a therapist is refused as
/// such whatever they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patient(pub AuthUser);

impl Patient {
    /// The owner id as the tables store it.
    pub fn owner(&self) -> String {
        self.0.id.to_string()
    }
}

impl FromRequest for Patient {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload).into_inner();
        ready(user.and_then(AuthUser::require_patient).map(Patient))
    }
}

/// The signed-in therapist of a request: 401 without valid credentials, 403
/// for a patient. Taken before anything else of the request, so a patient
/// is refused as such whatever they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Therapist(pub AuthUser);

impl Therapist {
    /// The therapist's id as the tables store it.
    pub fn id(&self) -> String {
        self.0.id.to_string()
    }
}

impl FromRequest for Therapist {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload).into_inner();
        ready(user.and_then(AuthUser::require_therapist).map(Therapist))
    }
}
