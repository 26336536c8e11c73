//! The owner's records API: every kind created, read, edited, listed and
//! deleted; pagination and filters; owners kept apart; validation, mass
//! assignment, kind changes, sessions in use; the owner's version counter.
//! Each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use journal_server::store::StoreError;
use journal_server::store::schema::{owner_versions, records};
use serde_json::{Value, json};

const RECORDS: &str = "/api/v1/records";

fn create(token: &str, body: &Value) -> TestRequest {
    authed(TestRequest::post().uri(RECORDS).set_json(body), token)
}

fn get(token: &str, id: &str) -> TestRequest {
    authed(TestRequest::get().uri(&format!("{RECORDS}/{id}")), token)
}

fn put(token: &str, id: &str, body: &Value) -> TestRequest {
    authed(
        TestRequest::put()
            .uri(&format!("{RECORDS}/{id}"))
            .set_json(body),
        token,
    )
}

fn delete(token: &str, id: &str) -> TestRequest {
    authed(TestRequest::delete().uri(&format!("{RECORDS}/{id}")), token)
}

fn list(token: &str, query: &str) -> TestRequest {
    authed(TestRequest::get().uri(&format!("{RECORDS}?{query}")), token)
}

fn entry(text: &str, phase: &str) -> Value {
    json!({"kind": "journalEntry", "body": {"body": text, "phase": phase}})
}

fn entry_about(text: &str, session: &str) -> Value {
    json!({"kind": "journalEntry",
           "body": {"body": text, "phase": "dosing", "dosingSessionId": session}})
}

fn intention(text: &str, session: &str) -> Value {
    json!({"kind": "intention", "body": {"text": text, "dosingSessionId": session}})
}

fn check_in(at: &str, mood: u8) -> Value {
    json!({"kind": "moodCheckIn",
           "body": {"recordedAt": at, "mood": mood, "anxiety": 4, "energy": 6}})
}

fn session(at: &str) -> Value {
    json!({"kind": "dosingSession", "body": {"scheduledAt": at, "route": "intravenous"}})
}

/// Asserts that a record holds the kind and every field that was sent.
#[track_caller]
fn assert_holds(record: &Value, sent: &Value) {
    assert_eq!(record["kind"], sent["kind"]);
    for (field, value) in sent["body"].as_object().unwrap() {
        assert_eq!(&record["body"][field], value, "{}.{field}", sent["kind"]);
    }
}

/// The ids of a list reply, in order.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
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

/// How many rows (tombstones included) the owner has.
async fn row_count(server: &TestServer, owner: &str) -> i64 {
    let owner = owner.to_owned();
    server
        .state
        .db
        .run(move |conn| -> Result<i64, StoreError> {
            Ok(records::table
                .filter(records::owner_id.eq(owner))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

on_both_backends! {
    async fn every_kind_is_created_read_edited_listed_and_deleted(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "ana@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);

        // The session goes first: the intention links to it; it is deleted
        // last, once nothing links to it.
        let made = call(&app, create(&t, &session("2020-03-10T10:00:00Z"))).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let session_id = made.body["id"].as_str().unwrap().to_owned();

        let cases: Vec<(&str, Value, Value)> = vec![
            ("journalEntry",
                json!({"kind": "journalEntry", "body": {"title": "Light", "body": "Today I noticed the light.",
                       "phase": "integration", "tags": ["calm"]}}),
                json!({"kind": "journalEntry", "body": {"title": "Light", "body": "Today I noticed the light again.",
                       "phase": "integration", "tags": ["calm", "hope"]}})),
            ("intention",
                intention("Stay curious", &session_id),
                json!({"kind": "intention", "body": {"text": "Stay curious", "dosingSessionId": session_id,
                       "status": "fulfilled", "reflection": {"howItWent": "Well", "carryForward": "Patience"}}})),
            ("moodCheckIn",
                json!({"kind": "moodCheckIn", "body": {"recordedAt": "2020-03-01T08:00:00Z", "mood": 5,
                       "anxiety": 4, "energy": 6, "sleepHours": 7.5, "emotions": ["tired"]}}),
                json!({"kind": "moodCheckIn", "body": {"recordedAt": "2020-03-01T08:00:00Z", "mood": 7,
                       "anxiety": 2, "energy": 6, "sleepHours": 7.5, "emotions": ["tired"], "note": "better"}})),
            ("assessment",
                json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": "2020-03-02T09:00:00Z",
                       "answers": [1, 1, 2, 0, 0, 1, 2, 0, 0]}}),
                json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": "2020-03-02T09:00:00Z",
                       "answers": [0, 1, 1, 0, 0, 1, 1, 0, 0]}})),
            ("exercisePractice",
                json!({"kind": "exercisePractice", "body": {"exerciseId": "five-senses",
                       "practicedAt": "2020-03-03T20:00:00Z", "stepsCompleted": 2, "distressBefore": 6,
                       "distressAfter": 3}}),
                json!({"kind": "exercisePractice", "body": {"exerciseId": "five-senses",
                       "practicedAt": "2020-03-03T20:00:00Z", "stepsCompleted": 2, "distressBefore": 6,
                       "distressAfter": 2}})),
            ("commitment",
                json!({"kind": "commitment", "body": {"text": "Walk every morning", "dosingSessionId": session_id,
                       "followUpOn": "2020-03-24"}}),
                json!({"kind": "commitment", "body": {"text": "Walk every morning", "dosingSessionId": session_id,
                       "followUpOn": "2020-03-24", "status": "changed", "note": "Three mornings a week"}})),
            ("dosingSession",
                session("2020-03-04T10:00:00Z"),
                json!({"kind": "dosingSession", "body": {"scheduledAt": "2020-03-04T10:00:00Z",
                       "route": "intravenous", "status": "completed", "notes": "Went well"}})),
        ];

        for (kind, first, second) in cases {
            let made = call(&app, create(&t, &first)).await;
            assert_eq!(made.status, 201, "{kind}: {:?}", made.body);
            let record = made.body.clone();
            let id = record["id"].as_str().unwrap().to_owned();
            assert_eq!(record["kind"], kind);
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "7", "{kind}: a UUIDv7 made by the server");
            assert_eq!(record["hlc"].as_str().unwrap().len(), 16, "{kind}");
            assert_eq!(record["createdAt"], record["updatedAt"], "{kind}");
            assert_eq!(
                made.headers.get("location").unwrap().to_str().unwrap(),
                format!("/api/v1/records/{id}"),
                "{kind}"
            );
            assert_holds(&record, &first);

            let read = call(&app, get(&t, &id)).await;
            assert_eq!(read.status, 200, "{kind}: {:?}", read.body);
            assert_eq!(read.body, record, "{kind}: read back as created");

            let listed = call(&app, list(&t, &format!("kinds={kind}"))).await;
            let found: Vec<&Value> = listed.body["records"].as_array().unwrap().iter()
                .filter(|r| r["id"] == record["id"]).collect();
            assert_eq!(found, vec![&record], "{kind}: listed once, as created");
            let expected = if kind == "dosingSession" { 2 } else { 1 };
            assert_eq!(ids(&listed).len(), expected, "{kind}: only its kind");
            assert_eq!(listed.body["nextCursor"], Value::Null, "{kind}");

            let edited = call(&app, put(&t, &id, &second)).await;
            assert_eq!(edited.status, 200, "{kind}: {:?}", edited.body);
            assert_eq!(edited.body["id"], record["id"], "{kind}");
            assert_eq!(edited.body["createdAt"], record["createdAt"], "{kind}");
            assert_holds(&edited.body, &second);
            assert!(edited.body["hlc"].as_str().unwrap() > record["hlc"].as_str().unwrap(), "{kind}: a later stamp");
            assert!(edited.body["updatedAt"].as_str().unwrap() >= record["updatedAt"].as_str().unwrap(), "{kind}");
            assert_ne!(edited.body["body"], record["body"], "{kind}: the edit took");
            let read = call(&app, get(&t, &id)).await;
            assert_eq!(read.body, edited.body, "{kind}: read back as edited");

            let gone = call(&app, delete(&t, &id)).await;
            assert_eq!(gone.status, 204, "{kind}: {:?}", gone.body);
            call(&app, get(&t, &id)).await.assert_problem(404, "not-found");
            call(&app, put(&t, &id, &second)).await.assert_problem(404, "not-found");
            call(&app, delete(&t, &id)).await.assert_problem(404, "not-found");
            let listed = call(&app, list(&t, &format!("kinds={kind}"))).await;
            let expected: Vec<String> = if kind == "dosingSession" { vec![session_id.clone()] } else { vec![] };
            assert_eq!(ids(&listed), expected, "{kind}: deleted records are not listed");
        }

        assert_eq!(call(&app, delete(&t, &session_id)).await.status, 204);
        assert!(ids(&call(&app, list(&t, "")).await).is_empty());
        // Tombstones remain for sync, keeping no content.
        let rows: Vec<(String, bool, Option<String>, Option<String>)> = server.state.db.run(move |conn| -> Result<_, StoreError> {
            Ok(records::table
                .filter(records::owner_id.eq(me))
                .select((records::body, records::deleted, records::phase, records::dosing_session_id))
                .load(conn)?)
        }).await.unwrap();
        assert_eq!(rows.len(), 8);
        assert!(rows.iter().all(|(body, deleted, phase, link)| body == "{}" && *deleted && phase.is_none() && link.is_none()), "{rows:?}");
    }

    async fn pages_cover_every_record_once_newest_first(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "bo@example.org").await);
        let mut created = Vec::new();
        for hour in 0..7 {
            let at = format!("2020-03-01T{hour:02}:00:00Z");
            let made = call(&app, create(&t, &check_in(&at, 5))).await;
            assert_eq!(made.status, 201, "{:?}", made.body);
            created.push(made.body["id"].as_str().unwrap().to_owned());
        }
        // Two more at the very same moment: the id breaks the tie.
        for _ in 0..2 {
            let made = call(&app, create(&t, &check_in("2020-03-01T03:00:00Z", 1))).await;
            created.push(made.body["id"].as_str().unwrap().to_owned());
        }
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut moments = Vec::new();
        let mut query = "limit=3".to_owned();
        loop {
            let page = call(&app, list(&t, &query)).await;
            assert_eq!(page.status, 200, "{:?}", page.body);
            for r in page.body["records"].as_array().unwrap() {
                moments.push(r["body"]["recordedAt"].as_str().unwrap().to_owned());
            }
            let page_ids = ids(&page);
            sizes.push(page_ids.len());
            seen.extend(page_ids);
            match page.body["nextCursor"].as_str() {
                Some(cursor) => query = format!("limit=3&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(sizes, vec![3, 3, 3]);
        assert!(moments.windows(2).all(|w| w[0] >= w[1]), "newest first: {moments:?}");
        let mut got = seen.clone();
        got.sort();
        got.dedup();
        let mut expected = created.clone();
        expected.sort();
        assert_eq!(got, expected, "every record exactly once");
        assert_eq!(seen.len(), 9);

        // 7 with a limit of 3: pages of 3, 3 and 1.
        let t = token(&register(&app, "bo2@example.org").await);
        for hour in 0..7 {
            let made = call(&app, create(&t, &check_in(&format!("2020-04-01T{hour:02}:00:00Z"), 5))).await;
            assert_eq!(made.status, 201);
        }
        let first = call(&app, list(&t, "limit=3")).await;
        let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
        let second = call(&app, list(&t, &format!("limit=3&cursor={cursor}"))).await;
        let cursor = second.body["nextCursor"].as_str().unwrap().to_owned();
        let third = call(&app, list(&t, &format!("limit=3&cursor={cursor}"))).await;
        assert_eq!((ids(&first).len(), ids(&second).len(), ids(&third).len()), (3, 3, 1));
        assert_eq!(third.body["nextCursor"], Value::Null);
        let mut all: Vec<String> = [ids(&first), ids(&second), ids(&third)].concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 7);
        // The default page holds them all.
        assert_eq!(ids(&call(&app, list(&t, "")).await).len(), 7);
    }

    async fn lists_filter_by_kind_phase_dates_and_session(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "cy@example.org").await);
        let id = |reply: Reply| {
            assert_eq!(reply.status, 201, "{:?}", reply.body);
            reply.body["id"].as_str().unwrap().to_owned()
        };
        let s1 = id(call(&app, create(&t, &session("2020-03-10T10:00:00Z"))).await);
        let s2 = id(call(&app, create(&t, &session("2020-03-16T10:00:00Z"))).await);
        let i1 = id(call(&app, create(&t, &intention("Open", &s1))).await);
        let linked = id(call(&app, create(&t, &entry_about("about session one", &s1))).await);
        let prep = id(call(&app, create(&t, &entry("before", "preparation"))).await);
        let m1 = id(call(&app, create(&t, &check_in("2020-03-03T08:00:00Z", 5))).await);
        let m2 = id(call(&app, create(&t, &check_in("2020-03-20T08:00:00Z", 7))).await);
        // Another patient's records are never listed.
        let other = token(&register(&app, "cy-other@example.org").await);
        id(call(&app, create(&other, &check_in("2020-03-05T08:00:00Z", 1))).await);
        id(call(&app, create(&other, &entry("theirs", "preparation"))).await);

        let sorted = |mut v: Vec<String>| { v.sort(); v };
        assert_eq!(ids(&call(&app, list(&t, "")).await).len(), 7);
        assert_eq!(ids(&call(&app, list(&t, "kinds=moodCheckIn")).await), vec![m2.clone(), m1.clone()]);
        assert_eq!(
            sorted(ids(&call(&app, list(&t, "kinds=dosingSession,intention")).await)),
            sorted(vec![s1.clone(), s2.clone(), i1.clone()])
        );
        assert_eq!(ids(&call(&app, list(&t, "kinds=journalEntry&phase=preparation")).await), vec![prep.clone()]);
        assert_eq!(ids(&call(&app, list(&t, "phase=preparation")).await), vec![prep.clone()]);
        assert_eq!(ids(&call(&app, list(&t, "phase=dosing")).await), vec![linked.clone()]);
        assert_eq!(
            sorted(ids(&call(&app, list(&t, &format!("dosingSessionId={s1}"))).await)),
            sorted(vec![s1.clone(), i1.clone(), linked.clone()])
        );
        assert_eq!(ids(&call(&app, list(&t, &format!("dosingSessionId={s2}"))).await), vec![s2.clone()]);
        assert_eq!(
            ids(&call(&app, list(&t, &format!("dosingSessionId={s1}&kinds=intention"))).await),
            vec![i1.clone()]
        );
        // From inclusive, to exclusive.
        assert_eq!(
            ids(&call(&app, list(&t, "from=2020-03-03T08:00:00Z&to=2020-03-10T10:00:00Z")).await),
            vec![m1.clone()]
        );
        assert_eq!(
            ids(&call(&app, list(&t, "from=2020-03-03T08:00:00Z&to=2020-03-10T10:00:01Z")).await),
            vec![s1.clone(), m1.clone()]
        );
        assert_eq!(
            ids(&call(&app, list(&t, "kinds=moodCheckIn&from=2020-03-04T00:00:00Z")).await),
            vec![m2.clone()]
        );
        assert_eq!(
            ids(&call(&app, list(&t, "kinds=moodCheckIn,dosingSession&to=2020-03-16T10:00:00Z")).await),
            vec![s1.clone(), m1.clone()]
        );
        // An offset written out (percent-encoded '+') is understood too.
        assert_eq!(
            ids(&call(&app, list(&t, "kinds=moodCheckIn&to=2020-03-03T09:00:01%2B01:00")).await),
            vec![m1]
        );
    }

    async fn other_patients_records_answer_like_unknown_ones(server: TestServer) {
        let app = server.app().await;
        let owner = token(&register(&app, "di@example.org").await);
        let intruder = token(&register(&app, "eve@example.org").await);
        let made = call(&app, create(&owner, &entry("mine alone", "integration"))).await;
        let id = made.body["id"].as_str().unwrap().to_owned();
        let unknown = "0190b1c2-0000-7000-8000-000000000000";
        let edit = entry("overwritten", "integration");

        for (name, theirs, none) in [
            ("get", get(&intruder, &id), get(&intruder, unknown)),
            ("put", put(&intruder, &id, &edit), put(&intruder, unknown, &edit)),
            ("delete", delete(&intruder, &id), delete(&intruder, unknown)),
        ] {
            let theirs = call(&app, theirs).await;
            let none = call(&app, none).await;
            theirs.assert_problem(404, "not-found");
            assert_eq!(theirs.body, none.body, "{name}: the same answer");
            assert_eq!(theirs.headers.get("content-type"), none.headers.get("content-type"), "{name}");
        }
        // Not a UUID at all: the same answer again.
        let malformed = call(&app, get(&intruder, "not-an-id")).await;
        malformed.assert_problem(404, "not-found");
        assert_eq!(malformed.body, call(&app, get(&intruder, unknown)).await.body);

        let read = call(&app, get(&owner, &id)).await;
        assert_eq!(read.body, made.body, "the owner's record is unchanged");
        assert!(ids(&call(&app, list(&intruder, "")).await).is_empty());
        // Nor can the intruder link to the owner's session.
        let s = call(&app, create(&owner, &session("2020-03-10T10:00:00Z"))).await;
        let sid = s.body["id"].as_str().unwrap();
        assert_eq!(fields(&call(&app, create(&intruder, &intention("Borrowed", sid))).await),
            vec![pair("dosingSessionId", "unknown_session")]);
        assert!(ids(&call(&app, list(&intruder, &format!("dosingSessionId={sid}"))).await).is_empty());
    }

    async fn therapists_are_refused_and_strangers_must_sign_in(server: TestServer) {
        let app = server.app().await;
        let patient = token(&register(&app, "fa@example.org").await);
        let made = call(&app, create(&patient, &entry("private", "integration"))).await;
        let id = made.body["id"].as_str().unwrap().to_owned();
        let doctor = token(&therapist(&server, &app, "dr@example.org").await);
        let body = entry("from the therapist", "integration");

        for request in [
            create(&doctor, &body),
            list(&doctor, ""),
            get(&doctor, &id),
            put(&doctor, &id, &body),
            delete(&doctor, &id),
            // Refused as a therapist whatever the body holds.
            create(&doctor, &json!({"kind": "nonsense"})),
        ] {
            call(&app, request).await.assert_problem(403, "forbidden");
        }
        let anonymous = [
            TestRequest::post().uri(RECORDS).set_json(&body),
            TestRequest::get().uri(RECORDS),
            TestRequest::get().uri(&format!("{RECORDS}/{id}")),
            TestRequest::put().uri(&format!("{RECORDS}/{id}")).set_json(&body),
            TestRequest::delete().uri(&format!("{RECORDS}/{id}")),
        ];
        for request in anonymous {
            let reply = call(&app, request).await;
            reply.assert_problem(401, "unauthorized");
            assert!(reply.headers.contains_key("www-authenticate"));
        }
        assert_eq!(call(&app, get(&patient, &id)).await.body, made.body);
    }

    async fn content_is_checked_with_every_field_named(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "gu@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        let owner = account_id(&register(&app, "gu-other@example.org").await);

        let mood = json!({"kind": "moodCheckIn", "body": {"recordedAt": "2020-03-01T08:00:00Z",
                          "mood": 11, "anxiety": 12, "energy": 3}});
        assert_eq!(fields(&call(&app, create(&t, &mood)).await), vec![pair("anxiety", "range"), pair("mood", "range")]);
        assert_eq!(fields(&call(&app, create(&t, &entry("   \n ", "dosing"))).await), vec![pair("body", "not_blank")]);
        let phq8 = json!({"kind": "assessment", "body": {"instrument": "phq9",
                          "takenAt": "2020-03-01T08:00:00Z", "answers": [0, 1, 2, 3, 0, 1, 2, 0]}});
        assert_eq!(fields(&call(&app, create(&t, &phq8)).await), vec![pair("answers", "item_count")]);
        let practice = json!({"kind": "exercisePractice", "body": {"exerciseId": "no-such-exercise",
                          "practicedAt": "2020-03-01T08:00:00Z", "stepsCompleted": 0,
                          "distressBefore": 11, "distressAfter": 0}});
        assert_eq!(fields(&call(&app, create(&t, &practice)).await),
            vec![pair("distressBefore", "range"), pair("exerciseId", "unknown_exercise")]);
        let unknown = "0190b1c2-0000-7000-8000-000000000000";
        assert_eq!(fields(&call(&app, create(&t, &intention("Stay curious", unknown))).await),
            vec![pair("dosingSessionId", "unknown_session")]);
        assert_eq!(fields(&call(&app, create(&t, &entry_about("about it", unknown))).await),
            vec![pair("dosingSessionId", "unknown_session")]);
        let commitment = |session: &str, day: &str, text: &str| json!({"kind": "commitment", "body": {
            "text": text, "dosingSessionId": session, "followUpOn": day}});
        assert_eq!(fields(&call(&app, create(&t, &commitment(unknown, "2020-03-24", "Walk"))).await),
            vec![pair("dosingSessionId", "unknown_session")]);
        assert_eq!(fields(&call(&app, create(&t, &commitment(unknown, "2020-03-24", "  "))).await),
            vec![pair("text", "not_blank")], "the content's own rules first, as for intentions");
        let far = call(&app, create(&t, &commitment(unknown, "2999-01-01", "Walk"))).await;
        assert_eq!(far.status, 422, "{:?}", far.body);
        // An impossible date does not read, like any malformed moment.
        call(&app, create(&t, &commitment(unknown, "2020-02-30", "Walk"))).await
            .assert_problem(400, "bad-request");
        assert_eq!(row_count(&server, &me).await, 0, "nothing refused was written");
        // A record that is not a session does not do as one.
        let m = call(&app, create(&t, &check_in("2020-03-01T08:00:00Z", 5))).await;
        let mid = m.body["id"].as_str().unwrap().to_owned();
        assert_eq!(fields(&call(&app, create(&t, &intention("Stay curious", &mid))).await),
            vec![pair("dosingSessionId", "unknown_session")]);
        // Nor does a deleted one.
        let s = call(&app, create(&t, &session("2020-03-10T10:00:00Z"))).await;
        let sid = s.body["id"].as_str().unwrap().to_owned();
        assert_eq!(call(&app, delete(&t, &sid)).await.status, 204);
        assert_eq!(fields(&call(&app, create(&t, &intention("Stay curious", &sid))).await),
            vec![pair("dosingSessionId", "unknown_session")]);

        // Edits are checked the same way, and change nothing when refused.
        let bad_edit = check_in("2020-03-01T08:00:00Z", 11);
        assert_eq!(fields(&call(&app, put(&t, &mid, &bad_edit)).await), vec![pair("mood", "range")]);
        assert_eq!(call(&app, get(&t, &mid)).await.body, m.body);

        // Problems in the shape of the body are 400, not 422.
        let unreadable = [
            json!({"kind": "intention", "body": {"text": "No session"}}),
            json!({"kind": "moodCheckIn", "body": {"recordedAt": "yesterday", "mood": 5, "anxiety": 4, "energy": 6}}),
            json!({"kind": "moodCheckIn", "body": {"recordedAt": "2020-03-01T08:00:00Z", "mood": -1, "anxiety": 4, "energy": 6}}),
            json!({"kind": "diaryPage", "body": {}}),
            json!({"body": {"body": "x", "phase": "dosing"}}),
            json!({"kind": "journalEntry"}),
            json!({"kind": "journalEntry", "body": {"body": "x", "phase": "afterwards"}}),
            json!([1, 2, 3]),
        ];
        for body in unreadable {
            call(&app, create(&t, &body)).await.assert_problem(400, "bad-request");
        }
        // Only the check-in and the session made it (the session deleted).
        assert_eq!(ids(&call(&app, list(&t, "")).await), vec![mid]);
        assert_eq!(row_count(&server, &me).await, 2);
        assert_eq!(row_count(&server, &owner).await, 0);
    }

    async fn clients_cannot_choose_owner_id_or_version(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "ha@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        let victim = account_id(&register(&app, "victim@example.org").await);
        let id = "0190b1c2-0000-7000-8000-000000000001";
        let valid = json!({"body": "x", "phase": "dosing"});
        let with = |key: &str, value: Value| {
            let mut body = entry("x", "dosing");
            body[key] = value;
            body
        };
        let inside = |key: &str, value: Value| {
            let mut body = valid.clone();
            body[key] = value;
            json!({"kind": "journalEntry", "body": body})
        };
        // (A top-level `id` is the client-chosen id of a create, which makes
        // a retried create write once: `abuse_rules.rs`. Inside the content
        // it is refused like the rest.)
        let sneaky = [
            with("ownerId", json!(victim)),
            with("version", json!(99)),
            with("hlc", json!("0000000000000001")),
            with("createdAt", json!("2020-01-01T00:00:00Z")),
            with("deleted", json!(true)),
            inside("ownerId", json!(victim)),
            inside("id", json!(id)),
            inside("version", json!(99)),
        ];
        for body in &sneaky {
            let reply = call(&app, create(&t, body)).await;
            reply.assert_problem(400, "bad-request");
        }
        assert_eq!(row_count(&server, &me).await, 0, "nothing written");
        assert_eq!(row_count(&server, &victim).await, 0);
        assert_eq!(owner_version(&server, &me).await, None);
        assert_eq!(owner_version(&server, &victim).await, None);
        call(&app, get(&t, id)).await.assert_problem(404, "not-found");

        // Edits refuse them too.
        let made = call(&app, create(&t, &entry("mine", "dosing"))).await;
        let rid = made.body["id"].as_str().unwrap().to_owned();
        for body in &sneaky {
            call(&app, put(&t, &rid, body)).await.assert_problem(400, "bad-request");
        }
        // An edit never takes an id: the path names the record.
        call(&app, put(&t, &rid, &with("id", json!(id)))).await.assert_problem(400, "bad-request");
        assert_eq!(call(&app, get(&t, &rid)).await.body, made.body);
        assert_eq!(owner_version(&server, &me).await, Some(1));
    }

    async fn a_record_keeps_its_kind_and_same_content_changes_nothing(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "io@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        let made = call(&app, create(&t, &check_in("2020-03-01T08:00:00Z", 5))).await;
        let id = made.body["id"].as_str().unwrap().to_owned();

        let changed = call(&app, put(&t, &id, &entry("I am an entry now", "dosing"))).await;
        assert_eq!(fields(&changed), vec![pair("kind", "immutable")]);
        assert_eq!(call(&app, get(&t, &id)).await.body, made.body);

        // The same content, with the defaults spelled out or not.
        let same = json!({"kind": "moodCheckIn", "body": {"recordedAt": "2020-03-01T08:00:00Z",
                          "mood": 5, "anxiety": 4, "energy": 6, "emotions": []}});
        let before = owner_version(&server, &me).await;
        let again = call(&app, put(&t, &id, &same)).await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(again.body, made.body, "returned unchanged: same stamp and timestamps");
        assert_eq!(owner_version(&server, &me).await, before, "no write, no bump");
        assert_eq!(row_version(&server, &id).await, 1);
    }

    async fn a_session_in_use_cannot_be_deleted(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "ju@example.org").await);
        let s = call(&app, create(&t, &session("2020-03-10T10:00:00Z"))).await;
        let sid = s.body["id"].as_str().unwrap().to_owned();
        let i = call(&app, create(&t, &intention("Stay curious", &sid))).await;
        assert_eq!(i.status, 201, "{:?}", i.body);
        let e = call(&app, create(&t, &entry_about("It began", &sid))).await;
        assert_eq!(e.status, 201, "{:?}", e.body);

        call(&app, delete(&t, &sid)).await.assert_problem(409, "conflict");
        assert_eq!(call(&app, get(&t, &sid)).await.body, s.body);
        assert_eq!(call(&app, delete(&t, i.body["id"].as_str().unwrap())).await.status, 204);
        call(&app, delete(&t, &sid)).await.assert_problem(409, "conflict");
        // Unlinking the entry by an edit frees the session too.
        let unlinked = call(&app, put(&t, e.body["id"].as_str().unwrap(), &entry("It began", "dosing"))).await;
        assert_eq!(unlinked.status, 200, "{:?}", unlinked.body);
        assert_eq!(call(&app, delete(&t, &sid)).await.status, 204);
        call(&app, get(&t, &sid)).await.assert_problem(404, "not-found");
        // The entry can no longer be linked to it.
        let relink = call(&app, put(&t, e.body["id"].as_str().unwrap(), &entry_about("It began", &sid))).await;
        assert_eq!(fields(&relink), vec![pair("dosingSessionId", "unknown_session")]);
    }

    async fn list_parameters_are_checked(server: TestServer) {
        let app = server.app().await;
        let t = token(&register(&app, "ka@example.org").await);
        call(&app, create(&t, &check_in("2020-03-01T08:00:00Z", 5))).await;
        for limit in ["0", "201"] {
            let reply = call(&app, list(&t, &format!("limit={limit}"))).await;
            assert_eq!(fields(&reply), vec![pair("limit", "range")], "{limit}");
        }
        for limit in ["1", "200"] {
            assert_eq!(ids(&call(&app, list(&t, &format!("limit={limit}"))).await).len(), 1);
        }
        let reversed = call(&app, list(&t, "from=2020-03-02T00:00:00Z&to=2020-03-02T00:00:00Z")).await;
        assert_eq!(fields(&reversed), vec![pair("to", "after_from")]);
        for query in [
            "limit=-1",
            "limit=many",
            "limit=99999999999",
            "cursor=abc",
            "cursor=12~not-a-uuid",
            "cursor=99999999999999999999~0190b1c2-0000-7000-8000-000000000000",
            "cursor=",
            "kinds=diaryPage",
            "kinds=moodCheckIn,,intention",
            "kinds=MoodCheckIn",
            "phase=later",
            "from=yesterday",
            "to=2020-13-01T00:00:00Z",
            "dosingSessionId=not-a-uuid",
            "sort=asc",
            "limit=5&limit=6",
        ] {
            let reply = call(&app, list(&t, query)).await;
            reply.assert_problem(400, "bad-request");
            assert!(reply.body["detail"].as_str().unwrap().len() > 5, "{query}");
        }
        assert_eq!(ids(&call(&app, list(&t, "kinds=")).await).len(), 1, "no kinds: every kind");
        let wrong_method = call(&app, authed(TestRequest::put().uri(RECORDS).set_json(json!({})), &t)).await;
        assert_eq!(wrong_method.status, 405);
        assert_eq!(wrong_method.body["type"], "urn:kap-journal:problem:method-not-allowed");
        let made = call(&app, create(&t, &entry("x", "dosing"))).await;
        let id = made.body["id"].as_str().unwrap();
        let patch = call(&app, authed(TestRequest::patch().uri(&format!("{RECORDS}/{id}")), &t)).await;
        assert_eq!(patch.status, 405);
        let post = call(&app, create(&t, &entry("x", "dosing")).uri(&format!("{RECORDS}/{id}"))).await;
        assert_eq!(post.status, 405);
    }

    async fn every_write_bumps_the_owners_version_by_one(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "lu@example.org").await;
        let t = token(&tokens);
        let me = account_id(&tokens);
        assert_eq!(owner_version(&server, &me).await, None);

        let s = call(&app, create(&t, &session("2020-03-10T10:00:00Z"))).await;
        let sid = s.body["id"].as_str().unwrap().to_owned();
        assert_eq!(owner_version(&server, &me).await, Some(1));
        assert_eq!(row_version(&server, &sid).await, 1);

        let i = call(&app, create(&t, &intention("Stay curious", &sid))).await;
        let iid = i.body["id"].as_str().unwrap().to_owned();
        assert_eq!(owner_version(&server, &me).await, Some(2));
        assert_eq!(row_version(&server, &iid).await, 2);

        let edited = call(&app, put(&t, &iid, &intention("Stay open", &sid))).await;
        assert_eq!(edited.status, 200);
        assert_eq!(owner_version(&server, &me).await, Some(3));
        assert_eq!(row_version(&server, &iid).await, 3);
        assert_eq!(row_version(&server, &sid).await, 1, "other rows keep theirs");

        // Refused writes and reads change nothing.
        call(&app, put(&t, &iid, &intention("", &sid))).await.assert_problem(422, "validation");
        call(&app, put(&t, &iid, &check_in("2020-03-01T08:00:00Z", 5))).await.assert_problem(422, "validation");
        call(&app, delete(&t, &sid)).await.assert_problem(409, "conflict");
        call(&app, delete(&t, "0190b1c2-0000-7000-8000-000000000000")).await.assert_problem(404, "not-found");
        call(&app, put(&t, "0190b1c2-0000-7000-8000-000000000000", &session("2020-03-10T10:00:00Z"))).await
            .assert_problem(404, "not-found");
        call(&app, create(&t, &intention("x", "0190b1c2-0000-7000-8000-000000000000"))).await
            .assert_problem(422, "validation");
        call(&app, put(&t, &iid, &intention("Stay open", &sid))).await;
        call(&app, get(&t, &iid)).await;
        call(&app, list(&t, "")).await;
        assert_eq!(owner_version(&server, &me).await, Some(3));

        assert_eq!(call(&app, delete(&t, &iid)).await.status, 204);
        assert_eq!(owner_version(&server, &me).await, Some(4));
        assert_eq!(row_version(&server, &iid).await, 4, "the tombstone carries the version");
        assert_eq!(call(&app, delete(&t, &sid)).await.status, 204);
        assert_eq!(owner_version(&server, &me).await, Some(5));

        // Counters are per owner.
        let other = register(&app, "lu-other@example.org").await;
        call(&app, create(&token(&other), &entry("x", "dosing"))).await;
        assert_eq!(owner_version(&server, &account_id(&other)).await, Some(1));
        assert_eq!(owner_version(&server, &me).await, Some(5));
    }
}

#[test]
fn the_records_api_is_documented() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(journal_server::http::records::RecordsApi::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let methods = |path: &str| -> Vec<String> {
        let mut m: Vec<String> = paths[path].as_object().unwrap().keys().cloned().collect();
        m.sort();
        m
    };
    assert_eq!(methods("/api/v1/records"), vec!["get", "post"]);
    assert_eq!(
        methods("/api/v1/records/{id}"),
        vec!["delete", "get", "put"]
    );
    for (path, method) in [
        ("/api/v1/records", "get"),
        ("/api/v1/records", "post"),
        ("/api/v1/records/{id}", "get"),
        ("/api/v1/records/{id}", "put"),
        ("/api/v1/records/{id}", "delete"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["tags"], json!(["records"]), "{method} {path}");
        assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        assert!(op["responses"]["403"].is_object(), "{method} {path}");
    }
    let params: Vec<&str> = doc["paths"]["/api/v1/records"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        vec![
            "kinds",
            "phase",
            "from",
            "to",
            "dosingSessionId",
            "limit",
            "cursor"
        ]
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "RecordBody",
        "Record",
        "RecordKind",
        "JournalEntry",
        "Intention",
        "MoodCheckIn",
        "Assessment",
        "ExercisePractice",
        "DosingSession",
        "RecordPage",
        "ListCursor",
        "Problem",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
}
