//! Sync: push and pull round trips for every kind; replays answered as the
//! first time and changing nothing; rejected mutations that hold up nothing;
//! owners and devices kept apart; concurrent edits of entries (both texts
//! kept), delete against edit, intentions merged field by field; pull
//! pagination; edits made through the REST API; bad requests. Each test on
//! SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use chrono::{DateTime, SecondsFormat};
use common::*;
use diesel::prelude::*;
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, RecordId};
use journal_server::store::StoreError;
use journal_server::store::schema::{mutation_outcomes, owner_versions, record_revisions, records};
use serde_json::{Value, json};

const PUSH: &str = "/api/v1/sync/push";
const PULL: &str = "/api/v1/sync/pull";
const RECORDS: &str = "/api/v1/records";

/// The wall clock of tick 0, in milliseconds; tick `n` is `n` seconds later.
const EPOCH_MILLIS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const CREATED_AT: &str = "2026-01-01T00:00:00Z";

/// The clock stamp of a tick.
fn hlc(tick: u64) -> String {
    Hlc::new(EPOCH_MILLIS + tick * 1_000, 0).to_string()
}

/// The wall-clock time of a tick, as JSON writes it.
fn time(tick: u64) -> String {
    let millis = i64::try_from(EPOCH_MILLIS + tick * 1_000).unwrap();
    DateTime::from_timestamp_millis(millis)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn new_id() -> String {
    RecordId::new().to_string()
}

fn new_device() -> String {
    DeviceId::new().to_string()
}

/// An upsert of `content` (`{"kind", "body"}`) made at `tick` on the
/// version stamped `base`.
fn upsert(mutation: u64, record: &str, tick: u64, base: Option<u64>, content: &Value) -> Value {
    let mut m = json!({
        "mutationId": mutation, "recordId": record, "kind": content["kind"], "op": "upsert",
        "hlc": hlc(tick), "createdAt": CREATED_AT, "updatedAt": time(tick),
        "body": content["body"],
    });
    if let Some(base) = base {
        m["baseHlc"] = json!(hlc(base));
    }
    m
}

/// A delete made at `tick` on the version stamped `base`.
fn delete(mutation: u64, record: &str, kind: &str, tick: u64, base: Option<u64>) -> Value {
    let mut m = json!({
        "mutationId": mutation, "recordId": record, "kind": kind, "op": "delete",
        "hlc": hlc(tick), "createdAt": CREATED_AT, "updatedAt": time(tick),
    });
    if let Some(base) = base {
        m["baseHlc"] = json!(hlc(base));
    }
    m
}

fn changed(mut mutation: Value, fields: &[&str]) -> Value {
    mutation["changedFields"] = json!(fields);
    mutation
}

fn batch(device: &str, mutations: Vec<Value>) -> Value {
    json!({"deviceId": device, "mutations": mutations})
}

fn push(token: &str, body: &Value) -> TestRequest {
    authed(TestRequest::post().uri(PUSH).set_json(body), token)
}

fn pull(token: &str, query: &str) -> TestRequest {
    authed(TestRequest::get().uri(&format!("{PULL}?{query}")), token)
}

fn revisions_of(token: &str, record: &str) -> TestRequest {
    authed(
        TestRequest::get().uri(&format!("{RECORDS}/{record}/revisions")),
        token,
    )
}

fn entry(text: &str) -> Value {
    json!({"kind": "journalEntry", "body": {"body": text, "phase": "integration", "tags": []}})
}

fn session(at: &str) -> Value {
    json!({"kind": "dosingSession",
           "body": {"scheduledAt": at, "route": "intravenous", "status": "planned"}})
}

fn intention(text: &str, session: &str) -> Value {
    json!({"kind": "intention", "body": {"text": text, "dosingSessionId": session, "status": "open"}})
}

fn check_in(at: &str, mood: u8) -> Value {
    json!({"kind": "moodCheckIn",
           "body": {"recordedAt": at, "mood": mood, "anxiety": 4, "energy": 6, "emotions": []}})
}

/// (mutationId, status, conflict) of each outcome of a push reply.
fn outcomes(reply: &Reply) -> Vec<(u64, String, bool)> {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["mutationId"].as_u64().unwrap(),
                o["status"].as_str().unwrap().to_owned(),
                o["conflict"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn applied(id: u64, conflict: bool) -> (u64, String, bool) {
    (id, "applied".to_owned(), conflict)
}

fn rejected(id: u64) -> (u64, String, bool) {
    (id, "rejected".to_owned(), false)
}

/// Pulls every change after `since`, page by page; returns the changes
/// and the pages' sizes.
async fn pull_all<S, B>(app: &S, token: &str, since: u64, limit: u32) -> (Vec<Value>, Vec<usize>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut cursor = since;
    let mut changes = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = call(app, pull(token, &format!("since={cursor}&limit={limit}"))).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let got = page.body["changes"].as_array().unwrap().clone();
        sizes.push(got.len());
        let next = page.body["cursor"].as_u64().unwrap();
        let last = got
            .last()
            .map_or(cursor, |c| c["version"].as_u64().unwrap());
        if page.body["hasMore"].as_bool().unwrap() {
            assert_eq!(
                next, last,
                "a page followed by more ends at its last change"
            );
        } else {
            // The last page may move the cursor past versions drawn and
            // left unused, never back.
            assert!(next >= last, "cursor {next} before the last change {last}");
        }
        changes.extend(got);
        cursor = next;
        if !page.body["hasMore"].as_bool().unwrap() {
            return (changes, sizes);
        }
    }
}

/// The records as the pulled changes leave them, by id.
fn current(changes: &[Value]) -> BTreeMap<String, Value> {
    let mut records = BTreeMap::new();
    for change in changes.iter().filter(|c| c["type"] == "record") {
        let record = &change["record"];
        records.insert(record["id"].as_str().unwrap().to_owned(), record.clone());
    }
    records
}

/// The pulled revisions.
fn revisions(changes: &[Value]) -> Vec<Value> {
    changes
        .iter()
        .filter(|c| c["type"] == "revision")
        .map(|c| c["revision"].clone())
        .collect()
}

/// The owner's write counter, `None` before their first write.
async fn owner_version(server: &TestServer, owner: &str) -> Option<i64> {
    let owner = owner.to_owned();
    server
        .state
        .db
        .run(move |conn| -> Result<Option<i64>, StoreError> {
            Ok(owner_versions::table
                .find(owner)
                .select(owner_versions::version)
                .first(conn)
                .optional()?)
        })
        .await
        .unwrap()
}

type RowSnapshot = (
    String,
    String,
    bool,
    String,
    i64,
    i64,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

/// Everything stored of the owner's records and revisions.
async fn snapshot(
    server: &TestServer,
    owner: &str,
) -> (Vec<RowSnapshot>, Vec<(String, String, i64)>) {
    let owner = owner.to_owned();
    server
        .state
        .db
        .run(move |conn| -> Result<_, StoreError> {
            let rows: Vec<RowSnapshot> = records::table
                .filter(records::owner_id.eq(&owner))
                .order(records::id)
                .select((
                    records::id,
                    records::kind,
                    records::deleted,
                    records::body,
                    records::hlc,
                    records::version,
                    records::origin_device,
                    records::field_stamps,
                    records::created_at,
                    records::updated_at,
                    records::created_hlc,
                    records::created_device,
                ))
                .load(conn)?;
            let revisions: Vec<(String, String, i64)> = record_revisions::table
                .filter(record_revisions::owner_id.eq(&owner))
                .order(record_revisions::id)
                .select((
                    record_revisions::id,
                    record_revisions::body,
                    record_revisions::version,
                ))
                .load(conn)?;
            Ok((rows, revisions))
        })
        .await
        .unwrap()
}

/// The version a record's row was last stamped with.
async fn row_version(server: &TestServer, id: &str) -> i64 {
    let id = id.to_owned();
    server
        .state
        .db
        .run(move |conn| -> Result<i64, StoreError> {
            Ok(records::table
                .find(id)
                .select(records::version)
                .first(conn)?)
        })
        .await
        .unwrap()
}

/// The mutation ids whose outcomes are kept for a device.
async fn kept_outcomes(server: &TestServer, device: &str) -> Vec<i64> {
    let device = device.to_owned();
    server
        .state
        .db
        .run(move |conn| -> Result<Vec<i64>, StoreError> {
            Ok(mutation_outcomes::table
                .filter(mutation_outcomes::device_id.eq(device))
                .order(mutation_outcomes::mutation_id)
                .select(mutation_outcomes::mutation_id)
                .load(conn)?)
        })
        .await
        .unwrap()
}

/// The record as pull should send it, live.
fn state_of(id: &str, content: &Value, created_at: &str, tick: u64) -> Value {
    json!({
        "id": id, "kind": content["kind"], "createdAt": created_at, "updatedAt": time(tick),
        "hlc": hlc(tick), "deleted": false, "body": content["body"],
    })
}

on_both_backends! {
    async fn pushed_records_of_every_kind_are_pulled_as_pushed(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "ana@example.org").await);
        let device = new_device();
        let (s, i, e, linked, m, a, p, gone) =
            (new_id(), new_id(), new_id(), new_id(), new_id(), new_id(), new_id(), new_id());
        let contents = [
            (s.clone(), session("2026-01-10T10:00:00Z")),
            (i.clone(), intention("Stay curious", &s)),
            (e.clone(), json!({"kind": "journalEntry", "body": {"title": "Light",
                "body": "I noticed the light.", "phase": "integration", "tags": ["calm"]}})),
            // Sync does not check the session a record links to: it may
            // have been deleted on another device.
            (linked.clone(), json!({"kind": "journalEntry", "body": {"body": "About that day",
                "phase": "dosing", "tags": [], "dosingSessionId": new_id()}})),
            (m.clone(), json!({"kind": "moodCheckIn", "body": {"recordedAt": "2026-01-02T08:00:00Z",
                "mood": 5, "anxiety": 4, "energy": 6, "sleepHours": 7.5, "emotions": ["tired"],
                "note": "slept badly"}})),
            (a.clone(), json!({"kind": "assessment", "body": {"instrument": "phq9",
                "takenAt": "2026-01-03T09:00:00Z", "answers": [1, 1, 2, 0, 0, 1, 2, 0, 0]}})),
            (p.clone(), json!({"kind": "exercisePractice", "body": {"exerciseId": "five-senses",
                "practicedAt": "2026-01-04T20:00:00Z", "stepsCompleted": 2, "distressBefore": 6,
                "distressAfter": 3}})),
        ];
        let mut mutations: Vec<Value> = contents
            .iter()
            .enumerate()
            .map(|(n, (id, content))| upsert(n as u64 + 1, id, n as u64 + 1, None, content))
            .collect();
        // Made and deleted before the device ever pushed.
        mutations.push(upsert(8, &gone, 8, None, &check_in("2026-01-05T08:00:00Z", 3)));
        mutations.push(delete(9, &gone, "moodCheckIn", 9, Some(8)));
        let reply = call(&app, push(&t, &batch(&device, mutations))).await;
        assert_eq!(outcomes(&reply), (1..=9).map(|n| applied(n, false)).collect::<Vec<_>>());
        assert_eq!(reply.body["lastAppliedMutation"], 9);
        assert!(reply.body["results"].as_array().unwrap().iter().all(|o| o.get("problem").is_none()));

        let (changes, sizes) = pull_all(&app, &t, 0, 500).await;
        assert_eq!(sizes, vec![8]);
        let versions: Vec<u64> = changes.iter().map(|c| c["version"].as_u64().unwrap()).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "version order: {versions:?}");
        let records = current(&changes);
        assert_eq!(records.len(), 8);
        for (n, (id, content)) in contents.iter().enumerate() {
            let tick = n as u64 + 1;
            assert_eq!(records[id], state_of(id, content, CREATED_AT, tick), "{}", content["kind"]);
        }
        let tombstone = &records[&gone];
        assert_eq!(tombstone["deleted"], true);
        assert_eq!(tombstone["hlc"], hlc(9));
        assert!(tombstone.get("body").is_none(), "a tombstone has no body: {tombstone}");
        assert!(revisions(&changes).is_empty());

        // What was pushed is the REST API's too.
        let read = call(&app, authed(TestRequest::get().uri(&format!("{RECORDS}/{e}")), &t)).await;
        assert_eq!(read.status, 200, "{:?}", read.body);
        assert_eq!(read.body["body"], contents[2].1["body"]);
        assert_eq!(read.body["hlc"], hlc(3));
        let listed = call(&app, authed(TestRequest::get().uri(RECORDS), &t)).await;
        assert_eq!(listed.body["records"].as_array().unwrap().len(), 7, "tombstones are not listed");
        call(&app, authed(TestRequest::get().uri(&format!("{RECORDS}/{gone}")), &t)).await
            .assert_problem(404, "not-found");

        // Nothing after the last version.
        let cursor = versions.last().copied().unwrap();
        let (after, _) = pull_all(&app, &t, cursor, 500).await;
        assert!(after.is_empty());
    }

    async fn a_device_whose_numbering_went_back_is_told_to_renew(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "rewind@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        let device = new_device();
        let (a, b, c) = (new_id(), new_id(), new_id());
        let first = batch(&device, vec![
            upsert(1, &a, 1, None, &entry("before the backup")),
            upsert(2, &b, 2, None, &entry("after the backup")),
        ]);
        assert_eq!(call(&app, push(&t, &first)).await.status, 200);
        let before = snapshot(&server, &me).await;
        // Restored from a backup taken after mutation 1: the phone numbers
        // its next change 2 again, for another record.
        let restored = batch(&device, vec![upsert(2, &c, 3, None, &entry("written after the restore"))]);
        let reply = call(&app, push(&t, &restored)).await;
        reply.assert_problem(409, "device-rewound");
        assert_eq!(snapshot(&server, &me).await, before, "nothing written");
        // Under a new device id the same change is new, and applied.
        let renewed = batch(&new_device(), vec![upsert(1, &c, 3, None, &entry("written after the restore"))]);
        let reply = call(&app, push(&t, &renewed)).await;
        assert_eq!(outcomes(&reply), vec![applied(1, false)]);
    }

    async fn the_last_page_moves_the_cursor_past_unused_versions(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "cy@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        let device = new_device();
        let (e1, e2, e3) = (new_id(), new_id(), new_id());
        // Two versions drawn per mutation, one used: the counter stands
        // above the last change.
        let answer = call(&app, push(&t, &batch(&device, vec![
            upsert(1, &e1, 1, None, &entry("one")),
            upsert(2, &e2, 2, None, &entry("two")),
        ]))).await;
        assert_eq!(outcomes(&answer), vec![applied(1, false), applied(2, false)]);
        assert_eq!(owner_version(&server, &me).await, Some(4));
        assert_eq!(row_version(&server, &e2).await, 2);

        // A page followed by more ends at its last change; the last page
        // ends at the counter.
        let first = call(&app, pull(&t, "since=0&limit=1")).await;
        assert_eq!(first.body["hasMore"], true);
        assert_eq!(first.body["cursor"], 1);
        let second = call(&app, pull(&t, "since=1&limit=1")).await;
        assert_eq!(second.body["changes"][0]["version"], 2);
        assert_eq!(second.body["hasMore"], false);
        assert_eq!(second.body["cursor"], 4);
        // From the counter: nothing new, the cursor stays.
        let idle = call(&app, pull(&t, "since=4")).await;
        assert_eq!(idle.body["changes"], json!([]));
        assert_eq!(idle.body["cursor"], 4);
        // From below it, past every change: an empty page, up to the counter.
        let gap = call(&app, pull(&t, "since=2")).await;
        assert_eq!(gap.body["changes"], json!([]));
        assert_eq!(gap.body["cursor"], 4);

        // The next change lies above the counter, so a device at the counter
        // gets it.
        let more = call(&app, push(&t, &batch(&device, vec![
            upsert(3, &e3, 3, None, &entry("three")),
        ]))).await;
        assert_eq!(outcomes(&more), vec![applied(3, false)]);
        let next = call(&app, pull(&t, "since=4")).await;
        let changes = next.body["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["record"]["id"], e3.as_str());
        assert_eq!(changes[0]["version"], 5);
        assert_eq!(next.body["cursor"], 6);
        // A patient who never wrote pulls nothing, the cursor where it was.
        let other = register(&app, "di@example.org").await;
        let nothing = call(&app, pull(&token(&other), "since=0")).await;
        assert_eq!(nothing.body["changes"], json!([]));
        assert_eq!(nothing.body["cursor"], 0);
    }

    async fn a_replayed_push_answers_the_same_and_changes_nothing(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "bo@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        let device = new_device();
        let (e1, bad, e2) = (new_id(), new_id(), new_id());
        let first = batch(&device, vec![
            upsert(1, &e1, 1, None, &entry("one")),
            upsert(2, &bad, 2, None, &check_in("2026-01-02T08:00:00Z", 11)),
            upsert(3, &e2, 3, None, &entry("two")),
        ]);
        let answer = call(&app, push(&t, &first)).await;
        assert_eq!(outcomes(&answer), vec![applied(1, false), rejected(2), applied(3, false)]);
        // A block of two versions per mutation: a record and a revision.
        assert_eq!(owner_version(&server, &me).await, Some(6));
        let before = snapshot(&server, &me).await;

        for _ in 0..2 {
            let again = call(&app, push(&t, &first)).await;
            assert_eq!(again.status, 200, "{:?}", again.body);
            assert_eq!(again.body, answer.body, "answered as the first time");
            assert_eq!(owner_version(&server, &me).await, Some(6), "no version bumped");
            assert_eq!(snapshot(&server, &me).await, before, "nothing written");
        }

        // Replays and a new mutation in one push: only the new one counts.
        let edit = upsert(4, &e1, 4, Some(1), &entry("one, edited"));
        let mixed = batch(&device, vec![
            upsert(2, &bad, 2, None, &check_in("2026-01-02T08:00:00Z", 11)),
            // A replay (the same change: record and stamp) is answered from
            // what was stored, whatever its content says now.
            upsert(3, &e2, 3, None, &entry("never applied")),
            edit.clone(),
        ]);
        let reply = call(&app, push(&t, &mixed)).await;
        assert_eq!(reply.body["results"][0], answer.body["results"][1]);
        assert_eq!(reply.body["results"][1], answer.body["results"][2]);
        assert_eq!(outcomes(&reply)[2], applied(4, false));
        assert_eq!(reply.body["lastAppliedMutation"], 4);
        assert_eq!(owner_version(&server, &me).await, Some(12));
        assert_eq!(row_version(&server, &e1).await, 7, "the block's versions, in order");
        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        let records = current(&changes);
        assert_eq!(records[&e2]["body"]["body"], "two");
        assert_eq!(records[&e1]["body"]["body"], "one, edited");
        assert!(!records.contains_key(&bad));

        let before = snapshot(&server, &me).await;
        let again = call(&app, push(&t, &batch(&device, vec![edit]))).await;
        assert_eq!(again.body["results"][0], reply.body["results"][2]);
        assert_eq!(snapshot(&server, &me).await, before);
        assert_eq!(owner_version(&server, &me).await, Some(12));

        // Outcomes are kept for good: a replay of an old mutation, long
        // after newer pushes, still answers what it got the first time.
        assert_eq!(kept_outcomes(&server, &device).await, vec![1, 2, 3, 4]);
        let fifth = call(&app, push(&t, &batch(&device, vec![upsert(5, &new_id(), 5, None, &entry("five"))]))).await;
        assert_eq!(outcomes(&fifth), vec![applied(5, false)]);
        assert_eq!(kept_outcomes(&server, &device).await, vec![1, 2, 3, 4, 5]);
        let old = call(&app, push(&t, &batch(&device, vec![upsert(2, &bad, 2, None, &check_in("2026-01-02T08:00:00Z", 11))]))).await;
        assert_eq!(outcomes(&old), vec![rejected(2)]);
        assert_eq!(old.body["lastAppliedMutation"], 5);
    }

    async fn a_rejected_mutation_holds_up_nothing_and_says_why(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "cy@example.org").await);
        let device = new_device();
        let (bad, unreadable, bodiless, good, other_kind) = (new_id(), new_id(), new_id(), new_id(), new_id());
        let mut no_body = upsert(3, &bodiless, 3, None, &entry("x"));
        no_body.as_object_mut().unwrap().remove("body");
        let mutations = vec![
            upsert(1, &bad, 1, None, &check_in("2026-01-02T08:00:00Z", 11)),
            upsert(2, &unreadable, 2, None, &json!({"kind": "journalEntry",
                "body": {"body": "x", "phase": "integration", "ownerId": "me"}})),
            no_body,
            upsert(4, &good, 4, None, &entry("kept")),
            // The record is an entry: it cannot become a check-in.
            upsert(5, &good, 5, Some(4), &check_in("2026-01-02T08:00:00Z", 5)),
            upsert(6, &other_kind, 6, None, &entry("also kept")),
            // Too many changed fields to be real.
            changed(upsert(7, &new_id(), 7, None, &entry("x")),
                &(0..40).map(|_| "body").collect::<Vec<_>>()),
        ];
        let reply = call(&app, push(&t, &batch(&device, mutations))).await;
        assert_eq!(outcomes(&reply), vec![
            rejected(1), rejected(2), rejected(3), applied(4, false), rejected(5), applied(6, false),
            rejected(7),
        ]);
        assert_eq!(reply.body["lastAppliedMutation"], 7);
        let results = reply.body["results"].as_array().unwrap();
        let invalid = &results[0]["problem"];
        assert_eq!(invalid["type"], "urn:kap-journal:problem:validation");
        assert_eq!(invalid["errors"][0]["field"], "mood");
        assert_eq!(invalid["errors"][0]["rule"], "range");
        assert!(invalid["detail"].as_str().unwrap().contains("mood"), "{invalid}");
        let unknown = &results[1]["problem"];
        assert_eq!(unknown["type"], "urn:kap-journal:problem:bad-request");
        assert!(unknown["detail"].as_str().unwrap().contains("ownerId"), "{unknown}");
        assert!(unknown.get("errors").is_none());
        assert_eq!(results[2]["problem"]["type"], "urn:kap-journal:problem:bad-request");
        assert_eq!(results[4]["problem"]["type"], "urn:kap-journal:problem:conflict");
        assert_eq!(results[6]["problem"]["type"], "urn:kap-journal:problem:bad-request");
        assert!(results[3].get("problem").is_none());

        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        let records = current(&changes);
        assert_eq!(records.keys().cloned().collect::<Vec<_>>(), {
            let mut ids = vec![good.clone(), other_kind.clone()];
            ids.sort();
            ids
        });
        assert_eq!(records[&good]["kind"], "journalEntry");
        assert_eq!(records[&good]["body"]["body"], "kept");

        // Rejected mutations are not sent again; the device goes on.
        let next = call(&app, push(&t, &batch(&device, vec![upsert(8, &bad, 8, None, &check_in("2026-01-02T08:00:00Z", 9))]))).await;
        assert_eq!(outcomes(&next), vec![applied(8, false)]);
    }

    async fn another_patients_record_is_rejected_and_left_alone(server: TestServer) {
        let app = server.app().await;
        let ana = register(&app, "ana2@example.org").await;
        let (ta, ana_id) = (token(&ana), account_id(&ana));
        let bo = register(&app, "bo2@example.org").await;
        let (tb, bo_id) = (token(&bo), account_id(&bo));

        // One of Ana's records made by push, one through the API.
        let pushed = new_id();
        let reply = call(&app, push(&ta, &batch(&new_device(), vec![upsert(1, &pushed, 1, None, &entry("Ana's"))]))).await;
        assert_eq!(outcomes(&reply), vec![applied(1, false)]);
        let made = call(&app, authed(TestRequest::post().uri(RECORDS).set_json(entry("Ana's too")), &ta)).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let rest = made.body["id"].as_str().unwrap().to_owned();
        let ana_before = snapshot(&server, &ana_id).await;
        let ana_version = owner_version(&server, &ana_id).await;

        let mine = new_id();
        let attempts = batch(&new_device(), vec![
            upsert(1, &pushed, 50, None, &entry("Bo's now")),
            upsert(2, &pushed, 51, Some(1), &entry("Bo's now")),
            delete(3, &rest, "journalEntry", 52, None),
            upsert(4, &rest, 53, None, &check_in("2026-01-02T08:00:00Z", 5)),
            upsert(5, &mine, 54, None, &entry("Bo's own")),
        ]);
        let reply = call(&app, push(&tb, &attempts)).await;
        assert_eq!(outcomes(&reply), vec![rejected(1), rejected(2), rejected(3), rejected(4), applied(5, false)]);
        for result in &reply.body["results"].as_array().unwrap()[..4] {
            assert_eq!(result["problem"]["type"], "urn:kap-journal:problem:not-found", "{result}");
            assert_eq!(result["problem"]["detail"], "no such record", "{result}");
        }
        assert_eq!(snapshot(&server, &ana_id).await, ana_before, "Ana's rows untouched");
        assert_eq!(owner_version(&server, &ana_id).await, ana_version);
        let (bo_changes, _) = pull_all(&app, &tb, 0, 500).await;
        assert_eq!(current(&bo_changes).keys().cloned().collect::<Vec<_>>(), vec![mine.clone()]);
        let bo_rows = snapshot(&server, &bo_id).await.0;
        assert_eq!(bo_rows.len(), 1);
        // Nor can Bo read their revisions.
        call(&app, revisions_of(&tb, &pushed)).await.assert_problem(404, "not-found");
        call(&app, revisions_of(&tb, &new_id())).await.assert_problem(404, "not-found");
        call(&app, revisions_of(&tb, "not-a-uuid")).await.assert_problem(404, "not-found");
        let none = call(&app, revisions_of(&ta, &pushed)).await;
        assert_eq!(none.status, 200, "{:?}", none.body);
        assert_eq!(none.body, json!([]));
    }

    async fn another_patients_device_is_refused(server: TestServer) {
        let app = server.app().await;
        let ana = register(&app, "ana3@example.org").await;
        let ta = token(&ana);
        let bo = register(&app, "bo3@example.org").await;
        let (tb, bo_id) = (token(&bo), account_id(&bo));
        let device = new_device();
        let reply = call(&app, push(&ta, &batch(&device, vec![upsert(1, &new_id(), 1, None, &entry("x"))]))).await;
        assert_eq!(outcomes(&reply), vec![applied(1, false)]);

        for mutations in [
            vec![upsert(2, &new_id(), 2, None, &entry("y"))],
            // Even a replay of Ana's ids.
            vec![upsert(1, &new_id(), 1, None, &entry("y"))],
        ] {
            call(&app, push(&tb, &batch(&device, mutations))).await.assert_problem(403, "forbidden");
        }
        call(&app, pull(&tb, &format!("deviceId={device}"))).await.assert_problem(403, "forbidden");
        assert_eq!(owner_version(&server, &bo_id).await, None, "nothing written for Bo");
        assert!(snapshot(&server, &bo_id).await.0.is_empty());
        // Ana's device is still hers.
        let mine = call(&app, pull(&ta, &format!("deviceId={device}"))).await;
        assert_eq!(mine.body["lastAppliedMutation"], 1);
    }

    async fn concurrent_entry_edits_keep_both_texts(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "di@example.org").await);
        let (phone, tablet, laptop) = (new_device(), new_device(), new_device());
        let e = new_id();
        let made = call(&app, push(&t, &batch(&phone, vec![upsert(1, &e, 1, None, &entry("first draft"))]))).await;
        assert_eq!(outcomes(&made), vec![applied(1, false)]);
        // Both devices edit the first draft; the phone pushes first.
        let phone_edit = call(&app, push(&t, &batch(&phone, vec![upsert(2, &e, 3, Some(1), &entry("phone's text"))]))).await;
        assert_eq!(outcomes(&phone_edit), vec![applied(2, false)]);
        let tablet_edit = call(&app, push(&t, &batch(&tablet, vec![upsert(1, &e, 4, Some(1), &entry("tablet's text"))]))).await;
        assert_eq!(outcomes(&tablet_edit), vec![applied(1, true)], "met a concurrent edit");

        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        let records = current(&changes);
        assert_eq!(records[&e]["body"]["body"], "tablet's text", "the later stamp stays current");
        assert_eq!(records[&e]["hlc"], hlc(4));
        let kept = revisions(&changes);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["recordId"], e);
        assert_eq!(kept[0]["kind"], "journalEntry");
        assert_eq!(kept[0]["reason"], "conflict");
        assert_eq!(kept[0]["hlc"], hlc(3));
        assert_eq!(kept[0]["body"], entry("phone's text")["body"]);

        // An edit older than the current one, made on a stale version, is
        // kept as a revision instead; the current text stays.
        let late = call(&app, push(&t, &batch(&laptop, vec![upsert(1, &e, 2, Some(1), &entry("laptop's text"))]))).await;
        assert_eq!(outcomes(&late), vec![applied(1, true)]);
        let listed = call(&app, revisions_of(&t, &e)).await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        let bodies: Vec<&str> = listed.body.as_array().unwrap().iter()
            .map(|r| r["body"]["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, vec!["laptop's text", "phone's text"], "newest first");
        assert_eq!(listed.body[1], kept[0], "as pulled");
        let read = call(&app, authed(TestRequest::get().uri(&format!("{RECORDS}/{e}")), &t)).await;
        assert_eq!(read.body["body"]["body"], "tablet's text");

        // Facts are not kept as revisions: the later version wins whole.
        let m = new_id();
        call(&app, push(&t, &batch(&phone, vec![upsert(3, &m, 10, None, &check_in("2026-01-02T08:00:00Z", 3))]))).await;
        call(&app, push(&t, &batch(&phone, vec![upsert(4, &m, 12, Some(10), &check_in("2026-01-02T08:00:00Z", 4))]))).await;
        let fact = call(&app, push(&t, &batch(&tablet, vec![upsert(2, &m, 11, Some(10), &check_in("2026-01-02T08:00:00Z", 8))]))).await;
        assert_eq!(outcomes(&fact), vec![applied(2, true)]);
        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        assert_eq!(current(&changes)[&m]["body"]["mood"], 4);
        assert_eq!(revisions(&changes).len(), 2, "only the entry's texts");
    }

    async fn delete_against_edit_the_later_wins_and_text_is_kept(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "ed@example.org").await);
        let (phone, tablet) = (new_device(), new_device());
        let (a, b, c, d) = (new_id(), new_id(), new_id(), new_id());
        let created = call(&app, push(&t, &batch(&phone, vec![
            upsert(1, &a, 1, None, &entry("a")),
            upsert(2, &b, 1, None, &entry("b")),
            upsert(3, &c, 1, None, &entry("c")),
            upsert(4, &d, 1, None, &entry("d")),
        ]))).await;
        assert_eq!(outcomes(&created).len(), 4);

        // a: deleted, then an older edit from a device that had not seen
        // the delete. The delete stays; the edit's text is kept.
        // b: deleted, then a later edit: the edit brings the record back.
        let deletes = call(&app, push(&t, &batch(&phone, vec![
            delete(5, &a, "journalEntry", 3, Some(1)),
            delete(6, &b, "journalEntry", 2, Some(1)),
        ]))).await;
        assert_eq!(outcomes(&deletes), vec![applied(5, false), applied(6, false)]);
        // c: edited, then deleted by a device that never saw the edit, later:
        // deleted, and the edit's text kept.
        // d: edited, then deleted earlier by a device that never saw the
        // edit: the edit stays.
        let edits = call(&app, push(&t, &batch(&tablet, vec![
            upsert(1, &a, 2, Some(1), &entry("a, edited")),
            upsert(2, &b, 3, Some(1), &entry("b, edited")),
            upsert(3, &c, 2, Some(1), &entry("c, edited")),
            upsert(4, &d, 3, Some(1), &entry("d, edited")),
        ]))).await;
        assert_eq!(outcomes(&edits), vec![applied(1, true), applied(2, true), applied(3, false), applied(4, false)]);
        let late_deletes = call(&app, push(&t, &batch(&phone, vec![
            delete(7, &c, "journalEntry", 3, Some(1)),
            delete(8, &d, "journalEntry", 2, Some(1)),
        ]))).await;
        assert_eq!(outcomes(&late_deletes), vec![applied(7, true), applied(8, true)]);

        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        let records = current(&changes);
        assert_eq!(records[&a]["deleted"], true);
        assert!(records[&a].get("body").is_none());
        assert_eq!(records[&b]["deleted"], false);
        assert_eq!(records[&b]["body"]["body"], "b, edited");
        assert_eq!(records[&c]["deleted"], true);
        assert_eq!(records[&c]["hlc"], hlc(3));
        assert_eq!(records[&d]["deleted"], false);
        assert_eq!(records[&d]["body"]["body"], "d, edited");
        let mut kept: Vec<(String, String, String)> = revisions(&changes).iter()
            .map(|r| (r["recordId"].as_str().unwrap().to_owned(),
                      r["reason"].as_str().unwrap().to_owned(),
                      r["body"]["body"].as_str().unwrap().to_owned()))
            .collect();
        kept.sort();
        let mut expected = vec![
            (a.clone(), "deleted".to_owned(), "a, edited".to_owned()),
            (c.clone(), "deleted".to_owned(), "c, edited".to_owned()),
        ];
        expected.sort();
        assert_eq!(kept, expected);
        // A deleted record's revisions can still be read, to restore.
        let listed = call(&app, revisions_of(&t, &a)).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1, "{:?}", listed.body);
        // A later second delete keeps the record deleted and moves the
        // tombstone's stamp on (so an edit made between the two deletes,
        // arriving last, stays beaten): one tombstone, no content.
        let since = changes.last().unwrap()["version"].as_u64().unwrap();
        let again = call(&app, push(&t, &batch(&tablet, vec![delete(5, &a, "journalEntry", 9, Some(3))]))).await;
        assert_eq!(outcomes(&again), vec![applied(5, false)]);
        let (after, _) = pull_all(&app, &t, since, 500).await;
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!(after[0]["record"]["deleted"], true);
        assert_eq!(after[0]["record"]["hlc"], hlc(9));
        assert!(after[0]["record"].get("body").is_none());
        // An earlier one changes nothing.
        let since = after[0]["version"].as_u64().unwrap();
        let older = call(&app, push(&t, &batch(&tablet, vec![delete(6, &a, "journalEntry", 2, Some(1))]))).await;
        assert_eq!(outcomes(&older), vec![applied(6, false)]);
        let (none, _) = pull_all(&app, &t, since, 500).await;
        assert!(none.is_empty(), "{none:?}");
    }

    async fn intention_fields_merge_from_two_devices(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "fa@example.org").await);
        let (phone, tablet) = (new_device(), new_device());
        let (s, i) = (new_id(), new_id());
        let made = call(&app, push(&t, &batch(&phone, vec![
            upsert(1, &s, 1, None, &session("2026-01-10T10:00:00Z")),
            upsert(2, &i, 1, None, &intention("Stay curious", &s)),
        ]))).await;
        assert_eq!(outcomes(&made), vec![applied(1, false), applied(2, false)]);

        // The phone rewords it; the tablet, not having seen that, records
        // how it went.
        let reworded = call(&app, push(&t, &batch(&phone, vec![
            changed(upsert(3, &i, 2, Some(1), &intention("Stay open and curious", &s)), &["text"]),
        ]))).await;
        assert_eq!(outcomes(&reworded), vec![applied(3, false)]);
        let reflected = json!({"kind": "intention", "body": {"text": "Stay curious", "dosingSessionId": s,
            "status": "fulfilled", "reflection": {"howItWent": "Well", "carryForward": "Patience"}}});
        let reply = call(&app, push(&t, &batch(&tablet, vec![
            changed(upsert(1, &i, 3, Some(1), &reflected), &["status", "reflection"]),
        ]))).await;
        assert_eq!(outcomes(&reply), vec![applied(1, true)]);
        // Without a list of fields, the fields that differ count, each won
        // by the later stamp: the tablet's later notes stay, the phone's
        // status (which nobody else set) is taken.
        let notes = json!({"kind": "dosingSession", "body": {"scheduledAt": "2026-01-10T10:00:00Z",
            "route": "intravenous", "status": "planned", "notes": "Bring headphones"}});
        let done = json!({"kind": "dosingSession", "body": {"scheduledAt": "2026-01-10T10:00:00Z",
            "route": "intravenous", "status": "completed"}});
        let noted = call(&app, push(&t, &batch(&tablet, vec![upsert(2, &s, 5, Some(1), &notes)]))).await;
        assert_eq!(outcomes(&noted), vec![applied(2, false)]);
        let merged = call(&app, push(&t, &batch(&phone, vec![upsert(4, &s, 4, Some(1), &done)]))).await;
        assert_eq!(outcomes(&merged), vec![applied(4, true)]);

        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        let records = current(&changes);
        assert_eq!(records[&i]["body"], json!({"text": "Stay open and curious", "dosingSessionId": s,
            "status": "fulfilled", "reflection": {"howItWent": "Well", "carryForward": "Patience"}}));
        assert_eq!(records[&s]["body"], json!({"scheduledAt": "2026-01-10T10:00:00Z",
            "route": "intravenous", "status": "completed", "notes": "Bring headphones"}));
        assert!(revisions(&changes).is_empty(), "merged, nothing lost");
    }

    async fn pull_pages_cover_every_change_once_in_version_order(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "gu@example.org").await);
        let (phone, tablet) = (new_device(), new_device());
        let ids: Vec<String> = (0..22).map(|_| new_id()).collect();
        let made = call(&app, push(&t, &batch(&phone, ids.iter().enumerate()
            .map(|(n, id)| upsert(n as u64 + 1, id, 1, None, &entry(&format!("entry {n}"))))
            .collect()))).await;
        assert_eq!(outcomes(&made).len(), 22);
        // Three concurrent edits: three revisions, and those records move up.
        call(&app, push(&t, &batch(&phone, (0..3)
            .map(|n| upsert(23 + n as u64, &ids[n], 2, Some(1), &entry("phone")))
            .collect()))).await;
        let edits = call(&app, push(&t, &batch(&tablet, (0..3)
            .map(|n| upsert(1 + n as u64, &ids[n], 3, Some(1), &entry("tablet")))
            .collect()))).await;
        assert!(outcomes(&edits).iter().all(|o| o.2), "{:?}", edits.body);

        let mut cursor = 0;
        let mut seen = Vec::new();
        let mut shape = Vec::new();
        loop {
            let page = call(&app, pull(&t, &format!("since={cursor}&limit=10"))).await;
            assert_eq!(page.status, 200, "{:?}", page.body);
            let changes = page.body["changes"].as_array().unwrap().clone();
            let has_more = page.body["hasMore"].as_bool().unwrap();
            shape.push((changes.len(), has_more));
            let last = changes.last().unwrap()["version"].as_u64().unwrap();
            cursor = page.body["cursor"].as_u64().unwrap();
            if has_more {
                assert_eq!(cursor, last);
            } else {
                assert!(cursor >= last);
            }
            seen.extend(changes);
            if !has_more {
                break;
            }
        }
        assert_eq!(shape, vec![(10, true), (10, true), (5, false)]);
        let versions: Vec<u64> = seen.iter().map(|c| c["version"].as_u64().unwrap()).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        let records = current(&seen);
        assert_eq!(records.len(), 22, "every record once");
        assert_eq!(seen.iter().filter(|c| c["type"] == "record").count(), 22);
        assert_eq!(revisions(&seen).len(), 3);
        for (n, id) in ids.iter().enumerate() {
            let expected = if n < 3 { "tablet".to_owned() } else { format!("entry {n}") };
            assert_eq!(records[id]["body"]["body"], expected.as_str());
        }
        // The last page's cursor: nothing more, and it stays.
        let mut end = call(&app, pull(&t, &format!("since={cursor}&limit=10"))).await.body;
        assert!(end["serverTime"].is_string(), "{end}");
        end.as_object_mut().unwrap().remove("serverTime");
        assert_eq!(end, json!({"changes": [], "cursor": cursor, "hasMore": false,
                               "lastAppliedMutation": null}));
        // The default page holds them all.
        let all = call(&app, pull(&t, "")).await;
        assert_eq!(all.body["changes"].as_array().unwrap().len(), 25);
        assert_eq!(all.body["hasMore"], false);
        // One change past a cursor in the middle of the revisions.
        let (rest, _) = pull_all(&app, &t, versions[23], 1).await;
        assert_eq!(rest, seen[24..].to_vec());
    }

    async fn pull_reports_the_devices_last_applied_mutation(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "ha@example.org").await);
        let device = new_device();
        let unknown = new_device();
        let before = call(&app, pull(&t, &format!("deviceId={device}"))).await;
        assert_eq!(before.body["lastAppliedMutation"], Value::Null);
        let reply = call(&app, push(&t, &batch(&device, vec![
            upsert(1, &new_id(), 1, None, &entry("one")),
            upsert(2, &new_id(), 2, None, &check_in("2026-01-02T08:00:00Z", 99)),
            upsert(3, &new_id(), 3, None, &entry("three")),
        ]))).await;
        assert_eq!(reply.body["lastAppliedMutation"], 3);
        // As if the push's answer was lost: pull tells the device anyway.
        let pulled = call(&app, pull(&t, &format!("deviceId={device}&limit=1"))).await;
        assert_eq!(pulled.status, 200, "{:?}", pulled.body);
        assert_eq!(pulled.body["lastAppliedMutation"], 3);
        assert_eq!(pulled.body["hasMore"], true);
        assert_eq!(call(&app, pull(&t, "")).await.body["lastAppliedMutation"], Value::Null);
        assert_eq!(call(&app, pull(&t, &format!("deviceId={unknown}"))).await.body["lastAppliedMutation"], Value::Null);
        call(&app, push(&t, &batch(&device, vec![upsert(7, &new_id(), 7, None, &entry("seven"))]))).await;
        assert_eq!(call(&app, pull(&t, &format!("deviceId={device}&since=100"))).await.body["lastAppliedMutation"], 7);
    }

    async fn rest_edits_are_pulled_and_merge_with_devices(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "io@example.org").await);
        let device = new_device();
        let rest = |req: TestRequest| authed(req, &t);
        let made = call(&app, rest(TestRequest::post().uri(RECORDS).set_json(entry("typed on the web")))).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let e = made.body["id"].as_str().unwrap().to_owned();
        let (changes, _) = pull_all(&app, &t, 0, 500).await;
        assert_eq!(changes.len(), 1);
        let cursor = changes[0]["version"].as_u64().unwrap();
        assert_eq!(changes[0]["record"], json!({"id": e, "kind": "journalEntry",
            "createdAt": made.body["createdAt"], "updatedAt": made.body["updatedAt"],
            "hlc": made.body["hlc"], "deleted": false, "body": made.body["body"]}));

        let edited = call(&app, rest(TestRequest::put().uri(&format!("{RECORDS}/{e}")).set_json(entry("edited on the web")))).await;
        assert_eq!(edited.status, 200, "{:?}", edited.body);
        let (changes, _) = pull_all(&app, &t, cursor, 500).await;
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["record"]["body"]["body"], "edited on the web");
        assert_eq!(changes[0]["record"]["hlc"], edited.body["hlc"]);
        let cursor = changes[0]["version"].as_u64().unwrap();

        // A device that saw the web's edit edits on: a plain fast-forward.
        let web_hlc: Hlc = edited.body["hlc"].as_str().unwrap().parse().unwrap();
        let mut on_top = upsert(1, &e, 0, None, &entry("then on the phone"));
        let later = Hlc::new(web_hlc.millis() + 1_000, 0);
        on_top["hlc"] = json!(later.to_string());
        on_top["baseHlc"] = edited.body["hlc"].clone();
        let reply = call(&app, push(&t, &batch(&device, vec![on_top]))).await;
        assert_eq!(outcomes(&reply), vec![applied(1, false)]);
        // A device that had only the first version loses to the later
        // stamp, and its text is kept.
        let mut stale = upsert(2, &e, 0, None, &entry("stale phone text"));
        stale["hlc"] = made.body["hlc"].clone();
        let first: Hlc = made.body["hlc"].as_str().unwrap().parse().unwrap();
        stale["hlc"] = json!(Hlc::new(first.millis(), first.counter() + 1).to_string());
        stale["baseHlc"] = made.body["hlc"].clone();
        let reply = call(&app, push(&t, &batch(&device, vec![stale]))).await;
        assert_eq!(outcomes(&reply), vec![applied(2, true)]);
        let read = call(&app, rest(TestRequest::get().uri(&format!("{RECORDS}/{e}")))).await;
        assert_eq!(read.body["body"]["body"], "then on the phone");
        assert_eq!(read.body["hlc"], later.to_string());
        let listed = call(&app, revisions_of(&t, &e)).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1);
        assert_eq!(listed.body[0]["body"]["body"], "stale phone text");

        // Field stamps from the web: the web rewords an intention, a device
        // that never saw it sets the status; both stay.
        let s = call(&app, rest(TestRequest::post().uri(RECORDS).set_json(session("2026-01-10T10:00:00Z")))).await;
        let sid = s.body["id"].as_str().unwrap().to_owned();
        let i = call(&app, rest(TestRequest::post().uri(RECORDS).set_json(intention("Stay curious", &sid)))).await;
        assert_eq!(i.status, 201, "{:?}", i.body);
        let iid = i.body["id"].as_str().unwrap().to_owned();
        let reworded = call(&app, rest(TestRequest::put().uri(&format!("{RECORDS}/{iid}"))
            .set_json(intention("Stay open", &sid)))).await;
        assert_eq!(reworded.status, 200, "{:?}", reworded.body);
        let created: Hlc = i.body["hlc"].as_str().unwrap().parse().unwrap();
        let reworded_at: Hlc = reworded.body["hlc"].as_str().unwrap().parse().unwrap();
        let mut status = upsert(3, &iid, 0, None, &json!({"kind": "intention",
            "body": {"text": "Stay curious", "dosingSessionId": sid, "status": "released"}}));
        status["baseHlc"] = json!(created.to_string());
        status["hlc"] = json!(Hlc::new(reworded_at.millis() + 1_000, 0).to_string());
        let reply = call(&app, push(&t, &batch(&device, vec![changed(status, &["status"])]))).await;
        assert_eq!(outcomes(&reply), vec![applied(3, true)]);
        let read = call(&app, rest(TestRequest::get().uri(&format!("{RECORDS}/{iid}")))).await;
        assert_eq!(read.body["body"]["text"], "Stay open");
        assert_eq!(read.body["body"]["status"], "released");

        // The web's delete is pulled as a tombstone.
        let gone = call(&app, rest(TestRequest::delete().uri(&format!("{RECORDS}/{e}")))).await;
        assert_eq!(gone.status, 204);
        let (changes, _) = pull_all(&app, &t, cursor, 500).await;
        let records = current(&changes);
        assert_eq!(records[&e]["deleted"], true);
        assert!(records[&e].get("body").is_none());
        assert!(records[&e]["hlc"].as_str().unwrap() > later.to_string().as_str());
        assert_eq!(records[&iid]["body"]["status"], "released");
    }

    async fn rows_written_before_sync_are_merged_too(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "lo@example.org").await);
        let s = call(&app, authed(TestRequest::post().uri(RECORDS).set_json(session("2026-01-10T10:00:00Z")), &t)).await;
        let sid = s.body["id"].as_str().unwrap().to_owned();
        let i = call(&app, authed(TestRequest::post().uri(RECORDS).set_json(intention("Stay curious", &sid)), &t)).await;
        let iid = i.body["id"].as_str().unwrap().to_owned();
        // As a row written before the sync migration: no created stamp, no
        // field stamps, the nil device.
        let row = iid.clone();
        server.state.db.run(move |conn| -> Result<usize, StoreError> {
            Ok(diesel::update(records::table.find(row))
                .set((records::created_hlc.eq(None::<i64>), records::created_device.eq(None::<String>)))
                .execute(conn)?)
        }).await.unwrap();
        let stamp: Hlc = i.body["hlc"].as_str().unwrap().parse().unwrap();
        let mut status = upsert(1, &iid, 0, None, &json!({"kind": "intention",
            "body": {"text": "Stay curious", "dosingSessionId": sid, "status": "fulfilled"}}));
        status["baseHlc"] = json!(Hlc::new(stamp.millis() - 1, 0).to_string());
        status["hlc"] = json!(Hlc::new(stamp.millis() + 1, 0).to_string());
        let reply = call(&app, push(&t, &batch(&new_device(), vec![changed(status, &["status"])]))).await;
        assert_eq!(outcomes(&reply), vec![applied(1, true)]);
        let read = call(&app, authed(TestRequest::get().uri(&format!("{RECORDS}/{iid}")), &t)).await;
        assert_eq!(read.body["body"]["status"], "fulfilled");
        assert_eq!(read.body["body"]["text"], "Stay curious");
    }

    async fn therapists_cannot_sync(server: TestServer) {
        let app = server.app().await;
        let th = token(&therapist(&server, &app, "dr@example.org").await);
        let body = batch(&new_device(), vec![upsert(1, &new_id(), 1, None, &entry("x"))]);
        call(&app, push(&th, &body)).await.assert_problem(403, "forbidden");
        call(&app, push(&th, &json!({"nonsense": true}))).await.assert_problem(403, "forbidden");
        call(&app, pull(&th, "")).await.assert_problem(403, "forbidden");
        call(&app, revisions_of(&th, &new_id())).await.assert_problem(403, "forbidden");
        // And nobody without a token.
        call(&app, TestRequest::post().uri(PUSH).set_json(&body)).await.assert_problem(401, "unauthorized");
        call(&app, TestRequest::get().uri(PULL)).await.assert_problem(401, "unauthorized");
    }

    async fn bad_pushes_are_problems_and_change_nothing(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "ju@example.org").await;
        let (t, me) = (token(&tokens), account_id(&tokens));
        let device = new_device();
        let one = |id: u64| upsert(id, &new_id(), id, None, &entry("x"));

        let mut unknown_top = batch(&device, vec![one(1)]);
        unknown_top["ownerId"] = json!(me);
        let mut unknown_inner = one(1);
        unknown_inner["version"] = json!(3);
        let mut bad_stamp = one(1);
        bad_stamp["hlc"] = json!("yesterday");
        let mut bad_kind = one(1);
        bad_kind["kind"] = json!("diaryPage");
        let mut bad_op = one(1);
        bad_op["op"] = json!("merge");
        let mut negative = one(1);
        negative["mutationId"] = json!(-1);
        for body in [
            unknown_top,
            batch(&device, vec![unknown_inner]),
            batch(&device, vec![bad_stamp]),
            batch(&device, vec![bad_kind]),
            batch(&device, vec![bad_op]),
            batch(&device, vec![negative]),
            json!({"deviceId": "not-a-uuid", "mutations": [one(1)]}),
            json!({"mutations": [one(1)]}),
            json!([1, 2, 3]),
        ] {
            call(&app, push(&t, &body)).await.assert_problem(400, "bad-request");
        }

        let fields = |reply: &Reply| -> Vec<(String, String)> {
            reply.assert_problem(422, "validation");
            reply.body["errors"].as_array().unwrap().iter()
                .map(|e| (e["field"].as_str().unwrap().to_owned(), e["rule"].as_str().unwrap().to_owned()))
                .collect()
        };
        let pair = |f: &str, r: &str| (f.to_owned(), r.to_owned());
        let too_many = batch(&device, (1..=501).map(one).collect());
        assert_eq!(fields(&call(&app, push(&t, &too_many)).await), vec![pair("mutations", "length")]);
        assert_eq!(fields(&call(&app, push(&t, &batch(&device, vec![]))).await), vec![pair("mutations", "length")]);
        assert_eq!(fields(&call(&app, push(&t, &batch(&device, vec![one(2), one(1)]))).await),
            vec![pair("mutations[1].mutationId", "increasing")]);
        assert_eq!(fields(&call(&app, push(&t, &batch(&device, vec![one(1), one(3), one(3)]))).await),
            vec![pair("mutations[2].mutationId", "increasing")]);
        assert_eq!(fields(&call(&app, push(&t, &batch(&device, vec![one(0)]))).await),
            vec![pair("mutations[0].mutationId", "range")]);
        let mut huge = one(1);
        huge["mutationId"] = json!(u64::MAX);
        assert_eq!(fields(&call(&app, push(&t, &batch(&device, vec![huge]))).await),
            vec![pair("mutations[0].mutationId", "range")]);
        let nil = "00000000-0000-0000-0000-000000000000";
        assert_eq!(fields(&call(&app, push(&t, &batch(nil, vec![one(1)]))).await), vec![pair("deviceId", "reserved")]);

        let not_json = authed(TestRequest::post().uri(PUSH)
            .insert_header(("Content-Type", "text/plain")).set_payload("{}"), &t);
        call(&app, not_json).await.assert_problem(415, "unsupported-media-type");
        let wrong_method = call(&app, authed(TestRequest::get().uri(PUSH), &t)).await;
        assert_eq!(wrong_method.status, 405);
        assert_eq!(wrong_method.body["type"], "urn:kap-journal:problem:method-not-allowed");
        let wrong_method = call(&app, authed(TestRequest::post().uri(PULL).set_json(json!({})), &t)).await;
        assert_eq!(wrong_method.status, 405);
        let wrong_method = call(&app, authed(TestRequest::delete().uri(&format!("{RECORDS}/{}/revisions", new_id())), &t)).await;
        assert_eq!(wrong_method.status, 405);

        assert_eq!(owner_version(&server, &me).await, None, "nothing written");
        assert!(snapshot(&server, &me).await.0.is_empty());
        // 500 is the most, and it is taken.
        let full = call(&app, push(&t, &batch(&device, (1..=500).map(one).collect()))).await;
        assert_eq!(outcomes(&full).len(), 500);
        assert_eq!(full.body["lastAppliedMutation"], 500);
        assert_eq!(owner_version(&server, &me).await, Some(1000));
    }

    async fn pull_parameters_are_checked(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "ka@example.org").await);
        call(&app, push(&t, &batch(&new_device(), vec![upsert(1, &new_id(), 1, None, &entry("x"))]))).await;
        for query in ["limit=0", "limit=1001", "since=9223372036854775808"] {
            let reply = call(&app, pull(&t, query)).await;
            reply.assert_problem(422, "validation");
            let field = query.split('=').next().unwrap();
            assert_eq!(reply.body["errors"][0]["field"], field, "{query}");
            assert_eq!(reply.body["errors"][0]["rule"], "range", "{query}");
        }
        for query in [
            "limit=-1",
            "limit=many",
            "limit=99999999999",
            "since=-1",
            "since=abc",
            "since=18446744073709551616",
            "since=",
            "deviceId=not-a-uuid",
            "cursor=3",
            "since=1&since=2",
        ] {
            let reply = call(&app, pull(&t, query)).await;
            reply.assert_problem(400, "bad-request");
        }
        for query in ["limit=1", "limit=1000", "since=9223372036854775807", "since=0&limit=500"] {
            let reply = call(&app, pull(&t, query)).await;
            assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
        }
        let far = call(&app, pull(&t, "since=9223372036854775807")).await;
        assert_eq!(far.body["cursor"], 9_223_372_036_854_775_807_u64);
        assert_eq!(far.body["changes"], json!([]));
    }
}

#[test]
fn the_sync_api_is_documented() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(journal_server::http::sync::SyncApi::openapi()).unwrap();
    for (path, method) in [
        ("/api/v1/sync/push", "post"),
        ("/api/v1/sync/pull", "get"),
        ("/api/v1/records/{id}/revisions", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path}");
        assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        assert!(op["responses"]["403"].is_object(), "{method} {path}");
    }
    let params: Vec<&str> = doc["paths"]["/api/v1/sync/pull"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, vec!["since", "limit", "deviceId"]);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "PushRequest",
        "Mutation",
        "PushResponse",
        "MutationOutcome",
        "PullResponse",
        "PulledChange",
        "RecordState",
        "Revision",
        "OwnerVersion",
        "Problem",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
}
