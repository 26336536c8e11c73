//! Therapists' comments on what a patient shared, and the patient's view of
//! them.
//!
//! - A therapist comments only on a record shared with them right now
//!   (`crate::store::access`, checked in the write transaction); anything
//!   else — unknown, another patient's, unshared, deleted, a share itself —
//!   is answered 404, all alike.
//! - A comment is a change in the *patient's* history: every write (new,
//!   edit, delete) first bumps the patient's version counter and stamps the
//!   row with it, so sync's pull passes it on in order like a record.
//! - A deleted comment keeps its row (`deleted`, text erased) so the
//!   deletion reaches the patient's devices.
//! - Only the author edits or deletes a comment; another therapist's is
//!   answered 404. Editing needs the record to be still shared with the
//!   author (a comment is part of a conversation about shared content);
//!   deleting does not: a therapist whose access ended can always take
//!   back what they wrote.
//! - A therapist sees their own comments only: another therapist's comments
//!   are that therapist's conversation with the patient, which the patient
//!   did not share.
//! - A patient replies to a therapist's comment on their record
//!   (`POST /records/{id}/comments` with `replyTo`), while the record is
//!   shared with that therapist (409 otherwise: the reply would reach no
//!   one). The therapist sees replies beside their own comments. Only the
//!   patient edits or deletes their replies (`/comments/{commentId}`).
//!   A reply may carry the id the phone chose, so a resent reply is the
//!   same reply, never a second one.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use journal_core::comments::{Comment, check_comment_text};
use journal_core::ids::RecordId;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Patient, Therapist};
use super::problem::ApiError;
use crate::state::AppState;
use crate::store::comments::{self, NO_COMMENT, NewReply};
use crate::store::records::NOT_FOUND;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(
        web::resource("/therapist/patients/{patientId}/records/{recordId}/comments")
            .route(web::post().to(create_comment))
            .route(web::get().to(list_own_comments)),
    )
    .service(
        web::resource("/therapist/comments/{commentId}")
            .route(web::put().to(edit_comment))
            .route(web::delete().to(delete_comment)),
    )
    .service(
        web::resource("/records/{id}/comments")
            .route(web::get().to(list_comments))
            .route(web::post().to(create_reply)),
    )
    .service(
        web::resource("/comments/{commentId}")
            .route(web::put().to(edit_reply))
            .route(web::delete().to(delete_reply)),
    );
}

/// A patient's reply to a therapist's comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyText {
    /// The reply's id, chosen by the device that wrote it (a UUID), so
    /// sending it again is the same reply; the server chooses one when
    /// absent.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// The therapist's comment on this record it answers.
    pub reply_to: Uuid,
    /// 1–2,000 characters, not blank; line breaks allowed.
    pub text: String,
}

/// A comment's text, new or edited.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentText {
    /// 1–2,000 characters, not blank; line breaks allowed.
    pub text: String,
}

fn record_not_found() -> ApiError {
    ApiError::NotFound(NOT_FOUND.to_owned())
}

fn comment_not_found() -> ApiError {
    ApiError::NotFound(NO_COMMENT.to_owned())
}

/// A comment's id from its path; anything that is not a UUID names none.
fn comment_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| comment_not_found())
}

/// The patient and record of a therapist's path; anything that is not a
/// UUID names nothing.
fn parse_target(patient: &str, record: &str) -> Result<(String, RecordId), ApiError> {
    let patient = Uuid::parse_str(patient).map_err(|_| record_not_found())?;
    let record = record.parse().map_err(|_| record_not_found())?;
    Ok((patient.to_string(), record))
}

/// Comments on one record of a patient's to this therapist.
#[utoipa::path(post, path = "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments",
    tag = "comments",
    params(
        ("patientId" = Uuid, Path, description = "The patient's account id"),
        ("recordId" = RecordId, Path, description = "The shared record's id"),
    ),
    request_body(content = CommentText, description = "The comment"),
    responses(
        (status = 201, description = "Written; it reaches the patient's devices with their next pull",
            body = Comment,
            headers(("Location" = String, description = "The comment's address, to edit or delete it"))),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such record shared with you (unknown, another patient's, not shared, or no longer)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "Empty, blank, longer than 2,000 characters, or with control characters",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_comment(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<(String, String)>,
    body: web::Json<CommentText>,
) -> Result<HttpResponse, ApiError> {
    let (patient, record) = parse_target(&path.0, &path.1)?;
    let text = body.into_inner().text;
    check_comment_text(&text)?;
    let me = therapist.id();
    let comment: Comment = state
        .db
        .run(move |conn| comments::create(conn, &me, &patient, record, text))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/therapist/comments/{}", comment.id),
        ))
        .json(comment))
}

/// The signed-in therapist's comments on one shared record, oldest first
/// (deleted ones left out). Only while the record is shared with them.
#[utoipa::path(get, path = "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments",
    tag = "comments",
    params(
        ("patientId" = Uuid, Path, description = "The patient's account id"),
        ("recordId" = RecordId, Path, description = "The shared record's id"),
    ),
    responses(
        (status = 200, description = "Your comments on the record, oldest first", body = Vec<Comment>),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such record shared with you", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_own_comments(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (patient, record) = parse_target(&path.0, &path.1)?;
    let me = therapist.id();
    let listed = state
        .db
        .run(move |conn| comments::own_on_record(conn, &me, &patient, record))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(listed))
}

/// Edits one of the signed-in therapist's comments, while the record is
/// still shared with them. The edit reaches the patient's devices with
/// their next pull. Sending the text it already has changes nothing.
#[utoipa::path(put, path = "/api/v1/therapist/comments/{commentId}", tag = "comments",
    params(("commentId" = Uuid, Path, description = "The comment's id")),
    request_body(content = CommentText, description = "The new text"),
    responses(
        (status = 200, description = "The comment as it now is", body = Comment),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such comment of yours, or its record is no longer shared with you",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "Empty, blank, longer than 2,000 characters, or with control characters",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn edit_comment(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
    body: web::Json<CommentText>,
) -> Result<HttpResponse, ApiError> {
    let id = comment_id(&path)?;
    let text = body.into_inner().text;
    check_comment_text(&text)?;
    let me = therapist.id();
    let comment = state
        .db
        .run(move |conn| comments::edit(conn, &me, id, text))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(comment))
}

/// Deletes one of the signed-in therapist's comments: its text is erased
/// and the deletion reaches the patient's devices with their next pull.
/// Allowed even after the record stopped being shared with them, or the
/// care link ended: one can always take back what one wrote.
#[utoipa::path(delete, path = "/api/v1/therapist/comments/{commentId}", tag = "comments",
    params(("commentId" = Uuid, Path, description = "The comment's id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such comment of yours (or already deleted)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_comment(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = comment_id(&path)?;
    let me = therapist.id();
    state
        .db
        .run(move |conn| comments::delete(conn, &me, id))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The comments on one of the signed-in patient's records, oldest first
/// (deleted ones left out): every therapist's, and the patient's replies.
#[utoipa::path(get, path = "/api/v1/records/{id}/comments", tag = "comments",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The comments on the record, oldest first", body = Vec<Comment>),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_comments(
    state: web::Data<AppState>,
    patient: Patient,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: RecordId = id.parse().map_err(|_| record_not_found())?;
    let owner = patient.owner();
    let listed = state
        .db
        .run(move |conn| comments::on_own_record(conn, &owner, id))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(listed))
}

/// Replies to a therapist's comment on one of the signed-in patient's
/// records. The reply reaches the therapist at once (beside their comment,
/// in the API and on the portal) and the patient's other devices with
/// their next pull. Sending a reply again with the same `id` is answered
/// with the reply as it stands (its text updated if it changed), never a
/// second reply.
#[utoipa::path(post, path = "/api/v1/records/{id}/comments", tag = "comments",
    params(("id" = RecordId, Path, description = "The record's id")),
    request_body(content = ReplyText, description = "The reply"),
    responses(
        (status = 201, description = "Written", body = Comment,
            headers(("Location" = String, description = "The reply's address, to edit or delete it"))),
        (status = 200, description = "This reply was written before (the same id): as it now stands", body = Comment),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such therapist's comment on this record of yours (or it was deleted)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The record is no longer shared with the therapist, or the id is taken by another comment",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "This reply (the same id) was deleted", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "Empty, blank, longer than 2,000 characters, or with control characters",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_reply(
    state: web::Data<AppState>,
    patient: Patient,
    path: web::Path<String>,
    body: web::Json<ReplyText>,
) -> Result<HttpResponse, ApiError> {
    let record: RecordId = path.parse().map_err(|_| record_not_found())?;
    let body = body.into_inner();
    check_comment_text(&body.text)?;
    let owner = patient.owner();
    let new = NewReply {
        id: body.id,
        record,
        reply_to: body.reply_to,
        text: body.text,
    };
    let (reply, created) = state
        .db
        .run(move |conn| comments::reply(conn, &owner, new))
        .await
        .map_err(ApiError::from)?;
    let mut answer = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(answer
        .insert_header((header::LOCATION, format!("/api/v1/comments/{}", reply.id)))
        .json(reply))
}

/// Edits one of the signed-in patient's replies, while the record is still
/// shared with the therapist. Sending the text it already has changes
/// nothing.
#[utoipa::path(put, path = "/api/v1/comments/{commentId}", tag = "comments",
    params(("commentId" = Uuid, Path, description = "The reply's id")),
    request_body(content = CommentText, description = "The new text"),
    responses(
        (status = 200, description = "The reply as it now is", body = Comment),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such reply of yours (a therapist's comment is theirs to edit)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The record is no longer shared with the therapist",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "Empty, blank, longer than 2,000 characters, or with control characters",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn edit_reply(
    state: web::Data<AppState>,
    patient: Patient,
    path: web::Path<String>,
    body: web::Json<CommentText>,
) -> Result<HttpResponse, ApiError> {
    let id = comment_id(&path)?;
    let text = body.into_inner().text;
    check_comment_text(&text)?;
    let owner = patient.owner();
    let reply = state
        .db
        .run(move |conn| comments::edit_reply(conn, &owner, id, text))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(reply))
}

/// Deletes one of the signed-in patient's replies: its text is erased, on
/// the therapist's side at once and on the patient's other devices with
/// their next pull. Deleting it again is answered alike.
#[utoipa::path(delete, path = "/api/v1/comments/{commentId}", tag = "comments",
    params(("commentId" = Uuid, Path, description = "The reply's id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such reply of yours", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_reply(
    state: web::Data<AppState>,
    patient: Patient,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = comment_id(&path)?;
    let owner = patient.owner();
    state
        .db
        .run(move |conn| comments::delete_reply(conn, &owner, id))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The comments' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_comment,
        list_own_comments,
        edit_comment,
        delete_comment,
        list_comments,
        create_reply,
        edit_reply,
        delete_reply
    ),
    components(schemas(
        CommentText,
        ReplyText,
        journal_core::comments::Comment,
        journal_core::ids::RecordId,
        crate::http::problem::Problem
    )),
    tags((name = "comments", description = "Therapists' comments on shared records, the patient's view of them and their replies"))
)]
pub struct CommentsApi;
