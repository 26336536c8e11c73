//! The outbox: every local change, in order, until the server acknowledges
//! it. Its row number is the change's mutation id, which the server uses to
//! apply each change exactly once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde::Serialize;

use super::schema::outbox;
use super::{StoreError, micros_to_time, time_to_micros};
use crate::hlc::Hlc;
use crate::ids::{MutationId, RecordId};
use crate::records::{Record, RecordBody, RecordKind};
pub use crate::sync::ChangeOp;

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
}

pub(super) fn queue_upsert(
    conn: &mut SqliteConnection,
    record: &Record,
    body_json: &str,
) -> Result<(), StoreError> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::record_id.eq(record.id.to_string()),
            outbox::kind.eq(record.kind().as_str()),
            outbox::op.eq("upsert"),
            outbox::hlc.eq(record.hlc.to_i64()),
            outbox::body.eq(Some(body_json)),
            outbox::queued_at.eq(time_to_micros(record.updated_at)),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn queue_delete(
    conn: &mut SqliteConnection,
    id: RecordId,
    kind: RecordKind,
    hlc: Hlc,
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
        ))
        .execute(conn)?;
    Ok(())
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

pub(super) fn count(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let n: i64 = outbox::table.count().get_result(conn)?;
    Ok(n.unsigned_abs())
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

fn into_change(row: OutboxRow) -> Result<OutboxChange, StoreError> {
    let corrupt =
        |what: String| StoreError::Corrupt(format!("outbox row {}: {what}", row.mutation_id));
    let kind: RecordKind = row.kind.parse().map_err(|e| corrupt(format!("{e}")))?;
    let op = match row.op.as_str() {
        "upsert" => ChangeOp::Upsert,
        "delete" => ChangeOp::Delete,
        other => return Err(corrupt(format!("unknown op {other:?}"))),
    };
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
