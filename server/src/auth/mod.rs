//! Who is asking: access tokens (JWT), refresh tokens, password hashing,
//! throttling, and the [`AuthUser`] extractor every protected handler takes.
//!
//! Tokens say who the user is and their role, nothing more: whether a
//! therapist may read a record is decided from the database on every
//! request, so revoking a share or a link takes effect at once.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::schema::users;
use crate::error::ApiError;
use crate::state::AppState;

pub mod passwords;
pub mod throttle;
pub mod tokens;

/// What an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Writes the journal; registers themself.
    Patient,
    /// Reviews what linked patients share; created by an operator.
    Therapist,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Therapist => "therapist",
        }
    }

    /// Reads the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "patient" => Some(Role::Patient),
            "therapist" => Some(Role::Therapist),
            _ => None,
        }
    }
}

/// The signed-in user of a request, from a valid `Authorization: Bearer`
/// access token. Extracting it fails with 401 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// The user's id.
    pub id: Uuid,
    /// Their role.
    pub role: Role,
}

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
    if req.extensions().contains::<AccountGone>() {
        return Err(ApiError::Unauthorized(
            "the account no longer exists; sign in again".to_owned(),
        ));
    }
    Ok(user)
}

/// Marks a request whose access token is valid but whose account no longer
/// exists (erased) or no longer has the token's role.
#[derive(Debug, Clone, Copy)]
struct AccountGone;

/// Middleware of the API's scope: a request with a valid access token has
/// its account looked up, so that a token which outlives its account (an
/// erased patient's, valid until it expires) is refused with 401 by every
/// route that asks for a signed-in user — instead of reading an empty
/// account, or failing on a missing one. Routes that need no sign-in are
/// unaffected. One primary-key lookup per signed-in request; tokens alone
/// cannot say it, since they stay valid until they expire and instances
/// share nothing but the database.
///
/// Routes that check the account themselves are left alone: each looks the
/// account up in the database call that serves it and answers the same
/// 401 — the same check without a second trip to the database, for what
/// devices call most (the incremental pull).
pub async fn refuse_gone_accounts(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // (method, full path): `routes::sync::pull` refuses a gone account.
    const CHECK_THEIR_OWN_ACCOUNT: [(actix_web::http::Method, &str); 1] =
        [(actix_web::http::Method::GET, "/api/v1/sync/pull")];
    let checks_itself = CHECK_THEIR_OWN_ACCOUNT
        .iter()
        .any(|(method, path)| req.method() == *method && req.path() == *path);
    if !checks_itself
        && let Ok(user) = authenticate(req.request())
        && let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
    {
        let id = user.id.to_string();
        let role: Option<String> = state
            .db
            .run(move |conn| -> Result<Option<String>, ApiError> {
                Ok(users::table
                    .find(id)
                    .select(users::role)
                    .get_result(conn)
                    .optional()?)
            })
            .await?;
        if role.as_deref() != Some(user.role.as_str()) {
            req.extensions_mut().insert(AccountGone);
        }
    }
    next.call(req).await
}
