//! The connection type that hides which backend is in use, and the few
//! things each backend does its own way: a write transaction (SQLite takes
//! the write lock up front), a read snapshot (PostgreSQL needs repeatable
//! read for it), and multi-row inserts (diesel's connection over both
//! backends cannot build them).

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

impl DbConnection {
    /// Runs `work` in a transaction that will write.
    ///
    /// On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock at
    /// once (waiting for another writer up to the busy timeout). A plain
    /// `BEGIN` takes it only at the first write, and a transaction that has
    /// read by then cannot wait: if another connection wrote meanwhile,
    /// SQLite refuses it at once with "database is locked". Use this for
    /// every transaction that may write after reading (audit rows after an
    /// access check, a claim after a look-up); read-only transactions keep
    /// [`Connection::transaction`](diesel::Connection::transaction) so that
    /// readers never wait for each other. On PostgreSQL both are the same.
    pub fn write_transaction<T, E, F>(&mut self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        use diesel::Connection;
        use diesel::connection::{AnsiTransactionManager, TransactionManager};

        // PostgreSQL, or inside a transaction already (a savepoint): as usual.
        let outermost_on_sqlite = match self {
            DbConnection::Postgresql(_) => false,
            DbConnection::Sqlite(inner) => {
                AnsiTransactionManager::transaction_manager_status_mut(inner)
                    .transaction_depth()?
                    .is_none()
            }
        };
        if !outermost_on_sqlite {
            return self.transaction(work);
        }
        if let DbConnection::Sqlite(inner) = self {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
        }
        let outcome = work(self);
        match (self, outcome) {
            (DbConnection::Sqlite(inner), Ok(value)) => {
                AnsiTransactionManager::commit_transaction(inner)?;
                Ok(value)
            }
            (DbConnection::Sqlite(inner), Err(error)) => {
                // A failed rollback leaves the connection broken; the pool
                // then drops it (see `Connector::has_broken`), so the work's
                // own error is the one worth answering with.
                let _ = AnsiTransactionManager::rollback_transaction(inner);
                Err(error)
            }
            // Not reached: PostgreSQL went through `transaction` above.
            (DbConnection::Postgresql(_), outcome) => outcome,
        }
    }

    /// Runs `work` in a read-only transaction that sees one snapshot of the
    /// database, so that several statements read the same state (a page of
    /// pull, an export). SQLite's read transaction is a snapshot already;
    /// PostgreSQL's default isolation would let a write committing between
    /// two statements show in the second.
    pub fn read_snapshot<T, E, F>(&mut self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;

        self.transaction(|conn| {
            if matches!(conn, DbConnection::Postgresql(_)) {
                conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
            }
            work(conn)
        })
    }

    /// Executes a statement on the backend's own connection: for multi-row
    /// inserts (`insert_into(table).values(&rows)`), which diesel can build
    /// for each backend but not for the connection over both.
    pub fn execute_native<Q>(&mut self, statement: Q) -> diesel::QueryResult<usize>
    where
        Q: diesel::query_dsl::methods::ExecuteDsl<diesel::PgConnection>
            + diesel::query_dsl::methods::ExecuteDsl<diesel::SqliteConnection>,
    {
        use diesel::query_dsl::methods::ExecuteDsl;
        match self {
            DbConnection::Postgresql(pg) => {
                <Q as ExecuteDsl<diesel::PgConnection>>::execute(statement, pg)
            }
            DbConnection::Sqlite(lite) => {
                <Q as ExecuteDsl<diesel::SqliteConnection>>::execute(statement, lite)
            }
        }
    }

    /// Makes what was just deleted unreadable in the database's files, as
    /// far as the backend allows without stopping writers. SQLite
    /// overwrites deleted content itself (`secure_delete`, set on every
    /// connection), but the write-ahead log still holds earlier copies of
    /// the pages: a `TRUNCATE` checkpoint copies the log into the file and
    /// empties it (waiting for readers up to the busy timeout). PostgreSQL
    /// keeps deleted rows in its files until the space is reused, and in
    /// its WAL archives and backups until they expire: that is the
    /// operator's to govern (`docs/security.md`), nothing to do here.
    /// Returns whether the log could be emptied.
    pub fn forget_deleted(&mut self) -> diesel::QueryResult<bool> {
        use diesel::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            busy: i32,
        }
        match self {
            DbConnection::Postgresql(_) => Ok(true),
            DbConnection::Sqlite(lite) => {
                let done: Checkpoint =
                    diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(lite)?;
                Ok(done.busy == 0)
            }
        }
    }
}

/// Runs `$body` with `$c` bound to the backend's own connection
/// (`PgConnection` or `SqliteConnection`), the query in it built for that
/// backend alone.
///
/// For statements on a hot path. Through [`DbConnection`] itself, diesel
/// writes out a statement's whole SQL text on every run (twice: to gather
/// its binds and to ask whether it may be cached), even when the prepared
/// statement is cached already; on the backend's own connection it only
/// gathers the binds. For a pull by an up-to-date device that writing was
/// the larger part of the server's own work. The body is compiled once per
/// backend, so it must build its query inside.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Postgresql($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;
