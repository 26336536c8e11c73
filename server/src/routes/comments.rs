//! Therapists' comments on what a patient shared, and the patient's view of
//! them.
//!
//! - A therapist comments only on a record shared with them right now
//!   ([`access::grants`], checked in the write transaction); anything else
//!   — unknown, another patient's, unshared, deleted, a share itself — is
//!   answered 404, all alike.
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

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal_core::comments::{Comment, check_comment_text};
use journal_core::ids::RecordId;
use journal_core::records::RecordKind;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::now_micros;
use super::records::{NOT_FOUND, Patient, bump_version};
use super::therapist::Therapist;
use crate::access;
use crate::db::DbConnection;
use crate::db::schema::{comments, records, users};
use crate::error::ApiError;
use crate::state::AppState;

/// The one answer for a comment that is not the caller's to change (unknown,
/// deleted, another therapist's, or on a record no longer shared).
const NO_COMMENT: &str = "no such comment";

/// Shown as the author when the therapist's account cannot be found.
const UNKNOWN_AUTHOR: &str = "Your therapist";

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
    .service(web::resource("/records/{id}/comments").route(web::get().to(list_comments)));
}

/// A comment's text, new or edited.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentText {
    /// 1–2,000 characters, not blank; line breaks allowed.
    pub text: String,
}

/// A comment's row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = comments)]
pub(crate) struct CommentRow {
    pub(crate) id: String,
    pub(crate) owner_id: String,
    pub(crate) record_id: String,
    pub(crate) therapist_id: String,
    pub(crate) text: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted: bool,
    pub(crate) version: i64,
}

impl CommentRow {
    /// The comment as the API and sync send it, with its author's name.
    pub(crate) fn to_comment(&self, author: &str) -> Result<Comment, ApiError> {
        let corrupt = |what: String| ApiError::Internal(format!("comment {}: {what}", self.id));
        Ok(Comment {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            record_id: self
                .record_id
                .parse()
                .map_err(|e| corrupt(format!("bad record id: {e}")))?,
            therapist_id: self
                .therapist_id
                .parse()
                .map_err(|e| corrupt(format!("bad therapist id: {e}")))?,
            author: author.to_owned(),
            text: if self.deleted {
                String::new()
            } else {
                self.text.clone()
            },
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
            deleted: self.deleted,
        })
    }
}

/// The names the therapists of these comments show patients: their display
/// name, or their email when they have none.
pub(crate) fn authors(
    conn: &mut DbConnection,
    rows: &[CommentRow],
) -> Result<HashMap<String, String>, ApiError> {
    let mut ids: Vec<&str> = rows.iter().map(|r| r.therapist_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, String, Option<String>)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::email, users::display_name))
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|(id, email, name)| (id, name.unwrap_or(email)))
        .collect())
}

/// The comments of these rows, in the rows' order, each with its author.
pub(crate) fn with_authors(
    conn: &mut DbConnection,
    rows: &[CommentRow],
) -> Result<Vec<Comment>, ApiError> {
    let names = authors(conn, rows)?;
    rows.iter()
        .map(|row| {
            let author = names
                .get(&row.therapist_id)
                .map_or(UNKNOWN_AUTHOR, String::as_str);
            row.to_comment(author)
        })
        .collect()
}

fn time(micros: i64) -> Result<DateTime<Utc>, ApiError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ApiError::Internal(format!("timestamp {micros} is out of range")))
}

fn record_not_found() -> ApiError {
    ApiError::NotFound(NOT_FOUND.to_owned())
}

fn comment_not_found() -> ApiError {
    ApiError::NotFound(NO_COMMENT.to_owned())
}

/// The patient and record of a therapist's path; anything that is not a
/// UUID names nothing.
fn parse_target(patient: &str, record: &str) -> Result<(String, RecordId), ApiError> {
    let patient = Uuid::parse_str(patient).map_err(|_| record_not_found())?;
    let record = record.parse().map_err(|_| record_not_found())?;
    Ok((patient.to_string(), record))
}

/// Checks that `record` is a live record of `patient`'s that is shared with
/// `therapist` right now: 404 otherwise, the same for every reason.
fn check_shared(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    record: RecordId,
) -> Result<(), ApiError> {
    let grants = access::grants(conn, therapist, patient)?;
    if grants.is_empty() {
        return Err(record_not_found());
    }
    let kind: Option<String> = records::table
        .filter(records::id.eq(record.to_string()))
        .filter(records::owner_id.eq(patient))
        .filter(records::deleted.eq(false))
        .select(records::kind)
        .first(conn)
        .optional()?;
    let kind: RecordKind = kind
        .and_then(|k| k.parse().ok())
        .ok_or_else(record_not_found)?;
    grants
        .allowing(kind, record)
        .map(|_| ())
        .ok_or_else(record_not_found)
}

/// The therapist's own live comment.
fn own_live_comment(
    conn: &mut DbConnection,
    therapist: &str,
    id: Uuid,
) -> Result<Option<CommentRow>, ApiError> {
    Ok(comments::table
        .filter(comments::id.eq(id.to_string()))
        .filter(comments::therapist_id.eq(therapist))
        .filter(comments::deleted.eq(false))
        .select(CommentRow::as_select())
        .first(conn)
        .optional()?)
}

/// The author's name of one therapist.
fn author_of(conn: &mut DbConnection, therapist: &str) -> Result<String, ApiError> {
    let found: Option<(String, Option<String>)> = users::table
        .find(therapist)
        .select((users::email, users::display_name))
        .first(conn)
        .optional()?;
    Ok(found.map_or_else(
        || UNKNOWN_AUTHOR.to_owned(),
        |(email, name)| name.unwrap_or(email),
    ))
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
        (status = 400, description = "Unreadable body or unknown fields", body = crate::error::Problem,
            content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotATherapist,
        (status = 404, description = "No such record shared with you (unknown, another patient's, not shared, or no longer)",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 422, description = "Empty, blank, longer than 2,000 characters, or with control characters",
            body = crate::error::Problem, content_type = "application/problem+json"),
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
    let comment = state
        .db
        .run(move |conn| -> Result<Comment, ApiError> {
            // Without a link there is nothing to write, and an unknown
            // patient has no counter to bump. Checked again under the lock.
            if !access::linked(conn, &me, &patient)? {
                return Err(record_not_found());
            }
            conn.write_transaction(|conn| {
                // First write: the patient's version, which also takes their
                // lock, so a share revoked meanwhile is seen below.
                let version = bump_version(conn, &patient)?;
                check_shared(conn, &me, &patient, record)?;
                let now = now_micros();
                let row = CommentRow {
                    id: Uuid::now_v7().to_string(),
                    owner_id: patient.clone(),
                    record_id: record.to_string(),
                    therapist_id: me.clone(),
                    text,
                    created_at: now,
                    updated_at: now,
                    deleted: false,
                    version,
                };
                diesel::insert_into(comments::table)
                    .values((
                        comments::id.eq(&row.id),
                        comments::owner_id.eq(&row.owner_id),
                        comments::record_id.eq(&row.record_id),
                        comments::therapist_id.eq(&row.therapist_id),
                        comments::text.eq(&row.text),
                        comments::created_at.eq(row.created_at),
                        comments::updated_at.eq(row.updated_at),
                        comments::deleted.eq(false),
                        comments::version.eq(row.version),
                    ))
                    .execute(conn)?;
                let author = author_of(conn, &me)?;
                row.to_comment(&author)
            })
        })
        .await?;
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
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotATherapist,
        (status = 404, description = "No such record shared with you", body = crate::error::Problem,
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
        .run(move |conn| -> Result<Vec<Comment>, ApiError> {
            conn.transaction(|conn| {
                check_shared(conn, &me, &patient, record)?;
                let rows: Vec<CommentRow> = comments::table
                    .filter(comments::owner_id.eq(&patient))
                    .filter(comments::record_id.eq(record.to_string()))
                    .filter(comments::therapist_id.eq(&me))
                    .filter(comments::deleted.eq(false))
                    .order((comments::created_at.asc(), comments::id.asc()))
                    .select(CommentRow::as_select())
                    .load(conn)?;
                with_authors(conn, &rows)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(listed))
}

/// Why an edit ended without committing.
enum EditError {
    /// It failed.
    Api(ApiError),
    /// The comment already says this; rolling back undoes the version bump.
    Unchanged(Box<Comment>),
}

impl From<ApiError> for EditError {
    fn from(error: ApiError) -> Self {
        EditError::Api(error)
    }
}

impl From<diesel::result::Error> for EditError {
    fn from(error: diesel::result::Error) -> Self {
        EditError::Api(error.into())
    }
}

/// Edits one of the signed-in therapist's comments, while the record is
/// still shared with them. The edit reaches the patient's devices with
/// their next pull. Sending the text it already has changes nothing.
#[utoipa::path(put, path = "/api/v1/therapist/comments/{commentId}", tag = "comments",
    params(("commentId" = Uuid, Path, description = "The comment's id")),
    request_body(content = CommentText, description = "The new text"),
    responses(
        (status = 200, description = "The comment as it now is", body = Comment),
        (status = 400, description = "Unreadable body or unknown fields", body = crate::error::Problem,
            content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotATherapist,
        (status = 404, description = "No such comment of yours, or its record is no longer shared with you",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 422, description = "Empty, blank, longer than 2,000 characters, or with control characters",
            body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn edit_comment(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
    body: web::Json<CommentText>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&path).map_err(|_| comment_not_found())?;
    let text = body.into_inner().text;
    check_comment_text(&text)?;
    let me = therapist.id();
    let comment = state
        .db
        .run(move |conn| -> Result<Comment, ApiError> {
            // Whose history the comment is in (it never changes), to bump
            // that patient's counter first.
            let owner = own_live_comment(conn, &me, id)?
                .ok_or_else(comment_not_found)?
                .owner_id;
            let outcome = conn.write_transaction(|conn| -> Result<Comment, EditError> {
                let version = bump_version(conn, &owner)?;
                let row = own_live_comment(conn, &me, id)?.ok_or_else(comment_not_found)?;
                let record: RecordId = row
                    .record_id
                    .parse()
                    .map_err(|e| ApiError::Internal(format!("comment {id}: bad record id: {e}")))?;
                // Editing needs the record to be shared still; the answer
                // is this route's own 404.
                check_shared(conn, &me, &owner, record).map_err(|e| match e {
                    ApiError::NotFound(_) => comment_not_found(),
                    other => other,
                })?;
                let author = author_of(conn, &me)?;
                if row.text == text {
                    return Err(EditError::Unchanged(Box::new(row.to_comment(&author)?)));
                }
                let now = now_micros();
                diesel::update(comments::table.find(&row.id))
                    .set((
                        comments::text.eq(&text),
                        comments::updated_at.eq(now),
                        comments::version.eq(version),
                    ))
                    .execute(conn)?;
                Ok(CommentRow {
                    text,
                    updated_at: now,
                    version,
                    ..row
                }
                .to_comment(&author)?)
            });
            match outcome {
                Ok(comment) => Ok(comment),
                Err(EditError::Unchanged(comment)) => Ok(*comment),
                Err(EditError::Api(error)) => Err(error),
            }
        })
        .await?;
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
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotATherapist,
        (status = 404, description = "No such comment of yours (or already deleted)",
            body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_comment(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&path).map_err(|_| comment_not_found())?;
    let me = therapist.id();
    state
        .db
        .run(move |conn| -> Result<(), ApiError> {
            let owner = own_live_comment(conn, &me, id)?
                .ok_or_else(comment_not_found)?
                .owner_id;
            conn.write_transaction(|conn| {
                let version = bump_version(conn, &owner)?;
                let erased = diesel::update(
                    comments::table
                        .filter(comments::id.eq(id.to_string()))
                        .filter(comments::therapist_id.eq(&me))
                        .filter(comments::deleted.eq(false)),
                )
                .set((
                    comments::deleted.eq(true),
                    comments::text.eq(""),
                    comments::updated_at.eq(now_micros()),
                    comments::version.eq(version),
                ))
                .execute(conn)?;
                if erased == 1 {
                    Ok(())
                } else {
                    Err(comment_not_found())
                }
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The therapists' comments on one of the signed-in patient's records,
/// oldest first (deleted ones left out).
#[utoipa::path(get, path = "/api/v1/records/{id}/comments", tag = "comments",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The comments on the record, oldest first", body = Vec<Comment>),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::error::Problem, content_type = "application/problem+json"),
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
        .run(move |conn| -> Result<Vec<Comment>, ApiError> {
            conn.transaction(|conn| {
                let live: i64 = records::table
                    .filter(records::id.eq(id.to_string()))
                    .filter(records::owner_id.eq(&owner))
                    .filter(records::deleted.eq(false))
                    .count()
                    .get_result(conn)?;
                if live == 0 {
                    return Err(record_not_found());
                }
                let rows: Vec<CommentRow> = comments::table
                    .filter(comments::owner_id.eq(&owner))
                    .filter(comments::record_id.eq(id.to_string()))
                    .filter(comments::deleted.eq(false))
                    .order((comments::created_at.asc(), comments::id.asc()))
                    .select(CommentRow::as_select())
                    .load(conn)?;
                with_authors(conn, &rows)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(listed))
}

/// The comments' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_comment,
        list_own_comments,
        edit_comment,
        delete_comment,
        list_comments
    ),
    components(schemas(
        CommentText,
        journal_core::comments::Comment,
        journal_core::ids::RecordId,
        crate::error::Problem
    )),
    tags((name = "comments", description = "Therapists' comments on shared records, and the patient's view of them"))
)]
pub struct CommentsApi;
