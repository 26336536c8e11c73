//! Intentions: what the patient means to bring into a dosing session, and
//! afterwards how it went.

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::ids::RecordId;
use crate::validation::{self, FieldViolation, InvalidInput};

/// Where an intention stands once the session is behind the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum IntentionStatus {
    /// Set, and the session has not been reflected on yet.
    #[default]
    Open,
    /// The patient feels the intention was met.
    Fulfilled,
    /// Partly met; there is more to do.
    PartlyFulfilled,
    /// Not met this time.
    NotFulfilled,
    /// Consciously let go of: it no longer fits.
    Released,
}

/// The patient's look back on an intention after the session.
///
/// Rules: each text at most 20,000 characters, line breaks allowed, no other
/// control characters; at least one of the two says something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reflection {
    /// How the session went with respect to the intention.
    #[serde(default)]
    #[validate(length(max = 20_000), custom(function = "validation::free_text"))]
    pub how_it_went: String,
    /// What to carry forward into daily life.
    #[serde(default)]
    #[validate(length(max = 20_000), custom(function = "validation::free_text"))]
    pub carry_forward: String,
}

/// An intention set before a dosing session.
///
/// Rules:
/// - `text`: 1–2,000 characters, not blank; line breaks allowed.
/// - `dosingSessionId`: the session it is for; the device store checks that
///   it exists.
/// - `reflection`: optional; see [`Reflection`].
/// - `status`: defaults to `open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Intention {
    /// The intention, in the patient's words.
    #[validate(
        length(min = 1, max = 2_000),
        custom(function = "validation::required_text")
    )]
    pub text: String,
    /// The dosing session the intention is for.
    pub dosing_session_id: RecordId,
    /// The look back, written after the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(nested)]
    pub reflection: Option<Reflection>,
    /// Where the intention stands.
    #[serde(default)]
    pub status: IntentionStatus,
}

impl Intention {
    /// A valid, open intention for the given session.
    pub fn new(text: impl Into<String>, dosing_session_id: RecordId) -> Result<Self, InvalidInput> {
        let intention = Self {
            text: text.into(),
            dosing_session_id,
            reflection: None,
            status: IntentionStatus::Open,
        };
        intention.validate()?;
        Ok(intention)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut extra = Vec::new();
        if let Some(reflection) = &self.reflection
            && reflection.how_it_went.trim().is_empty()
            && reflection.carry_forward.trim().is_empty()
        {
            extra.push(FieldViolation {
                field: "reflection".to_owned(),
                rule: "not_blank".to_owned(),
                message: "a reflection must say how it went or what to carry forward".to_owned(),
            });
        }
        InvalidInput::collect(Validate::validate(self), extra)
    }
}
