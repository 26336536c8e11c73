//! Every kind of record a patient owns, and the envelope they share.
//!
//! A [`Record`] is the same for every kind: an id made on the device, when
//! it was created and last changed, the clock stamp of its last change, and
//! a [`RecordBody`] holding the kind-specific content. The envelope is what
//! the device store keeps and what sync moves.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod assessment;
mod commitment;
mod dosing;
mod entry;
mod intention;
mod mood;
mod practice;
mod share;

pub use assessment::{Assessment, AssessmentScore, Instrument, Severity};
pub use commitment::{Commitment, CommitmentStatus};
pub use dosing::{DosingSession, Route, SessionStatus};
pub use entry::JournalEntry;
pub use intention::{Intention, IntentionStatus, Reflection};
pub use mood::MoodCheckIn;
pub use practice::ExercisePractice;
pub use share::{Share, ShareRevoked, ShareScope, check_share_edit};

use crate::hlc::Hlc;
use crate::ids::RecordId;
use crate::phase::Phase;
pub use crate::plan::CarePlan;
use crate::validation::InvalidInput;

/// The kinds of record a patient owns.
///
/// Serialized in camelCase (`"journalEntry"`, `"moodCheckIn"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RecordKind {
    /// A [`JournalEntry`].
    JournalEntry,
    /// An [`Intention`].
    Intention,
    /// A [`MoodCheckIn`].
    MoodCheckIn,
    /// An [`Assessment`].
    Assessment,
    /// An [`ExercisePractice`].
    ExercisePractice,
    /// A [`DosingSession`].
    DosingSession,
    /// A [`Share`].
    Share,
    /// A [`Commitment`].
    Commitment,
    /// The patient's own [`CarePlan`].
    CarePlan,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 9] = [
        RecordKind::JournalEntry,
        RecordKind::Intention,
        RecordKind::MoodCheckIn,
        RecordKind::Assessment,
        RecordKind::ExercisePractice,
        RecordKind::DosingSession,
        RecordKind::Share,
        RecordKind::Commitment,
        RecordKind::CarePlan,
    ];

    /// The stable wire and storage name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::JournalEntry => "journalEntry",
            RecordKind::Intention => "intention",
            RecordKind::MoodCheckIn => "moodCheckIn",
            RecordKind::Assessment => "assessment",
            RecordKind::ExercisePractice => "exercisePractice",
            RecordKind::DosingSession => "dosingSession",
            RecordKind::Share => "share",
            RecordKind::Commitment => "commitment",
            RecordKind::CarePlan => "carePlan",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`RecordKind`] from a string that names none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind {0:?}")]
pub struct UnknownKind(pub String);

impl FromStr for RecordKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// The content of a record, by kind.
///
/// In JSON: `{"kind": "journalEntry", "body": {…the entry…}}`. Any other
/// field, beside `kind` and `body` or inside the body, is refused: a client
/// cannot slip in an owner, an id or a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    tag = "kind",
    content = "body",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub enum RecordBody {
    /// A journal entry.
    JournalEntry(JournalEntry),
    /// An intention.
    Intention(Intention),
    /// A mood check-in.
    MoodCheckIn(MoodCheckIn),
    /// A questionnaire.
    Assessment(Assessment),
    /// A grounding-exercise practice.
    ExercisePractice(ExercisePractice),
    /// A dosing session.
    DosingSession(DosingSession),
    /// A share with a therapist.
    Share(Share),
    /// A commitment made after a dosing session.
    Commitment(Commitment),
    /// A care plan the patient keeps for themselves (without a therapist,
    /// or before one links).
    CarePlan(CarePlan),
}

impl RecordBody {
    /// The kind of record this content belongs to.
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordBody::JournalEntry(_) => RecordKind::JournalEntry,
            RecordBody::Intention(_) => RecordKind::Intention,
            RecordBody::MoodCheckIn(_) => RecordKind::MoodCheckIn,
            RecordBody::Assessment(_) => RecordKind::Assessment,
            RecordBody::ExercisePractice(_) => RecordKind::ExercisePractice,
            RecordBody::DosingSession(_) => RecordKind::DosingSession,
            RecordBody::Share(_) => RecordKind::Share,
            RecordBody::Commitment(_) => RecordKind::Commitment,
            RecordBody::CarePlan(_) => RecordKind::CarePlan,
        }
    }

    /// Checks every rule of the kind.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        match self {
            RecordBody::JournalEntry(r) => r.validate(),
            RecordBody::Intention(r) => r.validate(),
            RecordBody::MoodCheckIn(r) => r.validate(),
            RecordBody::Assessment(r) => r.validate(),
            RecordBody::ExercisePractice(r) => r.validate(),
            RecordBody::DosingSession(r) => r.validate(),
            RecordBody::Share(r) => r.validate(),
            RecordBody::Commitment(r) => r.validate(),
            RecordBody::CarePlan(r) => r.validate(),
        }
    }

    /// The moment the record is about, when the kind carries one (a
    /// check-in's time, a session's start, …). Lists order and filter by it,
    /// falling back to the record's creation time.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        match self {
            RecordBody::JournalEntry(_)
            | RecordBody::Intention(_)
            | RecordBody::Share(_)
            | RecordBody::Commitment(_)
            | RecordBody::CarePlan(_) => None,
            RecordBody::MoodCheckIn(r) => Some(r.recorded_at),
            RecordBody::Assessment(r) => Some(r.taken_at),
            RecordBody::ExercisePractice(r) => Some(r.practiced_at),
            RecordBody::DosingSession(r) => Some(r.scheduled_at),
        }
    }

    /// The questionnaire answered (questionnaires only).
    pub fn instrument(&self) -> Option<Instrument> {
        match self {
            RecordBody::Assessment(r) => Some(r.instrument),
            _ => None,
        }
    }

    /// The phase the record is filed under (journal entries only).
    pub fn phase(&self) -> Option<Phase> {
        match self {
            RecordBody::JournalEntry(r) => Some(r.phase),
            _ => None,
        }
    }

    /// The dosing session the record links to: an entry's or intention's
    /// session. A dosing session is linked to itself, so filtering by a
    /// session returns the session together with what was written about it.
    pub fn dosing_session_id(&self, own_id: RecordId) -> Option<RecordId> {
        match self {
            RecordBody::JournalEntry(r) => r.dosing_session_id,
            RecordBody::Intention(r) => Some(r.dosing_session_id),
            RecordBody::Commitment(r) => Some(r.dosing_session_id),
            RecordBody::DosingSession(_) => Some(own_id),
            _ => None,
        }
    }

    /// The dosing session this content names and that must be one of the
    /// owner's live dosing sessions: a journal entry's (when it has one), an
    /// intention's or a commitment's. `None` for every other kind — a dosing session's link
    /// to itself ([`RecordBody::dosing_session_id`]) needs no check.
    pub fn linked_dosing_session(&self) -> Option<RecordId> {
        match self {
            RecordBody::JournalEntry(r) => r.dosing_session_id,
            RecordBody::Intention(r) => Some(r.dosing_session_id),
            RecordBody::Commitment(r) => Some(r.dosing_session_id),
            _ => None,
        }
    }

    /// The text that full-text search indexes: a headline and a body.
    /// `None` for kinds that are not searched.
    pub fn searchable_text(&self) -> Option<(String, String)> {
        match self {
            RecordBody::JournalEntry(r) => {
                Some((r.title.clone().unwrap_or_default(), r.body.clone()))
            }
            RecordBody::Intention(r) => {
                let reflection = r
                    .reflection
                    .as_ref()
                    .map(|x| format!("{}\n{}", x.how_it_went, x.carry_forward))
                    .unwrap_or_default();
                Some((r.text.clone(), reflection))
            }
            RecordBody::Commitment(r) => Some((r.text.clone(), r.note.clone().unwrap_or_default())),
            _ => None,
        }
    }

    /// Reads the content of a record of `kind` from its JSON body (nothing
    /// but white space may follow it).
    pub fn from_json(kind: RecordKind, body: &str) -> Result<Self, serde_json::Error> {
        let mut reader = serde_json::Deserializer::from_str(body);
        let content = Self::deserialize_as(kind, &mut reader)?;
        reader.end()?;
        Ok(content)
    }

    /// Reads the content of a record of `kind` from its JSON value.
    pub fn from_value(
        kind: RecordKind,
        body: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Self::deserialize_as(kind, body)
    }

    /// Reads the content of a record of `kind` from a JSON value it
    /// borrows: the same as [`RecordBody::from_value`] without a copy of
    /// the value.
    pub fn from_value_ref(
        kind: RecordKind,
        body: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Self::deserialize_as(kind, body)
    }

    /// The one place a kind picks the type its content is read as, from
    /// JSON text or a value alike.
    fn deserialize_as<'de, D>(kind: RecordKind, body: D) -> Result<Self, serde_json::Error>
    where
        D: serde::Deserializer<'de, Error = serde_json::Error>,
    {
        use serde::Deserialize;
        Ok(match kind {
            RecordKind::JournalEntry => RecordBody::JournalEntry(Deserialize::deserialize(body)?),
            RecordKind::Intention => RecordBody::Intention(Deserialize::deserialize(body)?),
            RecordKind::MoodCheckIn => RecordBody::MoodCheckIn(Deserialize::deserialize(body)?),
            RecordKind::Assessment => RecordBody::Assessment(Deserialize::deserialize(body)?),
            RecordKind::ExercisePractice => {
                RecordBody::ExercisePractice(Deserialize::deserialize(body)?)
            }
            RecordKind::DosingSession => RecordBody::DosingSession(Deserialize::deserialize(body)?),
            RecordKind::Share => RecordBody::Share(Deserialize::deserialize(body)?),
            RecordKind::Commitment => RecordBody::Commitment(Deserialize::deserialize(body)?),
            RecordKind::CarePlan => RecordBody::CarePlan(Deserialize::deserialize(body)?),
        })
    }

    /// The JSON of the content alone, without the kind.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            RecordBody::JournalEntry(r) => serde_json::to_string(r),
            RecordBody::Intention(r) => serde_json::to_string(r),
            RecordBody::MoodCheckIn(r) => serde_json::to_string(r),
            RecordBody::Assessment(r) => serde_json::to_string(r),
            RecordBody::ExercisePractice(r) => serde_json::to_string(r),
            RecordBody::DosingSession(r) => serde_json::to_string(r),
            RecordBody::Share(r) => serde_json::to_string(r),
            RecordBody::Commitment(r) => serde_json::to_string(r),
            RecordBody::CarePlan(r) => serde_json::to_string(r),
        }
    }
}

/// The link rule, the same on the phone and on the server: a journal entry,
/// an intention or a commitment may only name one of the owner's live
/// dosing sessions.
///
/// `is_live_session` answers whether the session
/// [`RecordBody::linked_dosing_session`] names is one of the owner's live
/// (not deleted) dosing sessions; it is asked only when the content links to
/// one, and its own error is returned as it is. A session it does not know
/// fails with `dosingSessionId` / `unknown_session`.
pub fn check_dosing_session_link<E: From<InvalidInput>>(
    body: &RecordBody,
    is_live_session: impl FnOnce(RecordId) -> Result<bool, E>,
) -> Result<(), E> {
    let Some(session) = body.linked_dosing_session() else {
        return Ok(());
    };
    if is_live_session(session)? {
        return Ok(());
    }
    Err(InvalidInput::single(
        "dosingSessionId",
        "unknown_session",
        "must name one of your dosing sessions",
    )
    .into())
}

/// A dosing session that live intentions or entries still link to: it is
/// not deleted until they are deleted or relinked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this dosing session still has {linked} intention(s) or entries linked to it; delete or relink them first"
)]
pub struct SessionInUse {
    /// How many live records link to the session.
    pub linked: u64,
}

/// The delete rule, the same on the phone and on the server: any record may
/// be deleted but a dosing session that live intentions or entries still
/// link to.
///
/// `count_linked` counts the owner's live records (the session itself left
/// out) that link to it; it is asked only for a dosing session, and its own
/// error is the outer one. The inner result is the rule's answer.
pub fn check_deletable<E>(
    kind: RecordKind,
    count_linked: impl FnOnce() -> Result<u64, E>,
) -> Result<Result<(), SessionInUse>, E> {
    if kind != RecordKind::DosingSession {
        return Ok(Ok(()));
    }
    let linked = count_linked()?;
    Ok(if linked == 0 {
        Ok(())
    } else {
        Err(SessionInUse { linked })
    })
}

macro_rules! into_body {
    ($($kind:ident),*) => {$(
        impl From<$kind> for RecordBody {
            fn from(record: $kind) -> Self {
                RecordBody::$kind(record)
            }
        }
    )*};
}

into_body!(
    JournalEntry,
    Intention,
    MoodCheckIn,
    Assessment,
    ExercisePractice,
    DosingSession,
    Share,
    Commitment,
    CarePlan
);

/// A patient's record with its envelope.
///
/// In JSON: `{"id", "createdAt", "updatedAt", "hlc", "kind", "body"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Made on the device that first wrote the record.
    pub id: RecordId,
    /// When the record was first written (the writing device's clock; for
    /// display only).
    pub created_at: DateTime<Utc>,
    /// When the record was last changed (for display only).
    pub updated_at: DateTime<Utc>,
    /// The clock stamp of the last change: what conflict rules order by.
    pub hlc: Hlc,
    /// The content.
    #[serde(flatten)]
    pub body: RecordBody,
}

impl Record {
    /// A new record of `body`: a fresh id (UUIDv7), created and updated
    /// `at`, stamped `hlc`. How both the phone and the server make one.
    pub fn new(body: RecordBody, hlc: Hlc, at: DateTime<Utc>) -> Self {
        Self {
            id: RecordId::new(),
            created_at: at,
            updated_at: at,
            hlc,
            body,
        }
    }

    /// The kind of the record.
    pub fn kind(&self) -> RecordKind {
        self.body.kind()
    }

    /// The moment the record is about: see [`RecordBody::occurred_at`].
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.body.occurred_at().unwrap_or(self.created_at)
    }
}

#[cfg(test)]
mod tests;
