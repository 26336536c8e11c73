//! The connection type that hides which backend is in use.

// The derive generates a backend enum and helpers that cannot carry docs.
#![allow(missing_docs)]

/// A connection to either backend; diesel queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL, for production.
    Postgresql(diesel::PgConnection),
    /// SQLite, the embedded default.
    Sqlite(diesel::SqliteConnection),
}
