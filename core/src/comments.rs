//! Therapists' comments on what a patient shared: written on the server,
//! delivered to the patient's devices by sync, listed with the item.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::RecordId;
use crate::validation::{self, InvalidInput};

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// A therapist's comment on one of the patient's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// The comment's id.
    pub id: Uuid,
    /// The record it is about.
    pub record_id: RecordId,
    /// The therapist who wrote it.
    pub therapist_id: Uuid,
    /// The therapist's name as the patient sees it.
    pub author: String,
    /// The comment (empty once deleted).
    pub text: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub updated_at: DateTime<Utc>,
    /// Whether the therapist deleted it.
    #[serde(default)]
    pub deleted: bool,
}

/// Checks a comment's text: 1–2,000 characters, not blank, line breaks
/// allowed, no other control characters.
pub fn check_comment_text(text: &str) -> Result<(), InvalidInput> {
    let length = text.chars().count();
    if length == 0 || length > MAX_COMMENT_CHARS {
        return Err(InvalidInput::single(
            "text",
            "length",
            format!("must not be empty and at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    validation::required_text(text).map_err(|e| {
        InvalidInput::single(
            "text",
            e.code.to_string(),
            e.message.map(|m| m.to_string()).unwrap_or_default(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_text_edges() {
        assert!(check_comment_text("Thank you for sharing this.").is_ok());
        assert!(check_comment_text(&"x".repeat(MAX_COMMENT_CHARS)).is_ok());
        assert!(
            check_comment_text(&"x".repeat(MAX_COMMENT_CHARS + 1))
                .unwrap_err()
                .has("text", "length")
        );
        assert!(check_comment_text("").unwrap_err().has("text", "length"));
        assert!(
            check_comment_text(" \n ")
                .unwrap_err()
                .has("text", "not_blank")
        );
        assert!(
            check_comment_text("bell\u{7}")
                .unwrap_err()
                .has("text", "control_characters")
        );
    }
}
