//! The owner's records: create, read, edit, delete and list, and the
//! revisions kept of one record.
//!
//! - Every statement names the owner next to the id (`WHERE id = ? AND
//!   owner_id = ?`): another patient's record is found exactly like one
//!   that does not exist.
//! - Every write is an [`owner_write`]: the owner's version counter is
//!   bumped first, which takes the owner's lock before anything is read,
//!   so link checks cannot race.
//! - Edits and deletes go through journal-core's conflict rules like a
//!   device's change (made on the current version, stamped after it, by the
//!   nil device) and are written by [`super::sync::write`], the same code
//!   as a push, so field stamps and revisions stay right whichever way a
//!   change arrives.
//! - Lists use journal-core's keyset pagination and page cutting, the same
//!   as the phone's store.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use journal_core::hlc::Hlc;
use journal_core::ids::RecordId;
use journal_core::phase::Phase;
use journal_core::query::{ListQuery, RecordPage};
use journal_core::records::{Record, RecordBody, RecordKind, check_deletable, check_share_edit};
use journal_core::sync::{Incoming, IncomingOp, Resolution, Revision, Stamp, resolve};
use journal_core::validation::InvalidInput;

use super::rows::{NewRow, RecordRow, RevisionRow, StoredRow, body_json, rest_device};
use super::schema::{record_revisions, records};
use super::sync::write::{WriteTarget, is_taken, write_resolution};
use super::time::{now_micros, now_time};
use super::versions::{EditEnd, owner_edit, owner_write};
use super::{DbConnection, StoreError, alerts};

/// The one answer for an id that names no live record of the caller's, be
/// it unknown, deleted, malformed or someone else's: the same words, so the
/// answer tells nothing about other patients' records.
pub const NOT_FOUND: &str = "no such record";

/// The backend boxed queries run on (either database).
pub(crate) type Db = <DbConnection as diesel::Connection>::Backend;

fn not_found() -> StoreError {
    StoreError::NotFound(NOT_FOUND.to_owned())
}

/// Creates a record of `owner`'s, stamped `hlc`, with the id the client
/// chose or a new one, and raises the alerts it calls for. Created again
/// with the same id and content (a retry after a lost answer), it answers
/// the record the first create made and writes nothing; the same id with
/// other content, or an id another record has (deleted, or anyone else's),
/// is refused (`id`, `taken`).
pub fn create(
    conn: &mut DbConnection,
    owner: &str,
    id: Option<RecordId>,
    body: RecordBody,
    hlc: Hlc,
) -> Result<Record, StoreError> {
    let taken = || {
        StoreError::Invalid(InvalidInput::single(
            "id",
            "taken",
            "another record was already made with this id; make a new id",
        ))
    };
    owner_edit(conn, owner, |conn, versions| {
        let version = versions.take()?;
        if let Some(id) = id
            && let Some(row) = load_stored(conn, owner, id)?
        {
            // A replay of the create that made it is answered as the first
            // time; anything else under this id is refused.
            return match (row.deleted, row.content()?) {
                (false, Some(stored)) if stored == body => {
                    Err(EditEnd::Unchanged(Box::new(row.to_record()?)))
                }
                _ => Err(taken().into()),
            };
        }
        check_links(conn, owner, &body)?;
        let now = now_time()?;
        let mut record = Record::new(body, hlc, now);
        if let Some(id) = id {
            record.id = id;
        }
        let inserted = diesel::insert_into(records::table)
            .values(rest_row(&record, owner, version)?)
            .execute(conn);
        match inserted {
            Ok(_) => {}
            // Another patient's record has the id: refused like any taken id.
            Err(error) if is_taken(&error) => return Err(taken().into()),
            Err(error) => return Err(StoreError::from(error).into()),
        }
        alerts::raise(conn, owner)?;
        Ok(record)
    })
}

/// One live record of the owner's, if there is one.
pub fn live(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
) -> Result<Option<Record>, StoreError> {
    records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::owner_id.eq(owner))
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?
        .map(RecordRow::into_record)
        .transpose()
}

/// Whether the owner has this record live.
pub fn is_live(conn: &mut DbConnection, owner: &str, id: RecordId) -> Result<bool, StoreError> {
    let live: i64 = records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::owner_id.eq(owner))
        .filter(records::deleted.eq(false))
        .count()
        .get_result(conn)?;
    Ok(live > 0)
}

/// Replaces the content of one of the owner's live records, through the
/// conflict rules, stamped after its current version by `stamp_after`.
/// The same content changes nothing and answers the record as it was.
pub fn update(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
    body: RecordBody,
    stamp_after: impl Fn(Hlc) -> Hlc,
) -> Result<Record, StoreError> {
    owner_edit(conn, owner, |conn, versions| {
        let row = load_stored(conn, owner, id)?
            .filter(|r| !r.deleted)
            .ok_or_else(not_found)?;
        let current = row.to_record()?;
        if current.kind() != body.kind() {
            return Err(StoreError::from(InvalidInput::single(
                "kind",
                "immutable",
                format!(
                    "this record is a {}; a record's kind cannot change",
                    current.kind()
                ),
            ))
            .into());
        }
        if current.body == body {
            return Err(EditEnd::Unchanged(Box::new(current)));
        }
        check_share_edit(&current.body, &body)
            .map_err(|refused| StoreError::Conflict(refused.to_string()))?;
        check_links(conn, owner, &body)?;
        // Through the conflict rules like a device's edit, made on the
        // current version: a fast-forward that keeps the field stamps right.
        let stored = row.to_stored()?;
        let incoming = Incoming {
            stamp: Stamp {
                hlc: stamp_after(stored.stamp.hlc),
                device: rest_device(),
            },
            base: Some(stored.stamp.hlc),
            op: IncomingOp::Upsert {
                body,
                changed: None,
            },
        };
        let resolution = resolve(Some(&stored), incoming);
        let updated_at = now_time()?;
        let target = WriteTarget {
            owner,
            id,
            kind: current.kind(),
            existing: Some(&row),
            created_at: row.created_at,
            updated_at: updated_at.timestamp_micros(),
        };
        write_resolution(conn, &target, &resolution, versions)?;
        alerts::raise(conn, owner)?;
        match resolution {
            Resolution::Write {
                body: Some(body),
                stamp,
                ..
            } => Ok(Record {
                updated_at,
                hlc: stamp.hlc,
                body,
                ..current
            }),
            _ => Err(StoreError::Internal(format!(
                "an edit of the current version of record {id} was not written"
            ))
            .into()),
        }
    })
}

/// Deletes one of the owner's live records through the conflict rules: a
/// tombstone without content remains for sync. A dosing session that live
/// intentions or entries still link to is refused (`Conflict`).
pub fn delete(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
    stamp_after: impl Fn(Hlc) -> Hlc,
) -> Result<(), StoreError> {
    owner_write(conn, owner, 1, |conn, versions| {
        let row = load_stored(conn, owner, id)?
            .filter(|r| !r.deleted)
            .ok_or_else(not_found)?;
        let kind = row.record_kind()?;
        check_deletable(kind, || -> Result<u64, StoreError> {
            let linked: i64 = records::table
                .filter(records::owner_id.eq(owner))
                .filter(records::dosing_session_id.eq(id.to_string()))
                .filter(records::id.ne(id.to_string()))
                .filter(records::deleted.eq(false))
                .count()
                .get_result(conn)?;
            Ok(linked.unsigned_abs())
        })?
        .map_err(|in_use| StoreError::Conflict(in_use.to_string()))?;
        let stored = row.to_stored()?;
        let incoming = Incoming {
            stamp: Stamp {
                hlc: stamp_after(stored.stamp.hlc),
                device: rest_device(),
            },
            base: Some(stored.stamp.hlc),
            op: IncomingOp::Delete,
        };
        let resolution = resolve(Some(&stored), incoming);
        let target = WriteTarget {
            owner,
            id,
            kind,
            existing: Some(&row),
            created_at: row.created_at,
            updated_at: now_micros(),
        };
        write_resolution(conn, &target, &resolution, versions)
    })
}

/// One page of the owner's live records: the same filters, order and
/// keyset pagination as the phone's store.
pub fn list(
    conn: &mut DbConnection,
    owner: &str,
    query: &ListQuery,
) -> Result<RecordPage, StoreError> {
    let live = records::table
        .filter(records::owner_id.eq(owner.to_owned()))
        .filter(records::deleted.eq(false))
        .into_boxed();
    let rows: Vec<RecordRow> = narrowed(live, query)
        .select(RecordRow::as_select())
        .load(conn)?;
    cut_page(rows, query)
}

/// The revisions kept of one of the owner's records (tombstones included),
/// newest first; `None` when the owner has no such record.
pub fn revisions(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
) -> Result<Option<Vec<Revision>>, StoreError> {
    conn.transaction(|conn| {
        let known: i64 = records::table
            .filter(records::id.eq(id.to_string()))
            .filter(records::owner_id.eq(owner))
            .count()
            .get_result(conn)?;
        if known == 0 {
            return Ok(None);
        }
        let rows: Vec<RevisionRow> = record_revisions::table
            .filter(record_revisions::owner_id.eq(owner))
            .filter(record_revisions::record_id.eq(id.to_string()))
            .order(record_revisions::version.desc())
            .select(RevisionRow::as_select())
            .load(conn)?;
        rows.into_iter()
            .map(RevisionRow::into_revision)
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    })
}

/// The owner's row of a record, tombstone or not.
pub fn load_stored(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
) -> Result<Option<StoredRow>, DieselError> {
    records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::owner_id.eq(owner))
        .select(StoredRow::as_select())
        .get_result(conn)
        .optional()
}

/// Checks that the dosing session an entry or intention links to is one of
/// the owner's live sessions (journal-core's rule, the phone's too).
fn check_links(conn: &mut DbConnection, owner: &str, body: &RecordBody) -> Result<(), StoreError> {
    journal_core::records::check_dosing_session_link(body, |session| {
        let found: i64 = records::table
            .filter(records::id.eq(session.to_string()))
            .filter(records::owner_id.eq(owner))
            .filter(records::kind.eq(RecordKind::DosingSession.as_str()))
            .filter(records::deleted.eq(false))
            .count()
            .get_result(conn)?;
        Ok::<_, StoreError>(found > 0)
    })
}

/// Narrows a query of records to what a list asks for — kinds, phase,
/// dates, dosing session, the rows after the cursor — newest first, one
/// page plus one row (which tells whether more follow). The owner's list
/// and the therapist's feed both page through it, so they page alike.
pub(crate) fn narrowed<'a>(
    mut sql: records::BoxedQuery<'a, Db>,
    query: &ListQuery,
) -> records::BoxedQuery<'a, Db> {
    if !query.kinds.is_empty() {
        let kinds: Vec<&'static str> = query.kinds.iter().map(|k| k.as_str()).collect();
        sql = sql.filter(records::kind.eq_any(kinds));
    }
    if let Some(phase) = query.phase {
        sql = sql.filter(records::phase.eq(phase.as_str()));
    }
    if let Some(from) = query.from {
        sql = sql.filter(records::occurred_at.ge(from.timestamp_micros()));
    }
    if let Some(to) = query.to {
        sql = sql.filter(records::occurred_at.lt(to.timestamp_micros()));
    }
    if let Some(session) = query.dosing_session_id {
        sql = sql.filter(records::dosing_session_id.eq(session.to_string()));
    }
    if let Some(cursor) = query.cursor {
        let at = cursor.occurred_at_micros();
        sql = sql.filter(
            records::occurred_at.lt(at).or(records::occurred_at
                .eq(at)
                .and(records::id.lt(cursor.id().to_string()))),
        );
    }
    sql.order((records::occurred_at.desc(), records::id.desc()))
        .limit(query.fetch_limit())
}

/// Cuts the rows [`narrowed`] read into a page with journal-core's rule.
pub(crate) fn cut_page(rows: Vec<RecordRow>, query: &ListQuery) -> Result<RecordPage, StoreError> {
    RecordPage::cut(rows, query, RecordRow::into_record)
}

/// The row of a record created through the REST API.
fn rest_row<'a>(record: &Record, owner: &'a str, version: i64) -> Result<NewRow<'a>, StoreError> {
    Ok(NewRow {
        id: record.id.to_string(),
        owner_id: owner,
        kind: record.kind().as_str(),
        phase: record.body.phase().map(Phase::as_str),
        dosing_session_id: record
            .body
            .dosing_session_id(record.id)
            .map(|s| s.to_string()),
        occurred_at: record.occurred_at().timestamp_micros(),
        created_at: record.created_at.timestamp_micros(),
        updated_at: record.updated_at.timestamp_micros(),
        hlc: record.hlc.to_i64(),
        deleted: false,
        body: body_json(&record.body)?,
        version,
        origin_device: rest_device().to_string(),
        created_hlc: Some(record.hlc.to_i64()),
        created_device: Some(rest_device().to_string()),
        field_stamps: "{}".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::versions::Versions;
    use super::*;

    #[test]
    fn versions_are_handed_out_in_order_and_run_out() {
        let mut versions = Versions::block(10, 3);
        assert_eq!(versions.take().unwrap(), 8);
        assert_eq!(versions.take().unwrap(), 9);
        assert_eq!(versions.take().unwrap(), 10);
        assert!(matches!(versions.take(), Err(StoreError::Internal(_))));
    }
}
