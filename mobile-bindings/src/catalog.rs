//! What the library knows without a journal: the writing-prompt library,
//! the grounding-exercise catalog, questionnaire scoring, and the safety
//! notice's crisis resources. Top-level functions in every language
//! (`journal.prompts(…)` in Python, `prompts(…)` in Kotlin and Swift).

use std::time::Duration;

use journal_core::safety as core_safety;
use journal_core::{grounding, prompts};

use crate::error::JournalError;
use crate::records::{Assessment, AssessmentScore, Phase, score, signed};

/// A writing prompt offered to the patient.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Prompt {
    /// Stable id such as `prep-01`, kept with the entries written to it
    /// (a `JournalEntry`'s `promptId`).
    pub id: String,
    /// The phase of treatment it belongs to.
    pub phase: Phase,
    /// A short label for lists (at most 60 characters).
    pub title: String,
    /// The question or invitation shown to the patient.
    pub text: String,
}

/// One timed instruction of a grounding exercise.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ExerciseStep {
    /// What to do, addressed to the person practising.
    pub instruction: String,
    /// How long the step lasts.
    pub duration: Duration,
}

/// A guided grounding exercise: a round of timed steps, gone through
/// `rounds` times. Run one with `Journal.startPractice`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct GroundingExercise {
    /// Stable id such as `box-breathing`, kept with logged practices.
    pub id: String,
    /// The name shown to the patient.
    pub name: String,
    /// What the exercise is good for, in a sentence or two.
    pub summary: String,
    /// How many times `steps` is gone through.
    pub rounds: i32,
    /// The steps of one round, in order.
    pub steps: Vec<ExerciseStep>,
    /// Steps in a whole run: steps per round times rounds.
    pub total_steps: i32,
    /// The length of a whole run.
    pub total_duration: Duration,
}

/// One way to reach help.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CrisisContact {
    /// Who answers, e.g. "988 Suicide & Crisis Lifeline (US)".
    pub name: String,
    /// A number to call.
    #[uniffi(default)]
    pub phone: Option<String>,
    /// A number to text.
    #[uniffi(default)]
    pub text: Option<String>,
    /// A web address.
    #[uniffi(default)]
    pub url: Option<String>,
}

/// What the app shows when a risk answer is saved: the deployment's own
/// text and numbers, or an international default.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CrisisResources {
    /// A short heading.
    pub headline: String,
    /// A few sentences to the patient.
    pub message: String,
    /// Where to find help now, most immediate first.
    pub contacts: Vec<CrisisContact>,
}

/// Why a safety notice was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum RiskReason {
    /// PHQ-9 item 9 (thoughts of being better off dead or of self-harm)
    /// answered 1 or more.
    Phq9Item9,
}

/// Crisis resources to show at once, before anything else, because a saved
/// record signals risk. Offline too: nothing about it needs the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct SafetyNotice {
    /// What raised it.
    pub reason: RiskReason,
    /// What to show.
    pub resources: CrisisResources,
}

fn prompt(p: &prompts::Prompt) -> Prompt {
    Prompt {
        id: p.id.to_owned(),
        phase: p.phase.into(),
        title: p.title.to_owned(),
        text: p.text.to_owned(),
    }
}

pub(crate) fn exercise(e: &grounding::GroundingExercise) -> GroundingExercise {
    GroundingExercise {
        id: e.id.to_owned(),
        name: e.name.to_owned(),
        summary: e.summary.to_owned(),
        rounds: signed(e.rounds),
        steps: e
            .steps
            .iter()
            .map(|s| ExerciseStep {
                instruction: s.instruction.to_owned(),
                duration: Duration::from_secs(u64::from(s.duration_seconds)),
            })
            .collect(),
        total_steps: signed(e.total_steps()),
        total_duration: Duration::from_secs(u64::from(e.total_duration_seconds())),
    }
}

/// The writing prompts, for one phase or (with none) for every phase, in
/// the order they are offered.
#[uniffi::export]
pub fn prompts(phase: Option<Phase>) -> Vec<Prompt> {
    prompts::all()
        .iter()
        .filter(|p| phase.is_none_or(|wanted| p.phase == wanted.into()))
        .map(prompt)
        .collect()
}

/// The prompt with this id; `None` for an unknown or retired id (an entry
/// may still carry one: show the entry without its prompt).
#[uniffi::export]
pub fn find_prompt(id: String) -> Option<Prompt> {
    prompts::find(&id).map(prompt)
}

/// Every grounding exercise on offer, in the order they are listed.
#[uniffi::export]
pub fn grounding_exercises() -> Vec<GroundingExercise> {
    grounding::catalog().iter().map(exercise).collect()
}

/// The grounding exercise with this id, if there is one.
#[uniffi::export]
pub fn find_grounding_exercise(id: String) -> Option<GroundingExercise> {
    grounding::find(&id).map(exercise)
}

/// Scores a questionnaire without saving it: total, band, risk flag.
///
/// Fails with `JournalError.Invalid` (naming `answers` or
/// `answers[i]`) when the answers break the rules, rather than guessing.
#[uniffi::export]
pub fn score_assessment(assessment: Assessment) -> Result<AssessmentScore, JournalError> {
    score(&assessment.to_core()?)
}

/// The version of this library (journal-mobile), e.g. `0.1.0`.
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

impl From<core_safety::CrisisResources> for CrisisResources {
    fn from(r: core_safety::CrisisResources) -> Self {
        Self {
            headline: r.headline,
            message: r.message,
            contacts: r
                .contacts
                .into_iter()
                .map(|c| CrisisContact {
                    name: c.name,
                    phone: c.phone,
                    text: c.text,
                    url: c.url,
                })
                .collect(),
        }
    }
}

impl From<CrisisResources> for core_safety::CrisisResources {
    fn from(r: CrisisResources) -> Self {
        Self {
            headline: r.headline,
            message: r.message,
            contacts: r
                .contacts
                .into_iter()
                .map(|c| core_safety::CrisisContact {
                    name: c.name,
                    phone: c.phone,
                    text: c.text,
                    url: c.url,
                })
                .collect(),
        }
    }
}

impl From<core_safety::SafetyNotice> for SafetyNotice {
    fn from(n: core_safety::SafetyNotice) -> Self {
        Self {
            reason: match n.reason {
                core_safety::RiskReason::Phq9Item9 => RiskReason::Phq9Item9,
            },
            resources: n.resources.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogs_come_through_whole() {
        assert_eq!(prompts(None).len(), prompts::all().len());
        let integration = prompts(Some(Phase::Integration));
        assert!(!integration.is_empty());
        assert!(integration.iter().all(|p| p.phase == Phase::Integration));
        assert_eq!(find_prompt("prep-01".into()).unwrap().id, "prep-01");
        assert!(find_prompt("nope".into()).is_none());
        let box_breathing = find_grounding_exercise("box-breathing".into()).unwrap();
        assert_eq!(
            box_breathing.total_steps,
            box_breathing.rounds * i32::try_from(box_breathing.steps.len()).unwrap()
        );
        assert_eq!(grounding_exercises().len(), grounding::catalog().len());
    }
}
