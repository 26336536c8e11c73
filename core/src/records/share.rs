//! Shares: what the patient lets one linked therapist read — one item, or
//! every record of some kinds. A share is a record like the others, made on
//! the phone and synced; the server decides on every therapist request
//! whether a live, unrevoked share and an active care link allow it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::Validate;

use crate::ids::RecordId;
use crate::records::RecordKind;
use crate::validation::{FieldViolation, InvalidInput};

/// What a share covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ShareScope {
    /// One record (an entry, intention, check-in, questionnaire, practice or
    /// dosing session).
    #[serde(rename_all = "camelCase")]
    Item {
        /// The record shared.
        record_id: RecordId,
    },
    /// Every record of these kinds, including those written later — a
    /// standing share (e.g. all mood check-ins and questionnaires).
    Kinds {
        /// The kinds shared: at least one, no repeats, not shares.
        kinds: Vec<RecordKind>,
    },
}

/// Permission for one therapist to read what the scope covers.
///
/// Rules: `kinds` has at least one kind, no repeats, and never `share`.
/// Revoking is setting `revoked`; a revoked share stays revoked (to share
/// again, make a new one), and a revocation wins over any concurrent change
/// to the same share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Share {
    /// The therapist's account id (from the care link).
    pub therapist_id: Uuid,
    /// What is shared.
    pub scope: ShareScope,
    /// Whether the patient took the share back.
    #[serde(default)]
    pub revoked: bool,
}

impl Share {
    /// A share of one record.
    pub fn item(therapist_id: Uuid, record_id: RecordId) -> Self {
        Self {
            therapist_id,
            scope: ShareScope::Item { record_id },
            revoked: false,
        }
    }

    /// A standing share of whole kinds.
    pub fn kinds(therapist_id: Uuid, kinds: Vec<RecordKind>) -> Result<Self, InvalidInput> {
        let share = Self {
            therapist_id,
            scope: ShareScope::Kinds { kinds },
            revoked: false,
        };
        share.validate()?;
        Ok(share)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut extra = Vec::new();
        if let ShareScope::Kinds { kinds } = &self.scope {
            let problem = |rule: &str, message: &str| FieldViolation {
                field: "scope.kinds".to_owned(),
                rule: rule.to_owned(),
                message: message.to_owned(),
            };
            if kinds.is_empty() {
                extra.push(problem("length", "must name at least one kind"));
            }
            if kinds.contains(&RecordKind::Share) {
                extra.push(problem(
                    "not_shareable",
                    "shares themselves cannot be shared",
                ));
            }
            let mut seen = kinds.clone();
            seen.sort();
            seen.dedup();
            if seen.len() != kinds.len() {
                extra.push(problem("unique", "must not name a kind twice"));
            }
        }
        if self.therapist_id.is_nil() {
            extra.push(FieldViolation {
                field: "therapistId".to_owned(),
                rule: "required".to_owned(),
                message: "must name a therapist".to_owned(),
            });
        }
        InvalidInput::collect(Validate::validate(self), extra)
    }

    /// Whether this share, unrevoked, covers a record of `kind` with `id`.
    pub fn covers(&self, kind: RecordKind, id: RecordId) -> bool {
        !self.revoked
            && match &self.scope {
                ShareScope::Item { record_id } => *record_id == id,
                ShareScope::Kinds { kinds } => kinds.contains(&kind),
            }
    }
}
