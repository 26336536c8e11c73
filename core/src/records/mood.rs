//! Mood check-ins: a quick reading of how the patient is doing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::validation::{self, InvalidInput, rule};

/// A quick check-in.
///
/// Rules:
/// - `mood`, `anxiety`, `energy`: whole numbers 0–10.
/// - `sleepHours`: optional; a finite number 0–24.
/// - `emotions`: at most 12 words, each one line of 1–40 characters, no
///   repeats (ignoring case).
/// - `note`: optional; at most 5,000 characters, line breaks allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoodCheckIn {
    /// When the patient checked in.
    pub recorded_at: DateTime<Utc>,
    /// Mood, 0 (very low) to 10 (very good).
    #[validate(range(min = 0, max = 10))]
    pub mood: u8,
    /// Anxiety, 0 (none) to 10 (extreme).
    #[validate(range(min = 0, max = 10))]
    pub anxiety: u8,
    /// Energy, 0 (exhausted) to 10 (full of energy).
    #[validate(range(min = 0, max = 10))]
    pub energy: u8,
    /// Hours slept last night.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "plausible_sleep_hours"))]
    pub sleep_hours: Option<f64>,
    /// Words for what the patient feels.
    #[serde(default)]
    #[validate(length(max = 12), custom(function = "validation::labels"))]
    pub emotions: Vec<String>,
    /// Anything else the patient wants to note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 5_000), custom(function = "validation::free_text"))]
    pub note: Option<String>,
}

fn plausible_sleep_hours(hours: f64) -> Result<(), ValidationError> {
    // Written out rather than as `range`, which lets NaN through.
    if hours.is_finite() && (0.0..=24.0).contains(&hours) {
        Ok(())
    } else {
        Err(rule("range", "must be between 0 and 24"))
    }
}

impl MoodCheckIn {
    /// A valid check-in with the three scales, at the given time.
    pub fn new(
        recorded_at: DateTime<Utc>,
        mood: u8,
        anxiety: u8,
        energy: u8,
    ) -> Result<Self, InvalidInput> {
        let check_in = Self {
            recorded_at,
            mood,
            anxiety,
            energy,
            sleep_hours: None,
            emotions: Vec::new(),
            note: None,
        };
        check_in.validate()?;
        Ok(check_in)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        InvalidInput::collect(Validate::validate(self), Vec::new())
    }
}
