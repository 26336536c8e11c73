//! Logged practice of a grounding exercise, with how distressed the patient
//! felt before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::grounding;
use crate::validation::{FieldViolation, InvalidInput};

/// One practice of a grounding exercise.
///
/// Rules:
/// - `exerciseId`: must name an exercise of [`crate::grounding::catalog`].
/// - `stepsCompleted`: 0 up to the exercise's total number of steps.
/// - `distressBefore`, `distressAfter`: whole numbers 0 (calm) – 10
///   (unbearable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExercisePractice {
    /// The exercise practised.
    pub exercise_id: String,
    /// When the practice started.
    pub practiced_at: DateTime<Utc>,
    /// How many steps the patient went through.
    pub steps_completed: u32,
    /// Distress before, 0–10.
    #[validate(range(min = 0, max = 10))]
    pub distress_before: u8,
    /// Distress after, 0–10.
    #[validate(range(min = 0, max = 10))]
    pub distress_after: u8,
}

impl ExercisePractice {
    /// A valid practice record.
    pub fn new(
        exercise_id: impl Into<String>,
        practiced_at: DateTime<Utc>,
        steps_completed: u32,
        distress_before: u8,
        distress_after: u8,
    ) -> Result<Self, InvalidInput> {
        let practice = Self {
            exercise_id: exercise_id.into(),
            practiced_at,
            steps_completed,
            distress_before,
            distress_after,
        };
        practice.validate()?;
        Ok(practice)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut extra = Vec::new();
        match grounding::find(&self.exercise_id) {
            None => extra.push(FieldViolation {
                field: "exerciseId".to_owned(),
                rule: "unknown_exercise".to_owned(),
                message: "must name an exercise of the catalog".to_owned(),
            }),
            Some(exercise) if self.steps_completed > exercise.total_steps() => {
                extra.push(FieldViolation {
                    field: "stepsCompleted".to_owned(),
                    rule: "range".to_owned(),
                    message: format!(
                        "must be between 0 and {} for this exercise",
                        exercise.total_steps()
                    ),
                });
            }
            Some(_) => {}
        }
        InvalidInput::collect(Validate::validate(self), extra)
    }

    /// How much distress went down (negative when it went up).
    pub fn relief(&self) -> i16 {
        i16::from(self.distress_before) - i16::from(self.distress_after)
    }
}
