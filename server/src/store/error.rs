//! The store's one error type: what went wrong in the store's own terms
//! (nothing there, a conflict, a rule broken, the database gone). The HTTP
//! layer and the portal each map it once, to a status and a page; nothing
//! here knows how it will be shown.

use journal_core::validation::InvalidInput;

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The content breaks journal-core's rules.
    #[error("{0}")]
    Invalid(InvalidInput),
    /// The content of a sync mutation cannot be read.
    #[error("{0}")]
    Unreadable(String),
    /// Nothing there, or nothing the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// It existed, but can no longer be used (an expired invitation).
    #[error("{0}")]
    Gone(String),
    /// The caller may not do this (another patient's device, another
    /// role's action).
    #[error("{0}")]
    NotAllowed(String),
    /// The credentials no longer hold: the account is gone, the password is
    /// wrong, the refresh token is spent.
    #[error("{0}")]
    NotSignedIn(String),
    /// A device sent a change under a number it had already used for
    /// another change: its numbering went back (restored from a backup).
    #[error("{0}")]
    DeviceRewound(String),
    /// The database is down, or the connection to it was lost.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// A fault on our side (a corrupt row, a failed statement).
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    /// A row that cannot be decoded: `what` of `thing` (e.g. "record 0190…").
    pub(crate) fn corrupt(thing: impl std::fmt::Display, what: impl std::fmt::Display) -> Self {
        StoreError::Internal(format!("{thing}: {what}"))
    }
}

impl From<InvalidInput> for StoreError {
    fn from(invalid: InvalidInput) -> Self {
        StoreError::Invalid(invalid)
    }
}

/// Whether a diesel error says the connection itself failed (closed by the
/// server, lost, or left unusable by a failed transaction) rather than
/// anything about the query or the data.
pub fn is_connection_failure(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => is_connection_failure(rollback_error) || is_connection_failure(commit_error),
        _ => false,
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if is_connection_failure(&error) {
            super::liveness::connection_lost();
            tracing::warn!(%error, "database connection lost");
            return StoreError::Unavailable(error.to_string());
        }
        match &error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict("that already exists".to_owned())
            }
            // Something referred to is gone, e.g. an account deleted while a
            // token issued before was still valid.
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                StoreError::Conflict("it refers to something that no longer exists".to_owned())
            }
            _ => StoreError::Internal(format!("database: {error}")),
        }
    }
}

impl From<super::r2d2_error::PoolError> for StoreError {
    fn from(error: super::r2d2_error::PoolError) -> Self {
        super::liveness::connection_lost();
        tracing::warn!(%error, "database unavailable");
        StoreError::Unavailable(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    fn closed() -> Error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_owned()),
        )
    }

    #[test]
    fn a_lost_database_connection_is_unavailable() {
        let rollback_failed = Error::RollbackErrorOnCommit {
            rollback_error: Box::new(closed()),
            commit_error: Box::new(Error::NotFound),
        };
        for error in [closed(), Error::BrokenTransactionManager, rollback_failed] {
            let store = StoreError::from(error);
            assert!(matches!(store, StoreError::Unavailable(_)), "{store:?}");
        }
    }

    #[test]
    fn other_database_errors_keep_their_meaning() {
        let unique = Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_owned()),
        );
        assert!(matches!(StoreError::from(unique), StoreError::Conflict(_)));
        assert!(matches!(
            StoreError::from(Error::NotFound),
            StoreError::Internal(_)
        ));
    }
}
