//! Passwords: changing one's own (with the current one), and resetting a
//! forgotten one by a single-use code sent by email.
//!
//! - A change ends every other session of the account; the one that asked
//!   stays signed in.
//! - Asking for a reset code answers 202 the same way whether or not an
//!   account has the email; the email is sent off the request, so the time
//!   taken tells nothing either. Codes are throttled per email (3 an hour)
//!   and per address, work once, for 30 minutes, and stop after 5 wrong
//!   tries. A reset ends every session of the account and lifts the
//!   sign-in lock.
//! - Without SMTP settings, asking for a code answers 503: the server has
//!   no way to send one.

use actix_web::{HttpRequest, HttpResponse, web};
use journal_core::InvalidInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::guard_attempt;
use super::me::confirm_password;
use super::problem::ApiError;
use crate::auth::codes::{new_invitation_code, normalize_code};
use crate::auth::tokens::secret_hash;
use crate::auth::{AuthUser, check_new_password, normalize_email};
use crate::state::AppState;
use crate::store::accounts;
use crate::store::password_resets::{self, CODE_LIFETIME, Requested};
use crate::store::time::now_micros;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me/password").route(web::post().to(change_password)))
        .service(web::resource("/auth/password-reset").route(web::post().to(request_reset)))
        .service(
            web::resource("/auth/password-reset/confirm").route(web::post().to(confirm_reset)),
        );
}

/// The current password and the new one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChange {
    /// The password in use now.
    pub current_password: String,
    /// 10–128 characters.
    pub new_password: String,
}

/// Who forgot their password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's email address.
    pub email: String,
}

/// A reset code and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetConfirmation {
    /// The account's email address.
    pub email: String,
    /// The code from the email (case, spaces and the dash do not matter).
    pub code: String,
    /// 10–128 characters.
    pub new_password: String,
}

/// What asking for a code answers, whether or not the email has an account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetRequested {
    /// What happens next, in a sentence.
    pub detail: String,
}

/// Changes the signed-in account's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions are signed out"),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or the current password is wrong (type `wrong-password`)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "The new password breaks a rule", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address, or too many wrong passwords",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let PasswordChange {
        current_password,
        new_password,
    } = body.into_inner();
    check_new_password("newPassword", &new_password)?;
    confirm_password(&state, &user.id.to_string(), current_password).await?;
    let hash = state.passwords.hash(new_password).await?;
    state
        .db
        .run(move |conn| accounts::set_password(conn, user.id, &hash, Some(user.session)))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sends a single-use code to reset a forgotten password, if an account
/// has this email. The answer is the same either way.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "accounts", request_body = ResetRequest,
    responses(
        (status = 202, description = "If an account has this email, a code is on its way", body = ResetRequested),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 429, description = "Too many codes asked for this email, or too many attempts from this address",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server cannot send email (no SMTP settings)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let Some(mail) = state.mail.clone() else {
        return Err(ApiError::NotConfigured(
            "this server cannot send email, so passwords cannot be reset here; ask the clinic"
                .to_owned(),
        ));
    };
    let email = normalize_email(&body.into_inner().email);
    let email_hash = secret_hash(&email);
    let code = new_invitation_code();
    let code_hash = secret_hash(&normalize_code(&code).unwrap_or_default());
    let address = email.clone();
    let outcome = state
        .db
        .run(move |conn| {
            password_resets::request(conn, &address, &email_hash, &code_hash, now_micros())
        })
        .await
        .map_err(ApiError::from)?;
    match outcome {
        Requested::Throttled(seconds) => return Err(ApiError::TooManyRequests(seconds)),
        Requested::NoAccount => {}
        Requested::Send { user_id } => {
            // Off the request: the answer takes as long with or without an
            // account, and a slow SMTP server holds nothing up.
            let minutes = CODE_LIFETIME.num_minutes();
            actix_web::rt::task::spawn_blocking(move || {
                match mail
                    .reset_message(&email, &code, minutes)
                    .and_then(|message| mail.send(&message))
                {
                    Ok(()) => tracing::info!(account = %user_id, "password reset code sent"),
                    Err(error) => {
                        tracing::warn!(account = %user_id, %error, "password reset code not sent")
                    }
                }
            });
        }
    }
    Ok(HttpResponse::Accepted().json(ResetRequested {
        detail: "If an account has this email, a code to reset its password is on its way. \
                 It works once, for 30 minutes."
            .to_owned(),
    }))
}

fn invalid_code() -> ApiError {
    ApiError::Validation(InvalidInput::single(
        "code",
        "invalid",
        "the code is wrong, used or expired: ask for a new one",
    ))
}

/// Sets a new password with a code from a reset email; every session of
/// the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "accounts",
    request_body = ResetConfirmation,
    responses(
        (status = 204, description = "The password is reset; sign in with it"),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "The code is wrong, used or expired (field `code`), or the new password breaks a rule",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResetConfirmation>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let ResetConfirmation {
        email,
        code,
        new_password,
    } = body.into_inner();
    check_new_password("newPassword", &new_password)?;
    // Refused before a password is hashed for something that cannot be a
    // code; counted as a wrong try like any other wrong code, though.
    let code_hash = secret_hash(&normalize_code(&code).unwrap_or_default());
    let email_hash = secret_hash(&normalize_email(&email));
    let hash = state.passwords.hash(new_password).await?;
    let reset = state
        .db
        .run(move |conn| {
            password_resets::confirm(conn, &email_hash, &code_hash, &hash, now_micros())
        })
        .await
        .map_err(ApiError::from)?;
    match reset {
        Some(account) => {
            tracing::info!(%account, "password reset with an emailed code");
            Ok(HttpResponse::NoContent().finish())
        }
        None => Err(invalid_code()),
    }
}

/// The passwords' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(change_password, request_reset, confirm_reset),
    components(schemas(PasswordChange, ResetRequest, ResetConfirmation, ResetRequested))
)]
pub struct PasswordsApi;
