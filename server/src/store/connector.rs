//! Each backend's connections: how a new one is made and set up (the
//! SQLCipher key first, then SQLite's pragmas), whether a SQLite file and a
//! key go together before any pool is made, and when the pool checks or
//! drops a connection (see [`liveness`]).

use std::path::Path;
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use journal_core::encryption::DatabaseKey;

use super::{Backend, DbConnection, DbError, liveness};

/// Refuses, before the pool is made, a SQLite file and key that do not go
/// together; a new (missing or empty) file is fine either way.
pub(super) fn check_encryption(
    path: &Path,
    key: Option<&DatabaseKey>,
    name: &str,
) -> Result<(), DbError> {
    let mut header = [0u8; 16];
    let plain = match std::fs::File::open(path) {
        Err(_) => return Ok(()),
        Ok(mut file) => match std::io::Read::read_exact(&mut file, &mut header) {
            Err(_) => return Ok(()),
            Ok(()) => &header == b"SQLite format 3\0",
        },
    };
    match (plain, key) {
        (true, None) => Ok(()),
        (true, Some(_)) => Err(DbError::Encryption(format!(
            "the database at {name} is not encrypted, but a key was given (--db-key-file): \
             start without the key, or move the plain database away to begin an encrypted one"
        ))),
        (false, None) => Err(DbError::Encryption(format!(
            "the database at {name} is encrypted (or not a SQLite database): give its key with \
             --db-key-file"
        ))),
        (false, Some(key)) => {
            journal_cipher::link();
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| DbError::Connect(e.to_string()))?;
            conn.batch_execute(&format!("PRAGMA cipher_log_level = NONE; {}", key.pragma()))
                .and_then(|()| conn.batch_execute("SELECT count(*) FROM sqlite_master;"))
                .map_err(|_| {
                    DbError::Encryption(format!(
                        "the key in --db-key-file does not open the database at {name} \
                         (or it is not a SQLite database)"
                    ))
                })
        }
    }
}

/// Makes connections for the pool, each set up for its backend.
#[derive(Debug, Clone)]
pub struct Connector {
    pub(super) backend: Backend,
    pub(super) key: Option<Arc<DatabaseKey>>,
}

impl diesel::r2d2::ManageConnection for Connector {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let mut conn = match &self.backend {
            Backend::Postgres(url) => DbConnection::Postgresql(
                diesel::PgConnection::establish(url)
                    .map_err(diesel::r2d2::Error::ConnectionError)?,
            ),
            Backend::Sqlite(path) => DbConnection::Sqlite({
                // SQLCipher's cryptography is journal-cipher's.
                journal_cipher::link();
                diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(diesel::r2d2::Error::ConnectionError)?
            }),
        };
        if let (DbConnection::Sqlite(sqlite), Some(key)) = (&mut conn, &self.key) {
            // Before anything else is read: the key.
            sqlite
                .batch_execute(&format!("PRAGMA cipher_log_level = NONE; {}", key.pragma()))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        if let DbConnection::Sqlite(sqlite) = &mut conn {
            // busy_timeout: wait for the one writer instead of failing;
            // WAL: readers never block it; foreign keys: on, as in PostgreSQL;
            // secure_delete: what is deleted is overwritten with zeros, not
            // left readable in free pages (erasure must leave no text).
            sqlite
                .batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    /// Checked with a round trip only for a while after a connection was
    /// found lost ([`liveness`]); otherwise taken as it is.
    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        if !liveness::checking() {
            return Ok(());
        }
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection left in a failed or open transaction (its query failed
    /// when the database went away) is dropped on return rather than handed
    /// out again; so is one that does not answer while connections are
    /// being checked.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking()
            || diesel::r2d2::R2D2Connection::is_broken(conn)
            || (liveness::checking() && self.is_valid(conn).is_err())
    }
}
