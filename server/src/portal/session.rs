//! Signing in to the portal, and the session that follows.
//!
//! - Sign-in checks the email and password exactly as the API's sign-in
//!   does (`http::accounts::check_credentials`: the same accounts, argon2
//!   path, per-email lock and per-address limit). Only then is a patient
//!   told the portal is for therapists.
//! - The session is a random id in a cookie (HttpOnly, SameSite=Strict,
//!   Path=/; Secure and `__Host-` prefixed unless the server is set to plain
//!   HTTP for localhost); the database keeps only its hash
//!   (`store::portal`), so every instance knows it and a copy of the
//!   database signs no one in. Idle for 15 minutes, or 12 hours old, it has
//!   ended; sign-out ends it at once.
//! - Every state-changing form carries the session's CSRF token; the
//!   sign-in form, before there is a session, carries one matched against
//!   a cookie of its own.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_core::future::LocalBoxFuture;
use maud::html;
use serde::Deserialize;

use super::page::{self, Page};
use super::{PortalError, see_other};
use crate::auth::Role;
use crate::auth::tokens::{new_refresh_token, secret_hash};
use crate::http::ApiError;
use crate::http::accounts::check_credentials;
use crate::state::AppState;
use crate::store::portal::{self, PortalSession, SessionEnd};

/// The session cookie's name when it is Secure (over TLS).
pub const COOKIE: &str = "__Host-kap-portal";
/// Its name on plain HTTP (localhost), where `__Host-` is not allowed.
pub const PLAIN_COOKIE: &str = "kap-portal";
const SIGN_IN_COOKIE: &str = "__Host-kap-portal-sign-in";
const PLAIN_SIGN_IN_COOKIE: &str = "kap-portal-sign-in";

fn session_cookie_name(state: &AppState) -> &'static str {
    if state.portal_secure_cookie {
        COOKIE
    } else {
        PLAIN_COOKIE
    }
}

fn sign_in_cookie_name(state: &AppState) -> &'static str {
    if state.portal_secure_cookie {
        SIGN_IN_COOKIE
    } else {
        PLAIN_SIGN_IN_COOKIE
    }
}

fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.portal_secure_cookie)
        .finish()
}

fn removal(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut gone = cookie(state, name, String::new());
    gone.make_removal();
    gone
}

/// Compares two tokens in time that does not depend on where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A therapist signed in to the portal, with a live session.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The session.
    pub session: PortalSession,
    id_hash: String,
}

impl Signed {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_form(&self, token: &str) -> Result<(), PortalError> {
        if same_token(token, &self.session.csrf_token) {
            Ok(())
        } else {
            Err(PortalError::ForgedForm)
        }
    }

    /// The therapist's id, as the store takes it.
    pub fn therapist(&self) -> String {
        self.session.therapist.to_string()
    }

    /// The therapist as the page's header shows them.
    pub fn user(&self) -> page::User<'_> {
        page::User {
            name: self.name(),
            csrf: &self.session.csrf_token,
        }
    }

    /// How the therapist is named on the page.
    pub fn name(&self) -> &str {
        self.session
            .display_name
            .as_deref()
            .unwrap_or(&self.session.email)
    }
}

impl FromRequest for Signed {
    type Error = PortalError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = state.as_ref().and_then(|state| {
            req.cookie(session_cookie_name(state))
                .map(|c| c.value().to_owned())
        });
        Box::pin(async move {
            let state = state.ok_or_else(|| PortalError::Internal("no app state".to_owned()))?;
            let Some(id) = presented.filter(|id| !id.is_empty()) else {
                return Err(PortalError::NotSignedIn(None));
            };
            let id_hash = secret_hash(&id);
            let lookup = id_hash.clone();
            match state
                .db
                .run(move |conn| portal::touch(conn, &lookup))
                .await?
            {
                Ok(session) => Ok(Signed { session, id_hash }),
                Err(SessionEnd::Idle) => Err(PortalError::NotSignedIn(Some("idle"))),
                Err(SessionEnd::Expired) => Err(PortalError::NotSignedIn(Some("expired"))),
                Err(SessionEnd::Unknown) => Err(PortalError::NotSignedIn(None)),
            }
        })
    }
}

/// `?ended=` on the sign-in page: why the last session ended.
#[derive(Debug, Deserialize)]
pub struct Ended {
    ended: Option<String>,
}

/// The sign-in page (the signed-in go to their caseload).
pub async fn sign_in_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    ended: web::Query<Ended>,
) -> Result<HttpResponse, PortalError> {
    if Signed::extract(&req).await.is_ok() {
        return Ok(see_other("/portal"));
    }
    let notice = match ended.ended.as_deref() {
        Some("idle") => Some("You were signed out after 15 minutes without activity."),
        Some("expired") => Some("Your sign-in reached its 12-hour limit; sign in again."),
        Some("signed-out") => Some("You have signed out."),
        _ => None,
    };
    Ok(sign_in_page(
        &state,
        actix_web::http::StatusCode::OK,
        notice,
        None,
        "",
    ))
}

fn sign_in_page(
    state: &AppState,
    status: actix_web::http::StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
    email: &str,
) -> HttpResponse {
    let token = new_refresh_token();
    let body = html! {
        section.sign-in {
            h1 { "Sign in" }
            p.lead { "The portal of the KAP integration journal, for therapists." }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/portal/sign-in" {
                input type="hidden" name="csrf" value=(token);
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.small { "Patients: your journal lives in the app on your phone." }
        }
    };
    let mut response = page::render(
        status,
        &Page {
            title: "Sign in",
            user: None,
            active: None,
        },
        body,
    );
    let _ = response.add_cookie(&cookie(state, sign_in_cookie_name(state), token));
    response
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    csrf: String,
}

/// Signs a therapist in: a new session, its cookie, the caseload.
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PortalError> {
    let SignInForm {
        email,
        password,
        csrf,
    } = form.into_inner();
    let expected = req
        .cookie(sign_in_cookie_name(&state))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !same_token(&csrf, &expected) {
        return Err(PortalError::ForgedForm);
    }
    match crate::http::guard_attempt(&state, &req).await {
        Ok(()) => {}
        Err(ApiError::TooManyRequests(seconds)) => return Err(PortalError::TooMany(seconds)),
        Err(ApiError::Unavailable | ApiError::DatabaseUnavailable(_)) => {
            return Err(PortalError::Unavailable);
        }
        Err(other) => return Err(PortalError::Internal(other.to_string())),
    }
    let refused =
        |status, message: &str| Ok(sign_in_page(&state, status, None, Some(message), &email));
    let account = match check_credentials(&state, &email, password).await {
        Ok(account) => account,
        Err(ApiError::Unauthorized(_)) => {
            return refused(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "That email and password do not match a therapist's account.",
            );
        }
        Err(ApiError::TooManyRequests(seconds)) => return Err(PortalError::TooMany(seconds)),
        Err(ApiError::Unavailable | ApiError::DatabaseUnavailable(_)) => {
            return Err(PortalError::Unavailable);
        }
        Err(other) => return Err(PortalError::Internal(other.to_string())),
    };
    if account.role != Role::Therapist {
        return refused(
            actix_web::http::StatusCode::FORBIDDEN,
            "The portal is for therapists. Your journal lives in the app on your phone: \
             sign in there.",
        );
    }
    let id = new_refresh_token();
    let id_hash = secret_hash(&id);
    let csrf_token = new_refresh_token();
    let therapist = account.id;
    state
        .db
        .run(move |conn| portal::start(conn, therapist, &id_hash, &csrf_token))
        .await?;
    let mut response = see_other("/portal");
    let _ = response.add_cookie(&cookie(&state, session_cookie_name(&state), id));
    let _ = response.add_removal_cookie(&removal(&state, sign_in_cookie_name(&state)));
    Ok(response)
}

/// A form that only carries its CSRF token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    /// The session's CSRF token.
    pub csrf: String,
}

/// Ends the session at once.
pub async fn sign_out(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let id_hash = signed.id_hash.clone();
    state
        .db
        .run(move |conn| portal::end(conn, &id_hash))
        .await?;
    let mut response = see_other("/portal/sign-in?ended=signed-out");
    let _ = response.add_removal_cookie(&removal(&state, session_cookie_name(&state)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_match_only_when_equal_and_present() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", ""));
    }
}
