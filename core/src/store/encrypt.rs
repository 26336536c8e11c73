//! Encrypting a plaintext journal, and giving an encrypted one a new key,
//! without ever risking it: an encrypted copy is written beside the
//! journal (`<file>.encrypting`), checked (integrity, and every table's row
//! count against the original), flushed to disk, and swapped in with one
//! rename. Killed at any moment, the journal's path holds either the old
//! journal, whole, or the new one, whole; a copy left half-written is
//! removed by the next open, which starts over.
//!
//! The key must be in the secret store before the copy is made (see
//! `keys`), so a swapped-in journal always has its key.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;

use super::StoreError;
use super::open::{JOURNAL_APPLICATION_ID, Number, claim, connect, unlock};
use crate::encryption::DatabaseKey;

/// The suffixes of the files SQLite keeps beside a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where the encrypted copy of `path` is written.
pub(crate) fn copy_path(path: &Path) -> PathBuf {
    with_suffix(path, ".encrypting")
}

fn io_error(path: &Path, error: &std::io::Error) -> StoreError {
    StoreError::Open {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

fn remove_if_there(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path, &e)),
    }
}

/// Removes a copy (and its side files) left by an encryption or a key
/// change that was cut off before its swap: the journal itself is whole.
pub(crate) fn remove_stale_copy(path: &Path) -> Result<(), StoreError> {
    let copy = copy_path(path);
    remove_if_there(&copy)?;
    for suffix in SIDE_FILES {
        remove_if_there(&with_suffix(&copy, suffix))?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    quick_check: String,
}

/// Every table of the database and its number of rows, by name.
fn table_counts(conn: &mut SqliteConnection) -> Result<Vec<(String, i64)>, StoreError> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .load(conn)?;
    names
        .into_iter()
        .map(|Name { name }| {
            let quoted = name.replace('"', "\"\"");
            let count = diesel::sql_query(format!("SELECT count(*) AS value FROM \"{quoted}\""))
                .get_result::<Number>(conn)?
                .value;
            Ok((name, count))
        })
        .collect()
}

/// Writes what `source` holds, encrypted with `key`, to the copy beside
/// `path`, and checks the copy reads back whole. `source` must have no
/// write-ahead log pending (checkpointed).
fn write_copy(
    source: &mut SqliteConnection,
    path: &Path,
    key: &DatabaseKey,
) -> Result<PathBuf, StoreError> {
    remove_stale_copy(path)?;
    let copy = copy_path(path);
    let expected = table_counts(source)?;
    let name = copy.to_str().ok_or_else(|| StoreError::Open {
        path: copy.clone(),
        reason: "the path is not valid UTF-8".to_owned(),
    })?;
    source.batch_execute(&format!(
        "ATTACH DATABASE '{}' AS encrypted {};",
        name.replace('\'', "''"),
        key.attach_clause()
    ))?;
    let exported = source.batch_execute(&format!(
        "SELECT sqlcipher_export('encrypted'); PRAGMA encrypted.application_id = {JOURNAL_APPLICATION_ID};"
    ));
    let detached = source.batch_execute("DETACH DATABASE encrypted;");
    exported?;
    detached?;

    let mut check = connect(&copy)?;
    unlock(&copy, &mut check, key)?;
    let verdict: Check = diesel::sql_query("PRAGMA quick_check").get_result(&mut check)?;
    let found = table_counts(&mut check)?;
    drop(check);
    if verdict.quick_check != "ok" || found != expected {
        remove_stale_copy(path)?;
        return Err(StoreError::Corrupt(format!(
            "the encrypted copy of {} did not read back whole ({}); the journal was not changed",
            path.display(),
            verdict.quick_check
        )));
    }
    File::open(&copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(&copy, &e))?;
    Ok(copy)
}

/// Puts the checked copy in the journal's place with one rename, and makes
/// the rename itself durable.
fn swap_in(copy: &Path, path: &Path) -> Result<(), StoreError> {
    fs::rename(copy, path).map_err(|e| io_error(path, &e))?;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error(folder, &e))?;
    }
    Ok(())
}

/// Encrypts the plaintext journal at `path` with `key` (already kept in the
/// secret store). A plaintext file that is not a journal is refused
/// untouched.
pub(crate) fn encrypt_in_place(path: &Path, key: &DatabaseKey) -> Result<(), StoreError> {
    let mut plain = connect(path)?;
    claim(path, &mut plain)?;
    // Everything into the file itself, and no log left beside it: the
    // copy is made from the file, and no plaintext log may outlive it.
    plain.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")?;
    let copy = write_copy(&mut plain, path, key)?;
    drop(plain);
    for suffix in ["-wal", "-journal"] {
        let side = with_suffix(path, suffix);
        if fs::metadata(&side).is_ok_and(|m| m.len() > 0) {
            remove_stale_copy(path)?;
            return Err(StoreError::Open {
                path: path.to_owned(),
                reason: format!("{} still holds changes; try again", side.display()),
            });
        }
    }
    remove_if_there(&with_suffix(path, "-wal"))?;
    remove_if_there(&with_suffix(path, "-shm"))?;
    swap_in(&copy, path)
}

/// Writes the journal that `conn` has open, encrypted with `new`, to the
/// copy beside `path`. The caller closes `conn`, then calls
/// [`finish_rekey`].
pub(crate) fn prepare_rekey(
    conn: &mut SqliteConnection,
    path: &Path,
    new: &DatabaseKey,
) -> Result<PathBuf, StoreError> {
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    write_copy(conn, path, new)
}

/// Swaps the re-keyed copy in, once the journal's connection is closed.
pub(crate) fn finish_rekey(copy: &Path, path: &Path) -> Result<(), StoreError> {
    let wal = with_suffix(path, "-wal");
    if fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        remove_stale_copy(path)?;
        return Err(StoreError::Open {
            path: path.to_owned(),
            reason: format!("{} still holds changes; try again", wal.display()),
        });
    }
    remove_if_there(&wal)?;
    remove_if_there(&with_suffix(path, "-shm"))?;
    swap_in(copy, path)
}
