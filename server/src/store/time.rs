//! Time as the tables keep it: microseconds since the Unix epoch, in one
//! `BIGINT` column on both backends. The one place that turns it into a
//! [`DateTime`] and back, and the keyset cursor of lists ordered by time.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::StoreError;

/// Now, in microseconds since the Unix epoch: how every timestamp is stored.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// A stored time as a [`DateTime`]; one outside chrono's range is a
/// corrupt row.
pub fn micros_to_time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Internal(format!("timestamp {micros} is out of range")))
}

/// Now, at the microsecond precision timestamps are stored with, so what a
/// write answers is what a later read returns.
pub fn now_time() -> Result<DateTime<Utc>, StoreError> {
    micros_to_time(now_micros())
}

/// Where a page of a newest-first list of rows ended: the last row's time
/// (microseconds) and id. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    /// The last row's time, in microseconds since the Unix epoch.
    pub at: i64,
    /// The last row's id.
    pub id: Uuid,
}

impl fmt::Display for TimeCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}", self.at, self.id)
    }
}

/// The error of reading a cursor no page handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a page cursor: {0:?}")]
pub struct BadTimeCursor(pub String);

impl FromStr for TimeCursor {
    type Err = BadTimeCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTimeCursor(s.to_owned());
        let (at, id) = s.split_once('~').ok_or_else(bad)?;
        let at: i64 = at.parse().map_err(|_| bad())?;
        DateTime::<Utc>::from_timestamp_micros(at).ok_or_else(bad)?;
        Ok(Self {
            at,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        })
    }
}

impl Serialize for TimeCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Cuts rows read newest first, one past the page, into the page and the
/// cursor after its last row (when more follow).
pub(crate) fn cut_by_time<R>(
    mut rows: Vec<R>,
    limit: u32,
    key: impl Fn(&R) -> (i64, &str),
) -> Result<(Vec<R>, Option<TimeCursor>), StoreError> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some(last) if has_more => {
            let (at, id) = key(last);
            Some(TimeCursor {
                at,
                id: Uuid::parse_str(id)
                    .map_err(|_| StoreError::Internal(format!("row id {id:?} is not a UUID")))?,
            })
        }
        _ => None,
    };
    Ok((rows, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = TimeCursor {
            at: 1_767_225_600_000_000,
            id: Uuid::now_v7(),
        };
        assert_eq!(cursor.to_string().parse::<TimeCursor>(), Ok(cursor));
        for bad in ["", "12", "x~0190b1c2-0000-7000-8000-000000000000", "1~nope"] {
            assert!(bad.parse::<TimeCursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_page_cut_by_time_points_after_its_last_row() {
        let id = Uuid::now_v7().to_string();
        let rows = vec![(3, id.clone()), (2, id.clone()), (1, id.clone())];
        let (page, next) = cut_by_time(rows.clone(), 2, |r| (r.0, r.1.as_str())).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(next.map(|c| c.at), Some(2));
        let (page, next) = cut_by_time(rows, 3, |r| (r.0, r.1.as_str())).unwrap();
        assert_eq!((page.len(), next), (3, None));
    }
}
