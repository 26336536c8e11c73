//! Time zones: local days and local times of day for the agenda, insights
//! and reminders, from the IANA time-zone database bundled into the
//! library (jiff's compact copy), so they are right on any phone whatever
//! zone files its platform has, across daylight-saving changes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// A time zone of the IANA database, e.g. `Europe/Berlin`.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

/// A name that is no time zone of the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time zone name such as Europe/Berlin")]
pub struct UnknownZone(pub String);

impl FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let tz = TimeZone::get(name).map_err(|_| UnknownZone(name.to_owned()))?;
        Ok(Self {
            name: tz.iana_name().unwrap_or(name).to_owned(),
            tz,
        })
    }
}

fn timestamp(at: DateTime<Utc>) -> jiff::Timestamp {
    jiff::Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos().cast_signed()).unwrap_or(
        if at.timestamp() < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        },
    )
}

fn from_timestamp(ts: jiff::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().cast_unsigned())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Zone {
    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn civil(&self, at: DateTime<Utc>) -> jiff::civil::DateTime {
        self.tz.to_datetime(timestamp(at))
    }

    /// The local date at `at`.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        let civil = self.civil(at);
        NaiveDate::from_ymd_opt(
            i32::from(civil.year()),
            u32::from(civil.month().cast_unsigned()),
            u32::from(civil.day().cast_unsigned()),
        )
        .unwrap_or(at.date_naive())
    }

    /// The local time of day at `at`.
    pub fn time_of(&self, at: DateTime<Utc>) -> NaiveTime {
        let civil = self.civil(at);
        NaiveTime::from_hms_nano_opt(
            u32::from(civil.hour().cast_unsigned()),
            u32::from(civil.minute().cast_unsigned()),
            u32::from(civil.second().cast_unsigned()),
            civil.subsec_nanosecond().cast_unsigned(),
        )
        .unwrap_or(at.time())
    }

    /// The instant the local clock shows `time` on `date`. In a
    /// daylight-saving gap, the instant the clocks land after it; when the
    /// time happens twice, the first.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let mut local = date.and_time(time);
        // Gaps are at most a few hours: step forward a minute at a time
        // until the clock exists.
        for _ in 0..(24 * 60) {
            if let Some(at) = self.exact(local) {
                return at;
            }
            local += TimeDelta::minutes(1);
            local = local.with_second(0).unwrap_or(local);
        }
        DateTime::from_naive_utc_and_offset(date.and_time(time), Utc)
    }

    /// The instant of a local time that exists (the first when it happens
    /// twice); `None` in a gap.
    fn exact(&self, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).ok()?,
            i8::try_from(local.month()).ok()?,
            i8::try_from(local.day()).ok()?,
            i8::try_from(local.hour()).ok()?,
            i8::try_from(local.minute()).ok()?,
            i8::try_from(local.second()).ok()?,
            i32::try_from(local.nanosecond()).ok()?,
        )
        .ok()?;
        let ambiguous = self.tz.to_ambiguous_timestamp(civil);
        match ambiguous.offset() {
            AmbiguousOffset::Gap { .. } => None,
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
                ambiguous.earlier().ok().map(from_timestamp)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn local_dates_and_times_follow_the_zone_and_its_changes() {
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        assert_eq!(berlin.name(), "Europe/Berlin");
        // 23:30 UTC on 28 March is 00:30 on the 29th in Berlin (CET).
        let at = utc("2026-03-28T23:30:00Z");
        assert_eq!(
            berlin.date_of(at),
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()
        );
        assert_eq!(
            berlin.time_of(at),
            NaiveTime::from_hms_opt(0, 30, 0).unwrap()
        );
        // After the change (CEST), 06:00 UTC is 08:00.
        assert_eq!(
            berlin.time_of(utc("2026-03-29T06:00:00Z")),
            NaiveTime::from_hms_opt(8, 0, 0).unwrap()
        );
        assert!("Mars/Olympus".parse::<Zone>().is_err());
        assert_eq!(
            Zone::utc().date_of(at),
            NaiveDate::from_ymd_opt(2026, 3, 28).unwrap()
        );
    }
}
