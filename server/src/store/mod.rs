//! The one place that knows there are two databases. The backend is chosen
//! from the URL scheme (`postgres://`, `postgresql://` or `sqlite://`), never
//! by trying; each backend's connection setup sits together here; migrations
//! are embedded and run before the pool serves.
//!
//! The store owns every diesel statement of the server and nothing of HTTP.
//! Handlers and portal pages call its functions inside [`Database::run`],
//! which keeps the blocking diesel call off the async workers, and get a
//! [`StoreError`] back, never a database error. See `server/README.md` for
//! what each file owns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use journal_core::encryption::DatabaseKey;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub mod access;
pub mod accounts;
pub mod adherence;
pub mod alert_emails;
pub mod alerts;
pub mod audit;
pub mod backup;
pub mod care;
pub mod care_plans;
pub mod caseload;
pub mod comments;
mod error;
pub mod export;
pub mod password_resets;
pub mod portal;
pub mod records;
pub mod review;
pub mod rows;
pub mod schema;
pub mod sync;
pub mod throttle;
pub mod time;
pub mod versions;

pub use error::{StoreError, is_connection_failure};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

pub(crate) mod connection;
mod connector;
pub use connection::DbConnection;
pub use connector::Connector;
use connector::check_encryption;
pub(crate) mod liveness;

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A PostgreSQL server; the URL is passed to libpq as it is.
    Postgres(String),
    /// A SQLite file.
    Sqlite(PathBuf),
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no backend this server knows.
    #[error(
        "unsupported database URL {0:?}: use postgres://user@host/db or sqlite://path/to/file.db"
    )]
    UnsupportedUrl(String),
    /// Could not connect or set up the pool.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(String),
    /// A management command was pointed at a database that does not exist;
    /// it never makes one.
    #[error(
        "no database at {0}: start the server once to make it, or run this command from the server's folder or with its --database-url"
    )]
    Missing(String),
    /// A management command that needs the journal was pointed at a
    /// database that holds none.
    #[error(
        "the database at {0} holds no journal: start the server once (or run `journal-server migrate`) before this command, or point it at the server's --database-url"
    )]
    NoJournal(String),
    /// The SQLite database and the key configured for it do not go
    /// together: a key that does not open it, an encrypted file without a
    /// key, a plain file with one.
    #[error("{0}")]
    Encryption(String),
    /// A backup or restore could not be made; nothing was left half-made.
    #[error("{0}")]
    Backup(String),
    /// The database holds migrations this build does not know (a newer server
    /// wrote it).
    #[error("the database was migrated by a newer server (unknown migration {0}); refusing to run")]
    NewerSchema(String),
}

/// What a management command needs of the database it is pointed at
/// ([`Database::open_existing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// The database must exist; it may hold no journal yet (`migrate`).
    Database,
    /// The database must exist and hold the journal (`create-therapist`).
    Journal,
}

impl Backend {
    /// Reads the backend from a database URL. A URL with another scheme, or
    /// none, is an error rather than a file name: a mistyped URL must never
    /// silently create an empty database.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbError::UnsupportedUrl(url.to_owned()));
            }
            return Ok(Backend::Sqlite(PathBuf::from(path)));
        }
        Err(DbError::UnsupportedUrl(url.to_owned()))
    }

    /// Where the database is, for people: a SQLite file's absolute path
    /// (the URL's path is relative to the folder the command runs in), or
    /// a PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(path) => std::path::absolute(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
            Backend::Postgres(url) => without_password(url),
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgresql",
            Backend::Sqlite(_) => "sqlite",
        }
    }
}

/// The pool of connections and what it was opened on.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Connector>,
    backend: Backend,
    /// One permit per pooled connection: [`Database::run`] takes one before
    /// it goes onto the blocking thread pool, so work waiting for a
    /// connection waits as a parked task, in arrival order, rather than as
    /// a blocking thread. Without it, a hundred requests at once meant a
    /// hundred threads queueing on the pool's lock and woken in turn; under
    /// a load of short statements that switching cost more CPU than the
    /// statements.
    permits: Arc<tokio::sync::Semaphore>,
}

/// A connection borrowed from the pool.
pub type Conn = PooledConnection<Connector>;

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens the database at `url`, creating a SQLite file (and its folder)
    /// if needed, and brings its schema up to date.
    pub fn open(url: &str, max_connections: u32) -> Result<Self, DbError> {
        Self::open_keyed(url, max_connections, None)
    }

    /// Like [`Database::open`], a SQLite database encrypted with `key`
    /// (SQLCipher): a new one is made encrypted; one that is plain, or that
    /// the key does not open, is refused untouched.
    pub fn open_keyed(
        url: &str,
        max_connections: u32,
        key: Option<DatabaseKey>,
    ) -> Result<Self, DbError> {
        let backend = Backend::from_url(url)?;
        if let Backend::Sqlite(path) = &backend {
            create_parent(path)?;
        }
        let db = Self::pool(backend, max_connections, key)?;
        db.migrate()?;
        Ok(db)
    }

    /// Opens a database that must exist already, for a management command
    /// (`migrate`, `create-therapist`): a missing SQLite file, or a database
    /// without the journal when `need` is [`Existing::Journal`], is refused
    /// with a message naming where it looked — never made anew, so a
    /// command run from the wrong folder cannot quietly fill a second,
    /// empty journal. Pending migrations are then applied as by [`open`].
    ///
    /// [`open`]: Database::open
    pub fn open_existing(url: &str, need: Existing) -> Result<Self, DbError> {
        Self::open_existing_keyed(url, need, None)
    }

    /// Like [`Database::open_existing`], for a SQLite database encrypted
    /// with `key`.
    pub fn open_existing_keyed(
        url: &str,
        need: Existing,
        key: Option<DatabaseKey>,
    ) -> Result<Self, DbError> {
        let backend = Backend::from_url(url)?;
        if let Backend::Sqlite(path) = &backend
            && !path.is_file()
        {
            return Err(DbError::Missing(backend.describe()));
        }
        let db = Self::pool(backend, 1, key)?;
        if need == Existing::Journal && !db.holds_journal()? {
            return Err(DbError::NoJournal(db.backend.describe()));
        }
        db.migrate()?;
        Ok(db)
    }

    /// Whether the database holds the journal's tables (a migration ran).
    fn holds_journal(&self) -> Result<bool, DbError> {
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            tables: i64,
        }
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let found: Found = match &mut *conn {
            DbConnection::Postgresql(pg) => diesel::sql_query(
                "SELECT count(*) AS tables FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'users'",
            )
            .get_result(pg),
            DbConnection::Sqlite(lite) => diesel::sql_query(
                "SELECT count(*) AS tables FROM sqlite_master \
                 WHERE type = 'table' AND name = 'users'",
            )
            .get_result(lite),
        }
        .map_err(|e| DbError::Connect(e.to_string()))?;
        Ok(found.tables > 0)
    }

    /// The pool on `backend`, not yet migrated.
    fn pool(
        backend: Backend,
        max_connections: u32,
        key: Option<DatabaseKey>,
    ) -> Result<Self, DbError> {
        if let Backend::Sqlite(path) = &backend {
            check_encryption(path, key.as_ref(), &backend.describe())?;
        }
        let max_size = match backend {
            // SQLite has one writer; a few readers beside it are plenty.
            Backend::Sqlite(_) => max_connections.clamp(1, 8),
            Backend::Postgres(_) => max_connections.max(1),
        };
        let pool = Pool::builder()
            .max_size(max_size)
            // Bounds how long a request waits while the database is down
            // before it is answered 503.
            .connection_timeout(Duration::from_secs(5))
            // Recovery after a database restart: once a request finds its
            // connection lost, every pooled connection is checked before
            // use (and on return) for a while, so the others that died with
            // the old server are replaced instead of failing requests
            // (see `liveness`).
            .test_on_check_out(true)
            .build(Connector {
                backend: backend.clone(),
                key: key.map(Arc::new),
            })
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let permits = Arc::new(tokio::sync::Semaphore::new(max_size as usize));
        Ok(Self {
            pool,
            backend,
            permits,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Applies every pending migration; refuses a database migrated by a
    /// newer server.
    ///
    /// Safe when several instances start at once: the migrations run under
    /// a database-wide lock (PostgreSQL: an advisory lock; SQLite: one
    /// exclusive transaction, each migration a savepoint inside it), and
    /// what is applied is read under it, so the instances that wait find
    /// the work done.
    pub fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let lock_failed =
            |e: diesel::result::Error| DbError::Migrate(format!("migration lock: {e}"));
        match &mut *conn {
            DbConnection::Postgresql(pg) => {
                pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .map_err(lock_failed)?;
                let migrated = run_migrations(pg, POSTGRES_MIGRATIONS);
                // A session lock: released here, or with the connection if
                // this fails too.
                let unlocked = pg
                    .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .map_err(lock_failed);
                migrated.and(unlocked)
            }
            DbConnection::Sqlite(sqlite) => sqlite
                .exclusive_transaction(|sqlite| {
                    // Each migration applied stays applied, as without the
                    // lock: its own savepoint.
                    Ok::<_, diesel::result::Error>(run_migrations(sqlite, SQLITE_MIGRATIONS))
                })
                .map_err(lock_failed)?,
        }
    }

    /// The pool now: connections open, idle ones, and its size.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.idle_connections,
            self.pool.max_size(),
        )
    }

    /// Borrows a connection, blocking up to the pool's timeout.
    pub fn get(&self) -> Result<Conn, r2d2_error::PoolError> {
        self.pool.get().map_err(r2d2_error::PoolError)
    }

    /// Whether the database answers, waiting at most `timeout` for a
    /// connection (blocking: call it off the async workers).
    pub fn ping(&self, timeout: Duration) -> Result<(), String> {
        let mut conn = self.pool.get_timeout(timeout).map_err(|e| {
            liveness::connection_lost();
            e.to_string()
        })?;
        // Marked before the connection goes back, so that a dead one is
        // checked on its return and dropped.
        conn.batch_execute("SELECT 1").map_err(|e| {
            liveness::connection_lost();
            e.to_string()
        })
    }

    /// Runs `work` on a pooled connection on the blocking thread pool, so the
    /// async workers keep serving while the database works.
    ///
    /// At most as many calls run at once as the pool has connections; the
    /// others wait their turn without a thread. A call that gets no
    /// connection within the pool's timeout (the database down, or every
    /// connection held that long) fails as [`StoreError::Unavailable`].
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let timeout = self.pool.connection_timeout();
        let started = std::time::Instant::now();
        let permit = tokio::time::timeout(timeout, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| no_connection_within(timeout))?
            .map_err(|_| StoreError::Internal("the database pool was closed".to_owned()))?;
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let left = timeout.saturating_sub(started.elapsed());
            let mut conn = pool
                .get_timeout(left)
                .map_err(|e| StoreError::from(r2d2_error::PoolError(e)))?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("blocking task failed: {e}")))?
    }
}

/// No connection came free within `timeout`: counted as a sign the database
/// may be gone, like the pool's own timeout.
fn no_connection_within(timeout: Duration) -> StoreError {
    liveness::connection_lost();
    tracing::warn!(?timeout, "no database connection came free");
    StoreError::Unavailable(format!(
        "no database connection came free within {} s",
        timeout.as_secs_f64()
    ))
}

/// The pool could not hand out a connection (database down or saturated).
pub mod r2d2_error {
    /// No connection could be had within the pool's timeout.
    #[derive(Debug, thiserror::Error)]
    #[error("no database connection available: {0}")]
    pub struct PoolError(pub diesel::r2d2::PoolError);
}

/// A PostgreSQL URL with any password in it replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

fn create_parent(path: &Path) -> Result<(), DbError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbError::Connect(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

/// The advisory lock migrations run under on PostgreSQL (a fixed number
/// of this application's: "KAPJ" in ASCII).
const MIGRATION_LOCK: i64 = 0x4b41_504a;

fn run_migrations<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<(), DbError>
where
    C: MigrationHarness<C::Backend> + Connection,
    EmbeddedMigrations: diesel::migration::MigrationSource<C::Backend>,
{
    let applied = conn
        .applied_migrations()
        .map_err(|e| DbError::Migrate(e.to_string()))?;
    let known: Vec<String> =
        diesel::migration::MigrationSource::<C::Backend>::migrations(&migrations)
            .map_err(|e| DbError::Migrate(e.to_string()))?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
    if let Some(unknown) = applied
        .iter()
        .map(|v| v.to_string())
        .find(|v| !known.contains(v))
    {
        return Err(DbError::NewerSchema(unknown));
    }
    conn.run_pending_migrations(migrations)
        .map_err(|e| DbError::Migrate(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_described_without_its_password() {
        assert_eq!(
            without_password("postgres://journal:s3cret@db.example:5432/journal?sslmode=require"),
            "postgres://journal:***@db.example:5432/journal?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(
            without_password("postgresql://db.example/journal"),
            "postgresql://db.example/journal"
        );
    }

    #[test]
    fn a_sqlite_file_is_described_by_its_absolute_path() {
        let described = Backend::from_url("sqlite://data/journal.db")
            .unwrap()
            .describe();
        assert!(described.starts_with('/'), "{described}");
        assert!(described.ends_with("data/journal.db"), "{described}");
    }
}
