//! Therapists' comments as sync delivers them: kept per record, removed when
//! the therapist deletes them.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::schema::comments;
use super::{StoreError, micros_to_time, time_to_micros};
use crate::comments::Comment;
use crate::ids::RecordId;

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
}

/// What applying a pulled comment did here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    /// Not here before.
    New,
    /// Here, with other text.
    Edited,
    /// Here, and deleted by the therapist.
    Deleted,
    /// Already as it is (a page applied twice, a deleted comment never
    /// seen here).
    Unchanged,
}

/// Stores a pulled comment (or removes it, when deleted). Idempotent.
pub(super) fn apply(conn: &mut SqliteConnection, comment: &Comment) -> Result<Applied, StoreError> {
    let id = comment.id.to_string();
    let before: Option<(String, i64)> = comments::table
        .find(&id)
        .select((comments::text, comments::updated_at))
        .first(conn)
        .optional()?;
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
        Some((text, updated_at))
            if *text == comment.text && *updated_at == time_to_micros(comment.updated_at) =>
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
        ))
        .execute(conn)?;
    Ok(applied)
}

/// The comments on a record, oldest first.
pub(super) fn of_record(
    conn: &mut SqliteConnection,
    record: RecordId,
) -> Result<Vec<Comment>, StoreError> {
    let rows: Vec<CommentRow> = comments::table
        .filter(comments::record_id.eq(record.to_string()))
        .order((comments::created_at.asc(), comments::id.asc()))
        .select(CommentRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let corrupt =
                |what: &str| StoreError::Corrupt(format!("comment {}: bad {what}", row.id));
            Ok(Comment {
                id: row.id.parse().map_err(|_| corrupt("id"))?,
                record_id: row.record_id.parse().map_err(|_| corrupt("record id"))?,
                therapist_id: row
                    .therapist_id
                    .parse()
                    .map_err(|_| corrupt("therapist id"))?,
                author: row.author,
                text: row.text,
                created_at: micros_to_time(row.created_at)?,
                updated_at: micros_to_time(row.updated_at)?,
                deleted: false,
            })
        })
        .collect()
}
