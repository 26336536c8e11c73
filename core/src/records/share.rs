//! Shares: what the patient lets one linked therapist read — one item, or
//! every record of some kinds. A share is a record like the others, made on
//! the phone and synced; the server decides on every therapist request
//! whether a live, unrevoked share and an active care link allow it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::Validate;

use crate::ids::RecordId;
use crate::records::{Instrument, RecordKind};
use crate::validation::{FieldViolation, InvalidInput};

/// What a share covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    deny_unknown_fields,
    try_from = "WireScope"
)]
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
    /// Every questionnaire of these instruments, including those taken
    /// later (e.g. the PHQ-9s but not the GAD-7s).
    Instruments {
        /// The questionnaires shared: at least one, no repeats.
        instruments: Vec<Instrument>,
    },
}

/// A scope as read from JSON. Read through this rather than serde's tagged
/// enum, which would also take a variant's number (`"type": 0`) for its
/// name: `type` must be `"item"`, `"kinds"` or `"instruments"`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireScope {
    r#type: ScopeType,
    #[serde(default)]
    record_id: Option<RecordId>,
    #[serde(default)]
    kinds: Option<Vec<RecordKind>>,
    #[serde(default)]
    instruments: Option<Vec<Instrument>>,
}

/// The names a scope's `type` may take.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum ScopeType {
    Item,
    Kinds,
    Instruments,
}

impl TryFrom<WireScope> for ShareScope {
    type Error = &'static str;

    fn try_from(wire: WireScope) -> Result<Self, Self::Error> {
        match (wire.r#type, wire.record_id, wire.kinds, wire.instruments) {
            (ScopeType::Item, Some(record_id), None, None) => Ok(ShareScope::Item { record_id }),
            (ScopeType::Item, None, _, _) => Err("an item scope needs `recordId`"),
            (ScopeType::Item, Some(_), _, _) => Err("an item scope has only `recordId`"),
            (ScopeType::Kinds, None, Some(kinds), None) => Ok(ShareScope::Kinds { kinds }),
            (ScopeType::Kinds, _, None, _) => Err("a kinds scope needs `kinds`"),
            (ScopeType::Kinds, _, Some(_), _) => Err("a kinds scope has only `kinds`"),
            (ScopeType::Instruments, None, None, Some(instruments)) => {
                Ok(ShareScope::Instruments { instruments })
            }
            (ScopeType::Instruments, _, _, None) => Err("an instruments scope needs `instruments`"),
            (ScopeType::Instruments, _, _, Some(_)) => {
                Err("an instruments scope has only `instruments`")
            }
        }
    }
}

/// Permission for one therapist to read what the scope covers.
///
/// Rules: `kinds` has at least one kind, no repeats, and never `share`;
/// `instruments` at least one questionnaire, no repeats.
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

    /// A standing share of every questionnaire of these instruments.
    pub fn instruments(
        therapist_id: Uuid,
        instruments: Vec<Instrument>,
    ) -> Result<Self, InvalidInput> {
        let share = Self {
            therapist_id,
            scope: ShareScope::Instruments { instruments },
            revoked: false,
        };
        share.validate()?;
        Ok(share)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut extra = Vec::new();
        if let ShareScope::Instruments { instruments } = &self.scope {
            let problem = |rule: &str, message: &str| FieldViolation {
                field: "scope.instruments".to_owned(),
                rule: rule.to_owned(),
                message: message.to_owned(),
            };
            if instruments.is_empty() {
                extra.push(problem("length", "must name at least one questionnaire"));
            }
            let mut seen: Vec<&str> = instruments.iter().map(|i| i.as_str()).collect();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != instruments.len() {
                extra.push(problem("unique", "must not name a questionnaire twice"));
            }
        }
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

    /// Whether this share, unrevoked, covers a record of `kind` with `id`
    /// (and, for a questionnaire, its `instrument`: one whose instrument is
    /// not given is never covered by an instruments scope).
    pub fn covers(&self, kind: RecordKind, id: RecordId, instrument: Option<Instrument>) -> bool {
        !self.revoked
            && match &self.scope {
                ShareScope::Item { record_id } => *record_id == id,
                ShareScope::Kinds { kinds } => kinds.contains(&kind),
                ShareScope::Instruments { instruments } => {
                    kind == RecordKind::Assessment
                        && instrument.is_some_and(|i| instruments.contains(&i))
                }
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: &str) -> Result<ShareScope, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn scopes_read_by_name_and_write_the_same_way() {
        let id = RecordId::new();
        let item = scope(&format!(r#"{{"type": "item", "recordId": "{id}"}}"#)).unwrap();
        assert_eq!(item, ShareScope::Item { record_id: id });
        let kinds = scope(r#"{"kinds": ["moodCheckIn"], "type": "kinds"}"#).unwrap();
        assert_eq!(
            kinds,
            ShareScope::Kinds {
                kinds: vec![RecordKind::MoodCheckIn]
            }
        );
        for value in [item, kinds] {
            let text = serde_json::to_string(&value).unwrap();
            assert_eq!(scope(&text).unwrap(), value);
        }
    }

    #[test]
    fn an_instruments_scope_covers_only_those_questionnaires() {
        let therapist = Uuid::now_v7();
        let share = Share::instruments(therapist, vec![Instrument::Phq9]).unwrap();
        let id = RecordId::new();
        assert!(share.covers(RecordKind::Assessment, id, Some(Instrument::Phq9)));
        assert!(!share.covers(RecordKind::Assessment, id, Some(Instrument::Gad7)));
        assert!(
            !share.covers(RecordKind::Assessment, id, None),
            "unknown: not covered"
        );
        assert!(!share.covers(RecordKind::MoodCheckIn, id, Some(Instrument::Phq9)));
        let revoked = Share {
            revoked: true,
            ..share.clone()
        };
        assert!(!revoked.covers(RecordKind::Assessment, id, Some(Instrument::Phq9)));
        let read = scope(r#"{"type": "instruments", "instruments": ["phq9"]}"#).unwrap();
        assert_eq!(read, share.scope);
        assert_eq!(
            scope(&serde_json::to_string(&share.scope).unwrap()).unwrap(),
            share.scope
        );
        for bad in [
            r#"{"type": "instruments"}"#,
            r#"{"type": "instruments", "instruments": ["phq9"], "kinds": []}"#,
            r#"{"type": "instruments", "instruments": ["bdi"]}"#,
            r#"{"type": "kinds", "kinds": ["assessment"], "instruments": ["phq9"]}"#,
        ] {
            assert!(scope(bad).is_err(), "{bad} should be refused");
        }
        let empty = Share::instruments(therapist, Vec::new()).unwrap_err();
        assert!(empty.has("scope.instruments", "length"));
        let twice = Share::instruments(therapist, vec![Instrument::Gad7, Instrument::Gad7]);
        assert!(twice.unwrap_err().has("scope.instruments", "unique"));
    }

    #[test]
    fn a_scope_type_must_be_a_name_with_its_own_fields() {
        let id = RecordId::new();
        for bad in [
            format!(r#"{{"type": 0, "recordId": "{id}"}}"#),
            r#"{"type": 1, "kinds": ["moodCheckIn"]}"#.to_owned(),
            format!(r#"{{"type": "Item", "recordId": "{id}"}}"#),
            r#"{"type": "item"}"#.to_owned(),
            r#"{"type": "kinds"}"#.to_owned(),
            format!(r#"{{"type": "item", "recordId": "{id}", "kinds": []}}"#),
            format!(r#"{{"type": "kinds", "recordId": "{id}", "kinds": []}}"#),
            format!(r#"{{"type": "item", "recordId": "{id}", "extra": 1}}"#),
            format!(r#"{{"recordId": "{id}"}}"#),
        ] {
            assert!(scope(&bad).is_err(), "{bad} should be refused");
        }
        let value = serde_json::json!({"type": 0, "recordId": id.to_string()});
        assert!(serde_json::from_value::<ShareScope>(value).is_err());
    }
}

/// A change the share rules refuse: the share is revoked, and a revoked
/// share stays revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this share was revoked, and a revoked share is never granted or changed again; to share again, make a new share"
)]
pub struct ShareRevoked;

/// The edit rule of shares, the same on the phone and on the server: a
/// change made on a revoked share (its current version, not one racing the
/// revocation, which the conflict rules settle) is refused unless it
/// changes nothing. `current` and `next` are any record's content; only a
/// revoked share's is ever refused. Deleting a revoked share is not an
/// edit, and stays allowed.
pub fn check_share_edit(
    current: &super::RecordBody,
    next: &super::RecordBody,
) -> Result<(), ShareRevoked> {
    match current {
        super::RecordBody::Share(share) if share.revoked && current != next => Err(ShareRevoked),
        _ => Ok(()),
    }
}
