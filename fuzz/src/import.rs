//! An export document imported into an empty journal with
//! [`JournalStore::import`]: refused with a typed error and the journal left
//! empty, or taken whole, every record reading back as it was given.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use journal_core::comments::Comment;
use journal_core::export::ExportDocument;
use journal_core::hlc::Hlc;
use journal_core::ids::RecordId;
use journal_core::query::{ListQuery, MAX_PAGE_SIZE};
use journal_core::records::Record;
use journal_core::store::{JournalStore, StoreError};
use journal_core::sync::RecordState;

/// An empty journal in a file of its own.
struct Journal {
    store: JournalStore,
    _dir: tempfile::TempDir,
}

impl Journal {
    fn new() -> Self {
        let dir = scratch_dir();
        let store = JournalStore::open(dir.path().join("journal.db")).expect("a new journal opens");
        Journal { store, _dir: dir }
    }
}

/// A directory in memory when there is one: the store syncs every commit.
fn scratch_dir() -> tempfile::TempDir {
    let shm = PathBuf::from("/dev/shm");
    let builder = tempfile::Builder::new().prefix("journal-fuzz-").to_owned();
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(&shm)
    {
        return dir;
    }
    builder.tempdir().expect("a temporary directory")
}

thread_local! {
    /// The empty journal the next input is imported into; replaced after an
    /// import that filled it.
    static EMPTY: RefCell<Option<Journal>> = const { RefCell::new(None) };
}

/// Runs one input through the import. Panics on a finding.
pub fn check_bytes(data: &[u8]) {
    let Ok(document) = serde_json::from_slice::<ExportDocument>(data) else {
        return;
    };
    // Which way the last byte says: moved to a new account (queued for sync)
    // or restored from the same server.
    let queue = data.last().is_some_and(|b| b & 1 == 1);
    check_document(&document, queue);
}

/// Imports `document` into an empty journal and checks the outcome.
pub fn check_document(document: &ExportDocument, queue: bool) {
    let text = serde_json::to_string(document).expect("a decoded document serializes");
    let back: ExportDocument =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}\ndoes not decode: {e}"));
    assert_eq!(&back, document, "the document changed in a JSON round trip");

    let journal = EMPTY
        .with(|slot| slot.borrow_mut().take())
        .unwrap_or_else(Journal::new);
    let before = journal.store.last_stamp();
    let outcome = journal.store.import(document, queue);
    let keep = match outcome {
        Ok(report) => {
            check_imported(&journal.store, document, queue, report);
            None
        }
        Err(error) => {
            check_refused(&journal.store, document, before, &error);
            Some(journal)
        }
    };
    EMPTY.with(|slot| *slot.borrow_mut() = keep);
}

/// A refused import is the input's fault, says so, and wrote nothing.
fn check_refused(store: &JournalStore, document: &ExportDocument, before: Hlc, error: &StoreError) {
    match error {
        StoreError::Invalid(invalid) => {
            assert!(!invalid.violations.is_empty(), "invalid with no violation");
        }
        StoreError::UnreadableChange { .. } => {}
        other => panic!("a bad document failed as something else than bad input: {other:?}"),
    }
    assert!(
        every_record(store).is_empty(),
        "a refused import left records"
    );
    assert_eq!(
        store.pending_change_count().unwrap(),
        0,
        "a refused import queued changes"
    );
    assert_eq!(
        store.last_stamp(),
        before,
        "a refused import moved the clock"
    );
    for id in mentioned_ids(document) {
        assert!(
            store.revisions(id).unwrap().is_empty(),
            "a refused import kept revisions"
        );
        assert!(
            store.comments(id).unwrap().is_empty(),
            "a refused import kept comments"
        );
    }
}

/// An import taken: every record, revision and comment reads back.
fn check_imported(
    store: &JournalStore,
    document: &ExportDocument,
    queue: bool,
    report: journal_core::store::ImportReport,
) {
    document
        .check()
        .expect("an imported document passes its own check");
    assert_eq!(report.records, document.records.len() as u64);
    // The last state given for an id is the one kept.
    let mut last: BTreeMap<RecordId, &RecordState> = BTreeMap::new();
    for state in &document.records {
        last.insert(state.id, state);
    }
    let mut live = 0;
    for (id, state) in &last {
        match store.get(*id) {
            Ok(record) => {
                assert!(!state.deleted, "a deleted record reads back live: {id}");
                let body = state.content().unwrap().expect("content");
                let expected = Record {
                    id: *id,
                    created_at: micros(state.created_at),
                    updated_at: micros(state.updated_at),
                    hlc: state.hlc,
                    body,
                };
                assert_eq!(record, expected, "an imported record reads back otherwise");
                live += 1;
            }
            Err(StoreError::NotFound { .. }) => {
                assert!(state.deleted, "an imported live record is missing: {id}")
            }
            Err(other) => panic!("an imported record cannot be read: {other:?}"),
        }
    }
    assert_eq!(
        every_record(store).len(),
        live,
        "the list does not hold what was imported"
    );

    let most = document
        .records
        .iter()
        .map(|r| r.hlc)
        .chain(document.revisions.iter().map(|r| r.hlc))
        .max();
    if let Some(most) = most {
        assert!(
            store.last_stamp() >= most,
            "the clock did not observe every stamp"
        );
    }

    let mut revisions = HashMap::new();
    for revision in &document.revisions {
        revisions.entry(revision.id).or_insert(revision);
    }
    assert_eq!(
        report.revisions,
        revisions.len() as u64,
        "revisions counted otherwise"
    );
    for revision in revisions.values() {
        let kept = store.revisions(revision.record_id).unwrap();
        assert!(
            kept.iter()
                .any(|k| k.id == revision.id && k.kind == revision.kind && k.hlc == revision.hlc),
            "an imported revision is missing: {}",
            revision.id
        );
    }

    let mut comments: HashMap<uuid::Uuid, &Comment> = HashMap::new();
    for comment in &document.comments {
        if comment.deleted {
            comments.remove(&comment.id);
        } else {
            comments.insert(comment.id, comment);
        }
    }
    for comment in comments.values() {
        let kept = store.comments(comment.record_id).unwrap();
        let expected = Comment {
            created_at: micros(comment.created_at),
            updated_at: micros(comment.updated_at),
            ..(*comment).clone()
        };
        assert!(
            kept.contains(&expected),
            "an imported comment reads back otherwise: {expected:?}"
        );
    }

    let queued = store.pending_change_count().unwrap();
    assert_eq!(
        queued, report.queued,
        "the outbox does not hold what was queued"
    );
    if !queue {
        assert_eq!(queued, 0, "an import not for sync queued changes");
    }
}

/// Every live record, through the list's pages.
fn every_record(store: &JournalStore) -> Vec<Record> {
    let mut all = Vec::new();
    let mut query = ListQuery {
        limit: Some(MAX_PAGE_SIZE),
        ..ListQuery::all()
    };
    loop {
        let page = store.list(&query).expect("the list reads");
        all.extend(page.records);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return all,
        }
    }
}

fn mentioned_ids(document: &ExportDocument) -> Vec<RecordId> {
    let mut ids: Vec<RecordId> = document
        .records
        .iter()
        .map(|r| r.id)
        .chain(document.revisions.iter().map(|r| r.record_id))
        .chain(document.comments.iter().map(|c| c.record_id))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A time as the store keeps it: to the microsecond.
fn micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).expect("in range")
}
