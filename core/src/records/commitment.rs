//! Commitments: after a dosing session, an insight turned into something
//! to do ("walk every morning"), with a day to look back on it, and then
//! kept, changed or dropped.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::ids::RecordId;
use crate::validation::{self, InvalidInput};

/// Where a commitment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CommitmentStatus {
    /// Made, not yet looked back on.
    #[default]
    Open,
    /// Kept.
    Kept,
    /// Kept in a changed form (the note says how).
    Changed,
    /// Let go of.
    Dropped,
}

/// A commitment made after a dosing session.
///
/// Rules:
/// - `text`: 1–2,000 characters, not blank; line breaks allowed.
/// - `dosingSessionId`: the session it came from; one of the owner's live
///   sessions (checked by the store, as for intentions).
/// - `intentionId`: optional, the intention whose insight it carries on.
/// - `followUpOn`: the day to look back on it.
/// - `note`: optional, at most 20,000 characters: how it went, what changed.
/// - `status`: defaults to `open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Commitment {
    /// The commitment, in the patient's words.
    #[validate(
        length(min = 1, max = 2_000),
        custom(function = "validation::required_text")
    )]
    pub text: String,
    /// The dosing session it came from.
    pub dosing_session_id: RecordId,
    /// The intention it carries on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intention_id: Option<RecordId>,
    /// The day to look back on it.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub follow_up_on: NaiveDate,
    /// Where it stands.
    #[serde(default)]
    pub status: CommitmentStatus,
    /// How it went, or what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 20_000), custom(function = "validation::free_text"))]
    pub note: Option<String>,
}

impl Commitment {
    /// A valid, open commitment after the given session.
    pub fn new(
        text: impl Into<String>,
        dosing_session_id: RecordId,
        follow_up_on: NaiveDate,
    ) -> Result<Self, InvalidInput> {
        let commitment = Self {
            text: text.into(),
            dosing_session_id,
            intention_id: None,
            follow_up_on,
            status: CommitmentStatus::Open,
            note: None,
        };
        commitment.validate()?;
        Ok(commitment)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        InvalidInput::collect(Validate::validate(self), Vec::new())
    }
}
