//! Where the sign-in lives between launches: [`SecretStore`], implemented
//! by the app over the iOS Keychain or the Android Keystore (never the
//! journal database, which backups copy), and [`KeptSecrets`], which adapts
//! it to journal-core's infallible `SecretStore`.
//!
//! A Keychain can fail (a locked device, a wiped Keystore key) while
//! journal-core's trait cannot say so. The adapter keeps the failure and
//! the façade raises it after the call as
//! [`JournalError::SecretStoreFailed`], so the app learns why the patient
//! was signed out instead of seeing a bare "not signed in".

use std::sync::{Arc, Mutex};

use journal_core::sync::SecretStore as CoreSecretStore;

use crate::error::JournalError;

/// Where the journal keeps secrets between launches: the sign-in's refresh
/// token and the server address it belongs to. Implement it over the iOS
/// Keychain or the Android Keystore (e.g. `EncryptedSharedPreferences`).
///
/// Called from whichever thread is running a journal call, so it must be
/// safe to call from any thread. Throw
/// `JournalError.SecretStoreFailed` when the store cannot be used (any
/// other exception is reported the same way).
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    /// The secret under `key`, or none.
    fn get(&self, key: String) -> Result<Option<String>, JournalError>;
    /// Keeps `value` under `key`, replacing what was there.
    fn set(&self, key: String, value: String) -> Result<(), JournalError>;
    /// Forgets the secret under `key` (nothing happens if there is none).
    fn remove(&self, key: String) -> Result<(), JournalError>;
}

/// The app's [`SecretStore`] as journal-core's, remembering the first
/// failure until the façade collects it.
pub(crate) struct KeptSecrets {
    app: Arc<dyn SecretStore>,
    failure: Mutex<Option<JournalError>>,
}

impl KeptSecrets {
    pub(crate) fn new(app: Arc<dyn SecretStore>) -> Self {
        Self {
            app,
            failure: Mutex::new(None),
        }
    }

    fn note(&self, error: JournalError) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if failure.is_none() {
            *failure = Some(store_failed(error));
        }
    }

    /// The first failure since the last call, if any (and forgets it).
    pub(crate) fn take_failure(&self) -> Option<JournalError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Forgets failures left over from an earlier call.
    pub(crate) fn clear_failure(&self) {
        drop(self.take_failure());
    }

    /// Reads a secret, failing on a store failure (for the façade's own
    /// keys, where a failure must not pass for "none").
    pub(crate) fn read(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.app.get(key.to_owned()).map_err(store_failed)
    }

    /// Writes a secret, failing on a store failure.
    pub(crate) fn write(&self, key: &str, value: &str) -> Result<(), JournalError> {
        self.app
            .set(key.to_owned(), value.to_owned())
            .map_err(store_failed)
    }

    /// Forgets a secret, failing on a store failure.
    pub(crate) fn forget(&self, key: &str) -> Result<(), JournalError> {
        self.app.remove(key.to_owned()).map_err(store_failed)
    }
}

fn store_failed(error: JournalError) -> JournalError {
    match error {
        e @ JournalError::SecretStoreFailed { .. } => e,
        other => JournalError::SecretStoreFailed {
            detail: format!("the app's secret store failed: {other}"),
        },
    }
}

impl CoreSecretStore for KeptSecrets {
    fn get(&self, key: &str) -> Option<String> {
        self.app.get(key.to_owned()).unwrap_or_else(|e| {
            self.note(e);
            None
        })
    }

    fn set(&self, key: &str, value: &str) {
        if let Err(e) = self.app.set(key.to_owned(), value.to_owned()) {
            self.note(e);
        }
    }

    fn remove(&self, key: &str) {
        if let Err(e) = self.app.remove(key.to_owned()) {
            self.note(e);
        }
    }
}
