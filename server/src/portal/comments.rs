//! The therapist's comments on a shared item, written from a patient's
//! page: added, edited and deleted with the store's comment rules (only
//! one's own, only while the item is shared); they reach the patient's
//! phones at their next sync, as comments made through the API do.

use actix_web::{HttpResponse, web};
use journal_core::comments::check_comment_text;
use journal_core::ids::RecordId;
use serde::Deserialize;
use uuid::Uuid;

use super::session::Signed;
use super::{PortalError, patient_id, see_other};
use crate::state::AppState;
use crate::store::comments;

/// A comment form's fields.
#[derive(Debug, Deserialize)]
pub struct CommentForm {
    csrf: String,
    text: String,
}

fn checked_text(text: &str) -> Result<String, PortalError> {
    check_comment_text(text).map_err(|invalid| {
        PortalError::Invalid(format!("The comment cannot be saved: {invalid}"))
    })?;
    Ok(text.to_owned())
}

fn back_to(patient: Uuid, record: Option<RecordId>) -> HttpResponse {
    match record {
        Some(record) => see_other(&format!("/portal/patients/{patient}#item-{record}")),
        None => see_other(&format!("/portal/patients/{patient}")),
    }
}

/// Adds a comment to a shared item; it reaches the patient's phones at
/// their next sync.
pub async fn add_comment(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<CommentForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let (patient, record) = path.into_inner();
    let patient = patient_id(&patient)?;
    let record: RecordId = record
        .parse()
        .map_err(|_| PortalError::NotFound("no such shared item".to_owned()))?;
    let text = checked_text(&form.text)?;
    let me = signed.therapist();
    state
        .db
        .run(move |conn| comments::create(conn, &me, &patient.to_string(), record, text))
        .await?;
    Ok(back_to(patient, Some(record)))
}

fn comment_id(text: &str) -> Result<Uuid, PortalError> {
    Uuid::parse_str(text).map_err(|_| PortalError::NotFound("no such comment".to_owned()))
}

/// Edits one of the therapist's comments.
pub async fn edit_comment(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<CommentForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let (patient, comment) = path.into_inner();
    let patient = patient_id(&patient)?;
    let comment = comment_id(&comment)?;
    let text = checked_text(&form.text)?;
    let me = signed.therapist();
    let edited = state
        .db
        .run(move |conn| comments::edit(conn, &me, comment, text))
        .await?;
    Ok(back_to(patient, Some(edited.record_id)))
}

/// Deletes one of the therapist's comments.
pub async fn delete_comment(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<super::session::TokenForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let (patient, comment) = path.into_inner();
    let patient = patient_id(&patient)?;
    let comment = comment_id(&comment)?;
    let me = signed.therapist();
    state
        .db
        .run(move |conn| comments::delete(conn, &me, comment))
        .await?;
    Ok(back_to(patient, None))
}
