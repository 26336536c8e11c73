//! Importing an export document into an empty journal: the records,
//! revisions and comments, exactly as a pull would store them.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde::Serialize;

use super::schema::records;
use super::{StoreError, comments, outbox, pull};
use crate::export::ExportDocument;
use crate::records::Record;
use crate::sync::OwnerVersion;

/// What an import brought in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Records stored.
    pub records: u64,
    /// Revisions stored.
    pub revisions: u64,
    /// Comments stored.
    pub comments: u64,
    /// Records queued for the next sync.
    pub queued: u64,
}

pub(super) fn run(
    conn: &mut SqliteConnection,
    clock: &mut super::Clock,
    document: &ExportDocument,
    queue_for_sync: bool,
) -> Result<ImportReport, StoreError> {
    let held: i64 = records::table.count().get_result(conn)?;
    if held > 0 {
        return Err(StoreError::NotEmpty {
            records: held.unsigned_abs(),
        });
    }
    let mut report = ImportReport::default();
    for state in &document.records {
        clock.observe(state.hlc);
        pull::write_record(conn, OwnerVersion(0), state)?;
        report.records += 1;
        if queue_for_sync && let Some(body) = state.content().ok().flatten() {
            let record = Record {
                id: state.id,
                created_at: state.created_at,
                updated_at: state.updated_at,
                hlc: state.hlc,
                body,
            };
            let json = super::body_json(&record.body)?;
            outbox::queue_upsert(conn, &record, &json, None, None)?;
            report.queued += 1;
        }
    }
    for revision in &document.revisions {
        clock.observe(revision.hlc);
        if pull::keep_revision(conn, OwnerVersion(0), revision)? {
            report.revisions += 1;
        }
    }
    for comment in &document.comments {
        comments::apply(conn, comment)?;
        report.comments += 1;
    }
    Ok(report)
}
