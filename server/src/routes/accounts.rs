//! Accounts and sign-in: registration (patients), sign-in, refresh-token
//! rotation with reuse detection, sign-out, and the signed-in account.

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::ValidateEmail;

use super::{guard_attempt, now_micros};
use crate::auth::passwords::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::auth::tokens::{new_refresh_token, secret_hash};
use crate::auth::{AuthUser, Role};
use crate::db::DbConnection;
use crate::db::schema::{login_throttle, refresh_tokens, users};
use crate::error::ApiError;
use crate::state::AppState;
use journal_core::validation::{FieldViolation, InvalidInput};

/// Failed sign-ins for one email within [`THROTTLE_WINDOW_MICROS`] before it
/// is locked for as long.
const MAX_FAILURES: i32 = 5;
const THROTTLE_WINDOW_MICROS: i64 = 15 * 60 * 1_000_000;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_DISPLAY_NAME_CHARS: usize = 100;

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

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    role: String,
    display_name: Option<String>,
    created_at: i64,
}

/// Lower-cases and trims an email, so case variants are one account.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks an email, password and display name before anything is hashed.
pub fn check_new_account(
    email: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<(), InvalidInput> {
    let mut problems = Vec::new();
    let mut add = |field: &str, rule: &str, message: String| {
        problems.push(FieldViolation {
            field: field.to_owned(),
            rule: rule.to_owned(),
            message,
        })
    };
    if email.chars().count() > MAX_EMAIL_CHARS || !email.validate_email() {
        add("email", "email", "must be an email address".to_owned());
    }
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        add(
            "password",
            "length",
            format!("must be between {MIN_PASSWORD_CHARS} and {MAX_PASSWORD_CHARS} characters"),
        );
    } else if password.trim().is_empty() {
        add(
            "password",
            "not_blank",
            "must contain more than white space".to_owned(),
        );
    }
    if let Some(name) = display_name {
        let n = name.chars().count();
        if n == 0
            || n > MAX_DISPLAY_NAME_CHARS
            || name.trim().is_empty()
            || name.chars().any(char::is_control)
        {
            add(
                "displayName",
                "length",
                format!("must be 1–{MAX_DISPLAY_NAME_CHARS} characters on one line"),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InvalidInput {
            violations: problems,
        })
    }
}

/// Inserts an account (email already normalised and checked, password
/// hashed). A taken email answers 409.
pub fn insert_account(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
    role: Role,
    display_name: Option<&str>,
) -> Result<Uuid, ApiError> {
    let id = Uuid::now_v7();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::email.eq(email),
            users::password_hash.eq(password_hash),
            users::role.eq(role.as_str()),
            users::display_name.eq(display_name),
            users::created_at.eq(now_micros()),
        ))
        .execute(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict("an account with this email already exists".to_owned())
            }
            other => other,
        })?;
    Ok(id)
}

/// Registers a patient and signs them in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = Registration,
    responses(
        (status = 201, description = "Registered and signed in", body = TokenResponse),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "An account with this email exists", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 422, description = "Invalid email, password or name", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Registration>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req)?;
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
            insert_account(conn, &email, &hash, Role::Patient, display_name.as_deref())
        })
        .await?;
    let tokens = start_session(
        &state,
        AuthUser {
            id,
            role: Role::Patient,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(tokens))
}

enum ThrottleState {
    Open,
    Locked(i64),
}

/// Signs in with email and password. An unknown email and a wrong password
/// get the same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Unreadable body", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 429, description = "Too many failed attempts for this email or address", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req)?;
    let Credentials { email, password } = body.into_inner();
    // Refused before hashing: a megabyte-long password must not cost a hash.
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::Unauthorized("wrong email or password".to_owned()));
    }
    let email = normalize_email(&email);
    let email_hash = secret_hash(&email);
    let lookup_hash = email_hash.clone();
    let (throttle, user) = state
        .db
        .run(move |conn| -> Result<_, ApiError> {
            let now = now_micros();
            let locked: Option<Option<i64>> = login_throttle::table
                .find(&lookup_hash)
                .select(login_throttle::locked_until)
                .first(conn)
                .optional()?;
            let throttle = match locked.flatten() {
                Some(until) if until > now => ThrottleState::Locked(until),
                _ => ThrottleState::Open,
            };
            // No account's email holds a NUL (registration checks emails),
            // and PostgreSQL refuses one in a query: answered like any
            // unknown email, not looked up.
            let user: Option<UserRow> = if email.contains('\0') {
                None
            } else {
                users::table
                    .filter(users::email.eq(&email))
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?
            };
            Ok((throttle, user))
        })
        .await?;
    if let ThrottleState::Locked(until) = throttle {
        let seconds = (until - now_micros()) / 1_000_000;
        return Err(ApiError::TooManyRequests(seconds.max(1).unsigned_abs()));
    }
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state.passwords.verify(password, stored).await?;
    let record_hash = email_hash.clone();
    if !matches {
        state
            .db
            .run(move |conn| record_failure(conn, &record_hash))
            .await?;
        return Err(ApiError::Unauthorized("wrong email or password".to_owned()));
    }
    let user = user.ok_or_else(|| ApiError::Unauthorized("wrong email or password".to_owned()))?;
    state
        .db
        .run(move |conn| -> Result<_, ApiError> {
            diesel::delete(login_throttle::table.find(&email_hash)).execute(conn)?;
            Ok(())
        })
        .await?;
    let auth = AuthUser {
        id: parse_id(&user.id)?,
        role: Role::parse(&user.role)
            .ok_or_else(|| ApiError::Internal(format!("bad role {}", user.role)))?,
    };
    Ok(HttpResponse::Ok().json(start_session(&state, auth).await?))
}

/// Counts a wrong password for a (hashed) email: sign-in and erasure share
/// the lock it leads to.
pub(crate) fn record_failure(conn: &mut DbConnection, email_hash: &str) -> Result<(), ApiError> {
    conn.write_transaction(|conn| {
        let now = now_micros();
        let row: Option<(i32, i64)> = login_throttle::table
            .find(email_hash)
            .select((login_throttle::failures, login_throttle::window_start))
            .first(conn)
            .optional()?;
        let (failures, window_start) = match row {
            Some((failures, start)) if now - start < THROTTLE_WINDOW_MICROS => {
                (failures + 1, start)
            }
            _ => (1, now),
        };
        let locked_until = (failures >= MAX_FAILURES).then_some(now + THROTTLE_WINDOW_MICROS);
        let values = (
            login_throttle::failures.eq(failures),
            login_throttle::window_start.eq(window_start),
            login_throttle::locked_until.eq(locked_until),
        );
        let updated = diesel::update(login_throttle::table.find(email_hash))
            .set(values)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(login_throttle::table)
                .values((
                    login_throttle::email_hash.eq(email_hash),
                    values.0,
                    values.1,
                    values.2,
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Issues an access token and a new refresh-token family.
async fn start_session(state: &AppState, user: AuthUser) -> Result<TokenResponse, ApiError> {
    let refresh = new_refresh_token();
    let hash = secret_hash(&refresh);
    let lifetime = state.refresh_lifetime;
    state
        .db
        .run(move |conn| {
            insert_refresh(conn, user.id, &Uuid::now_v7().to_string(), &hash, lifetime)
        })
        .await?;
    token_response(state, user, refresh)
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

fn insert_refresh(
    conn: &mut DbConnection,
    user_id: Uuid,
    family: &str,
    hash: &str,
    lifetime: std::time::Duration,
) -> Result<(), ApiError> {
    let now = now_micros();
    let micros = i64::try_from(lifetime.as_micros()).unwrap_or(i64::MAX);
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7().to_string()),
            refresh_tokens::user_id.eq(user_id.to_string()),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(now.saturating_add(micros)),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct RefreshRow {
    id: String,
    user_id: String,
    family_id: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

enum Rotation {
    Rotated(AuthUser),
    Refused(&'static str),
}

/// Exchanges a refresh token for new tokens. Each refresh token works once;
/// using one twice signs the whole session out.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "Unreadable body", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 429, description = "Too many attempts from this address", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req)?;
    let presented = secret_hash(body.refresh_token.trim());
    let next = new_refresh_token();
    let next_hash = secret_hash(&next);
    let lifetime = state.refresh_lifetime;
    let outcome = state
        .db
        .run(move |conn| {
            conn.write_transaction(|conn| -> Result<Rotation, ApiError> {
                let now = now_micros();
                let row: Option<RefreshRow> = refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&presented))
                    .select(RefreshRow::as_select())
                    .first(conn)
                    .optional()?;
                let Some(RefreshRow {
                    id,
                    user_id,
                    family_id: family,
                    expires_at,
                    used_at,
                    revoked_at,
                }) = row
                else {
                    return Ok(Rotation::Refused("unknown refresh token"));
                };
                if revoked_at.is_some() {
                    return Ok(Rotation::Refused("this session was signed out"));
                }
                if expires_at <= now {
                    return Ok(Rotation::Refused("the refresh token has expired; sign in again"));
                }
                // Claim the token; a second use (a replay, or a thief) finds
                // it claimed and ends the whole family.
                let claimed = diesel::update(
                    refresh_tokens::table
                        .find(&id)
                        .filter(refresh_tokens::used_at.is_null()),
                )
                .set(refresh_tokens::used_at.eq(now))
                .execute(conn)?;
                if used_at.is_some() || claimed == 0 {
                    revoke_family(conn, &family, now)?;
                    tracing::warn!(%family, "refresh token reused: session family revoked");
                    return Ok(Rotation::Refused(
                        "this refresh token was already used; the session has been signed out everywhere",
                    ));
                }
                let role: String = users::table.find(&user_id).select(users::role).first(conn)?;
                let user = AuthUser {
                    id: parse_id(&user_id)?,
                    role: Role::parse(&role).ok_or_else(|| ApiError::Internal(format!("bad role {role}")))?,
                };
                insert_refresh(conn, user.id, &family, &next_hash, lifetime)?;
                Ok(Rotation::Rotated(user))
            })
        })
        .await?;
    match outcome {
        Rotation::Rotated(user) => Ok(HttpResponse::Ok().json(token_response(&state, user, next)?)),
        Rotation::Refused(why) => Err(ApiError::Unauthorized(why.to_owned())),
    }
}

fn revoke_family(conn: &mut DbConnection, family: &str, now: i64) -> Result<(), ApiError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Signs out: revokes the refresh token's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also when the token was unknown)"),
        (status = 400, description = "Unreadable body", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson))]
async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = secret_hash(body.refresh_token.trim());
    state
        .db
        .run(move |conn| -> Result<(), ApiError> {
            let family: Option<String> = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&presented))
                .select(refresh_tokens::family_id)
                .first(conn)
                .optional()?;
            if let Some(family) = family {
                revoke_family(conn, &family, now_micros())?;
            }
            Ok(())
        })
        .await?;
    // The same answer whether or not the token existed: signing out twice is
    // harmless and reveals nothing.
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = Account),
        crate::error::documented::NotSignedIn))]
async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let row = state
        .db
        .run(move |conn| -> Result<Option<UserRow>, ApiError> {
            Ok(users::table
                .find(user.id.to_string())
                .select(UserRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".to_owned()))?;
    Ok(HttpResponse::Ok().json(Account {
        id: user.id,
        email: row.email,
        role: user.role,
        display_name: row.display_name,
        created_at: chrono::DateTime::from_timestamp_micros(row.created_at).unwrap_or_default(),
    }))
}

/// Parses a stored id.
pub(crate) fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::Internal(format!("stored id {text:?} is not a UUID")))
}

/// The accounts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(register, login, refresh, logout, me),
    components(schemas(
        Registration,
        Credentials,
        RefreshRequest,
        TokenResponse,
        AccountSummary,
        Account,
        Role
    ))
)]
pub struct AccountsApi;
