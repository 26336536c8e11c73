//! Where a journal's key lives: the app's secret store (iOS Keychain,
//! Android Keystore), under a name made from the journal's file name, so
//! the key never sits beside the file a backup copies.
//!
//! - First open: a random key is made and kept, and read back before
//!   anything is encrypted with it (a store that does not keep it stops
//!   here, nothing written).
//! - A key change keeps the new key under a second name first, then swaps
//!   the journal, then makes the new key the journal's: cut off anywhere,
//!   one of the two names opens the journal, and the next open settles it.

use std::path::Path;

use super::StoreError;
use crate::encryption::DatabaseKey;
use crate::sync::SecretStore;

/// The secret-store names of a journal's key and of the key it is being
/// changed to.
pub(crate) struct KeyNames {
    pub(crate) current: String,
    pub(crate) next: String,
}

/// The names for the journal at `path` (by its file name: an app's folder
/// may move between launches, its file name does not).
pub(crate) fn names(path: &Path) -> KeyNames {
    let file = path
        .file_name()
        .map_or_else(|| "journal".into(), |n| n.to_string_lossy());
    KeyNames {
        current: format!("journal.database-key.{file}"),
        next: format!("journal.database-key.{file}.next"),
    }
}

/// The key kept under `name`, if any. Something that is not a key under
/// the name counts as none.
pub(crate) fn read(secrets: &dyn SecretStore, name: &str) -> Option<DatabaseKey> {
    secrets
        .get(name)
        .and_then(|hex| DatabaseKey::from_hex(&hex).ok())
}

/// Keeps `key` under `name` and reads it back: [`StoreError::KeyNotKept`]
/// when the store gives back anything else.
pub(crate) fn keep(
    secrets: &dyn SecretStore,
    name: &str,
    key: &DatabaseKey,
) -> Result<(), StoreError> {
    secrets.set(name, &key.to_hex());
    match read(secrets, name) {
        Some(kept) if kept == *key => Ok(()),
        Some(_) => Err(StoreError::KeyNotKept("it read back different".into())),
        None => Err(StoreError::KeyNotKept("it read back empty".into())),
    }
}

/// A new random key.
pub(crate) fn generate() -> Result<DatabaseKey, StoreError> {
    DatabaseKey::generate()
        .map_err(|e| StoreError::KeyNotKept(format!("the system gave no random numbers: {e}")))
}
