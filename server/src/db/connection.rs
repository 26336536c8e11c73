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
}
