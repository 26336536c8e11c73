//! The device store's side of sync: what the outbox tells the server,
//! applying pulled pages (records, tombstones, revisions, the cursor, the
//! clock), and restoring revisions.

use std::sync::Arc;

use chrono::TimeZone;
use diesel::sql_types::Text;
use tempfile::TempDir;

use super::*;
use crate::hlc::ManualClock;
use crate::ids::MutationId;
use crate::phase::Phase;
use crate::records::*;
use crate::sync::{PulledChange, RawBody, RecordState, RevisionReason};

struct Device {
    _dir: TempDir,
    path: PathBuf,
    store: JournalStore,
}

fn device() -> Device {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let store = JournalStore::open(&path).unwrap();
    Device {
        _dir: dir,
        path,
        store,
    }
}

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

fn content(body: &RecordBody) -> serde_json::Value {
    serde_json::from_str(&body.to_json().unwrap()).unwrap()
}

/// A record as the server would send it.
fn state(record: &Record) -> RecordState {
    RecordState {
        id: record.id,
        kind: record.kind(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        hlc: record.hlc,
        deleted: false,
        body: Some(content(&record.body)),
    }
}

fn tombstone(record: &Record, hlc: Hlc) -> RecordState {
    RecordState {
        deleted: true,
        body: None,
        hlc,
        ..state(record)
    }
}

fn page(changes: Vec<PulledChange>, last_applied: Option<u64>) -> PullResponse {
    let cursor = changes
        .iter()
        .map(PulledChange::version)
        .max()
        .unwrap_or_default();
    PullResponse {
        changes,
        cursor,
        has_more: false,
        last_applied_mutation: last_applied.map(MutationId),
        server_time: None,
    }
}

fn rec(version: u64, record: RecordState) -> PulledChange {
    PulledChange::Record {
        version: OwnerVersion(version),
        record,
    }
}

fn revision(version: u64, of: &Record, body: &RecordBody, hlc: Hlc) -> PulledChange {
    PulledChange::Revision {
        version: OwnerVersion(version),
        revision: Revision {
            id: uuid::Uuid::now_v7(),
            record_id: of.id,
            kind: of.kind(),
            hlc,
            reason: RevisionReason::Conflict,
            body: content(body),
            created_at: Utc::now(),
        },
    }
}

fn ids_found(store: &JournalStore, text: &str) -> Vec<RecordId> {
    store
        .search(&SearchQuery::new(text))
        .unwrap()
        .into_iter()
        .map(|h| h.record.id)
        .collect()
}

/// Every row of every table, as text: what "changes nothing" compares.
fn dump(path: &Path) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let mut lines = Vec::new();
    for sql in [
        "SELECT seq || id || kind || ifnull(phase, '') || ifnull(dosing_session_id, '') || occurred_at || created_at || updated_at || hlc || deleted || body AS line FROM records ORDER BY seq",
        "SELECT rowid || title || body AS line FROM search_index ORDER BY rowid",
        "SELECT mutation_id || record_id || op || hlc || ifnull(base_hlc, '') || ifnull(changed_fields, '') AS line FROM outbox ORDER BY mutation_id",
        "SELECT id || record_id || kind || hlc || reason || body || created_at AS line FROM revisions ORDER BY id",
        "SELECT record_id || version || state AS line FROM held_pulls ORDER BY record_id",
        "SELECT key || '=' || value AS line FROM journal_meta ORDER BY key",
    ] {
        let rows: Vec<Line> = diesel::sql_query(sql).load(&mut conn).unwrap();
        lines.extend(rows.into_iter().map(|l| l.line));
    }
    lines
}

// ---- the outbox as mutations ----

#[test]
fn edits_and_deletes_record_their_base_and_changed_fields() {
    let d = device();
    let created = d.store.create(entry("first words")).unwrap();
    let mut edited = JournalEntry::new("second words", Phase::Integration).unwrap();
    edited.tags = vec!["calm".into()];
    let updated = d.store.update(created.id, edited.into()).unwrap();
    d.store.delete(created.id).unwrap();

    let m = d.store.pending_mutations(10).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!((m[0].base_hlc, &m[0].changed_fields), (None, &None));
    assert_eq!(m[1].base_hlc, Some(created.hlc));
    assert_eq!(
        m[1].changed_fields,
        Some(vec!["body".to_owned(), "tags".to_owned()]),
        "only the top-level fields whose JSON changed"
    );
    assert_eq!(m[2].op, ChangeOp::Delete);
    assert_eq!(m[2].base_hlc, Some(updated.hlc));
    assert_eq!(m[2].changed_fields, None);

    // A field that goes away counts as changed.
    let mut titled = JournalEntry::new("x", Phase::Dosing).unwrap();
    titled.title = Some("A title".into());
    let t = d.store.create(titled.clone().into()).unwrap();
    titled.title = None;
    d.store.update(t.id, titled.into()).unwrap();
    let last = d.store.pending_mutations(10).unwrap().pop().unwrap();
    assert_eq!(last.changed_fields, Some(vec!["title".to_owned()]));
}

#[test]
fn pending_mutations_are_the_wire_shape() {
    let d = device();
    let wall = ManualClock::at(1_800_000_000_000);
    drop(d.store);
    let store = JournalStore::open_with_clock(&d.path, Arc::new(wall.clone())).unwrap();
    let s = store
        .create(
            DosingSession::new(
                Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
                Route::Lozenge,
            )
            .unwrap()
            .into(),
        )
        .unwrap();
    let e = store.create(entry("kept for later")).unwrap();
    wall.advance(60_000);
    let edited = store.update(e.id, entry("changed a minute later")).unwrap();
    store.delete(e.id).unwrap();

    let m = store.pending_mutations(500).unwrap();
    assert_eq!(
        m.iter().map(|m| m.mutation_id.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(m[0].record_id, s.id);
    assert_eq!(m[0].kind, RecordKind::DosingSession);
    assert_eq!(
        m[0].body,
        Some(RawBody::from_value(&content(&s.body)).unwrap())
    );
    assert_eq!(m[0].hlc, s.hlc);
    let edit = &m[2];
    assert_eq!(edit.op, ChangeOp::Upsert);
    assert_eq!(edit.created_at, e.created_at, "when the record was created");
    assert_eq!(
        edit.updated_at, edited.updated_at,
        "when the change was made"
    );
    assert!(edit.updated_at > edit.created_at);
    assert_eq!(
        edit.body,
        Some(RawBody::from_value(&content(&entry("changed a minute later"))).unwrap())
    );
    let delete = &m[3];
    assert_eq!((delete.op, &delete.body), (ChangeOp::Delete, &None));
    assert_eq!(delete.created_at, e.created_at);

    // It is exactly what a push carries.
    let request = crate::sync::PushRequest {
        device_id: store.device_id(),
        mutations: m.clone(),
    };
    let json = serde_json::to_string(&request).unwrap();
    assert!(json.contains("\"baseHlc\"") && json.contains("\"changedFields\""));
    assert_eq!(
        serde_json::from_str::<crate::sync::PushRequest>(&json).unwrap(),
        request
    );

    assert_eq!(store.pending_mutations(2).unwrap().len(), 2);
    for bad in [0, 501] {
        assert!(matches!(
            store.pending_mutations(bad).unwrap_err(),
            StoreError::Invalid(i) if i.has("limit", "range")
        ));
    }
}

// ---- applying pulls ----

#[test]
fn a_pull_applies_records_tombstones_and_revisions() {
    let here = device();
    let there = device();
    // Two records both devices have, already pushed from here.
    let kept = here.store.create(entry("the lake at dawn")).unwrap();
    let doomed = here.store.create(entry("a secret to forget")).unwrap();
    here.store.acknowledge_changes(MutationId(2)).unwrap();

    // Another device writes a new entry, edits one and deletes the other.
    let new_there = there.store.create(entry("mountains far away")).unwrap();
    let edited = Record {
        hlc: there.store.last_stamp(),
        body: entry("the lake at noon"),
        ..kept.clone()
    };
    let lost = entry("the lake at dusk");
    let deleted_at = there.store.last_stamp();
    let pulled = page(
        vec![
            rec(3, state(&new_there)),
            rec(4, state(&edited)),
            rec(5, tombstone(&doomed, deleted_at)),
            revision(6, &kept, &lost, deleted_at),
        ],
        None,
    );
    let report = here.store.apply_pull(&pulled).unwrap();
    assert_eq!(
        report,
        ApplyReport {
            records: 3,
            deleted_elsewhere: vec![doomed.id],
            revisions: 1,
            conflicted_records: vec![kept.id],
            ..ApplyReport::default()
        }
    );

    assert_eq!(here.store.get(new_there.id).unwrap(), new_there);
    assert_eq!(here.store.get(kept.id).unwrap(), edited);
    assert!(matches!(
        here.store.get(doomed.id).unwrap_err(),
        StoreError::NotFound { .. }
    ));
    // The search index follows; the tombstone keeps no text.
    assert_eq!(ids_found(&here.store, "mountains"), vec![new_there.id]);
    assert_eq!(ids_found(&here.store, "noon"), vec![kept.id]);
    assert!(ids_found(&here.store, "dawn").is_empty());
    assert!(ids_found(&here.store, "secret").is_empty());
    let dumped = dump(&here.path).join("\n");
    assert!(!dumped.contains("secret"), "{dumped}");

    let revisions = here.store.revisions(kept.id).unwrap();
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0].body, content(&lost));
    assert_eq!(here.store.pull_cursor().unwrap(), OwnerVersion(6));
    assert_eq!(
        here.store.pending_change_count().unwrap(),
        0,
        "pulling queues nothing"
    );
}

#[test]
fn applying_a_page_twice_changes_nothing() {
    let here = device();
    let there = device();
    let a = there.store.create(entry("once only")).unwrap();
    let b = there.store.create(entry("gone soon")).unwrap();
    let pulled = page(
        vec![
            rec(1, state(&a)),
            rec(2, tombstone(&b, there.store.last_stamp())),
            revision(3, &a, &entry("an older take"), a.hlc),
        ],
        None,
    );
    let first = here.store.apply_pull(&pulled).unwrap();
    assert_eq!((first.records, first.revisions), (2, 1));
    let before = dump(&here.path);
    let second = here.store.apply_pull(&pulled).unwrap();
    assert_eq!(second.revisions, 0, "a revision is kept once");
    assert_eq!(dump(&here.path), before);
    assert_eq!(here.store.revisions(a.id).unwrap().len(), 1);
}

#[test]
fn local_changes_not_yet_pushed_win_until_the_server_has_them() {
    let here = device();
    let there = device();
    let mine = here.store.create(entry("my draft")).unwrap();
    here.store.acknowledge_changes(MutationId(1)).unwrap();
    let edited_here = here
        .store
        .update(mine.id, entry("my edit, not pushed"))
        .unwrap();

    // Meanwhile another device's edit arrives.
    there.store.create(entry("tick")).unwrap();
    let theirs = Record {
        hlc: there.store.last_stamp(),
        body: entry("their edit"),
        ..mine.clone()
    };
    let report = here
        .store
        .apply_pull(&page(vec![rec(2, state(&theirs))], None))
        .unwrap();
    assert_eq!((report.records, report.held), (0, 1));
    assert_eq!(here.store.get(mine.id).unwrap(), edited_here);
    assert_eq!(ids_found(&here.store, "pushed"), vec![mine.id]);
    assert_eq!(here.store.pull_cursor().unwrap(), OwnerVersion(2));

    // The edit is pushed; the server kept its own version (ours lost by
    // clock stamp) and had nothing newer to send: the held version is what
    // it holds, and becomes the local copy.
    let report = here.store.apply_pull(&page(vec![], Some(2))).unwrap();
    assert_eq!(report.acknowledged, 1);
    assert_eq!(report.records, 1);
    assert_eq!(here.store.get(mine.id).unwrap(), theirs);
    assert!(ids_found(&here.store, "pushed").is_empty());
    assert_eq!(ids_found(&here.store, "their"), vec![mine.id]);
}

#[test]
fn a_newer_pulled_version_supersedes_a_held_one() {
    let here = device();
    let mine = here.store.create(entry("draft")).unwrap();
    here.store.acknowledge_changes(MutationId(1)).unwrap();
    here.store.update(mine.id, entry("local edit")).unwrap();
    let held = Record {
        body: entry("held version"),
        ..mine.clone()
    };
    here.store
        .apply_pull(&page(vec![rec(2, state(&held))], None))
        .unwrap();

    // The server merged the pushed edit into a new version, which arrives in
    // the same page that acknowledges it.
    let merged = Record {
        hlc: here.store.last_stamp(),
        body: entry("merged version"),
        ..mine.clone()
    };
    let report = here
        .store
        .apply_pull(&page(vec![rec(3, state(&merged))], Some(2)))
        .unwrap();
    assert_eq!(
        (report.acknowledged, report.records, report.held),
        (1, 1, 0)
    );
    assert_eq!(here.store.get(mine.id).unwrap(), merged);
    // Nothing held is left to overwrite it later.
    here.store.apply_pull(&page(vec![], None)).unwrap();
    assert_eq!(here.store.get(mine.id).unwrap(), merged);
}

#[test]
fn a_pull_acknowledges_changes_whose_push_answer_was_lost() {
    let here = device();
    for n in 0..4 {
        here.store.create(entry(&format!("entry {n}"))).unwrap();
    }
    let report = here.store.apply_pull(&page(vec![], Some(3))).unwrap();
    assert_eq!(report.acknowledged, 3);
    let left: Vec<u64> = here
        .store
        .pending_mutations(10)
        .unwrap()
        .iter()
        .map(|m| m.mutation_id.0)
        .collect();
    assert_eq!(left, vec![4]);
}

#[test]
fn later_local_edits_stamp_after_everything_pulled_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let wall = ManualClock::at(1_800_000_000_000);
    let store = JournalStore::open_with_clock(&path, Arc::new(wall.clone())).unwrap();
    let local = store.create(entry("written here")).unwrap();
    store.acknowledge_changes(MutationId(1)).unwrap();

    // A device whose clock runs a year ahead wrote a record and a revision;
    // the revision carries the greatest stamp.
    let future = Hlc::new(1_800_000_000_000 + 365 * 24 * 3_600_000, 7);
    let remote = Record {
        id: RecordId::new(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        hlc: Hlc::new(future.millis(), 1),
        body: entry("from the future"),
    };
    store
        .apply_pull(&page(
            vec![
                rec(1, state(&remote)),
                revision(2, &local, &entry("lost words"), future),
            ],
            None,
        ))
        .unwrap();
    let edited = store.update(local.id, entry("edited after")).unwrap();
    assert!(edited.hlc > future, "{} <= {future}", edited.hlc);

    // A pulled stamp held back by local changes counts too, across restarts.
    let held = Record {
        hlc: Hlc::new(future.millis() + 1_000, 0),
        body: entry("further still"),
        ..local.clone()
    };
    store
        .apply_pull(&page(vec![rec(3, state(&held))], None))
        .unwrap();
    drop(store);
    let store = JournalStore::open_with_clock(&path, Arc::new(wall)).unwrap();
    let again = store.create(entry("after a restart")).unwrap();
    assert!(again.hlc > held.hlc);
}

#[test]
fn an_unreadable_change_fails_the_page_and_applies_nothing() {
    let here = device();
    let there = device();
    let fine = there.store.create(entry("fine")).unwrap();
    let mut broken = state(&there.store.create(entry("broken")).unwrap());
    broken.body = Some(serde_json::json!({"body": 42}));
    let mut empty = state(&there.store.create(entry("empty")).unwrap());
    empty.body = None;
    let mut bad_revision = revision(3, &fine, &entry("x"), fine.hlc);
    if let PulledChange::Revision { revision, .. } = &mut bad_revision {
        revision.body = serde_json::json!("not an entry");
    }
    let before = dump(&here.path);
    for (version, bad) in [(2, rec(2, broken)), (2, rec(2, empty)), (3, bad_revision)] {
        let err = here
            .store
            .apply_pull(&page(vec![rec(1, state(&fine)), bad], Some(1)))
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::UnreadableChange { version: v, .. } if *v == OwnerVersion(version)),
            "{err:?}"
        );
        assert_eq!(dump(&here.path), before, "nothing applied");
    }
    assert_eq!(here.store.pull_cursor().unwrap(), OwnerVersion(0));
}

// ---- revisions ----

#[test]
fn revisions_are_listed_newest_first_and_restore_as_edits() {
    let here = device();
    let e = here.store.create(entry("current text")).unwrap();
    here.store.acknowledge_changes(MutationId(1)).unwrap();
    let older = entry("an older take");
    let newer = entry("a newer take");
    here.store
        .apply_pull(&page(
            vec![
                revision(1, &e, &older, Hlc::new(e.hlc.millis(), 1)),
                revision(2, &e, &newer, Hlc::new(e.hlc.millis(), 2)),
            ],
            None,
        ))
        .unwrap();
    let list = here.store.revisions(e.id).unwrap();
    assert_eq!(
        list.iter().map(|r| r.body.clone()).collect::<Vec<_>>(),
        vec![content(&newer), content(&older)]
    );
    assert!(here.store.revisions(RecordId::new()).unwrap().is_empty());

    let restored = here.store.restore_revision(list[1].id).unwrap();
    assert_eq!(restored.id, e.id);
    assert_eq!(restored.body, older);
    assert!(restored.hlc > e.hlc);
    assert_eq!(here.store.get(e.id).unwrap(), restored);
    assert_eq!(ids_found(&here.store, "older"), vec![e.id]);
    let queued = here.store.pending_mutations(10).unwrap();
    assert_eq!(queued.len(), 1, "queued for sync like any edit");
    assert_eq!(queued[0].base_hlc, Some(e.hlc));
    assert_eq!(queued[0].changed_fields, Some(vec!["body".to_owned()]));
    // The revisions stay, to restore another.
    assert_eq!(here.store.revisions(e.id).unwrap().len(), 2);

    let unknown = uuid::Uuid::now_v7();
    assert!(matches!(
        here.store.restore_revision(unknown).unwrap_err(),
        StoreError::RevisionNotFound { id } if id == unknown
    ));
}

#[test]
fn restoring_brings_a_deleted_record_back_with_its_id() {
    let here = device();
    let e = here.store.create(entry("about to vanish")).unwrap();
    here.store.delete(e.id).unwrap();
    here.store.acknowledge_changes(MutationId(2)).unwrap();
    let tomb_hlc = here.store.last_stamp();
    // The text lost to the delete came back as a revision.
    let lost = entry("words lost to a delete");
    let mut change = revision(1, &e, &lost, e.hlc);
    if let PulledChange::Revision { revision, .. } = &mut change {
        revision.reason = RevisionReason::Deleted;
    }
    here.store.apply_pull(&page(vec![change], None)).unwrap();
    let rev = here.store.revisions(e.id).unwrap().remove(0);
    assert_eq!(rev.reason, RevisionReason::Deleted);

    let back = here.store.restore_revision(rev.id).unwrap();
    assert_eq!((back.id, back.created_at), (e.id, e.created_at));
    assert_eq!(back.body, lost);
    assert_eq!(here.store.get(e.id).unwrap(), back);
    assert_eq!(
        ids_found(&here.store, "vanish lost"),
        Vec::<RecordId>::new()
    );
    assert_eq!(ids_found(&here.store, "lost"), vec![e.id]);
    let queued = here.store.pending_mutations(10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].op, ChangeOp::Upsert);
    assert_eq!(queued[0].base_hlc, Some(tomb_hlc));
    assert_eq!(queued[0].changed_fields, None);

    // A revision of a record this device never had brings it into being.
    let stranger = Record {
        id: RecordId::new(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        hlc: Hlc::new(1, 0),
        body: entry("never seen"),
    };
    here.store
        .apply_pull(&page(
            vec![revision(2, &stranger, &entry("seen now"), stranger.hlc)],
            None,
        ))
        .unwrap();
    let rev = here.store.revisions(stranger.id).unwrap().remove(0);
    let made = here.store.restore_revision(rev.id).unwrap();
    assert_eq!(made.id, stranger.id);
    assert_eq!(here.store.get(stranger.id).unwrap().body, entry("seen now"));
    assert_eq!(
        here.store.pending_mutations(10).unwrap()[1].base_hlc,
        None,
        "a create"
    );
}

#[test]
fn therapist_comments_arrive_change_and_go_with_sync() {
    let d = device();
    let store = &d.store;
    let record = store.create(entry("I shared this")).unwrap();
    let mut comment = crate::comments::Comment {
        id: uuid::Uuid::now_v7(),
        record_id: record.id,
        therapist_id: uuid::Uuid::now_v7(),
        author: "Dr. Lee".into(),
        text: "Thank you for writing this down.".into(),
        // Stored, as on the server, to the microsecond.
        created_at: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
        updated_at: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
        deleted: false,
        from_patient: false,
        reply_to: None,
        delivery: Default::default(),
    };
    let arrives = |version: u64, c: &crate::comments::Comment| PulledChange::Comment {
        version: OwnerVersion(version),
        comment: c.clone(),
    };
    let report = store
        .apply_pull(&page(vec![arrives(1, &comment)], None))
        .unwrap();
    assert_eq!(report.comments, 1);
    assert_eq!(store.comments(record.id).unwrap(), vec![comment.clone()]);
    // Applying the same page again changes nothing.
    store
        .apply_pull(&page(vec![arrives(1, &comment)], None))
        .unwrap();
    assert_eq!(store.comments(record.id).unwrap().len(), 1);

    comment.text = "Thank you — let's talk about it on Tuesday.".into();
    store
        .apply_pull(&page(vec![arrives(2, &comment)], None))
        .unwrap();
    assert_eq!(store.comments(record.id).unwrap()[0].text, comment.text);

    comment.deleted = true;
    comment.text.clear();
    store
        .apply_pull(&page(vec![arrives(3, &comment)], None))
        .unwrap();
    assert!(store.comments(record.id).unwrap().is_empty());
    assert!(store.comments(RecordId::new()).unwrap().is_empty());
}

#[test]
fn a_reply_waiting_here_is_never_overwritten_by_a_pull_and_a_deletion_elsewhere_keeps_its_words() {
    use crate::comments::Delivery;
    let d = device();
    let store = &d.store;
    let record = store.create(entry("I shared this")).unwrap();
    let now = || chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let comment = crate::comments::Comment {
        id: uuid::Uuid::now_v7(),
        record_id: record.id,
        therapist_id: uuid::Uuid::now_v7(),
        author: "Dr. Lee".into(),
        text: "How was the week?".into(),
        created_at: now(),
        updated_at: now(),
        deleted: false,
        from_patient: false,
        reply_to: None,
        delivery: Delivery::Delivered,
    };
    let arrives = |version: u64, c: &crate::comments::Comment| PulledChange::Comment {
        version: OwnerVersion(version),
        comment: c.clone(),
    };
    store
        .apply_pull(&page(vec![arrives(1, &comment)], None))
        .unwrap();
    let reply = store.reply_to_comment(comment.id, "Calmer.").unwrap();
    assert_eq!(
        (reply.delivery, reply.author.as_str()),
        (Delivery::Pending, "You")
    );
    let pending = store.pending_replies().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].text, "Calmer.");

    // The server's older copy (sent by another phone) does not overwrite
    // the words waiting here, and is not a therapist's news.
    let older = crate::comments::Comment {
        id: reply.id,
        text: "Calm.".into(),
        author: "sam@example.org".into(),
        from_patient: true,
        reply_to: Some(comment.id),
        ..comment.clone()
    };
    let report = store
        .apply_pull(&page(vec![arrives(2, &older)], None))
        .unwrap();
    assert_eq!((report.comments_new, report.comments_edited), (0, 0));
    let here = store.comments(record.id).unwrap();
    assert_eq!(
        (here[1].text.as_str(), here[1].delivery),
        ("Calmer.", Delivery::Pending)
    );
    // Its copy with these very words settles it.
    let same = crate::comments::Comment {
        text: "Calmer.".into(),
        ..older.clone()
    };
    store
        .apply_pull(&page(vec![arrives(3, &same)], None))
        .unwrap();
    assert_eq!(
        store.comments(record.id).unwrap()[1].delivery,
        Delivery::Delivered
    );
    assert!(store.pending_replies().unwrap().is_empty());

    // Edited here, then deleted on another phone before this edit went:
    // the words written here stay, refused.
    store.edit_reply(reply.id, "Calmer, mostly.").unwrap();
    let gone = crate::comments::Comment {
        deleted: true,
        text: String::new(),
        ..older
    };
    store
        .apply_pull(&page(vec![arrives(4, &gone)], None))
        .unwrap();
    let here = store.comments(record.id).unwrap();
    assert_eq!(
        (here[1].text.as_str(), here[1].delivery),
        ("Calmer, mostly.", Delivery::Refused)
    );
    assert!(
        store.pending_replies().unwrap().is_empty(),
        "not sent again unless edited"
    );
    // Deleting a refused reply the server does not have is immediate.
    store.delete_reply(reply.id).unwrap();
    assert_eq!(store.comments(record.id).unwrap().len(), 1);
    assert!(matches!(
        store.delete_reply(reply.id),
        Err(StoreError::CommentNotFound { .. })
    ));
}

// ---- the search index during a first sync ----

/// The indexed texts (title and body), sorted, and whether the index is
/// marked as missing records.
fn index_state(path: &Path) -> (Vec<String>, bool) {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let texts: Vec<Line> =
        diesel::sql_query("SELECT title || '|' || body AS line FROM search_index ORDER BY line")
            .load(&mut conn)
            .unwrap();
    let marked: Vec<Line> =
        diesel::sql_query("SELECT key AS line FROM journal_meta WHERE key = 'search_index_stale'")
            .load(&mut conn)
            .unwrap();
    (
        texts.into_iter().map(|l| l.line).collect(),
        !marked.is_empty(),
    )
}

/// A patient's records on another device, as two pull pages: the first
/// with more to come.
fn first_sync_pages(there: &Device) -> (Vec<Record>, PullResponse, PullResponse) {
    let records = vec![
        there.store.create(entry("walking by the river")).unwrap(),
        there
            .store
            .create({
                let mut titled = JournalEntry::new("the cedar grove", Phase::Preparation).unwrap();
                titled.title = Some("Trees".to_owned());
                titled.into()
            })
            .unwrap(),
        there.store.create(entry("a quiet harbour")).unwrap(),
        there.store.create(entry("snow on the river")).unwrap(),
    ];
    let mut first = page(
        vec![rec(1, state(&records[0])), rec(2, state(&records[1]))],
        None,
    );
    first.has_more = true;
    let second = page(
        vec![rec(3, state(&records[2])), rec(4, state(&records[3]))],
        None,
    );
    (records, first, second)
}

#[test]
fn a_first_sync_leaves_the_search_index_to_a_build_that_follows() {
    let here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);

    here.store.apply_pull(&first).unwrap();
    let (texts, stale) = index_state(&here.path);
    assert!(stale, "the first page is written without the index");
    assert!(texts.is_empty(), "{texts:?}");

    // Caught up: the records are readable, the index not built yet.
    here.store.apply_pull(&second).unwrap();
    assert!(here.store.search_index_pending().unwrap());
    assert_eq!(here.store.get(records[3].id).unwrap().id, records[3].id);
    assert!(index_state(&here.path).0.is_empty());

    here.store.build_search_index().unwrap();
    assert!(!here.store.search_index_pending().unwrap());
    let (texts, stale) = index_state(&here.path);
    assert!(!stale);
    // The same text as indexing record by record gives.
    assert_eq!(texts, index_state(&there.path).0);
    assert_eq!(ids_found(&here.store, "river").len(), 2);
    assert_eq!(ids_found(&here.store, "trees"), vec![records[1].id]);
    assert_eq!(ids_found(&here.store, "harbour"), vec![records[2].id]);

    // Later pulls index record by record again.
    let edited = Record {
        hlc: there.store.last_stamp(),
        body: entry("a stormy harbour"),
        ..records[2].clone()
    };
    here.store
        .apply_pull(&page(vec![rec(5, state(&edited))], None))
        .unwrap();
    assert!(!index_state(&here.path).1);
    assert!(ids_found(&here.store, "quiet").is_empty());
    assert_eq!(ids_found(&here.store, "stormy"), vec![records[2].id]);
}

#[test]
fn a_first_sync_cut_short_is_finished_by_the_next_pull() {
    let mut here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);
    here.store.apply_pull(&first).unwrap();
    // The app is closed mid-sync and started again.
    here.store = JournalStore::open(&here.path).unwrap();
    assert!(index_state(&here.path).1, "the mark survives a restart");
    here.store.apply_pull(&second).unwrap();
    here.store.build_search_index().unwrap();
    let (texts, stale) = index_state(&here.path);
    assert!(!stale);
    assert_eq!(texts.len(), records.len());
    assert_eq!(ids_found(&here.store, "cedar"), vec![records[1].id]);
    assert_eq!(ids_found(&here.store, "snow"), vec![records[3].id]);
}

#[test]
fn searching_mid_first_sync_misses_nothing_already_pulled() {
    let here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);
    here.store.apply_pull(&first).unwrap();
    // Written here while the first sync is under way: indexed at once.
    let mine = here.store.create(entry("a river of my own")).unwrap();
    assert_eq!(ids_found(&here.store, "cedar"), vec![records[1].id]);
    let mut river = ids_found(&here.store, "river");
    river.sort();
    let mut expected = vec![records[0].id, mine.id];
    expected.sort();
    assert_eq!(river, expected);
    assert!(!index_state(&here.path).1, "searching finished the index");

    here.store.apply_pull(&second).unwrap();
    let (texts, stale) = index_state(&here.path);
    assert!(!stale);
    assert_eq!(texts.len(), records.len() + 1, "each record indexed once");
    assert_eq!(ids_found(&here.store, "river").len(), 3);
}

#[test]
fn local_records_written_mid_first_sync_are_indexed_once() {
    let here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);
    here.store.apply_pull(&first).unwrap();
    let mine = here.store.create(entry("lanterns at night")).unwrap();
    here.store.apply_pull(&second).unwrap();
    here.store.build_search_index().unwrap();
    let (texts, stale) = index_state(&here.path);
    assert!(!stale);
    assert_eq!(texts.len(), records.len() + 1, "{texts:?}");
    assert_eq!(ids_found(&here.store, "lanterns"), vec![mine.id]);
    assert_eq!(ids_found(&here.store, "river").len(), 2);
}

#[test]
fn a_search_before_the_build_is_done_finds_everything_and_finishes_it() {
    let here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);
    here.store.apply_pull(&first).unwrap();
    here.store.apply_pull(&second).unwrap();
    assert!(here.store.search_index_pending().unwrap());
    let mut river = ids_found(&here.store, "river");
    river.sort();
    let mut expected = vec![records[0].id, records[3].id];
    expected.sort();
    assert_eq!(river, expected);
    assert!(!here.store.search_index_pending().unwrap());
}

#[test]
fn changes_during_a_build_cut_off_part_way_are_all_searchable_once_it_resumes() {
    let mut here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);
    here.store.apply_pull(&first).unwrap();
    here.store.apply_pull(&second).unwrap();
    // Two of the four records indexed, then the app is closed.
    for _ in 0..2 {
        let done = here
            .store
            .lock()
            .conn
            .immediate_transaction(|conn| search::build_step_of(conn, 1))
            .unwrap();
        assert!(!done);
    }
    assert_eq!(index_state(&here.path).0.len(), 2);
    here.store = JournalStore::open(&here.path).unwrap();
    assert!(here.store.search_index_pending().unwrap());

    // Meanwhile: a pulled edit of a record already indexed, a pulled edit
    // of one not yet indexed, a pulled deletion, and the patient's own
    // entry and edit.
    let indexed = Record {
        hlc: there.store.last_stamp(),
        body: entry("walking by the sea"),
        ..records[0].clone()
    };
    let not_yet = Record {
        hlc: there.store.last_stamp(),
        body: entry("a loud harbour"),
        ..records[2].clone()
    };
    let gone = tombstone(&records[1], there.store.last_stamp());
    here.store
        .apply_pull(&page(
            vec![
                rec(5, state(&indexed)),
                rec(6, state(&not_yet)),
                rec(7, gone),
            ],
            None,
        ))
        .unwrap();
    let mine = here.store.create(entry("my own river")).unwrap();
    here.store
        .update(records[3].id, entry("snow on the hills"))
        .unwrap();

    let store = Arc::new(here.store);
    assert!(store.build_search_index_in_background());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.search_index_pending().unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (texts, _) = index_state(&here.path);
    assert_eq!(
        texts.len(),
        4,
        "one row per live searchable record: {texts:?}"
    );
    assert_eq!(ids_found(&store, "sea"), vec![records[0].id]);
    assert!(ids_found(&store, "walking by the river").is_empty());
    assert_eq!(ids_found(&store, "loud"), vec![records[2].id]);
    assert!(ids_found(&store, "quiet").is_empty());
    assert!(ids_found(&store, "cedar").is_empty(), "deleted");
    assert_eq!(ids_found(&store, "river"), vec![mine.id]);
    assert_eq!(ids_found(&store, "hills"), vec![records[3].id]);
    assert!(
        !store.build_search_index_in_background(),
        "nothing left to build"
    );
}

#[test]
fn the_build_reads_records_by_primary_key() {
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let here = device();
    for i in 0..200 {
        let record = here.store.create(entry(&format!("entry {i}"))).unwrap();
        if i % 3 == 0 {
            here.store.delete(record.id).unwrap();
        }
    }
    let mut guard = here.store.lock();
    // Without statistics (a journal never analysed: SQLite then guesses an
    // equality on an indexed column is selective), and with them.
    for analysed in [false, true] {
        if analysed {
            diesel::sql_query("ANALYZE")
                .execute(&mut guard.conn)
                .unwrap();
        }
        let plan = diesel::sql_query(format!("EXPLAIN QUERY PLAN {}", search::BUILD_READ))
            .bind::<diesel::sql_types::BigInt, _>(0_i64)
            .bind::<diesel::sql_types::BigInt, _>(1_000_i64)
            .load::<Step>(&mut guard.conn)
            .unwrap();
        let plan: Vec<&str> = plan.iter().map(|step| step.detail.as_str()).collect();
        assert_eq!(
            plan,
            ["SEARCH records USING INTEGER PRIMARY KEY (rowid>?)"],
            "analysed: {analysed}"
        );
    }
}

#[test]
fn a_journal_with_records_of_its_own_indexes_pulls_at_once() {
    let here = device();
    let there = device();
    here.store.create(entry("already here")).unwrap();
    let (records, first, _) = first_sync_pages(&there);
    here.store.apply_pull(&first).unwrap();
    let (texts, stale) = index_state(&here.path);
    assert!(!stale);
    assert_eq!(texts.len(), 3);
    assert_eq!(ids_found(&here.store, "cedar"), vec![records[1].id]);
}

#[test]
fn its_own_change_coming_back_is_not_news_but_any_difference_is_written() {
    let here = device();
    let mine = here.store.create(entry("written here")).unwrap();
    here.store.acknowledge_changes(MutationId(1)).unwrap();
    // The very version back from the server: nothing written, not counted.
    let report = here
        .store
        .apply_pull(&page(vec![rec(1, state(&mine))], None))
        .unwrap();
    assert_eq!((report.records, report.echoes), (0, 1));
    // The same stamp and content with other times (an export naming one
    // record twice, say): written, the last one kept.
    let earlier = Record {
        created_at: mine.created_at - chrono::TimeDelta::days(1),
        ..mine.clone()
    };
    let report = here
        .store
        .apply_pull(&page(vec![rec(2, state(&earlier))], None))
        .unwrap();
    assert_eq!((report.records, report.echoes), (1, 0));
    assert_eq!(here.store.get(mine.id).unwrap(), earlier);
    // The same stamp and times with other content (a merge on the server
    // that kept this device's stamp): written.
    let merged = Record {
        body: entry("written here, merged there"),
        ..earlier.clone()
    };
    let report = here
        .store
        .apply_pull(&page(vec![rec(3, state(&merged))], None))
        .unwrap();
    assert_eq!((report.records, report.echoes), (1, 0));
    assert_eq!(here.store.get(mine.id).unwrap(), merged);
}

// ---- a phone killed while it builds the search index ----

/// Records the way a first sync writes them: one pulled page of `count`
/// entries, every tenth mentioning "lantern".
fn pulled_entries(count: u64) -> PullResponse {
    let changes = (1..=count)
        .map(|i| {
            let at = Utc.timestamp_opt(1_750_000_000 + i as i64 * 60, 0).unwrap();
            let text = if i % 10 == 0 {
                format!("entry {i}: a lantern in the window")
            } else {
                format!("entry {i}: an ordinary evening")
            };
            rec(
                i,
                RecordState {
                    id: RecordId::new(),
                    kind: RecordKind::JournalEntry,
                    created_at: at,
                    updated_at: at,
                    hlc: Hlc::new(1_750_000_000_000 + i * 60_000, 0),
                    deleted: false,
                    body: Some(content(&entry(&text))),
                },
            )
        })
        .collect();
    page(changes, None)
}

/// The child of the kill test: builds the search index of the journal
/// named by the environment, and exits. Run only by the parent.
#[test]
#[ignore = "run by a_phone_killed_while_it_builds_the_search_index_searches_completely_after"]
fn index_building_child() {
    let Ok(path) = std::env::var("JOURNAL_INDEX_CHILD") else {
        return;
    };
    let store = Arc::new(JournalStore::open(&path).unwrap());
    // As the library does after a first sync.
    assert!(store.build_search_index_in_background());
    while store.search_index_pending().unwrap() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn a_phone_killed_while_it_builds_the_search_index_searches_completely_after() {
    const RECORDS: u64 = 6_000;
    let runs: u64 = if std::env::var_os("CI").is_some() {
        4
    } else {
        8
    };
    let exe = std::env::current_exe().unwrap();
    let template = device();
    template.store.apply_pull(&pulled_entries(RECORDS)).unwrap();
    assert!(template.store.search_index_pending().unwrap());
    drop(template.store);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let (mut cut_off, mut finished) = (0, 0);
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        std::fs::copy(&template.path, &path).unwrap();
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "store::sync_tests::index_building_child",
                "--ignored",
                "--quiet",
            ])
            .env("JOURNAL_INDEX_CHILD", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let wait = 5 + (seed >> 33) % 60;
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let _ = child.kill();
        child.wait().unwrap();

        let store = JournalStore::open(&path).unwrap();
        if store.search_index_pending().unwrap() {
            cut_off += 1;
            let (texts, _) = index_state(&path);
            assert!(texts.len() < RECORDS as usize, "run {run}: {}", texts.len());
            eprintln!(
                "run {run}: killed after {wait} ms with {} of {RECORDS} indexed",
                texts.len()
            );
        } else {
            finished += 1;
        }
        // Searching finishes whatever was left: every match, once each.
        let hits = store.search(&SearchQuery::new("lantern ")).unwrap();
        assert!(!hits.is_empty(), "run {run} (killed after {wait} ms)");
        assert!(!store.search_index_pending().unwrap());
        let (texts, _) = index_state(&path);
        assert_eq!(texts.len(), RECORDS as usize, "run {run}: each record once");
        let lanterns = texts.iter().filter(|t| t.contains("lantern")).count();
        assert_eq!(lanterns, (RECORDS / 10) as usize, "run {run}");
    }
    eprintln!("{cut_off} of {runs} builds were cut off part way, {finished} had finished");
}

/// This connection's `wal_autocheckpoint`.
fn autocheckpoint(store: &JournalStore) -> i64 {
    search::checkpoint_pages(&mut store.lock().conn).unwrap()
}

#[test]
fn a_first_sync_leaves_copying_its_log_to_the_index_build() {
    let mut here = device();
    let there = device();
    let (records, first, second) = first_sync_pages(&there);
    assert_eq!(autocheckpoint(&here.store), 1_000);
    let size = |path: &Path| std::fs::metadata(path).unwrap().len();
    let before = size(&here.path);

    here.store.apply_pull(&first).unwrap();
    assert_eq!(
        autocheckpoint(&here.store),
        16_000,
        "held back while pulling"
    );
    // Cut off here, the journal opens again with the default.
    here.store = JournalStore::open(&here.path).unwrap();
    assert_eq!(autocheckpoint(&here.store), 1_000);
    here.store.apply_pull(&second).unwrap();
    assert_eq!(autocheckpoint(&here.store), 16_000);
    assert_eq!(size(&here.path), before, "the records are in the log only");

    here.store.build_search_index().unwrap();
    assert_eq!(autocheckpoint(&here.store), 1_000, "the default is back");
    assert!(
        size(&here.path) > before,
        "the log was copied into the database"
    );
    assert_eq!(ids_found(&here.store, "snow"), vec![records[3].id]);
    // Later writes keep the default.
    here.store.create(entry("a quiet evening")).unwrap();
    assert_eq!(autocheckpoint(&here.store), 1_000);
}

#[test]
fn a_first_sync_page_writes_its_records_in_order() {
    // The records new here go in together; what follows them in the page
    // (another version of one of them, a revision of one) sees them.
    let here = device();
    let there = device();
    let a = there.store.create(entry("first words")).unwrap();
    let b = there.store.create(entry("other words")).unwrap();
    let a_edited = there
        .store
        .update(a.id, entry("first words, rewritten"))
        .unwrap();
    let older = entry("an older take of b");
    let mut tomb = state(&b);
    tomb.deleted = true;
    tomb.body = None;
    tomb.hlc = there.store.last_stamp();
    let report = here
        .store
        .apply_pull(&page(
            vec![
                rec(1, state(&a)),
                rec(2, state(&b)),
                revision(3, &b, &older, Hlc::new(b.hlc.millis(), 1)),
                rec(4, state(&a_edited)),
                rec(5, tomb),
            ],
            None,
        ))
        .unwrap();
    assert_eq!(report.records, 4);
    assert_eq!(report.revisions, 1);
    assert_eq!(report.deleted_elsewhere, vec![b.id]);
    assert_eq!(here.store.get(a.id).unwrap(), a_edited);
    assert!(here.store.get(b.id).is_err(), "deleted after it came");
    assert_eq!(here.store.revisions(b.id).unwrap().len(), 1);
    here.store.build_search_index().unwrap();
    assert_eq!(ids_found(&here.store, "rewritten"), vec![a.id]);
    assert!(ids_found(&here.store, "other").is_empty());
}
