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
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub mod access;
pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod care;
pub mod comments;
mod error;
pub mod export;
pub mod records;
pub mod review;
pub mod rows;
pub mod schema;
pub mod sync;
pub mod time;
pub mod versions;

pub use error::{StoreError, is_connection_failure};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

mod connection;
pub use connection::DbConnection;

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
    /// The database holds migrations this build does not know (a newer server
    /// wrote it).
    #[error("the database was migrated by a newer server (unknown migration {0}); refusing to run")]
    NewerSchema(String),
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

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgresql",
            Backend::Sqlite(_) => "sqlite",
        }
    }
}

/// Makes connections for the pool, each set up for its backend.
#[derive(Debug, Clone)]
pub struct Connector {
    backend: Backend,
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
            Backend::Sqlite(path) => DbConnection::Sqlite(
                diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(diesel::r2d2::Error::ConnectionError)?,
            ),
        };
        if let DbConnection::Sqlite(sqlite) = &mut conn {
            // busy_timeout: wait for the one writer instead of failing;
            // WAL: readers never block it; foreign keys: on, as in PostgreSQL.
            sqlite
                .batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection left in a failed or open transaction (its query failed
    /// when the database went away) is dropped on return rather than handed
    /// out again.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// The pool of connections and what it was opened on.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Connector>,
    backend: Backend,
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
        let backend = Backend::from_url(url)?;
        if let Backend::Sqlite(path) = &backend {
            create_parent(path)?;
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
            // Recovery after a database restart: every pooled connection is
            // checked before use, so one that died with the old server is
            // replaced instead of failing a request.
            .test_on_check_out(true)
            .build(Connector {
                backend: backend.clone(),
            })
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let db = Self { pool, backend };
        db.migrate()?;
        Ok(db)
    }

    /// The backend in use.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Applies every pending migration; refuses a database migrated by a
    /// newer server.
    pub fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbError::Connect(e.to_string()))?;
        match &mut *conn {
            DbConnection::Postgresql(pg) => run_migrations(pg, POSTGRES_MIGRATIONS),
            DbConnection::Sqlite(sqlite) => run_migrations(sqlite, SQLITE_MIGRATIONS),
        }
    }

    /// Borrows a connection, blocking up to the pool's timeout.
    pub fn get(&self) -> Result<Conn, r2d2_error::PoolError> {
        self.pool.get().map_err(r2d2_error::PoolError)
    }

    /// Whether the database answers, waiting at most `timeout` for a
    /// connection (blocking: call it off the async workers).
    pub fn ping(&self, timeout: Duration) -> Result<(), String> {
        let mut conn = self.pool.get_timeout(timeout).map_err(|e| e.to_string())?;
        conn.batch_execute("SELECT 1").map_err(|e| e.to_string())
    }

    /// Runs `work` on a pooled connection on the blocking thread pool, so the
    /// async workers keep serving while the database works.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| StoreError::from(r2d2_error::PoolError(e)))?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("blocking task failed: {e}")))?
    }
}

/// The pool could not hand out a connection (database down or saturated).
pub mod r2d2_error {
    /// No connection could be had within the pool's timeout.
    #[derive(Debug, thiserror::Error)]
    #[error("no database connection available: {0}")]
    pub struct PoolError(pub diesel::r2d2::PoolError);
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
