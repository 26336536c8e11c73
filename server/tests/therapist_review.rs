//! Therapist review: the authorization matrix (two patients; therapists
//! with a share, linked without shares, with a revoked share, with an ended
//! link, unlinked) against every therapist route and every record kind;
//! revocation with a token issued before it; the feed's filters and pages;
//! the audit log and the patient's view of it; the alert lifecycle, from
//! the REST API and from sync push; the timeline's measurement-based-care
//! maths; the policy texts. Each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, RecordId};
use journal_server::store::StoreError;
use journal_server::store::schema::{alerts, audit_log};
use serde_json::{Value, json};

const RECORDS: &str = "/api/v1/records";
const PATIENTS: &str = "/api/v1/therapist/patients";
const ALERTS: &str = "/api/v1/therapist/alerts";
const ACCESS_LOG: &str = "/api/v1/me/access-log";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn get(token: &str, uri: &str) -> TestRequest {
    authed(TestRequest::get().uri(uri), token)
}

fn post(token: &str, uri: &str) -> TestRequest {
    authed(TestRequest::post().uri(uri), token)
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Creates a record as `patient`; returns it.
async fn create<S, B>(app: &S, patient: &str, body: &Value) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        authed(TestRequest::post().uri(RECORDS).set_json(body), patient),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

/// Replaces a record's content as `patient`; returns it.
async fn update<S, B>(app: &S, patient: &str, id: &str, body: &Value) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        authed(
            TestRequest::put()
                .uri(&format!("{RECORDS}/{id}"))
                .set_json(body),
            patient,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

fn revoked(mut share: Value) -> Value {
    share["body"]["revoked"] = json!(true);
    share
}

fn entry(text: &str, phase: &str) -> Value {
    json!({"kind": "journalEntry", "body": {"body": text, "phase": phase}})
}

fn check_in(at: &str, mood: u8, sleep: f64) -> Value {
    json!({"kind": "moodCheckIn",
           "body": {"recordedAt": at, "mood": mood, "anxiety": 4, "energy": 6, "sleepHours": sleep}})
}

fn phq9(at: &str, answers: [u8; 9]) -> Value {
    json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": at, "answers": answers}})
}

fn gad7(at: &str, answers: [u8; 7]) -> Value {
    json!({"kind": "assessment", "body": {"instrument": "gad7", "takenAt": at, "answers": answers}})
}

fn session(at: &str) -> Value {
    json!({"kind": "dosingSession", "body": {"scheduledAt": at, "route": "nasalSpray"}})
}

fn intention(text: &str, session: &str) -> Value {
    json!({"kind": "intention", "body": {"text": text, "dosingSessionId": session}})
}

fn practice(at: &str) -> Value {
    json!({"kind": "exercisePractice", "body": {"exerciseId": "box-breathing",
        "practicedAt": at, "stepsCompleted": 1, "distressBefore": 6, "distressAfter": 3}})
}

/// PHQ-9 answers without the risk item, adding up to `total` (≤ 24).
fn phq9_totalling(total: u8) -> [u8; 9] {
    let mut answers = [0; 9];
    let mut left = total;
    for answer in answers.iter_mut().take(8) {
        *answer = left.min(3);
        left -= *answer;
    }
    assert_eq!(left, 0, "{total} needs the risk item");
    answers
}

/// A PHQ-9 whose item 9 signals risk.
const RISK: [u8; 9] = [2, 2, 1, 1, 1, 1, 1, 1, 1];

fn feed_uri(patient: &str, query: &str) -> String {
    format!("{PATIENTS}/{patient}/feed?{query}")
}

fn item_uri(patient: &str, record: &str) -> String {
    format!("{PATIENTS}/{patient}/records/{record}")
}

fn timeline_uri(patient: &str, query: &str) -> String {
    format!("{PATIENTS}/{patient}/timeline?{query}")
}

/// The record ids of a feed page.
fn feed_ids(reply: &Reply) -> BTreeSet<String> {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

/// Asserts the one 404 body every unreadable item answers.
#[track_caller]
fn assert_hidden(reply: &Reply) {
    reply.assert_problem(404, "not-found");
    assert_eq!(reply.body["detail"], "no such record", "{:?}", reply.body);
}

/// Asserts the one 404 body every unknown or unlinked patient answers.
#[track_caller]
fn assert_no_patient(reply: &Reply) {
    reply.assert_problem(404, "not-found");
    assert_eq!(reply.body["detail"], "no such patient", "{:?}", reply.body);
}

/// The therapist's alerts of one status (every status with `""`).
async fn alerts_of<S, B>(app: &S, therapist: &str, status: &str) -> Vec<Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = if status.is_empty() {
        ALERTS.to_owned()
    } else {
        format!("{ALERTS}?status={status}")
    };
    let reply = call(app, get(therapist, &uri)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["alerts"].as_array().unwrap().clone()
}

/// Every alert row in the database: (therapist, record, status).
async fn alert_rows(server: &TestServer) -> Vec<(String, String, String)> {
    server
        .state
        .db
        .run(|conn| -> Result<_, StoreError> {
            Ok(alerts::table
                .select((alerts::therapist_id, alerts::record_id, alerts::status))
                .order(alerts::created_at)
                .load(conn)?)
        })
        .await
        .unwrap()
}

/// An audit row: (therapist, action, record, kind, share).
type AuditRow = (String, String, String, String, String);

/// An audit row as stored (the record columns may be null).
type StoredAuditRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Every audit row of a patient, oldest first.
async fn audit_rows(server: &TestServer, patient: &str) -> Vec<AuditRow> {
    let patient = patient.to_owned();
    let rows: Vec<StoredAuditRow> = server
        .state
        .db
        .run(move |conn| -> Result<_, StoreError> {
            Ok(audit_log::table
                .filter(audit_log::patient_id.eq(patient))
                .order((audit_log::at, audit_log::id))
                .select((
                    audit_log::therapist_id,
                    audit_log::action,
                    audit_log::record_id,
                    audit_log::record_kind,
                    audit_log::share_id,
                ))
                .load(conn)?)
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|(t, a, r, k, s)| (t, a, r.unwrap(), k.unwrap(), s.unwrap()))
        .collect()
}

/// One patient's records of every kind, and the shares that the matrix is
/// made of.
struct World {
    p1: String,
    p1_id: String,
    p2: String,
    p2_id: String,
    /// A: an item share of `entry` and a kinds share of check-ins and
    /// assessments.
    a: String,
    a_id: String,
    /// B: linked, nothing shared.
    b: String,
    /// C: linked; its share of every kind revoked.
    c: String,
    /// E: shared every kind, then the link ended.
    e: String,
    /// D: never linked (a share names them all the same).
    d: String,
    entry: String,
    other_entry: String,
    session: String,
    intention: String,
    check_ins: Vec<String>,
    phq: String,
    gad: String,
    practice: String,
    a_item_share: String,
    a_kinds_share: String,
    /// P1's share records (never readable by anyone).
    shares: Vec<String>,
    /// P2's records.
    p2_records: Vec<String>,
}

const EVERY_KIND: [&str; 6] = [
    "journalEntry",
    "intention",
    "moodCheckIn",
    "assessment",
    "exercisePractice",
    "dosingSession",
];

async fn world<S, B>(server: &TestServer, app: &S) -> World
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let p1_tokens = register(app, "p1@example.org").await;
    let p2_tokens = register(app, "p2@example.org").await;
    let (p1, p2) = (token(&p1_tokens), token(&p2_tokens));
    let a_tokens = therapist(server, app, "a@clinic.example").await;
    let b_tokens = therapist(server, app, "b@clinic.example").await;
    let c_tokens = therapist(server, app, "c@clinic.example").await;
    let d_tokens = therapist(server, app, "d@clinic.example").await;
    let e_tokens = therapist(server, app, "e@clinic.example").await;
    let (a, b, c, d, e) = (
        token(&a_tokens),
        token(&b_tokens),
        token(&c_tokens),
        token(&d_tokens),
        token(&e_tokens),
    );
    let (a_id, c_id, d_id, e_id) = (
        account_id(&a_tokens),
        account_id(&c_tokens),
        account_id(&d_tokens),
        account_id(&e_tokens),
    );

    link(app, &a, &p1).await;
    link(app, &b, &p1).await;
    link(app, &c, &p1).await;
    let e_link = link(app, &e, &p1).await;
    // A is P2's therapist too, but P2 shares nothing.
    link(app, &a, &p2).await;

    let session_id = id_of(&create(app, &p1, &session("2026-03-05T10:00:00Z")).await);
    let entry_id = id_of(&create(app, &p1, &entry("What I want A to read", "integration")).await);
    let other_entry = id_of(&create(app, &p1, &entry("Private", "preparation")).await);
    let intention_id = id_of(&create(app, &p1, &intention("Stay open", &session_id)).await);
    let mut check_ins = Vec::new();
    for (day, mood) in [(1, 3), (8, 6)] {
        let at = format!("2026-03-{day:02}T08:00:00Z");
        check_ins.push(id_of(&create(app, &p1, &check_in(&at, mood, 7.0)).await));
    }
    let phq = id_of(&create(app, &p1, &phq9("2026-03-02T09:00:00Z", phq9_totalling(12))).await);
    let gad = id_of(
        &create(
            app,
            &p1,
            &gad7("2026-03-02T09:05:00Z", [2, 2, 1, 1, 1, 1, 1]),
        )
        .await,
    );
    let practice_id = id_of(&create(app, &p1, &practice("2026-03-03T20:00:00Z")).await);

    let p2_records = vec![
        id_of(&create(app, &p2, &entry("P2's own words", "integration")).await),
        id_of(&create(app, &p2, &check_in("2026-03-04T08:00:00Z", 2, 5.0)).await),
        id_of(&create(app, &p2, &phq9("2026-03-04T09:00:00Z", phq9_totalling(8))).await),
    ];

    let a_item_share = id_of(&create(app, &p1, &item_share(&a_id, &entry_id)).await);
    let a_kinds_share = id_of(
        &create(
            app,
            &p1,
            &kinds_share(&a_id, &["moodCheckIn", "assessment"]),
        )
        .await,
    );
    // An item share naming another patient's record grants nothing.
    let stray = id_of(&create(app, &p1, &item_share(&a_id, &p2_records[0])).await);
    let c_share_body = kinds_share(&c_id, &EVERY_KIND);
    let c_share = id_of(&create(app, &p1, &c_share_body).await);
    update(app, &p1, &c_share, &revoked(c_share_body)).await;
    let e_share = id_of(&create(app, &p1, &kinds_share(&e_id, &EVERY_KIND)).await);
    let d_share = id_of(&create(app, &p1, &kinds_share(&d_id, &EVERY_KIND)).await);
    let ended = call(
        app,
        authed(
            TestRequest::delete().uri(&format!("/api/v1/care/links/{e_link}")),
            &p1,
        ),
    )
    .await;
    assert_eq!(ended.status, 204, "{:?}", ended.body);

    World {
        p1,
        p1_id: account_id(&p1_tokens),
        p2,
        p2_id: account_id(&p2_tokens),
        a,
        a_id,
        b,
        c,
        e,
        d,
        entry: entry_id,
        other_entry,
        session: session_id,
        intention: intention_id,
        check_ins,
        phq,
        gad,
        practice: practice_id,
        shares: vec![
            a_item_share.clone(),
            a_kinds_share.clone(),
            stray,
            c_share,
            e_share,
            d_share,
        ],
        a_item_share,
        a_kinds_share,
        p2_records,
    }
}

impl World {
    /// Every record of P1, shares included.
    fn p1_records(&self) -> Vec<String> {
        let mut all = vec![
            self.entry.clone(),
            self.other_entry.clone(),
            self.session.clone(),
            self.intention.clone(),
            self.phq.clone(),
            self.gad.clone(),
            self.practice.clone(),
        ];
        all.extend(self.check_ins.iter().cloned());
        all.extend(self.shares.iter().cloned());
        all
    }

    /// What A may read of P1.
    fn a_sees(&self) -> BTreeSet<String> {
        let mut ids = set(&[&self.entry, &self.phq, &self.gad]);
        ids.extend(self.check_ins.iter().cloned());
        ids
    }
}

/// A push of upserts, one per `(record id, content)`, from a new device.
fn push_of(records: &[(String, Value)]) -> Value {
    let mutations: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (id, content))| {
            json!({"mutationId": i + 1, "recordId": id, "kind": content["kind"], "op": "upsert",
                "hlc": Hlc::new(1_767_225_600_000 + i as u64 * 1_000, 0).to_string(),
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "body": content["body"]})
        })
        .collect();
    json!({"deviceId": DeviceId::new().to_string(), "mutations": mutations})
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

on_both_backends! {
    async fn the_authorization_matrix(server: TestServer) {
        let app = server.app().await;
        let w = world(&server, &app).await;
        let p1_all = w.p1_records();
        let a_sees = w.a_sees();

        // --- A: exactly the shared entry, every check-in and assessment.
        let feed = call(&app, get(&w.a, &feed_uri(&w.p1_id, ""))).await;
        assert_eq!(feed_ids(&feed), a_sees);
        for item in feed.body["items"].as_array().unwrap() {
            let id = item["record"]["id"].as_str().unwrap();
            let expected = if id == w.entry { &w.a_item_share } else { &w.a_kinds_share };
            assert_eq!(item["sharedBy"], json!(expected), "{id}");
            assert_ne!(item["record"]["kind"], "share");
        }
        for id in &p1_all {
            let reply = call(&app, get(&w.a, &item_uri(&w.p1_id, id))).await;
            if a_sees.contains(id) {
                assert_eq!(reply.status, 200, "{id}: {:?}", reply.body);
                assert_eq!(reply.body["record"]["id"], json!(id));
            } else {
                assert_hidden(&reply);
            }
        }
        // Nothing of P2, under either patient's path (A is P2's therapist,
        // P2 shares nothing; P1's stray item share names P2's entry).
        for id in &w.p2_records {
            assert_hidden(&call(&app, get(&w.a, &item_uri(&w.p1_id, id))).await);
            assert_hidden(&call(&app, get(&w.a, &item_uri(&w.p2_id, id))).await);
        }
        assert!(feed_ids(&call(&app, get(&w.a, &feed_uri(&w.p2_id, ""))).await).is_empty());
        let timeline = call(&app, get(&w.a, &timeline_uri(&w.p1_id, ""))).await;
        assert_eq!(timeline.status, 200, "{:?}", timeline.body);
        let t = &timeline.body;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for list in ["moodCheckIns", "assessments", "dosingSessions"] {
            for point in t[list].as_array().unwrap() {
                seen.insert(point["recordId"].as_str().unwrap().to_owned());
            }
        }
        let mut expected = set(&[&w.phq, &w.gad]);
        expected.extend(w.check_ins.iter().cloned());
        assert_eq!(seen, expected, "the timeline shows shared check-ins and scores only");
        assert!(t["dosingSessions"].as_array().unwrap().is_empty());
        let p2_timeline = call(&app, get(&w.a, &timeline_uri(&w.p2_id, ""))).await;
        assert_eq!(p2_timeline.status, 200);
        assert!(p2_timeline.body["assessments"].as_array().unwrap().is_empty());
        assert!(p2_timeline.body["moodCheckIns"].as_array().unwrap().is_empty());
        assert_eq!(p2_timeline.body["summary"], json!({"phq9": null, "gad7": null}));

        // A's list of patients.
        let patients = call(&app, get(&w.a, PATIENTS)).await;
        assert_eq!(patients.status, 200, "{:?}", patients.body);
        let list = patients.body.as_array().unwrap();
        assert_eq!(list.len(), 2);
        let p1 = list.iter().find(|p| p["id"] == json!(w.p1_id)).unwrap();
        assert_eq!(p1["email"], "p1@example.org");
        assert_eq!(p1["sharedKinds"], json!(["moodCheckIn", "assessment"]));
        assert_eq!(p1["sharedItems"], 1);
        assert_eq!(p1["openAlerts"], 0);
        assert!(p1["linkedAt"].is_string());
        let p2 = list.iter().find(|p| p["id"] == json!(w.p2_id)).unwrap();
        assert_eq!((&p2["sharedKinds"], &p2["sharedItems"]), (&json!([]), &json!(0)));

        // --- B (linked, nothing shared) and C (share revoked): P1 is
        // theirs, but nothing of P1's is.
        for (who, t) in [("B", &w.b), ("C", &w.c)] {
            let feed = call(&app, get(t, &feed_uri(&w.p1_id, ""))).await;
            assert!(feed_ids(&feed).is_empty(), "{who}: {:?}", feed.body);
            assert_eq!(feed.body["nextCursor"], Value::Null);
            let timeline = call(&app, get(t, &timeline_uri(&w.p1_id, ""))).await;
            assert_eq!(timeline.status, 200, "{who}");
            for list in ["moodCheckIns", "assessments", "dosingSessions"] {
                assert!(timeline.body[list].as_array().unwrap().is_empty(), "{who} {list}");
            }
            assert_eq!(timeline.body["summary"], json!({"phq9": null, "gad7": null}));
            let patients = call(&app, get(t, PATIENTS)).await;
            assert_eq!(patients.body.as_array().unwrap().len(), 1, "{who}");
            assert_eq!(patients.body[0]["sharedKinds"], json!([]), "{who}");
            assert_eq!(patients.body[0]["sharedItems"], 0, "{who}");
        }

        // --- E (link ended) and D (never linked): P1 is nobody to them.
        for (who, t) in [("E", &w.e), ("D", &w.d)] {
            assert_no_patient(&call(&app, get(t, &feed_uri(&w.p1_id, ""))).await);
            assert_no_patient(&call(&app, get(t, &timeline_uri(&w.p1_id, ""))).await);
            let patients = call(&app, get(t, PATIENTS)).await;
            assert_eq!(patients.body, json!([]), "{who}");
        }

        // --- B, C, D, E: every item of both patients is hidden, with the
        // same answer as an unknown id.
        let unknown = RecordId::new().to_string();
        for t in [&w.b, &w.c, &w.d, &w.e] {
            for id in p1_all.iter().chain(&w.p2_records).chain([&unknown]) {
                assert_hidden(&call(&app, get(t, &item_uri(&w.p1_id, id))).await);
                assert_hidden(&call(&app, get(t, &item_uri(&w.p2_id, id))).await);
            }
        }
        let unknown_patient = uuid::Uuid::now_v7().to_string();
        assert_hidden(&call(&app, get(&w.a, &item_uri(&unknown_patient, &w.entry))).await);
        assert_hidden(&call(&app, get(&w.a, &item_uri("not-a-uuid", &w.entry))).await);
        assert_hidden(&call(&app, get(&w.a, &item_uri(&w.p1_id, "not-a-uuid"))).await);
        for patient in [unknown_patient.as_str(), "not-a-uuid"] {
            assert_no_patient(&call(&app, get(&w.a, &feed_uri(patient, ""))).await);
            assert_no_patient(&call(&app, get(&w.a, &timeline_uri(patient, ""))).await);
        }
        // A therapist's own id, or another therapist's, is no patient.
        assert_no_patient(&call(&app, get(&w.a, &feed_uri(&w.a_id, ""))).await);

        // --- Patients: 403 on every therapist route, their own data or not.
        let therapist_reads = [
            PATIENTS.to_owned(),
            feed_uri(&w.p1_id, ""),
            item_uri(&w.p1_id, &w.entry),
            timeline_uri(&w.p1_id, ""),
            ALERTS.to_owned(),
        ];
        for patient in [&w.p1, &w.p2] {
            for uri in &therapist_reads {
                call(&app, get(patient, uri)).await.assert_problem(403, "forbidden");
            }
        }
        // Without a token: 401.
        for uri in &therapist_reads {
            call(&app, TestRequest::get().uri(uri)).await.assert_problem(401, "unauthorized");
        }
    }

    async fn revocation_takes_effect_with_a_token_issued_before(server: TestServer) {
        let app = server.app().await;
        let w = world(&server, &app).await;
        // A's token, issued before anything is revoked, is kept throughout.
        let a = w.a.clone();
        let check_in = w.check_ins[0].clone();
        assert_eq!(call(&app, get(&a, &item_uri(&w.p1_id, &check_in))).await.status, 200);

        update(&app, &w.p1, &w.a_kinds_share,
            &revoked(kinds_share(&w.a_id, &["moodCheckIn", "assessment"]))).await;
        assert_eq!(feed_ids(&call(&app, get(&a, &feed_uri(&w.p1_id, ""))).await), set(&[&w.entry]));
        assert_hidden(&call(&app, get(&a, &item_uri(&w.p1_id, &check_in))).await);
        assert_hidden(&call(&app, get(&a, &item_uri(&w.p1_id, &w.phq))).await);
        let timeline = call(&app, get(&a, &timeline_uri(&w.p1_id, ""))).await;
        assert!(timeline.body["moodCheckIns"].as_array().unwrap().is_empty());
        assert!(timeline.body["assessments"].as_array().unwrap().is_empty());

        // Deleting the item share works like revoking it.
        let deleted = call(&app, authed(TestRequest::delete()
            .uri(&format!("{RECORDS}/{}", w.a_item_share)), &w.p1)).await;
        assert_eq!(deleted.status, 204);
        assert!(feed_ids(&call(&app, get(&a, &feed_uri(&w.p1_id, ""))).await).is_empty());
        assert_hidden(&call(&app, get(&a, &item_uri(&w.p1_id, &w.entry))).await);

        // A new share is seen at once; ending the link hides everything
        // again, and the patient with it.
        create(&app, &w.p1, &kinds_share(&w.a_id, &["journalEntry"])).await;
        assert_eq!(feed_ids(&call(&app, get(&a, &feed_uri(&w.p1_id, ""))).await),
            set(&[&w.entry, &w.other_entry]));
        let links = call(&app, get(&w.p1, "/api/v1/care/links")).await;
        let a_link = links.body.as_array().unwrap().iter()
            .find(|l| l["therapist"]["id"] == json!(w.a_id)).map(id_of).unwrap();
        let ended = call(&app, authed(TestRequest::delete()
            .uri(&format!("/api/v1/care/links/{a_link}")), &w.p1)).await;
        assert_eq!(ended.status, 204);
        assert_no_patient(&call(&app, get(&a, &feed_uri(&w.p1_id, ""))).await);
        assert_no_patient(&call(&app, get(&a, &timeline_uri(&w.p1_id, ""))).await);
        assert_hidden(&call(&app, get(&a, &item_uri(&w.p1_id, &w.entry))).await);
        let patients = call(&app, get(&a, PATIENTS)).await;
        assert_eq!(patients.body.as_array().unwrap().len(), 1, "only P2 is left");
        assert_eq!(patients.body[0]["id"], json!(w.p2_id));
    }

    async fn the_feed_filters_and_pages_like_the_patients_own_list(server: TestServer) {
        let app = server.app().await;
        let p = register(&app, "pat@example.org").await;
        let (p, p_id) = (token(&p), account_id(&p));
        let doctor = therapist(&server, &app, "doc@clinic.example").await;
        let (doctor, doctor_id) = (token(&doctor), account_id(&doctor));
        link(&app, &doctor, &p).await;
        let s = id_of(&create(&app, &p, &session("2026-04-10T10:00:00Z")).await);
        let about = id_of(&create(&app, &p, &json!({"kind": "journalEntry",
            "body": {"body": "After the session", "phase": "dosing", "dosingSessionId": s}})).await);
        let prep = id_of(&create(&app, &p, &entry("Before", "preparation")).await);
        let mut moods = Vec::new();
        for day in 1..=5 {
            let at = format!("2026-04-{day:02}T08:00:00Z");
            moods.push(id_of(&create(&app, &p, &check_in(&at, day, 7.0)).await));
        }
        create(&app, &p, &kinds_share(&doctor_id,
            &["journalEntry", "moodCheckIn", "dosingSession"])).await;

        let only = |q: &str| get(&doctor, &feed_uri(&p_id, q));
        assert_eq!(feed_ids(&call(&app, only("kinds=moodCheckIn")).await),
            moods.iter().cloned().collect());
        assert_eq!(feed_ids(&call(&app, only("phase=dosing")).await), set(&[&about]));
        assert_eq!(feed_ids(&call(&app, only("phase=preparation")).await), set(&[&prep]));
        assert_eq!(feed_ids(&call(&app, only(&format!("dosingSessionId={s}"))).await),
            set(&[&s, &about]));
        // Asking for an unshared kind gives nothing, not an error.
        assert!(feed_ids(&call(&app, only("kinds=assessment")).await).is_empty());

        // Newest first, page by page, every shared record exactly once.
        let mut cursor: Option<String> = None;
        let mut order = Vec::new();
        loop {
            let q = match &cursor { Some(c) => format!("limit=3&cursor={c}"), None => "limit=3".to_owned() };
            let page = call(&app, only(&q)).await;
            assert_eq!(page.status, 200, "{:?}", page.body);
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            order.extend(items.iter().map(|i| i["record"]["id"].as_str().unwrap().to_owned()));
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(order.len(), 8, "{order:?}");
        assert_eq!(order.iter().cloned().collect::<BTreeSet<_>>().len(), 8);
        // The check-ins come newest first.
        let positions: Vec<usize> = moods.iter().rev()
            .map(|m| order.iter().position(|o| o == m).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{order:?}");

        // Bad parameters are problems, as on the patient's own list.
        call(&app, only("kinds=nope")).await.assert_problem(400, "bad-request");
        call(&app, only("limit=0")).await.assert_problem(422, "validation");
        call(&app, only("cursor=garbage")).await.assert_problem(400, "bad-request");
        call(&app, only("owner=someone")).await.assert_problem(400, "bad-request");
        call(&app, get(&doctor, &timeline_uri(&p_id,
            "from=2026-04-05T00:00:00Z&to=2026-04-01T00:00:00Z"))).await
            .assert_problem(422, "validation");
        // Wrong methods on every therapist path: 405.
        for uri in [PATIENTS.to_owned(), feed_uri(&p_id, ""), item_uri(&p_id, &about),
                    timeline_uri(&p_id, ""), ALERTS.to_owned(), ACCESS_LOG.to_owned()] {
            let reply = call(&app, authed(TestRequest::delete().uri(&uri), &doctor)).await;
            assert_eq!(reply.status, 405, "{uri}");
        }
        let reply = call(&app, get(&doctor, &format!("{ALERTS}/{}/resolve", uuid::Uuid::now_v7()))).await;
        assert_eq!(reply.status, 405);
    }

    async fn every_read_is_audited_and_the_patient_sees_who_looked(server: TestServer) {
        let app = server.app().await;
        let w = world(&server, &app).await;
        assert!(audit_rows(&server, &w.p1_id).await.is_empty());

        // Reads that serve nothing are not entries: refused, hidden, empty.
        call(&app, get(&w.a, &item_uri(&w.p1_id, &w.other_entry))).await;
        call(&app, get(&w.b, &feed_uri(&w.p1_id, ""))).await;
        call(&app, get(&w.d, &feed_uri(&w.p1_id, ""))).await;
        call(&app, get(&w.a, PATIENTS)).await;
        assert!(audit_rows(&server, &w.p1_id).await.is_empty());

        // A page of the feed: one row per record served, with its share.
        let feed = call(&app, get(&w.a, &feed_uri(&w.p1_id, "limit=2"))).await;
        let served = feed.body["items"].as_array().unwrap().clone();
        assert_eq!(served.len(), 2);
        let rows = audit_rows(&server, &w.p1_id).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        for row in &rows {
            assert_eq!(row.0, w.a_id);
            assert_eq!(row.1, "feed");
            let same = served.iter().find(|i| i["record"]["id"] == json!(row.2)).unwrap();
            assert_eq!(json!(row.3), same["record"]["kind"]);
            assert_eq!(json!(row.4), same["sharedBy"]);
        }

        // One item.
        call(&app, get(&w.a, &item_uri(&w.p1_id, &w.entry))).await;
        let rows = audit_rows(&server, &w.p1_id).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2], (w.a_id.clone(), "item".to_owned(), w.entry.clone(),
            "journalEntry".to_owned(), w.a_item_share.clone()));

        // The timeline: every record it used.
        call(&app, get(&w.a, &timeline_uri(&w.p1_id, ""))).await;
        let rows = audit_rows(&server, &w.p1_id).await;
        let timeline_rows: BTreeSet<String> = rows.iter()
            .filter(|r| r.1 == "timeline").map(|r| r.2.clone()).collect();
        let mut expected = set(&[&w.phq, &w.gad]);
        expected.extend(w.check_ins.iter().cloned());
        assert_eq!(timeline_rows, expected);
        assert_eq!(rows.len(), 3 + expected.len());
        assert!(rows.iter().all(|r| r.4 == w.a_kinds_share || r.2 == w.entry));
        // Nothing was logged against P2.
        assert!(audit_rows(&server, &w.p2_id).await.is_empty());

        // The patient's view: newest first, page by page, with names.
        let all = rows.len();
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let uri = match &cursor {
                Some(c) => format!("{ACCESS_LOG}?limit=2&cursor={c}"),
                None => format!("{ACCESS_LOG}?limit=2"),
            };
            let page = call(&app, get(&w.p1, &uri)).await;
            assert_eq!(page.status, 200, "{:?}", page.body);
            entries.extend(page.body["entries"].as_array().unwrap().iter().cloned());
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(entries.len(), all);
        let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
        assert!(entries.windows(2).all(|e| at(&e[0]) >= at(&e[1])), "newest first");
        let newest = &entries[0];
        assert_eq!(newest["action"], "timeline");
        assert_eq!(newest["therapist"], json!({"id": w.a_id, "displayName": "Dr. Test"}));
        assert_eq!(newest["shareId"], json!(w.a_kinds_share));
        let item = entries.iter().find(|e| e["action"] == "item").unwrap();
        assert_eq!(item["recordId"], json!(w.entry));
        assert_eq!(item["recordKind"], "journalEntry");
        assert_eq!(item["shareId"], json!(w.a_item_share));
        let ids: BTreeSet<(String, String)> = entries.iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(),
                      e["recordId"].as_str().unwrap().to_owned())).collect();
        assert_eq!(ids.len(), all, "no entry repeats across pages");

        // P2's log is empty; therapists have no access log and cannot read
        // a patient's.
        let p2_log = call(&app, get(&w.p2, ACCESS_LOG)).await;
        assert_eq!(p2_log.body, json!({"entries": [], "nextCursor": null}));
        for t in [&w.a, &w.b, &w.d] {
            call(&app, get(t, ACCESS_LOG)).await.assert_problem(403, "forbidden");
        }
        call(&app, get(&w.p1, &format!("{ACCESS_LOG}?limit=201"))).await.assert_problem(422, "validation");
        call(&app, get(&w.p1, &format!("{ACCESS_LOG}?cursor=nope"))).await.assert_problem(400, "bad-request");
        // Append-only: no route changes or deletes an entry.
        for request in [TestRequest::delete(), TestRequest::put(), TestRequest::post()] {
            let reply = call(&app, authed(request.uri(ACCESS_LOG), &w.p1)).await;
            assert_eq!(reply.status, 405);
        }
        assert_eq!(audit_rows(&server, &w.p1_id).await.len(), all);
    }

    async fn the_alert_lifecycle(server: TestServer) {
        let app = server.app().await;
        let p = register(&app, "pat@example.org").await;
        let (p, p_id) = (token(&p), account_id(&p));
        let a = therapist(&server, &app, "a@clinic.example").await;
        let (a, a_id) = (token(&a), account_id(&a));
        let b = token(&therapist(&server, &app, "b@clinic.example").await);
        link(&app, &a, &p).await;
        link(&app, &b, &p).await;
        let share = id_of(&create(&app, &p, &kinds_share(&a_id, &["assessment"])).await);

        let risk = create(&app, &p, &phq9("2026-05-01T09:00:00Z", RISK)).await;
        let risk_id = id_of(&risk);
        let open = alerts_of(&app, &a, "open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        let alert = &open[0];
        let alert_id = id_of(alert);
        assert_eq!(alert["recordId"], json!(risk_id));
        assert_eq!(alert["patient"]["id"], json!(p_id));
        assert_eq!(alert["reason"], "phq9Item9");
        assert_eq!(alert["status"], "open");
        assert_eq!(alert["acknowledgedAt"], Value::Null);
        assert!(alerts_of(&app, &b, "").await.is_empty(), "B is not shared the assessment");
        let patients = call(&app, get(&a, PATIENTS)).await;
        assert_eq!(patients.body[0]["openAlerts"], 1);

        // Saving it again raises nothing new.
        let mut edited = phq9("2026-05-01T09:00:00Z", RISK);
        edited["body"]["answers"][8] = json!(2);
        update(&app, &p, &risk_id, &edited).await;
        assert_eq!(alert_rows(&server).await.len(), 1);

        // The patient cannot touch it, nor list it.
        let ack = format!("{ALERTS}/{alert_id}/acknowledge");
        let resolve = format!("{ALERTS}/{alert_id}/resolve");
        call(&app, post(&p, &ack)).await.assert_problem(403, "forbidden");
        call(&app, post(&p, &resolve)).await.assert_problem(403, "forbidden");
        call(&app, post(&p, &resolve).set_json(json!({"note": "fine"}))).await
            .assert_problem(403, "forbidden");
        call(&app, get(&p, ALERTS)).await.assert_problem(403, "forbidden");
        // Another therapist's alert is no alert at all.
        call(&app, post(&b, &ack)).await.assert_problem(404, "not-found");
        call(&app, post(&b, &resolve)).await.assert_problem(404, "not-found");
        call(&app, post(&a, &format!("{ALERTS}/{}/acknowledge", uuid::Uuid::now_v7()))).await
            .assert_problem(404, "not-found");
        call(&app, post(&a, &format!("{ALERTS}/not-a-uuid/acknowledge"))).await
            .assert_problem(404, "not-found");
        assert_eq!(alert_rows(&server).await[0].2, "open");

        // open → acknowledged → resolved; nothing else.
        let acked = call(&app, post(&a, &ack)).await;
        assert_eq!(acked.status, 200, "{:?}", acked.body);
        assert_eq!(acked.body["status"], "acknowledged");
        assert!(acked.body["acknowledgedAt"].is_string());
        call(&app, post(&a, &ack)).await.assert_problem(409, "conflict");
        assert!(alerts_of(&app, &a, "open").await.is_empty());
        assert_eq!(alerts_of(&app, &a, "acknowledged").await.len(), 1);
        let long = "x".repeat(2_001);
        call(&app, post(&a, &resolve).set_json(json!({"note": long}))).await
            .assert_problem(422, "validation");
        call(&app, post(&a, &resolve).set_json(json!({"note": "ok", "status": "open"}))).await
            .assert_problem(400, "bad-request");
        call(&app, post(&a, &resolve).insert_header(("content-type", "text/plain"))
            .set_payload("called them")).await.assert_problem(415, "unsupported-media-type");
        let done = call(&app, post(&a, &resolve)
            .set_json(json!({"note": "Called the patient; safety plan reviewed."}))).await;
        assert_eq!(done.status, 200, "{:?}", done.body);
        assert_eq!(done.body["status"], "resolved");
        assert_eq!(done.body["note"], "Called the patient; safety plan reviewed.");
        assert!(done.body["resolvedAt"].is_string());
        call(&app, post(&a, &resolve)).await.assert_problem(409, "conflict");
        call(&app, post(&a, &ack)).await.assert_problem(409, "conflict");
        assert_eq!(alerts_of(&app, &a, "resolved").await.len(), 1);
        call(&app, get(&a, &format!("{ALERTS}?status=closed"))).await.assert_problem(400, "bad-request");

        // Resolving straight from open, without a body, is allowed.
        let second = id_of(&create(&app, &p, &phq9("2026-05-08T09:00:00Z", RISK)).await);
        let open = alerts_of(&app, &a, "open").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["recordId"], json!(second));
        let done = call(&app, post(&a, &format!("{ALERTS}/{}/resolve", id_of(&open[0])))).await;
        assert_eq!(done.status, 200, "{:?}", done.body);
        assert_eq!(done.body["note"], Value::Null);

        // Revoking the share does not clear a raised alert (nor open the
        // record: that needs a live share).
        update(&app, &p, &share, &revoked(kinds_share(&a_id, &["assessment"]))).await;
        assert_hidden(&call(&app, get(&a, &item_uri(&p_id, &risk_id))).await);
        let all = alerts_of(&app, &a, "").await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["recordId"], json!(second), "newest first");
        let page = call(&app, get(&a, &format!("{ALERTS}?limit=1"))).await;
        let next = page.body["nextCursor"].as_str().unwrap().to_owned();
        let rest = call(&app, get(&a, &format!("{ALERTS}?limit=1&cursor={next}"))).await;
        assert_eq!(rest.body["alerts"][0]["recordId"], json!(risk_id));
        assert_eq!(rest.body["nextCursor"], Value::Null);
    }

    async fn alerts_are_raised_exactly_when_a_risk_answer_becomes_visible(server: TestServer) {
        let app = server.app().await;
        let p = register(&app, "pat@example.org").await;
        let (p, p_id) = (token(&p), account_id(&p));
        let a = therapist(&server, &app, "a@clinic.example").await;
        let (a, a_id) = (token(&a), account_id(&a));
        let b = therapist(&server, &app, "b@clinic.example").await;
        let (b, b_id) = (token(&b), account_id(&b));
        let unlinked = therapist(&server, &app, "u@clinic.example").await;
        let unlinked_id = account_id(&unlinked);
        link(&app, &a, &p).await;
        link(&app, &b, &p).await;

        // A PHQ-9 without the risk answer, shared: nothing. Nor a severe
        // GAD-7.
        create(&app, &p, &kinds_share(&a_id, &["assessment"])).await;
        create(&app, &p, &phq9("2026-05-01T09:00:00Z", [3, 3, 3, 3, 3, 3, 3, 3, 0])).await;
        create(&app, &p, &gad7("2026-05-01T09:05:00Z", [3; 7])).await;
        assert!(alert_rows(&server).await.is_empty());

        // A risk answer shared with A only (B shares check-ins only; the
        // unlinked therapist's share counts for nothing).
        create(&app, &p, &kinds_share(&b_id, &["moodCheckIn"])).await;
        create(&app, &p, &kinds_share(&unlinked_id, &["assessment"])).await;
        let risk = id_of(&create(&app, &p, &phq9("2026-05-02T09:00:00Z", RISK)).await);
        assert_eq!(alert_rows(&server).await, vec![(a_id.clone(), risk.clone(), "open".to_owned())]);
        assert!(alerts_of(&app, &b, "").await.is_empty());

        // A share made after the risk answer raises it for B, once.
        let share = id_of(&create(&app, &p, &item_share(&b_id, &risk)).await);
        let b_alerts = alerts_of(&app, &b, "open").await;
        assert_eq!(b_alerts.len(), 1);
        assert_eq!(b_alerts[0]["recordId"], json!(risk));
        create(&app, &p, &check_in("2026-05-03T08:00:00Z", 4, 6.0)).await;
        update(&app, &p, &share, &revoked(item_share(&b_id, &risk))).await;
        assert_eq!(alert_rows(&server).await.len(), 2, "still one per (therapist, record)");

        // An edit that turns an unshared answer into a risk answer raises
        // it when it becomes visible.
        let quiet = id_of(&create(&app, &p, &phq9("2026-05-04T09:00:00Z", phq9_totalling(3))).await);
        let before = alert_rows(&server).await.len();
        update(&app, &p, &quiet, &phq9("2026-05-04T09:00:00Z", RISK)).await;
        let rows = alert_rows(&server).await;
        assert_eq!(rows.len(), before + 1);
        assert_eq!(rows.last().unwrap(), &(a_id.clone(), quiet, "open".to_owned()));

        // The therapist named in a share before any link: the alert comes
        // the moment the link is made, not at the patient's next write.
        let unlinked_token = token(&unlinked);
        assert!(alerts_of(&app, &unlinked_token, "").await.is_empty());
        link(&app, &unlinked_token, &p).await;
        let theirs = alerts_of(&app, &unlinked_token, "open").await;
        assert_eq!(theirs.len(), 2, "both risk answers, shared by kind");
        let _ = p_id;
    }

    async fn a_pushed_risk_answer_raises_an_alert(server: TestServer) {
        let app = server.app().await;
        let p = token(&register(&app, "pat@example.org").await);
        let a = therapist(&server, &app, "a@clinic.example").await;
        let (a, a_id) = (token(&a), account_id(&a));
        let b = therapist(&server, &app, "b@clinic.example").await;
        let (b, b_id) = (token(&b), account_id(&b));
        link(&app, &a, &p).await;
        link(&app, &b, &p).await;

        // The share and the answer in one push.
        let (share, risk) = (RecordId::new().to_string(), RecordId::new().to_string());
        let pushed = call(&app, authed(TestRequest::post().uri("/api/v1/sync/push").set_json(
            push_of(&[
                (share, kinds_share(&a_id, &["assessment"])),
                (risk.clone(), phq9("2026-05-02T09:00:00Z", RISK)),
            ])), &p)).await;
        assert_eq!(pushed.status, 200, "{:?}", pushed.body);
        assert!(pushed.body["results"].as_array().unwrap().iter().all(|r| r["status"] == "applied"));
        let open = alerts_of(&app, &a, "open").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["recordId"], json!(risk));
        assert!(alerts_of(&app, &b, "").await.is_empty());

        // A share pushed later, from another device, raises it for B.
        let pushed = call(&app, authed(TestRequest::post().uri("/api/v1/sync/push").set_json(
            push_of(&[(RecordId::new().to_string(), item_share(&b_id, &risk))])), &p)).await;
        assert_eq!(pushed.status, 200, "{:?}", pushed.body);
        assert_eq!(alerts_of(&app, &b, "open").await.len(), 1);
        assert_eq!(alert_rows(&server).await.len(), 2);
    }

    async fn the_timeline_sums_up_measurement_based_care(server: TestServer) {
        let app = server.app().await;
        let p = register(&app, "pat@example.org").await;
        let (p, p_id) = (token(&p), account_id(&p));
        let doctor = therapist(&server, &app, "doc@clinic.example").await;
        let (doctor, doctor_id) = (token(&doctor), account_id(&doctor));
        link(&app, &doctor, &p).await;

        // Nothing shared yet: empty lists, no summaries.
        let empty = call(&app, get(&doctor, &timeline_uri(&p_id, ""))).await;
        assert_eq!(empty.body, json!({"moodCheckIns": [], "assessments": [], "dosingSessions": [],
            "summary": {"phq9": null, "gad7": null}}));

        create(&app, &p, &kinds_share(&doctor_id,
            &["moodCheckIn", "assessment", "dosingSession", "journalEntry"])).await;
        // PHQ-9: 20 → 14 → 9 (response, not remission); GAD-7: 15 → 4
        // (response and remission). Written out of order.
        let phq_9 = id_of(&create(&app, &p, &phq9("2026-06-15T09:00:00Z", phq9_totalling(9))).await);
        let phq_20 = id_of(&create(&app, &p, &phq9("2026-06-01T09:00:00Z", phq9_totalling(20))).await);
        let phq_14 = id_of(&create(&app, &p, &phq9("2026-06-08T09:00:00Z", phq9_totalling(14))).await);
        let gad_15 = id_of(&create(&app, &p, &gad7("2026-06-01T09:05:00Z", [3, 3, 3, 2, 2, 1, 1])).await);
        let gad_4 = id_of(&create(&app, &p, &gad7("2026-06-15T09:05:00Z", [1, 1, 1, 1, 0, 0, 0])).await);
        let mood = id_of(&create(&app, &p, &check_in("2026-06-02T08:00:00Z", 4, 6.5)).await);
        let s = id_of(&create(&app, &p, &session("2026-06-05T10:00:00Z")).await);
        create(&app, &p, &entry("Not on the timeline", "integration")).await;

        let reply = call(&app, get(&doctor, &timeline_uri(&p_id, ""))).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let t = reply.body;
        assert_eq!(t["moodCheckIns"], json!([{"recordId": mood, "recordedAt": "2026-06-02T08:00:00Z",
            "mood": 4, "anxiety": 4, "energy": 6, "sleepHours": 6.5}]));
        assert_eq!(t["dosingSessions"], json!([{"recordId": s, "scheduledAt": "2026-06-05T10:00:00Z",
            "route": "nasalSpray", "status": "planned"}]));
        let totals: Vec<(String, u64, String)> = t["assessments"].as_array().unwrap().iter()
            .map(|a| (a["recordId"].as_str().unwrap().to_owned(), a["total"].as_u64().unwrap(),
                      a["severity"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(totals, vec![
            (phq_20.clone(), 20, "severe".to_owned()),
            (gad_15.clone(), 15, "severe".to_owned()),
            (phq_14, 14, "moderate".to_owned()),
            (phq_9.clone(), 9, "mild".to_owned()),
            (gad_4.clone(), 4, "minimal".to_owned()),
        ], "oldest first, scored by journal-core");
        assert!(t["assessments"].as_array().unwrap().iter().all(|a| a["riskFlag"] == false));

        let phq = &t["summary"]["phq9"];
        assert_eq!(phq["count"], 3);
        assert_eq!(phq["baseline"], json!({"recordId": phq_20, "takenAt": "2026-06-01T09:00:00Z", "total": 20}));
        assert_eq!(phq["latest"], json!({"recordId": phq_9, "takenAt": "2026-06-15T09:00:00Z", "total": 9}));
        assert_eq!(phq["change"], -11);
        assert_eq!(phq["percentChange"], -55.0);
        assert_eq!((&phq["response"], &phq["remission"]), (&json!(true), &json!(false)));
        let gad = &t["summary"]["gad7"];
        assert_eq!((&gad["baseline"]["total"], &gad["latest"]["total"]), (&json!(15), &json!(4)));
        assert_eq!(gad["change"], -11);
        assert_eq!(gad["percentChange"], -73.3);
        assert_eq!((&gad["response"], &gad["remission"]), (&json!(true), &json!(true)));

        // PHQ-9 20 → 4: remission too.
        let phq_4 = id_of(&create(&app, &p, &phq9("2026-06-22T09:00:00Z", phq9_totalling(4))).await);
        let t = call(&app, get(&doctor, &timeline_uri(&p_id, ""))).await.body;
        let phq = &t["summary"]["phq9"];
        assert_eq!((&phq["latest"]["recordId"], &phq["change"], &phq["percentChange"]),
            (&json!(phq_4), &json!(-16), &json!(-80.0)));
        assert_eq!((&phq["response"], &phq["remission"]), (&json!(true), &json!(true)));

        // The window [from, to): the baseline is the window's first score;
        // 14 → 9 is neither response nor remission.
        let t = call(&app, get(&doctor, &timeline_uri(&p_id,
            "from=2026-06-08T00:00:00Z&to=2026-06-16T00:00:00Z"))).await.body;
        let phq = &t["summary"]["phq9"];
        assert_eq!((&phq["count"], &phq["baseline"]["total"], &phq["latest"]["total"]),
            (&json!(2), &json!(14), &json!(9)));
        assert_eq!((&phq["change"], &phq["percentChange"]), (&json!(-5), &json!(-35.7)));
        assert_eq!((&phq["response"], &phq["remission"]), (&json!(false), &json!(false)));
        assert_eq!(t["summary"]["gad7"]["count"], 1, "only the 15th's GAD-7");
        assert!(t["moodCheckIns"].as_array().unwrap().is_empty());
        assert!(t["dosingSessions"].as_array().unwrap().is_empty());

        // One score: it is the baseline and the latest.
        let first_day = call(&app, get(&doctor, &timeline_uri(&p_id,
            "to=2026-06-02T00:00:00Z"))).await.body;
        let phq = &first_day["summary"]["phq9"];
        assert_eq!((&phq["count"], &phq["change"], &phq["response"]), (&json!(1), &json!(0), &json!(false)));
        call(&app, get(&doctor, &timeline_uri(&p_id, "window=all"))).await
            .assert_problem(400, "bad-request");
    }

    async fn the_policy_is_the_configured_statement(server: TestServer) {
        // The default texts, without signing in.
        let app = server.app().await;
        let reply = call(&app, TestRequest::get().uri("/api/v1/policy")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(reply.body["monitoringStatement"].as_str().unwrap().contains("not monitored in real time"));
        assert!(!reply.body["crisisResources"]["contacts"].as_array().unwrap().is_empty());
        drop(app);

        // A deployment's own texts.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("crisis.json");
        std::fs::write(&file, json!({"headline": "Call the clinic", "message": "Day and night.",
            "contacts": [{"name": "Clinic on-call", "phone": "+1 555 0100"}]}).to_string()).unwrap();
        let file = file.display().to_string();
        let Some(configured) = TestServer::start_with(server.backend, &[
            "--monitoring-statement", "Dr. Lee reads shared entries on Fridays.",
            "--crisis-resources-file", &file,
        ]).await else { return };
        let app = configured.app().await;
        let patient = token(&register(&app, "pat@example.org").await);
        let doctor = token(&therapist(&configured, &app, "doc@clinic.example").await);
        let policy = "/api/v1/policy";
        for request in [TestRequest::get().uri(policy), get(&patient, policy), get(&doctor, policy)] {
            let reply = call(&app, request).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            assert_eq!(reply.body, json!({
                "monitoringStatement": "Dr. Lee reads shared entries on Fridays.",
                "crisisResources": {"headline": "Call the clinic", "message": "Day and night.",
                    "contacts": [{"name": "Clinic on-call", "phone": "+1 555 0100"}]}}));
        }
        assert_eq!(call(&app, TestRequest::post().uri("/api/v1/policy")).await.status, 405);
    }

    async fn concurrent_reviews_and_writes_all_succeed(server: TestServer) {
        // A therapist's reads write audit rows after reading; on SQLite a
        // transaction that reads first and writes later could not wait for
        // another writer and failed ("database is locked"). Many reads and
        // the patient's writes at once must all succeed on both backends.
        let app = server.app().await;
        let p = register(&app, "pat@example.org").await;
        let (p, p_id) = (token(&p), account_id(&p));
        let doctor = therapist(&server, &app, "doc@clinic.example").await;
        let (doctor, doctor_id) = (token(&doctor), account_id(&doctor));
        link(&app, &doctor, &p).await;
        let shared = id_of(&create(&app, &p, &entry("Shared", "integration")).await);
        create(&app, &p, &kinds_share(&doctor_id, &["journalEntry", "moodCheckIn"])).await;

        for round in 0..3 {
            let mut requests = Vec::new();
            for i in 0..6 {
                requests.push(get(&doctor, &feed_uri(&p_id, "limit=20")));
                requests.push(get(&doctor, &item_uri(&p_id, &shared)));
                requests.push(get(&doctor, &format!("{PATIENTS}/{p_id}/timeline")));
                requests.push(post(&p, RECORDS).set_json(entry(&format!("{round}.{i}"), "integration")));
            }
            let replies = futures_util::future::join_all(
                requests.into_iter().map(|request| call(&app, request)),
            )
            .await;
            for reply in &replies {
                assert!(reply.status == 200 || reply.status == 201, "{} {:?}", reply.status, reply.body);
            }
        }
        // Every read was audited, every write kept.
        let audited = audit_rows(&server, &p_id).await.len();
        assert!(audited >= 3 * 6 * 2, "{audited} audit rows");
        let mine = call(&app, get(&p, &format!("{RECORDS}?kinds=journalEntry&limit=50"))).await;
        assert_eq!(mine.status, 200, "{:?}", mine.body);
        assert_eq!(mine.body["records"].as_array().unwrap().len(), 1 + 3 * 6);
    }
}

on_both_backends! {
    async fn an_ended_link_keeps_the_alert_to_resolve_but_shows_nothing_new(server: TestServer) {
        let app = server.app().await;
        let p = call(&app, TestRequest::post().uri("/api/v1/auth/register").set_json(json!({
            "email": "named@example.org", "password": "correct horse battery",
            "displayName": "Robin"}))).await;
        assert_eq!(p.status, 201, "{:?}", p.body);
        let (p, p_id) = (token(&p.body), account_id(&p.body));
        let a = therapist(&server, &app, "a@clinic.example").await;
        let (a, a_id) = (token(&a), account_id(&a));
        let link_id = link(&app, &a, &p).await;
        let share = id_of(&create(&app, &p, &kinds_share(&a_id, &["assessment"])).await);
        create(&app, &p, &phq9("2026-05-01T09:00:00Z", RISK)).await;
        let open = alerts_of(&app, &a, "open").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["patient"]["displayName"], "Robin");

        // The patient takes the share back and ends the link.
        update(&app, &p, &share, &revoked(kinds_share(&a_id, &["assessment"]))).await;
        let ended = call(&app, authed(TestRequest::delete()
            .uri(&format!("/api/v1/care/links/{link_id}")), &p)).await;
        assert_eq!(ended.status, 204);

        // The alert stays, to be seen to, but names nobody any more.
        let kept = alerts_of(&app, &a, "open").await;
        assert_eq!(kept.len(), 1, "a patient cannot clear a raised alert by leaving");
        assert_eq!(kept[0]["patient"]["id"], json!(p_id));
        assert_eq!(kept[0]["patient"]["displayName"], Value::Null);
        let ack = call(&app, post(&a, &format!("{ALERTS}/{}/acknowledge", id_of(&kept[0])))).await;
        assert_eq!(ack.status, 200, "{:?}", ack.body);
        assert_eq!(ack.body["patient"]["displayName"], Value::Null);
        // Nothing new reaches the therapist: a new risk answer, even under a
        // standing share made again, raises no alert without a link.
        create(&app, &p, &kinds_share(&a_id, &["assessment"])).await;
        create(&app, &p, &phq9("2026-05-08T09:00:00Z", RISK)).await;
        assert_eq!(alerts_of(&app, &a, "").await.len(), 1);
        assert_eq!(alert_rows(&server).await.len(), 1);
    }

    async fn a_share_made_before_the_link_grants_from_the_link_on(server: TestServer) {
        let app = server.app().await;
        let p = register(&app, "early@example.org").await;
        let (p, p_id) = (token(&p), account_id(&p));
        let a = therapist(&server, &app, "a@clinic.example").await;
        let (a, a_id) = (token(&a), account_id(&a));
        // Shared (on a phone, say) before the invitation code was entered.
        create(&app, &p, &kinds_share(&a_id, &["moodCheckIn"])).await;
        let mood = json!({"kind": "moodCheckIn",
            "body": {"recordedAt": "2026-05-01T08:00:00Z", "mood": 6, "anxiety": 3, "energy": 5}});
        let check_in = id_of(&create(&app, &p, &mood).await);
        // Kept, and inert: nobody to read it yet.
        call(&app, get(&a, &feed_uri(&p_id, ""))).await.assert_problem(404, "not-found");
        assert_hidden(&call(&app, get(&a, &item_uri(&p_id, &check_in))).await);
        // The link makes it count; ending the link ends it again.
        let link_id = link(&app, &a, &p).await;
        let feed = call(&app, get(&a, &feed_uri(&p_id, ""))).await;
        assert_eq!(feed.status, 200, "{:?}", feed.body);
        assert_eq!(feed.body["items"][0]["record"]["id"], json!(check_in));
        let ended = call(&app, authed(TestRequest::delete()
            .uri(&format!("/api/v1/care/links/{link_id}")), &p)).await;
        assert_eq!(ended.status, 204);
        call(&app, get(&a, &feed_uri(&p_id, ""))).await.assert_problem(404, "not-found");
    }
}
