//! The owner's version counter: the cursor of sync.
//!
//! Every write transaction of an owner's history (records, revisions,
//! therapists' comments) first bumps the owner's counter row and stamps
//! every row it writes from the versions it drew. The update takes the
//! owner's lock (PostgreSQL's row lock, SQLite's one writer) before
//! anything is read, so versions follow commit order and a pull never
//! passes a change that commits later with a lower number. Never a
//! database sequence, `now()` or a device clock.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::schema::owner_versions;
use super::{DbConnection, StoreError};

/// Runs `work` as one write transaction of `owner`'s history that may
/// write `count` versions: the counter is bumped by `count` first (taking
/// the owner's lock), and `work` hands the versions out in order.
pub fn owner_write<T, E, F>(
    conn: &mut DbConnection,
    owner: &str,
    count: i64,
    work: F,
) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection, &mut Versions) -> Result<T, E>,
    E: From<DieselError>,
{
    conn.write_transaction(|conn| {
        let top = bump_version_by(conn, owner, count)?;
        let mut versions = Versions::block(top, count);
        work(conn, &mut versions)
    })
}

/// How an [`owner_edit`]'s work ends without committing.
#[derive(Debug)]
pub enum EditEnd<T> {
    /// It failed.
    Failed(StoreError),
    /// There was nothing to write (the content is already what was sent):
    /// the answer is this, and rolling back undoes the version bump.
    /// (Boxed: a record can be large, and errors travel by value.)
    Unchanged(Box<T>),
}

impl<T> From<StoreError> for EditEnd<T> {
    fn from(error: StoreError) -> Self {
        EditEnd::Failed(error)
    }
}

impl<T> From<DieselError> for EditEnd<T> {
    fn from(error: DieselError) -> Self {
        EditEnd::Failed(error.into())
    }
}

/// An [`owner_write`] of one version whose work may find there is nothing
/// to change: its `EditEnd::Unchanged` rolls back and is answered as if it
/// had been written. (The bump comes first all the same: it takes the
/// owner's lock before the current state is read.)
pub fn owner_edit<T, F>(conn: &mut DbConnection, owner: &str, work: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConnection, &mut Versions) -> Result<T, EditEnd<T>>,
{
    match owner_write(conn, owner, 1, work) {
        Ok(value) => Ok(value),
        Err(EditEnd::Unchanged(value)) => Ok(*value),
        Err(EditEnd::Failed(error)) => Err(error),
    }
}

/// Bumps the owner's write counter by a block of `count` versions and
/// returns its new value: the transaction owns the versions `value - count
/// + 1 ..= value`. The first write of an owner starts the counter.
///
/// Call it first in every write transaction: the update locks the owner's
/// counter row (PostgreSQL) or takes the write lock (SQLite) until the
/// transaction ends, so an owner's writes happen one after the other.
pub fn bump_version_by(
    conn: &mut DbConnection,
    owner: &str,
    count: i64,
) -> Result<i64, DieselError> {
    if let Some(version) = increment_version(conn, owner, count)? {
        return Ok(version);
    }
    // In a savepoint: if a concurrent first write inserted the row first,
    // only the insert is undone and the counter is bumped after all.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(owner_versions::table)
            .values((
                owner_versions::owner_id.eq(owner),
                owner_versions::version.eq(count),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(count),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            increment_version(conn, owner, count)?.ok_or(DieselError::NotFound)
        }
        Err(other) => Err(other),
    }
}

fn increment_version(
    conn: &mut DbConnection,
    owner: &str,
    count: i64,
) -> Result<Option<i64>, DieselError> {
    diesel::update(owner_versions::table.filter(owner_versions::owner_id.eq(owner)))
        .set(owner_versions::version.eq(owner_versions::version + count))
        .returning(owner_versions::version)
        .get_result(conn)
        .optional()
}

/// The owner's counter as a query: the last version any write of theirs
/// drew (none before their first write). Every change to their history
/// carries a version at or below it.
#[diesel::dsl::auto_type(no_type_alias)]
pub(crate) fn counter_of<'a>(owner: &'a str) -> _ {
    owner_versions::table
        .find(owner)
        .select(owner_versions::version)
}

/// The owner's counter now; `None` before their first write.
pub fn counter(conn: &mut DbConnection, owner: &str) -> Result<Option<i64>, StoreError> {
    Ok(counter_of(owner).first(conn).optional()?)
}

/// Hands out the versions of one write transaction, in order.
#[derive(Debug)]
pub struct Versions {
    next: i64,
    remaining: i64,
}

impl Versions {
    /// The `size` versions ending at `top` (the counter's new value).
    pub fn block(top: i64, size: i64) -> Self {
        Self {
            next: top.saturating_sub(size).saturating_add(1),
            remaining: size,
        }
    }

    /// The next version of the block.
    pub fn take(&mut self) -> Result<i64, StoreError> {
        if self.remaining <= 0 {
            return Err(StoreError::Internal(
                "a write transaction ran out of versions".to_owned(),
            ));
        }
        let version = self.next;
        self.next = self.next.saturating_add(1);
        self.remaining -= 1;
        Ok(version)
    }
}
