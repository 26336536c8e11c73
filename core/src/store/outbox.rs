//! The outbox: every local change, in order, until the server acknowledges
//! it. Its row number is the change's mutation id, which the server uses to
//! apply each change exactly once. Each row also says which version of the
//! record the change was made on (`base_hlc`) and which fields it set, so the
//! server can tell a concurrent edit from a fast-forward.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde::Serialize;

use super::schema::{outbox, records};
use super::{StoreError, micros_to_time, time_to_micros};
use crate::hlc::Hlc;
use crate::ids::{MutationId, RecordId};
use crate::records::{Record, RecordBody, RecordKind};
pub use crate::sync::ChangeOp;
use crate::sync::{Mutation, RawBody};

/// The most changes one call hands out.
pub(super) const MAX_BATCH: u32 = 1_000;

/// One local change waiting for the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxChange {
    /// The change's number on this device: 1, 2, 3, …
    pub mutation_id: MutationId,
    /// The record changed.
    pub record_id: RecordId,
    /// Its kind.
    pub kind: RecordKind,
    /// What happened to it.
    pub op: ChangeOp,
    /// The clock stamp of the change.
    pub hlc: Hlc,
    /// The content after the change (`None` for a delete).
    pub body: Option<RecordBody>,
    /// When the change was made (display only).
    pub queued_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::sqlite::Sqlite))]
struct OutboxRow {
    mutation_id: i64,
    record_id: String,
    kind: String,
    op: String,
    hlc: i64,
    body: Option<String>,
    queued_at: i64,
    base_hlc: Option<i64>,
    changed_fields: Option<String>,
}

/// Queues a create (`base` `None`) or an edit of the version stamped
/// `base`, which set the fields `changed` (`None`: all of them).
pub(super) fn queue_upsert(
    conn: &mut SqliteConnection,
    record: &Record,
    body_json: &str,
    base: Option<Hlc>,
    changed: Option<&[String]>,
) -> Result<(), StoreError> {
    let changed = changed
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("changed fields cannot be written: {e}")))?;
    diesel::insert_into(outbox::table)
        .values((
            outbox::record_id.eq(record.id.to_string()),
            outbox::kind.eq(record.kind().as_str()),
            outbox::op.eq("upsert"),
            outbox::hlc.eq(record.hlc.to_i64()),
            outbox::body.eq(Some(body_json)),
            outbox::queued_at.eq(time_to_micros(record.updated_at)),
            outbox::base_hlc.eq(base.map(Hlc::to_i64)),
            outbox::changed_fields.eq(changed),
        ))
        .execute(conn)?;
    Ok(())
}

/// Queues the deletion of the version stamped `base`.
pub(super) fn queue_delete(
    conn: &mut SqliteConnection,
    id: RecordId,
    kind: RecordKind,
    hlc: Hlc,
    base: Hlc,
    queued_at_micros: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::record_id.eq(id.to_string()),
            outbox::kind.eq(kind.as_str()),
            outbox::op.eq("delete"),
            outbox::hlc.eq(hlc.to_i64()),
            outbox::body.eq(None::<String>),
            outbox::queued_at.eq(queued_at_micros),
            outbox::base_hlc.eq(Some(base.to_i64())),
            outbox::changed_fields.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether the record has changes waiting to be pushed.
pub(super) fn has_pending(conn: &mut SqliteConnection, id: RecordId) -> Result<bool, StoreError> {
    let found: Option<i64> = outbox::table
        .filter(outbox::record_id.eq(id.to_string()))
        .select(outbox::mutation_id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The top-level content fields whose JSON differs between two contents of
/// one kind (a field present in only one of them differs).
pub(super) fn changed_fields(
    before: &RecordBody,
    after: &RecordBody,
) -> Result<Vec<String>, StoreError> {
    let before = content_object(before)?;
    let after = content_object(after)?;
    let mut keys: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| before.get(k) != after.get(k));
    Ok(keys)
}

fn content_object(
    body: &RecordBody,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    let unreadable =
        |e: String| StoreError::Corrupt(format!("content cannot be written as JSON: {e}"));
    let json = body.to_json().map_err(|e| unreadable(e.to_string()))?;
    match serde_json::from_str(&json).map_err(|e| unreadable(e.to_string()))? {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(unreadable(format!("expected an object, got {other}"))),
    }
}

pub(super) fn pending(
    conn: &mut SqliteConnection,
    limit: u32,
) -> Result<Vec<OutboxChange>, StoreError> {
    let rows: Vec<OutboxRow> = outbox::table
        .order(outbox::mutation_id.asc())
        .limit(i64::from(limit))
        .select(OutboxRow::as_select())
        .load(conn)?;
    rows.into_iter().map(into_change).collect()
}

/// The oldest `limit` changes as the wire's mutations, ready to push.
pub(super) fn pending_mutations(
    conn: &mut SqliteConnection,
    limit: u32,
) -> Result<Vec<Mutation>, StoreError> {
    let rows: Vec<OutboxRow> = outbox::table
        .order(outbox::mutation_id.asc())
        .limit(i64::from(limit))
        .select(OutboxRow::as_select())
        .load(conn)?;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.record_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    // A record's row outlives its outbox rows (a delete leaves a
    // tombstone), so every change finds when its record was created.
    let created: HashMap<String, i64> = records::table
        .filter(records::id.eq_any(&ids))
        .select((records::id, records::created_at))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    rows.into_iter()
        .map(|row| {
            let created_at = created.get(&row.record_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "outbox row {} names record {}, which is not stored",
                    row.mutation_id, row.record_id
                ))
            })?;
            into_mutation(row, created_at)
        })
        .collect()
}

pub(super) fn count(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let n: i64 = outbox::table.count().get_result(conn)?;
    Ok(n.unsigned_abs())
}

/// [`acknowledge`] without waiting for the disk: the deletion commits with
/// `synchronous = NORMAL`, so it is not flushed until the next durable
/// commit (WAL frames reach the disk in order). Losing it to a power cut
/// loses nothing: the changes come back to the outbox and are pushed
/// again, and the server answers a replayed mutation as it did the first
/// time, changing nothing.
pub(super) fn acknowledge_lazily(
    conn: &mut SqliteConnection,
    through: MutationId,
) -> Result<u64, StoreError> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute("PRAGMA synchronous = NORMAL")?;
    let removed = acknowledge(conn, through);
    // Every other commit stays durable, whatever the deletion did. (The
    // pragma only sets a flag on the connection; it reads and writes
    // nothing, so it does not fail on a healthy connection.)
    conn.batch_execute("PRAGMA synchronous = FULL")?;
    removed
}

pub(super) fn acknowledge(
    conn: &mut SqliteConnection,
    through: MutationId,
) -> Result<u64, StoreError> {
    let through = i64::try_from(through.0).unwrap_or(i64::MAX);
    let removed =
        diesel::delete(outbox::table.filter(outbox::mutation_id.le(through))).execute(conn)?;
    Ok(removed as u64)
}

fn into_mutation(row: OutboxRow, created_at: i64) -> Result<Mutation, StoreError> {
    let corrupt =
        |what: String| StoreError::Corrupt(format!("outbox row {}: {what}", row.mutation_id));
    let op = parse_op(&row.op).map_err(corrupt)?;
    let body = match (op, row.body) {
        (ChangeOp::Upsert, Some(json)) => {
            Some(RawBody::from_json(json).map_err(|e| corrupt(e.to_string()))?)
        }
        (ChangeOp::Upsert, None) => return Err(corrupt("an upsert without content".to_owned())),
        (ChangeOp::Delete, _) => None,
    };
    let changed_fields = row
        .changed_fields
        .as_deref()
        .map(serde_json::from_str::<Vec<String>>)
        .transpose()
        .map_err(|e| corrupt(format!("changed fields: {e}")))?;
    Ok(Mutation {
        mutation_id: MutationId(row.mutation_id.unsigned_abs()),
        record_id: row.record_id.parse().map_err(|e| corrupt(format!("{e}")))?,
        kind: row.kind.parse().map_err(|e| corrupt(format!("{e}")))?,
        op,
        hlc: Hlc::from_i64(row.hlc).map_err(|e| corrupt(e.to_string()))?,
        base_hlc: row
            .base_hlc
            .map(Hlc::from_i64)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        changed_fields,
        created_at: micros_to_time(created_at)?,
        updated_at: micros_to_time(row.queued_at)?,
        body,
    })
}

fn parse_op(op: &str) -> Result<ChangeOp, String> {
    match op {
        "upsert" => Ok(ChangeOp::Upsert),
        "delete" => Ok(ChangeOp::Delete),
        other => Err(format!("unknown op {other:?}")),
    }
}

fn into_change(row: OutboxRow) -> Result<OutboxChange, StoreError> {
    let corrupt =
        |what: String| StoreError::Corrupt(format!("outbox row {}: {what}", row.mutation_id));
    let kind: RecordKind = row.kind.parse().map_err(|e| corrupt(format!("{e}")))?;
    let op = parse_op(&row.op).map_err(corrupt)?;
    let body = match (&op, &row.body) {
        (ChangeOp::Upsert, Some(json)) => {
            Some(RecordBody::from_json(kind, json).map_err(|e| corrupt(e.to_string()))?)
        }
        (ChangeOp::Upsert, None) => return Err(corrupt("an upsert without content".to_owned())),
        (ChangeOp::Delete, _) => None,
    };
    Ok(OutboxChange {
        mutation_id: MutationId(row.mutation_id.unsigned_abs()),
        record_id: row.record_id.parse().map_err(|e| corrupt(format!("{e}")))?,
        kind,
        op,
        hlc: Hlc::from_i64(row.hlc).map_err(|e| corrupt(e.to_string()))?,
        body,
        queued_at: micros_to_time(row.queued_at)?,
    })
}
