//! Journal entries: the free writing at the heart of integration.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::ids::RecordId;
use crate::phase::Phase;
use crate::prompts;
use crate::validation::{self, FieldViolation, InvalidInput, rule};

/// A piece of free writing, optionally answering a prompt.
///
/// Rules:
/// - `title`: optional; when given 1–200 characters on one line, not blank.
/// - `body`: 1–100,000 characters, not blank; line breaks and tabs allowed,
///   other control characters not.
/// - `promptId`: optional; must name a prompt of [`crate::prompts`] of the
///   entry's own phase (a dosing-day entry does not answer a preparation
///   prompt).
/// - `tags`: at most 20, each one line of 1–40 characters, no repeats
///   (ignoring case).
/// - `dosingSessionId`: optional link to one of the patient's dosing
///   sessions; the device store checks that it exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalEntry {
    /// A short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(
        length(min = 1, max = 200),
        custom(function = "validation::single_line")
    )]
    pub title: Option<String>,
    /// The text the patient wrote.
    #[validate(
        length(min = 1, max = 100_000),
        custom(function = "validation::required_text")
    )]
    pub body: String,
    /// The phase of treatment the entry belongs to.
    pub phase: Phase,
    /// The prompt the entry answers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "known_prompt"))]
    pub prompt_id: Option<String>,
    /// The patient's own labels.
    #[serde(default)]
    #[validate(length(max = 20), custom(function = "validation::labels"))]
    pub tags: Vec<String>,
    /// The dosing session the entry is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dosing_session_id: Option<RecordId>,
}

fn known_prompt(id: &str) -> Result<(), ValidationError> {
    match prompts::find(id) {
        Some(_) => Ok(()),
        None => Err(rule("unknown_prompt", "must name a prompt of the library")),
    }
}

impl JournalEntry {
    /// A valid entry with the given text in the given phase, and nothing else
    /// set.
    pub fn new(body: impl Into<String>, phase: Phase) -> Result<Self, InvalidInput> {
        let entry = Self {
            title: None,
            body: body.into(),
            phase,
            prompt_id: None,
            tags: Vec::new(),
            dosing_session_id: None,
        };
        entry.validate()?;
        Ok(entry)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut extra = Vec::new();
        if let Some(prompt) = self.prompt_id.as_deref().and_then(prompts::find)
            && prompt.phase != self.phase
        {
            extra.push(FieldViolation {
                field: "promptId".to_owned(),
                rule: "phase".to_owned(),
                message: format!(
                    "names a prompt of the {} phase; this entry is in the {} phase",
                    prompt.phase, self.phase
                ),
            });
        }
        InvalidInput::collect(Validate::validate(self), extra)
    }
}
