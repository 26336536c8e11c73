//! The phone's local journal: a SQLite database (through diesel) holding the
//! patient's records, an outbox of changes waiting to be pushed, and a
//! full-text index over what they wrote.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`JournalStore`]: open, create, read, update, delete |
//! | `open.rs` | telling a journal from other files, connection setup, migrations |
//! | `list.rs` | running a [`ListQuery`] (see [`crate::query`]) with keyset pagination |
//! | `search.rs` | full-text search (FTS5) |
//! | `outbox.rs` | the queue of local changes for sync, and its rows as the wire's mutations |
//! | `pull.rs` | applying a pulled page: records, tombstones, revisions, the cursor, the clock |
//! | `revisions.rs` | conflict revisions: listing and restoring them |
//! | `care.rs` | the agenda, the next reminder and insights over this journal; reminder settings |
//! | `schema.rs` | diesel's view of the tables |
//! | `error.rs` | [`StoreError`] |
//!
//! Every write happens in one transaction with its search-index update and
//! its outbox row, so a crash can never leave a change that sync does not
//! know about. Deletes leave a tombstone that keeps no text.
//!
//! Sync itself (talking to the server) is [`crate::sync::SyncClient`]'s; the
//! store hands out its outbox as [`Mutation`]s and applies what a pull
//! brought ([`JournalStore::apply_pull`]), each in one transaction.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

mod assigned_plans;
mod care;
mod clock;
pub(crate) mod comments;
mod encrypt;
#[cfg(test)]
mod encryption_tests;
mod error;
mod import;
#[cfg(test)]
mod import_tests;
mod keys;
mod list;
mod open;
mod outbox;
mod pull;
mod revisions;
mod schema;
mod search;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;

pub use crate::query::{ListCursor, ListQuery, RecordPage};
pub use error::StoreError;
pub use import::ImportReport;
pub use outbox::{ChangeOp, OutboxChange};
pub use pull::ApplyReport;
pub use search::{SearchHit, SearchQuery};

use crate::encryption::DatabaseKey;
use crate::hlc::{Hlc, HlcClock, SystemClock, WallClock};
use crate::ids::{DeviceId, RecordId};
use crate::records::{
    Record, RecordBody, RecordKind, SessionInUse, check_deletable, check_dosing_session_link,
    check_share_edit,
};
use crate::sync::{
    MAX_PUSH_MUTATIONS, Mutation, OwnerVersion, PullResponse, Revision, RevisionReason,
};
use crate::validation::InvalidInput;
use schema::{journal_meta, records};

/// The patient's journal on this device.
///
/// Safe to share between threads: calls are serialized on one connection.
/// Every call blocks until SQLite is done; apps call it off the UI thread.
pub struct JournalStore {
    path: PathBuf,
    device_id: Mutex<DeviceId>,
    inner: Mutex<Inner>,
    /// Set while a background thread builds the search index.
    indexing: AtomicBool,
}

type Clock = HlcClock<clock::Corrected>;

struct Inner {
    conn: SqliteConnection,
    clock: Clock,
}

impl std::fmt::Debug for JournalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalStore")
            .field("path", &self.path)
            .field("device_id", &self.device_id())
            .finish_non_exhaustive()
    }
}

/// The columns of `records` a [`Record`] is read from. (The others exist
/// for filtering and ordering and are derived from these.)
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = records, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct RecordRow {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) hlc: i64,
    pub(crate) body: String,
}

/// A record's row as written. Every column is always written: a link or
/// phase that is gone is written as NULL (an update does not keep the old
/// one), and an insert's SQL is the same for every row, so it is prepared
/// once and a page of rows goes in as one statement.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = records, treat_none_as_null = true, treat_none_as_default_value = false)]
struct RecordValues<'a> {
    id: String,
    kind: &'a str,
    phase: Option<&'a str>,
    dosing_session_id: Option<String>,
    occurred_at: i64,
    created_at: i64,
    updated_at: i64,
    hlc: i64,
    deleted: bool,
    body: &'a str,
}

const DEVICE_ID_KEY: &str = "device_id";
const CRISIS_RESOURCES_KEY: &str = "crisis_resources";
const MONITORING_KEY: &str = "monitoring_statement";

/// A record just saved, with the safety notice it calls for.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The record as stored.
    pub record: Record,
    /// Crisis resources to show at once, when the record signals risk.
    pub safety_notice: Option<crate::safety::SafetyNotice>,
}

impl JournalStore {
    /// Opens the journal at `path`, creating it if the file does not exist,
    /// and upgrades its schema.
    ///
    /// Fails with [`StoreError::NotAJournal`] for a file that is something
    /// else (which is left untouched), and [`StoreError::NewerSchema`] for a
    /// journal written by a newer version of the app.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Like [`JournalStore::open`], reading wall-clock time from `clock`
    /// (tests use it to play devices whose clocks disagree).
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn WallClock>,
    ) -> Result<Self, StoreError> {
        Self::open_keyed(path.as_ref(), None, clock)
    }

    /// Opens the journal at `path` encrypted with `key` (SQLCipher),
    /// creating it if the file does not exist. A plaintext journal there is
    /// encrypted first: an encrypted copy is written beside it, checked and
    /// swapped in with one rename, so a kill at any moment leaves the old
    /// journal or the new one, whole. Keep `key` before calling this (see
    /// [`JournalStore::open_with_secrets`], which does).
    ///
    /// Fails with [`StoreError::WrongKey`] when the key does not open the
    /// file (or it is not a journal), which is left untouched.
    pub fn open_encrypted(path: impl AsRef<Path>, key: &DatabaseKey) -> Result<Self, StoreError> {
        Self::open_keyed(path.as_ref(), Some(key), Arc::new(SystemClock))
    }

    /// Opens the journal at `path`, encrypted with the key kept for it in
    /// `secrets` (the platform's Keychain or Keystore), as apps do:
    ///
    /// - no journal yet, or a plaintext one (from before encryption): a
    ///   random 256-bit key is made, kept in `secrets` and read back, then
    ///   the journal is made or encrypted with it;
    /// - an encrypted journal: opened with its kept key. No key kept is
    ///   [`StoreError::KeyMissing`], a key that does not open it
    ///   [`StoreError::WrongKey`]; either way the file is not changed.
    /// - a key change cut off part way ([`JournalStore::rekey`]) is
    ///   finished.
    pub fn open_with_secrets(
        path: impl AsRef<Path>,
        secrets: &dyn crate::sync::SecretStore,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let names = keys::names(path);
        let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        if !exists || open::is_plaintext(path)? {
            let (key, made) = match keys::read(secrets, &names.current) {
                Some(key) => (key, false),
                None => {
                    let key = keys::generate()?;
                    keys::keep(secrets, &names.current, &key)?;
                    (key, true)
                }
            };
            secrets.remove(&names.next);
            return match Self::open_encrypted(path, &key) {
                // Another application's database, left as it was: so is
                // the secret store.
                Err(refused @ StoreError::NotAJournal { .. }) if made => {
                    secrets.remove(&names.current);
                    Err(refused)
                }
                other => other,
            };
        }
        // An encrypted database is whole pages (of 512 bytes at least);
        // anything else is no journal, key or not.
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        if size < 512 || size % 512 != 0 {
            return Err(StoreError::NotAJournal {
                path: path.to_owned(),
                reason: "it is not a SQLite database".to_owned(),
            });
        }
        let current = keys::read(secrets, &names.current);
        let next = keys::read(secrets, &names.next);
        if current.is_none() && next.is_none() {
            return Err(StoreError::KeyMissing {
                path: path.to_owned(),
            });
        }
        if let Some(key) = &current {
            match Self::open_encrypted(path, key) {
                Ok(store) => {
                    // A key change that never reached its swap.
                    secrets.remove(&names.next);
                    return Ok(store);
                }
                Err(StoreError::WrongKey { .. }) if next.is_some() => {}
                Err(other) => return Err(other),
            }
        }
        // A key change cut off after its swap: the new key opens it, and
        // becomes the journal's.
        let Some(key) = next else {
            return Err(StoreError::WrongKey {
                path: path.to_owned(),
            });
        };
        let store = Self::open_encrypted(path, &key)?;
        keys::keep(secrets, &names.current, &key)?;
        secrets.remove(&names.next);
        Ok(store)
    }

    /// Gives the journal a new random key, kept in `secrets`: the journal
    /// is copied encrypted with the new key, checked and swapped in, then
    /// the new key replaces the old in `secrets`. Cut off anywhere, the
    /// next [`JournalStore::open_with_secrets`] opens the journal with
    /// whichever key it has and finishes the change. Only for a journal
    /// opened encrypted.
    pub fn rekey(&self, secrets: &dyn crate::sync::SecretStore) -> Result<(), StoreError> {
        let names = keys::names(&self.path);
        let new = keys::generate()?;
        keys::keep(secrets, &names.next, &new)?;
        let mut guard = self.lock();
        let copy = encrypt::prepare_rekey(&mut guard.conn, &self.path, &new)?;
        // Close the journal (its log is checkpointed and removed), swap.
        let closed = std::mem::replace(
            &mut guard.conn,
            SqliteConnection::establish(":memory:").map_err(|e| StoreError::Open {
                path: self.path.clone(),
                reason: e.to_string(),
            })?,
        );
        drop(closed);
        let swapped = encrypt::finish_rekey(&copy, &self.path);
        let key = if swapped.is_ok() {
            &new
        } else {
            // Not swapped: the journal keeps its key; reopen it with that.
            secrets.remove(&names.next);
            &keys::read(secrets, &names.current).ok_or_else(|| StoreError::KeyMissing {
                path: self.path.clone(),
            })?
        };
        guard.conn = open::open_database(&self.path, Some(key))?;
        swapped?;
        keys::keep(secrets, &names.current, &new)?;
        secrets.remove(&names.next);
        Ok(())
    }

    /// Moves an encrypted journal that cannot be opened (its key is lost,
    /// [`StoreError::KeyMissing`], or does not open it) out of the way, to
    /// `<file>.unreadable-<seconds since 1970>` with its side files, and
    /// forgets its key names: the next [`JournalStore::open_with_secrets`]
    /// makes a new journal there, and signing in and syncing brings back
    /// everything that was synced. Nothing is deleted: should the key turn
    /// up, the old file can still be opened. Returns where it went.
    pub fn set_aside_unreadable(
        path: impl AsRef<Path>,
        secrets: &dyn crate::sync::SecretStore,
    ) -> Result<PathBuf, StoreError> {
        let path = path.as_ref();
        let aside = encrypt::with_suffix(path, &format!(".unreadable-{}", Utc::now().timestamp()));
        let moved = |from: &Path, to: &Path| match std::fs::rename(from, to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Open {
                path: from.to_owned(),
                reason: e.to_string(),
            }),
        };
        for suffix in ["-wal", "-shm"] {
            moved(
                &encrypt::with_suffix(path, suffix),
                &encrypt::with_suffix(&aside, suffix),
            )?;
        }
        moved(path, &aside)?;
        encrypt::remove_stale_copy(path)?;
        let names = keys::names(path);
        secrets.remove(&names.current);
        secrets.remove(&names.next);
        Ok(aside)
    }

    fn open_keyed(
        path: &Path,
        key: Option<&DatabaseKey>,
        clock: Arc<dyn WallClock>,
    ) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let mut conn = open::open_database(&path, key)?;
        let device_id = conn.immediate_transaction(device_id)?;
        let last = last_stamp(&mut conn)?;
        let ahead = clock::stored_ahead(&mut conn)?;
        Ok(Self {
            path,
            device_id: Mutex::new(device_id),
            indexing: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                conn,
                clock: HlcClock::resume(last, clock::Corrected::new(clock, ahead)),
            }),
        })
    }

    /// The file the journal lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This installation's id, made when the journal was created.
    pub fn device_id(&self) -> DeviceId {
        *self.device_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives this installation a new device id and returns it.
    ///
    /// For a journal restored from a backup: its change numbers went back
    /// while its device id stayed, so the server would take new changes for
    /// replays of old ones. Under a new id every change still in the outbox
    /// counts as new. The sync client does this when the server answers
    /// `device-rewound`; apps need not call it themselves.
    pub fn renew_device_id(&self) -> Result<DeviceId, StoreError> {
        let id = DeviceId::new();
        let mut guard = self.lock();
        diesel::update(journal_meta::table.find(DEVICE_ID_KEY))
            .set(journal_meta::value.eq(id.to_string()))
            .execute(&mut guard.conn)?;
        *self.device_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
        Ok(id)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-done write: the
        // transaction rolled back when it unwound. The connection is fine.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Saves a new record and queues it for sync. Returns it with its id and
    /// timestamps.
    pub fn create(&self, body: RecordBody) -> Result<Record, StoreError> {
        self.create_many(vec![body])?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a created record went missing".to_owned()))
    }

    /// Saves several new records in one transaction: all of them, or (if any
    /// is invalid) none. Much faster than one [`JournalStore::create`] each
    /// when importing.
    pub fn create_many(&self, bodies: Vec<RecordBody>) -> Result<Vec<Record>, StoreError> {
        for (index, body) in bodies.iter().enumerate() {
            body.validate()
                .map_err(|e| at_index(e, index, bodies.len()))?;
        }
        let batch_len = bodies.len();
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        conn.immediate_transaction(|conn| {
            let mut created = Vec::with_capacity(batch_len);
            let today = millis_to_time(clock.wall().now_millis());
            for (index, body) in bodies.into_iter().enumerate() {
                body.check_plausible(today)
                    .map_err(|e| at_index(e, index, batch_len))?;
                check_links(conn, &body, &created).map_err(|e| at_index(e, index, batch_len))?;
                let hlc = clock.tick();
                let now = millis_to_time(clock.wall().now_millis());
                let record = Record::new(body, hlc, now);
                let json = body_json(&record.body)?;
                let seq = diesel::insert_into(records::table)
                    .values(values(&record, &json))
                    .returning(records::seq)
                    .get_result::<i64>(conn)?;
                search::index(conn, seq, &record.body)?;
                outbox::queue_upsert(conn, &record, &json, None, None)?;
                created.push(record);
            }
            Ok(created)
        })
    }

    /// Reads one live record.
    pub fn get(&self, id: RecordId) -> Result<Record, StoreError> {
        let mut guard = self.lock();
        let row = live_row(&mut guard.conn, id)?.ok_or(StoreError::NotFound { id })?;
        row.into_record()
    }

    /// Replaces the content of a record and queues the change for sync. The
    /// kind cannot change. Saving the same content again changes nothing.
    ///
    /// The change remembers the version it was made on and the top-level
    /// fields it set, so the server can merge it with a concurrent edit
    /// from another device.
    pub fn update(&self, id: RecordId, body: RecordBody) -> Result<Record, StoreError> {
        body.validate()?;
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        conn.immediate_transaction(|conn| {
            let row = live_row(conn, id)?.ok_or(StoreError::NotFound { id })?;
            replace_content(conn, clock, row, body)
        })
    }

    /// Deletes a record: it disappears from every list and search, its text
    /// is erased from this device, and the deletion is queued for sync.
    ///
    /// A dosing session that intentions or entries still link to is not
    /// deleted ([`StoreError::SessionInUse`]).
    pub fn delete(&self, id: RecordId) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        conn.immediate_transaction(|conn| {
            let row = live_row(conn, id)?.ok_or(StoreError::NotFound { id })?;
            let kind = parse_kind(&row.kind)?;
            let in_use = check_deletable(kind, || -> Result<u64, StoreError> {
                let linked: i64 = records::table
                    .filter(records::dosing_session_id.eq(id.to_string()))
                    .filter(records::id.ne(id.to_string()))
                    .filter(records::deleted.eq(false))
                    .count()
                    .get_result(conn)?;
                Ok(linked.unsigned_abs())
            })?;
            if let Err(SessionInUse { linked }) = in_use {
                return Err(StoreError::SessionInUse { id, linked });
            }
            let base = Hlc::from_i64(row.hlc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let hlc = clock.tick();
            let now = time_to_micros(millis_to_time(clock.wall().now_millis()));
            diesel::update(records::table.find(row.seq))
                .set((
                    records::deleted.eq(true),
                    records::body.eq("{}"),
                    records::phase.eq(None::<String>),
                    records::dosing_session_id.eq(None::<String>),
                    records::hlc.eq(hlc.to_i64()),
                    records::updated_at.eq(now),
                ))
                .execute(conn)?;
            search::unindex(conn, row.seq)?;
            outbox::queue_delete(conn, id, kind, hlc, base, now)?;
            Ok(())
        })?;
        forget_deleted(conn);
        Ok(())
    }

    /// One page of live records, newest first. See [`ListQuery`].
    pub fn list(&self, query: &ListQuery) -> Result<RecordPage, StoreError> {
        query.validate()?;
        let mut guard = self.lock();
        list::run(&mut guard.conn, query)
    }

    /// Full-text search over entry titles and bodies and over intentions and
    /// their reflections, best match first. See [`SearchQuery`].
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        query.validate()?;
        let mut guard = self.lock();
        search::run(&mut guard.conn, query)
    }

    /// Whether the search index is still being built: after a first sync
    /// the journal is readable at once, and its search index is built right
    /// after, off the sync's path ([`JournalStore::build_search_index_in_background`]).
    /// A search meanwhile is still complete: it finishes the build first.
    pub fn search_index_pending(&self) -> Result<bool, StoreError> {
        search::is_stale(&mut self.lock().conn)
    }

    /// Builds what is left of the search index now, a thousand records per
    /// transaction (so the patient's saves and lists wait tens of
    /// milliseconds at most), and returns when it is complete. A build cut
    /// off (the app closed, the phone died) resumes where it stopped.
    pub fn build_search_index(&self) -> Result<(), StoreError> {
        // The first sync held the log's copies into the database back;
        // they are made now, off its path.
        search::resume_checkpoints(&mut self.lock().conn)?;
        loop {
            let done = self.lock().conn.immediate_transaction(search::build_step)?;
            if done {
                return Ok(());
            }
        }
    }

    /// Starts [`JournalStore::build_search_index`] on a thread of its own
    /// if the index is being built and no thread is at it already; returns
    /// whether it started one. The sync client calls it after each sync,
    /// and apps' libraries when a journal is opened, so a build cut off is
    /// taken up again by itself. An error leaves the rest of the build to
    /// the next search or start.
    pub fn build_search_index_in_background(self: &Arc<Self>) -> bool {
        if !self.search_index_pending().unwrap_or(false)
            || self.indexing.swap(true, Ordering::AcqRel)
        {
            return false;
        }
        let store = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("journal-search-index".to_owned())
            .spawn(move || {
                let _ = store.build_search_index();
                store.indexing.store(false, Ordering::Release);
            });
        if started.is_err() {
            self.indexing.store(false, Ordering::Release);
        }
        started.is_ok()
    }

    /// The oldest changes not yet acknowledged by the server, at most
    /// `limit` (1–1,000), in the order they were made.
    pub fn pending_changes(&self, limit: u32) -> Result<Vec<OutboxChange>, StoreError> {
        if !(1..=outbox::MAX_BATCH).contains(&limit) {
            return Err(InvalidInput::single(
                "limit",
                "range",
                format!("must be between 1 and {}", outbox::MAX_BATCH),
            )
            .into());
        }
        let mut guard = self.lock();
        outbox::pending(&mut guard.conn, limit)
    }

    /// How many changes wait to be pushed.
    pub fn pending_change_count(&self) -> Result<u64, StoreError> {
        let mut guard = self.lock();
        outbox::count(&mut guard.conn)
    }

    /// Forgets the changes up to and including `through`, which the server
    /// has acknowledged. Returns how many were removed.
    ///
    /// The removal is not flushed to disk on its own (it is by the next
    /// durable write): if the device loses power first, the changes are
    /// simply pushed again, and the server answers them as replays.
    pub fn acknowledge_changes(&self, through: crate::ids::MutationId) -> Result<u64, StoreError> {
        let mut guard = self.lock();
        outbox::acknowledge_lazily(&mut guard.conn, through)
    }

    /// The oldest changes not yet acknowledged by the server, at most
    /// `limit` (1–500, what one push may carry), as the mutations of a
    /// [`crate::sync::PushRequest`]: the mutation id is the outbox row's
    /// number, `created_at` is when the record was first written and
    /// `updated_at` when the change was made.
    ///
    /// Nothing is removed: a change stays until the server acknowledges it
    /// ([`JournalStore::acknowledge_changes`], or a pull's
    /// `last_applied_mutation`), so a push whose answer is lost is simply
    /// sent again.
    pub fn pending_mutations(&self, limit: u32) -> Result<Vec<Mutation>, StoreError> {
        let max = u32::try_from(MAX_PUSH_MUTATIONS).unwrap_or(u32::MAX);
        if !(1..=max).contains(&limit) {
            return Err(InvalidInput::single(
                "limit",
                "range",
                format!("must be between 1 and {max}"),
            )
            .into());
        }
        let mut guard = self.lock();
        outbox::pending_mutations(&mut guard.conn, limit)
    }

    /// Applies one page of a pull, all of it or (on any error) none of it:
    ///
    /// - first, the changes up to `last_applied_mutation` leave the outbox
    ///   (the server has them, even if their push answer was lost);
    /// - each record replaces the local copy (content, stamp, timestamps,
    ///   tombstone; the search index follows; a tombstone keeps no text),
    ///   unless the record still has changes waiting to be pushed: those
    ///   win locally until the server has them and sends back its decision
    ///   (the pulled version is held, and applied once those changes are
    ///   acknowledged and a pull has caught up without anything newer —
    ///   which is how an edit that lost on the server gives way);
    /// - each conflict revision is kept, once;
    /// - the clock observes every stamp, so edits made here afterwards order
    ///   after everything pulled, even across restarts;
    /// - the pull cursor ([`JournalStore::pull_cursor`]) moves to `cursor`.
    ///
    /// Applying the same page twice changes nothing. A change that cannot
    /// be read fails the page with [`StoreError::UnreadableChange`].
    pub fn apply_pull(&self, page: &PullResponse) -> Result<ApplyReport, StoreError> {
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        // The clock observes on a copy, kept only if the page commits.
        let mut observed = clock.clone();
        let report = conn.immediate_transaction(|conn| {
            let report = pull::apply(conn, &mut observed, page)?;
            if let Some(server_time) = page.server_time {
                clock::learn(conn, &observed, server_time)?;
            }
            Ok::<_, StoreError>(report)
        })?;
        *clock = observed;
        Ok(report)
    }

    /// How far this device's wall clock was found to run ahead of the
    /// server's at the last pull, in milliseconds (0 when it does not, or
    /// by less than a minute). Stamps, `createdAt`/`updatedAt` and the
    /// checks of when things happened read the wall clock that much
    /// earlier; an app may tell the patient their clock is wrong.
    pub fn clock_ahead_millis(&self) -> u64 {
        self.lock().clock.wall().ahead()
    }

    /// Stamps again the waiting changes stamped later than the server
    /// allows, after a push was refused with [`crate::sync::client::CLOCK_AHEAD`]
    /// (see `clock.rs`). Returns how many were stamped again.
    pub(crate) fn restamp_ahead(&self) -> Result<u64, StoreError> {
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        let now = millis_to_time(clock.wall().now_millis());
        let limit = crate::plausible::latest_stamp(now);
        let mut restamped = clock.clone();
        let count =
            conn.immediate_transaction(|conn| clock::restamp(conn, &mut restamped, limit))?;
        *clock = restamped;
        Ok(count)
    }

    /// Brings an export document (everything a patient wrote, as the server
    /// exports it) into this journal, which must hold no records yet
    /// ([`StoreError::NotEmpty`] otherwise). Records, revisions and comments
    /// are stored exactly as a pull would store them, in one transaction.
    ///
    /// With `queue_for_sync`, every record is also queued to be pushed —
    /// for moving a journal to a new account or server. Without it, nothing
    /// is queued (the records are already on the server they came from).
    pub fn import(
        &self,
        document: &crate::export::ExportDocument,
        queue_for_sync: bool,
    ) -> Result<ImportReport, StoreError> {
        document.check()?;
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        let mut observed = clock.clone();
        let report = conn.immediate_transaction(|conn| {
            import::run(conn, &mut observed, document, queue_for_sync)
        })?;
        *clock = observed;
        Ok(report)
    }

    /// The crisis resources shown with a risk answer: the deployment's own
    /// (see [`JournalStore::set_crisis_resources`]) or the default.
    pub fn crisis_resources(&self) -> Result<crate::safety::CrisisResources, StoreError> {
        let mut guard = self.lock();
        let stored: Option<String> = journal_meta::table
            .find(CRISIS_RESOURCES_KEY)
            .select(journal_meta::value)
            .first(&mut guard.conn)
            .optional()?;
        match stored {
            None => Ok(crate::safety::CrisisResources::default()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("stored crisis resources: {e}"))),
        }
    }

    /// Keeps this deployment's crisis resources (from the server's
    /// `/api/v1/policy`) on the device, so they show offline too.
    pub fn set_crisis_resources(
        &self,
        resources: &crate::safety::CrisisResources,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(resources)
            .map_err(|e| StoreError::Corrupt(format!("crisis resources: {e}")))?;
        let mut guard = self.lock();
        diesel::replace_into(journal_meta::table)
            .values((
                journal_meta::key.eq(CRISIS_RESOURCES_KEY),
                journal_meta::value.eq(json),
            ))
            .execute(&mut guard.conn)?;
        Ok(())
    }

    /// Keeps the clinic's policy on the device: its crisis resources become
    /// the ones a risk answer shows (see [`JournalStore::crisis_resources`]),
    /// also offline.
    pub fn set_policy(&self, policy: &crate::sync::Policy) -> Result<(), StoreError> {
        self.set_crisis_resources(&policy.crisis_resources)?;
        let mut guard = self.lock();
        diesel::replace_into(journal_meta::table)
            .values((
                journal_meta::key.eq(MONITORING_KEY),
                journal_meta::value.eq(&policy.monitoring_statement),
            ))
            .execute(&mut guard.conn)?;
        Ok(())
    }

    /// The clinic's policy as last fetched, if it ever was.
    pub fn policy(&self) -> Result<Option<crate::sync::Policy>, StoreError> {
        let statement: Option<String> = {
            let mut guard = self.lock();
            journal_meta::table
                .find(MONITORING_KEY)
                .select(journal_meta::value)
                .first(&mut guard.conn)
                .optional()?
        };
        match statement {
            None => Ok(None),
            Some(monitoring_statement) => Ok(Some(crate::sync::Policy {
                monitoring_statement,
                crisis_resources: self.crisis_resources()?,
            })),
        }
    }

    /// Empties the journal — every record, revision, comment, plan, queued
    /// change and setting — in one transaction, as after the account was
    /// erased; the file stays, ready for a new sign-in, under a new device
    /// id. Deleted text is overwritten (`secure_delete`).
    pub fn wipe(&self) -> Result<(), StoreError> {
        let id = DeviceId::new();
        let mut guard = self.lock();
        guard.conn.immediate_transaction(|conn| {
            diesel::sql_query("DELETE FROM search_index").execute(conn)?;
            diesel::delete(schema::records::table).execute(conn)?;
            diesel::delete(schema::outbox::table).execute(conn)?;
            diesel::delete(schema::revisions::table).execute(conn)?;
            diesel::delete(schema::held_pulls::table).execute(conn)?;
            diesel::delete(schema::assigned_plans::table).execute(conn)?;
            diesel::delete(schema::comments::table).execute(conn)?;
            diesel::delete(journal_meta::table).execute(conn)?;
            diesel::insert_into(journal_meta::table)
                .values((
                    journal_meta::key.eq(DEVICE_ID_KEY),
                    journal_meta::value.eq(id.to_string()),
                ))
                .execute(conn)?;
            Ok::<_, StoreError>(())
        })?;
        *self.device_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
        Ok(())
    }

    /// Saves a new record like [`JournalStore::create`], and says at once
    /// whether it calls for a safety notice: a PHQ-9 with a risk answer on
    /// item 9 returns crisis resources to show before anything else,
    /// online or offline.
    pub fn save_new(&self, body: RecordBody) -> Result<Saved, StoreError> {
        let record = self.create(body)?;
        self.saved(record)
    }

    /// Saves an edit like [`JournalStore::update`], with the safety notice
    /// the new content calls for.
    pub fn save_edit(&self, id: RecordId, body: RecordBody) -> Result<Saved, StoreError> {
        let record = self.update(id, body)?;
        self.saved(record)
    }

    fn saved(&self, record: Record) -> Result<Saved, StoreError> {
        let safety_notice = crate::safety::safety_notice(&record.body, &self.crisis_resources()?);
        Ok(Saved {
            record,
            safety_notice,
        })
    }

    /// Where the next pull starts: the cursor of the last page applied
    /// (zero before the first pull).
    pub fn pull_cursor(&self) -> Result<OwnerVersion, StoreError> {
        let mut guard = self.lock();
        pull::cursor(&mut guard.conn)
    }

    /// The conflict revisions kept for a record (text that lost to another
    /// device's edit or to a delete), newest first. Deleted records keep
    /// theirs, so a lost text can be brought back.
    pub fn revisions(&self, record_id: RecordId) -> Result<Vec<Revision>, StoreError> {
        let mut guard = self.lock();
        revisions::of_record(&mut guard.conn, record_id)
    }

    /// Makes a revision's content the record's current content again, as an
    /// ordinary edit queued for sync; a deleted record is brought back with
    /// the same id. Returns the record as it now is.
    ///
    /// Fails with [`StoreError::RevisionNotFound`] for an unknown id, and
    /// like [`JournalStore::update`] when the content no longer passes the
    /// rules (for example its dosing session was deleted).
    pub fn restore_revision(&self, revision_id: uuid::Uuid) -> Result<Record, StoreError> {
        let mut guard = self.lock();
        let Inner { conn, clock } = &mut *guard;
        conn.immediate_transaction(|conn| {
            let record = revisions::restore(conn, clock, revision_id)?;
            revisions::resolve(conn, revision_id, time_to_micros(record.updated_at))?;
            Ok(record)
        })
    }

    /// The conflicts the patient has not dealt with, newest first: each
    /// text that lost to another device's edit, with the record as it now
    /// is (`None` when it has since been deleted). Restoring the revision
    /// ([`JournalStore::restore_revision`]) or keeping the current text
    /// ([`JournalStore::dismiss_revision`]) deals with it.
    pub fn conflicts(&self) -> Result<Vec<(Revision, Option<Record>)>, StoreError> {
        let lost = {
            let mut guard = self.lock();
            revisions::unresolved(&mut guard.conn, RevisionReason::Conflict)?
        };
        lost.into_iter()
            .map(|revision| {
                let current = match self.get(revision.record_id) {
                    Ok(record) => Some(record),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(other) => return Err(other),
                };
                Ok((revision, current))
            })
            .collect()
    }

    /// What was deleted while it was being edited and can still be brought
    /// back, newest first: the text kept when a delete (on this device or
    /// another) won over an edit, for records that are deleted now.
    /// [`JournalStore::restore_revision`] brings one back;
    /// [`JournalStore::dismiss_revision`] lets it go.
    pub fn recently_deleted(&self) -> Result<Vec<Revision>, StoreError> {
        let kept = {
            let mut guard = self.lock();
            revisions::unresolved(&mut guard.conn, RevisionReason::Deleted)?
        };
        let mut gone = Vec::new();
        for revision in kept {
            match self.get(revision.record_id) {
                Err(StoreError::NotFound { .. }) => gone.push(revision),
                Ok(_) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(gone)
    }

    /// Marks a kept revision dealt with, leaving the record as it is: it no
    /// longer shows among [`JournalStore::conflicts`] or
    /// [`JournalStore::recently_deleted`] (it stays listed with its record,
    /// and can still be restored). `RevisionNotFound` for an unknown id.
    pub fn dismiss_revision(&self, revision_id: uuid::Uuid) -> Result<(), StoreError> {
        let mut guard = self.lock();
        revisions::resolve(&mut guard.conn, revision_id, Utc::now().timestamp_micros())
    }

    /// The comments on one of the patient's records, oldest first: the
    /// therapists' comments as the last sync delivered them, and the
    /// patient's replies (each with its [`Delivery`](crate::comments::Delivery)).
    pub fn comments(
        &self,
        record_id: RecordId,
    ) -> Result<Vec<crate::comments::Comment>, StoreError> {
        let mut guard = self.lock();
        comments::of_record(&mut guard.conn, record_id)
    }

    /// Replies to a therapist's comment: the reply is kept here at once
    /// (listed by [`JournalStore::comments`] as `Pending`) and the next
    /// sync sends it to the therapist. The text follows the comments' rule
    /// (1–2,000 characters, not blank): `Invalid` otherwise.
    /// `CommentNotFound` when no therapist's comment has this id here.
    pub fn reply_to_comment(
        &self,
        comment_id: uuid::Uuid,
        text: &str,
    ) -> Result<crate::comments::Comment, StoreError> {
        let mut guard = self.lock();
        guard
            .conn
            .immediate_transaction(|conn| comments::reply(conn, comment_id, text))
    }

    /// Gives one of the patient's replies new text, sent by the next sync
    /// (a refused reply is sent again). The same text changes nothing.
    /// `CommentNotFound` when no reply of the patient's has this id here.
    pub fn edit_reply(
        &self,
        reply_id: uuid::Uuid,
        text: &str,
    ) -> Result<crate::comments::Comment, StoreError> {
        let mut guard = self.lock();
        guard
            .conn
            .immediate_transaction(|conn| comments::edit_reply(conn, reply_id, text))
    }

    /// Deletes one of the patient's replies: here at once, on the server
    /// (and the therapist's side) with the next sync. `CommentNotFound`
    /// when no reply of the patient's has this id here.
    pub fn delete_reply(&self, reply_id: uuid::Uuid) -> Result<(), StoreError> {
        let mut guard = self.lock();
        guard
            .conn
            .immediate_transaction(|conn| comments::delete_reply(conn, reply_id))
    }

    /// The replies waiting to be sent, oldest first.
    pub(crate) fn pending_replies(&self) -> Result<Vec<comments::PendingReply>, StoreError> {
        let mut guard = self.lock();
        comments::pending(&mut guard.conn)
    }

    /// The server took a waiting reply (`stored`: its copy, for a new
    /// reply or an edit).
    pub(crate) fn reply_sent(
        &self,
        sent: &comments::PendingReply,
        stored: Option<&crate::comments::Comment>,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock();
        guard
            .conn
            .immediate_transaction(|conn| comments::sent(conn, sent, stored))
    }

    /// The server refused a waiting reply for good.
    pub(crate) fn reply_refused(&self, sent: &comments::PendingReply) -> Result<(), StoreError> {
        let mut guard = self.lock();
        guard
            .conn
            .immediate_transaction(|conn| comments::refused(conn, sent))
    }

    /// The greatest clock stamp this journal has handed out or seen.
    pub fn last_stamp(&self) -> Hlc {
        self.lock().clock.last()
    }
}

/// Makes `body` the content of the live record in `row`, queued for sync as
/// an edit of its current version. The same content again is no change.
fn replace_content(
    conn: &mut SqliteConnection,
    clock: &mut Clock,
    row: RecordRow,
    body: RecordBody,
) -> Result<Record, StoreError> {
    let seq = row.seq;
    let current = row.into_record()?;
    if current.kind() != body.kind() {
        return Err(StoreError::KindMismatch {
            id: current.id,
            stored: current.kind(),
            given: body.kind(),
        });
    }
    if current.body == body {
        return Ok(current);
    }
    check_share_edit(&current.body, &body)?;
    body.check_plausible(millis_to_time(clock.wall().now_millis()))?;
    check_links(conn, &body, &[])?;
    let changed = outbox::changed_fields(&current.body, &body)?;
    let base = current.hlc;
    let hlc = clock.tick();
    let record = Record {
        updated_at: millis_to_time(clock.wall().now_millis()),
        hlc,
        body,
        ..current
    };
    let json = body_json(&record.body)?;
    diesel::update(records::table.find(seq))
        .set(values(&record, &json))
        .execute(conn)?;
    search::unindex(conn, seq)?;
    search::index(conn, seq, &record.body)?;
    outbox::queue_upsert(conn, &record, &json, Some(base), Some(&changed))?;
    Ok(record)
}

/// Prefixes field paths with the position of the record in a batch, so a
/// caller importing many records learns which one was wrong.
/// Empties the write-ahead log into the file after a delete: the log still
/// holds earlier copies of the pages, with the deleted text, which
/// `secure_delete` cannot reach. A checkpoint that cannot finish (a reader
/// holds the log) leaves it to the next one; the delete itself stands.
fn forget_deleted(conn: &mut SqliteConnection) {
    use diesel::connection::SimpleConnection;
    let _ = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);");
}

fn at_index<E: Into<StoreError>>(error: E, index: usize, batch_len: usize) -> StoreError {
    match error.into() {
        StoreError::Invalid(mut invalid) if batch_len > 1 => {
            for v in &mut invalid.violations {
                v.field = format!("[{index}].{}", v.field);
            }
            StoreError::Invalid(invalid)
        }
        other => other,
    }
}

/// Checks that the dosing session a record links to exists here (or is
/// being created earlier in the same batch): journal-core's
/// [`check_dosing_session_link`] against the local database.
fn check_links(
    conn: &mut SqliteConnection,
    body: &RecordBody,
    same_batch: &[Record],
) -> Result<(), StoreError> {
    check_dosing_session_link(body, |session| {
        if same_batch
            .iter()
            .any(|r| r.id == session && r.kind() == RecordKind::DosingSession)
        {
            return Ok(true);
        }
        let found: i64 = records::table
            .filter(records::id.eq(session.to_string()))
            .filter(records::kind.eq(RecordKind::DosingSession.as_str()))
            .filter(records::deleted.eq(false))
            .count()
            .get_result(conn)?;
        Ok(found > 0)
    })
}

fn live_row(conn: &mut SqliteConnection, id: RecordId) -> Result<Option<RecordRow>, StoreError> {
    Ok(records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?)
}

fn values<'a>(record: &'a Record, body: &'a str) -> RecordValues<'a> {
    RecordValues {
        id: record.id.to_string(),
        kind: record.kind().as_str(),
        phase: record.body.phase().map(|p| p.as_str()),
        dosing_session_id: record
            .body
            .dosing_session_id(record.id)
            .map(|s| s.to_string()),
        occurred_at: time_to_micros(record.occurred_at()),
        created_at: time_to_micros(record.created_at),
        updated_at: time_to_micros(record.updated_at),
        hlc: record.hlc.to_i64(),
        deleted: false,
        body,
    }
}

impl RecordRow {
    /// The live record this row holds.
    pub(crate) fn into_record(self) -> Result<Record, StoreError> {
        let kind = parse_kind(&self.kind)?;
        let body = RecordBody::from_json(kind, &self.body).map_err(|e| {
            StoreError::Corrupt(format!("record {} has an unreadable body: {e}", self.id))
        })?;
        Ok(Record {
            id: self
                .id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("bad record id {:?}: {e}", self.id)))?,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            body,
        })
    }
}

fn body_json(body: &RecordBody) -> Result<String, StoreError> {
    body.to_json()
        .map_err(|e| StoreError::Corrupt(format!("content cannot be written as JSON: {e}")))
}

fn parse_kind(kind: &str) -> Result<RecordKind, StoreError> {
    kind.parse()
        .map_err(|e: crate::records::UnknownKind| StoreError::Corrupt(e.to_string()))
}

/// Reads this installation's device id, making one the first time.
fn device_id(conn: &mut SqliteConnection) -> Result<DeviceId, StoreError> {
    let stored: Option<String> = journal_meta::table
        .find(DEVICE_ID_KEY)
        .select(journal_meta::value)
        .first(conn)
        .optional()?;
    if let Some(text) = stored {
        return text
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("bad device id {text:?}: {e}")));
    }
    let id = DeviceId::new();
    diesel::insert_into(journal_meta::table)
        .values((
            journal_meta::key.eq(DEVICE_ID_KEY),
            journal_meta::value.eq(id.to_string()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The greatest stamp ever handed out or pulled here: every change stamps
/// its record (tombstones included), and a pull remembers the greatest stamp
/// it brought (which a record kept local may not show).
fn last_stamp(conn: &mut SqliteConnection) -> Result<Hlc, StoreError> {
    let newest: Option<i64> = records::table
        .select(diesel::dsl::max(records::hlc))
        .first(conn)?;
    let local =
        Hlc::from_i64(newest.unwrap_or(0)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(local.max(pull::greatest_pulled_stamp(conn)?))
}

pub(crate) fn time_to_micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn micros_to_time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} is out of range")))
}

fn millis_to_time(millis: u64) -> DateTime<Utc> {
    i64::try_from(millis)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
