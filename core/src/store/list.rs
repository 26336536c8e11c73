//! Listing records on the device: the query of [`crate::query`] run
//! against the local database with keyset pagination.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::schema::records;
use super::{RecordRow, StoreError, time_to_micros};
use crate::query::{ListQuery, RecordPage};

pub(super) fn run(
    conn: &mut SqliteConnection,
    query: &ListQuery,
) -> Result<RecordPage, StoreError> {
    let mut sql = records::table
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .into_boxed();
    if !query.kinds.is_empty() {
        let kinds: Vec<&str> = query.kinds.iter().map(|k| k.as_str()).collect();
        sql = sql.filter(records::kind.eq_any(kinds));
    }
    if let Some(phase) = query.phase {
        sql = sql.filter(records::phase.eq(phase.as_str()));
    }
    if let Some(from) = query.from {
        sql = sql.filter(records::occurred_at.ge(time_to_micros(from)));
    }
    if let Some(to) = query.to {
        sql = sql.filter(records::occurred_at.lt(time_to_micros(to)));
    }
    if let Some(session) = query.dosing_session_id {
        sql = sql.filter(records::dosing_session_id.eq(session.to_string()));
    }
    if let Some(cursor) = query.cursor {
        let id = cursor.id().to_string();
        let occurred_at = cursor.occurred_at_micros();
        sql = sql.filter(
            records::occurred_at
                .lt(occurred_at)
                .or(records::occurred_at.eq(occurred_at).and(records::id.lt(id))),
        );
    }
    let rows: Vec<RecordRow> = sql
        .order((records::occurred_at.desc(), records::id.desc()))
        .limit(query.fetch_limit())
        .load(conn)?;
    RecordPage::cut(rows, query, RecordRow::into_record)
}
