//! A patient's export and the erasure of their account: the export holds
//! exactly their records (every kind, shares included), revisions and the
//! comments on their records, and passes journal-core's check; erasure asks
//! for the password, removes everything kept about the patient but the
//! audit log, leaves old tokens refused, and frees the email. Each test on
//! SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use chrono::{DateTime, SecondsFormat};
use common::*;
use diesel::prelude::*;
use journal_core::export::{EXPORT_FORMAT, EXPORT_VERSION, ExportDocument};
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, RecordId};
use journal_server::auth::tokens::secret_hash;
use journal_server::store::StoreError;
use journal_server::store::schema::{
    alerts, audit_log, care_invitations, care_links, comments, login_throttle, mutation_outcomes,
    owner_versions, record_revisions, records, refresh_tokens, sync_devices, users,
};
use serde_json::{Value, json};

const RECORDS: &str = "/api/v1/records";
const EXPORT: &str = "/api/v1/me/export";
const ME: &str = "/api/v1/me";
const PASSWORD: &str = "correct horse battery";

/// The wall clock of tick 0, in milliseconds; tick `n` is `n` seconds later.
const EPOCH_MILLIS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn hlc(tick: u64) -> String {
    Hlc::new(EPOCH_MILLIS + tick * 1_000, 0).to_string()
}

fn time(tick: u64) -> String {
    let millis = i64::try_from(EPOCH_MILLIS + tick * 1_000).unwrap();
    DateTime::from_timestamp_millis(millis)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn entry(text: &str) -> Value {
    json!({"kind": "journalEntry", "body": {"body": text, "phase": "integration"}})
}

/// A device's upsert of an entry's text at `tick`, made on the version
/// stamped `base`.
fn upsert(mutation: u64, record: &str, tick: u64, base: Option<u64>, text: &str) -> Value {
    let mut m = json!({
        "mutationId": mutation, "recordId": record, "kind": "journalEntry", "op": "upsert",
        "hlc": hlc(tick), "createdAt": time(0), "updatedAt": time(tick),
        "body": entry(text)["body"],
    });
    if let Some(base) = base {
        m["baseHlc"] = json!(hlc(base));
    }
    m
}

async fn push<S, B>(app: &S, token: &str, device: &str, mutations: Vec<Value>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        authed(
            TestRequest::post()
                .uri("/api/v1/sync/push")
                .set_json(json!({"deviceId": device, "mutations": mutations})),
            token,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "applied"),
        "{:?}",
        reply.body
    );
}

/// Creates a record; returns its id.
async fn create<S, B>(app: &S, token: &str, content: &Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        authed(TestRequest::post().uri(RECORDS).set_json(content), token),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// A therapist's comment; returns its id.
async fn comment<S, B>(app: &S, therapist: &str, patient: &str, record: &str, text: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        authed(
            TestRequest::post()
                .uri(&format!(
                    "/api/v1/therapist/patients/{patient}/records/{record}/comments"
                ))
                .set_json(json!({"text": text})),
            therapist,
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

fn erase(token: &str, password: &str) -> TestRequest {
    authed(
        TestRequest::delete()
            .uri(ME)
            .set_json(json!({"password": password})),
        token,
    )
}

/// What one patient has written, by kind: their records of every kind
/// (shares included), a deleted record, a revision from a conflict, a
/// comment on a shared entry and one deleted, a comment on a record they
/// deleted later.
struct Written {
    live: BTreeSet<String>,
    deleted: Vec<String>,
    conflicted: String,
    kept_comment: String,
    device: String,
}

async fn write_everything<S, B>(
    app: &S,
    patient: &str,
    patient_id: &str,
    therapist: &str,
    therapist_id: &str,
    tag: &str,
) -> Written
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let session = create(
        app,
        patient,
        &json!({"kind": "dosingSession",
        "body": {"scheduledAt": "2026-01-10T10:00:00Z", "route": "intravenous"}}),
    )
    .await;
    let intention = create(
        app,
        patient,
        &json!({"kind": "intention",
        "body": {"text": format!("{tag}: stay curious"), "dosingSessionId": session}}),
    )
    .await;
    let e = create(app, patient, &entry(&format!("{tag}: I saw the sea."))).await;
    let mood = create(
        app,
        patient,
        &json!({"kind": "moodCheckIn",
        "body": {"recordedAt": "2026-01-02T08:00:00Z", "mood": 6, "anxiety": 4, "energy": 6}}),
    )
    .await;
    let assessment = create(
        app,
        patient,
        &json!({"kind": "assessment", "body": {"instrument": "phq9",
        "takenAt": "2026-01-03T09:00:00Z", "answers": [1, 1, 2, 0, 0, 1, 2, 0, 0]}}),
    )
    .await;
    let practice = create(
        app,
        patient,
        &json!({"kind": "exercisePractice", "body": {
        "exerciseId": "five-senses", "practicedAt": "2026-01-04T20:00:00Z", "stepsCompleted": 2,
        "distressBefore": 6, "distressAfter": 3}}),
    )
    .await;
    let share = create(app, patient, &item_share(therapist_id, &e)).await;
    let standing = create(
        app,
        patient,
        &json!({"kind": "share", "body": {"therapistId": therapist_id,
        "scope": {"type": "kinds", "kinds": ["moodCheckIn"]}}}),
    )
    .await;
    let doomed = create(app, patient, &entry(&format!("{tag}: to be deleted"))).await;
    let doomed_share = create(app, patient, &item_share(therapist_id, &doomed)).await;

    // Two devices edit one entry at once: the losing text is a revision.
    let (phone, tablet) = (DeviceId::new().to_string(), DeviceId::new().to_string());
    let conflicted = RecordId::new().to_string();
    push(
        app,
        patient,
        &phone,
        vec![upsert(
            1,
            &conflicted,
            1,
            None,
            &format!("{tag}: first draft"),
        )],
    )
    .await;
    push(
        app,
        patient,
        &phone,
        vec![upsert(
            2,
            &conflicted,
            3,
            Some(1),
            &format!("{tag}: phone's text"),
        )],
    )
    .await;
    push(
        app,
        patient,
        &tablet,
        vec![upsert(
            1,
            &conflicted,
            4,
            Some(1),
            &format!("{tag}: tablet's text"),
        )],
    )
    .await;

    let kept_comment = comment(app, therapist, patient_id, &e, &format!("{tag}: thank you")).await;
    let withdrawn = comment(
        app,
        therapist,
        patient_id,
        &mood,
        &format!("{tag}: withdrawn"),
    )
    .await;
    let gone = call(
        app,
        authed(
            TestRequest::delete().uri(&format!("/api/v1/therapist/comments/{withdrawn}")),
            therapist,
        ),
    )
    .await;
    assert_eq!(gone.status, 204);
    comment(
        app,
        therapist,
        patient_id,
        &doomed,
        &format!("{tag}: about a deleted entry"),
    )
    .await;
    for id in [&doomed, &doomed_share] {
        let deleted = call(
            app,
            authed(
                TestRequest::delete().uri(&format!("{RECORDS}/{id}")),
                patient,
            ),
        )
        .await;
        assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    }
    Written {
        live: [
            session,
            intention,
            e,
            mood,
            assessment,
            practice,
            share,
            standing,
            conflicted.clone(),
        ]
        .into_iter()
        .collect(),
        deleted: vec![doomed, doomed_share],
        conflicted,
        kept_comment,
        device: phone,
    }
}

/// Whether any of `needles` can still be read: on SQLite in the bytes of
/// the database file and its write-ahead log (what `grep` would find), on
/// PostgreSQL in any row of any table (its files are the operator's:
/// docs/security.md says what VACUUM and backups mean).
async fn readable(server: &TestServer, needles: &[&str]) -> bool {
    match server.state.db.backend().clone() {
        journal_server::store::Backend::Sqlite(path) => {
            // The server's own connections may still hold pages; what is on
            // disk is what a thief with the file would read.
            let mut files = vec![path.clone()];
            for suffix in ["-wal", "-journal"] {
                let mut other = path.clone().into_os_string();
                other.push(suffix);
                files.push(other.into());
            }
            files
                .iter()
                .filter_map(|f| std::fs::read(f).ok())
                .any(|bytes| {
                    needles
                        .iter()
                        .any(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                })
        }
        journal_server::store::Backend::Postgres(_) => {
            let needles: Vec<String> = needles.iter().map(|n| format!("%{n}%")).collect();
            server
                .state
                .db
                .run(move |conn| -> Result<bool, StoreError> {
                    #[derive(diesel::QueryableByName)]
                    struct Name {
                        #[diesel(sql_type = diesel::sql_types::Text)]
                        table_name: String,
                    }
                    #[derive(diesel::QueryableByName)]
                    struct Count {
                        #[diesel(sql_type = diesel::sql_types::BigInt)]
                        n: i64,
                    }
                    let tables: Vec<Name> = diesel::sql_query(
                        "SELECT table_name::text AS table_name FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                    )
                    .load(conn)?;
                    for table in tables {
                        for needle in &needles {
                            let found: Count = diesel::sql_query(format!(
                                "SELECT count(*) AS n FROM \"{}\" t WHERE t::text LIKE $1",
                                table.table_name
                            ))
                            .bind::<diesel::sql_types::Text, _>(needle)
                            .get_result(conn)?;
                            if found.n > 0 {
                                return Ok(true);
                            }
                        }
                    }
                    Ok(false)
                })
                .await
                .unwrap()
        }
    }
}

/// How many rows each table keeps about one patient.
async fn footprint(server: &TestServer, patient: &str, email: &str) -> BTreeMap<&'static str, i64> {
    let patient = patient.to_owned();
    let email_hash = secret_hash(email);
    server
        .state
        .db
        .run(move |conn| -> Result<_, StoreError> {
            let p = patient.as_str();
            let devices: Vec<String> = sync_devices::table
                .filter(sync_devices::owner_id.eq(p))
                .select(sync_devices::device_id)
                .load(conn)?;
            let mut counts = BTreeMap::new();
            counts.insert(
                "users",
                users::table
                    .filter(users::id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "records",
                records::table
                    .filter(records::owner_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "record_revisions",
                record_revisions::table
                    .filter(record_revisions::owner_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "comments",
                comments::table
                    .filter(comments::owner_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "alerts",
                alerts::table
                    .filter(alerts::patient_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "refresh_tokens",
                refresh_tokens::table
                    .filter(refresh_tokens::user_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "care_links",
                care_links::table
                    .filter(care_links::patient_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "care_invitations",
                care_invitations::table
                    .filter(care_invitations::used_by.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert("sync_devices", devices.len() as i64);
            counts.insert(
                "mutation_outcomes",
                mutation_outcomes::table
                    .filter(mutation_outcomes::device_id.eq_any(&devices))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "owner_versions",
                owner_versions::table
                    .filter(owner_versions::owner_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "login_throttle",
                login_throttle::table
                    .filter(login_throttle::email_hash.eq(&email_hash))
                    .count()
                    .get_result(conn)?,
            );
            counts.insert(
                "audit_log",
                audit_log::table
                    .filter(audit_log::patient_id.eq(p))
                    .count()
                    .get_result(conn)?,
            );
            Ok(counts)
        })
        .await
        .unwrap()
}

/// Mutation outcomes kept for one device (they outlive nothing: the device
/// row goes with the patient).
async fn outcomes_of(server: &TestServer, device: &str) -> i64 {
    let device = device.to_owned();
    server
        .state
        .db
        .run(move |conn| -> Result<i64, StoreError> {
            Ok(mutation_outcomes::table
                .filter(mutation_outcomes::device_id.eq(device))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

/// An alert and an audit row about the patient, as therapist review writes
/// them.
async fn review_rows(server: &TestServer, patient: &str, therapist: &str, record: &str) {
    let (patient, therapist, record) =
        (patient.to_owned(), therapist.to_owned(), record.to_owned());
    server
        .state
        .db
        .run(move |conn| -> Result<(), StoreError> {
            let now = chrono::Utc::now().timestamp_micros();
            diesel::insert_into(alerts::table)
                .values((
                    alerts::id.eq(uuid::Uuid::now_v7().to_string()),
                    alerts::patient_id.eq(&patient),
                    alerts::therapist_id.eq(&therapist),
                    alerts::record_id.eq(RecordId::new().to_string()),
                    alerts::reason.eq("phq9Item9"),
                    alerts::status.eq("open"),
                    alerts::created_at.eq(now),
                ))
                .execute(conn)?;
            diesel::insert_into(audit_log::table)
                .values((
                    audit_log::id.eq(uuid::Uuid::now_v7().to_string()),
                    audit_log::patient_id.eq(&patient),
                    audit_log::therapist_id.eq(&therapist),
                    audit_log::action.eq("read"),
                    audit_log::record_id.eq(Some(&record)),
                    audit_log::record_kind.eq(Some("journalEntry")),
                    audit_log::at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
}

on_both_backends! {
    async fn the_export_holds_exactly_the_patients_writing(server: TestServer) {
        let app = server.app().await;
        let lee_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&lee_tokens), account_id(&lee_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        let ben_tokens = register(&app, "ben@example.org").await;
        let (q, ben) = (token(&ben_tokens), account_id(&ben_tokens));
        link(&app, &t, &p).await;
        link(&app, &t, &q).await;
        let anas = write_everything(&app, &p, &ana, &t, &lee, "Ana").await;
        let bens = write_everything(&app, &q, &ben, &t, &lee, "Ben").await;

        let reply = call(&app, authed(TestRequest::get().uri(EXPORT), &p)).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(reply.content_type().starts_with("application/json"), "{}", reply.content_type());
        let disposition = reply.headers.get("content-disposition").unwrap().to_str().unwrap();
        assert!(disposition.starts_with("attachment; filename=\"kap-journal-export-"), "{disposition}");
        assert!(disposition.ends_with(".json\""), "{disposition}");
        assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");

        let document: ExportDocument = serde_json::from_value(reply.body.clone()).unwrap();
        document.check().unwrap();
        assert_eq!(document.format, EXPORT_FORMAT);
        assert_eq!(document.version, EXPORT_VERSION);
        assert_eq!(document.account.id.to_string(), ana);
        assert_eq!(document.account.email, "ana@example.org");
        assert_eq!(document.account.display_name, None);

        // Every live record of every kind, shares included; no tombstones.
        let ids: BTreeSet<String> = document.records.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, anas.live);
        assert_eq!(document.records.len(), anas.live.len(), "each once");
        assert!(document.records.iter().all(|r| !r.deleted && r.body.is_some()));
        let kinds: BTreeSet<String> = document.records.iter().map(|r| r.kind.to_string()).collect();
        assert_eq!(kinds.len(), 7, "every kind: {kinds:?}");
        for deleted in &anas.deleted {
            assert!(!ids.contains(deleted));
        }
        let conflicted = document.records.iter().find(|r| r.id.to_string() == anas.conflicted).unwrap();
        assert_eq!(conflicted.body.as_ref().unwrap()["body"], "Ana: tablet's text");
        // The text that lost the conflict.
        assert_eq!(document.revisions.len(), 1, "{:?}", document.revisions);
        assert_eq!(document.revisions[0].record_id.to_string(), anas.conflicted);
        assert_eq!(document.revisions[0].body["body"], "Ana: phone's text");
        // The live comment on a live record; not the deleted one, nor the
        // one about a deleted record.
        assert_eq!(document.comments.len(), 1, "{:?}", document.comments);
        assert_eq!(document.comments[0].id.to_string(), anas.kept_comment);
        assert_eq!(document.comments[0].text, "Ana: thank you");
        assert_eq!(document.comments[0].author, "Dr. Test");
        // And nothing of Ben's.
        let text = reply.body.to_string();
        for foreign in bens.live.iter().chain([&ben, &bens.kept_comment, &"ben@example.org".to_owned(), &"Ben:".to_owned()]) {
            assert!(!text.contains(foreign.as_str()), "{foreign} in Ana's export");
        }
        // Ben's export is Ben's.
        let his = call(&app, authed(TestRequest::get().uri(EXPORT), &q)).await;
        let his: ExportDocument = serde_json::from_value(his.body).unwrap();
        his.check().unwrap();
        assert_eq!(his.records.iter().map(|r| r.id.to_string()).collect::<BTreeSet<_>>(), bens.live);
        assert_eq!(his.comments.len(), 1);
        assert!(!serde_json::to_string(&his).unwrap().contains("Ana:"));

        // Patients only.
        call(&app, authed(TestRequest::get().uri(EXPORT), &t)).await.assert_problem(403, "forbidden");
        call(&app, TestRequest::get().uri(EXPORT)).await.assert_problem(401, "unauthorized");
        let wrong = call(&app, authed(TestRequest::post().uri(EXPORT), &p)).await;
        wrong.assert_problem(405, "method-not-allowed");
        // An empty journal exports too.
        let new = token(&register(&app, "new@example.org").await);
        let empty = call(&app, authed(TestRequest::get().uri(EXPORT), &new)).await;
        let empty: ExportDocument = serde_json::from_value(empty.body).unwrap();
        empty.check().unwrap();
        assert!(empty.records.is_empty() && empty.revisions.is_empty() && empty.comments.is_empty());
    }

    async fn erasure_removes_everything_but_the_audit_log(server: TestServer) {
        let app = server.app().await;
        let lee_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&lee_tokens), account_id(&lee_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        let refresh = ana_tokens["refreshToken"].as_str().unwrap().to_owned();
        let ben_tokens = register(&app, "ben@example.org").await;
        let (q, ben) = (token(&ben_tokens), account_id(&ben_tokens));
        link(&app, &t, &p).await;
        link(&app, &t, &q).await;
        let anas = write_everything(&app, &p, &ana, &t, &lee, "Ana").await;
        write_everything(&app, &q, &ben, &t, &lee, "Ben").await;
        review_rows(&server, &ana, &lee, anas.live.iter().next().unwrap()).await;
        review_rows(&server, &ben, &lee, anas.live.iter().next().unwrap()).await;
        // A second sign-in session, and a failed sign-in on the email.
        let login = |password: &str| TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": "ana@example.org", "password": password}));
        assert_eq!(call(&app, login(PASSWORD)).await.status, 200);
        assert_eq!(call(&app, login("not the password")).await.status, 401);

        let before = footprint(&server, &ana, "ana@example.org").await;
        for (table, count) in &before {
            assert!(*count > 0, "{table} holds nothing of Ana's before: the test proves nothing");
        }
        assert!(outcomes_of(&server, &anas.device).await > 0);
        let bens_before = footprint(&server, &ben, "ben@example.org").await;

        // A wrong password, or none, changes nothing.
        let wrong = call(&app, erase(&p, "not the password")).await;
        wrong.assert_problem(401, "wrong-password");
        for body in [json!({}), json!({"password": PASSWORD, "really": true})] {
            let unreadable = authed(TestRequest::delete().uri(ME).set_json(&body), &p);
            call(&app, unreadable).await.assert_problem(400, "bad-request");
        }
        let no_body = authed(TestRequest::delete().uri(ME), &p);
        assert!(call(&app, no_body).await.status.is_client_error());
        assert_eq!(footprint(&server, &ana, "ana@example.org").await, before);
        assert_eq!(call(&app, authed(TestRequest::get().uri(ME), &p)).await.status, 200);
        // Therapists are not erased here.
        let refused = call(&app, erase(&t, "therapist password")).await;
        refused.assert_problem(403, "forbidden");
        assert_eq!(call(&app, authed(TestRequest::get().uri(ME), &t)).await.status, 200);

        let erased = call(&app, erase(&p, PASSWORD)).await;
        assert_eq!(erased.status, 204, "{:?}", erased.body);

        // Everything is gone but the audit log, which holds no content.
        let after = footprint(&server, &ana, "ana@example.org").await;
        for (table, count) in &after {
            let expected = if *table == "audit_log" { before[table] } else { 0 };
            assert_eq!(*count, expected, "{table}");
        }
        assert_eq!(outcomes_of(&server, &anas.device).await, 0);
        // Ben and the therapist keep everything of theirs.
        assert_eq!(footprint(&server, &ben, "ben@example.org").await, bens_before);
        assert_eq!(call(&app, authed(TestRequest::get().uri(ME), &t)).await.status, 200);
        let ana_for_audit = ana.clone();
        let audit: Vec<(String, String, Option<String>, Option<String>)> = server.state.db
            .run(move |conn| -> Result<_, StoreError> {
                Ok(audit_log::table
                    .filter(audit_log::patient_id.eq(ana_for_audit))
                    .select((audit_log::therapist_id, audit_log::action,
                             audit_log::record_id, audit_log::record_kind))
                    .load(conn)?)
            })
            .await
            .unwrap();
        assert_eq!(audit.len() as i64, before["audit_log"]);
        assert!(audit.iter().all(|(therapist, _, _, _)| *therapist == lee));

        // The old access token is refused everywhere, never a 500.
        let record = anas.live.iter().next().unwrap().clone();
        let some_id = uuid::Uuid::now_v7().to_string();
        let requests = vec![
            TestRequest::get().uri(ME),
            TestRequest::delete().uri(ME).set_json(json!({"password": PASSWORD})),
            TestRequest::get().uri(EXPORT),
            TestRequest::get().uri(RECORDS),
            TestRequest::post().uri(RECORDS).set_json(entry("after erasure")),
            TestRequest::get().uri(&format!("{RECORDS}/{record}")),
            TestRequest::put().uri(&format!("{RECORDS}/{record}")).set_json(entry("after erasure")),
            TestRequest::delete().uri(&format!("{RECORDS}/{record}")),
            TestRequest::get().uri(&format!("{RECORDS}/{record}/revisions")),
            TestRequest::get().uri(&format!("{RECORDS}/{record}/comments")),
            TestRequest::get().uri("/api/v1/sync/pull?since=0"),
            TestRequest::post().uri("/api/v1/sync/push").set_json(json!({"deviceId": anas.device,
                "mutations": [upsert(3, &RecordId::new().to_string(), 9, None, "after erasure")]})),
            TestRequest::get().uri("/api/v1/care/links"),
            TestRequest::post().uri("/api/v1/care/links").set_json(json!({"code": "7QK2M-9XHDA"})),
            TestRequest::delete().uri(&format!("/api/v1/care/links/{some_id}")),
        ];
        for request in requests {
            let reply = call(&app, authed(request, &p)).await;
            assert!(!reply.status.is_server_error(), "{:?}", reply.body);
            reply.assert_problem(401, "unauthorized");
        }
        assert_eq!(footprint(&server, &ana, "ana@example.org").await, after, "nothing came back");
        // The old refresh token too.
        let refreshed = call(&app, TestRequest::post().uri("/api/v1/auth/refresh")
            .set_json(json!({"refreshToken": refresh}))).await;
        refreshed.assert_problem(401, "unauthorized");
        // The therapist finds nothing of Ana's any more.
        let late = call(&app, authed(TestRequest::post()
            .uri(&format!("/api/v1/therapist/patients/{ana}/records/{record}/comments"))
            .set_json(json!({"text": "Are you there?"})), &t)).await;
        late.assert_problem(404, "not-found");
        let kept = call(&app, authed(TestRequest::delete()
            .uri(&format!("/api/v1/therapist/comments/{}", anas.kept_comment)), &t)).await;
        kept.assert_problem(404, "not-found");

        // The email is free again: a new, empty account.
        let again = register(&app, "ana@example.org").await;
        assert_ne!(account_id(&again), ana);
        let listed = call(&app, authed(TestRequest::get().uri(RECORDS), &token(&again))).await;
        assert_eq!(listed.body["records"], json!([]));
        let pulled = call(&app, authed(TestRequest::get().uri("/api/v1/sync/pull"), &token(&again))).await;
        assert_eq!(pulled.body["changes"], json!([]));
        assert_eq!(call(&app, login(PASSWORD)).await.status, 200);
    }

    async fn erasure_leaves_no_readable_text_in_the_database(server: TestServer) {
        let app = server.app().await;
        let lee_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&lee_tokens), account_id(&lee_tokens));
        // Words and an address found nowhere else in the database.
        let email = "erasable.zq7x@example.org";
        let words = "Qxwv-7 the lighthouse keeper's daughter";
        let tokens = register(&app, email).await;
        let (p, id) = (token(&tokens), account_id(&tokens));
        link(&app, &t, &p).await;
        let mut written = write_everything(&app, &p, &id, &t, &lee, words).await;
        // Edited and pushed too, so older versions of the text went through
        // the write-ahead log and freed pages.
        let edited = create(&app, &p, &entry(&format!("{words}: first draft"))).await;
        let edit = authed(TestRequest::put().uri(&format!("{RECORDS}/{edited}"))
            .set_json(entry(&format!("{words}: second draft"))), &p);
        assert_eq!(call(&app, edit).await.status, 200);
        written.live.insert(edited);
        assert!(readable(&server, &[email, "Qxwv-7"]).await, "the test must see the text before");

        let erased = call(&app, erase(&p, PASSWORD)).await;
        assert_eq!(erased.status, 204, "{:?}", erased.body);
        assert!(!readable(&server, &[email, "Qxwv-7"]).await, "erased text is still readable");
    }

    async fn wrong_passwords_lock_erasure_like_sign_in(server: TestServer) {
        let app = server.app().await;
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        create(&app, &p, &entry("still here")).await;
        for _ in 0..5 {
            call(&app, erase(&p, "a wrong guess")).await.assert_problem(401, "wrong-password");
        }
        // Locked now, even with the right password; and so is sign-in.
        let locked = call(&app, erase(&p, PASSWORD)).await;
        locked.assert_problem(429, "too-many-requests");
        assert!(locked.headers.get("retry-after").is_some());
        let login = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": "ana@example.org", "password": PASSWORD}))).await;
        login.assert_problem(429, "too-many-requests");
        let footprint = footprint(&server, &ana, "ana@example.org").await;
        assert_eq!((footprint["users"], footprint["records"]), (1, 1));
        let listed = call(&app, authed(TestRequest::get().uri(RECORDS), &p)).await;
        assert_eq!(listed.body["records"].as_array().unwrap().len(), 1);
    }
}

/// Per client address, erasure counts as an attempt at a secret.
#[actix_web::test]
async fn erasure_attempts_are_throttled_per_address() {
    let server = TestServer::start_with(Backend::Sqlite, &["--auth-attempts-per-minute", "3"])
        .await
        .unwrap();
    let app = server.app().await;
    // Registering is the first attempt.
    let p = token(&register(&app, "ana@example.org").await);
    for _ in 0..2 {
        call(&app, erase(&p, "a wrong guess"))
            .await
            .assert_problem(401, "wrong-password");
    }
    let throttled = call(&app, erase(&p, PASSWORD)).await;
    throttled.assert_problem(429, "too-many-requests");
    assert_eq!(
        call(&app, authed(TestRequest::get().uri(ME), &p))
            .await
            .status,
        200
    );
}
