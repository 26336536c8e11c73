//! The device store as an app uses it: every kind saved and read back,
//! lists, search, tombstones, the outbox, schema upgrades, and files that
//! are not journals.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_migrations::MigrationHarness;
use tempfile::TempDir;

use super::*;
use crate::hlc::ManualClock;
use crate::ids::MutationId;
use crate::phase::Phase;
use crate::records::*;

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
    store: JournalStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let store = JournalStore::open(&path).unwrap();
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn entry(body: &str, phase: Phase) -> RecordBody {
    JournalEntry::new(body, phase).unwrap().into()
}

fn session(day: u32) -> RecordBody {
    DosingSession::new(at(day, 10), Route::Lozenge)
        .unwrap()
        .into()
}

fn one_of_each(store: &JournalStore) -> Vec<Record> {
    let s = store.create(session(2)).unwrap();
    let mut e = JournalEntry::new("The music carried me.", Phase::Dosing).unwrap();
    e.title = Some("First session".into());
    e.tags = vec!["music".into()];
    e.prompt_id = Some(crate::prompts::for_phase(e.phase).next().unwrap().id.into());
    e.dosing_session_id = Some(s.id);
    let mut i = Intention::new("Be gentle with myself", s.id).unwrap();
    i.reflection = Some(Reflection {
        how_it_went: "I softened".into(),
        carry_forward: "Morning walks".into(),
    });
    i.status = IntentionStatus::Fulfilled;
    let mut c = Commitment::new(
        "Walk every morning",
        s.id,
        chrono::NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
    )
    .unwrap();
    c.status = CommitmentStatus::Changed;
    c.note = Some("Three mornings a week".into());
    let mut m = MoodCheckIn::new(at(3, 8), 6, 3, 5).unwrap();
    m.sleep_hours = Some(7.5);
    m.emotions = vec!["hopeful".into()];
    let others: Vec<RecordBody> = vec![
        e.into(),
        i.into(),
        c.into(),
        RecordBody::CarePlan(crate::plan::CarePlan {
            measures: vec![crate::plan::MeasurePlan {
                instrument: Instrument::Gad7,
                every_days: None,
                before_each_session: true,
                days_after_session: vec![7],
            }],
            follow_ups: Some(crate::plan::FollowUpPlan::default()),
            check_ins: Some(crate::plan::CheckInCadence::Weekly),
        }),
        m.into(),
        Assessment::new(Instrument::Phq9, at(4, 9), vec![1, 1, 0, 2, 0, 1, 0, 0, 0])
            .unwrap()
            .into(),
        ExercisePractice::new("box-breathing", at(5, 21), 24, 7, 3)
            .unwrap()
            .into(),
        Share::kinds(
            uuid::Uuid::now_v7(),
            vec![RecordKind::MoodCheckIn, RecordKind::Assessment],
        )
        .unwrap()
        .into(),
    ];
    let mut all = vec![s];
    all.extend(others.into_iter().map(|b| store.create(b).unwrap()));
    all
}

fn raw_count(path: &Path, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut conn).unwrap().n
}

// ---- round trips ----

#[test]
fn every_kind_round_trips() {
    let f = fixture();
    let created = one_of_each(&f.store);
    let kinds: Vec<RecordKind> = created.iter().map(Record::kind).collect();
    let mut expected = RecordKind::ALL.to_vec();
    expected.sort();
    let mut got = kinds.clone();
    got.sort();
    assert_eq!(got, expected, "one of each kind");
    for record in &created {
        assert_eq!(&f.store.get(record.id).unwrap(), record);
        assert_eq!(record.id.as_uuid().get_version_num(), 7);
        assert_eq!(record.created_at, record.updated_at);
    }
    // And after closing and opening again.
    drop(f.store);
    let store = JournalStore::open(&f.path).unwrap();
    for record in &created {
        assert_eq!(&store.get(record.id).unwrap(), record);
    }
}

#[test]
fn update_replaces_content_and_advances_the_stamp() {
    let f = fixture();
    let original = f.store.create(entry("draft", Phase::Integration)).unwrap();
    let mut edited = JournalEntry::new("final words", Phase::Integration).unwrap();
    edited.tags = vec!["done".into()];
    let updated = f.store.update(original.id, edited.clone().into()).unwrap();
    assert_eq!(updated.body, RecordBody::JournalEntry(edited));
    assert_eq!(updated.created_at, original.created_at);
    assert!(updated.hlc > original.hlc);
    assert_eq!(f.store.get(original.id).unwrap(), updated);

    // Saving the same content again is not a change.
    let pending = f.store.pending_change_count().unwrap();
    let same = f.store.update(original.id, updated.body.clone()).unwrap();
    assert_eq!(same, updated);
    assert_eq!(f.store.pending_change_count().unwrap(), pending);
}

#[test]
fn update_refuses_a_change_of_kind_and_unknown_ids() {
    let f = fixture();
    let e = f.store.create(entry("words", Phase::Preparation)).unwrap();
    let err = f.store.update(e.id, session(1)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::KindMismatch {
            stored: RecordKind::JournalEntry,
            given: RecordKind::DosingSession,
            ..
        }
    ));
    let missing = RecordId::new();
    let err = f
        .store
        .update(missing, entry("x", Phase::Dosing))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { id } if id == missing));
    assert_eq!(f.store.get(e.id).unwrap(), e);
}

#[test]
fn invalid_input_is_refused_and_writes_nothing() {
    let f = fixture();
    let e = f.store.create(entry("kept", Phase::Dosing)).unwrap();
    let before = f.store.pending_change_count().unwrap();

    let mut bad = JournalEntry::new("x", Phase::Dosing).unwrap();
    bad.body = "   ".into();
    bad.title = Some("a\nb".into());
    match f.store.create(bad.clone().into()).unwrap_err() {
        StoreError::Invalid(invalid) => {
            assert!(invalid.has("body", "not_blank"));
            assert!(invalid.has("title", "single_line"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(
        f.store.update(e.id, bad.into()).unwrap_err(),
        StoreError::Invalid(_)
    ));
    let mut m = MoodCheckIn::new(at(1, 1), 1, 1, 1).unwrap();
    m.mood = 42;
    assert!(
        matches!(f.store.create(m.into()).unwrap_err(), StoreError::Invalid(i) if i.has("mood", "range"))
    );

    assert_eq!(f.store.get(e.id).unwrap(), e);
    assert_eq!(f.store.pending_change_count().unwrap(), before);
    assert_eq!(f.store.list(&ListQuery::all()).unwrap().records.len(), 1);
}

#[test]
fn links_must_name_a_live_dosing_session() {
    let f = fixture();
    let e = f
        .store
        .create(entry("not a session", Phase::Dosing))
        .unwrap();
    for target in [RecordId::new(), e.id] {
        let err = f
            .store
            .create(Intention::new("Be open", target).unwrap().into())
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(i) if i.has("dosingSessionId", "unknown_session")),
            "{err:?}"
        );
    }
    let s = f.store.create(session(9)).unwrap();
    let i = f
        .store
        .create(Intention::new("Be open", s.id).unwrap().into())
        .unwrap();
    assert!(matches!(
        f.store.delete(s.id).unwrap_err(),
        StoreError::SessionInUse { linked: 1, .. }
    ));
    f.store.delete(i.id).unwrap();
    f.store.delete(s.id).unwrap();
    let err = f
        .store
        .create(Intention::new("Be open", s.id).unwrap().into())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(_)),
        "a deleted session cannot be linked"
    );
}

#[test]
fn a_batch_is_all_or_nothing() {
    let f = fixture();
    // A session and an intention for it can be created together.
    let session_body = session(4);
    let created = f.store.create_many(vec![session_body.clone()]).unwrap();
    let with_link = f
        .store
        .create_many(vec![
            entry("one", Phase::Preparation),
            Intention::new("Trust", created[0].id).unwrap().into(),
        ])
        .unwrap();
    assert_eq!(with_link.len(), 2);
    let before = f.store.pending_change_count().unwrap();

    let mut bad = JournalEntry::new("x", Phase::Dosing).unwrap();
    bad.tags = vec!["dup".into(), "DUP".into()];
    let err = f
        .store
        .create_many(vec![entry("fine", Phase::Dosing), bad.into()])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.has("[1].tags", "unique")),
        "{err:?}"
    );
    // A broken link is reported at its place in the batch, too.
    let err = f
        .store
        .create_many(vec![
            entry("fine", Phase::Dosing),
            Intention::new("Trust", RecordId::new()).unwrap().into(),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.has("[1].dosingSessionId", "unknown_session")),
        "{err:?}"
    );
    assert_eq!(f.store.pending_change_count().unwrap(), before);
    assert_eq!(f.store.list(&ListQuery::all()).unwrap().records.len(), 3);
}

// ---- tombstones ----

#[test]
fn delete_leaves_a_tombstone_without_text() {
    let f = fixture();
    let e = f
        .store
        .create(entry("a secret sentence", Phase::Integration))
        .unwrap();
    f.store.delete(e.id).unwrap();

    assert!(matches!(
        f.store.get(e.id).unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(f.store.list(&ListQuery::all()).unwrap().records.is_empty());
    assert!(
        f.store
            .search(&SearchQuery::new("secret"))
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        f.store.delete(e.id).unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        f.store
            .update(e.id, entry("back", Phase::Dosing))
            .unwrap_err(),
        StoreError::NotFound { .. }
    ));

    // The row stays, marked deleted, with no text in it or in the index.
    assert_eq!(
        raw_count(
            &f.path,
            "SELECT count(*) AS n FROM records WHERE deleted = 1 AND body = '{}'"
        ),
        1
    );
    assert_eq!(
        raw_count(
            &f.path,
            "SELECT count(*) AS n FROM records WHERE body LIKE '%secret%'"
        ),
        0
    );
    assert_eq!(
        raw_count(&f.path, "SELECT count(*) AS n FROM search_index"),
        0
    );

    let changes = f.store.pending_changes(10).unwrap();
    let last = changes.last().unwrap();
    assert_eq!(
        (last.op, last.record_id, last.body.is_none()),
        (ChangeOp::Delete, e.id, true)
    );
    assert!(last.hlc > e.hlc);
}

// ---- lists ----

#[test]
fn lists_are_newest_first_and_filter() {
    let f = fixture();
    let s1 = f.store.create(session(2)).unwrap();
    let s2 = f.store.create(session(16)).unwrap();
    let i1 = f
        .store
        .create(Intention::new("Open", s1.id).unwrap().into())
        .unwrap();
    let mut linked = JournalEntry::new("about session one", Phase::Dosing).unwrap();
    linked.dosing_session_id = Some(s1.id);
    let linked = f.store.create(linked.into()).unwrap();
    let prep = f.store.create(entry("before", Phase::Preparation)).unwrap();
    let m1 = f
        .store
        .create(MoodCheckIn::new(at(3, 8), 5, 5, 5).unwrap().into())
        .unwrap();
    let m2 = f
        .store
        .create(MoodCheckIn::new(at(20, 8), 7, 2, 6).unwrap().into())
        .unwrap();

    let ids = |q: &ListQuery| -> Vec<RecordId> {
        f.store
            .list(q)
            .unwrap()
            .records
            .iter()
            .map(|r| r.id)
            .collect()
    };
    // Newest first by the moment each is about.
    let all = f.store.list(&ListQuery::all()).unwrap().records;
    assert_eq!(all.len(), 7);
    assert!(
        all.windows(2)
            .all(|w| w[0].occurred_at() >= w[1].occurred_at())
    );

    assert_eq!(
        ids(&ListQuery::of_kind(RecordKind::MoodCheckIn)),
        vec![m2.id, m1.id]
    );
    let q = ListQuery {
        kinds: vec![RecordKind::DosingSession, RecordKind::Intention],
        ..ListQuery::all()
    };
    assert_eq!(ids(&q).len(), 3);
    let q = ListQuery {
        phase: Some(Phase::Preparation),
        ..ListQuery::all()
    };
    assert_eq!(ids(&q), vec![prep.id]);
    let q = ListQuery {
        dosing_session_id: Some(s1.id),
        ..ListQuery::all()
    };
    let mut by_session = ids(&q);
    by_session.sort();
    let mut expected = vec![s1.id, i1.id, linked.id];
    expected.sort();
    assert_eq!(by_session, expected);
    let q = ListQuery {
        dosing_session_id: Some(s2.id),
        ..ListQuery::all()
    };
    assert_eq!(ids(&q), vec![s2.id]);
    // Range: from inclusive, to exclusive.
    let q = ListQuery {
        from: Some(at(3, 8)),
        to: Some(at(16, 10)),
        ..ListQuery::all()
    };
    assert_eq!(ids(&q), vec![m1.id]);
    let q = ListQuery {
        from: Some(at(3, 8)),
        to: Some(at(16, 11)),
        ..ListQuery::all()
    };
    assert_eq!(ids(&q), vec![s2.id, m1.id]);
}

#[test]
fn pages_cover_everything_once_even_while_writing() {
    let f = fixture();
    let bodies: Vec<RecordBody> = (0..23)
        .map(|n| {
            MoodCheckIn::new(at(1, 0) + Duration::hours(n), 5, 5, 5)
                .unwrap()
                .into()
        })
        .collect();
    // Several records at the very same moment: the id breaks the tie.
    let mut bodies = bodies;
    for _ in 0..4 {
        bodies.push(MoodCheckIn::new(at(1, 5), 1, 1, 1).unwrap().into());
    }
    let created = f.store.create_many(bodies).unwrap();

    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: Some(5),
        ..ListQuery::all()
    };
    loop {
        let page = f.store.list(&query).unwrap();
        assert!(page.records.len() <= 5);
        seen.extend(page.records.iter().map(|r| r.id));
        if seen.len() == 5 {
            // A record written mid-scroll, newer than everything, is not
            // mixed into later pages.
            f.store
                .create(MoodCheckIn::new(at(28, 0), 9, 0, 9).unwrap().into())
                .unwrap();
        }
        match page.next_cursor {
            Some(cursor) => {
                let text = cursor.to_string();
                query.cursor = Some(text.parse().unwrap());
            }
            None => break,
        }
    }
    let mut expected: Vec<RecordId> = created.iter().map(|r| r.id).collect();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "every record exactly once");
}

#[test]
fn list_queries_are_checked() {
    let f = fixture();
    for bad in [0, 201] {
        let q = ListQuery {
            limit: Some(bad),
            ..ListQuery::all()
        };
        assert!(
            matches!(f.store.list(&q).unwrap_err(), StoreError::Invalid(i) if i.has("limit", "range"))
        );
    }
    for ok in [1, 200] {
        assert!(
            f.store
                .list(&ListQuery {
                    limit: Some(ok),
                    ..ListQuery::all()
                })
                .is_ok()
        );
    }
    let q = ListQuery {
        from: Some(at(5, 0)),
        to: Some(at(5, 0)),
        ..ListQuery::all()
    };
    assert!(
        matches!(f.store.list(&q).unwrap_err(), StoreError::Invalid(i) if i.has("to", "after_from"))
    );
    for bad in [
        "",
        "abc",
        "12~not-a-uuid",
        "99999999999999999999~0190b1c2-0000-7000-8000-000000000000",
    ] {
        assert!(bad.parse::<ListCursor>().is_err(), "{bad}");
    }
    assert!(serde_json::from_str::<ListQuery>(r#"{"limit":5,"sort":"asc"}"#).is_err());
}

// ---- search ----

#[test]
fn search_finds_ranks_and_highlights() {
    let f = fixture();
    let in_title = {
        let mut e = JournalEntry::new("Nothing much today.", Phase::Integration).unwrap();
        e.title = Some("Ocean dreams".into());
        f.store.create(e.into()).unwrap()
    };
    let in_body = f
        .store
        .create(entry(
            "I saw an ocean, wide and calm, and then the room came back.",
            Phase::Dosing,
        ))
        .unwrap();
    let _other = f
        .store
        .create(entry("Groceries and laundry.", Phase::Integration))
        .unwrap();

    let hits = f.store.search(&SearchQuery::new("ocean")).unwrap();
    let ids: Vec<RecordId> = hits.iter().map(|h| h.record.id).collect();
    assert_eq!(
        ids,
        vec![in_title.id, in_body.id],
        "title weighs more than body"
    );
    let body_hit = &hits[1];
    let (start, end) = body_hit.highlights[0];
    let word: String = body_hit
        .snippet
        .chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect();
    assert_eq!(word.to_lowercase(), "ocean");

    // Prefixes, case and accents.
    assert_eq!(f.store.search(&SearchQuery::new("OCE")).unwrap().len(), 2);
    // A word followed by a space is a whole word, not a prefix.
    assert_eq!(f.store.search(&SearchQuery::new("oce ")).unwrap().len(), 0);
    assert_eq!(
        f.store.search(&SearchQuery::new("ocean ")).unwrap().len(),
        2
    );
    let cafe = f
        .store
        .create(entry("Café with my sister", Phase::Integration))
        .unwrap();
    assert_eq!(
        f.store.search(&SearchQuery::new("cafe sis")).unwrap()[0]
            .record
            .id,
        cafe.id
    );
    // Every word must appear.
    assert_eq!(
        f.store
            .search(&SearchQuery::new("ocean laundry"))
            .unwrap()
            .len(),
        0
    );
    // Query syntax in the text is just text.
    for odd in [
        "\"",
        "ocean*\"",
        "NEAR(",
        "-ocean",
        "ocean OR",
        "'; DROP TABLE records; --",
        "   ",
    ] {
        assert!(f.store.search(&SearchQuery::new(odd)).is_ok(), "{odd}");
    }
}

#[test]
fn search_covers_intentions_and_follows_edits() {
    let f = fixture();
    let s = f.store.create(session(6)).unwrap();
    let i = f
        .store
        .create(Intention::new("Forgive my father", s.id).unwrap().into())
        .unwrap();
    assert_eq!(
        f.store.search(&SearchQuery::new("father")).unwrap()[0]
            .record
            .id,
        i.id
    );

    let mut reflected = Intention::new("Forgive my father", s.id).unwrap();
    reflected.reflection = Some(Reflection {
        how_it_went: "A wave of tenderness".into(),
        carry_forward: "Call him on Sundays".into(),
    });
    f.store.update(i.id, reflected.into()).unwrap();
    assert_eq!(
        f.store
            .search(&SearchQuery::new("tenderness"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.store.search(&SearchQuery::new("sundays")).unwrap().len(),
        1
    );

    let e = f
        .store
        .create(entry("butterflies everywhere", Phase::Dosing))
        .unwrap();
    f.store
        .update(e.id, entry("only moths now", Phase::Dosing))
        .unwrap();
    assert!(
        f.store
            .search(&SearchQuery::new("butterflies"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.store.search(&SearchQuery::new("moths")).unwrap().len(), 1);
    // Check-ins are not searched.
    let mut m = MoodCheckIn::new(at(1, 1), 1, 1, 1).unwrap();
    m.note = Some("moths".into());
    f.store.create(m.into()).unwrap();
    assert_eq!(f.store.search(&SearchQuery::new("moths")).unwrap().len(), 1);
}

#[test]
fn search_queries_are_checked() {
    let f = fixture();
    for limit in [0, 101] {
        let q = SearchQuery {
            text: "x".into(),
            limit,
        };
        assert!(
            matches!(f.store.search(&q).unwrap_err(), StoreError::Invalid(i) if i.has("limit", "range"))
        );
    }
    let q = SearchQuery {
        text: "x".repeat(501),
        limit: 10,
    };
    assert!(
        matches!(f.store.search(&q).unwrap_err(), StoreError::Invalid(i) if i.has("text", "length"))
    );
    assert!(
        f.store
            .search(&SearchQuery {
                text: "x".repeat(500),
                limit: 100
            })
            .is_ok()
    );
}

// ---- outbox ----

#[test]
fn every_write_is_queued_in_order() {
    let f = fixture();
    let created = one_of_each(&f.store);
    let e = &created[1];
    f.store
        .update(e.id, entry("changed", Phase::Dosing))
        .unwrap();
    f.store.delete(e.id).unwrap();

    let changes = f.store.pending_changes(100).unwrap();
    assert_eq!(changes.len(), created.len() + 2);
    let numbers: Vec<u64> = changes.iter().map(|c| c.mutation_id.0).collect();
    assert_eq!(numbers, (1..=changes.len() as u64).collect::<Vec<_>>());
    assert!(
        changes.windows(2).all(|w| w[0].hlc < w[1].hlc),
        "stamps rise in order"
    );
    for (change, record) in changes.iter().zip(&created) {
        assert_eq!(change.op, ChangeOp::Upsert);
        assert_eq!(change.record_id, record.id);
        assert_eq!(change.body.as_ref(), Some(&record.body));
        assert_eq!(change.hlc, record.hlc);
    }
    assert_eq!(
        changes[created.len()].body,
        Some(entry("changed", Phase::Dosing))
    );
    assert_eq!(changes[created.len() + 1].op, ChangeOp::Delete);

    assert_eq!(f.store.pending_changes(2).unwrap().len(), 2);
    assert!(matches!(
        f.store.pending_changes(0).unwrap_err(),
        StoreError::Invalid(_)
    ));
    assert!(matches!(
        f.store.pending_changes(1001).unwrap_err(),
        StoreError::Invalid(_)
    ));
}

#[test]
fn acknowledged_changes_leave_and_numbers_are_never_reused() {
    let f = fixture();
    for n in 0..5 {
        f.store
            .create(entry(&format!("entry {n}"), Phase::Integration))
            .unwrap();
    }
    assert_eq!(f.store.acknowledge_changes(MutationId(3)).unwrap(), 3);
    assert_eq!(
        f.store.acknowledge_changes(MutationId(3)).unwrap(),
        0,
        "twice is harmless"
    );
    let left: Vec<u64> = f
        .store
        .pending_changes(10)
        .unwrap()
        .iter()
        .map(|c| c.mutation_id.0)
        .collect();
    assert_eq!(left, vec![4, 5]);
    f.store.acknowledge_changes(MutationId(u64::MAX)).unwrap();
    assert_eq!(f.store.pending_change_count().unwrap(), 0);
    // The acknowledgement is not flushed on its own; every other write is.
    #[derive(QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let mode = diesel::sql_query("PRAGMA synchronous")
        .get_result::<Synchronous>(&mut f.store.lock().conn)
        .unwrap();
    assert_eq!(mode.synchronous, 2, "FULL again after an acknowledgement");

    drop(f.store);
    let store = JournalStore::open(&f.path).unwrap();
    store
        .create(entry("after a restart", Phase::Integration))
        .unwrap();
    assert_eq!(
        store.pending_changes(10).unwrap()[0].mutation_id,
        MutationId(6)
    );
}

// ---- identity and clock ----

#[test]
fn device_id_and_clock_survive_restarts_and_clock_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let wall = ManualClock::at(1_800_000_000_000);
    let store = JournalStore::open_with_clock(&path, Arc::new(wall.clone())).unwrap();
    let device = store.device_id();
    let first = store.create(entry("one", Phase::Dosing)).unwrap();
    drop(store);

    wall.set(1_000_000_000_000); // set back by years while the app was closed
    let store = JournalStore::open_with_clock(&path, Arc::new(wall.clone())).unwrap();
    assert_eq!(store.device_id(), device);
    let second = store.create(entry("two", Phase::Dosing)).unwrap();
    assert!(second.hlc > first.hlc, "edits keep their order");
    assert_eq!(
        second.created_at,
        Utc.timestamp_millis_opt(1_000_000_000_000).unwrap()
    );

    let other = JournalStore::open(dir.path().join("other.db")).unwrap();
    assert_ne!(other.device_id(), device);
}

#[test]
fn threads_can_share_one_store() {
    let f = fixture();
    let store = Arc::new(f.store);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..25 {
                    store
                        .create(entry(&format!("thread {t} entry {n}"), Phase::Integration))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.pending_change_count().unwrap(), 100);
    let q = ListQuery {
        limit: Some(200),
        ..ListQuery::all()
    };
    assert_eq!(store.list(&q).unwrap().records.len(), 100);
}

// ---- schema ----

#[derive(QueryableByName, Debug, PartialEq)]
struct SchemaObject {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    sql: Option<String>,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Indexed {
    #[diesel(sql_type = BigInt)]
    rowid: i64,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    body: String,
}

fn schema_of(path: &Path) -> (Vec<SchemaObject>, i32, Vec<String>) {
    #[derive(QueryableByName)]
    struct AppId {
        #[diesel(sql_type = Integer)]
        application_id: i32,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let objects =
        diesel::sql_query("SELECT type AS kind, name, sql FROM sqlite_master ORDER BY type, name")
            .load(&mut conn)
            .unwrap();
    let app = diesel::sql_query("PRAGMA application_id")
        .get_result::<AppId>(&mut conn)
        .unwrap()
        .application_id;
    let mut versions: Vec<String> =
        MigrationHarness::<diesel::sqlite::Sqlite>::applied_migrations(&mut conn)
            .unwrap()
            .into_iter()
            .map(|v| v.to_string())
            .collect();
    versions.sort();
    (objects, app, versions)
}

fn index_of(path: &Path) -> Vec<Indexed> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("SELECT rowid, title, body FROM search_index ORDER BY rowid")
        .load(&mut conn)
        .unwrap()
}

#[test]
fn upgrade_from_first_schema_equals_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");

    // A journal as the first release left it, with writing in it.
    let session_id = RecordId::new();
    let entry_id = RecordId::new();
    let intention_id = RecordId::new();
    let mut e = JournalEntry::new("The garden was alive", Phase::Dosing).unwrap();
    e.title = Some("Garden".into());
    let mut i = Intention::new("Notice beauty", session_id).unwrap();
    i.reflection = Some(Reflection {
        how_it_went: "Petals".into(),
        carry_forward: "Walks".into(),
    });
    let s = DosingSession::new(at(2, 10), Route::Intramuscular).unwrap();
    {
        let mut conn = SqliteConnection::establish(old.to_str().unwrap()).unwrap();
        conn.batch_execute(&format!(
            "PRAGMA application_id = {};",
            open::JOURNAL_APPLICATION_ID
        ))
        .unwrap();
        conn.run_next_migration(open::MIGRATIONS).unwrap();
        for (seq, id, kind, body) in [
            (
                1,
                session_id,
                "dosingSession",
                RecordBody::from(s.clone()).to_json().unwrap(),
            ),
            (
                2,
                entry_id,
                "journalEntry",
                RecordBody::from(e.clone()).to_json().unwrap(),
            ),
            (
                3,
                intention_id,
                "intention",
                RecordBody::from(i.clone()).to_json().unwrap(),
            ),
        ] {
            diesel::sql_query(
                "INSERT INTO records (seq, id, kind, occurred_at, created_at, updated_at, hlc, body) \
                 VALUES (?, ?, ?, 0, 0, 0, ?, ?)",
            )
            .bind::<BigInt, _>(seq)
            .bind::<Text, _>(id.to_string())
            .bind::<Text, _>(kind)
            .bind::<BigInt, _>(seq << 16)
            .bind::<Text, _>(body)
            .execute(&mut conn)
            .unwrap();
        }
    }
    let upgraded = JournalStore::open(&old).unwrap();
    let fresh_path = dir.path().join("fresh.db");
    let fresh = JournalStore::open(&fresh_path).unwrap();
    let created = fresh.create_many(vec![s.into()]).unwrap();
    let mut i_fresh = i.clone();
    i_fresh.dosing_session_id = created[0].id;
    fresh.create_many(vec![e.into(), i_fresh.into()]).unwrap();
    drop(upgraded);
    drop(fresh);

    assert_eq!(
        schema_of(&old),
        schema_of(&fresh_path),
        "same tables, indexes, id and migrations"
    );
    assert_eq!(
        index_of(&old),
        index_of(&fresh_path),
        "same search index content"
    );

    // And the writing from before the upgrade is found.
    let upgraded = JournalStore::open(&old).unwrap();
    assert_eq!(
        upgraded.search(&SearchQuery::new("petals")).unwrap()[0]
            .record
            .id,
        intention_id
    );
    assert_eq!(
        upgraded.search(&SearchQuery::new("garden")).unwrap()[0]
            .record
            .id,
        entry_id
    );
}

// ---- files that are not journals ----

fn assert_refused_untouched(path: &Path) {
    let before = std::fs::read(path).unwrap();
    let err = JournalStore::open(path).unwrap_err();
    assert!(matches!(err, StoreError::NotAJournal { .. }), "{err:?}");
    assert!(err.to_string().contains("not a journal database"), "{err}");
    assert!(
        std::fs::read(path).unwrap() == before,
        "{} was changed",
        path.display()
    );
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(
        &notes,
        "my precious notes, not a database at all\n".repeat(100),
    )
    .unwrap();
    assert_refused_untouched(&notes);

    let short = dir.path().join("short");
    std::fs::write(&short, b"SQLite").unwrap();
    assert_refused_untouched(&short);

    // A SQLite header on garbage.
    let fake = dir.path().join("fake.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xAB, 4096));
    std::fs::write(&fake, &bytes).unwrap();
    assert_refused_untouched(&fake);

    let err = JournalStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::NotAJournal { .. }),
        "a directory: {err:?}"
    );
}

#[test]
fn another_applications_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs.db");
    {
        let mut conn = SqliteConnection::establish(theirs.to_str().unwrap()).unwrap();
        conn.batch_execute(
            "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada');",
        )
        .unwrap();
    }
    assert_refused_untouched(&theirs);

    let tagged = dir.path().join("tagged.db");
    {
        let mut conn = SqliteConnection::establish(tagged.to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA application_id = 1234;").unwrap();
    }
    assert_refused_untouched(&tagged);
}

#[test]
fn a_journal_from_a_newer_app_is_refused() {
    let f = fixture();
    drop(f.store);
    {
        let mut conn = SqliteConnection::establish(f.path.to_str().unwrap()).unwrap();
        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000');",
        )
        .unwrap();
    }
    let err = JournalStore::open(&f.path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NewerSchema { version, .. } if version == "29991231000000"),
        "{err:?}"
    );
}

#[test]
fn an_empty_file_and_odd_names_become_journals() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    JournalStore::open(&empty)
        .unwrap()
        .create(entry("hello", Phase::Dosing))
        .unwrap();
    assert_eq!(
        JournalStore::open(&empty)
            .unwrap()
            .list(&ListQuery::all())
            .unwrap()
            .records
            .len(),
        1
    );

    // A relative name SQLite would otherwise read as "in memory".
    let cwd = std::env::current_dir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let result = JournalStore::open(":memory:").map(|s| s.path().to_owned());
    std::env::set_current_dir(cwd).unwrap();
    result.unwrap();
    assert!(dir.path().join(":memory:").exists());
}

#[test]
fn a_revoked_share_is_not_granted_again_on_the_phone() {
    let f = fixture();
    let therapist = uuid::Uuid::now_v7();
    let mut share = Share::kinds(therapist, vec![RecordKind::MoodCheckIn]).unwrap();
    let made = f.store.create(share.clone().into()).unwrap();
    share.revoked = true;
    let revoked = f.store.update(made.id, share.clone().into()).unwrap();
    let mut again = share.clone();
    again.revoked = false;
    let err = f.store.update(made.id, again.into()).unwrap_err();
    assert!(matches!(err, StoreError::ShareRevoked(_)), "{err:?}");
    assert!(err.to_string().contains("make a new share"), "{err}");
    assert_eq!(f.store.get(made.id).unwrap(), revoked, "nothing changed");
    // The same content is no change; deleting it stays allowed.
    assert_eq!(f.store.update(made.id, share.into()).unwrap(), revoked);
    f.store.delete(made.id).unwrap();
}

#[test]
fn implausible_moments_are_refused_on_the_phone() {
    let f = fixture();
    let far = Utc.with_ymd_and_hms(3000, 1, 1, 0, 0, 0).unwrap();
    let err = f
        .store
        .create(MoodCheckIn::new(far, 5, 5, 5).unwrap().into())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.has("recordedAt", "plausible_time")),
        "{err:?}"
    );
    let fine = f
        .store
        .create(MoodCheckIn::new(at(2, 8), 5, 5, 5).unwrap().into())
        .unwrap();
    let moved = MoodCheckIn::new(far, 5, 5, 5).unwrap();
    assert!(f.store.update(fine.id, moved.into()).is_err());
    assert_eq!(f.store.get(fine.id).unwrap(), fine, "nothing changed");
}

#[test]
fn a_deleted_entry_leaves_no_readable_text_in_the_files() {
    let f = fixture();
    let words = "Qzv-9 the orchard behind my grandmother's house";
    let made = f.store.create(entry(words, Phase::Integration)).unwrap();
    // Synced (the outbox no longer holds the text), then deleted.
    let pending = f.store.pending_changes(100).unwrap();
    f.store
        .acknowledge_changes(pending.last().unwrap().mutation_id)
        .unwrap();
    let readable = |path: &Path| {
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-journal"] {
            let mut other = path.as_os_str().to_owned();
            other.push(suffix);
            files.push(other.into());
        }
        files
            .iter()
            .filter_map(|f| std::fs::read(f).ok())
            .any(|bytes| {
                ["Qzv-9", "orchard"]
                    .iter()
                    .any(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            })
    };
    assert!(readable(&f.path), "the test must see the text before");
    f.store.delete(made.id).unwrap();
    assert!(
        !readable(&f.path),
        "deleted text is still readable in the journal's files"
    );
}

#[test]
fn an_entry_unlinked_from_its_session_leaves_the_session_list() {
    let f = fixture();
    let s = f.store.create(session(2)).unwrap();
    let mut e = JournalEntry::new("Afterwards, quiet.", Phase::Integration).unwrap();
    e.dosing_session_id = Some(s.id);
    let linked = f.store.create(e.clone().into()).unwrap();
    let by_session = |store: &JournalStore| {
        let q = ListQuery {
            dosing_session_id: Some(s.id),
            ..ListQuery::all()
        };
        let mut ids: Vec<_> = store
            .list(&q)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![s.id, linked.id];
    both.sort();
    assert_eq!(by_session(&f.store), both);
    e.dosing_session_id = None;
    f.store.update(linked.id, e.into()).unwrap();
    assert_eq!(
        by_session(&f.store),
        vec![s.id],
        "unlinked, it is no longer listed"
    );
    assert_eq!(
        raw_count(
            &f.path,
            "SELECT COUNT(*) AS n FROM records WHERE dosing_session_id IS NOT NULL"
        ),
        1
    );
}
