//! The device store's errors: one enum, each case saying what went wrong and
//! what the caller can do about it.

use std::path::PathBuf;

use crate::ids::RecordId;
use crate::records::RecordKind;
use crate::sync::OwnerVersion;
use crate::validation::InvalidInput;

/// Why a device-store call failed. A failed call wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input breaks a rule; every broken rule is listed with its field.
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    /// No live record has this id (it never existed or was deleted).
    #[error("no record with id {id}")]
    NotFound {
        /// The id asked for.
        id: RecordId,
    },
    /// An update tried to change a record into another kind.
    #[error("record {id} is a {stored}; it cannot be updated with a {given}")]
    KindMismatch {
        /// The record.
        id: RecordId,
        /// Its kind.
        stored: RecordKind,
        /// The kind of the content given.
        given: RecordKind,
    },
    /// A dosing session cannot be deleted while intentions or entries still
    /// link to it.
    #[error(
        "dosing session {id} still has {linked} intention(s) or entries linked to it; delete or relink them first"
    )]
    SessionInUse {
        /// The session.
        id: RecordId,
        /// How many live records link to it.
        linked: u64,
    },
    /// A revoked share is never granted or changed again (to share again,
    /// make a new one).
    #[error("{0}")]
    ShareRevoked(#[from] crate::records::ShareRevoked),
    /// An export can only be imported into a journal with no records yet.
    #[error("this journal already holds {records} record(s); import into a new, empty journal")]
    NotEmpty {
        /// How many records it holds.
        records: u64,
    },
    /// No comment kept on this device has this id (for a reply: no
    /// therapist's comment; for an edit or deletion: no reply of the
    /// patient's).
    #[error("no comment with id {id}")]
    CommentNotFound {
        /// The id asked for.
        id: uuid::Uuid,
    },
    /// No revision kept on this device has this id.
    #[error("no revision with id {id}")]
    RevisionNotFound {
        /// The id asked for.
        id: uuid::Uuid,
    },
    /// The server sent a change this version of the app cannot read (a
    /// record without content, content that does not fit its kind). Nothing
    /// of the page it came in was applied; updating the app may help.
    #[error("the server sent a change this app cannot read (at version {version}): {reason}")]
    UnreadableChange {
        /// The change's position in the owner's history.
        version: OwnerVersion,
        /// What is wrong with it.
        reason: String,
    },
    /// The file exists but is not a journal database. It was not changed.
    #[error("{} is not a journal database ({reason}); the file was left untouched", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// What it looks like instead.
        reason: String,
    },
    /// The journal is encrypted and the key kept for it does not open it
    /// (or the file is not a journal at all). It was not changed.
    #[error("the journal at {} cannot be unlocked with the key kept for it, or it is not a journal; it was not changed", path.display())]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// The journal is encrypted and this device's secret store holds no key
    /// for it: most often a phone restored from a backup that did not bring
    /// its keychain along. It was not changed. Set it aside
    /// ([`JournalStore::set_aside_unreadable`](crate::store::JournalStore::set_aside_unreadable))
    /// and sign in: sync brings back everything that was synced.
    #[error("the journal at {} is encrypted and its key is not in this device's secret store (restored from a backup without it?); it was not changed", path.display())]
    KeyMissing {
        /// The file.
        path: PathBuf,
    },
    /// The secret store did not keep the journal's new key (reading it back
    /// gave something else). Nothing was encrypted with it.
    #[error("the secret store did not keep the journal's key ({0}); nothing was written")]
    KeyNotKept(String),
    /// The database was written by a newer version of the app, whose schema
    /// this version does not know. It was not changed.
    #[error("{} was written by a newer version of the journal (schema {version}); update the app to open it", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The unknown schema version found in it.
        version: String,
    },
    /// The file could not be opened or created.
    #[error("cannot open {}: {reason}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A stored row could not be read back; the database was changed by
    /// something other than this library.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// SQLite failed (disk full, I/O error, …).
    #[error("storage error: {0}")]
    Storage(#[from] diesel::result::Error),
    /// Upgrading the database schema failed; the database is as it was.
    #[error("cannot upgrade the database: {0}")]
    Migration(String),
}
