//! Therapists' comments on what a patient shared, and the patient's
//! replies.
//!
//! - A therapist comments only on a record shared with them right now
//!   ([`access::grants`], checked in the write transaction); anything else
//!   is `NotFound`, all alike.
//! - A comment is a change in the *patient's* history: every write (new,
//!   edit, delete) is an [`owner_write`] of the patient's, so sync's pull
//!   passes it on in order like a record.
//! - A deleted comment keeps its row (`deleted`, text erased) so the
//!   deletion reaches the patient's devices.
//! - Only the author edits or deletes a comment. Editing needs the record
//!   to be still shared with the author; deleting does not.
//! - A patient's reply is a row of the conversation with one therapist
//!   (`therapist_id` is that therapist, `from_patient` is set). It can be
//!   written or edited only while the record is shared with that therapist
//!   (a reply about something the therapist cannot see would reach no
//!   one); the therapist sees it wherever they see their own comments.

use std::collections::HashMap;

use diesel::prelude::*;
use journal_core::comments::Comment;
use journal_core::ids::RecordId;
use journal_core::records::RecordKind;
use uuid::Uuid;

use super::access;
use super::records::{NOT_FOUND, is_live};
use super::rows::CommentRow;
use super::schema::{comments, records, users};
use super::time::now_micros;
use super::versions::{EditEnd, owner_edit, owner_write};
use super::{DbConnection, StoreError};

/// The one answer for a comment that is not the caller's to change (unknown,
/// deleted, another therapist's, or on a record no longer shared).
pub const NO_COMMENT: &str = "no such comment";

/// Shown as the author when the therapist's account cannot be found.
const UNKNOWN_AUTHOR: &str = "Your therapist";

fn record_not_found() -> StoreError {
    StoreError::NotFound(NOT_FOUND.to_owned())
}

fn comment_not_found() -> StoreError {
    StoreError::NotFound(NO_COMMENT.to_owned())
}

/// The names these therapists show patients: their display name, or their
/// email when they have none (a therapist whose account cannot be found
/// is left out: see [`author_or_default`]).
pub fn author_names<'a>(
    conn: &mut DbConnection,
    therapists: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, String>, StoreError> {
    let mut ids: Vec<&str> = therapists.into_iter().collect();
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

/// The therapist's name among `names`, or the neutral one.
pub fn author_or_default<'a>(names: &'a HashMap<String, String>, therapist: &str) -> &'a str {
    names.get(therapist).map_or(UNKNOWN_AUTHOR, String::as_str)
}

/// The comments of these rows, in the rows' order, each with its author
/// (the therapist's name, or the patient's for a reply).
pub fn with_authors(
    conn: &mut DbConnection,
    rows: &[CommentRow],
) -> Result<Vec<Comment>, StoreError> {
    let names = author_names(conn, rows.iter().map(CommentRow::author_id))?;
    rows.iter()
        .map(|row| row.to_comment(author_or_default(&names, row.author_id())))
        .collect()
}

/// The author's name of one therapist.
fn author_of(conn: &mut DbConnection, therapist: &str) -> Result<String, StoreError> {
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

/// Checks that `record` is a live record of `patient`'s that is shared with
/// `therapist` right now: `NotFound` otherwise, the same for every reason.
fn check_shared(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    record: RecordId,
) -> Result<(), StoreError> {
    let grants = access::grants(conn, therapist, patient)?.unwrap_or_default();
    if grants.is_empty() {
        return Err(record_not_found());
    }
    let found: Option<(String, Option<String>)> = records::table
        .filter(records::id.eq(record.to_string()))
        .filter(records::owner_id.eq(patient))
        .filter(records::deleted.eq(false))
        .select((records::kind, super::rows::assessment_body()))
        .first(conn)
        .optional()?;
    let (kind, body) = found.ok_or_else(record_not_found)?;
    let kind: RecordKind = kind.parse().map_err(|_| record_not_found())?;
    grants
        .allowing(kind, record, super::rows::instrument_in(body.as_deref()))
        .map(|_| ())
        .ok_or_else(record_not_found)
}

/// Writes a new comment's row.
fn insert(conn: &mut DbConnection, row: &CommentRow) -> Result<(), StoreError> {
    diesel::insert_into(comments::table)
        .values((
            comments::id.eq(&row.id),
            comments::owner_id.eq(&row.owner_id),
            comments::record_id.eq(&row.record_id),
            comments::therapist_id.eq(&row.therapist_id),
            comments::text.eq(&row.text),
            comments::created_at.eq(row.created_at),
            comments::updated_at.eq(row.updated_at),
            comments::deleted.eq(row.deleted),
            comments::version.eq(row.version),
            comments::from_patient.eq(row.from_patient),
            comments::reply_to.eq(&row.reply_to),
        ))
        .execute(conn)?;
    Ok(())
}

/// The therapist's own live comment (not a patient's reply to them).
fn own_live_comment(
    conn: &mut DbConnection,
    therapist: &str,
    id: Uuid,
) -> Result<Option<CommentRow>, StoreError> {
    Ok(comments::table
        .filter(comments::id.eq(id.to_string()))
        .filter(comments::therapist_id.eq(therapist))
        .filter(comments::from_patient.eq(false))
        .filter(comments::deleted.eq(false))
        .select(CommentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Writes the therapist's comment on one of the patient's records shared
/// with them (checked text: journal-core's `check_comment_text`).
pub fn create(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    record: RecordId,
    text: String,
) -> Result<Comment, StoreError> {
    // Without a link there is nothing to write, and an unknown patient has
    // no counter to bump. Checked again under the lock.
    if access::grants(conn, therapist, patient)?.is_none() {
        return Err(record_not_found());
    }
    // First write: the patient's version, which also takes their lock, so a
    // share revoked meanwhile is seen below.
    owner_write(conn, patient, 1, |conn, versions| {
        let version = versions.take()?;
        check_shared(conn, therapist, patient, record)?;
        let now = now_micros();
        let row = CommentRow {
            id: Uuid::now_v7().to_string(),
            owner_id: patient.to_owned(),
            record_id: record.to_string(),
            therapist_id: therapist.to_owned(),
            text,
            created_at: now,
            updated_at: now,
            deleted: false,
            version,
            from_patient: false,
            reply_to: None,
        };
        insert(conn, &row)?;
        let author = author_of(conn, therapist)?;
        row.to_comment(&author)
    })
}

/// The conversation of the therapist's on one record shared with them,
/// oldest first: their own live comments and the patient's replies to
/// them.
pub fn own_on_record(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    record: RecordId,
) -> Result<Vec<Comment>, StoreError> {
    conn.transaction(|conn| {
        check_shared(conn, therapist, patient, record)?;
        let rows: Vec<CommentRow> = comments::table
            .filter(comments::owner_id.eq(patient))
            .filter(comments::record_id.eq(record.to_string()))
            .filter(comments::therapist_id.eq(therapist))
            .filter(comments::deleted.eq(false))
            .order((comments::created_at.asc(), comments::id.asc()))
            .select(CommentRow::as_select())
            .load(conn)?;
        with_authors(conn, &rows)
    })
}

/// The therapist's conversations (their own live comments and the
/// patient's replies) on several of the patient's records, oldest first,
/// in one query: for a page that has just read those records
/// as shared (through `review`) in the same request.
pub fn own_on_records(
    conn: &mut DbConnection,
    therapist: &str,
    patient: &str,
    records: &[RecordId],
) -> Result<Vec<Comment>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = records.iter().map(ToString::to_string).collect();
    let rows: Vec<CommentRow> = comments::table
        .filter(comments::owner_id.eq(patient))
        .filter(comments::record_id.eq_any(ids))
        .filter(comments::therapist_id.eq(therapist))
        .filter(comments::deleted.eq(false))
        .order((comments::created_at.asc(), comments::id.asc()))
        .select(CommentRow::as_select())
        .load(conn)?;
    with_authors(conn, &rows)
}

/// Edits one of the therapist's comments while its record is still shared
/// with them; the same text changes nothing.
pub fn edit(
    conn: &mut DbConnection,
    therapist: &str,
    id: Uuid,
    text: String,
) -> Result<Comment, StoreError> {
    // Whose history the comment is in (it never changes), to bump that
    // patient's counter first.
    let owner = own_live_comment(conn, therapist, id)?
        .ok_or_else(comment_not_found)?
        .owner_id;
    owner_edit(conn, &owner, |conn, versions| {
        let version = versions.take()?;
        let row = own_live_comment(conn, therapist, id)?.ok_or_else(comment_not_found)?;
        let record: RecordId = row
            .record_id
            .parse()
            .map_err(|e| StoreError::Internal(format!("comment {id}: bad record id: {e}")))?;
        // Editing needs the record to be shared still; the answer is the
        // comment's own `NotFound`.
        check_shared(conn, therapist, &owner, record).map_err(|e| match e {
            StoreError::NotFound(_) => comment_not_found(),
            other => other,
        })?;
        let author = author_of(conn, therapist)?;
        if row.text == text {
            return Err(EditEnd::Unchanged(Box::new(row.to_comment(&author)?)));
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
    })
}

/// Deletes one of the therapist's comments (its text is erased), shared
/// still or not: one can always take back what one wrote.
pub fn delete(conn: &mut DbConnection, therapist: &str, id: Uuid) -> Result<(), StoreError> {
    let owner = own_live_comment(conn, therapist, id)?
        .ok_or_else(comment_not_found)?
        .owner_id;
    owner_write(conn, &owner, 1, |conn, versions| {
        let version = versions.take()?;
        let erased = diesel::update(
            comments::table
                .filter(comments::id.eq(id.to_string()))
                .filter(comments::therapist_id.eq(therapist))
                .filter(comments::from_patient.eq(false))
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
}

/// The live comments on one of the owner's live records, oldest first:
/// every therapist's and the owner's replies.
pub fn on_own_record(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
) -> Result<Vec<Comment>, StoreError> {
    conn.transaction(|conn| {
        if !is_live(conn, owner, id)? {
            return Err(record_not_found());
        }
        let rows: Vec<CommentRow> = comments::table
            .filter(comments::owner_id.eq(owner))
            .filter(comments::record_id.eq(id.to_string()))
            .filter(comments::deleted.eq(false))
            .order((comments::created_at.asc(), comments::id.asc()))
            .select(CommentRow::as_select())
            .load(conn)?;
        with_authors(conn, &rows)
    })
}

/// The answer for a reply the patient may not write or edit now, because
/// the record is no longer shared with the therapist (or the link ended).
fn not_shared(therapist_name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "this record is no longer shared with {therapist_name}: a reply would reach no one \
         (share it again to reply)"
    ))
}

/// What a patient's reply answers.
struct Thread {
    therapist: String,
    record: RecordId,
}

/// The live therapist's comment `id` on the owner's `record`, answered by
/// a reply: `NotFound` when there is none (unknown, another patient's,
/// deleted by its author, or itself a reply).
fn thread_of(
    conn: &mut DbConnection,
    owner: &str,
    record: RecordId,
    id: Uuid,
) -> Result<Thread, StoreError> {
    let therapist: Option<String> = comments::table
        .filter(comments::id.eq(id.to_string()))
        .filter(comments::owner_id.eq(owner))
        .filter(comments::record_id.eq(record.to_string()))
        .filter(comments::from_patient.eq(false))
        .filter(comments::deleted.eq(false))
        .select(comments::therapist_id)
        .first(conn)
        .optional()?;
    therapist
        .map(|therapist| Thread { therapist, record })
        .ok_or_else(|| StoreError::NotFound("no such comment to reply to on this record".into()))
}

/// Checks that the thread's record is still shared with its therapist.
fn check_thread_shared(
    conn: &mut DbConnection,
    owner: &str,
    thread: &Thread,
) -> Result<(), StoreError> {
    match check_shared(conn, &thread.therapist, owner, thread.record) {
        Err(StoreError::NotFound(_)) => Err(not_shared(&author_of(conn, &thread.therapist)?)),
        other => other,
    }
}

/// The owner's reply `id`, deleted or not.
fn own_reply(
    conn: &mut DbConnection,
    owner: &str,
    id: Uuid,
) -> Result<Option<CommentRow>, StoreError> {
    Ok(comments::table
        .filter(comments::id.eq(id.to_string()))
        .filter(comments::owner_id.eq(owner))
        .filter(comments::from_patient.eq(true))
        .select(CommentRow::as_select())
        .first(conn)
        .optional()?)
}

fn no_reply() -> StoreError {
    StoreError::NotFound("no such reply of yours".into())
}

/// A patient's reply, as it was written.
pub struct NewReply {
    /// The id the phone chose (so a resent reply is the same reply), or
    /// none for a new one.
    pub id: Option<Uuid>,
    /// The record the conversation is about.
    pub record: RecordId,
    /// The therapist's comment it answers.
    pub reply_to: Uuid,
    /// Its text (checked: journal-core's `check_comment_text`).
    pub text: String,
}

/// Writes the owner's reply to a therapist's comment on one of their
/// records, while the record is shared with that therapist. Resending a
/// reply with the same id is the same reply: it is answered as it stands
/// (with the text sent, if that changed), never written twice. Returns the
/// reply and whether it is new.
pub fn reply(
    conn: &mut DbConnection,
    owner: &str,
    new: NewReply,
) -> Result<(Comment, bool), StoreError> {
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    owner_edit(conn, owner, |conn, versions| {
        if let Some(existing) = comments::table
            .find(id.to_string())
            .select(CommentRow::as_select())
            .first::<CommentRow>(conn)
            .optional()?
        {
            let same = existing.owner_id == owner
                && existing.from_patient
                && existing.record_id == new.record.to_string()
                && existing.reply_to == Some(new.reply_to.to_string());
            if !same {
                return Err(StoreError::Conflict(format!(
                    "the id {id} is already taken by another comment: choose a new one"
                ))
                .into());
            }
            if existing.deleted {
                return Err(StoreError::Gone("this reply was deleted".into()).into());
            }
            return match edit_reply_row(conn, owner, existing, new.text, versions)? {
                Ok(edited) => Ok((edited, false)),
                Err(unchanged) => Err(EditEnd::Unchanged(Box::new((unchanged, false)))),
            };
        }
        let version = versions.take()?;
        let thread = thread_of(conn, owner, new.record, new.reply_to)?;
        check_thread_shared(conn, owner, &thread)?;
        let now = now_micros();
        let row = CommentRow {
            id: id.to_string(),
            owner_id: owner.to_owned(),
            record_id: new.record.to_string(),
            therapist_id: thread.therapist,
            text: new.text,
            created_at: now,
            updated_at: now,
            deleted: false,
            version,
            from_patient: true,
            reply_to: Some(new.reply_to.to_string()),
        };
        insert(conn, &row)?;
        let author = author_of(conn, owner)?;
        Ok((row.to_comment(&author)?, true))
    })
}

/// Gives a live reply new text, while its record is still shared with the
/// therapist: `Err(reply)` when the text is already this (nothing to
/// write), `Ok(reply)` once written.
fn edit_reply_row(
    conn: &mut DbConnection,
    owner: &str,
    row: CommentRow,
    text: String,
    versions: &mut super::versions::Versions,
) -> Result<Result<Comment, Comment>, StoreError> {
    let author = author_of(conn, owner)?;
    if row.text == text {
        return Ok(Err(row.to_comment(&author)?));
    }
    let record: RecordId = row
        .record_id
        .parse()
        .map_err(|e| StoreError::Internal(format!("reply {}: bad record id: {e}", row.id)))?;
    let thread = Thread {
        therapist: row.therapist_id.clone(),
        record,
    };
    check_thread_shared(conn, owner, &thread)?;
    let version = versions.take()?;
    let now = now_micros();
    diesel::update(comments::table.find(&row.id))
        .set((
            comments::text.eq(&text),
            comments::updated_at.eq(now),
            comments::version.eq(version),
        ))
        .execute(conn)?;
    Ok(Ok(CommentRow {
        text,
        updated_at: now,
        version,
        ..row
    }
    .to_comment(&author)?))
}

/// Edits one of the owner's live replies, while its record is still shared
/// with the therapist; the same text changes nothing.
pub fn edit_reply(
    conn: &mut DbConnection,
    owner: &str,
    id: Uuid,
    text: String,
) -> Result<Comment, StoreError> {
    owner_edit(conn, owner, |conn, versions| {
        let row = own_reply(conn, owner, id)?
            .filter(|row| !row.deleted)
            .ok_or_else(no_reply)?;
        match edit_reply_row(conn, owner, row, text, versions)? {
            Ok(edited) => Ok(edited),
            Err(unchanged) => Err(EditEnd::Unchanged(Box::new(unchanged))),
        }
    })
}

/// Deletes one of the owner's replies (its text is erased), shared still or
/// not. Deleting a reply already deleted changes nothing, so a resent
/// deletion is answered alike.
pub fn delete_reply(conn: &mut DbConnection, owner: &str, id: Uuid) -> Result<(), StoreError> {
    owner_edit(conn, owner, |conn, versions| {
        let row = own_reply(conn, owner, id)?.ok_or_else(no_reply)?;
        if row.deleted {
            return Err(EditEnd::Unchanged(Box::new(())));
        }
        let version = versions.take()?;
        diesel::update(comments::table.find(&row.id))
            .set((
                comments::deleted.eq(true),
                comments::text.eq(""),
                comments::updated_at.eq(now_micros()),
                comments::version.eq(version),
            ))
            .execute(conn)?;
        Ok(())
    })
}
