//! journal-testing: the one helper crate every test suite of the journal
//! shares — the server's own tests (`server/tests/common`) and the
//! end-to-end tests, benchmarks and load harness (`journal-e2e`). It owns
//! what they would otherwise each write again: a fresh database of either
//! [`Backend`] ([`TestDatabase`]: a SQLite file in a temporary folder, or a
//! database of its own on the test PostgreSQL server, dropped afterwards),
//! where that server is ([`postgres_admin_url`], from `TEST_DATABASE_URL`),
//! when its half of a test is skipped ([`skip_postgres`]), and the
//! token-signing secret a test server is given ([`jwt_secret`]). It depends
//! on neither journal-server nor journal-core, so both can use it in their
//! tests.

// Test support: failing loudly on a broken setup is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt;

use base64::Engine;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The PostgreSQL server the tests use when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

/// The PostgreSQL server the tests use: `TEST_DATABASE_URL`, or
/// [`DEFAULT_POSTGRES_URL`].
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether the PostgreSQL half of the tests is skipped on this machine:
/// only when `JOURNAL_SKIP_POSTGRES=1` and not under `CI=true`
/// (`scripts/test.sh` sets it when no PostgreSQL can be started).
pub fn skip_postgres() -> bool {
    std::env::var("JOURNAL_SKIP_POSTGRES").as_deref() == Ok("1")
        && std::env::var("CI").as_deref() != Ok("true")
}

/// `url` (a PostgreSQL URL) with its database name replaced by `name`; the
/// query string, if any, is kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let root = base[authority..]
        .find('/')
        .map_or(base, |slash| &base[..authority + slash]);
    query.map_or_else(
        || format!("{root}/{name}"),
        |q| format!("{root}/{name}?{q}"),
    )
}

/// The 32 bytes of a test server's signing secret, made from `seed`: all
/// different, so the server's check against predictable secrets (one byte
/// repeated, a short pattern) lets them through, and the same for the same
/// seed, so a test can sign its own tokens with them.
pub const fn secret_bytes(seed: u8) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        // 37 is odd, so i * 37 differs for every i below 256.
        bytes[i] = seed ^ (i as u8).wrapping_mul(37).wrapping_add(11);
        i += 1;
    }
    bytes
}

/// A token-signing secret for a test server, as its `--jwt-secret` flag
/// takes it: [`secret_bytes`] of `seed`, base64 (URL-safe, unpadded).
pub fn jwt_secret(seed: u8) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes(seed))
}

/// Why a [`TestDatabase`] could not be made.
#[derive(Debug)]
pub enum DatabaseError {
    /// No temporary folder for the SQLite file.
    TempDir(std::io::Error),
    /// The PostgreSQL server did not accept a connection.
    Unreachable {
        /// The server's URL.
        admin_url: String,
        /// What the connection attempt said.
        source: diesel::ConnectionError,
    },
    /// The PostgreSQL server refused to create the database.
    Create {
        /// The database's name.
        name: String,
        /// What the server said.
        source: diesel::result::Error,
    },
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TempDir(e) => write!(f, "temporary folder: {e}"),
            Self::Unreachable { admin_url, source } => {
                write!(f, "PostgreSQL at {admin_url} is unreachable: {source}")
            }
            Self::Create { name, source } => write!(f, "cannot create database {name}: {source}"),
        }
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TempDir(e) => Some(e),
            Self::Unreachable { source, .. } => Some(source),
            Self::Create { source, .. } => Some(source),
        }
    }
}

/// A fresh, empty database for a server under test: a SQLite file in a
/// temporary folder, or a database of its own on a PostgreSQL server,
/// named `<prefix><uuid>`. Removed when dropped (the folder deleted, the
/// PostgreSQL database dropped with `WITH (FORCE)`).
pub struct TestDatabase {
    url: String,
    place: Place,
}

enum Place {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh database on `backend`, for PostgreSQL on the test server
    /// ([`postgres_admin_url`]) and named `<prefix><uuid>` (`prefix` tells
    /// the suites' leftovers apart, e.g. `journal_test_`). `None` (with a
    /// message) when PostgreSQL is skipped here ([`skip_postgres`]).
    ///
    /// # Panics
    ///
    /// When the database cannot be made, e.g. PostgreSQL is unreachable.
    pub fn create(backend: Backend, prefix: &str) -> Option<Self> {
        if backend == Backend::Postgres && skip_postgres() {
            eprintln!("PostgreSQL half skipped: JOURNAL_SKIP_POSTGRES=1");
            return None;
        }
        match Self::try_create(backend, prefix, &postgres_admin_url()) {
            Ok(database) => Some(database),
            Err(e @ DatabaseError::Unreachable { .. }) => {
                panic!("{e}; run ./scripts/test.sh, which starts it")
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// A fresh database on `backend`, for PostgreSQL on the server
    /// `admin_url` points at (whatever [`skip_postgres`] says), named
    /// `<prefix><uuid>`: for the load harness and for tests that run a
    /// PostgreSQL server of their own.
    pub fn try_create(
        backend: Backend,
        prefix: &str,
        admin_url: &str,
    ) -> Result<Self, DatabaseError> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(DatabaseError::TempDir)?;
                let url = format!("sqlite://{}", dir.path().join("server.db").display());
                Ok(Self {
                    url,
                    place: Place::Sqlite { _dir: dir },
                })
            }
            Backend::Postgres => {
                let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(admin_url).map_err(|source| {
                    DatabaseError::Unreachable {
                        admin_url: admin_url.to_owned(),
                        source,
                    }
                })?;
                admin
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .map_err(|source| DatabaseError::Create {
                        name: name.clone(),
                        source,
                    })?;
                Ok(Self {
                    url: with_database(admin_url, &name),
                    place: Place::Postgres {
                        admin_url: admin_url.to_owned(),
                        name,
                    },
                })
            }
        }
    }

    /// The URL to give the server (`sqlite://…` or `postgres://…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend it is on.
    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Sqlite { .. } => write!(f, "TestDatabase(sqlite {})", self.url),
            Place::Postgres { name, .. } => write!(f, "TestDatabase(postgres {name})"),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Place::Postgres { admin_url, name } = &self.place
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::*;

    #[test]
    fn with_database_replaces_the_name_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u@h?connect_timeout=5", "x"),
            "postgres://u@h/x?connect_timeout=5"
        );
    }

    #[test]
    fn jwt_secret_is_32_bytes_of_the_seed() {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt_secret(42))
            .unwrap();
        assert_eq!(bytes, secret_bytes(42));
        let mut distinct = bytes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 32);
        assert_ne!(secret_bytes(42), secret_bytes(43));
    }

    #[test]
    fn a_sqlite_database_is_a_file_in_a_folder_removed_on_drop() {
        let database = TestDatabase::create(Backend::Sqlite, "unused_").unwrap();
        assert_eq!(database.backend(), Backend::Sqlite);
        let path = std::path::PathBuf::from(database.url().strip_prefix("sqlite://").unwrap());
        let dir = path.parent().unwrap().to_owned();
        assert!(dir.is_dir());
        drop(database);
        assert!(!dir.exists());
    }

    #[test]
    fn a_postgres_database_is_created_and_dropped() {
        let Some(database) = TestDatabase::create(Backend::Postgres, "journal_testing_") else {
            return;
        };
        assert_eq!(database.backend(), Backend::Postgres);
        let exists = |name: &str| {
            let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
            )))
            .get_result::<bool>(&mut admin)
            .unwrap()
        };
        let name = database.url().rsplit('/').next().unwrap().to_owned();
        assert!(name.starts_with("journal_testing_"));
        assert!(exists(&name));
        PgConnection::establish(database.url()).expect("connect to the new database");
        drop(database);
        assert!(!exists(&name));
    }

    #[test]
    fn an_unreachable_server_is_an_error() {
        let error =
            TestDatabase::try_create(Backend::Postgres, "x_", "postgres://nobody@127.0.0.1:1/x")
                .unwrap_err();
        assert!(matches!(error, DatabaseError::Unreachable { .. }));
        assert!(error.to_string().contains("is unreachable"));
    }
}
