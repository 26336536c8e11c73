//! Writing what journal-core's conflict rules decided: a record's new
//! version (insert or update) and the revision of text that lost. Shared
//! by a push and by the REST API's edits and deletes, so a change is
//! written the same way whichever way it arrives.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use journal_core::ids::RecordId;
use journal_core::phase::Phase;
use journal_core::records::{RecordBody, RecordKind};
use journal_core::sync::{FieldStamps, LostText, Resolution, Stamp};

use crate::store::rows::{NewRow, StoredRow, body_json};
use crate::store::schema::{record_revisions, records};
use crate::store::time::now_micros;
use crate::store::versions::Versions;
use crate::store::{DbConnection, StoreError};

/// Where a resolution is written.
pub struct WriteTarget<'a> {
    /// The owner.
    pub owner: &'a str,
    /// The record.
    pub id: RecordId,
    /// Its kind.
    pub kind: RecordKind,
    /// The owner's row of it, when there is one.
    pub existing: Option<&'a StoredRow>,
    /// When the record was created (used when inserting it).
    pub created_at: i64,
    /// When this change was made.
    pub updated_at: i64,
}

/// Writes what `resolve` decided: the record's new version and the
/// revision of lost text, each with the next version of the block.
pub fn write_resolution(
    conn: &mut DbConnection,
    target: &WriteTarget<'_>,
    resolution: &Resolution,
    versions: &mut Versions,
) -> Result<(), StoreError> {
    let lost = match resolution {
        Resolution::Write {
            body,
            stamp,
            fields,
            lost,
            ..
        } => {
            let version = versions.take()?;
            let row = resolved_row(target.owner, target, body.as_ref(), *stamp, fields, version)?;
            match target.existing {
                Some(_) => update_row(conn, target.owner, target.id, &row)?,
                None => {
                    diesel::insert_into(records::table)
                        .values(&row)
                        .execute(conn)?;
                }
            }
            lost
        }
        Resolution::Keep { lost, .. } => lost,
    };
    if let Some(lost) = lost {
        let version = versions.take()?;
        insert_revision(conn, target.owner, target.id, target.kind, lost, version)?;
    }
    Ok(())
}

/// The record's row once `body` (`None`: a tombstone) is written with
/// `stamp`, as a new record would be inserted; a record already stored
/// keeps when it was created.
pub fn resolved_row<'o>(
    owner: &'o str,
    target: &WriteTarget<'_>,
    body: Option<&RecordBody>,
    stamp: Stamp,
    fields: &FieldStamps,
    version: i64,
) -> Result<NewRow<'o>, StoreError> {
    let content = match body {
        Some(body) => body_json(body)?,
        None => "{}".to_owned(),
    };
    let phase = body.and_then(RecordBody::phase).map(Phase::as_str);
    let session = body
        .and_then(|b| b.dosing_session_id(target.id))
        .map(|s| s.to_string());
    let field_stamps = serde_json::to_string(fields)
        .map_err(|e| StoreError::Internal(format!("field stamps cannot be written: {e}")))?;
    let created_at = target.existing.map_or(target.created_at, |r| r.created_at);
    // A tombstone keeps the moment it was about, so it sorts where it was.
    let occurred_at = match body {
        Some(body) => body
            .occurred_at()
            .map_or(created_at, |at| at.timestamp_micros()),
        None => target.existing.map_or(created_at, |r| r.occurred_at),
    };
    Ok(NewRow {
        id: target.id.to_string(),
        owner_id: owner,
        kind: target.kind.as_str(),
        phase,
        dosing_session_id: session,
        occurred_at,
        created_at,
        updated_at: target.updated_at,
        hlc: stamp.hlc.to_i64(),
        deleted: body.is_none(),
        body: content,
        version,
        origin_device: stamp.device.to_string(),
        created_hlc: Some(stamp.hlc.to_i64()),
        created_device: Some(stamp.device.to_string()),
        field_stamps,
    })
}

/// Writes a new version over the owner's stored record (its creation
/// stamp and kind stay).
pub fn update_row(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
    row: &NewRow<'_>,
) -> Result<(), StoreError> {
    let updated = diesel::update(
        records::table
            .filter(records::id.eq(id.to_string()))
            .filter(records::owner_id.eq(owner)),
    )
    .set((
        records::deleted.eq(row.deleted),
        records::body.eq(&row.body),
        records::phase.eq(row.phase),
        records::dosing_session_id.eq(&row.dosing_session_id),
        records::occurred_at.eq(row.occurred_at),
        records::updated_at.eq(row.updated_at),
        records::hlc.eq(row.hlc),
        records::origin_device.eq(&row.origin_device),
        records::field_stamps.eq(&row.field_stamps),
        records::version.eq(row.version),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Err(StoreError::Internal(format!(
            "updating record {id} changed {updated} rows"
        )));
    }
    Ok(())
}

/// Keeps text that lost a conflict or to a delete as a revision.
pub fn insert_revision(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
    kind: RecordKind,
    lost: &LostText,
    version: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(record_revisions::table)
        .values((
            record_revisions::id.eq(uuid::Uuid::now_v7().to_string()),
            record_revisions::owner_id.eq(owner),
            record_revisions::record_id.eq(id.to_string()),
            record_revisions::kind.eq(kind.as_str()),
            record_revisions::hlc.eq(lost.stamp.hlc.to_i64()),
            record_revisions::origin_device.eq(lost.stamp.device.to_string()),
            record_revisions::reason.eq(lost.reason.as_str()),
            record_revisions::body.eq(body_json(&lost.body)?),
            record_revisions::created_at.eq(now_micros()),
            record_revisions::version.eq(version),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether an insert failed only because the id is taken (by another
/// owner's record: every look-up names the owner).
pub fn is_taken(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}
