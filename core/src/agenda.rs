//! What is due: the care plan's questionnaires, follow-ups and check-ins,
//! and the intention and reflection around each dosing session, worked
//! out from the plan, the sessions and what the patient has already done.
//!
//! Everything here is arithmetic on facts the caller gathers
//! ([`History::from_records`]); nothing reads a clock or a database, so the
//! phone (offline) and the server (adherence) get the same answers.
//!
//! # The rules
//!
//! - **Every N days**: due when the plan begins, or N days after the
//!   questionnaire was last taken if that is later; taken up to two days
//!   early counts. While it is not taken, it is due again every N days
//!   (the agenda shows the latest; adherence counts each).
//! - **Before each session**: due in the three days before a planned or
//!   completed session, until the session starts.
//! - **Days after each session**: due on that day, counted from the
//!   session's start; taken from a day early until the next such day (or a
//!   week after the last) counts, and it lapses then.
//! - **Integration follow-ups**: like the days after a session, done by an
//!   integration entry (or an entry about that session) written in that
//!   window; each offers a prompt.
//! - **Check-ins**: daily, one per local day; weekly, one per seven local
//!   days from the plan's start. Each lapses at the end of its day or week.
//! - **Intention**: due a week before each planned session, until it
//!   starts, unless one is set for it. Kept whether or not there is a plan.
//! - **Reflection**: due the day after a session whose intention is still
//!   open and unreflected, for 30 days.
//! - **Commitment**: due from the start of its follow-up day until it is
//!   marked kept, changed or dropped.
//! - Cancelled sessions make nothing due; a moved session moves what hangs
//!   on it. Nothing a plan asks is due before the plan began, so a plan
//!   changed mid-course judges only what follows the change.

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::RecordId;
use crate::phase::Phase;
use crate::plan::{CarePlan, CheckInCadence};
use crate::records::{
    CommitmentStatus, Instrument, IntentionStatus, Record, RecordBody, SessionStatus,
};
use crate::zone::Zone;

/// How early a questionnaire due every N days may be taken.
const EVERY_EARLY: TimeDelta = TimeDelta::days(2);
/// How long before a session a questionnaire "before each session" is due.
const BEFORE_SESSION: TimeDelta = TimeDelta::days(3);
/// How early something due on a day after a session may be done.
const AFTER_EARLY: TimeDelta = TimeDelta::days(1);
/// How long the last of the days after a session stays due.
const LAST_AFTER_LASTS: TimeDelta = TimeDelta::days(7);
/// How long before a planned session its intention is due.
const INTENTION_AHEAD: TimeDelta = TimeDelta::days(7);
/// When, after a session, its reflection is due, and for how long.
const REFLECTION_AFTER: TimeDelta = TimeDelta::days(1);
const REFLECTION_LASTS: TimeDelta = TimeDelta::days(30);
/// How long past due an item is called overdue.
const OVERDUE_AFTER: TimeDelta = TimeDelta::days(1);

/// A dosing session, as the agenda needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFact {
    /// The session's record id.
    pub id: RecordId,
    /// When it is (or was) scheduled.
    pub at: DateTime<Utc>,
    /// Planned, completed or cancelled.
    pub status: SessionStatus,
}

/// A journal entry, as the agenda needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFact {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Its phase.
    pub phase: Phase,
    /// The session it is about, if any.
    pub session: Option<RecordId>,
}

/// An intention, as the agenda needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentionFact {
    /// The intention's record id.
    pub id: RecordId,
    /// The session it is for.
    pub session: RecordId,
    /// Whether it has been looked back on (a reflection, or a status other
    /// than open).
    pub reflected: bool,
}

/// A commitment, as the agenda needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentFact {
    /// The commitment's record id.
    pub id: RecordId,
    /// The session it came from.
    pub session: RecordId,
    /// The day to look back on it.
    pub follow_up_on: NaiveDate,
    /// Whether it is still open (not yet kept, changed or dropped).
    pub open: bool,
}

/// What the patient has done and planned, gathered from their records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Dosing sessions.
    pub sessions: Vec<SessionFact>,
    /// Questionnaires taken: which, and when.
    pub assessments: Vec<(Instrument, DateTime<Utc>)>,
    /// Journal entries.
    pub entries: Vec<EntryFact>,
    /// When each check-in was recorded.
    pub check_ins: Vec<DateTime<Utc>>,
    /// Intentions.
    pub intentions: Vec<IntentionFact>,
    /// Commitments.
    pub commitments: Vec<CommitmentFact>,
}

impl History {
    /// The facts of these records (live ones; other kinds are ignored).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut history = Self::default();
        for record in records {
            match &record.body {
                RecordBody::DosingSession(session) => history.sessions.push(SessionFact {
                    id: record.id,
                    at: session.scheduled_at,
                    status: session.status,
                }),
                RecordBody::Assessment(assessment) => history
                    .assessments
                    .push((assessment.instrument, assessment.taken_at)),
                RecordBody::JournalEntry(entry) => history.entries.push(EntryFact {
                    at: record.created_at,
                    phase: entry.phase,
                    session: entry.dosing_session_id,
                }),
                RecordBody::MoodCheckIn(check_in) => history.check_ins.push(check_in.recorded_at),
                RecordBody::Intention(intention) => history.intentions.push(IntentionFact {
                    id: record.id,
                    session: intention.dosing_session_id,
                    reflected: intention.reflection.is_some()
                        || intention.status != IntentionStatus::Open,
                }),
                RecordBody::Commitment(commitment) => history.commitments.push(CommitmentFact {
                    id: record.id,
                    session: commitment.dosing_session_id,
                    follow_up_on: commitment.follow_up_on,
                    open: commitment.status == CommitmentStatus::Open,
                }),
                _ => {}
            }
        }
        history.assessments.sort_by_key(|(_, at)| *at);
        history.check_ins.sort();
        history.entries.sort_by_key(|e| e.at);
        history
    }

    fn assessment_in(
        &self,
        instrument: Instrument,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.assessments
            .iter()
            .find(|(i, at)| *i == instrument && *at >= from && *at < until)
            .map(|(_, at)| *at)
    }
}

/// Why a questionnaire is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum MeasureReason {
    /// The plan asks for it every so many days.
    Every {
        /// The interval.
        days: u32,
    },
    /// The plan asks for it before each session.
    BeforeSession,
    /// The plan asks for it on this day after each session.
    AfterSession {
        /// Days after the session.
        day: u32,
    },
}

/// What is due, and what to open for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Due {
    /// A questionnaire to take.
    Questionnaire {
        /// Which one.
        instrument: Instrument,
        /// Why now.
        reason: MeasureReason,
    },
    /// An integration follow-up: a prompt to write to.
    FollowUp {
        /// Days after the session.
        day: u32,
        /// The prompt to open.
        prompt_id: String,
    },
    /// A check-in to record.
    CheckIn {
        /// How often the plan asks.
        cadence: CheckInCadence,
    },
    /// An intention to set before the session.
    Intention,
    /// A look back on the intention of a past session.
    Reflection {
        /// The intention to reflect on.
        intention_id: RecordId,
    },
    /// A commitment's follow-up day: kept, changed or dropped?
    Commitment {
        /// The commitment to look back on.
        commitment_id: RecordId,
    },
}

/// One thing a plan or a session makes due, whether done or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// Stable across calls: what it is and what it hangs on, e.g.
    /// `questionnaire:phq9:after:<session>:7` (apps can key notifications
    /// by it).
    pub key: String,
    /// What is due.
    pub due: Due,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// When it lapses, if it does.
    pub until: Option<DateTime<Utc>>,
    /// The dosing session it hangs on, if any.
    pub session_id: Option<RecordId>,
    /// Whether it is done.
    pub done: bool,
}

impl Occurrence {
    /// Whether it is on the agenda at `at`: due, not done, not lapsed.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        !self.done && self.due_at <= at && self.until.is_none_or(|until| at < until)
    }
}

/// An item of the agenda: something due or overdue now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaItem {
    /// Stable key (see [`Occurrence::key`]).
    pub key: String,
    /// What is due, and what to open.
    pub due: Due,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// Whether it has been due for a day or more.
    pub overdue: bool,
    /// The dosing session it hangs on, if any.
    pub session_id: Option<RecordId>,
}

/// The plan in force and since when (its last change).
#[derive(Debug, Clone, Copy)]
pub struct PlanInForce<'a> {
    /// The plan.
    pub plan: &'a CarePlan,
    /// When it was set or last changed.
    pub since: DateTime<Utc>,
}

/// The start of `date` in `tz` (a day that begins in a daylight-saving gap
/// begins when the clocks jump).
pub fn start_of_day(tz: &Zone, date: NaiveDate) -> DateTime<Utc> {
    tz.instant(date, chrono::NaiveTime::MIN)
}

/// Every occurrence due in `[from, to]`, done or not, in order of when it
/// became due.
pub fn occurrences(
    plan: Option<PlanInForce<'_>>,
    history: &History,
    tz: &Zone,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Occurrence> {
    let mut all = Vec::new();
    let sessions: Vec<&SessionFact> = history
        .sessions
        .iter()
        .filter(|s| s.status != SessionStatus::Cancelled)
        .collect();
    if let Some(PlanInForce { plan, since }) = plan {
        for measure in &plan.measures {
            if let Some(days) = measure.every_days {
                every_days(history, measure.instrument, days, since, to, &mut all);
            }
            if measure.before_each_session {
                for session in &sessions {
                    let window = session.at - BEFORE_SESSION;
                    if session.at <= since {
                        continue;
                    }
                    let due_at = window.max(since);
                    all.push(Occurrence {
                        key: format!(
                            "questionnaire:{}:before:{}",
                            measure.instrument.as_str(),
                            session.id
                        ),
                        due: Due::Questionnaire {
                            instrument: measure.instrument,
                            reason: MeasureReason::BeforeSession,
                        },
                        due_at,
                        until: Some(session.at),
                        session_id: Some(session.id),
                        done: history
                            .assessment_in(measure.instrument, window, session.at)
                            .is_some(),
                    });
                }
            }
            let mut days = measure.days_after_session.clone();
            days.sort_unstable();
            for session in &sessions {
                for (due_at, until, day) in after_session(session.at, &days) {
                    if due_at < since {
                        continue;
                    }
                    all.push(Occurrence {
                        key: format!(
                            "questionnaire:{}:after:{}:{day}",
                            measure.instrument.as_str(),
                            session.id
                        ),
                        due: Due::Questionnaire {
                            instrument: measure.instrument,
                            reason: MeasureReason::AfterSession { day },
                        },
                        due_at,
                        until: Some(until),
                        session_id: Some(session.id),
                        done: history
                            .assessment_in(measure.instrument, due_at - AFTER_EARLY, until)
                            .is_some(),
                    });
                }
            }
        }
        if let Some(follow_ups) = &plan.follow_ups {
            let days = follow_ups.effective_days();
            for session in &sessions {
                for (n, (due_at, until, day)) in
                    after_session(session.at, &days).into_iter().enumerate()
                {
                    if due_at < since {
                        continue;
                    }
                    let done = history.entries.iter().any(|e| {
                        e.at >= due_at - AFTER_EARLY
                            && e.at < until
                            && match e.session {
                                Some(about) => about == session.id,
                                None => e.phase == Phase::Integration,
                            }
                    });
                    all.push(Occurrence {
                        key: format!("follow-up:{}:{day}", session.id),
                        due: Due::FollowUp {
                            day,
                            prompt_id: follow_ups.prompt_for(n),
                        },
                        due_at,
                        until: Some(until),
                        session_id: Some(session.id),
                        done,
                    });
                }
            }
        }
        if let Some(cadence) = plan.check_ins {
            check_ins(history, cadence, since, tz, from, to, &mut all);
        }
    }
    for session in &sessions {
        let intention = history.intentions.iter().find(|i| i.session == session.id);
        if session.status == SessionStatus::Planned {
            all.push(Occurrence {
                key: format!("intention:{}", session.id),
                due: Due::Intention,
                due_at: session.at - INTENTION_AHEAD,
                until: Some(session.at),
                session_id: Some(session.id),
                done: intention.is_some(),
            });
        }
        if let Some(intention) = intention {
            let due_at = session.at + REFLECTION_AFTER;
            all.push(Occurrence {
                key: format!("reflection:{}", intention.id),
                due: Due::Reflection {
                    intention_id: intention.id,
                },
                due_at,
                until: Some(due_at + REFLECTION_LASTS),
                session_id: Some(session.id),
                done: intention.reflected,
            });
        }
    }
    for commitment in &history.commitments {
        all.push(Occurrence {
            key: format!("commitment:{}", commitment.id),
            due: Due::Commitment {
                commitment_id: commitment.id,
            },
            due_at: start_of_day(tz, commitment.follow_up_on),
            until: None,
            session_id: Some(commitment.session),
            done: !commitment.open,
        });
    }
    all.retain(|o| o.due_at >= from && o.due_at <= to);
    all.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.key.cmp(&b.key)));
    all
}

/// The days after a session at `at`: when each is due, when it lapses (the
/// next day's due time, or a week after the last), and the day.
fn after_session(at: DateTime<Utc>, days: &[u32]) -> Vec<(DateTime<Utc>, DateTime<Utc>, u32)> {
    let due: Vec<(DateTime<Utc>, u32)> = days
        .iter()
        .map(|d| (at + TimeDelta::days(i64::from(*d)), *d))
        .collect();
    due.iter()
        .enumerate()
        .map(|(i, (due_at, day))| {
            let until = due
                .get(i + 1)
                .map_or(*due_at + LAST_AFTER_LASTS, |(next, _)| *next);
            (*due_at, until, *day)
        })
        .collect()
}

/// The chain of a questionnaire due every `days` days.
fn every_days(
    history: &History,
    instrument: Instrument,
    days: u32,
    since: DateTime<Utc>,
    to: DateTime<Utc>,
    all: &mut Vec<Occurrence>,
) {
    let period = TimeDelta::days(i64::from(days));
    let early = EVERY_EARLY.min(period / 2);
    let last_before = history
        .assessments
        .iter()
        .rev()
        .find(|(i, at)| *i == instrument && *at < since)
        .map(|(_, at)| *at);
    let mut due_at = last_before.map_or(since, |taken| (taken + period).max(since));
    while due_at <= to {
        let next_window = due_at + period;
        let taken = history.assessment_in(instrument, due_at - early, next_window);
        all.push(Occurrence {
            key: format!(
                "questionnaire:{}:every:{}",
                instrument.as_str(),
                due_at.timestamp()
            ),
            due: Due::Questionnaire {
                instrument,
                reason: MeasureReason::Every { days },
            },
            due_at,
            until: Some(taken.map_or(next_window, |t| (t + period).max(due_at))),
            session_id: None,
            done: taken.is_some(),
        });
        due_at = taken
            .map_or(next_window, |t| t + period)
            .max(due_at + TimeDelta::seconds(1));
    }
}

/// One check-in per local day (or seven), from the plan's start.
fn check_ins(
    history: &History,
    cadence: CheckInCadence,
    since: DateTime<Utc>,
    tz: &Zone,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    all: &mut Vec<Occurrence>,
) {
    let step = match cadence {
        CheckInCadence::Daily => 1,
        CheckInCadence::Weekly => 7,
    };
    let first = tz.date_of(since);
    // Start at the block holding `from` (or the plan's first).
    let skip = (tz.date_of(from.max(since)) - first).num_days().max(0) / step;
    let mut start_date = first + Days::new(u64::try_from(skip * step).unwrap_or(0));
    loop {
        let start = start_of_day(tz, start_date).max(since);
        if start > to {
            break;
        }
        let next_date = start_date + Days::new(u64::try_from(step).unwrap_or(1));
        let until = start_of_day(tz, next_date);
        let done = history
            .check_ins
            .iter()
            .any(|at| *at >= start_of_day(tz, start_date) && *at < until);
        all.push(Occurrence {
            key: format!("check-in:{start_date}"),
            due: Due::CheckIn { cadence },
            due_at: start,
            until: Some(until),
            session_id: None,
            done,
        });
        start_date = next_date;
    }
}

/// What is due or overdue at `at`, oldest first: every open occurrence,
/// and of a questionnaire due every N days only the latest.
pub fn agenda(
    plan: Option<PlanInForce<'_>>,
    history: &History,
    tz: &Zone,
    at: DateTime<Utc>,
) -> Vec<AgendaItem> {
    // Nothing stays open longer than a year past due.
    let from = at - TimeDelta::days(400);
    occurrences(plan, history, tz, from, at)
        .into_iter()
        .filter(|o| o.is_open_at(at))
        .map(|o| AgendaItem {
            overdue: at - o.due_at >= OVERDUE_AFTER,
            key: o.key,
            due: o.due,
            due_at: o.due_at,
            session_id: o.session_id,
        })
        .collect()
}

#[cfg(test)]
#[path = "agenda_tests.rs"]
mod tests;
