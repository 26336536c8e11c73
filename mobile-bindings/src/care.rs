//! Care plans, the agenda, reminders and insights across the boundary:
//! the patient's own `CarePlan` (a record kind), `Journal.agenda(at)`,
//! `Journal.nextReminderAt(after)`, `Journal.insights(from, to)` and the
//! reminder settings. The arithmetic is journal-core's; this file only
//! converts values.

use std::time::SystemTime;

use journal_core::agenda as core_agenda;
use journal_core::insights as core_insights;
use journal_core::plan as core_plan;
use journal_core::reminders as core_reminders;

use crate::error::JournalError;
use crate::journal::Journal;
use crate::records::{Instrument, from_time, to_time};

/// When one questionnaire is due in a care plan.
///
/// Rules: `everyDays` 1–365; `daysAfterSession` at most 30 days, each
/// 1–365, no repeats; at least one of the three is asked for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct MeasurePlan {
    /// The questionnaire.
    pub instrument: Instrument,
    /// Due every this many days.
    #[uniffi(default)]
    pub every_days: Option<u32>,
    /// Due in the three days before each dosing session.
    #[uniffi(default = false)]
    pub before_each_session: bool,
    /// Due on these days after each session (1 = the day after).
    #[uniffi(default)]
    pub days_after_session: Vec<u32>,
}

/// Integration follow-ups after each dosing session: a prompt on each of
/// these days (empty: 1, 3, 7 and 14).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FollowUpPlan {
    /// Days after each session.
    #[uniffi(default)]
    pub days: Vec<u32>,
    /// Prompt ids to offer in turn (empty: the integration prompts).
    #[uniffi(default)]
    pub prompt_ids: Vec<String>,
}

/// How often to check in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum CheckInCadence {
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
}

/// A care plan: questionnaires, follow-ups and check-ins. A linked
/// therapist's plan reaches the phone through sync; a patient without one
/// keeps their own as a record (`RecordContent.CarePlan`, the most
/// recently changed one counts). A therapist's plan takes precedence.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CarePlan {
    /// The questionnaires asked for (one plan per questionnaire).
    #[uniffi(default)]
    pub measures: Vec<MeasurePlan>,
    /// Follow-ups after each session; none when absent.
    #[uniffi(default)]
    pub follow_ups: Option<FollowUpPlan>,
    /// How often to check in; not asked for when absent.
    #[uniffi(default)]
    pub check_ins: Option<CheckInCadence>,
}

/// The care plan the agenda follows, since when, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CarePlanInForce {
    /// The plan.
    pub plan: CarePlan,
    /// When it was set or last changed; nothing before is asked of it.
    pub since: SystemTime,
    /// The therapist who wrote it; absent for the patient's own plan.
    pub therapist_id: Option<String>,
    /// The therapist's name as the patient sees it ("Your plan from …");
    /// absent for the patient's own plan.
    pub author: Option<String>,
}

impl From<core_plan::PlanInEffect> for CarePlanInForce {
    fn from(in_effect: core_plan::PlanInEffect) -> Self {
        let (therapist_id, author) = match in_effect.source {
            core_plan::PlanSource::Patient => (None, None),
            core_plan::PlanSource::Therapist {
                therapist_id,
                author,
            } => (Some(therapist_id.to_string()), Some(author)),
        };
        Self {
            plan: in_effect.plan.into(),
            since: from_time(in_effect.since),
            therapist_id,
            author,
        }
    }
}

impl From<CheckInCadence> for core_plan::CheckInCadence {
    fn from(cadence: CheckInCadence) -> Self {
        match cadence {
            CheckInCadence::Daily => core_plan::CheckInCadence::Daily,
            CheckInCadence::Weekly => core_plan::CheckInCadence::Weekly,
        }
    }
}

impl From<core_plan::CheckInCadence> for CheckInCadence {
    fn from(cadence: core_plan::CheckInCadence) -> Self {
        match cadence {
            core_plan::CheckInCadence::Daily => CheckInCadence::Daily,
            core_plan::CheckInCadence::Weekly => CheckInCadence::Weekly,
        }
    }
}

impl From<CarePlan> for core_plan::CarePlan {
    fn from(plan: CarePlan) -> Self {
        Self {
            measures: plan
                .measures
                .into_iter()
                .map(|m| core_plan::MeasurePlan {
                    instrument: m.instrument.into(),
                    every_days: m.every_days,
                    before_each_session: m.before_each_session,
                    days_after_session: m.days_after_session,
                })
                .collect(),
            follow_ups: plan.follow_ups.map(|f| core_plan::FollowUpPlan {
                days: f.days,
                prompt_ids: f.prompt_ids,
            }),
            check_ins: plan.check_ins.map(Into::into),
        }
    }
}

impl From<core_plan::CarePlan> for CarePlan {
    fn from(plan: core_plan::CarePlan) -> Self {
        Self {
            measures: plan
                .measures
                .into_iter()
                .map(|m| MeasurePlan {
                    instrument: m.instrument.into(),
                    every_days: m.every_days,
                    before_each_session: m.before_each_session,
                    days_after_session: m.days_after_session,
                })
                .collect(),
            follow_ups: plan.follow_ups.map(|f| FollowUpPlan {
                days: f.days,
                prompt_ids: f.prompt_ids,
            }),
            check_ins: plan.check_ins.map(Into::into),
        }
    }
}

/// Why a questionnaire is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum MeasureReason {
    /// Every so many days.
    Every {
        /// The interval.
        days: u32,
    },
    /// Before a dosing session.
    BeforeSession,
    /// On a day after a dosing session.
    AfterSession {
        /// Days after the session.
        day: u32,
    },
}

/// What is due, and what to open for it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum AgendaTask {
    /// Take this questionnaire.
    Questionnaire {
        /// Which one.
        instrument: Instrument,
        /// Why now.
        reason: MeasureReason,
    },
    /// Write to this prompt (an integration follow-up).
    FollowUp {
        /// Days after the session.
        day: u32,
        /// The prompt to open (see `findPrompt`).
        prompt_id: String,
    },
    /// Record a check-in.
    CheckIn,
    /// Set an intention for the session (`dosingSessionId`).
    Intention,
    /// Reflect on this intention.
    Reflection {
        /// The intention's record id.
        intention_id: String,
    },
    /// Look back on this commitment: kept, changed or dropped?
    Commitment {
        /// The commitment's record id.
        commitment_id: String,
    },
}

/// Something due or overdue.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AgendaItem {
    /// Stable while the item stands: key notifications by it.
    pub key: String,
    /// What to do, and what to open.
    pub task: AgendaTask,
    /// When it became due.
    pub due_at: SystemTime,
    /// Whether it has been due for a day or more.
    pub overdue: bool,
    /// The dosing session it hangs on, if any.
    pub dosing_session_id: Option<String>,
}

impl From<core_agenda::AgendaItem> for AgendaItem {
    fn from(item: core_agenda::AgendaItem) -> Self {
        let task = match item.due {
            core_agenda::Due::Questionnaire { instrument, reason } => AgendaTask::Questionnaire {
                instrument: instrument.into(),
                reason: match reason {
                    core_agenda::MeasureReason::Every { days } => MeasureReason::Every { days },
                    core_agenda::MeasureReason::BeforeSession => MeasureReason::BeforeSession,
                    core_agenda::MeasureReason::AfterSession { day } => {
                        MeasureReason::AfterSession { day }
                    }
                },
            },
            core_agenda::Due::FollowUp { day, prompt_id } => {
                AgendaTask::FollowUp { day, prompt_id }
            }
            core_agenda::Due::CheckIn { .. } => AgendaTask::CheckIn,
            core_agenda::Due::Intention => AgendaTask::Intention,
            core_agenda::Due::Reflection { intention_id } => AgendaTask::Reflection {
                intention_id: intention_id.to_string(),
            },
            core_agenda::Due::Commitment { commitment_id } => AgendaTask::Commitment {
                commitment_id: commitment_id.to_string(),
            },
        };
        Self {
            key: item.key,
            task,
            due_at: from_time(item.due_at),
            overdue: item.overdue,
            dosing_session_id: item.session_id.map(|id| id.to_string()),
        }
    }
}

/// When the patient wants reminders.
///
/// Rules: 1–12 distinct `times` as `HH:MM`; quiet hours, when set, as
/// `HH:MM` that differ (they may span midnight, e.g. 22:00 to 07:00); an
/// IANA `timeZone` such as `Europe/Berlin`. Kept on this device only.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ReminderSettings {
    /// Local times of day a reminder may be shown at.
    pub times: Vec<String>,
    /// The patient's time zone.
    pub time_zone: String,
    /// When quiet hours begin.
    #[uniffi(default)]
    pub quiet_from: Option<String>,
    /// When quiet hours end.
    #[uniffi(default)]
    pub quiet_until: Option<String>,
}

/// One check-in measure over a period.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct MeasureStats {
    /// How many check-ins gave it.
    pub count: u32,
    /// Their mean.
    pub mean: Option<f64>,
    /// Change per week of the straight line through them (from 7
    /// check-ins).
    pub trend_per_week: Option<f64>,
}

/// A questionnaire's course: baseline, latest, change, response (at least
/// 50 % lower) and remission (below 5).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct QuestionnaireCourse {
    /// How many were taken.
    pub count: u32,
    /// The first total.
    pub baseline: u32,
    /// When it was taken.
    pub baseline_at: SystemTime,
    /// The latest total.
    pub latest: u32,
    /// When it was taken.
    pub latest_at: SystemTime,
    /// `latest − baseline` (negative is better).
    pub change: i32,
    /// The change in percent of the baseline.
    pub percent_change: Option<f64>,
    /// Response: at least 50 % lower than the baseline.
    pub response: bool,
    /// Remission: below 5.
    pub remission: bool,
}

/// The week before a dosing session against the week after (means; `None`
/// on a side without check-ins).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AroundSession {
    /// The session's record id.
    pub dosing_session_id: String,
    /// When it was.
    pub at: SystemTime,
    /// Check-ins in the week before.
    pub before_count: u32,
    /// Check-ins in the week after.
    pub after_count: u32,
    /// Mood before.
    pub mood_before: Option<f64>,
    /// Mood after.
    pub mood_after: Option<f64>,
    /// Anxiety before.
    pub anxiety_before: Option<f64>,
    /// Anxiety after.
    pub anxiety_after: Option<f64>,
    /// Energy before.
    pub energy_before: Option<f64>,
    /// Energy after.
    pub energy_after: Option<f64>,
    /// Sleep before.
    pub sleep_hours_before: Option<f64>,
    /// Sleep after.
    pub sleep_hours_after: Option<f64>,
}

/// What practising one grounding exercise did for distress.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PracticeStats {
    /// The exercise.
    pub exercise_id: String,
    /// How often it was practised.
    pub count: u32,
    /// Mean drop in distress (0–10), from 3 practices.
    pub mean_drop: Option<f64>,
}

/// Insights over a period: numbers for the app to draw.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Insights {
    /// Mood (0–10).
    pub mood: MeasureStats,
    /// Anxiety (0–10).
    pub anxiety: MeasureStats,
    /// Energy (0–10).
    pub energy: MeasureStats,
    /// Sleep (hours).
    pub sleep_hours: MeasureStats,
    /// The PHQ-9's course.
    pub phq9: Option<QuestionnaireCourse>,
    /// The GAD-7's course.
    pub gad7: Option<QuestionnaireCourse>,
    /// Each dosing session in the period.
    pub sessions: Vec<AroundSession>,
    /// Each grounding exercise practised.
    pub practices: Vec<PracticeStats>,
    /// Days with both a night's sleep and the day's mood.
    pub sleep_mood_pairs: u32,
    /// Their correlation (−1 to 1), from 10 days.
    pub sleep_mood_correlation: Option<f64>,
    /// What that figure does and does not say: show it with the figure.
    pub sleep_mood_caveat: String,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn stats(s: core_insights::MeasureStats) -> MeasureStats {
    MeasureStats {
        count: count(s.count),
        mean: s.mean,
        trend_per_week: s.trend_per_week,
    }
}

fn course(summary: journal_core::mbc::MbcSummary) -> QuestionnaireCourse {
    QuestionnaireCourse {
        count: count(summary.count),
        baseline: u32::from(summary.baseline.total),
        baseline_at: from_time(summary.baseline.taken_at),
        latest: u32::from(summary.latest.total),
        latest_at: from_time(summary.latest.taken_at),
        change: summary.change,
        percent_change: summary.percent_change,
        response: summary.response,
        remission: summary.remission,
    }
}

impl From<core_insights::Insights> for Insights {
    fn from(found: core_insights::Insights) -> Self {
        Self {
            mood: stats(found.check_ins.mood),
            anxiety: stats(found.check_ins.anxiety),
            energy: stats(found.check_ins.energy),
            sleep_hours: stats(found.check_ins.sleep_hours),
            phq9: found.phq9.map(course),
            gad7: found.gad7.map(course),
            sessions: found
                .sessions
                .into_iter()
                .map(|s| AroundSession {
                    dosing_session_id: s.session_id.to_string(),
                    at: from_time(s.at),
                    before_count: count(s.before_count),
                    after_count: count(s.after_count),
                    mood_before: s.mood.0,
                    mood_after: s.mood.1,
                    anxiety_before: s.anxiety.0,
                    anxiety_after: s.anxiety.1,
                    energy_before: s.energy.0,
                    energy_after: s.energy.1,
                    sleep_hours_before: s.sleep_hours.0,
                    sleep_hours_after: s.sleep_hours.1,
                })
                .collect(),
            practices: found
                .practices
                .into_iter()
                .map(|p| PracticeStats {
                    exercise_id: p.exercise_id,
                    count: count(p.count),
                    mean_drop: p.mean_drop,
                })
                .collect(),
            sleep_mood_pairs: count(found.sleep_and_mood.pairs),
            sleep_mood_correlation: found.sleep_and_mood.correlation,
            sleep_mood_caveat: found.sleep_and_mood.caveat.to_owned(),
        }
    }
}

#[uniffi::export]
impl Journal {
    // -- care plan, agenda, reminders, insights ------------------------------

    /// What is due or overdue at `at`, oldest first: the care plan's
    /// questionnaires, follow-ups and check-ins, the intention before a
    /// planned session, the reflection after one, commitments on their
    /// follow-up day. Computed on the device from what is stored here;
    /// doing an item (saving the questionnaire, writing the entry) removes
    /// it.
    pub fn agenda(&self, at: SystemTime) -> Result<Vec<AgendaItem>, JournalError> {
        let at = to_time("at", at)?;
        Ok(self.store.agenda(at)?.into_iter().map(Into::into).collect())
    }

    /// The next moment after `after` to schedule a local notification at:
    /// one of the reminder times, outside quiet hours, in the patient's
    /// time zone (daylight saving included), when something will be due.
    /// `None` without reminder settings or with nothing due within 60 days.
    pub fn next_reminder_at(&self, after: SystemTime) -> Result<Option<SystemTime>, JournalError> {
        let after = to_time("after", after)?;
        Ok(self.store.next_reminder_at(after)?.map(from_time))
    }

    /// The reminder settings, once set.
    pub fn reminder_settings(&self) -> Result<Option<ReminderSettings>, JournalError> {
        Ok(self.store.reminder_settings()?.map(|s| ReminderSettings {
            times: s
                .times
                .iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect(),
            time_zone: s.time_zone.name().to_owned(),
            quiet_from: s.quiet_hours.map(|q| q.start.format("%H:%M").to_string()),
            quiet_until: s.quiet_hours.map(|q| q.end.format("%H:%M").to_string()),
        }))
    }

    /// Keeps the reminder settings on this device. Fails with `Invalid`
    /// naming each broken rule (`times[1]`, `quietHours`, `timeZone`).
    pub fn set_reminder_settings(&self, settings: ReminderSettings) -> Result<(), JournalError> {
        let quiet = match (&settings.quiet_from, &settings.quiet_until) {
            (Some(from), Some(until)) => Some((from.as_str(), until.as_str())),
            (None, None) => None,
            _ => {
                return Err(JournalError::invalid(
                    "quietHours",
                    "required",
                    "give both when quiet hours begin and when they end, or neither",
                ));
            }
        };
        let parsed =
            core_reminders::ReminderSettings::parse(&settings.times, quiet, &settings.time_zone)?;
        Ok(self.store.set_reminder_settings(&parsed)?)
    }

    /// The care plan the agenda follows on this device, if any: the most
    /// recently changed plan from a linked therapist (as the last sync
    /// brought it), or else the patient's own.
    pub fn care_plan(&self) -> Result<Option<CarePlanInForce>, JournalError> {
        Ok(self.store.care_plan()?.map(Into::into))
    }

    /// The patient's own care plan, whether or not a therapist's plan
    /// takes precedence (to show it for editing).
    pub fn own_care_plan(&self) -> Result<Option<CarePlan>, JournalError> {
        Ok(self.store.own_care_plan()?.map(|(plan, _)| plan.into()))
    }

    /// Insights over `[from, to)`: check-in means and trends, the
    /// questionnaires' course, the week around each dosing session,
    /// grounding practices, sleep and mood. Numbers only; nothing is
    /// claimed from too few (the counts say how many).
    pub fn insights(&self, from: SystemTime, to: SystemTime) -> Result<Insights, JournalError> {
        let (from, to) = (to_time("from", from)?, to_time("to", to)?);
        if to <= from {
            return Err(JournalError::invalid("to", "range", "must be after from"));
        }
        Ok(self.store.insights(from, to)?.into())
    }
}
