//! Adherence: of what a care plan made due in a period, how much was done —
//! questionnaires, integration follow-ups and check-ins — counted by the
//! agenda's own rules ([`crate::agenda::occurrences`]), so what the
//! therapist's side counts as missed is exactly what the patient's agenda
//! showed as due.
//!
//! Each occurrence that became due in the period counts once: done, missed
//! (its window has passed), or still open (it may yet be done; a
//! questionnaire due every N days stays open until it is due again).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::agenda::{self, Due, History, PlanInForce};
use crate::zone::Zone;

/// The period adherence is reported over, ending now: the last 30 days
/// (or since the plan began, if later).
pub const PERIOD: TimeDelta = TimeDelta::days(30);

/// How many of one kind of task became due, and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Became due in the period.
    pub due: u32,
    /// Of those, done.
    pub done: u32,
    /// Of those, not done but still open (they may yet be done).
    pub open: u32,
}

impl Tally {
    /// Done of due, 0–1; `None` when nothing was due.
    pub fn rate(&self) -> Option<f64> {
        (self.due > 0).then(|| f64::from(self.done) / f64::from(self.due))
    }

    /// Due and not done, with the window passed.
    pub fn missed(&self) -> u32 {
        self.due.saturating_sub(self.done).saturating_sub(self.open)
    }

    fn count(&mut self, done: bool, open: bool) {
        self.due += 1;
        if done {
            self.done += 1;
        } else if open {
            self.open += 1;
        }
    }
}

/// Adherence to a plan over `[from, to]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adherence {
    /// Questionnaires the plan asked for.
    pub questionnaires: Tally,
    /// Integration follow-ups after dosing sessions.
    pub follow_ups: Tally,
    /// Check-ins.
    pub check_ins: Tally,
}

/// What became due under `plan` in `[from, to]` and what was done, as at
/// `to`. (Intentions, reflections and commitments are the patient's own
/// and not counted.)
pub fn adherence(
    plan: PlanInForce<'_>,
    history: &History,
    tz: &Zone,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Adherence {
    let mut found = Adherence::default();
    // Occurrences are generated from the plan's start: a chain of "every N
    // days" needs its history to place the ones in the period.
    let start = from.min(plan.since);
    for occurrence in agenda::occurrences(Some(plan), history, tz, start, to) {
        if occurrence.due_at < from || occurrence.due_at > to {
            continue;
        }
        let open = occurrence.is_open_at(to);
        let tally = match occurrence.due {
            Due::Questionnaire { .. } => &mut found.questionnaires,
            Due::FollowUp { .. } => &mut found.follow_ups,
            Due::CheckIn { .. } => &mut found.check_ins,
            Due::Intention | Due::Reflection { .. } | Due::Commitment { .. } => continue,
        };
        tally.count(occurrence.done, open);
    }
    found
}

/// The period adherence is reported over at `now` for a plan in force
/// since `since`: the last [`PERIOD`], or since the plan began if later.
pub fn period(since: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    ((now - PERIOD).max(since), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agenda::{EntryFact, SessionFact};
    use crate::ids::RecordId;
    use crate::phase::Phase;
    use crate::plan::CarePlan;
    use crate::records::{Instrument, SessionStatus};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn plan(json: &str) -> CarePlan {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn done_missed_and_open_are_counted_by_the_agendas_rules() {
        let plan = plan(
            r#"{"measures": [{"instrument": "phq9", "everyDays": 7}],
                "followUps": {"days": [1, 3]}, "checkIns": "daily"}"#,
        );
        let since = at("2026-03-01T00:00:00Z");
        let now = at("2026-03-10T12:00:00Z");
        let session = RecordId::new();
        let history = History {
            sessions: vec![SessionFact {
                id: session,
                at: at("2026-03-02T10:00:00Z"),
                status: SessionStatus::Completed,
            }],
            // The first PHQ-9 taken, the second (due 8 March) not yet.
            assessments: vec![(Instrument::Phq9, at("2026-03-01T09:00:00Z"))],
            // The day-1 follow-up answered, the day-3 one not.
            entries: vec![EntryFact {
                at: at("2026-03-03T18:00:00Z"),
                phase: Phase::Integration,
                session: Some(session),
            }],
            // Check-ins on five of the ten days.
            check_ins: (1..=5)
                .map(|d| at(&format!("2026-03-0{d}T20:00:00Z")))
                .collect(),
            ..History::default()
        };
        let (from, to) = period(since, now);
        assert_eq!(from, since, "the plan is younger than the period");
        let found = adherence(
            PlanInForce { plan: &plan, since },
            &history,
            &Zone::utc(),
            from,
            to,
        );
        assert_eq!(
            found.questionnaires,
            Tally {
                due: 2,
                done: 1,
                open: 1
            }
        );
        assert_eq!(found.questionnaires.missed(), 0);
        assert_eq!(found.follow_ups.due, 2);
        assert_eq!(found.follow_ups.done, 1);
        // Ten days, five done, today's still open, four missed.
        assert_eq!(
            found.check_ins,
            Tally {
                due: 10,
                done: 5,
                open: 1
            }
        );
        assert_eq!(found.check_ins.missed(), 4);
        assert_eq!(found.check_ins.rate(), Some(0.5));
    }

    #[test]
    fn nothing_due_before_the_plan_or_outside_the_period() {
        let plan = plan(r#"{"checkIns": "daily"}"#);
        let since = at("2026-01-01T00:00:00Z");
        let now = at("2026-03-01T00:00:00Z");
        let (from, to) = period(since, now);
        assert_eq!(from, now - PERIOD);
        let found = adherence(
            PlanInForce { plan: &plan, since },
            &History::default(),
            &Zone::utc(),
            from,
            to,
        );
        // 30 days of check-ins (and the one starting at `to`, still open).
        assert_eq!(found.check_ins.due, 31);
        assert_eq!(found.check_ins.done, 0);
        assert_eq!(found.check_ins.open, 1);
        assert_eq!(found.questionnaires, Tally::default());
        assert_eq!(found.questionnaires.rate(), None);
        // A plan with nothing in it asks nothing.
        let empty = CarePlan::default();
        assert_eq!(
            adherence(
                PlanInForce {
                    plan: &empty,
                    since
                },
                &History::default(),
                &Zone::utc(),
                from,
                to
            ),
            Adherence::default()
        );
    }
}
