//! A pull, outgoing: one page of an owner's changes after a cursor —
//! records as the server holds them (tombstones included), revisions of
//! text that lost, therapists' comments and the care plans they wrote —
//! read in one snapshot and
//! merged in version order, so a page never skips a change committed
//! meanwhile.

use diesel::dsl::exists;
use diesel::prelude::*;
use journal_core::ids::DeviceId;
use journal_core::sync::{OwnerVersion, PullResponse, PulledChange};

use super::devices::{applied_mutation, device_of};
use crate::auth::{AuthUser, Role};
use crate::store::accounts::{SESSION_ENDED, session_role};
use crate::store::care_plans::{self, PlanChangeRow};
use crate::store::comments::{author_names, author_or_default, with_authors};
use crate::store::rows::{CommentRow, PulledRow, RevisionRow, owner_version};
use crate::store::schema::{care_plans as care_plans_table, comments, record_revisions, records};
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
    // this route to check the account and session here, in the same
    // database call: a token that outlived its session or account, or
    // names a role the account does not have, gets the 401 it gets
    // everywhere; a therapist gets 403.
    let owner = user.id.to_string();
    let owner = owner.as_str();
    let stored = session_role(conn, user.id, user.session)?;
    if stored.as_deref() != Some(user.role.as_str()) {
        return Err(StoreError::NotSignedIn(SESSION_ENDED.to_owned()));
    }
    if user.role != Role::Patient {
        return Err(StoreError::NotAllowed("this is for patients".to_owned()));
    }
    // The common case, a device that is up to date, is answered without a
    // transaction: one statement says whether anything lies after the
    // cursor (and, unlike the page's queries, binds no LIMIT, which SQLite
    // would plan anew on every call). The device's last applied mutation
    // is read first: a push that moved it had committed, so its changes
    // are seen, and the device is never told its changes were dealt with
    // by a page that says nothing newer exists.
    let last_applied = match device {
        Some(device) => device_of(conn, owner, &device.to_string())?.unwrap_or(0),
        None => 0,
    };
    let newer: bool = diesel::select(
        exists(
            records::table
                .filter(records::owner_id.eq(owner))
                .filter(records::version.gt(since)),
        )
        .or(exists(
            record_revisions::table
                .filter(record_revisions::owner_id.eq(owner))
                .filter(record_revisions::version.gt(since)),
        ))
        .or(exists(
            comments::table
                .filter(comments::owner_id.eq(owner))
                .filter(comments::version.gt(since)),
        ))
        .or(exists(
            care_plans_table::table
                .filter(care_plans_table::patient_id.eq(owner))
                .filter(care_plans_table::version.gt(since)),
        )),
    )
    .get_result(conn)?;
    if !newer {
        return Ok(PullResponse {
            changes: Vec::new(),
            cursor: OwnerVersion(u64::try_from(since).unwrap_or(0)),
            has_more: false,
            last_applied_mutation: applied_mutation(last_applied),
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
        let cursor = changes
            .last()
            .map(PulledChange::version)
            .unwrap_or(OwnerVersion(u64::try_from(since).unwrap_or(0)));
        Ok(PullResponse {
            changes,
            cursor,
            has_more,
            last_applied_mutation: applied_mutation(last_applied),
            server_time: None,
        })
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
