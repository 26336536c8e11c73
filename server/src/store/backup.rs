//! Backups an operator can restore (`journal-server backup` and `restore`).
//!
//! - **SQLite**: `VACUUM INTO` copies the database inside one read
//!   transaction, so the copy is the database as of one moment while the
//!   server goes on writing (WAL: the copy blocks no writer). An encrypted
//!   database is copied encrypted with the same key. The copy is then
//!   opened and checked (`PRAGMA integrity_check`) before it is called a
//!   backup.
//! - **PostgreSQL**: `pg_dump --format=custom`, which reads one snapshot;
//!   the archive is then listed by `pg_restore` to check it reads.
//!
//! A restore only ever makes a new database: a SQLite file that does not
//! exist yet, or an empty PostgreSQL database. The backup is checked
//! first, restored, then migrated if it is older than this server.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use journal_core::encryption::DatabaseKey;

use super::schema::{records, users};
use super::{Backend, Database, DbConnection, DbError, Existing, check_encryption};

/// What a database (or a backup of one) holds, for the operator to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    /// Accounts, patients and therapists.
    pub accounts: i64,
    /// Records, deleted ones (tombstones) included.
    pub records: i64,
}

impl std::fmt::Display for Holding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} accounts, {} records", self.accounts, self.records)
    }
}

/// Copies the journal at `url` to the new file `to`, consistent as of one
/// moment, while the server may run and write; returns what the copy
/// holds (SQLite) or how large the archive is (PostgreSQL), for the
/// operator. Never overwrites a file, and never migrates the database it
/// copies.
pub fn backup(url: &str, key: Option<DatabaseKey>, to: &Path) -> Result<String, DbError> {
    let backend = Backend::from_url(url)?;
    if let Backend::Sqlite(path) = &backend
        && !path.is_file()
    {
        return Err(DbError::Missing(backend.describe()));
    }
    if to.exists() {
        return Err(DbError::Backup(format!(
            "{} exists already: a backup never overwrites a file; name a new one",
            to.display()
        )));
    }
    let db = Database::pool(backend.clone(), 1, key.clone())?;
    if !db.holds_journal()? {
        return Err(DbError::NoJournal(backend.describe()));
    }
    let copied = match &backend {
        Backend::Sqlite(_) => copy_sqlite(&db, to).and_then(|()| {
            let holding = check_sqlite_copy(to, key.as_ref())?;
            sync_file(to)?;
            Ok(format!("{holding}"))
        }),
        Backend::Postgres(url) => dump_postgres(url, to),
    };
    if copied.is_err() {
        // Nothing half-made is left to be mistaken for a backup.
        let _ = std::fs::remove_file(to);
    }
    copied
}

/// Restores the backup `from` into the new database `url` (a SQLite file
/// that does not exist yet, or an empty PostgreSQL database), then applies
/// the migrations this server has and the backup lacks. Returns what the
/// restored database holds.
pub fn restore(url: &str, key: Option<DatabaseKey>, from: &Path) -> Result<String, DbError> {
    let backend = Backend::from_url(url)?;
    if !from.is_file() {
        return Err(DbError::Backup(format!("no backup at {}", from.display())));
    }
    match &backend {
        Backend::Sqlite(path) => restore_sqlite(path, key.as_ref(), from, &backend.describe())?,
        Backend::Postgres(url) => {
            let db = Database::pool(backend.clone(), 1, None)?;
            if tables_in(&db)? > 0 {
                return Err(DbError::Backup(format!(
                    "the database at {} is not empty: restore into a new, empty database \
                     (createdb), then point the server at it",
                    backend.describe()
                )));
            }
            run_tool(
                "pg_restore",
                Command::new("pg_restore")
                    .args([
                        "--no-owner",
                        "--no-privileges",
                        "--exit-on-error",
                        "--single-transaction",
                        "--dbname",
                    ])
                    .arg(url)
                    .arg(from),
            )?;
        }
    }
    let db = Database::open_existing_keyed(url, Existing::Journal, key)?;
    Ok(format!("{}", db.holding()?))
}

impl Database {
    /// What the database holds now.
    pub fn holding(&self) -> Result<Holding, DbError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbError::Connect(e.to_string()))?;
        holding_of(&mut conn)
    }
}

fn holding_of(conn: &mut DbConnection) -> Result<Holding, DbError> {
    let read = |e: diesel::result::Error| DbError::Backup(format!("cannot read it: {e}"));
    Ok(Holding {
        accounts: users::table.count().get_result(conn).map_err(read)?,
        records: records::table.count().get_result(conn).map_err(read)?,
    })
}

fn copy_sqlite(db: &Database, to: &Path) -> Result<(), DbError> {
    let mut conn = db.pool.get().map_err(|e| DbError::Connect(e.to_string()))?;
    let DbConnection::Sqlite(lite) = &mut *conn else {
        return Err(DbError::Backup("not a SQLite database".to_owned()));
    };
    // One statement, one read transaction: the copy is the database as of
    // its start, whatever commits meanwhile. Under SQLCipher the copy is
    // encrypted with the database's key.
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(to.to_string_lossy())
        .execute(lite)
        .map_err(|e| DbError::Backup(format!("cannot copy the database: {e}")))?;
    Ok(())
}

/// Opens the SQLite copy at `path` as the server would (with `key`), checks
/// every page and index, and says what it holds.
fn check_sqlite_copy(path: &Path, key: Option<&DatabaseKey>) -> Result<Holding, DbError> {
    let name = path.display().to_string();
    check_encryption(path, key, &name)?;
    journal_cipher::link();
    let mut lite = diesel::SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| DbError::Connect(e.to_string()))?;
    if let Some(key) = key {
        lite.batch_execute(&format!("PRAGMA cipher_log_level = NONE; {}", key.pragma()))
            .map_err(|e| DbError::Backup(format!("{name}: {e}")))?;
    }
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut lite)
        .map_err(|e| DbError::Backup(format!("{name} is not a readable database: {e}")))?;
    if checks.len() != 1 || checks[0].integrity_check != "ok" {
        let found: Vec<String> = checks.into_iter().map(|c| c.integrity_check).collect();
        return Err(DbError::Backup(format!(
            "{name} fails its integrity check: {}",
            found.join("; ")
        )));
    }
    let mut conn = DbConnection::Sqlite(lite);
    holding_of(&mut conn).map_err(|_| {
        DbError::Backup(format!(
            "{name} holds no journal: it is not a backup of one"
        ))
    })
}

fn restore_sqlite(
    path: &Path,
    key: Option<&DatabaseKey>,
    from: &Path,
    name: &str,
) -> Result<(), DbError> {
    if path.exists() {
        return Err(DbError::Backup(format!(
            "a database exists at {name}: a restore makes a new one; stop the server and move \
             that file (and its -wal and -shm files) away first, or restore to another path"
        )));
    }
    // A log left beside the place would be replayed into the restored file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut log = path.as_os_str().to_owned();
        log.push(suffix);
        let log = std::path::PathBuf::from(log);
        if log.exists() {
            return Err(DbError::Backup(format!(
                "{} is left from an earlier database: SQLite would replay it into the restored \
                 one; move it away with that database, or restore to another path",
                log.display()
            )));
        }
    }
    check_sqlite_copy(from, key)?;
    super::create_parent(path)?;
    // Copied beside its place, made durable, then renamed into it: a
    // restore cut off leaves no half-copied database under the name.
    let partial = path.with_extension("restoring");
    let placed = std::fs::copy(from, &partial)
        .map_err(|e| DbError::Backup(format!("cannot copy {}: {e}", from.display())))
        .and_then(|_| sync_file(&partial))
        .and_then(|()| {
            std::fs::rename(&partial, path)
                .map_err(|e| DbError::Backup(format!("cannot place the restored database: {e}")))
        });
    if placed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    placed?;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_file(folder)?;
    }
    Ok(())
}

fn dump_postgres(url: &str, to: &Path) -> Result<String, DbError> {
    run_tool(
        "pg_dump",
        Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
            .arg(to)
            .arg("--dbname")
            .arg(url),
    )?;
    // The archive is listed back: a cut-off or unreadable file fails here.
    run_tool(
        "pg_restore",
        Command::new("pg_restore").arg("--list").arg(to),
    )?;
    sync_file(to)?;
    let bytes = std::fs::metadata(to)
        .map_err(|e| DbError::Backup(format!("{}: {e}", to.display())))?
        .len();
    Ok(format!("a pg_dump archive of {bytes} bytes"))
}

/// Runs a PostgreSQL client tool; its error output becomes the error.
fn run_tool(name: &str, command: &mut Command) -> Result<(), DbError> {
    let output = command.output().map_err(|e| {
        DbError::Backup(format!(
            "cannot run {name} ({e}): install PostgreSQL's client tools \
             (of the server's major version or newer) and put them on the PATH"
        ))
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(DbError::Backup(format!(
        "{name} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Tables in the PostgreSQL database's current schema.
fn tables_in(db: &Database) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        tables: i64,
    }
    let mut conn = db.pool.get().map_err(|e| DbError::Connect(e.to_string()))?;
    let DbConnection::Postgresql(pg) = &mut *conn else {
        return Err(DbError::Backup("not a PostgreSQL database".to_owned()));
    };
    let found: Found = diesel::sql_query(
        "SELECT count(*) AS tables FROM information_schema.tables \
         WHERE table_schema = current_schema()",
    )
    .get_result(pg)
    .map_err(|e| DbError::Connect(e.to_string()))?;
    Ok(found.tables)
}

/// Flushes a file (or a folder's entries) to disk.
fn sync_file(path: &Path) -> Result<(), DbError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| DbError::Backup(format!("cannot flush {}: {e}", path.display())))
}
