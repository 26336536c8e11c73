//! Opening the device database: telling a journal from any other file,
//! setting up the connection, and upgrading the schema — in that order, so
//! that nothing is ever written to a file that is not ours.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::StoreError;
use crate::encryption::DatabaseKey;

/// The device schema, from `migrations/device/`, compiled in.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/device");

/// Marks a SQLite file as a journal (`PRAGMA application_id`): "KAPJ".
pub(crate) const JOURNAL_APPLICATION_ID: i32 = 0x4B41_504A;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

#[derive(QueryableByName)]
pub(crate) struct Number {
    #[diesel(sql_type = BigInt)]
    pub(crate) value: i64,
}

#[derive(QueryableByName)]
struct ApplicationId {
    #[diesel(sql_type = Integer)]
    application_id: i32,
}

/// Opens (creating if missing) the journal database at `path`, ready to use:
/// connection configured, schema current. With a key, the journal is
/// encrypted (SQLCipher): a new one is made encrypted, a plaintext one is
/// encrypted first ([`super::encrypt::encrypt_in_place`]), and a key that
/// does not open it is [`StoreError::WrongKey`], the file untouched.
pub(crate) fn open_database(
    path: &Path,
    key: Option<&DatabaseKey>,
) -> Result<SqliteConnection, StoreError> {
    let mut conn = match key {
        None => {
            check_file(path)?;
            connect(path)?
        }
        Some(key) => {
            if is_plaintext(path)? {
                super::encrypt::encrypt_in_place(path, key)?;
            } else {
                super::encrypt::remove_stale_copy(path)?;
            }
            let mut conn = connect(path)?;
            unlock(path, &mut conn, key)?;
            conn
        }
    };
    claim(path, &mut conn)?;
    conn.batch_execute(
        // WAL: readers never block the writer. FULL: a commit is on disk
        // before it returns, so a write the patient saw saved survives a
        // power cut, not only an app crash (docs/decisions/0002).
        // secure_delete: deleted text is overwritten with zeros in the
        // file, not left readable in free pages.
        // temp_store: sorts and temporary tables stay in memory, never in
        // a file beside the journal.
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -32000; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;",
    )?;
    migrate(path, &mut conn)?;
    Ok(conn)
}

/// Whether `path` holds a plaintext SQLite database (not empty, not
/// missing, not encrypted). A directory is refused.
pub(crate) fn is_plaintext(path: &Path) -> Result<bool, StoreError> {
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(StoreError::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    if metadata.is_dir() {
        return Err(StoreError::NotAJournal {
            path: path.to_owned(),
            reason: "it is a directory".to_owned(),
        });
    }
    let mut header = [0u8; 16];
    match File::open(path).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) => Ok(&header == SQLITE_MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(StoreError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Keys a new connection and checks the key opens the database:
/// [`StoreError::WrongKey`] otherwise (nothing is written).
pub(crate) fn unlock(
    path: &Path,
    conn: &mut SqliteConnection,
    key: &DatabaseKey,
) -> Result<(), StoreError> {
    // A wrong key is answered as an error; SQLCipher need not also log it.
    conn.batch_execute("PRAGMA cipher_log_level = NONE;")?;
    conn.batch_execute(&key.pragma())?;
    diesel::sql_query("SELECT count(*) AS value FROM sqlite_master")
        .get_result::<Number>(conn)
        .map_err(|_| StoreError::WrongKey {
            path: path.to_owned(),
        })?;
    Ok(())
}

/// Refuses, before SQLite touches it, anything that exists and is not a
/// SQLite database.
fn check_file(path: &Path) -> Result<(), StoreError> {
    let not_a_journal = |reason: &str| StoreError::NotAJournal {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    if metadata.is_dir() {
        return Err(not_a_journal("it is a directory"));
    }
    if metadata.len() == 0 {
        // An empty file holds nothing to lose: SQLite starts a database in it.
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => not_a_journal("it is too short"),
            _ => StoreError::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        });
    read?;
    if &header != SQLITE_MAGIC {
        return Err(not_a_journal("it is not a SQLite database"));
    }
    Ok(())
}

pub(crate) fn connect(path: &Path) -> Result<SqliteConnection, StoreError> {
    let text = path.to_str().ok_or_else(|| StoreError::Open {
        path: path.to_owned(),
        reason: "the path is not valid UTF-8".to_owned(),
    })?;
    // SQLite reads ":memory:" and "file:…" as special names; a relative path
    // spelled like that is still a file.
    let url = if path.is_relative() && (text.starts_with(':') || text.starts_with("file:")) {
        format!("./{text}")
    } else {
        text.to_owned()
    };
    // SQLCipher's cryptography is journal-cipher's (see its crate docs).
    journal_cipher::link();
    let mut conn = SqliteConnection::establish(&url).map_err(|e| StoreError::Open {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    // Wait for another connection's write instead of failing at once.
    conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
    Ok(conn)
}

/// Makes sure the database is a journal: ours already, or new and empty (then
/// marks it ours). Anything else is refused untouched.
pub(crate) fn claim(path: &Path, conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let not_a_journal = |reason: String| StoreError::NotAJournal {
        path: path.to_owned(),
        reason,
    };
    let id = diesel::sql_query("PRAGMA application_id")
        .get_result::<ApplicationId>(conn)
        .map_err(|e| not_a_journal(format!("SQLite cannot read it: {e}")))?
        .application_id;
    if id == JOURNAL_APPLICATION_ID {
        return Ok(());
    }
    if id != 0 {
        return Err(not_a_journal(format!(
            "it belongs to another application (id {id:#x})"
        )));
    }
    let objects = diesel::sql_query("SELECT count(*) AS value FROM sqlite_master")
        .get_result::<Number>(conn)
        .map_err(|e| not_a_journal(format!("SQLite cannot read it: {e}")))?
        .value;
    if objects > 0 {
        return Err(not_a_journal(
            "it is a SQLite database of another application".to_owned(),
        ));
    }
    conn.batch_execute(&format!(
        "PRAGMA application_id = {JOURNAL_APPLICATION_ID};"
    ))?;
    Ok(())
}

fn migrate(path: &Path, conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let known: HashSet<String> =
        MigrationHarness::<diesel::sqlite::Sqlite>::applied_migrations(conn)
            .map_err(|e| StoreError::Migration(e.to_string()))?
            .into_iter()
            .map(|v| v.to_string())
            .collect();
    let shipped: HashSet<String> =
        diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&MIGRATIONS)
            .map_err(|e| StoreError::Migration(e.to_string()))?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
    if let Some(unknown) = known.difference(&shipped).max() {
        return Err(StoreError::NewerSchema {
            path: PathBuf::from(path),
            version: unknown.clone(),
        });
    }
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(())
}
