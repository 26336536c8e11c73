//! [`JournalError`]: the one error every call of the library can raise, and
//! the one place the rich errors of journal-core are turned into it.
//!
//! Each case says what went wrong in a sentence (`detail`) and carries what
//! an app needs to react: the fields of a validation failure, the id that
//! was not found, the server's status. In Kotlin it is `JournalException`
//! (a sealed class, one subclass per case), in Swift `JournalError`, in
//! Python `journal.JournalError` with `JournalError.Invalid` and so on.

use journal_core::InvalidInput;
use journal_core::store::StoreError;
use journal_core::sync::SyncError;

/// A field of the input that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FieldViolation {
    /// The field's path as the journal's JSON spells it, e.g. `body`,
    /// `reflection.howItWent`, `answers[8]`, or a parameter's name such as
    /// `recordId`.
    pub field: String,
    /// A stable, machine-readable name of the rule, e.g. `length`, `range`,
    /// `not_blank`, `uuid`, `unknown_prompt`.
    pub rule: String,
    /// What is wrong, in a sentence for people.
    pub message: String,
}

/// Why a call failed. A failed call changed nothing.
///
/// Every case has `detail`: what went wrong, in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum JournalError {
    /// The input breaks one or more rules; `violations` names each field,
    /// its rule and what is wrong. Fix the input and try again.
    #[error("{detail}")]
    Invalid {
        /// Every broken rule in one sentence.
        detail: String,
        /// Every broken rule, by field.
        violations: Vec<FieldViolation>,
    },
    /// No record (or revision) on this device has this id: it never
    /// existed here, or it was deleted.
    #[error("{detail}")]
    NotFound {
        /// What was looked for.
        detail: String,
        /// The id asked for.
        id: String,
    },
    /// The request is valid but cannot be done now: a dosing session that
    /// entries or intentions still link to cannot be deleted; an export can
    /// be imported into an empty journal only; a practice is saved once.
    #[error("{detail}")]
    NotPossible {
        /// Why, and what to do instead.
        detail: String,
    },
    /// No one is signed in on this journal, or the sign-in expired or was
    /// revoked: the patient must sign in again. Nothing unsent is lost.
    #[error("{detail}")]
    NotSignedIn {
        /// What happened.
        detail: String,
    },
    /// The server refused the email or the password (signing in), or the
    /// current password confirming a change (a new password, erasure).
    #[error("{detail}")]
    WrongCredentials {
        /// What the server said.
        detail: String,
    },
    /// Too many attempts (sign-ins, wrong passwords, reset codes asked
    /// for): try again after `retryAfterSeconds`.
    #[error("{detail}")]
    Throttled {
        /// What the server said.
        detail: String,
        /// Seconds to wait before trying again.
        retry_after_seconds: u64,
    },
    /// A therapist's invitation code that cannot be used: unknown, already
    /// used, revoked or expired. Ask the therapist for a new one.
    #[error("{detail}")]
    InvitationUnusable {
        /// What the server said.
        detail: String,
    },
    /// An account with this email exists already: sign in instead (or
    /// reset the password).
    #[error("{detail}")]
    EmailTaken {
        /// What the server said.
        detail: String,
    },
    /// The server cannot be reached right now (no network, a timeout).
    /// Local changes are kept; try again later.
    #[error("{detail}")]
    Network {
        /// What failed.
        detail: String,
    },
    /// The server answered and said no. `status` 429 or 5xx: try again
    /// later; anything else will not succeed by retrying.
    #[error("{detail}")]
    ServerRefused {
        /// What the server said went wrong.
        detail: String,
        /// The HTTP status.
        status: i32,
        /// The problem's stable type, e.g. `urn:kap-journal:problem:validation`.
        problem_type: String,
    },
    /// The server's answer cannot be understood: a wrong server address, or
    /// a server too new for this version of the app.
    #[error("{detail}")]
    UnexpectedAnswer {
        /// What could not be read.
        detail: String,
    },
    /// The journal's data is newer than this version of the app (a journal
    /// file written by a newer app, or a change from the server this app
    /// cannot read). Nothing was changed; updating the app helps.
    #[error("{detail}")]
    UpdateRequired {
        /// What is too new.
        detail: String,
    },
    /// The journal file on this device failed: it cannot be opened or
    /// created, it is not a journal, the disk is full, or it is damaged.
    #[error("{detail}")]
    Storage {
        /// What failed.
        detail: String,
    },
    /// The journal is encrypted and its key is not in the app's
    /// `SecretStore`: most often a phone restored from a backup that did
    /// not bring the Keychain or Keystore along. The file was not changed.
    /// Recover with `Journal.openReplacingUnreadable(path, secrets)` and
    /// sign in: sync brings back everything that was synced.
    #[error("{detail}")]
    KeyMissing {
        /// What happened.
        detail: String,
    },
    /// The key kept for the journal does not open it (or the file is not
    /// a journal). The file was not changed; recover as for `KeyMissing`.
    #[error("{detail}")]
    WrongKey {
        /// What happened.
        detail: String,
    },
    /// The app's `SecretStore` (Keychain / Keystore) failed. Apps
    /// throw this case from their own implementation; any other exception
    /// thrown there arrives as this case too.
    #[error("{detail}")]
    SecretStoreFailed {
        /// What failed.
        detail: String,
    },
}

impl JournalError {
    /// A validation failure on one field (a parameter of a call, most often).
    pub(crate) fn invalid(field: &str, rule: &str, message: impl Into<String>) -> Self {
        InvalidInput::single(field, rule, message).into()
    }

    /// A storage failure that cannot happen unless something is badly wrong.
    pub(crate) fn storage(detail: impl Into<String>) -> Self {
        JournalError::Storage {
            detail: detail.into(),
        }
    }
}

impl From<InvalidInput> for JournalError {
    fn from(invalid: InvalidInput) -> Self {
        JournalError::Invalid {
            detail: format!("invalid input: {invalid}"),
            violations: invalid
                .violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    rule: v.rule,
                    message: v.message,
                })
                .collect(),
        }
    }
}

impl From<StoreError> for JournalError {
    fn from(error: StoreError) -> Self {
        let detail = error.to_string();
        match error {
            StoreError::Invalid(invalid) => invalid.into(),
            StoreError::NotFound { id } => JournalError::NotFound {
                detail,
                id: id.to_string(),
            },
            StoreError::RevisionNotFound { id } | StoreError::CommentNotFound { id } => {
                JournalError::NotFound {
                    detail,
                    id: id.to_string(),
                }
            }
            StoreError::KindMismatch { .. } => JournalError::Invalid {
                violations: vec![FieldViolation {
                    field: "content".to_owned(),
                    rule: "kind".to_owned(),
                    message: detail.clone(),
                }],
                detail: format!("invalid input: content: {detail}"),
            },
            StoreError::SessionInUse { .. }
            | StoreError::NotEmpty { .. }
            | StoreError::ShareRevoked(_) => JournalError::NotPossible { detail },
            StoreError::UnreadableChange { .. } | StoreError::NewerSchema { .. } => {
                JournalError::UpdateRequired { detail }
            }
            StoreError::KeyMissing { .. } => JournalError::KeyMissing { detail },
            StoreError::WrongKey { .. } => JournalError::WrongKey { detail },
            StoreError::KeyNotKept(_) => JournalError::SecretStoreFailed { detail },
            StoreError::NotAJournal { .. }
            | StoreError::Open { .. }
            | StoreError::Corrupt(_)
            | StoreError::Storage(_)
            | StoreError::Migration(_) => JournalError::Storage { detail },
        }
    }
}

impl From<SyncError> for JournalError {
    fn from(error: SyncError) -> Self {
        let detail = error.to_string();
        match error {
            SyncError::NotSignedIn => JournalError::NotSignedIn { detail },
            SyncError::WrongCredentials(_) => JournalError::WrongCredentials { detail },
            SyncError::Network(_) => JournalError::Network { detail },
            SyncError::Rejected {
                status: 429,
                retry_after,
                ..
            } => JournalError::Throttled {
                detail,
                retry_after_seconds: retry_after.unwrap_or(60),
            },
            SyncError::Rejected {
                status: 422,
                violations,
                ..
            } if !violations.is_empty() => {
                let mut from_server: JournalError = InvalidInput { violations }.into();
                if let JournalError::Invalid { detail: said, .. } = &mut from_server {
                    *said = detail;
                }
                from_server
            }
            SyncError::Rejected {
                status,
                problem_type,
                ..
            } => JournalError::ServerRefused {
                detail,
                status: i32::from(status),
                problem_type,
            },
            SyncError::Storage(store) => store.into(),
            SyncError::Protocol(_) => JournalError::UnexpectedAnswer { detail },
        }
    }
}

/// What the app's secret store threw when it threw something other than a
/// [`JournalError`] (a `KeyStoreException`, a Python `KeyError`, …).
impl From<uniffi::UnexpectedUniFFICallbackError> for JournalError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        JournalError::SecretStoreFailed {
            detail: format!("the app's secret store failed: {}", error.reason),
        }
    }
}
