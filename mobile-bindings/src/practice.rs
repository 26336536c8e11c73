//! [`GuidedPractice`]: a grounding exercise being practised, step by step,
//! with the time left — and, when the patient finishes, the practice saved
//! with how distressed they felt before and after.
//!
//! The clock runs here, not in the app, so every app counts the same way:
//! a step's time starts when it becomes current. A step stays current until
//! the app moves on ([`GuidedPractice::next_step`], typically when the
//! patient taps "next" or `time_left` reaches zero): people linger, and the
//! app decides whether to move on by itself.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use journal_core::grounding;
use journal_core::records as core;
use journal_core::store::JournalStore;

use crate::catalog::{GroundingExercise, exercise};
use crate::error::JournalError;
use crate::journal::SavedRecord;
use crate::records::signed;

/// The step a practice is on.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PracticeStep {
    /// Which step of the whole run, from 1.
    pub number: i32,
    /// Steps in the whole run.
    pub total_steps: i32,
    /// Which round, from 1.
    pub round: i32,
    /// Rounds in the whole run.
    pub rounds: i32,
    /// What to do now.
    pub instruction: String,
    /// How long the step lasts.
    pub duration: Duration,
    /// How much of the step is left (zero once its time is up).
    pub time_left: Duration,
    /// How much of the whole run is left: this step's time left and every
    /// later step's duration.
    pub total_time_left: Duration,
}

/// A grounding exercise being practised. Start one with
/// `Journal.startPractice(exerciseId)`; show `currentStep`
/// (poll it for the time left), move on with `nextStep`,
/// and save it with `finish` — at the end or whenever the
/// patient stops. Safe to use from any thread.
#[derive(uniffi::Object)]
pub struct GuidedPractice {
    store: Arc<JournalStore>,
    exercise: &'static grounding::GroundingExercise,
    started_at: DateTime<Utc>,
    progress: Mutex<Progress>,
}

impl std::fmt::Debug for GuidedPractice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuidedPractice")
            .field("exercise", &self.exercise.id)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

struct Progress {
    /// The current step's index over the whole run; `total_steps()` once
    /// every step is behind.
    step: u32,
    /// When the current step became current.
    step_started: Instant,
    /// Whether the practice was saved (it then has no current step).
    saved: bool,
}

impl GuidedPractice {
    pub(crate) fn start(
        store: Arc<JournalStore>,
        exercise_id: &str,
    ) -> Result<Arc<Self>, JournalError> {
        let exercise = grounding::find(exercise_id).ok_or_else(|| {
            JournalError::invalid(
                "exerciseId",
                "unknown_exercise",
                "must name an exercise of the catalog",
            )
        })?;
        Ok(Arc::new(Self {
            store,
            exercise,
            started_at: Utc::now(),
            progress: Mutex::new(Progress {
                step: 0,
                step_started: Instant::now(),
                saved: false,
            }),
        }))
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        // Two integers and a flag: a panic cannot leave them half-written.
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn step_at(&self, progress: &Progress) -> Option<PracticeStep> {
        if progress.saved {
            return None;
        }
        let step = self.exercise.step(progress.step)?;
        let duration = Duration::from_secs(u64::from(step.duration_seconds));
        let time_left = duration.saturating_sub(progress.step_started.elapsed());
        let later: u64 = (progress.step.saturating_add(1)..self.exercise.total_steps())
            .filter_map(|i| self.exercise.step(i))
            .map(|s| u64::from(s.duration_seconds))
            .sum();
        let per_round = u32::try_from(self.exercise.steps.len())
            .unwrap_or(u32::MAX)
            .max(1);
        Some(PracticeStep {
            number: signed(progress.step.saturating_add(1)),
            total_steps: signed(self.exercise.total_steps()),
            round: signed(progress.step / per_round + 1),
            rounds: signed(self.exercise.rounds),
            instruction: step.instruction.to_owned(),
            duration,
            time_left,
            total_time_left: time_left.saturating_add(Duration::from_secs(later)),
        })
    }

    /// Steps behind the patient: those moved past, and the current one once
    /// its time is up.
    fn completed(&self, progress: &Progress) -> u32 {
        let total = self.exercise.total_steps();
        let current_done = self
            .step_at(progress)
            .is_some_and(|s| s.time_left.is_zero());
        progress
            .step
            .saturating_add(u32::from(current_done))
            .min(total)
    }
}

#[uniffi::export]
impl GuidedPractice {
    /// The exercise being practised.
    pub fn exercise(&self) -> GroundingExercise {
        exercise(self.exercise)
    }

    /// The step to show now, with its time left; none once every step is
    /// behind or the practice was saved.
    pub fn current_step(&self) -> Option<PracticeStep> {
        self.step_at(&self.progress())
    }

    /// Moves on to the next step and returns it (its time starts now); none
    /// when that was the last step.
    pub fn next_step(&self) -> Option<PracticeStep> {
        let mut progress = self.progress();
        if !progress.saved && progress.step < self.exercise.total_steps() {
            progress.step = progress.step.saturating_add(1);
            progress.step_started = Instant::now();
        }
        self.step_at(&progress)
    }

    /// How many steps are behind the patient: those moved past, and the
    /// current one once its time is up. What `finish`
    /// saves.
    pub fn steps_completed(&self) -> i32 {
        signed(self.completed(&self.progress()))
    }

    /// Whether every step is behind the patient.
    pub fn is_complete(&self) -> bool {
        self.completed(&self.progress()) >= self.exercise.total_steps()
    }

    /// Saves the practice — when it started, the steps completed, and the
    /// distress the patient felt before and after (0 calm – 10 unbearable) —
    /// and ends it. Finishing early is fine: the steps completed so far are
    /// saved. Once saved, `NotPossible`.
    pub fn finish(
        &self,
        distress_before: i32,
        distress_after: i32,
    ) -> Result<SavedRecord, JournalError> {
        let mut progress = self.progress();
        if progress.saved {
            return Err(JournalError::NotPossible {
                detail: "this practice was already saved; start a new one".to_owned(),
            });
        }
        let practice = core::ExercisePractice {
            exercise_id: self.exercise.id.to_owned(),
            practiced_at: self.started_at,
            steps_completed: self.completed(&progress),
            distress_before: u8::try_from(distress_before).unwrap_or(u8::MAX),
            distress_after: u8::try_from(distress_after).unwrap_or(u8::MAX),
        };
        let saved = self.store.save_new(practice.into())?;
        progress.saved = true;
        Ok(saved.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn practice(id: &str) -> (tempfile::TempDir, Arc<GuidedPractice>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(JournalStore::open(dir.path().join("j.db")).unwrap());
        (dir, GuidedPractice::start(store, id).unwrap())
    }

    #[test]
    fn a_practice_walks_every_step_and_saves_once() {
        let (_dir, run) = practice("box-breathing");
        let total = run.exercise().total_steps;
        let first = run.current_step().unwrap();
        assert_eq!((first.number, first.round), (1, 1));
        assert!(first.time_left <= first.duration);
        assert!(first.total_time_left <= run.exercise().total_duration);
        assert_eq!(run.steps_completed(), 0);
        let mut last = first;
        while let Some(step) = run.next_step() {
            assert_eq!(step.number, last.number + 1);
            last = step;
        }
        assert_eq!(last.number, total);
        assert_eq!(last.round, last.rounds);
        assert!(run.is_complete());
        assert_eq!(run.next_step(), None, "stays at the end");
        let saved = run.finish(7, 3).unwrap();
        match saved.record.content {
            crate::RecordContent::ExercisePractice { practice } => {
                assert_eq!(practice.steps_completed, total);
                assert_eq!((practice.distress_before, practice.distress_after), (7, 3));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run.finish(7, 3),
            Err(JournalError::NotPossible { .. })
        ));
        assert_eq!(run.current_step(), None);
    }

    #[test]
    fn an_early_finish_saves_the_steps_so_far_and_bad_distress_is_refused() {
        let (_dir, run) = practice("five-senses");
        run.next_step();
        match run.finish(11, 2) {
            Err(JournalError::Invalid { violations, .. }) => {
                assert_eq!(violations[0].field, "distressBefore");
            }
            other => panic!("{other:?}"),
        }
        let saved = run.finish(6, 2).unwrap();
        match saved.record.content {
            crate::RecordContent::ExercisePractice { practice } => {
                assert_eq!(practice.steps_completed, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_exercise_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(JournalStore::open(dir.path().join("j.db")).unwrap());
        assert!(matches!(
            GuidedPractice::start(store, "juggling"),
            Err(JournalError::Invalid { .. })
        ));
    }
}
