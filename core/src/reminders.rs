//! When to remind: the next moment the app should schedule a local
//! notification, at one of the patient's reminder times, outside their
//! quiet hours, in their time zone — and only when something will be due
//! then.
//!
//! Local times are turned into instants with the IANA time-zone database
//! bundled into the library ([`crate::zone`]), so a reminder at 08:00 stays at 08:00 on the wall clock
//! across daylight-saving changes. A reminder time that does not exist on
//! the night the clocks go forward (02:30 in Europe/Berlin on the last
//! Sunday of March) fires when the clocks land (03:00); one that happens
//! twice when they go back fires the first time.

use chrono::{DateTime, Days, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validation::InvalidInput;
use crate::zone::Zone;

/// How far ahead a reminder is looked for.
pub const HORIZON_DAYS: u64 = 60;

/// The most reminder times a day.
pub const MAX_TIMES: usize = 12;

/// A stretch of the day without notifications, e.g. 22:00 to 07:00 (it
/// may span midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHours {
    /// When the quiet begins (local time).
    pub start: NaiveTime,
    /// When it ends (local time).
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether the local time `time` falls in the quiet hours.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

/// When the patient wants to be reminded.
///
/// Rules: 1–12 distinct reminder times; quiet hours, when set, do not start
/// and end at the same minute; the time zone is an IANA name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSettings {
    /// Local times of day at which a reminder may be shown.
    pub times: Vec<NaiveTime>,
    /// No reminder in these hours.
    pub quiet_hours: Option<QuietHours>,
    /// The patient's time zone.
    pub time_zone: Zone,
}

impl ReminderSettings {
    /// Settings from their parts as an app holds them: times as `HH:MM`, a
    /// time-zone name; every broken rule reported together.
    pub fn parse(
        times: &[String],
        quiet: Option<(&str, &str)>,
        time_zone: &str,
    ) -> Result<Self, InvalidInput> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        let read = |text: &str| NaiveTime::parse_from_str(text.trim(), "%H:%M").ok();
        if times.is_empty() || times.len() > MAX_TIMES {
            problems.push(
                "times",
                "length",
                format!("give from 1 to {MAX_TIMES} reminder times"),
            );
        }
        let mut parsed = Vec::new();
        for (i, text) in times.iter().enumerate() {
            match read(text) {
                Some(time) if parsed.contains(&time) => {
                    problems.push(format!("times[{i}]"), "unique", "is listed twice");
                }
                Some(time) => parsed.push(time),
                None => problems.push(
                    format!("times[{i}]"),
                    "time",
                    "must be a time of day as HH:MM, e.g. 08:30",
                ),
            }
        }
        parsed.sort();
        let quiet_hours = match quiet {
            None => None,
            Some((start, end)) => match (read(start), read(end)) {
                (Some(start), Some(end)) if start != end => Some(QuietHours { start, end }),
                (Some(_), Some(_)) => {
                    problems.push(
                        "quietHours",
                        "range",
                        "must not start and end at the same time",
                    );
                    None
                }
                _ => {
                    problems.push(
                        "quietHours",
                        "time",
                        "start and end must be times of day as HH:MM",
                    );
                    None
                }
            },
        };
        let zone = time_zone.parse::<Zone>().ok();
        if zone.is_none() {
            problems.push(
                "timeZone",
                "time_zone",
                format!("{time_zone:?} is not a time zone name such as Europe/Berlin"),
            );
        }
        match zone {
            Some(time_zone) if problems.violations.is_empty() => Ok(Self {
                times: parsed,
                quiet_hours,
                time_zone,
            }),
            _ => Err(problems),
        }
    }

    /// Whether `at` falls in the quiet hours, on the local clock.
    pub fn is_quiet(&self, at: DateTime<Utc>) -> bool {
        self.quiet_hours
            .is_some_and(|quiet| quiet.contains(self.time_zone.time_of(at)))
    }
}

/// The next reminder after `after`: the first of the patient's reminder
/// times, on the local clock, that is not in the quiet hours and at which
/// `due_at(t)` says something is due. `None` when nothing is due at any
/// reminder time in the next [`HORIZON_DAYS`] days.
pub fn next_reminder_at(
    settings: &ReminderSettings,
    after: DateTime<Utc>,
    due_at: impl Fn(DateTime<Utc>) -> bool,
) -> Option<DateTime<Utc>> {
    let zone = &settings.time_zone;
    let first = zone.date_of(after);
    for offset in 0..=HORIZON_DAYS {
        let date = first.checked_add_days(Days::new(offset))?;
        let mut instants: Vec<DateTime<Utc>> = settings
            .times
            .iter()
            .map(|time| zone.instant(date, *time))
            .collect();
        instants.sort();
        instants.dedup();
        for at in instants {
            if at > after && !settings.is_quiet(at) && due_at(at) {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn settings(times: &[&str], quiet: Option<(&str, &str)>, zone: &str) -> ReminderSettings {
        let times: Vec<String> = times.iter().map(|t| (*t).to_owned()).collect();
        ReminderSettings::parse(&times, quiet, zone).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn reminders_keep_their_wall_clock_time_across_daylight_saving() {
        let berlin = settings(&["08:00"], None, "Europe/Berlin");
        // Saturday 28 March 2026, 08:00 CET is 07:00 UTC; on Sunday 29 March
        // the clocks go forward, and 08:00 CEST is 06:00 UTC.
        let saturday = next_reminder_at(&berlin, utc("2026-03-28T00:00:00Z"), |_| true);
        assert_eq!(saturday, Some(utc("2026-03-28T07:00:00Z")));
        let sunday = next_reminder_at(&berlin, utc("2026-03-28T07:00:00Z"), |_| true);
        assert_eq!(sunday, Some(utc("2026-03-29T06:00:00Z")));
        // And back in October: 08:00 CET again is 07:00 UTC.
        let october = next_reminder_at(&berlin, utc("2026-10-25T00:30:00Z"), |_| true);
        assert_eq!(october, Some(utc("2026-10-25T07:00:00Z")));
    }

    #[test]
    fn a_time_the_clocks_skip_fires_when_they_land_and_a_doubled_one_once() {
        let tz: Zone = "Europe/Berlin".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let skipped = tz.instant(date, NaiveTime::from_hms_opt(2, 30, 0).unwrap());
        assert_eq!(skipped, utc("2026-03-29T01:00:00Z"), "03:00 CEST");
        let back = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        let twice = tz.instant(back, NaiveTime::from_hms_opt(2, 30, 0).unwrap());
        assert_eq!(
            twice,
            utc("2026-10-25T00:30:00Z"),
            "the first 02:30, still CEST"
        );
    }

    #[test]
    fn quiet_hours_spanning_midnight_hold_reminders_back() {
        let night = settings(
            &["06:30", "12:00", "23:00"],
            Some(("22:00", "07:00")),
            "UTC",
        );
        assert!(night.is_quiet(utc("2026-05-01T23:00:00Z")));
        assert!(night.is_quiet(utc("2026-05-02T06:30:00Z")));
        assert!(!night.is_quiet(utc("2026-05-02T07:00:00Z")));
        let next = next_reminder_at(&night, utc("2026-05-01T12:00:00Z"), |_| true);
        assert_eq!(
            next,
            Some(utc("2026-05-02T12:00:00Z")),
            "23:00 and 06:30 are quiet"
        );
        let day = QuietHours {
            start: NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
        };
        assert!(day.contains(NaiveTime::from_hms_opt(13, 30, 0).unwrap()));
        assert!(!day.contains(NaiveTime::from_hms_opt(14, 0, 0).unwrap()));
    }

    #[test]
    fn only_a_time_when_something_is_due_and_none_when_nothing_ever_is() {
        let s = settings(&["09:00", "19:00"], None, "America/New_York");
        // Due from 2026-06-03T20:00Z (16:00 in New York): the 19:00 reminder
        // that day, 23:00 UTC.
        let due_from = utc("2026-06-03T20:00:00Z");
        let next = next_reminder_at(&s, utc("2026-06-01T00:00:00Z"), |t| t >= due_from);
        assert_eq!(next, Some(utc("2026-06-03T23:00:00Z")));
        assert_eq!(
            next_reminder_at(&s, utc("2026-06-01T00:00:00Z"), |_| false),
            None
        );
    }

    #[test]
    fn settings_refuse_what_cannot_be_a_reminder() {
        let bad = ReminderSettings::parse(
            &["25:00".to_owned(), "08:00".to_owned(), "08:00".to_owned()],
            Some(("22:00", "22:00")),
            "Mars/Olympus",
        )
        .unwrap_err();
        for (field, rule) in [
            ("times[0]", "time"),
            ("times[2]", "unique"),
            ("quietHours", "range"),
            ("timeZone", "time_zone"),
        ] {
            assert!(bad.has(field, rule), "{field} {rule}: {bad}");
        }
        assert!(
            ReminderSettings::parse(&[], None, "UTC")
                .unwrap_err()
                .has("times", "length")
        );
    }
}
