//! Accounts and sign-in: registration (patients), sign-in, refresh-token
//! rotation with reuse detection, sign-out, and the signed-in account.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::guard_attempt;
use super::problem::ApiError;
use crate::auth::passwords::MAX_PASSWORD_CHARS;
use crate::auth::tokens::{new_refresh_token, secret_hash};
use crate::auth::{AuthUser, Role, check_new_account, normalize_email};
use crate::state::AppState;
use crate::store::accounts::{self, Rotation};
use crate::store::time::now_micros;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/auth/register").route(web::post().to(register)))
        .service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(
            web::resource("/me")
                .route(web::get().to(me))
                .route(web::patch().to(update_me))
                // Erasure lives in `super::me`; one path is one resource.
                .route(web::delete().to(super::me::erase_account)),
        );
}

/// A new patient account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    /// Email address; case does not matter.
    pub email: String,
    /// 10–128 characters.
    pub password: String,
    /// The name therapists see (optional).
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A refresh token to rotate or revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: String,
}

/// Tokens after a sign-in, registration or refresh.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires (at most 900).
    pub expires_in: u64,
    /// Single use: exchange it at `/auth/refresh` for new tokens.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
    /// Who signed in.
    pub account: AccountSummary,
}

/// An account's id and role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    /// The account's id.
    pub id: Uuid,
    /// Its role.
    pub role: Role,
}

/// The signed-in account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account's id.
    pub id: Uuid,
    /// Email address (lower case).
    pub email: String,
    /// Role.
    pub role: Role,
    /// The name others see.
    pub display_name: Option<String>,
    /// When the account was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Registers a patient and signs them in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = Registration,
    responses(
        (status = 201, description = "Registered and signed in", body = TokenResponse),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "An account with this email exists", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "Invalid email, password or name", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Registration>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let Registration {
        email,
        password,
        display_name,
    } = body.into_inner();
    let email = normalize_email(&email);
    check_new_account(&email, &password, display_name.as_deref())?;
    let hash = state.passwords.hash(password).await?;
    let id = state
        .db
        .run(move |conn| {
            accounts::insert_account(conn, &email, &hash, Role::Patient, display_name.as_deref())
        })
        .await
        .map_err(ApiError::from)?;
    let tokens = start_session(&state, id, Role::Patient).await?;
    Ok(HttpResponse::Created().json(tokens))
}

/// Signs in with email and password. An unknown email and a wrong password
/// get the same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Unreadable body", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 429, description = "Too many failed attempts for this email or address", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let Credentials { email, password } = body.into_inner();
    let account = check_credentials(&state, &email, password).await?;
    Ok(HttpResponse::Ok().json(start_session(&state, account.id, account.role).await?))
}

/// Checks an email and password the one way every sign-in does (the API's
/// and the portal's): the email's lock first, then the password hash (the
/// same work whether or not the account exists), a failure counted towards
/// the lock, a success clearing it. The caller counts the attempt against
/// the client's address first ([`guard_attempt`]).
pub(crate) async fn check_credentials(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<crate::store::accounts::StoredAccount, ApiError> {
    // Refused before hashing: a megabyte-long password must not cost a hash.
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::Unauthorized("wrong email or password".to_owned()));
    }
    let email = normalize_email(email);
    let email_hash = secret_hash(&email);
    let lookup_hash = email_hash.clone();
    let (locked_until, account) = state
        .db
        .run(move |conn| accounts::sign_in_state(conn, &email, &lookup_hash))
        .await
        .map_err(ApiError::from)?;
    if let Some(until) = locked_until {
        let seconds = (until - now_micros()) / 1_000_000;
        return Err(ApiError::TooManyRequests(seconds.max(1).unsigned_abs()));
    }
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let matches = state.passwords.verify(password, stored).await?;
    let record_hash = email_hash.clone();
    if !matches {
        state
            .db
            .run(move |conn| accounts::record_failure(conn, &record_hash))
            .await
            .map_err(ApiError::from)?;
        state.metrics.sign_in_failures.inc();
        return Err(ApiError::Unauthorized("wrong email or password".to_owned()));
    }
    let account =
        account.ok_or_else(|| ApiError::Unauthorized("wrong email or password".to_owned()))?;
    state
        .db
        .run(move |conn| accounts::clear_failures(conn, &email_hash))
        .await
        .map_err(ApiError::from)?;
    Ok(account)
}

/// Starts a sign-in session (a new refresh-token family) and issues its
/// first tokens.
async fn start_session(state: &AppState, id: Uuid, role: Role) -> Result<TokenResponse, ApiError> {
    let refresh = new_refresh_token();
    let hash = secret_hash(&refresh);
    let lifetime = state.refresh_lifetime;
    let session = state
        .db
        .run(move |conn| accounts::start_session(conn, id, &hash, lifetime))
        .await
        .map_err(ApiError::from)?;
    token_response(state, AuthUser { id, role, session }, refresh)
}

fn token_response(
    state: &AppState,
    user: AuthUser,
    refresh: String,
) -> Result<TokenResponse, ApiError> {
    let access = state.tokens.issue(user)?;
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer".to_owned(),
        expires_in: access.expires_in,
        refresh_token: refresh,
        refresh_expires_in: state.refresh_lifetime.as_secs(),
        account: AccountSummary {
            id: user.id,
            role: user.role,
        },
    })
}

/// Exchanges a refresh token for new tokens. Each refresh token works once;
/// using one twice signs the whole session out.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "Unreadable body", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 429, description = "Too many attempts from this address", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let presented = secret_hash(body.refresh_token.trim());
    let next = new_refresh_token();
    let next_hash = secret_hash(&next);
    let lifetime = state.refresh_lifetime;
    let outcome = state
        .db
        .run(move |conn| accounts::rotate(conn, &presented, &next_hash, lifetime))
        .await
        .map_err(ApiError::from)?;
    match outcome {
        Rotation::Rotated(id, role, session) => Ok(HttpResponse::Ok().json(token_response(
            &state,
            AuthUser { id, role, session },
            next,
        )?)),
        Rotation::Refused(why) => Err(ApiError::Unauthorized(why.to_owned())),
    }
}

/// Signs out: revokes the refresh token's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also when the token was unknown)"),
        (status = 400, description = "Unreadable body", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson))]
async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = secret_hash(body.refresh_token.trim());
    state
        .db
        .run(move |conn| accounts::sign_out(conn, &presented))
        .await
        .map_err(ApiError::from)?;
    // The same answer whether or not the token existed: signing out twice is
    // harmless and reveals nothing.
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = Account),
        crate::http::problem::documented::NotSignedIn))]
async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let account = state
        .db
        .run(move |conn| accounts::find(conn, user.id))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".to_owned()))?;
    Ok(HttpResponse::Ok().json(Account {
        id: user.id,
        email: account.email,
        role: user.role,
        display_name: account.display_name,
        created_at: account.created_at,
    }))
}

/// A change to the signed-in account's profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileChange {
    /// The name others see (1–100 characters on one line); `null` removes
    /// it.
    pub display_name: Option<String>,
}

/// Changes the signed-in account's display name (the name therapists see).
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", request_body = ProfileChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account as it now is", body = Account),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "The name breaks a rule", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProfileChange>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().display_name;
    if let Some(name) = &name {
        crate::auth::check_display_name(name)?;
    }
    let account = state
        .db
        .run(move |conn| accounts::set_display_name(conn, user.id, name.as_deref()))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Account {
        id: user.id,
        email: account.email,
        role: user.role,
        display_name: account.display_name,
        created_at: account.created_at,
    }))
}

/// The accounts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(register, login, refresh, logout, me, update_me),
    components(schemas(
        Registration,
        ProfileChange,
        Credentials,
        RefreshRequest,
        TokenResponse,
        AccountSummary,
        Account,
        Role
    ))
)]
pub struct AccountsApi;
