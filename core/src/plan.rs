//! Care plans: what a patient is asked to do between dosing sessions —
//! which questionnaires and how often, which integration follow-ups after
//! each session, and how often to check in.
//!
//! A plan is written by the linked therapist (and reaches the phone through
//! sync) or, without a therapist, kept by the patient on the phone. Both
//! have this one shape and these rules, so the phone and the server refuse
//! the same plans. What a plan makes due, and when, is [`crate::agenda`]'s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::prompts;
use crate::records::Instrument;
use crate::validation::InvalidInput;

/// The longest interval, and the furthest day after a session, a plan may
/// name: a year.
pub const MAX_DAYS: u32 = 365;

/// The most days after a session one list may name.
pub const MAX_DAYS_LISTED: usize = 30;

/// The integration follow-ups after each session when a plan names no days.
pub const DEFAULT_FOLLOW_UP_DAYS: [u32; 4] = [1, 3, 7, 14];

/// When one questionnaire is due.
///
/// Rules: `everyDays` 1–365 when set; `daysAfterSession` at most 30 days,
/// each 1–365, no repeats; at least one of the three is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeasurePlan {
    /// The questionnaire.
    pub instrument: Instrument,
    /// Due every this many days (counted from the last time it was taken,
    /// or from when the plan began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_days: Option<u32>,
    /// Due in the three days before each dosing session.
    #[serde(default)]
    pub before_each_session: bool,
    /// Due on these days after each dosing session (1 = the day after).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_after_session: Vec<u32>,
}

/// The integration follow-ups after each dosing session: a prompt to write
/// to on each of these days.
///
/// Rules: `days` at most 30, each 1–365, no repeats (empty: the default
/// 1, 3, 7 and 14); `promptIds` from the prompt library, used in turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FollowUpPlan {
    /// Days after each session (1 = the day after).
    #[serde(default)]
    pub days: Vec<u32>,
    /// The prompts to offer, in turn; the integration prompts of the
    /// library when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_ids: Vec<String>,
}

impl Default for FollowUpPlan {
    fn default() -> Self {
        Self {
            days: DEFAULT_FOLLOW_UP_DAYS.to_vec(),
            prompt_ids: Vec::new(),
        }
    }
}

impl FollowUpPlan {
    /// The days in effect: the plan's, or the default ones.
    pub fn effective_days(&self) -> Vec<u32> {
        let mut days = if self.days.is_empty() {
            DEFAULT_FOLLOW_UP_DAYS.to_vec()
        } else {
            self.days.clone()
        };
        days.sort_unstable();
        days
    }

    /// The prompt offered for the `n`-th follow-up after a session (0 =
    /// the first): the plan's prompts in turn, or the library's
    /// integration prompts.
    pub fn prompt_for(&self, n: usize) -> String {
        if self.prompt_ids.is_empty() {
            let library: Vec<&prompts::Prompt> =
                prompts::for_phase(crate::Phase::Integration).collect();
            library
                .get(n % library.len().max(1))
                .map(|p| p.id.to_owned())
                .unwrap_or_default()
        } else {
            self.prompt_ids[n % self.prompt_ids.len()].clone()
        }
    }
}

/// How often to check in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CheckInCadence {
    /// Once every day.
    Daily,
    /// Once every week.
    Weekly,
}

/// A care plan: questionnaires, integration follow-ups and check-ins.
///
/// Rules: at most one [`MeasurePlan`] per questionnaire; each measure,
/// follow-up and prompt as their own rules say. A plan with nothing in it
/// is allowed (it asks for nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarePlan {
    /// The questionnaires asked for.
    #[serde(default)]
    pub measures: Vec<MeasurePlan>,
    /// The integration follow-ups after each session; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_ups: Option<FollowUpPlan>,
    /// How often to check in; not asked for when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_ins: Option<CheckInCadence>,
}

fn check_days(days: &[u32], field: &str, problems: &mut InvalidInput) {
    if days.len() > MAX_DAYS_LISTED {
        problems.push(
            field,
            "length",
            format!("at most {MAX_DAYS_LISTED} days may be listed"),
        );
    }
    for (i, day) in days.iter().enumerate() {
        if *day == 0 || *day > MAX_DAYS {
            problems.push(
                format!("{field}[{i}]"),
                "range",
                format!("must be a day from 1 (the day after the session) to {MAX_DAYS}"),
            );
        }
        if days[..i].contains(day) {
            problems.push(format!("{field}[{i}]"), "unique", "is listed twice");
        }
    }
}

impl CarePlan {
    /// Checks every rule; all broken ones are reported together.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        for (i, measure) in self.measures.iter().enumerate() {
            let at = format!("measures[{i}]");
            if self.measures[..i]
                .iter()
                .any(|m| m.instrument == measure.instrument)
            {
                problems.push(
                    format!("{at}.instrument"),
                    "unique",
                    "each questionnaire may be planned once",
                );
            }
            if let Some(every) = measure.every_days
                && (every == 0 || every > MAX_DAYS)
            {
                problems.push(
                    format!("{at}.everyDays"),
                    "range",
                    format!("must be from 1 to {MAX_DAYS} days"),
                );
            }
            check_days(
                &measure.days_after_session,
                &format!("{at}.daysAfterSession"),
                &mut problems,
            );
            if measure.every_days.is_none()
                && !measure.before_each_session
                && measure.days_after_session.is_empty()
            {
                problems.push(
                    at,
                    "required",
                    "say when it is due: every so many days, before each session, or on days after each session",
                );
            }
        }
        if let Some(follow_ups) = &self.follow_ups {
            check_days(&follow_ups.days, "followUps.days", &mut problems);
            for (i, id) in follow_ups.prompt_ids.iter().enumerate() {
                if prompts::find(id).is_none() {
                    problems.push(
                        format!("followUps.promptIds[{i}]"),
                        "unknown_prompt",
                        format!("no prompt has the id {id:?}"),
                    );
                }
            }
        }
        if problems.violations.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The plan for one questionnaire, if any.
    pub fn measure(&self, instrument: Instrument) -> Option<&MeasurePlan> {
        self.measures.iter().find(|m| m.instrument == instrument)
    }
}

/// A care plan a linked therapist wrote for the patient, as sync brings it
/// to the patient's devices. The patient reads it; only its author changes
/// it. It is withdrawn (`plan` absent) when the therapist removes it or the
/// care link ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AssignedPlan {
    /// The plan's id (one per therapist and patient).
    pub id: Uuid,
    /// The therapist who wrote it.
    pub therapist_id: Uuid,
    /// The therapist's name as the patient sees it.
    pub author: String,
    /// The plan; absent once withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<CarePlan>,
    /// When it was last changed (or withdrawn).
    pub updated_at: DateTime<Utc>,
}

/// Who wrote the plan in force on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanSource {
    /// The patient, on their phone.
    Patient,
    /// A linked therapist.
    Therapist {
        /// The therapist's account id.
        therapist_id: Uuid,
        /// Their name as the patient sees it.
        author: String,
    },
}

/// The care plan the agenda follows, since when, and who wrote it: the
/// most recently changed plan from a linked therapist, or else the
/// patient's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInEffect {
    /// The plan.
    pub plan: CarePlan,
    /// When it was set or last changed; nothing before is asked of it.
    pub since: DateTime<Utc>,
    /// Who wrote it.
    pub source: PlanSource,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Result<CarePlan, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_plan_reads_and_validates() {
        let plan = plan(
            r#"{"measures": [{"instrument": "phq9", "everyDays": 14, "beforeEachSession": true,
                 "daysAfterSession": [7]}, {"instrument": "gad7", "everyDays": 28}],
                "followUps": {"days": [1, 3, 7, 14], "promptIds": ["integ-01"]},
                "checkIns": "daily"}"#,
        )
        .unwrap();
        plan.validate().unwrap();
        assert_eq!(plan.measure(Instrument::Phq9).unwrap().every_days, Some(14));
        assert_eq!(plan.check_ins, Some(CheckInCadence::Daily));
        assert!(
            CarePlan::default().validate().is_ok(),
            "an empty plan asks nothing"
        );
    }

    #[test]
    fn impossible_plans_are_refused_with_every_reason() {
        let bad = plan(
            r#"{"measures": [{"instrument": "phq9", "everyDays": 0, "daysAfterSession": [0, 400, 7, 7]},
                 {"instrument": "phq9", "beforeEachSession": true}, {"instrument": "gad7"}],
                "followUps": {"days": [3], "promptIds": ["no-such-prompt"]}}"#,
        )
        .unwrap();
        let problems = bad.validate().unwrap_err();
        for (field, rule) in [
            ("measures[0].everyDays", "range"),
            ("measures[0].daysAfterSession[0]", "range"),
            ("measures[0].daysAfterSession[1]", "range"),
            ("measures[0].daysAfterSession[3]", "unique"),
            ("measures[1].instrument", "unique"),
            ("measures[2]", "required"),
            ("followUps.promptIds[0]", "unknown_prompt"),
        ] {
            assert!(problems.has(field, rule), "{field} {rule}: {problems}");
        }
        // Negative days and unknown fields do not even read.
        assert!(
            plan(r#"{"measures": [{"instrument": "phq9", "daysAfterSession": [-1]}]}"#).is_err()
        );
        assert!(plan(r#"{"cadence": "daily"}"#).is_err());
        assert!(plan(r#"{"checkIns": "hourly"}"#).is_err());
    }

    #[test]
    fn follow_ups_default_to_1_3_7_14_and_take_prompts_in_turn() {
        let follow = FollowUpPlan {
            days: vec![],
            prompt_ids: vec![],
        };
        assert_eq!(follow.effective_days(), vec![1, 3, 7, 14]);
        let first = follow.prompt_for(0);
        assert!(prompts::find(&first).is_some_and(|p| p.phase == crate::Phase::Integration));
        assert_ne!(follow.prompt_for(1), first);
        let chosen = FollowUpPlan {
            days: vec![14, 2],
            prompt_ids: vec!["a".into(), "b".into()],
        };
        assert_eq!(chosen.effective_days(), vec![2, 14]);
        assert_eq!(chosen.prompt_for(3), "b");
    }
}
