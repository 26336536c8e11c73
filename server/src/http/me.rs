//! What a patient can do with their account as a whole: take everything
//! they wrote with them (the export), and erase the account.
//!
//! - The export is journal-core's [`ExportDocument`], the one documented
//!   shape a phone can import: every live record of every kind (shares
//!   included), every revision, and the therapists' comments on their live
//!   records. It is read in one snapshot.
//! - Erasure asks for the password again (a stolen access token alone must
//!   not be enough), counts a wrong one like a failed sign-in, and removes
//!   in one transaction everything kept about the patient: records and
//!   revisions, comments on their records, alerts, sign-in sessions, care
//!   links and the invitations they used, sync devices and their outcomes,
//!   the version counter, the sign-in throttle of their email, and the
//!   account. Only the audit log stays: it holds ids and kinds, never
//!   content, and records what therapists read while they could.
//! - Therapists are not erased here (403): an operator removes them, since
//!   their comments and alerts concern their patients.

use actix_web::http::header::{
    self, CacheControl, CacheDirective, ContentDisposition, DispositionParam, DispositionType,
};
use actix_web::{HttpRequest, HttpResponse, web};
use journal_core::export::ExportDocument;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::Patient;
use super::guard_attempt;
use super::problem::ApiError;
use crate::auth::passwords::MAX_PASSWORD_CHARS;
use crate::auth::tokens::secret_hash;
use crate::state::AppState;
use crate::store::time::now_micros;
use crate::store::{accounts, export};

/// Registers the routes. (`DELETE /me` sits on the accounts' `/me`
/// resource, beside `GET /me`: one path is one resource.)
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/me/export").route(web::get().to(export)));
}

/// The password, asked again before the account is erased.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reauthentication {
    /// The account's password.
    pub password: String,
}

fn account_gone() -> ApiError {
    ApiError::Unauthorized("the account no longer exists".to_owned())
}

pub(crate) fn wrong_password() -> ApiError {
    ApiError::WrongPassword("wrong password".to_owned())
}

/// Checks the signed-in account's password before a change that needs it
/// (erasure, a new password) the way sign-in does: the email's lock first,
/// then the hash; a wrong password counts towards the lock (429 once
/// locked) and answers 401 `wrong-password`. Returns the account's email.
/// The caller counts the attempt against the client's address first.
pub(crate) async fn confirm_password(
    state: &AppState,
    owner: &str,
    password: String,
) -> Result<String, ApiError> {
    let lookup = owner.to_owned();
    let (email, stored, locked_until) = state
        .db
        .run(move |conn| export::reauthentication(conn, &lookup))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(account_gone)?;
    let now = now_micros();
    if let Some(until) = locked_until.filter(|&until| until > now) {
        let seconds = (until - now) / 1_000_000;
        return Err(ApiError::TooManyRequests(seconds.max(1).unsigned_abs()));
    }
    // Refused before hashing: a megabyte-long password must not cost a hash.
    let matches = password.chars().count() <= MAX_PASSWORD_CHARS
        && state.passwords.verify(password, Some(stored)).await?;
    if !matches {
        let email_hash = secret_hash(&email);
        state
            .db
            .run(move |conn| accounts::record_failure(conn, &email_hash))
            .await
            .map_err(ApiError::from)?;
        return Err(wrong_password());
    }
    Ok(email)
}

/// Everything the signed-in patient wrote, as one JSON document to keep,
/// read, or import into an empty journal on a phone
/// (`format` `kap-journal-export`, `version` 1): the account, every live
/// record of every kind (shares included; deleted records are left out,
/// they keep no content), every revision kept from conflicts and deletes,
/// and the therapists' comments on the live records (deleted comments left
/// out). Sent as an attachment.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts",
    responses(
        (status = 200, description = "The export document", body = ExportDocument,
            headers(("Content-Disposition" = String,
                description = "attachment; filename=\"kap-journal-export-<date>.json\""))),
        (status = 401, description = "Not signed in, or the account no longer exists",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotAPatient,
    ),
    security(("bearer" = [])))]
pub async fn export(
    state: web::Data<AppState>,
    patient: Patient,
) -> Result<HttpResponse, ApiError> {
    let owner = patient.owner();
    let document = state
        .db
        .run(move |conn| export::export(conn, &owner))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(account_gone)?;
    // Sent even when a record breaks today's rules (written under older
    // ones): the patient's words are theirs to take either way.
    if let Err(invalid) = document.check() {
        tracing::warn!(account = %document.account.id, %invalid, "export does not pass its own check");
    }
    let file_name = format!(
        "kap-journal-export-{}.json",
        document.exported_at.format("%Y-%m-%d")
    );
    Ok(HttpResponse::Ok()
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(file_name)],
        })
        // Mental-health data: no cache along the way keeps a copy.
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .json(document))
}

/// Erases the signed-in patient's account and everything kept about them,
/// for good, after asking for the password again.
///
/// Removed in one transaction: every record (shares included) and revision,
/// the therapists' comments on them, alerts, sign-in sessions, care links
/// and the invitations used to make them, sync devices, the sign-in
/// throttle of the email, and the account; the email can register again.
/// Only the audit log of therapist reads stays (ids and kinds, no content).
/// Access tokens issued before are refused from then on (401). Export
/// first (`GET /me/export`) to keep a copy.
///
/// A wrong password counts as a failed sign-in for the email (five lock it
/// for 15 minutes, 429) and changes nothing else.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts",
    request_body(content = Reauthentication, description = "The account's password"),
    responses(
        (status = 204, description = "Erased"),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, the account no longer exists, or a wrong password",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a patient: therapists are removed by an operator",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 429, description = "Too many attempts from this address, or too many wrong passwords for this account",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn erase_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    patient: Patient,
    body: web::Json<Reauthentication>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let password = body.into_inner().password;
    let owner = patient.owner();
    let email = confirm_password(&state, &owner, password).await?;
    let email_hash = secret_hash(&email);
    let erased = owner.clone();
    state
        .db
        .run(move |conn| export::erase(conn, &erased, &email_hash))
        .await
        .map_err(ApiError::from)?;
    tracing::info!(account = %owner, "patient account erased");
    Ok(HttpResponse::NoContent().finish())
}

/// The account routes of this module in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(export, erase_account),
    components(schemas(
        Reauthentication,
        journal_core::export::ExportDocument,
        journal_core::export::ExportedAccount,
        journal_core::sync::RecordState,
        journal_core::sync::Revision,
        journal_core::sync::RevisionReason,
        journal_core::comments::Comment,
        crate::http::problem::Problem
    ))
)]
pub struct MeApi;
