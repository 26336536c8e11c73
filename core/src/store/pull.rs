//! Applying a pulled page to the device: the server's records replace the
//! local copies, conflict revisions are kept, the clock and the cursor move
//! on — in the caller's one transaction.
//!
//! A record that still has local changes waiting to be pushed is not
//! replaced: the local edit stays visible until the server has it and sends
//! its decision back. Usually that decision comes back as a newer version of
//! the record. When the server keeps its own version instead (the local edit
//! lost by clock stamp), there may be no newer version to send; so the
//! pulled version is *held* (`held_pulls`), and once the record's changes
//! are acknowledged and a pull has caught up without bringing anything
//! newer, the held version is what the server holds, and it is applied.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::schema::{held_pulls, journal_meta, outbox as outbox_table, records, revisions};
use super::{Clock, RecordValues, StoreError, outbox, search, time_to_micros, values};
use crate::hlc::Hlc;
use crate::records::{Record, RecordBody};
use crate::sync::{OwnerVersion, PullResponse, PulledChange, RecordState, Revision};

/// `journal_meta` key of the pull cursor.
const PULL_CURSOR_KEY: &str = "pull_cursor";
/// `journal_meta` key of the greatest clock stamp ever pulled, so the clock
/// resumes after it when the app starts again.
const PULLED_STAMP_KEY: &str = "greatest_pulled_hlc";

/// What applying one pulled page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Records written here: created, changed or deleted as the server has
    /// them — by the patient's other devices or the server, never this
    /// device's own changes coming back (those change nothing here).
    pub records: u64,
    /// Of those, the records that were live here and were deleted
    /// elsewhere.
    pub deleted_elsewhere: Vec<crate::ids::RecordId>,
    /// This device's own changes that came back unchanged (not counted in
    /// `records`).
    pub echoes: u64,
    /// Records left as they are because they still have local changes
    /// waiting to be pushed (the server's version is applied once it has
    /// them, unless it sends a newer one).
    pub held: u64,
    /// Conflict revisions new to this device.
    pub revisions: u64,
    /// Changes that left the outbox because the server already had them.
    pub acknowledged: u64,
    /// Therapists' comments received (new, edited or deleted).
    pub comments: u64,
    /// Of those, new here.
    pub comments_new: u64,
    /// Of those, edited.
    pub comments_edited: u64,
    /// Of those, deleted by the therapist.
    pub comments_deleted: u64,
    /// The records the comments received are about (each once).
    pub commented_records: Vec<crate::ids::RecordId>,
    /// The records the new conflict revisions are about (each once).
    pub conflicted_records: Vec<crate::ids::RecordId>,
    /// Therapists' care plans received (set, changed or withdrawn).
    pub care_plans: u64,
}

/// Applies `page`; the caller wraps it in one transaction and keeps the
/// clock only if that commits.
pub(super) fn apply(
    conn: &mut SqliteConnection,
    clock: &mut Clock,
    page: &PullResponse,
) -> Result<ApplyReport, StoreError> {
    let mut report = ApplyReport::default();
    // Acknowledge first: a record whose changes the server already has is
    // no longer held back by them.
    if let Some(through) = page.last_applied_mutation {
        report.acknowledged = outbox::acknowledge(conn, through)?;
    }
    // While the journal has nothing of its own indexed (the first sync),
    // the search index is built once when the pull has caught up rather
    // than record by record (search::defer_building).
    let indexing = match search::defer_building(conn)? {
        Some(built_through) => {
            search::hold_checkpoints(conn)?;
            Indexing::Later { built_through }
        }
        None => Indexing::Now,
    };
    let ids = record_ids(page);
    let pending = pending_among(conn, &ids)?;
    let mut writes = PageWrites::new(conn, &ids, indexing)?;
    let mut greatest = Hlc::ZERO;
    for change in &page.changes {
        match change {
            PulledChange::Record { version, record } => {
                clock.observe(record.hlc);
                greatest = greatest.max(record.hlc);
                let id = record.id.to_string();
                if pending.contains(&id) {
                    hold(conn, *version, record)?;
                    writes.held_back();
                    report.held += 1;
                } else {
                    let written = writes.write(conn, *version, record, id)?;
                    report.count(record.id, written);
                }
            }
            PulledChange::Revision { version, revision } => {
                // What follows may be about the records written so far.
                writes.flush(conn)?;
                clock.observe(revision.hlc);
                greatest = greatest.max(revision.hlc);
                if keep_revision(conn, *version, revision)? {
                    report.revisions += 1;
                    if !report.conflicted_records.contains(&revision.record_id) {
                        report.conflicted_records.push(revision.record_id);
                    }
                }
            }
            PulledChange::Comment { comment, .. } => {
                writes.flush(conn)?;
                let applied = super::comments::apply(conn, comment)?;
                report.comments += 1;
                // The patient's own replies (from another of their devices)
                // are not news from a therapist.
                if !comment.from_patient {
                    match applied {
                        super::comments::Applied::New => report.comments_new += 1,
                        super::comments::Applied::Edited => report.comments_edited += 1,
                        super::comments::Applied::Deleted => report.comments_deleted += 1,
                        super::comments::Applied::Unchanged => {}
                    }
                    if !report.commented_records.contains(&comment.record_id) {
                        report.commented_records.push(comment.record_id);
                    }
                }
            }
            PulledChange::CarePlan { version, care_plan } => {
                writes.flush(conn)?;
                super::assigned_plans::apply(conn, *version, care_plan)?;
                report.care_plans += 1;
            }
        }
    }
    writes.flush(conn)?;
    if !page.has_more {
        for (id, written) in release_held(conn, indexing)? {
            report.count(id, written);
        }
    }
    set_meta(conn, PULL_CURSOR_KEY, &page.cursor.to_string())?;
    if greatest > greatest_pulled_stamp(conn)? {
        set_meta(conn, PULLED_STAMP_KEY, &greatest.to_i64().to_string())?;
    }
    Ok(report)
}

/// The cursor of the last page applied.
pub(super) fn cursor(conn: &mut SqliteConnection) -> Result<OwnerVersion, StoreError> {
    match meta(conn, PULL_CURSOR_KEY)? {
        None => Ok(OwnerVersion::default()),
        Some(text) => text
            .parse()
            .map(OwnerVersion)
            .map_err(|e| StoreError::Corrupt(format!("bad pull cursor {text:?}: {e}"))),
    }
}

/// The greatest clock stamp any pull brought.
pub(super) fn greatest_pulled_stamp(conn: &mut SqliteConnection) -> Result<Hlc, StoreError> {
    match meta(conn, PULLED_STAMP_KEY)? {
        None => Ok(Hlc::ZERO),
        Some(text) => text
            .parse::<i64>()
            .map_err(|e| e.to_string())
            .and_then(|n| Hlc::from_i64(n).map_err(|e| e.to_string()))
            .map_err(|e| StoreError::Corrupt(format!("bad pulled stamp {text:?}: {e}"))),
    }
}

pub(super) fn meta(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(journal_meta::table
        .find(key)
        .select(journal_meta::value)
        .get_result(conn)
        .optional()?)
}

pub(super) fn set_meta(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> Result<(), StoreError> {
    diesel::replace_into(journal_meta::table)
        .values((journal_meta::key.eq(key), journal_meta::value.eq(value)))
        .execute(conn)?;
    Ok(())
}

/// Whether a written record goes into the search index now, or is left to
/// the build that follows the first sync (the journal is marked for it;
/// the library runs it in the background, and a search finishes it first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Now,
    /// The index is being built and is complete for records up to
    /// `built_through`: those are still indexed as they are written, the
    /// rest are left to the build.
    Later {
        built_through: i64,
    },
}

impl Indexing {
    /// Whether the record numbered `seq` is indexed as it is written.
    fn now_for(self, seq: i64) -> bool {
        match self {
            Indexing::Now => true,
            Indexing::Later { built_through } => seq <= built_through,
        }
    }
}

/// Ids bound per look-up statement: below SQLite's limit of bound values.
const IDS_PER_STATEMENT: usize = 4_000;

/// The ids of the page's records.
fn record_ids(page: &PullResponse) -> Vec<String> {
    page.changes
        .iter()
        .filter_map(|change| match change {
            PulledChange::Record { record, .. } => Some(record.id.to_string()),
            _ => None,
        })
        .collect()
}

/// The page's records that have local changes waiting to be pushed, in one
/// query per chunk of ids (acknowledging came first, and applying the page
/// changes no outbox row).
fn pending_among(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<HashSet<String>, StoreError> {
    let mut pending = HashSet::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let found: Vec<String> = outbox_table::table
            .filter(outbox_table::record_id.eq_any(chunk))
            .select(outbox_table::record_id)
            .distinct()
            .load(conn)?;
        pending.extend(found);
    }
    Ok(pending)
}

/// Makes the local copy of a record what the server holds, keeping the
/// search index in step.
///
/// (Look-ups by a unique key here end without `LIMIT`: SQLite plans a
/// statement with a bound `LIMIT` anew on every call.)
pub(super) fn write_record(
    conn: &mut SqliteConnection,
    version: OwnerVersion,
    state: &RecordState,
) -> Result<(), StoreError> {
    write_record_indexing(conn, version, state, Indexing::Now).map(|_| ())
}

/// What writing a pulled record did here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// This version was here already (this device's own change coming
    /// back, or a page applied twice): nothing was written.
    Unchanged,
    /// New here, or changed.
    Changed,
    /// It was live here and is now deleted.
    Deleted,
}

impl ApplyReport {
    fn count(&mut self, id: crate::ids::RecordId, written: Written) {
        match written {
            Written::Unchanged => self.echoes += 1,
            Written::Changed => self.records += 1,
            Written::Deleted => {
                self.records += 1;
                self.deleted_elsewhere.push(id);
            }
        }
    }
}

fn write_record_indexing(
    conn: &mut SqliteConnection,
    version: OwnerVersion,
    state: &RecordState,
    indexing: Indexing,
) -> Result<Written, StoreError> {
    let id = state.id.to_string();
    let found = stored(conn, &id)?;
    forget_held(conn, &id, version)?;
    write_found(conn, version, state, indexing, found, None)
}

/// What is stored of a record: its row number, stamp, whether it is a
/// tombstone, and its times.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = records)]
struct Stored {
    seq: i64,
    hlc: i64,
    deleted: bool,
    created_at: i64,
    updated_at: i64,
}

/// What is stored of the record `id`, if anything.
fn stored(conn: &mut SqliteConnection, id: &str) -> Result<Option<Stored>, StoreError> {
    Ok(records::table
        .filter(records::id.eq(id))
        .select(Stored::as_select())
        .get_result(conn)
        .optional()?)
}

/// A record new here, waiting to be inserted with the others of its page.
struct Queued<'p> {
    state: &'p RecordState,
    live: Option<Record>,
    json: String,
}

/// The records of one page, written together: what is stored of them is
/// read in one query before any is written, and the records new here
/// (when they are not indexed as they are written) go in by a few
/// statements of many rows rather than one each.
struct PageWrites<'p> {
    indexing: Indexing,
    /// What was stored of the page's records before the page.
    stored: HashMap<String, Stored>,
    /// The records of the page written or queued so far: a second change
    /// to one of them in the same page is looked up again.
    seen: HashSet<String>,
    /// Whether any version was held back (if not, there is none to forget).
    held: bool,
    queued: Vec<Queued<'p>>,
}

/// Rows per insert statement: within SQLite's limit of bound values (ten
/// per row), and few enough statements per page.
const ROWS_PER_INSERT: usize = 250;

impl<'p> PageWrites<'p> {
    fn new(
        conn: &mut SqliteConnection,
        ids: &[String],
        indexing: Indexing,
    ) -> Result<Self, StoreError> {
        let mut stored = HashMap::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let rows: Vec<(String, Stored)> = records::table
                .filter(records::id.eq_any(chunk))
                .select((records::id, Stored::as_select()))
                .load(conn)?;
            stored.extend(rows);
        }
        let held = held_pulls::table
            .select(held_pulls::record_id)
            .first::<String>(conn)
            .optional()?
            .is_some();
        Ok(PageWrites {
            indexing,
            stored,
            seen: HashSet::new(),
            held,
            queued: Vec::new(),
        })
    }

    /// Makes the local copy of `state` (whose id is `id`) what the server
    /// holds, or queues it to be, when it is new here.
    fn write(
        &mut self,
        conn: &mut SqliteConnection,
        version: OwnerVersion,
        state: &'p RecordState,
        id: String,
    ) -> Result<Written, StoreError> {
        let found = if self.seen.insert(id.clone()) {
            self.stored.get(&id).copied()
        } else {
            self.flush(conn)?;
            stored(conn, &id)?
        };
        // While the index is left to the build, a record new here is not
        // indexed as it is written: its row number comes after every row
        // here (rows are never removed from the journal, only made
        // tombstones), so after the part of the index already built.
        let queue = match self.indexing {
            Indexing::Later { .. } => Some(&mut self.queued),
            Indexing::Now => None,
        };
        if self.held {
            forget_held(conn, &id, version)?;
        }
        write_found(conn, version, state, self.indexing, found, queue)
    }

    /// A version was held back in this page.
    fn held_back(&mut self) {
        self.held = true;
    }

    /// Inserts the queued records.
    fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let rows: Vec<RecordValues<'_>> = self
            .queued
            .iter()
            .map(|q| row_of(q.live.as_ref(), q.state, &q.json))
            .collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            diesel::insert_into(records::table)
                .values(chunk)
                .execute(conn)?;
        }
        drop(rows);
        self.queued.clear();
        Ok(())
    }
}

/// Writes a pulled record given what is stored of it (`found`). A record
/// new here goes into `queue` when given (the caller inserts it later, and
/// it is not indexed now); otherwise it is inserted now.
fn write_found<'p>(
    conn: &mut SqliteConnection,
    version: OwnerVersion,
    state: &'p RecordState,
    indexing: Indexing,
    found: Option<Stored>,
    queue: Option<&mut Vec<Queued<'p>>>,
) -> Result<Written, StoreError> {
    let unreadable = |reason: String| StoreError::UnreadableChange { version, reason };
    // The very version held here already — the same stamp, times and
    // content (a merge on the server may keep a device's stamp on content
    // that also holds another device's fields, so the stamp alone does not
    // say it): nothing to write, and nothing to tell the patient. The body
    // is read only when all the rest already agrees.
    if let Some(here) = found
        && here.hlc == state.hlc.to_i64()
        && here.deleted == state.deleted
        && here.created_at == time_to_micros(state.created_at)
        && here.updated_at == time_to_micros(state.updated_at)
        && (state.deleted || same_content(state, &stored_body(conn, here.seq)?))
    {
        return Ok(Written::Unchanged);
    }
    let was_live = found.is_some_and(|here| !here.deleted);
    let live = if state.deleted {
        None
    } else {
        let content = state
            .content()
            .map_err(|e| unreadable(format!("record {}: {e}", state.id)))?
            .ok_or_else(|| unreadable(format!("record {} has no content", state.id)))?;
        Some(Record {
            id: state.id,
            created_at: state.created_at,
            updated_at: state.updated_at,
            hlc: state.hlc,
            body: content,
        })
    };
    let json = match &live {
        Some(record) => super::body_json(&record.body)?,
        None => "{}".to_owned(),
    };
    let written = if state.deleted && was_live {
        Written::Deleted
    } else {
        Written::Changed
    };
    let seq = match (found, queue) {
        (Some(here), _) => {
            diesel::update(records::table.find(here.seq))
                .set(row_of(live.as_ref(), state, &json))
                .execute(conn)?;
            if indexing.now_for(here.seq) {
                search::unindex(conn, here.seq)?;
            }
            here.seq
        }
        (None, Some(queue)) => {
            queue.push(Queued { state, live, json });
            return Ok(written);
        }
        (None, None) => diesel::insert_into(records::table)
            .values(row_of(live.as_ref(), state, &json))
            .returning(records::seq)
            .get_result::<i64>(conn)?,
    };
    if let Some(record) = &live
        && indexing.now_for(seq)
    {
        search::index(conn, seq, &record.body)?;
    }
    Ok(written)
}

/// The row of a pulled record: its content's, or a tombstone's.
fn row_of<'a>(live: Option<&'a Record>, state: &'a RecordState, json: &'a str) -> RecordValues<'a> {
    match live {
        Some(record) => values(record, json),
        // A tombstone keeps no text and links to nothing.
        None => RecordValues {
            id: state.id.to_string(),
            kind: state.kind.as_str(),
            phase: None,
            dosing_session_id: None,
            occurred_at: time_to_micros(state.created_at),
            created_at: time_to_micros(state.created_at),
            updated_at: time_to_micros(state.updated_at),
            hlc: state.hlc.to_i64(),
            deleted: true,
            body: json,
        },
    }
}

/// Whether the pulled content is the content stored here (`body`, as the
/// store writes it); content that cannot be read is not the same.
fn same_content(state: &RecordState, body: &str) -> bool {
    matches!(state.content(), Ok(Some(content))
        if super::body_json(&content).is_ok_and(|json| json == body))
}

/// The stored body of the row `seq`.
fn stored_body(conn: &mut SqliteConnection, seq: i64) -> Result<String, StoreError> {
    Ok(records::table
        .find(seq)
        .select(records::body)
        .get_result(conn)?)
}

/// A version held back earlier is superseded by this one.
fn forget_held(
    conn: &mut SqliteConnection,
    id: &str,
    version: OwnerVersion,
) -> Result<(), StoreError> {
    diesel::delete(
        held_pulls::table
            .filter(held_pulls::record_id.eq(id))
            .filter(held_pulls::version.le(version_i64(version))),
    )
    .execute(conn)?;
    Ok(())
}

/// Remembers the server's version of a record that has local changes
/// waiting (the newest one, if several arrive).
fn hold(
    conn: &mut SqliteConnection,
    version: OwnerVersion,
    state: &RecordState,
) -> Result<(), StoreError> {
    // Checked now, so a page that cannot be applied fails now rather than
    // when the held version is released.
    if !state.deleted {
        state
            .content()
            .map_err(|e| StoreError::UnreadableChange {
                version,
                reason: format!("record {}: {e}", state.id),
            })?
            .ok_or_else(|| StoreError::UnreadableChange {
                version,
                reason: format!("record {} has no content", state.id),
            })?;
    }
    let id = state.id.to_string();
    let held: Option<i64> = held_pulls::table
        .find(&id)
        .select(held_pulls::version)
        .get_result(conn)
        .optional()?;
    if held.is_some_and(|v| v >= version_i64(version)) {
        return Ok(());
    }
    let json = serde_json::to_string(state)
        .map_err(|e| StoreError::Corrupt(format!("a pulled record cannot be kept: {e}")))?;
    diesel::replace_into(held_pulls::table)
        .values((
            held_pulls::record_id.eq(&id),
            held_pulls::version.eq(version_i64(version)),
            held_pulls::state.eq(json),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies the held versions of records that no longer have local changes
/// waiting. Called when a pull has caught up, so nothing newer is coming.
fn release_held(
    conn: &mut SqliteConnection,
    indexing: Indexing,
) -> Result<Vec<(crate::ids::RecordId, Written)>, StoreError> {
    let held: Vec<(String, i64, String)> = held_pulls::table
        .select((
            held_pulls::record_id,
            held_pulls::version,
            held_pulls::state,
        ))
        .order(held_pulls::version.asc())
        .load(conn)?;
    let mut released = Vec::new();
    for (id, version, json) in held {
        let state: RecordState = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("held record {id}: {e}")))?;
        if outbox::has_pending(conn, state.id)? {
            continue;
        }
        let written =
            write_record_indexing(conn, OwnerVersion(version.unsigned_abs()), &state, indexing)?;
        released.push((state.id, written));
    }
    Ok(released)
}

/// Keeps a revision unless it is already here. Whether it was new.
pub(super) fn keep_revision(
    conn: &mut SqliteConnection,
    version: OwnerVersion,
    revision: &Revision,
) -> Result<bool, StoreError> {
    // The patient may restore it later: it must be content of its kind.
    let content = RecordBody::from_value_ref(revision.kind, &revision.body).map_err(|e| {
        StoreError::UnreadableChange {
            version,
            reason: format!("revision {}: {e}", revision.id),
        }
    })?;
    let json = super::body_json(&content)?;
    let inserted = diesel::insert_or_ignore_into(revisions::table)
        .values((
            revisions::id.eq(revision.id.hyphenated().to_string()),
            revisions::record_id.eq(revision.record_id.to_string()),
            revisions::kind.eq(revision.kind.as_str()),
            revisions::hlc.eq(revision.hlc.to_i64()),
            revisions::reason.eq(revision.reason.as_str()),
            revisions::body.eq(json),
            revisions::created_at.eq(time_to_micros(revision.created_at)),
        ))
        .execute(conn)?;
    Ok(inserted > 0)
}

fn version_i64(version: OwnerVersion) -> i64 {
    i64::try_from(version.0).unwrap_or(i64::MAX)
}
