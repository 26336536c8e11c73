//! Writes the rules refuse, sent anyway: each must answer a 4xx problem
//! that says why — through the REST API and as a sync push's outcome alike
//! — and change nothing; never a 500. Each test on SQLite and on
//! PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, RecordId};
use serde_json::{Value, json};

/// A clock stamp `seconds` after 2026-01-01.
fn stamp(seconds: u64) -> String {
    Hlc::new(1_767_225_600_000 + seconds * 1_000, 0).to_string()
}

fn share_upsert(mutation: u64, id: &str, at: u64, base: Option<u64>, body: &Value) -> Value {
    let mut m = json!({
        "mutationId": mutation, "recordId": id, "kind": "share", "op": "upsert",
        "hlc": stamp(at), "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z", "body": body,
    });
    if let Some(base) = base {
        m["baseHlc"] = json!(stamp(base));
    }
    m
}

/// The records and revisions of a snapshot: what a refused push must leave
/// as it was (the push still keeps its device and outcomes).
fn records_of(snapshot: DataSnapshot) -> Vec<(&'static str, Vec<String>)> {
    snapshot
        .0
        .into_iter()
        .filter(|(table, _)| table.starts_with("record"))
        .collect()
}

async fn push<S, B>(app: &S, token: &str, device: &str, mutations: Vec<Value>) -> Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    call(
        app,
        authed(
            TestRequest::post()
                .uri("/api/v1/sync/push")
                .set_json(json!({"deviceId": device, "mutations": mutations})),
            token,
        ),
    )
    .await
}

on_both_backends! {
    async fn granting_a_revoked_share_again_through_rest_is_a_409_that_says_why(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "regrant").await;
        let t = token(&side.patient);
        let made = call(
            &app,
            authed(
                TestRequest::post()
                    .uri("/api/v1/records")
                    .set_json(kinds_share(&side.therapist_id, &["moodCheckIn"])),
                &t,
            ),
        )
        .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let uri = format!("/api/v1/records/{}", made.body["id"].as_str().unwrap());
        let mut revoked = made.body["body"].clone();
        revoked["revoked"] = json!(true);
        let reply = call(
            &app,
            authed(TestRequest::put().uri(&uri).set_json(json!({"kind": "share", "body": revoked})), &t),
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let before = data_snapshot(&server).await;

        // Granted again, or widened while staying revoked: both refused.
        let mut granted = revoked.clone();
        granted["revoked"] = json!(false);
        let mut widened = revoked.clone();
        widened["scope"] = json!({"type": "kinds", "kinds": ["moodCheckIn", "journalEntry"]});
        for body in [granted, widened] {
            let reply = call(
                &app,
                authed(TestRequest::put().uri(&uri).set_json(json!({"kind": "share", "body": body})), &t),
            )
            .await;
            reply.assert_problem(409, "conflict");
            let detail = reply.body["detail"].as_str().unwrap();
            assert!(detail.contains("revoked") && detail.contains("make a new share"), "{detail}");
        }
        assert_eq!(data_snapshot(&server).await, before, "a refused edit changed data");
        let read = call(&app, authed(TestRequest::get().uri(&uri), &t)).await;
        assert_eq!(read.body["body"]["revoked"], true);
        // The same content again changes nothing and is no error.
        let same = call(
            &app,
            authed(TestRequest::put().uri(&uri).set_json(json!({"kind": "share", "body": revoked})), &t),
        )
        .await;
        assert_eq!(same.status, 200, "{:?}", same.body);
        // Deleting the revoked share stays allowed.
        let deleted = call(&app, authed(TestRequest::delete().uri(&uri), &t)).await;
        assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    }

    async fn granting_a_revoked_share_again_in_a_push_is_rejected_alone(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "regrant-push").await;
        let t = token(&side.patient);
        let device = DeviceId::new().to_string();
        let id = RecordId::new().to_string();
        let live = kinds_share(&side.therapist_id, &["moodCheckIn"])["body"].clone();
        let mut revoked = live.clone();
        revoked["revoked"] = json!(true);
        let reply = push(&app, &t, &device, vec![
            share_upsert(1, &id, 1, None, &live),
            share_upsert(2, &id, 2, Some(1), &revoked),
        ])
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["results"][1]["status"], "applied");
        let before = data_snapshot(&server).await;

        // Made on the revoked version, and followed by a change that is
        // fine: the refusal holds up nothing behind it.
        let other = RecordId::new().to_string();
        let reply = push(&app, &t, &device, vec![
            share_upsert(3, &id, 3, Some(2), &live),
            share_upsert(4, &other, 4, None, &live),
        ])
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let refused = &reply.body["results"][0];
        assert_eq!(refused["status"], "rejected", "{refused:?}");
        assert_eq!(refused["problem"]["type"], "urn:kap-journal:problem:conflict");
        assert!(
            refused["problem"]["detail"].as_str().unwrap().contains("make a new share"),
            "{refused:?}"
        );
        assert_eq!(reply.body["results"][1]["status"], "applied");
        let read = call(
            &app,
            authed(TestRequest::get().uri(&format!("/api/v1/records/{id}")), &t),
        )
        .await;
        assert_eq!(read.body["body"]["revoked"], true);
        assert_eq!(read.body["hlc"], stamp(2), "the revoked version is untouched");
        assert_ne!(data_snapshot(&server).await, before, "the second mutation was applied");

        // A phone that granted more before it heard of the revocation
        // (its change races the revocation) is merged, not refused: the
        // revocation wins and the device is told of the conflict.
        let racing = push(&app, &t, &DeviceId::new().to_string(), vec![
            share_upsert(1, &id, 5, Some(1), &live),
        ])
        .await;
        assert_eq!(racing.body["results"][0]["status"], "applied", "{:?}", racing.body);
        assert_eq!(racing.body["results"][0]["conflict"], true);
        let read = call(
            &app,
            authed(TestRequest::get().uri(&format!("/api/v1/records/{id}")), &t),
        )
        .await;
        assert_eq!(read.body["body"]["revoked"], true);
    }

    async fn an_entry_answering_another_phases_prompt_is_refused(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "prompt").await;
        let t = token(&side.patient);
        let preparation = journal_core::prompts::for_phase(journal_core::phase::Phase::Preparation)
            .next()
            .unwrap()
            .id;
        let before = data_snapshot(&server).await;
        let wrong = json!({"kind": "journalEntry", "body": {
            "body": "The music carried me.", "phase": "dosing", "promptId": preparation}});
        let reply = call(&app, authed(TestRequest::post().uri("/api/v1/records").set_json(&wrong), &t)).await;
        reply.assert_problem(422, "validation");
        assert!(
            reply.body["errors"].as_array().unwrap().iter()
                .any(|e| e["field"] == "promptId" && e["rule"] == "phase"),
            "{:?}", reply.body
        );
        // The same in a push: that mutation alone is rejected.
        let id = RecordId::new().to_string();
        let mutation = json!({
            "mutationId": 1, "recordId": id, "kind": "journalEntry", "op": "upsert",
            "hlc": stamp(1), "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
            "body": wrong["body"]});
        let pushed = push(&app, &t, &DeviceId::new().to_string(), vec![mutation]).await;
        assert_eq!(pushed.body["results"][0]["status"], "rejected", "{:?}", pushed.body);
        assert_eq!(pushed.body["results"][0]["problem"]["type"], "urn:kap-journal:problem:validation");
        let right = json!({"kind": "journalEntry", "body": {
            "body": "What do I hope for?", "phase": "preparation", "promptId": preparation}});
        let made = call(&app, authed(TestRequest::post().uri("/api/v1/records").set_json(&right), &t)).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        assert_ne!(data_snapshot(&server).await, before);
    }

    async fn a_clock_stamp_past_the_largest_is_refused_in_the_senders_terms(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "far-stamp").await;
        let t = token(&side.patient);
        let before = data_snapshot(&server).await;
        let mut mutation = share_upsert(1, &RecordId::new().to_string(), 1, None,
            &kinds_share(&side.therapist_id, &["moodCheckIn"])["body"]);
        mutation["hlc"] = json!("ffffffffffffffff");
        let reply = push(&app, &t, &DeviceId::new().to_string(), vec![mutation]).await;
        reply.assert_problem(400, "bad-request");
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(detail.contains("ffffffffffffffff") && detail.contains("later than any clock"), "{detail}");
        assert!(!detail.contains("-1"), "{detail}");
        assert_eq!(data_snapshot(&server).await, before);
    }

    async fn a_push_stamped_ahead_of_the_servers_clock_is_refused_whole(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "clock-ahead").await;
        let t = token(&side.patient);
        let device = DeviceId::new().to_string();
        let now = chrono::Utc::now();
        let at = |time: chrono::DateTime<chrono::Utc>| {
            Hlc::new(u64::try_from(time.timestamp_millis()).unwrap(), 0).to_string()
        };
        let entry = |mutation: u64, hlc: String| json!({
            "mutationId": mutation, "recordId": RecordId::new().to_string(), "kind": "journalEntry",
            "op": "upsert", "hlc": hlc, "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "body": {"body": "written on a phone set to the wrong year", "phase": "integration"}});
        let before = data_snapshot(&server).await;
        // A stamp in the year 6000, and one two days ahead, each behind a
        // good change: the whole push is refused, the good change too, so
        // the phone keeps everything and sends it again.
        for ahead in [
            "73967712a8000000".to_owned(),
            at(now + chrono::TimeDelta::days(2)),
            at(now + chrono::TimeDelta::minutes(20)),
        ] {
            let reply = push(&app, &t, &device, vec![entry(1, at(now)), entry(2, ahead.clone())]).await;
            reply.assert_problem(409, "clock-ahead");
            let detail = reply.body["detail"].as_str().unwrap();
            assert!(detail.contains("mutation 2") && detail.contains("runs ahead"), "{detail}");
            assert_eq!(data_snapshot(&server).await, before, "a refused push wrote ({ahead})");
        }
        // A few minutes ahead is a clock within the allowance: applied.
        let reply = push(&app, &t, &device,
            vec![entry(1, at(now)), entry(2, at(now + chrono::TimeDelta::minutes(5)))]).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["results"][1]["status"], "applied", "{:?}", reply.body);
        // The pull says the server's time, so a device can tell how far
        // ahead its own clock runs.
        let pulled = call(&app, authed(TestRequest::get().uri("/api/v1/sync/pull"), &t)).await;
        let server_time = pulled.body["serverTime"].as_str().unwrap();
        let server_time = chrono::DateTime::parse_from_rfc3339(server_time).unwrap();
        assert!((server_time.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().abs() < 60);
    }

    async fn a_replayed_create_writes_once_and_answers_the_first_result(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "replay-ana").await;
        let bo = side(&server, &app, "replay-bo").await;
        let t = token(&ana.patient);
        let create = |body: &Value, token: &str| {
            authed(TestRequest::post().uri("/api/v1/records").set_json(body), token)
        };
        let id = RecordId::new().to_string();
        let entry = json!({"id": id, "kind": "journalEntry",
            "body": {"body": "Sent twice over a bad network.", "phase": "integration"}});
        let first = call(&app, create(&entry, &t)).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        assert_eq!(first.body["id"], json!(id));
        let after_first = data_snapshot(&server).await;
        // The same create again: the first result, nothing written.
        let again = call(&app, create(&entry, &t)).await;
        assert_eq!(again.status, 201, "{:?}", again.body);
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers.get("location"), first.headers.get("location"));
        assert_eq!(data_snapshot(&server).await, after_first, "a replay wrote");
        // The same id with other content, a deleted record's id, another
        // patient's record id: all refused, nothing written.
        let mut other = entry.clone();
        other["body"]["body"] = json!("Something else entirely.");
        let deleted = call(&app, authed(TestRequest::delete()
            .uri(&format!("/api/v1/records/{}", ana.record)), &t)).await;
        assert_eq!(deleted.status, 204);
        let mut reuse_deleted = entry.clone();
        reuse_deleted["id"] = json!(ana.record);
        let mut someone_elses = entry.clone();
        someone_elses["id"] = json!(bo.record);
        let before = data_snapshot(&server).await;
        for (what, body) in [("other content", other), ("a deleted record's id", reuse_deleted),
            ("another patient's record id", someone_elses)] {
            let reply = call(&app, create(&body, &t)).await;
            reply.assert_problem(422, "validation");
            assert!(
                reply.body["errors"].as_array().unwrap().iter()
                    .any(|e| e["field"] == "id" && e["rule"] == "taken"),
                "{what}: {:?}", reply.body
            );
        }
        assert_eq!(data_snapshot(&server).await, before, "a refused create wrote");
        // Bo's record is Bo's still.
        let bos = call(&app, authed(TestRequest::get()
            .uri(&format!("/api/v1/records/{}", bo.record)), &token(&bo.patient))).await;
        assert_eq!(bos.status, 200);
        assert_ne!(bos.body["body"]["body"], "Sent twice over a bad network.");
        // Without an id, two sends are two records, as before.
        let plain = json!({"kind": "journalEntry", "body": {"body": "No id.", "phase": "integration"}});
        let one = call(&app, create(&plain, &t)).await;
        let two = call(&app, create(&plain, &t)).await;
        assert_eq!((one.status.as_u16(), two.status.as_u16()), (201, 201));
        assert_ne!(one.body["id"], two.body["id"]);
        // An id that is no UUID is unreadable.
        let mut bad = entry.clone();
        bad["id"] = json!("not-a-uuid");
        call(&app, create(&bad, &t)).await.assert_problem(400, "bad-request");
    }

    async fn implausible_dates_are_refused_through_rest_and_push(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "dates").await;
        let t = token(&side.patient);
        let two_days_ahead = (chrono::Utc::now() + chrono::TimeDelta::days(2)).to_rfc3339();
        let check_in = |at: &str| json!({"kind": "moodCheckIn",
            "body": {"recordedAt": at, "mood": 5, "anxiety": 5, "energy": 5}});
        let questionnaire = |at: &str| json!({"kind": "assessment",
            "body": {"instrument": "gad7", "takenAt": at, "answers": [0, 0, 0, 0, 0, 0, 0]}});
        let before = data_snapshot(&server).await;
        for at in ["0001-01-01T00:00:00Z", "3000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", two_days_ahead.as_str()] {
            for (field, content) in [("recordedAt", check_in(at)), ("takenAt", questionnaire(at))] {
                let reply = call(&app, authed(
                    TestRequest::post().uri("/api/v1/records").set_json(&content), &t)).await;
                reply.assert_problem(422, "validation");
                assert!(
                    reply.body["errors"].as_array().unwrap().iter()
                        .any(|e| e["field"] == field && e["rule"] == "plausible_time"),
                    "{at}: {:?}", reply.body
                );
                let mutation = json!({
                    "mutationId": 1, "recordId": RecordId::new().to_string(), "kind": content["kind"],
                    "op": "upsert", "hlc": stamp(1), "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z", "body": content["body"]});
                let pushed = push(&app, &t, &DeviceId::new().to_string(), vec![mutation]).await;
                assert_eq!(pushed.body["results"][0]["status"], "rejected", "{at}: {:?}", pushed.body);
                assert_eq!(pushed.body["results"][0]["problem"]["type"], "urn:kap-journal:problem:validation");
            }
        }
        // (Pushes keep their devices and outcomes; no record came of them.)
        assert_eq!(records_of(data_snapshot(&server).await), records_of(before), "an implausible date was stored");
        // Editing a record to an implausible date is refused too; a plausible
        // one, and a session planned weeks ahead, are fine.
        let made = call(&app, authed(TestRequest::post().uri("/api/v1/records")
            .set_json(check_in("2026-06-01T08:00:00Z")), &t)).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let edit = call(&app, authed(TestRequest::put()
            .uri(&format!("/api/v1/records/{}", made.body["id"].as_str().unwrap()))
            .set_json(check_in("9999-12-31T23:59:59Z")), &t)).await;
        edit.assert_problem(422, "validation");
        let ahead = (chrono::Utc::now() + chrono::TimeDelta::days(21)).to_rfc3339();
        let session = json!({"kind": "dosingSession", "body": {"scheduledAt": ahead, "route": "lozenge"}});
        let planned = call(&app, authed(TestRequest::post().uri("/api/v1/records").set_json(&session), &t)).await;
        assert_eq!(planned.status, 201, "{:?}", planned.body);
    }

    async fn deleting_what_was_never_there_is_said_so_and_makes_nothing(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "ghost").await;
        let t = token(&side.patient);
        let device = DeviceId::new().to_string();
        let before = data_snapshot(&server).await;
        let ghost = RecordId::new().to_string();
        let delete = json!({
            "mutationId": 1, "recordId": ghost, "kind": "journalEntry", "op": "delete",
            "hlc": stamp(1), "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"});
        let reply = push(&app, &t, &device, vec![delete]).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let outcome = &reply.body["results"][0];
        assert_eq!(outcome["status"], "rejected", "{outcome:?}");
        assert_eq!(outcome["problem"]["type"], "urn:kap-journal:problem:not-found");
        assert_eq!(records_of(data_snapshot(&server).await), records_of(before), "a tombstone was made up");
        // A create and its delete in one push: the delete finds the create.
        let id = RecordId::new().to_string();
        let create = json!({
            "mutationId": 2, "recordId": id, "kind": "journalEntry", "op": "upsert",
            "hlc": stamp(2), "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
            "body": {"body": "written, then taken back", "phase": "integration"}});
        let gone = json!({
            "mutationId": 3, "recordId": id, "kind": "journalEntry", "op": "delete",
            "hlc": stamp(3), "baseHlc": stamp(2), "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z"});
        let reply = push(&app, &t, &device, vec![create, gone]).await;
        assert_eq!(reply.body["results"][0]["status"], "applied", "{:?}", reply.body);
        assert_eq!(reply.body["results"][1]["status"], "applied", "{:?}", reply.body);
    }
}
