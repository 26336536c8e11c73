//! Listing records: filters, newest-first order and keyset pagination.
//!
//! Pages are cut by a cursor (the last record's time and id) rather than an
//! offset, so a page never repeats or skips a record when new ones are
//! written while the patient scrolls, and page 500 costs what page 1 does.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::schema::records;
use super::{RecordRow, StoreError, micros_to_time, time_to_micros};
use crate::ids::RecordId;
use crate::phase::Phase;
use crate::records::{Record, RecordKind};
use crate::validation::{FieldViolation, InvalidInput};

/// The most records one page may hold.
pub const MAX_PAGE_SIZE: u32 = 200;
/// The page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// What to list. Every filter is optional; records come newest first (by
/// the moment they are about: a check-in's time, a session's start, an
/// entry's creation).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ListQuery {
    /// Only records of these kinds (empty: every kind).
    pub kinds: Vec<RecordKind>,
    /// Only journal entries of this phase.
    pub phase: Option<Phase>,
    /// Only records about this moment or later.
    pub from: Option<DateTime<Utc>>,
    /// Only records about a moment before this one.
    pub to: Option<DateTime<Utc>>,
    /// Only the session itself and the intentions and entries linked to it.
    pub dosing_session_id: Option<RecordId>,
    /// Page size, 1–200; 50 when absent.
    pub limit: Option<u32>,
    /// Where the previous page ended ([`RecordPage::next_cursor`]).
    pub cursor: Option<ListCursor>,
}

impl ListQuery {
    /// A query for every live record, first page.
    pub fn all() -> Self {
        Self::default()
    }

    /// A query for one kind, first page.
    pub fn of_kind(kind: RecordKind) -> Self {
        Self {
            kinds: vec![kind],
            ..Self::default()
        }
    }

    /// The page size to use.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_PAGE_SIZE)
    }

    /// Checks the limit and that the date range is not reversed.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut problems = Vec::new();
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size()) {
            problems.push(FieldViolation {
                field: "limit".to_owned(),
                rule: "range".to_owned(),
                message: format!("must be between 1 and {MAX_PAGE_SIZE}"),
            });
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to <= from
        {
            problems.push(FieldViolation {
                field: "to".to_owned(),
                rule: "after_from".to_owned(),
                message: "must be later than from".to_owned(),
            });
        }
        InvalidInput::collect(Ok(()), problems)
    }
}

/// One page of records.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPage {
    /// The records, newest first.
    pub records: Vec<Record>,
    /// Pass this as [`ListQuery::cursor`] for the next page; `None` on the
    /// last page.
    pub next_cursor: Option<ListCursor>,
}

/// Where a page ended. Opaque to apps: pass it back as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListCursor {
    occurred_at: i64,
    id: RecordId,
}

impl ListCursor {
    fn after(record: &Record) -> Self {
        Self {
            occurred_at: time_to_micros(record.occurred_at()),
            id: record.id,
        }
    }
}

impl fmt::Display for ListCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}", self.occurred_at, self.id)
    }
}

/// The error of reading a cursor that no page handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a list cursor: {0:?}")]
pub struct BadCursor(pub String);

impl FromStr for ListCursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor(s.to_owned());
        let (micros, id) = s.split_once('~').ok_or_else(bad)?;
        let occurred_at: i64 = micros.parse().map_err(|_| bad())?;
        // Reject cursors no real page could have produced.
        micros_to_time(occurred_at).map_err(|_| bad())?;
        Ok(Self {
            occurred_at,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for ListCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

pub(super) fn run(
    conn: &mut SqliteConnection,
    query: &ListQuery,
) -> Result<RecordPage, StoreError> {
    let limit = query.page_size();
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
        let id = cursor.id.to_string();
        sql = sql.filter(
            records::occurred_at
                .lt(cursor.occurred_at)
                .or(records::occurred_at
                    .eq(cursor.occurred_at)
                    .and(records::id.lt(id))),
        );
    }
    let mut rows: Vec<RecordRow> = sql
        .order((records::occurred_at.desc(), records::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let records = rows
        .into_iter()
        .map(RecordRow::into_record)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if has_more {
        records.last().map(ListCursor::after)
    } else {
        None
    };
    Ok(RecordPage {
        records,
        next_cursor,
    })
}
