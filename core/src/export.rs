//! The export document: everything a patient wrote, as one JSON document
//! they can keep, read, and import into an empty journal.
//!
//! ```json
//! {"format": "kap-journal-export", "version": 1, "exportedAt": "…",
//!  "account": {"id": "…", "email": "…", "displayName": null, "createdAt": "…"},
//!  "records": [ {"id", "kind", "createdAt", "updatedAt", "hlc", "deleted": false, "body": {…}} ],
//!  "revisions": [ {"id", "recordId", "kind", "hlc", "reason", "body", "createdAt"} ],
//!  "comments": [ {"id", "recordId", "therapistId", "author", "text", "createdAt", "updatedAt"} ]}
//! ```
//!
//! `records` holds every live record of every kind, shares included, in the
//! same shape as sync's [`RecordState`]; deleted records are left out (they
//! keep no text). `revisions` holds text that lost a conflict or to a
//! delete; `comments` the therapists' comments on the patient's records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::comments::Comment;
use crate::sync::{RecordState, Revision};
use crate::validation::{FieldViolation, InvalidInput};

/// The `format` of every export document.
pub const EXPORT_FORMAT: &str = "kap-journal-export";
/// The version of the document's shape this library writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// The account an export belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportedAccount {
    /// The account's id.
    pub id: Uuid,
    /// Its email address.
    pub email: String,
    /// The name it shows to therapists.
    pub display_name: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Everything a patient wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportDocument {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The shape's version, [`EXPORT_VERSION`].
    pub version: u32,
    /// When it was made.
    pub exported_at: DateTime<Utc>,
    /// Whose it is.
    pub account: ExportedAccount,
    /// Every live record.
    pub records: Vec<RecordState>,
    /// Text kept from conflicts and deletes.
    pub revisions: Vec<Revision>,
    /// Therapists' comments on the patient's records.
    pub comments: Vec<Comment>,
}

impl ExportDocument {
    /// Checks that this library can read the document: the format and
    /// version, and that every record's content is valid for its kind.
    pub fn check(&self) -> Result<(), InvalidInput> {
        let mut problems = Vec::new();
        if self.format != EXPORT_FORMAT {
            problems.push(FieldViolation {
                field: "format".to_owned(),
                rule: "format".to_owned(),
                message: format!("must be {EXPORT_FORMAT:?}"),
            });
        }
        if self.version != EXPORT_VERSION {
            problems.push(FieldViolation {
                field: "version".to_owned(),
                rule: "supported".to_owned(),
                message: format!("this version reads version {EXPORT_VERSION} only"),
            });
        }
        for (index, record) in self.records.iter().enumerate() {
            let field = format!("records[{index}]");
            match record.content() {
                Ok(Some(body)) => {
                    if let Err(invalid) = body.validate() {
                        problems.extend(invalid.violations.into_iter().map(|v| FieldViolation {
                            field: format!("{field}.body.{}", v.field),
                            ..v
                        }));
                    }
                }
                Ok(None) => problems.push(FieldViolation {
                    field: format!("{field}.body"),
                    rule: "required".to_owned(),
                    message: "a record in an export must have content".to_owned(),
                }),
                Err(e) => problems.push(FieldViolation {
                    field: format!("{field}.body"),
                    rule: "kind".to_owned(),
                    message: format!("is not a valid {}: {e}", record.kind),
                }),
            }
        }
        InvalidInput::collect(Ok(()), problems)
    }
}
