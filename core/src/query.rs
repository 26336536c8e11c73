//! What a list of records asks for and what a page of it holds: filters,
//! newest-first order and keyset pagination. Shared by the phone's store
//! and the server, so both page the same way and accept the same cursors.
//!
//! Pages are cut by a cursor (the last record's time and id) rather than an
//! offset, so a page never repeats or skips a record when new ones are
//! written while the patient scrolls, and page 500 costs what page 1 does.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

    /// How many rows to read for one page: the page size plus one, the
    /// extra row telling whether more follow (see [`RecordPage::cut`]).
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.page_size()) + 1
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordPage {
    /// The records, newest first.
    pub records: Vec<Record>,
    /// Pass this as [`ListQuery::cursor`] for the next page; `None` (JSON
    /// `null`) on the last page.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next_cursor: Option<ListCursor>,
}

impl RecordPage {
    /// Cuts the rows a store read for `query` — newest first, at most
    /// [`ListQuery::fetch_limit`] of them — into a page: the first
    /// [`ListQuery::page_size`] rows, decoded into records, and, when a row
    /// beyond them was read, the cursor after the last record kept.
    ///
    /// Only the rows kept are decoded; the first error of `decode` is
    /// returned as it is.
    pub fn cut<R, E>(
        mut rows: Vec<R>,
        query: &ListQuery,
        decode: impl FnMut(R) -> Result<Record, E>,
    ) -> Result<Self, E> {
        let limit = usize::try_from(query.page_size()).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let records = rows
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if has_more {
            records.last().map(ListCursor::after)
        } else {
            None
        };
        Ok(Self {
            records,
            next_cursor,
        })
    }
}

/// Where a page ended. Opaque to apps: pass it back as it is.
///
/// Written as `<microseconds>~<record id>`: the moment the page's last record
/// is about and its id, the two keys lists are ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListCursor {
    occurred_at: i64,
    id: RecordId,
}

impl ListCursor {
    /// The cursor of a page that ends with `record`: the next page starts
    /// with the record listed right after it.
    pub fn after(record: &Record) -> Self {
        Self {
            occurred_at: record.occurred_at().timestamp_micros(),
            id: record.id,
        }
    }

    /// The moment the last record of the page is about, in microseconds
    /// since the Unix epoch (what stores keep in their `occurred_at`
    /// column).
    pub fn occurred_at_micros(&self) -> i64 {
        self.occurred_at
    }

    /// The id of the last record of the page.
    pub fn id(&self) -> RecordId {
        self.id
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
        DateTime::<Utc>::from_timestamp_micros(occurred_at).ok_or_else(bad)?;
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::hlc::Hlc;
    use crate::records::MoodCheckIn;

    #[test]
    fn cursors_round_trip_and_point_after_their_record() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let record = Record {
            id: RecordId::new(),
            created_at: at,
            updated_at: at,
            hlc: Hlc::ZERO,
            body: MoodCheckIn::new(at, 5, 5, 5).unwrap().into(),
        };
        let cursor = ListCursor::after(&record);
        assert_eq!(cursor.occurred_at_micros(), at.timestamp_micros());
        assert_eq!(cursor.id(), record.id);
        assert_eq!(cursor.to_string().parse::<ListCursor>(), Ok(cursor));
        let json = serde_json::to_string(&cursor).unwrap();
        assert_eq!(serde_json::from_str::<ListCursor>(&json).unwrap(), cursor);
    }

    fn mood_at(minute: u32) -> Record {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, minute, 0).unwrap();
        Record {
            id: RecordId::new(),
            created_at: at,
            updated_at: at,
            hlc: Hlc::ZERO,
            body: MoodCheckIn::new(at, 5, 5, 5).unwrap().into(),
        }
    }

    fn page_of(limit: u32) -> ListQuery {
        ListQuery {
            limit: Some(limit),
            ..ListQuery::all()
        }
    }

    /// `n` rows newest first, as a store reads them.
    fn rows(n: u32) -> Vec<Record> {
        (0..n).rev().map(mood_at).collect()
    }

    fn cut(rows: Vec<Record>, query: &ListQuery) -> RecordPage {
        RecordPage::cut(rows, query, Ok::<_, ()>).unwrap()
    }

    #[test]
    fn one_row_more_than_the_page_is_read() {
        assert_eq!(page_of(3).fetch_limit(), 4);
        assert_eq!(ListQuery::all().fetch_limit(), 51);
        assert_eq!(page_of(MAX_PAGE_SIZE).fetch_limit(), 201);
    }

    #[test]
    fn a_short_page_is_the_last() {
        let read = rows(2);
        let page = cut(read.clone(), &page_of(3));
        assert_eq!(page.records, read);
        assert_eq!(page.next_cursor, None);
        assert_eq!(
            cut(Vec::new(), &page_of(3)),
            RecordPage {
                records: Vec::new(),
                next_cursor: None,
            }
        );
    }

    #[test]
    fn a_full_page_without_an_extra_row_is_the_last() {
        let read = rows(3);
        let page = cut(read.clone(), &page_of(3));
        assert_eq!(page.records, read);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn the_extra_row_is_dropped_and_the_cursor_follows_the_last_kept() {
        let read = rows(4);
        let page = cut(read.clone(), &page_of(3));
        assert_eq!(page.records, read[..3]);
        assert_eq!(page.next_cursor, Some(ListCursor::after(&read[2])));
    }

    #[test]
    fn only_kept_rows_are_decoded_and_errors_pass_through() {
        // Rows of the caller's own type: here, indexes into `read`.
        let read = rows(4);
        let mut decoded = Vec::new();
        let page = RecordPage::cut(vec![0, 1, 2, 3], &page_of(3), |i: usize| {
            decoded.push(i);
            Ok::<_, String>(read[i].clone())
        })
        .unwrap();
        assert_eq!(decoded, [0, 1, 2]);
        assert_eq!(page.records, read[..3]);
        assert_eq!(page.next_cursor, Some(ListCursor::after(&read[2])));

        let failed = RecordPage::cut(vec![0, 1, 2, 3], &page_of(3), |i: usize| {
            if i == 1 {
                Err(format!("row {i} is unreadable"))
            } else {
                Ok(read[i].clone())
            }
        });
        assert_eq!(failed, Err("row 1 is unreadable".to_owned()));
        // The extra row is never decoded, so its being unreadable is no error.
        let page = RecordPage::cut(vec![0, 1, 2, 3], &page_of(3), |i: usize| {
            if i == 3 {
                Err("the extra row".to_owned())
            } else {
                Ok(read[i].clone())
            }
        });
        assert!(page.is_ok());
    }

    #[test]
    fn queries_are_checked() {
        for (limit, ok) in [(0, false), (1, true), (200, true), (201, false)] {
            let q = ListQuery {
                limit: Some(limit),
                ..ListQuery::all()
            };
            assert_eq!(q.validate().is_ok(), ok, "{limit}");
        }
        assert_eq!(ListQuery::all().page_size(), DEFAULT_PAGE_SIZE);
        for bad in [
            "",
            "abc",
            "12~not-a-uuid",
            "x~0190b1c2-0000-7000-8000-000000000000",
        ] {
            assert!(bad.parse::<ListCursor>().is_err(), "{bad}");
        }
    }
}
