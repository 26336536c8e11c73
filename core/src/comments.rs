//! Therapists' comments on what a patient shared, and the patient's replies:
//! a therapist's comment is written on the server and delivered to the
//! patient's devices by sync; a reply is written on the phone (or through
//! the API) and sent to the server by sync. Both are listed with the item.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::RecordId;
use crate::validation::{self, InvalidInput};

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// A therapist's comment on one of the patient's records, or the patient's
/// reply to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// The comment's id.
    pub id: Uuid,
    /// The record it is about.
    pub record_id: RecordId,
    /// The therapist of the conversation: who wrote it, or, for a reply,
    /// the therapist it is addressed to.
    pub therapist_id: Uuid,
    /// Who wrote it, by name: the therapist's name as the patient sees it,
    /// or the patient's own (their display name, else their email).
    pub author: String,
    /// The comment (empty once deleted).
    pub text: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub updated_at: DateTime<Utc>,
    /// Whether its author deleted it.
    #[serde(default)]
    pub deleted: bool,
    /// Whether the patient wrote it (a reply), not the therapist.
    #[serde(default)]
    pub from_patient: bool,
    /// For a reply, the therapist's comment it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Uuid>,
    /// Where a reply written on this device stands: on the server already,
    /// waiting for the next sync, or refused by the server. Kept on the
    /// device only (never sent).
    #[serde(skip)]
    pub delivery: Delivery,
}

/// Where a reply written on this device stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// On the server (every comment that came from it, and every reply a
    /// sync has sent).
    #[default]
    Delivered,
    /// Written here, sent by the next sync (a new reply, an edit or a
    /// deletion waiting to go).
    Pending,
    /// The server refused it: the therapist's comment was deleted, the
    /// record is no longer shared with the therapist, or the care link
    /// ended. The text stays here; delete it or copy it elsewhere.
    Refused,
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
