//! When things can have happened: the window of plausible moments, one
//! definition for the phone and the server, so a check-in dated
//! `0001-01-01` or `9999-12-31` (or two days ahead) is refused by both.
//!
//! - Nothing a patient records happened before [`earliest`] (1900).
//! - What happened — a check-in, a questionnaire, a practice — cannot be
//!   later than now, give or take [`CLOCK_SKEW_MINUTES`]: the allowance for
//!   a device's clock running ahead of the server's (phones keep time by
//!   the network; a quarter of an hour covers a clock set by hand).
//! - A dosing session may be scheduled ahead, up to
//!   [`SCHEDULE_AHEAD_DAYS`] (a course of treatment is planned in weeks,
//!   not decades).
//!
//! "Now" is the checking side's clock: the phone's when it saves, the
//! server's when a record arrives.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::hlc::Hlc;
use crate::records::RecordBody;
use crate::validation::{FieldViolation, InvalidInput};

/// How far ahead of the checking side's clock a moment that happened may
/// lie: a device's clock running fast.
pub const CLOCK_SKEW_MINUTES: i64 = 15;

/// How far ahead a dosing session may be scheduled.
pub const SCHEDULE_AHEAD_DAYS: i64 = 5 * 366;

/// The earliest plausible moment: 1900-01-01T00:00:00Z.
pub fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The latest moment something that happened may carry, seen at `now`.
pub fn latest_past(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_add_signed(TimeDelta::minutes(CLOCK_SKEW_MINUTES))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The latest clock stamp a change may carry, seen at `now`: the same
/// allowance as for what happened ([`CLOCK_SKEW_MINUTES`]). A change
/// stamped later was made on a device whose clock runs ahead; adopting its
/// stamp would drag every device's clock (which never goes back) along
/// with it, so the server refuses it and the device corrects its clock
/// and stamps the change again (`docs/sync.md`, "Clocks that run ahead").
pub fn latest_stamp(now: DateTime<Utc>) -> Hlc {
    let millis = u64::try_from(latest_past(now).timestamp_millis()).unwrap_or(0);
    Hlc::new(millis, u16::MAX)
}

/// Whether a change stamped `stamp` is plausible at `now` (not later than
/// [`latest_stamp`]).
pub fn stamp_is_plausible(stamp: Hlc, now: DateTime<Utc>) -> bool {
    stamp <= latest_stamp(now)
}

/// The latest moment a dosing session may be scheduled for, seen at `now`.
pub fn latest_scheduled(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_add_signed(TimeDelta::days(SCHEDULE_AHEAD_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn outside(
    field: &str,
    at: DateTime<Utc>,
    latest: DateTime<Utc>,
    what: &str,
) -> Option<FieldViolation> {
    let earliest = earliest();
    if at < earliest {
        return Some(FieldViolation {
            field: field.to_owned(),
            rule: "plausible_time".to_owned(),
            message: format!("must not be before {}", earliest.format("%Y-%m-%d")),
        });
    }
    (at > latest).then(|| FieldViolation {
        field: field.to_owned(),
        rule: "plausible_time".to_owned(),
        message: format!("must not be later than {what}"),
    })
}

impl RecordBody {
    /// Checks that the moments the content carries are plausible at `now`
    /// (see the module): what happened not before 1900 nor later than now
    /// plus the clock allowance, a dosing session not scheduled more than
    /// [`SCHEDULE_AHEAD_DAYS`] ahead. Kinds without a moment always pass.
    pub fn check_plausible(&self, now: DateTime<Utc>) -> Result<(), InvalidInput> {
        let allowance =
            format!("now (a device's clock may run up to {CLOCK_SKEW_MINUTES} minutes fast)");
        let violation = match self {
            RecordBody::MoodCheckIn(r) => {
                outside("recordedAt", r.recorded_at, latest_past(now), &allowance)
            }
            RecordBody::Assessment(r) => {
                outside("takenAt", r.taken_at, latest_past(now), &allowance)
            }
            RecordBody::ExercisePractice(r) => {
                outside("practicedAt", r.practiced_at, latest_past(now), &allowance)
            }
            RecordBody::DosingSession(r) => outside(
                "scheduledAt",
                r.scheduled_at,
                latest_scheduled(now),
                &format!("{SCHEDULE_AHEAD_DAYS} days from now"),
            ),
            RecordBody::Commitment(r) => outside(
                "followUpOn",
                r.follow_up_on.and_time(chrono::NaiveTime::MIN).and_utc(),
                latest_scheduled(now),
                &format!("{SCHEDULE_AHEAD_DAYS} days from now"),
            ),
            RecordBody::JournalEntry(_)
            | RecordBody::Intention(_)
            | RecordBody::Share(_)
            | RecordBody::CarePlan(_) => None,
        };
        match violation {
            None => Ok(()),
            Some(v) => Err(InvalidInput {
                violations: vec![v],
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Assessment, DosingSession, Instrument, MoodCheckIn, Route};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn check_in(recorded_at: DateTime<Utc>) -> RecordBody {
        MoodCheckIn::new(recorded_at, 5, 5, 5).unwrap().into()
    }

    #[test]
    fn a_stamp_may_run_ahead_of_now_by_the_allowance_and_no_more() {
        let now = at("2026-12-02T12:00:00Z");
        let millis = |t: &str| u64::try_from(at(t).timestamp_millis()).unwrap();
        for ok in [
            Hlc::new(millis("2026-12-02T12:00:00Z"), 0),
            Hlc::new(millis("2026-12-02T12:15:00Z"), u16::MAX),
            Hlc::new(millis("1970-01-01T00:00:00Z"), 0),
        ] {
            assert!(stamp_is_plausible(ok, now), "{ok}");
        }
        for ahead in [
            Hlc::new(millis("2026-12-02T12:15:00.001Z"), 0),
            Hlc::new(millis("2026-12-04T12:00:00Z"), 0),
            Hlc::new(millis("6000-01-01T00:00:00Z"), 0),
            Hlc::MAX,
        ] {
            assert!(!stamp_is_plausible(ahead, now), "{ahead}");
        }
    }

    #[test]
    fn what_happened_lies_between_1900_and_now_plus_the_allowance() {
        let now = at("2026-12-02T12:00:00Z");
        for ok in [
            "1900-01-01T00:00:00Z",
            "2026-12-02T12:00:00Z",
            "2026-12-02T12:15:00Z",
        ] {
            assert_eq!(check_in(at(ok)).check_plausible(now), Ok(()), "{ok}");
        }
        for bad in [
            "0001-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "2026-12-02T12:15:01Z",
            "2026-12-04T12:00:00Z",
            "3000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let err = check_in(at(bad)).check_plausible(now).unwrap_err();
            assert!(err.has("recordedAt", "plausible_time"), "{bad}: {err:?}");
        }
        let questionnaire: RecordBody =
            Assessment::new(Instrument::Gad7, at("3000-01-01T00:00:00Z"), vec![0; 7])
                .unwrap()
                .into();
        assert!(
            questionnaire
                .check_plausible(now)
                .unwrap_err()
                .has("takenAt", "plausible_time")
        );
    }

    #[test]
    fn a_dosing_session_may_be_scheduled_ahead_but_not_for_ever() {
        let now = at("2026-12-02T12:00:00Z");
        let session = |when: &str| -> RecordBody {
            DosingSession::new(at(when), Route::Lozenge).unwrap().into()
        };
        assert_eq!(session("2027-01-15T10:00:00Z").check_plausible(now), Ok(()));
        let far = session("2040-01-01T10:00:00Z")
            .check_plausible(now)
            .unwrap_err();
        assert!(far.has("scheduledAt", "plausible_time"), "{far:?}");
        assert!(
            session("1800-01-01T10:00:00Z")
                .check_plausible(now)
                .is_err()
        );
    }

    #[test]
    fn the_edges_never_overflow() {
        assert_eq!(
            latest_past(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            latest_scheduled(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(earliest().format("%Y").to_string(), "1900");
    }
}
