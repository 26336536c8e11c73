//! Conflict revisions on the device: text that lost to another device's edit
//! or to a delete, pulled from the server (see `pull.rs`), listed per record
//! and restorable as an ordinary edit.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::schema::{records, revisions};
use super::{
    Clock, RecordRow, StoreError, body_json, check_links, micros_to_time, millis_to_time, outbox,
    parse_kind, replace_content, search, values,
};
use crate::hlc::Hlc;
use crate::hlc::WallClock;
use crate::ids::RecordId;
use crate::records::{Record, RecordBody};
use crate::sync::{Revision, RevisionReason};

#[derive(Queryable, Selectable)]
#[diesel(table_name = revisions, check_for_backend(diesel::sqlite::Sqlite))]
struct RevisionRow {
    id: String,
    record_id: String,
    kind: String,
    hlc: i64,
    reason: String,
    body: String,
    created_at: i64,
}

/// A record's revisions, newest edit first.
pub(super) fn of_record(
    conn: &mut SqliteConnection,
    record_id: RecordId,
) -> Result<Vec<Revision>, StoreError> {
    let rows: Vec<RevisionRow> = revisions::table
        .filter(revisions::record_id.eq(record_id.to_string()))
        .order((
            revisions::hlc.desc(),
            revisions::created_at.desc(),
            revisions::id.desc(),
        ))
        .select(RevisionRow::as_select())
        .load(conn)?;
    rows.into_iter().map(into_revision).collect()
}

/// The revisions of `reason` the patient has not dealt with, newest first.
pub(super) fn unresolved(
    conn: &mut SqliteConnection,
    reason: RevisionReason,
) -> Result<Vec<Revision>, StoreError> {
    let rows: Vec<RevisionRow> = revisions::table
        .filter(revisions::resolved_at.is_null())
        .filter(revisions::reason.eq(reason.as_str()))
        .order((revisions::created_at.desc(), revisions::id.desc()))
        .select(RevisionRow::as_select())
        .load(conn)?;
    rows.into_iter().map(into_revision).collect()
}

/// Marks a revision dealt with; `RevisionNotFound` for an unknown id.
pub(super) fn resolve(
    conn: &mut SqliteConnection,
    revision_id: uuid::Uuid,
    at: i64,
) -> Result<(), StoreError> {
    let changed = diesel::update(revisions::table.find(revision_id.hyphenated().to_string()))
        .set(revisions::resolved_at.eq(Some(at)))
        .execute(conn)?;
    if changed == 0 {
        return Err(StoreError::RevisionNotFound { id: revision_id });
    }
    Ok(())
}

/// Makes a revision's content current again: an edit of a live record, or
/// the return of a deleted (or never seen) one under its own id.
pub(super) fn restore(
    conn: &mut SqliteConnection,
    clock: &mut Clock,
    revision_id: uuid::Uuid,
) -> Result<Record, StoreError> {
    let row: RevisionRow = revisions::table
        .find(revision_id.hyphenated().to_string())
        .select(RevisionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::RevisionNotFound { id: revision_id })?;
    let revision = into_revision(row)?;
    let body = RecordBody::from_value(revision.kind, revision.body).map_err(|e| {
        StoreError::Corrupt(format!(
            "revision {revision_id} has an unreadable body: {e}"
        ))
    })?;
    body.validate()?;
    let id = revision.record_id;
    let existing: Option<(RecordRow, bool)> = records::table
        .filter(records::id.eq(id.to_string()))
        .select((RecordRow::as_select(), records::deleted))
        .first(conn)
        .optional()?;
    match existing {
        Some((row, false)) => replace_content(conn, clock, row, body),
        Some((tombstone, true)) => {
            let stored = parse_kind(&tombstone.kind)?;
            if stored != body.kind() {
                return Err(StoreError::KindMismatch {
                    id,
                    stored,
                    given: body.kind(),
                });
            }
            let base =
                Hlc::from_i64(tombstone.hlc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let created_at = micros_to_time(tombstone.created_at)?;
            revive(
                conn,
                clock,
                Some((tombstone.seq, base)),
                id,
                created_at,
                body,
            )
        }
        None => {
            let now = millis_to_time(clock.wall().now_millis());
            revive(conn, clock, None, id, now, body)
        }
    }
}

/// Writes a live record under `id` again: over its tombstone (`seq`, and
/// the tombstone's stamp as the version the change was made on), or as a
/// new row.
fn revive(
    conn: &mut SqliteConnection,
    clock: &mut Clock,
    tombstone: Option<(i64, Hlc)>,
    id: RecordId,
    created_at: chrono::DateTime<chrono::Utc>,
    body: RecordBody,
) -> Result<Record, StoreError> {
    check_links(conn, &body, &[])?;
    let hlc = clock.tick();
    let record = Record {
        id,
        created_at,
        updated_at: millis_to_time(clock.wall().now_millis()),
        hlc,
        body,
    };
    let json = body_json(&record.body)?;
    let seq = match tombstone {
        Some((seq, _)) => {
            diesel::update(records::table.find(seq))
                .set(values(&record, &json))
                .execute(conn)?;
            search::unindex(conn, seq)?;
            seq
        }
        None => diesel::insert_into(records::table)
            .values(values(&record, &json))
            .returning(records::seq)
            .get_result::<i64>(conn)?,
    };
    search::index(conn, seq, &record.body)?;
    outbox::queue_upsert(conn, &record, &json, tombstone.map(|(_, base)| base), None)?;
    Ok(record)
}

fn into_revision(row: RevisionRow) -> Result<Revision, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("revision {}: {what}", row.id));
    let reason = RevisionReason::parse(&row.reason)
        .ok_or_else(|| corrupt(format!("unknown reason {:?}", row.reason)))?;
    Ok(Revision {
        id: row.id.parse().map_err(|e| corrupt(format!("{e}")))?,
        record_id: row.record_id.parse().map_err(|e| corrupt(format!("{e}")))?,
        kind: parse_kind(&row.kind)?,
        hlc: Hlc::from_i64(row.hlc).map_err(|e| corrupt(e.to_string()))?,
        reason,
        body: serde_json::from_str(&row.body).map_err(|e| corrupt(e.to_string()))?,
        created_at: micros_to_time(row.created_at)?,
    })
}
