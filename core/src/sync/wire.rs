//! The JSON of `POST /api/v1/sync/push` and `GET /api/v1/sync/pull`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::hlc::Hlc;
use crate::ids::{DeviceId, MutationId, RecordId};
use crate::records::{RecordBody, RecordKind};
use crate::validation::FieldViolation;

/// The most mutations one push may carry.
pub const MAX_PUSH_MUTATIONS: usize = 500;
/// The most changes one pull may ask for.
pub const MAX_PULL_LIMIT: u32 = 1_000;
/// The page size of a pull when none is asked for.
pub const DEFAULT_PULL_LIMIT: u32 = 500;

/// A position in one owner's history of changes: every change the server
/// stores gets the next number, in commit order. The pull cursor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct OwnerVersion(pub u64);

impl fmt::Display for OwnerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a change does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChangeOp {
    /// Created or edited: the record now has this content.
    Upsert,
    /// Deleted.
    Delete,
}

/// A device's batch of local changes, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushRequest {
    /// The pushing device.
    pub device_id: DeviceId,
    /// 1–500 changes, in the order the device made them (rising mutation
    /// ids).
    pub mutations: Vec<Mutation>,
}

/// One local change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mutation {
    /// The device's number for this change: 1, 2, 3, …
    pub mutation_id: MutationId,
    /// The record changed.
    pub record_id: RecordId,
    /// Its kind.
    pub kind: RecordKind,
    /// Upsert or delete.
    pub op: ChangeOp,
    /// The clock stamp of the change: before the last millisecond a stamp
    /// can carry ([`MAX_CHANGE_MILLIS`]), so that a merge of it still has
    /// a later stamp to take.
    #[serde(deserialize_with = "change_stamp")]
    pub hlc: Hlc,
    /// The stamp of the version the change was made on (`None` for a new
    /// record). Differs from the server's current stamp when another device
    /// changed the record meanwhile: a concurrent edit.
    #[serde(default)]
    pub base_hlc: Option<Hlc>,
    /// The top-level fields of the content this change set (`None`: all of
    /// them). Lets small records merge field by field.
    #[serde(default)]
    pub changed_fields: Option<Vec<String>>,
    /// When the record was first written.
    pub created_at: DateTime<Utc>,
    /// When this change was made.
    pub updated_at: DateTime<Utc>,
    /// The content after an upsert, as the kind's JSON (absent for a
    /// delete). Kept as raw JSON so that one bad body rejects only its own
    /// mutation.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub body: Option<RawBody>,
}

/// A record's content as JSON text, carried as it is: well-formed JSON,
/// read as its kind only where it is used
/// ([`RawBody::read_as`]). A push's bodies go from the outbox to the
/// server without being taken apart and put together again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawBody(Box<serde_json::value::RawValue>);

impl RawBody {
    /// Takes JSON text as it is; an error if it is not well-formed JSON.
    pub fn from_json(json: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(json).map(Self)
    }

    /// The JSON text of a value.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The content read as a record of `kind`.
    pub fn read_as(&self, kind: RecordKind) -> Result<RecordBody, serde_json::Error> {
        RecordBody::from_json(kind, self.json())
    }

    /// The JSON as a value.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

/// Two bodies are equal when they hold the same JSON value, however it is
/// spaced or its keys ordered.
impl PartialEq for RawBody {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json() || self.to_value().ok() == other.to_value().ok()
    }
}

/// The latest millisecond a device may stamp one of its changes with: one
/// before [`Hlc::MAX_MILLIS`] (the year 6429). A change stamped in the last
/// millisecond would leave the conflict rules no later stamp for a merge of
/// it, and the merged version would order before the one it replaces.
pub const MAX_CHANGE_MILLIS: u64 = Hlc::MAX_MILLIS - 1;

/// Reads a change's own stamp, refusing one in the last millisecond.
fn change_stamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Hlc, D::Error> {
    let hlc = Hlc::deserialize(deserializer)?;
    if hlc.millis() > MAX_CHANGE_MILLIS {
        return Err(serde::de::Error::custom(format!(
            "clock stamp {hlc} is too far in the future for a change"
        )));
    }
    Ok(hlc)
}

/// What became of each mutation of a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushResponse {
    /// One outcome per mutation pushed, in order.
    pub results: Vec<MutationOutcome>,
    /// The highest mutation id of this device the server has dealt with;
    /// the device may forget every change up to it.
    pub last_applied_mutation: Option<MutationId>,
}

/// Whether a mutation was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum OutcomeStatus {
    /// Dealt with: applied, or merged by the conflict rules (see
    /// `conflict`). Never to be sent again.
    Applied,
    /// Refused (invalid, not yours); never to be sent again, does not hold
    /// up the mutations behind it.
    Rejected,
}

/// What became of one mutation. A replayed mutation answers the outcome it
/// got the first time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MutationOutcome {
    /// The mutation.
    pub mutation_id: MutationId,
    /// Applied or rejected.
    pub status: OutcomeStatus,
    /// Whether it met a concurrent change (the result is in the next pull,
    /// and a losing text is kept as a revision).
    #[serde(default)]
    pub conflict: bool,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<MutationProblem>,
}

/// Why a mutation was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MutationProblem {
    /// Stable problem type, as in the API's problem documents.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// What is wrong.
    pub detail: String,
    /// For invalid content: every broken rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
}

/// A page of changes after a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    /// Changes in version order: records (tombstones included), conflict
    /// revisions, therapists' comments and the care plans they wrote.
    pub changes: Vec<PulledChange>,
    /// Pass as `since` next time.
    pub cursor: OwnerVersion,
    /// Whether more changes follow.
    pub has_more: bool,
    /// The highest mutation id of the asking device the server has dealt
    /// with, so a device can forget changes whose push answer was lost.
    pub last_applied_mutation: Option<MutationId>,
    /// The server's clock when it answered: a device whose clock runs
    /// ahead learns by how much, and stamps its changes by the corrected
    /// time (a push stamped too far ahead is refused as `clock-ahead`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<DateTime<Utc>>,
}

/// One change in a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PulledChange {
    /// A record as the server now holds it.
    Record {
        /// Its position in the owner's history.
        version: OwnerVersion,
        /// The record.
        record: RecordState,
    },
    /// Text that lost a conflict, kept so the patient can see and restore it.
    Revision {
        /// Its position in the owner's history.
        version: OwnerVersion,
        /// The revision.
        revision: Revision,
    },
    /// A therapist's comment on one of the patient's records, new, edited
    /// or deleted.
    Comment {
        /// Its position in the owner's history.
        version: OwnerVersion,
        /// The comment.
        comment: crate::comments::Comment,
    },
    /// A care plan a linked therapist wrote for the patient, set, changed
    /// or withdrawn.
    CarePlan {
        /// Its position in the owner's history.
        version: OwnerVersion,
        /// The plan.
        #[serde(rename = "carePlan")]
        care_plan: crate::plan::AssignedPlan,
    },
}

impl PulledChange {
    /// Its position in the owner's history.
    pub fn version(&self) -> OwnerVersion {
        match self {
            PulledChange::Record { version, .. }
            | PulledChange::Revision { version, .. }
            | PulledChange::Comment { version, .. }
            | PulledChange::CarePlan { version, .. } => *version,
        }
    }
}

/// A record as the server holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordState {
    /// The record.
    pub id: RecordId,
    /// Its kind.
    pub kind: RecordKind,
    /// When it was first written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The stamp of its current version.
    pub hlc: Hlc,
    /// Whether it is a tombstone.
    pub deleted: bool,
    /// The content (absent for a tombstone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub body: Option<serde_json::Value>,
}

impl RecordState {
    /// The content, read as its kind.
    pub fn content(&self) -> Result<Option<RecordBody>, serde_json::Error> {
        self.body
            .as_ref()
            .map(|v| RecordBody::from_value_ref(self.kind, v))
            .transpose()
    }
}

/// Why a revision was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RevisionReason {
    /// Edited on two devices at once, and this edit lost.
    Conflict,
    /// Edited while another device deleted the record, and the delete won.
    Deleted,
}

impl RevisionReason {
    /// The name stores keep it under, on the phone and the server alike
    /// (the same as on the wire).
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionReason::Conflict => "conflict",
            RevisionReason::Deleted => "deleted",
        }
    }

    /// Reads a stored name; `None` for anything [`RevisionReason::as_str`]
    /// does not write.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "conflict" => Some(RevisionReason::Conflict),
            "deleted" => Some(RevisionReason::Deleted),
            _ => None,
        }
    }
}

/// Text kept because it lost a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// The revision's id.
    pub id: uuid::Uuid,
    /// The record it belongs to.
    pub record_id: RecordId,
    /// The record's kind.
    pub kind: RecordKind,
    /// The stamp of the losing edit.
    pub hlc: Hlc,
    /// Why it was kept.
    pub reason: RevisionReason,
    /// The losing content.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: serde_json::Value,
    /// When it was kept.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_with_hlc(hlc: &str) -> String {
        format!(
            r#"{{"deviceId":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","mutations":[{{"mutationId":1,
            "recordId":"0190a1b2-c3d4-7e5f-8a9b-000000000006","kind":"share","op":"delete",
            "hlc":"{hlc}","createdAt":"2026-03-01T09:30:00Z","updatedAt":"2026-03-01T09:30:00Z"}}]}}"#
        )
    }

    #[test]
    fn a_change_stamped_in_the_last_millisecond_is_refused() {
        // Found by fuzzing: a share granted at the largest stamp and revoked
        // concurrently was merged under a stamp ordering before the grant.
        let last = Hlc::new(MAX_CHANGE_MILLIS, u16::MAX).to_string();
        let push: PushRequest = serde_json::from_str(&push_with_hlc(&last)).unwrap();
        assert_eq!(push.mutations[0].hlc.millis(), MAX_CHANGE_MILLIS);
        for refused in ["7fffffffffff0000", "7fffffffffffffff"] {
            let err = serde_json::from_str::<PushRequest>(&push_with_hlc(refused)).unwrap_err();
            assert!(err.to_string().contains("too far in the future"), "{err}");
        }
    }
}
