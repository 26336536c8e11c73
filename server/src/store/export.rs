//! A patient's account as a whole: everything they wrote, exported in one
//! snapshot (journal-core's `ExportDocument`, the one shape a phone can
//! import), and erasure of everything kept about them but the audit log,
//! in one transaction.

use diesel::prelude::*;
use journal_core::export::{EXPORT_FORMAT, EXPORT_VERSION, ExportDocument, ExportedAccount};

use super::comments::with_authors;
use super::rows::{CommentRow, PulledRow, RevisionRow, parse_id};
use super::schema::{
    alerts, care_invitations, care_links, comments, login_throttle, mutation_outcomes,
    owner_versions, password_resets, record_revisions, records, refresh_tokens, sync_devices,
    users,
};
use super::time::{micros_to_time, now_time};
use super::{DbConnection, StoreError};
use crate::auth::tokens::secret_hash;

fn account_gone() -> StoreError {
    StoreError::NotSignedIn("the account no longer exists".to_owned())
}

/// An account's email and password hash, and until when its email is
/// locked for wrong passwords (if it is); `None` once the account is gone.
pub fn reauthentication(
    conn: &mut DbConnection,
    owner: &str,
) -> Result<Option<(String, String, Option<i64>)>, StoreError> {
    let account: Option<(String, String)> = users::table
        .find(owner)
        .select((users::email, users::password_hash))
        .first(conn)
        .optional()?;
    let Some((email, hash)) = account else {
        return Ok(None);
    };
    let locked: Option<Option<i64>> = login_throttle::table
        .find(secret_hash(&email))
        .select(login_throttle::locked_until)
        .first(conn)
        .optional()?;
    Ok(Some((email, hash, locked.flatten())))
}

/// The export of one patient, read in one snapshot; `None` when the account
/// is gone.
pub fn export(conn: &mut DbConnection, owner: &str) -> Result<Option<ExportDocument>, StoreError> {
    conn.read_snapshot(|conn| {
        let account: Option<(String, String, Option<String>, i64)> = users::table
            .find(owner)
            .select((
                users::id,
                users::email,
                users::display_name,
                users::created_at,
            ))
            .first(conn)
            .optional()?;
        let Some((id, email, display_name, created_at)) = account else {
            return Ok(None);
        };
        let live = records::table
            .filter(records::owner_id.eq(owner))
            .filter(records::deleted.eq(false));
        let exported_records = live
            .order((records::created_at.asc(), records::id.asc()))
            .select(PulledRow::as_select())
            .load::<PulledRow>(conn)?
            .into_iter()
            .map(PulledRow::into_state)
            .collect::<Result<Vec<_>, _>>()?;
        let revisions = record_revisions::table
            .filter(record_revisions::owner_id.eq(owner))
            .order(record_revisions::version.asc())
            .select(RevisionRow::as_select())
            .load::<RevisionRow>(conn)?
            .into_iter()
            .map(RevisionRow::into_revision)
            .collect::<Result<Vec<_>, _>>()?;
        // Comments on deleted records are left out with their records: an
        // import would keep them about nothing.
        let comment_rows: Vec<CommentRow> = comments::table
            .filter(comments::owner_id.eq(owner))
            .filter(comments::deleted.eq(false))
            .filter(comments::record_id.eq_any(live.select(records::id)))
            .order((comments::created_at.asc(), comments::id.asc()))
            .select(CommentRow::as_select())
            .load(conn)?;
        let comments = with_authors(conn, &comment_rows)?;
        Ok(Some(ExportDocument {
            format: EXPORT_FORMAT.to_owned(),
            version: EXPORT_VERSION,
            exported_at: now_time()?,
            account: ExportedAccount {
                id: parse_id(&id)?,
                email,
                display_name,
                created_at: micros_to_time(created_at)?,
            },
            records: exported_records,
            revisions,
            comments,
        }))
    })
}

/// Removes a patient and everything kept about them but the audit log, in
/// one transaction, then makes it unreadable in the database's files as far
/// as the backend allows ([`DbConnection::forget_deleted`]).
pub fn erase(conn: &mut DbConnection, owner: &str, email_hash: &str) -> Result<(), StoreError> {
    let erased = conn.write_transaction(|conn| erase_rows(conn, owner, email_hash));
    if erased.is_ok() && !conn.forget_deleted()? {
        tracing::warn!(
            "after an erasure the write-ahead log could not be emptied (readers held it); \
             the next checkpoint overwrites it"
        );
    }
    erased
}

fn erase_rows(conn: &mut DbConnection, owner: &str, email_hash: &str) -> Result<(), StoreError> {
    // First write: the version counter, whose row lock (PostgreSQL) or
    // the write lock (SQLite) waits for a push or comment in flight
    // and holds the next ones back until the account is gone; they then
    // fail on the missing account. (The foreign keys cascade too, for
    // anything a racing writer slipped in.)
    diesel::delete(owner_versions::table.filter(owner_versions::owner_id.eq(owner)))
        .execute(conn)?;
    diesel::delete(comments::table.filter(comments::owner_id.eq(owner))).execute(conn)?;
    diesel::delete(alerts::table.filter(alerts::patient_id.eq(owner))).execute(conn)?;
    diesel::delete(record_revisions::table.filter(record_revisions::owner_id.eq(owner)))
        .execute(conn)?;
    diesel::delete(records::table.filter(records::owner_id.eq(owner))).execute(conn)?;
    let devices = sync_devices::table
        .filter(sync_devices::owner_id.eq(owner))
        .select(sync_devices::device_id);
    diesel::delete(mutation_outcomes::table.filter(mutation_outcomes::device_id.eq_any(devices)))
        .execute(conn)?;
    diesel::delete(sync_devices::table.filter(sync_devices::owner_id.eq(owner))).execute(conn)?;
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(owner)))
        .execute(conn)?;
    diesel::delete(care_links::table.filter(care_links::patient_id.eq(owner))).execute(conn)?;
    diesel::delete(care_invitations::table.filter(care_invitations::used_by.eq(owner)))
        .execute(conn)?;
    diesel::delete(login_throttle::table.find(email_hash)).execute(conn)?;
    diesel::delete(password_resets::table.find(email_hash)).execute(conn)?;
    let removed = diesel::delete(
        users::table
            .filter(users::id.eq(owner))
            .filter(users::role.eq(crate::auth::Role::Patient.as_str())),
    )
    .execute(conn)?;
    if removed == 1 {
        Ok(())
    } else {
        // Erased meanwhile by another request: roll back, and answer
        // as for any account that is gone.
        Err(account_gone())
    }
}
