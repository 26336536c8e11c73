//! The rows of the records, revisions and comments tables, and their one
//! decoding into journal-core's types. A row that cannot be decoded is a
//! corrupt row: [`StoreError::Internal`], logged, never shown.

use diesel::prelude::*;
use journal_core::comments::Comment;
use journal_core::hlc::Hlc;
use journal_core::ids::DeviceId;
use journal_core::records::{Record, RecordBody, RecordKind, UnknownKind};
use journal_core::sync::{
    FieldStamps, OwnerVersion, PulledChange, RecordState, Revision, RevisionReason, Stamp, Stored,
};

use super::StoreError;
use super::schema::{comments, record_revisions, records};
use super::time::micros_to_time;

/// The device that REST edits are stamped with: the nil id, which no device
/// may push as.
pub fn rest_device() -> DeviceId {
    DeviceId::from_uuid(uuid::Uuid::nil())
}

/// A live record's columns, as the owner's reads and the therapist's feed
/// serve it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = records)]
pub struct RecordRow {
    id: String,
    kind: String,
    created_at: i64,
    updated_at: i64,
    hlc: i64,
    body: String,
}

impl RecordRow {
    /// The record the row holds.
    pub fn into_record(self) -> Result<Record, StoreError> {
        let corrupt = |what: String| StoreError::corrupt(format_args!("record {}", self.id), what);
        let kind: RecordKind = self
            .kind
            .parse()
            .map_err(|e: UnknownKind| corrupt(e.to_string()))?;
        let body = RecordBody::from_json(kind, &self.body)
            .map_err(|e| corrupt(format!("unreadable body: {e}")))?;
        Ok(Record {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| corrupt(e.to_string()))?,
            body,
        })
    }
}

/// A record's row as the conflict rules need it, tombstones included.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = records)]
pub struct StoredRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) occurred_at: i64,
    pub(crate) hlc: i64,
    pub(crate) deleted: bool,
    pub(crate) body: String,
    pub(crate) origin_device: String,
    pub(crate) created_hlc: Option<i64>,
    pub(crate) created_device: Option<String>,
    pub(crate) field_stamps: String,
}

impl StoredRow {
    fn corrupt(&self, what: impl std::fmt::Display) -> StoreError {
        StoreError::corrupt(format_args!("record {}", self.id), what)
    }

    /// The record's kind.
    pub fn record_kind(&self) -> Result<RecordKind, StoreError> {
        self.kind.parse().map_err(|e| self.corrupt(e))
    }

    /// The stamp of the current version.
    pub fn stamp(&self) -> Result<Stamp, StoreError> {
        Ok(Stamp {
            hlc: Hlc::from_i64(self.hlc).map_err(|e| self.corrupt(e))?,
            device: self
                .origin_device
                .parse()
                .map_err(|e| self.corrupt(format!("bad origin device: {e}")))?,
        })
    }

    /// The content, `None` for a tombstone.
    pub fn content(&self) -> Result<Option<RecordBody>, StoreError> {
        if self.deleted {
            return Ok(None);
        }
        let kind = self.record_kind()?;
        RecordBody::from_json(kind, &self.body)
            .map(Some)
            .map_err(|e| self.corrupt(format!("unreadable body: {e}")))
    }

    /// What journal-core's `resolve` is given: created stamp and field
    /// stamps included (rows written before sync have neither: created is
    /// the current stamp).
    pub fn to_stored(&self) -> Result<Stored, StoreError> {
        let stamp = self.stamp()?;
        let created = match (self.created_hlc, &self.created_device) {
            (Some(hlc), Some(device)) => Stamp {
                hlc: Hlc::from_i64(hlc).map_err(|e| self.corrupt(e))?,
                device: device
                    .parse()
                    .map_err(|e| self.corrupt(format!("bad created device: {e}")))?,
            },
            _ => stamp,
        };
        let fields: FieldStamps = serde_json::from_str(&self.field_stamps)
            .map_err(|e| self.corrupt(format!("unreadable field stamps: {e}")))?;
        Ok(Stored {
            kind: self.record_kind()?,
            stamp,
            created,
            body: self.content()?,
            fields,
        })
    }

    /// The live record this row holds (a tombstone is a corrupt answer).
    pub fn to_record(&self) -> Result<Record, StoreError> {
        let body = self
            .content()?
            .ok_or_else(|| StoreError::Internal(format!("record {} is deleted", self.id)))?;
        Ok(Record {
            id: self
                .id
                .parse()
                .map_err(|e| self.corrupt(format!("bad id: {e}")))?,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            hlc: self.stamp()?.hlc,
            body,
        })
    }
}

/// A record row to insert: by a push, and by the REST create.
#[derive(Debug, Insertable)]
#[diesel(table_name = records, treat_none_as_default_value = false)]
pub struct NewRow<'a> {
    pub(crate) id: String,
    pub(crate) owner_id: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) phase: Option<&'static str>,
    pub(crate) dosing_session_id: Option<String>,
    pub(crate) occurred_at: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) hlc: i64,
    pub(crate) deleted: bool,
    pub(crate) body: String,
    pub(crate) version: i64,
    pub(crate) origin_device: String,
    pub(crate) created_hlc: Option<i64>,
    pub(crate) created_device: Option<String>,
    pub(crate) field_stamps: String,
}

impl NewRow<'_> {
    /// The stored row this row becomes once written.
    pub fn to_stored_row(&self) -> StoredRow {
        StoredRow {
            id: self.id.clone(),
            kind: self.kind.to_owned(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            occurred_at: self.occurred_at,
            hlc: self.hlc,
            deleted: self.deleted,
            body: self.body.clone(),
            origin_device: self.origin_device.clone(),
            created_hlc: self.created_hlc,
            created_device: self.created_device.clone(),
            field_stamps: self.field_stamps.clone(),
        }
    }
}

/// A record's row as pull (and the export) sends it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = records)]
pub struct PulledRow {
    id: String,
    kind: String,
    created_at: i64,
    updated_at: i64,
    hlc: i64,
    deleted: bool,
    body: String,
    pub(crate) version: i64,
}

impl PulledRow {
    /// The row as a change of a pull page.
    pub fn into_change(self) -> Result<PulledChange, StoreError> {
        Ok(PulledChange::Record {
            version: owner_version(self.version)?,
            record: self.into_state()?,
        })
    }

    /// The record as the server holds it.
    pub fn into_state(self) -> Result<RecordState, StoreError> {
        let corrupt = |what: String| StoreError::corrupt(format_args!("record {}", self.id), what);
        let body = if self.deleted {
            None
        } else {
            Some(
                serde_json::from_str(&self.body)
                    .map_err(|e| corrupt(format!("unreadable body: {e}")))?,
            )
        };
        Ok(RecordState {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            kind: self
                .kind
                .parse()
                .map_err(|e: UnknownKind| corrupt(e.to_string()))?,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| corrupt(e.to_string()))?,
            deleted: self.deleted,
            body,
        })
    }
}

/// A revision's row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = record_revisions)]
pub struct RevisionRow {
    id: String,
    record_id: String,
    kind: String,
    hlc: i64,
    reason: String,
    body: String,
    created_at: i64,
    pub(crate) version: i64,
}

impl RevisionRow {
    /// The revision as pull and the export send it.
    pub fn into_revision(self) -> Result<Revision, StoreError> {
        let corrupt =
            |what: String| StoreError::corrupt(format_args!("revision {}", self.id), what);
        Ok(Revision {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            record_id: self
                .record_id
                .parse()
                .map_err(|e| corrupt(format!("bad record id: {e}")))?,
            kind: self
                .kind
                .parse()
                .map_err(|e: UnknownKind| corrupt(e.to_string()))?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| corrupt(e.to_string()))?,
            reason: RevisionReason::parse(&self.reason)
                .ok_or_else(|| corrupt(format!("unknown reason {:?}", self.reason)))?,
            body: serde_json::from_str(&self.body)
                .map_err(|e| corrupt(format!("unreadable body: {e}")))?,
            created_at: micros_to_time(self.created_at)?,
        })
    }

    /// The row as a change of a pull page.
    pub fn into_change(self) -> Result<PulledChange, StoreError> {
        let version = owner_version(self.version)?;
        Ok(PulledChange::Revision {
            version,
            revision: self.into_revision()?,
        })
    }
}

/// A comment's row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = comments)]
pub struct CommentRow {
    pub(crate) id: String,
    pub(crate) owner_id: String,
    pub(crate) record_id: String,
    pub(crate) therapist_id: String,
    pub(crate) text: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted: bool,
    pub(crate) version: i64,
    pub(crate) from_patient: bool,
    pub(crate) reply_to: Option<String>,
}

impl CommentRow {
    /// Whose name the comment carries: the patient's for a reply, the
    /// therapist's otherwise.
    pub fn author_id(&self) -> &str {
        if self.from_patient {
            &self.owner_id
        } else {
            &self.therapist_id
        }
    }

    /// The comment as the API and sync send it, with its author's name.
    pub fn to_comment(&self, author: &str) -> Result<Comment, StoreError> {
        let corrupt = |what: String| StoreError::corrupt(format_args!("comment {}", self.id), what);
        Ok(Comment {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            record_id: self
                .record_id
                .parse()
                .map_err(|e| corrupt(format!("bad record id: {e}")))?,
            therapist_id: self
                .therapist_id
                .parse()
                .map_err(|e| corrupt(format!("bad therapist id: {e}")))?,
            author: author.to_owned(),
            text: if self.deleted {
                String::new()
            } else {
                self.text.clone()
            },
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            deleted: self.deleted,
            from_patient: self.from_patient,
            reply_to: self
                .reply_to
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt(format!("bad reply_to: {e}")))?,
            delivery: Default::default(),
        })
    }
}

/// A stored id as a UUID (one that is not is a corrupt row).
pub fn parse_id(text: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(text)
        .map_err(|_| StoreError::Internal(format!("stored id {text:?} is not a UUID")))
}

/// A stored version as the wire says it.
pub fn owner_version(version: i64) -> Result<OwnerVersion, StoreError> {
    u64::try_from(version)
        .map(OwnerVersion)
        .map_err(|_| StoreError::Internal(format!("negative version {version}")))
}

/// A record's content as stored.
pub fn body_json(body: &RecordBody) -> Result<String, StoreError> {
    body.to_json()
        .map_err(|e| StoreError::Internal(format!("content cannot be written as JSON: {e}")))
}

/// A questionnaire's body beside its row (other kinds: `NULL`), to learn
/// the instrument a share of some questionnaires only is decided by,
/// without reading every other record's text.
pub fn assessment_body()
-> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Text>> {
    diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
        "CASE WHEN records.kind = 'assessment' THEN records.body END",
    )
}

/// The instrument of a questionnaire's body read by [`assessment_body`];
/// `None` for other kinds, and for a body that cannot be read (which then
/// is allowed by no share of some questionnaires).
pub fn instrument_in(body: Option<&str>) -> Option<journal_core::records::Instrument> {
    #[derive(serde::Deserialize)]
    struct Named {
        instrument: journal_core::records::Instrument,
    }
    body.and_then(|b| serde_json::from_str::<Named>(b).ok())
        .map(|n| n.instrument)
}
