//! Therapists' comments as sync delivers them, and the patient's replies.
//!
//! - A therapist's comment is kept per record and removed when the
//!   therapist deletes it.
//! - A reply written here is kept at once, with what the server still has
//!   to hear of it (`pending`: 'create', 'edit' or 'delete'); the next sync
//!   sends it ([`pending`], then [`sent`] or [`refused`]). A reply the
//!   server refuses keeps its text here, marked refused: nothing the
//!   patient wrote is dropped by a refusal. Editing a refused reply sends
//!   it again.
//! - A pulled copy of a reply never overwrites words not yet sent or
//!   refused: the local text wins until the server has it.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use uuid::Uuid;

use super::schema::comments;
use super::{StoreError, micros_to_time, time_to_micros};
use crate::comments::{Comment, Delivery, check_comment_text};
use crate::ids::RecordId;

/// What a reply written here still has to tell the server.
const CREATE: &str = "create";
const EDIT: &str = "edit";
const DELETE: &str = "delete";
/// Refused, and the server does not have it (a new reply, or one deleted
/// there): sent whole again once edited.
const REFUSED: &str = "refused";
/// Refused, and the server has an older text of it: sent as an edit again
/// once edited.
const REFUSED_EDIT: &str = "refused-edit";

/// The author shown for a reply written here until the server's copy (with
/// the patient's name) comes back; apps show replies by `from_patient`.
pub const YOU: &str = "You";

#[derive(Queryable, Selectable)]
#[diesel(table_name = comments, check_for_backend(diesel::sqlite::Sqlite))]
struct CommentRow {
    id: String,
    record_id: String,
    therapist_id: String,
    author: String,
    text: String,
    created_at: i64,
    updated_at: i64,
    from_patient: bool,
    reply_to: Option<String>,
    pending: Option<String>,
}

impl CommentRow {
    fn into_comment(self) -> Result<Comment, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("comment {}: bad {what}", self.id));
        let delivery = match self.pending.as_deref() {
            None => Delivery::Delivered,
            Some(REFUSED | REFUSED_EDIT) => Delivery::Refused,
            Some(_) => Delivery::Pending,
        };
        Ok(Comment {
            id: self.id.parse().map_err(|_| corrupt("id"))?,
            record_id: self.record_id.parse().map_err(|_| corrupt("record id"))?,
            therapist_id: self
                .therapist_id
                .parse()
                .map_err(|_| corrupt("therapist id"))?,
            reply_to: self
                .reply_to
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| corrupt("reply_to"))?,
            author: self.author,
            text: self.text,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            deleted: false,
            from_patient: self.from_patient,
            delivery,
        })
    }
}

/// What applying a pulled comment did here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    /// Not here before.
    New,
    /// Here, with other text.
    Edited,
    /// Here, and deleted by its author.
    Deleted,
    /// Already as it is (a page applied twice, a deleted comment never
    /// seen here), or a reply whose words here are newer than the pulled
    /// copy.
    Unchanged,
}

fn find(conn: &mut SqliteConnection, id: &str) -> Result<Option<CommentRow>, StoreError> {
    Ok(comments::table
        .find(id)
        .select(CommentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a pulled comment or reply (or removes it, when deleted).
/// Idempotent. A reply with words not yet sent from here keeps them.
pub(super) fn apply(conn: &mut SqliteConnection, comment: &Comment) -> Result<Applied, StoreError> {
    let id = comment.id.to_string();
    let before = find(conn, &id)?;
    if let Some(row) = &before {
        match row.pending.as_deref() {
            // Written or edited here, not yet sent, or refused: the words
            // here are newer than the server's copy and stay. A reply
            // waiting is delivered once the server's text is this one.
            Some(CREATE | EDIT | REFUSED | REFUSED_EDIT) => {
                if comment.deleted {
                    // Deleted on another device meanwhile: the words
                    // written here stay, refused (the server will not take
                    // them again).
                    mark(conn, &id, Some(REFUSED))?;
                } else if comment.text == row.text
                    && matches!(row.pending.as_deref(), Some(CREATE | EDIT))
                {
                    mark(conn, &id, None)?;
                }
                return Ok(Applied::Unchanged);
            }
            // Deleted here, not yet sent: it stays deleted here, and the
            // deletion is sent; a deletion from elsewhere settles it.
            Some(DELETE) => {
                if comment.deleted {
                    diesel::delete(comments::table.find(&id)).execute(conn)?;
                }
                return Ok(Applied::Unchanged);
            }
            _ => {}
        }
    }
    if comment.deleted {
        diesel::delete(comments::table.find(&id)).execute(conn)?;
        return Ok(if before.is_some() {
            Applied::Deleted
        } else {
            Applied::Unchanged
        });
    }
    let applied = match &before {
        None => Applied::New,
        Some(row)
            if row.text == comment.text
                && row.updated_at == time_to_micros(comment.updated_at)
                && row.pending.is_none() =>
        {
            Applied::Unchanged
        }
        Some(_) => Applied::Edited,
    };
    diesel::replace_into(comments::table)
        .values((
            comments::id.eq(&id),
            comments::record_id.eq(comment.record_id.to_string()),
            comments::therapist_id.eq(comment.therapist_id.to_string()),
            comments::author.eq(&comment.author),
            comments::text.eq(&comment.text),
            comments::created_at.eq(time_to_micros(comment.created_at)),
            comments::updated_at.eq(time_to_micros(comment.updated_at)),
            comments::from_patient.eq(comment.from_patient),
            comments::reply_to.eq(comment.reply_to.map(|id| id.to_string())),
            comments::pending.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(applied)
}

fn mark(conn: &mut SqliteConnection, id: &str, pending: Option<&str>) -> Result<(), StoreError> {
    diesel::update(comments::table.find(id))
        .set(comments::pending.eq(pending))
        .execute(conn)?;
    Ok(())
}

/// The comments and replies on a record, oldest first (replies deleted
/// here and not yet sent are left out).
pub(super) fn of_record(
    conn: &mut SqliteConnection,
    record: RecordId,
) -> Result<Vec<Comment>, StoreError> {
    let rows: Vec<CommentRow> = comments::table
        .filter(comments::record_id.eq(record.to_string()))
        .filter(comments::pending.is_null().or(comments::pending.ne(DELETE)))
        .order((comments::created_at.asc(), comments::id.asc()))
        .select(CommentRow::as_select())
        .load(conn)?;
    rows.into_iter().map(CommentRow::into_comment).collect()
}

/// Writes the patient's reply to a therapist's comment kept here; the next
/// sync sends it. `CommentNotFound` when no therapist's comment has this
/// id here (unknown, deleted, or itself a reply).
pub(super) fn reply(
    conn: &mut SqliteConnection,
    comment_id: Uuid,
    text: &str,
) -> Result<Comment, StoreError> {
    check_comment_text(text)?;
    let original = find(conn, &comment_id.to_string())?
        .filter(|row| !row.from_patient)
        .ok_or(StoreError::CommentNotFound { id: comment_id })?;
    let now = Utc::now().timestamp_micros();
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(comments::table)
        .values((
            comments::id.eq(&id),
            comments::record_id.eq(&original.record_id),
            comments::therapist_id.eq(&original.therapist_id),
            comments::author.eq(YOU),
            comments::text.eq(text),
            comments::created_at.eq(now),
            comments::updated_at.eq(now),
            comments::from_patient.eq(true),
            comments::reply_to.eq(Some(comment_id.to_string())),
            comments::pending.eq(Some(CREATE)),
        ))
        .execute(conn)?;
    find(conn, &id)?
        .ok_or_else(|| StoreError::Corrupt(format!("reply {id} vanished")))?
        .into_comment()
}

/// The patient's reply `id` kept here, not deleted here.
fn own_reply(conn: &mut SqliteConnection, id: Uuid) -> Result<CommentRow, StoreError> {
    find(conn, &id.to_string())?
        .filter(|row| row.from_patient && row.pending.as_deref() != Some(DELETE))
        .ok_or(StoreError::CommentNotFound { id })
}

/// Gives one of the patient's replies new text; the next sync sends it.
/// The same text changes nothing.
pub(super) fn edit_reply(
    conn: &mut SqliteConnection,
    id: Uuid,
    text: &str,
) -> Result<Comment, StoreError> {
    check_comment_text(text)?;
    let row = own_reply(conn, id)?;
    if row.text != text {
        // A reply the server does not have is sent whole; one it has is
        // sent as an edit.
        let pending = match row.pending.as_deref() {
            Some(CREATE | REFUSED) => CREATE,
            _ => EDIT,
        };
        diesel::update(comments::table.find(&row.id))
            .set((
                comments::text.eq(text),
                comments::updated_at.eq(Utc::now().timestamp_micros()),
                comments::pending.eq(Some(pending)),
            ))
            .execute(conn)?;
    }
    own_reply(conn, id)?.into_comment()
}

/// Deletes one of the patient's replies: one the server never had goes at
/// once; otherwise it is hidden here and the next sync deletes it there.
pub(super) fn delete_reply(conn: &mut SqliteConnection, id: Uuid) -> Result<(), StoreError> {
    let row = own_reply(conn, id)?;
    if matches!(row.pending.as_deref(), Some(CREATE | REFUSED)) {
        diesel::delete(comments::table.find(&row.id)).execute(conn)?;
    } else {
        mark(conn, &row.id, Some(DELETE))?;
    }
    Ok(())
}

/// What a reply written here still has to tell the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyChange {
    /// A new reply (or one the server may have missed): send it whole.
    Create {
        /// The record the conversation is about.
        record_id: RecordId,
        /// The therapist's comment it answers.
        reply_to: Uuid,
    },
    /// New text for a reply the server has.
    Edit,
    /// A deletion.
    Delete,
}

/// A reply waiting to be sent, as [`pending`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReply {
    /// The reply's id (chosen here; the server keeps it).
    pub id: Uuid,
    /// What to send.
    pub change: ReplyChange,
    /// Its text now (empty for a deletion).
    pub text: String,
}

/// The replies waiting to be sent, oldest first.
pub(super) fn pending(conn: &mut SqliteConnection) -> Result<Vec<PendingReply>, StoreError> {
    let rows: Vec<CommentRow> = comments::table
        .filter(comments::pending.eq_any([CREATE, EDIT, DELETE]))
        .order((comments::created_at.asc(), comments::id.asc()))
        .select(CommentRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let corrupt = |what: &str| StoreError::Corrupt(format!("reply {}: bad {what}", row.id));
            let change = match row.pending.as_deref() {
                Some(CREATE) => ReplyChange::Create {
                    record_id: row.record_id.parse().map_err(|_| corrupt("record id"))?,
                    reply_to: row
                        .reply_to
                        .as_deref()
                        .ok_or_else(|| corrupt("reply_to"))?
                        .parse()
                        .map_err(|_| corrupt("reply_to"))?,
                },
                Some(EDIT) => ReplyChange::Edit,
                _ => ReplyChange::Delete,
            };
            Ok(PendingReply {
                id: row.id.parse().map_err(|_| corrupt("id"))?,
                text: if change == ReplyChange::Delete {
                    String::new()
                } else {
                    row.text
                },
                change,
            })
        })
        .collect()
}

/// Whether `sent` is still what is waiting for this reply (it was not
/// edited or deleted while it travelled).
fn still_waiting(row: &CommentRow, sent: &PendingReply) -> bool {
    let pending = match sent.change {
        ReplyChange::Create { .. } => CREATE,
        ReplyChange::Edit => EDIT,
        ReplyChange::Delete => DELETE,
    };
    row.pending.as_deref() == Some(pending) && (pending == DELETE || row.text == sent.text)
}

/// The server took `sent`: a deletion is done; a reply or edit is
/// delivered, with the server's copy (`stored`: its author and times).
/// Anything changed here while it travelled stays waiting.
pub(super) fn sent(
    conn: &mut SqliteConnection,
    sent: &PendingReply,
    stored: Option<&Comment>,
) -> Result<(), StoreError> {
    let id = sent.id.to_string();
    let Some(row) = find(conn, &id)? else {
        return Ok(());
    };
    if !still_waiting(&row, sent) {
        return Ok(());
    }
    match (&sent.change, stored) {
        (ReplyChange::Delete, _) => {
            diesel::delete(comments::table.find(&id)).execute(conn)?;
        }
        (_, Some(stored)) => {
            diesel::update(comments::table.find(&id))
                .set((
                    comments::author.eq(&stored.author),
                    comments::created_at.eq(time_to_micros(stored.created_at)),
                    comments::updated_at.eq(time_to_micros(stored.updated_at)),
                    comments::pending.eq(None::<String>),
                ))
                .execute(conn)?;
        }
        (_, None) => mark(conn, &id, None)?,
    }
    Ok(())
}

/// The server refused `sent` for good: the reply stays here, marked
/// refused (a refused deletion means the server has no such reply, so it
/// is gone here too).
pub(super) fn refused(conn: &mut SqliteConnection, sent: &PendingReply) -> Result<(), StoreError> {
    let id = sent.id.to_string();
    let Some(row) = find(conn, &id)? else {
        return Ok(());
    };
    if !still_waiting(&row, sent) {
        return Ok(());
    }
    match sent.change {
        ReplyChange::Delete => {
            diesel::delete(comments::table.find(&id)).execute(conn)?;
        }
        ReplyChange::Create { .. } => mark(conn, &id, Some(REFUSED))?,
        ReplyChange::Edit => mark(conn, &id, Some(REFUSED_EDIT))?,
    }
    Ok(())
}
