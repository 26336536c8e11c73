//! A pull, outgoing: one page of an owner's changes after a cursor —
//! records as the server holds them (tombstones included), revisions of
//! text that lost, therapists' comments and the care plans they wrote —
//! read in one snapshot and
//! merged in version order, so a page never skips a change committed
//! meanwhile.

use diesel::prelude::*;
use journal_core::ids::DeviceId;
use journal_core::sync::{OwnerVersion, PullResponse, PulledChange};

use super::devices::{another_owners_device, applied_mutation, device_of};
use crate::auth::{AuthUser, Role};
use crate::store::accounts::{SESSION_ENDED, live_session_role};
use crate::store::care_plans::{self, PlanChangeRow};
use crate::store::comments::{author_names, author_or_default, with_authors};
use crate::store::connection::on_backend;
use crate::store::rows::{CommentRow, PulledRow, RevisionRow, owner_version};
use crate::store::schema::{comments, record_revisions, records, sync_devices};
use crate::store::versions;
use crate::store::{DbConnection, StoreError};

/// One page of the owner's changes after `since`.
pub fn pull(
    conn: &mut DbConnection,
    user: AuthUser,
    since: i64,
    limit: u32,
    device: Option<DeviceId>,
) -> Result<PullResponse, StoreError> {
    // The session middleware (http::extract::refuse_ended_sessions) leaves
    // this route to check the account and session here: a token that
    // outlived its session or account, or names a role the account does not
    // have, gets the 401 it gets everywhere; a therapist gets 403.
    //
    // The common case, a device that is up to date, is answered by this one
    // statement: the session's role, the device's owner and last applied
    // mutation, and whether the owner's version counter lies after the
    // cursor (every change draws its version from it). One statement
    // reads one snapshot, so a push that moved the device's last applied
    // mutation had committed its changes in it too: the device is never
    // told its changes were dealt with by a page that says nothing newer
    // exists. (It binds no LIMIT either, which SQLite would plan anew on
    // every call.) On PostgreSQL that is one round trip instead of three.
    let owner = user.id.to_string();
    let owner = owner.as_str();
    let up_to_date = up_to_date_check(conn, &user, owner, since, device)?;
    if up_to_date.role.as_deref() != Some(user.role.as_str()) {
        return Err(StoreError::NotSignedIn(SESSION_ENDED.to_owned()));
    }
    if user.role != Role::Patient {
        return Err(StoreError::NotAllowed("this is for patients".to_owned()));
    }
    if up_to_date
        .device_owner
        .as_deref()
        .is_some_and(|device_owner| device_owner != owner)
    {
        return Err(another_owners_device());
    }
    if !up_to_date.newer {
        return Ok(PullResponse {
            changes: Vec::new(),
            cursor: OwnerVersion(u64::try_from(since).unwrap_or(0)),
            has_more: false,
            last_applied_mutation: applied_mutation(up_to_date.last_applied.unwrap_or(0)),
            server_time: None,
        });
    }
    // Records, revisions, comments and plans are read in separate statements:
    // one snapshot for all, or a write committing between them could put a
    // change on this page above a version the page missed, and the cursor
    // would pass that change for good.
    conn.read_snapshot(|conn| {
        let last_applied = match device {
            Some(device) => device_of(conn, owner, &device.to_string())?.unwrap_or(0),
            None => 0,
        };
        // Each kind of change is read up to one past the page: the page's
        // changes are the first `limit` of the three merged, and no change
        // among them can lie beyond its own kind's first `limit + 1`.
        let fetch = i64::from(limit) + 1;
        let rows: Vec<PulledRow> = records::table
            .filter(records::owner_id.eq(owner))
            .filter(records::version.gt(since))
            .order(records::version.asc())
            .limit(fetch)
            .select(PulledRow::as_select())
            .load(conn)?;
        let revisions: Vec<RevisionRow> = record_revisions::table
            .filter(record_revisions::owner_id.eq(owner))
            .filter(record_revisions::version.gt(since))
            .order(record_revisions::version.asc())
            .limit(fetch)
            .select(RevisionRow::as_select())
            .load(conn)?;
        let comment_rows: Vec<CommentRow> = comments::table
            .filter(comments::owner_id.eq(owner))
            .filter(comments::version.gt(since))
            .order(comments::version.asc())
            .limit(fetch)
            .select(CommentRow::as_select())
            .load(conn)?;
        let plan_rows = care_plans::changes_after(conn, owner, since, fetch)?;

        let limit = limit as usize;
        let mut pending: Vec<Pending> = rows
            .into_iter()
            .map(Pending::Record)
            .chain(revisions.into_iter().map(Pending::Revision))
            .chain(comment_rows.into_iter().map(Pending::Comment))
            .chain(plan_rows.into_iter().map(Pending::Plan))
            .collect();
        // Every version of an owner is drawn once, by one row of one table.
        pending.sort_by_key(Pending::version);
        let has_more = pending.len() > limit;
        pending.truncate(limit);
        let page_comments: Vec<CommentRow> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Comment(row) => Some(row.clone()),
                _ => None,
            })
            .collect();
        let mut authored = with_authors(conn, &page_comments)?.into_iter();
        let plan_authors = author_names(
            conn,
            pending.iter().filter_map(|p| match p {
                Pending::Plan(row) => Some(row.therapist_id()),
                _ => None,
            }),
        )?;
        let changes = pending
            .into_iter()
            .map(|p| match p {
                Pending::Record(row) => row.into_change(),
                Pending::Revision(row) => row.into_change(),
                Pending::Comment(row) => {
                    let comment = authored.next().ok_or_else(|| {
                        StoreError::Internal(format!("comment {} lost its author", row.id))
                    })?;
                    Ok(PulledChange::Comment {
                        version: owner_version(row.version)?,
                        comment,
                    })
                }
                Pending::Plan(row) => {
                    let author = author_or_default(&plan_authors, row.therapist_id()).to_owned();
                    row.into_change(author)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let last = changes.last().map_or(since, |change| {
            i64::try_from(change.version().0).unwrap_or(i64::MAX)
        });
        // On the last page the cursor moves up to the owner's counter as
        // this snapshot sees it, past versions drawn and left unused: every
        // version up to it was drawn by a transaction that committed before
        // the one that set the counter there (each holds the owner's lock
        // until it commits), so none of its changes can appear later below
        // it. Without this, a counter above the last change would send the
        // next pull of an up-to-date device to read pages again.
        let cursor = if has_more {
            last
        } else {
            versions::counter(conn, owner)?.map_or(last, |counter| counter.max(last))
        };
        let cursor = OwnerVersion(u64::try_from(cursor).unwrap_or(0));
        Ok(PullResponse {
            changes,
            cursor,
            has_more,
            last_applied_mutation: applied_mutation(last_applied),
            server_time: None,
        })
    })
}

/// What the first statement of a pull finds.
struct UpToDate {
    /// The account's role, while the token's session is live.
    role: Option<String>,
    /// Whose the device is, when it is known.
    device_owner: Option<String>,
    /// The device's last applied mutation, when it is known.
    last_applied: Option<i64>,
    /// Whether the owner's version counter has moved past the cursor: a
    /// change may lie after it. (A write may draw more versions than it
    /// uses, so the counter can stand above the last change; the page read
    /// then finds nothing new and moves the cursor up to the counter.)
    newer: bool,
}

/// Reads, in one statement, what decides a pull by an up-to-date device.
fn up_to_date_check(
    conn: &mut DbConnection,
    user: &AuthUser,
    owner: &str,
    since: i64,
    device: Option<DeviceId>,
) -> Result<UpToDate, StoreError> {
    // Without a device the look-up names an id no device has (device ids
    // are UUIDs), so both of its columns read NULL.
    let device = device.map(|d| d.to_string()).unwrap_or_default();
    let session = user.session.to_string();
    let (role, device_owner, last_applied, counter): (
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    ) = on_backend!(conn, |conn| {
        let role = live_session_role(owner, &session).single_value();
        let device_owner = sync_devices::table
            .find(&device)
            .select(sync_devices::owner_id)
            .single_value();
        let last_applied = sync_devices::table
            .find(&device)
            .select(sync_devices::last_mutation_id)
            .single_value();
        let counter = versions::counter_of(owner).single_value();
        diesel::select((role, device_owner, last_applied, counter)).get_result(conn)?
    });
    Ok(UpToDate {
        role,
        device_owner,
        last_applied,
        newer: counter.is_some_and(|counter| counter > since),
    })
}

/// A row read for a pull page, before it is sent.
enum Pending {
    Record(PulledRow),
    Revision(RevisionRow),
    Comment(CommentRow),
    Plan(PlanChangeRow),
}

impl Pending {
    fn version(&self) -> i64 {
        match self {
            Pending::Record(row) => row.version,
            Pending::Revision(row) => row.version,
            Pending::Comment(row) => row.version,
            Pending::Plan(row) => row.version,
        }
    }
}
