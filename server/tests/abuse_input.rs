//! Abuse of input, on every route the OpenAPI document lists: oversized,
//! deeply nested, invalid UTF-8 and mistyped bodies; SQL-looking and
//! control-character text in bodies, query parameters and path ids; ids
//! that are not UUIDs; huge, negative, zero and non-numeric pagination;
//! mass assignment; other patients' ids inside sync pushes. Every case
//! answers a problem document (or stores the text verbatim) and leaves the
//! data as it was. Each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use serde_json::{Value, json};

/// Text an attacker types: SQL, escapes, control and formatting characters.
const NASTY: &[&str] = &[
    "'; DROP TABLE records; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM users WHERE ('a'='a",
    "1; SELECT pg_sleep(10) --",
    "\" OR \"\"=\"",
    "%' AND 1=0 UNION SELECT password_hash FROM users --",
    "\\'; \\\\",
    "$1 ?",
    "nul \u{0} inside",
    "bell \u{7} escape \u{1b}[2J",
    "right-to-left \u{202e} override",
    "carriage \r return\nline",
    "\u{feff}bom",
    "<script>alert(1)</script>",
];

fn with_token(request: TestRequest, holder: &Option<String>) -> TestRequest {
    match holder {
        Some(t) => authed(request, t),
        None => request,
    }
}

/// Asserts a client-error problem document (any 4xx).
#[track_caller]
fn assert_client_problem(reply: &Reply, what: &str) {
    assert!(
        reply.status.is_client_error(),
        "{what}: {} {:?}",
        reply.status,
        reply.body
    );
    reply.assert_problem(
        reply.status.as_u16(),
        reply.body["type"]
            .as_str()
            .unwrap_or("?")
            .trim_start_matches("urn:kap-journal:problem:"),
    );
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

on_both_backends! {
    async fn every_body_route_refuses_unreadable_bodies(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "ana").await;
        let mut checked = 0;
        let oversized = format!("{{\"text\":\"{}\"}}", "a".repeat(journal_server::MAX_BODY_BYTES));
        let deep_arrays = nested(10_000, "[", "]");
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
            ("oversized", Some("application/json"), oversized.into_bytes(), 413),
            ("arrays nested 10,000 deep", Some("application/json"), deep_arrays.into_bytes(), 400),
            ("objects nested 10,000 deep", Some("application/json"), deep_objects.into_bytes(), 400),
            ("invalid UTF-8", Some("application/json"), b"{\"text\": \"\xff\xfe\xc3\x28\"}".to_vec(), 400),
            ("malformed", Some("application/json"), b"{\"text\": ".to_vec(), 400),
            ("a number", Some("application/json"), b"12".to_vec(), 400),
            ("text/plain", Some("text/plain"), b"{}".to_vec(), 415),
            ("form", Some("application/x-www-form-urlencoded"), b"a=b".to_vec(), 415),
            ("xml", Some("application/xml"), b"<a/>".to_vec(), 415),
            ("no content type", None, b"{\"text\": \"x\"}".to_vec(), 415),
        ];
        for (method, path, operation) in documented_operations(&app).await {
            if operation.get("requestBody").is_none() {
                continue;
            }
            let holder = holder(&path, &operation, &ana);
            let before = data_snapshot(&server).await;
            for (name, content_type, body, status) in &cases {
                let mut request = with_token(request_of(&method, &ana.fill(&path)), &holder)
                    .set_payload(body.clone());
                if let Some(ct) = content_type {
                    request = request.insert_header(("content-type", *ct));
                }
                let reply = call(&app, request).await;
                assert_eq!(reply.status.as_u16(), *status, "{method} {path} with {name} body: {:?}", reply.body);
                assert_client_problem(&reply, &format!("{method} {path} with {name}"));
                checked += 1;
            }
            if operation["requestBody"]["required"] == json!(true) {
                let empty = call(&app, with_token(request_of(&method, &ana.fill(&path)), &holder)
                    .insert_header(("content-type", "application/json"))).await;
                empty.assert_problem(400, "bad-request");
            }
            assert_eq!(data_snapshot(&server).await, before, "{method} {path}: unreadable bodies changed data");
        }
        assert!(checked >= 10 * 10, "{checked}");
    }

    async fn path_ids_that_are_not_ids_answer_not_found(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "ana").await;
        let bad_ids = [
            "not-a-uuid", "1", "-1", "0", "%27%20OR%20%271%27%3D%271", "%27%3B%20DROP%20TABLE%20records%3B--",
            "%00", "%E2%80%AE", "%FF%FE", &"9".repeat(400),
            // A UUID with something after it, and in braces.
            &format!("{}%00", ana.record), &format!("{}x", ana.record),
        ];
        let mut checked = 0;
        for (method, path, operation) in documented_operations(&app).await {
            if !path.contains('{') {
                continue;
            }
            let holder = holder(&path, &operation, &ana);
            let before = data_snapshot(&server).await;
            let filled = ana.fill(&path);
            let real: Vec<&str> = filled.split('/').collect();
            let template: Vec<&str> = path.split('/').collect();
            for (at, segment) in template.iter().enumerate() {
                if !segment.starts_with('{') {
                    continue;
                }
                for bad in &bad_ids {
                    let mut parts = real.clone();
                    parts[at] = bad;
                    let uri = parts.join("/");
                    let mut request = with_token(request_of(&method, &uri), &holder);
                    if operation.get("requestBody").is_some() {
                        request = request.set_json(json!({"text": "x", "note": "x", "body": {}}));
                    }
                    let reply = call(&app, request).await;
                    let status = reply.status.as_u16();
                    assert!(status == 404 || status == 400, "{method} {uri}: {status} {:?}", reply.body);
                    assert_client_problem(&reply, &format!("{method} {uri}"));
                    checked += 1;
                }
            }
            assert_eq!(data_snapshot(&server).await, before, "{method} {path}: bad ids changed data");
        }
        assert!(checked > 100, "{checked}");
    }

    async fn query_parameters_refuse_nonsense_and_pagination_is_bounded(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "ana").await;
        let before = data_snapshot(&server).await;
        let numbers = ["-1", "0", "-9223372036854775808", "9223372036854775808", "99999999999999999999999999",
            "abc", "1.5", "1e9", "0x10", "%00", "%27%20OR%201%3D1--", ""];
        let mut checked = 0;
        for (method, path, operation) in documented_operations(&app).await {
            let Some(parameters) = operation["parameters"].as_array() else { continue };
            let holder = holder(&path, &operation, &ana);
            let base = ana.fill(&path);
            for parameter in parameters.iter().filter(|p| p["in"] == "query") {
                let name = parameter["name"].as_str().unwrap();
                let pagination = matches!(name, "limit" | "cursor" | "since");
                let values: Vec<String> = numbers.iter().map(|v| (*v).to_owned())
                    .chain(NASTY.iter().map(|s| urlencoding(s)))
                    .collect();
                for value in values {
                    let uri = format!("{base}?{name}={value}");
                    let reply = call(&app, with_token(request_of(&method, &uri), &holder)).await;
                    assert!(!reply.status.is_server_error(), "{uri}: {:?}", reply.body);
                    if reply.status.is_client_error() {
                        assert_client_problem(&reply, &uri);
                    }
                    let in_range = name == "since" && value == "0";
                    if pagination && !value.is_empty() && !in_range {
                        let s = reply.status.as_u16();
                        assert!(s == 400 || s == 422, "{uri} must be refused: {s} {:?}", reply.body);
                    }
                    checked += 1;
                }
            }
            // An unknown parameter with nasty content is refused or ignored
            // (on reads: a write would do its work).
            if method != "get" {
                continue;
            }
            let reply = call(&app, with_token(request_of(&method, &format!("{base}?{}=1", urlencoding("' OR 1=1 --"))), &holder)).await;
            assert!(!reply.status.is_server_error(), "{path}: {:?}", reply.body);
        }
        assert!(checked > 100, "{checked}");
        // Therapists' reads that were answered are audited, as they must be;
        // nothing else changed.
        let after = data_snapshot(&server).await;
        for ((table, rows), (_, old)) in after.0.iter().zip(before.0.iter()) {
            if *table != "audit_log" {
                assert_eq!(rows, old, "{table} changed by queries");
            }
        }
    }

    async fn nasty_text_is_stored_verbatim_or_refused(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "ana").await;
        let p = token(&ana.patient);
        let t = token(&ana.therapist);
        for (n, text) in NASTY.iter().enumerate() {
            let before = data_snapshot(&server).await;
            // A journal entry's text and tag, an intention's text.
            for body in [
                json!({"kind": "journalEntry", "body": {"body": text, "phase": "integration", "tags": [text]}}),
                json!({"kind": "intention", "body": {"text": text}}),
            ] {
                let made = call(&app, authed(TestRequest::post().uri("/api/v1/records").set_json(&body), &p)).await;
                if made.status == 201 {
                    let id = made.body["id"].as_str().unwrap();
                    let read = call(&app, authed(TestRequest::get().uri(&format!("/api/v1/records/{id}")), &p)).await;
                    assert_eq!(read.status, 200, "{:?}", read.body);
                    for (field, value) in body["body"].as_object().unwrap() {
                        assert_eq!(&read.body["body"][field], value, "{text:?} stored verbatim");
                    }
                } else {
                    assert_client_problem(&made, &format!("record with {text:?}"));
                }
            }
            // A comment, an alert's note.
            let comment = call(&app, authed(TestRequest::post()
                .uri(&format!("/api/v1/therapist/patients/{}/records/{}/comments", ana.patient_id, ana.record))
                .set_json(json!({"text": text})), &t)).await;
            if comment.status == 201 {
                assert_eq!(comment.body["text"], json!(text), "{text:?}");
            } else {
                assert_client_problem(&comment, &format!("comment {text:?}"));
            }
            // Sign-in and registration fields.
            let email = format!("{text}@example.org");
            for (uri, body) in [
                ("/api/v1/auth/login", json!({"email": text, "password": text})),
                ("/api/v1/auth/login", json!({"email": email, "password": "correct horse battery"})),
                ("/api/v1/auth/register", json!({"email": email, "password": "correct horse battery"})),
                ("/api/v1/auth/register", json!({"email": format!("n{n}@example.org"),
                    "password": format!("{text} long enough"), "displayName": text})),
                ("/api/v1/care/links", json!({"code": text})),
            ] {
                let request = TestRequest::post().uri(uri).set_json(&body);
                let request = if uri.contains("care") { authed(request, &p) } else { request };
                let reply = call(&app, request).await;
                if !reply.status.is_success() {
                    assert_client_problem(&reply, &format!("{uri} with {text:?}"));
                }
            }
            let after = data_snapshot(&server).await;
            // Only Ana's records, the comments and new accounts may differ.
            for ((table, rows), (_, old)) in after.0.iter().zip(before.0.iter()) {
                if !matches!(*table, "records" | "owner_versions" | "comments" | "users" | "refresh_tokens" | "alerts") {
                    assert_eq!(rows, old, "{table} changed by {text:?}");
                }
            }
        }
        // The tables are all still there and answer.
        let listed = call(&app, authed(TestRequest::get().uri("/api/v1/records?limit=200"), &p)).await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
    }

    async fn mass_assignment_is_refused_or_ignored(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "ana").await;
        let bo = side(&server, &app, "bo").await;
        let b = token(&bo.patient);
        let entry = json!({"body": "mine", "phase": "integration"});
        let before = data_snapshot(&server).await;
        for body in [
            json!({"kind": "journalEntry", "body": entry, "ownerId": ana.patient_id}),
            json!({"kind": "journalEntry", "body": entry, "owner_id": ana.patient_id}),
            json!({"kind": "journalEntry", "body": entry, "id": ana.record}),
            json!({"kind": "journalEntry", "body": entry, "version": 999}),
            json!({"kind": "journalEntry", "body": entry, "deleted": true}),
            json!({"kind": "journalEntry", "body": {"body": "mine", "phase": "integration", "ownerId": ana.patient_id}}),
            json!({"kind": "journalEntry", "body": {"body": "mine", "phase": "integration", "id": ana.record}}),
        ] {
            for request in [
                TestRequest::post().uri("/api/v1/records").set_json(&body),
                TestRequest::put().uri(&format!("/api/v1/records/{}", bo.record)).set_json(&body),
            ] {
                let reply = call(&app, authed(request, &b)).await;
                if reply.status.is_success() {
                    // Ignored, never obeyed: Bo's record, Bo's id.
                    assert_ne!(reply.body["id"], json!(ana.record), "{body}");
                    assert_ne!(reply.body["ownerId"], json!(ana.patient_id), "{body}");
                } else {
                    assert_client_problem(&reply, &body.to_string());
                }
            }
        }
        // Registration cannot choose a role or an id.
        for extra in [json!({"role": "therapist"}), json!({"id": ana.patient_id}), json!({"passwordHash": "x"})] {
            let mut body = json!({"email": "mallory@example.org", "password": "correct horse battery"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let reply = call(&app, TestRequest::post().uri("/api/v1/auth/register").set_json(&body)).await;
            reply.assert_problem(400, "bad-request");
        }
        // A push cannot name an owner either.
        let push = json!({"deviceId": uuid::Uuid::now_v7().to_string(), "ownerId": ana.patient_id,
            "mutations": []});
        call(&app, authed(TestRequest::post().uri("/api/v1/sync/push").set_json(&push), &b)).await
            .assert_problem(400, "bad-request");
        let after = data_snapshot(&server).await;
        for ((table, rows), (_, old)) in after.0.iter().zip(before.0.iter()) {
            if *table == "records" {
                let ana_rows = |rows: &Vec<String>| rows.iter().filter(|r| r.contains(&ana.patient_id) && !r.contains("therapistId")).cloned().collect::<Vec<_>>();
                assert_eq!(ana_rows(rows), ana_rows(old), "Ana's records untouched");
            } else if !matches!(*table, "owner_versions" | "alerts") {
                assert_eq!(rows, old, "{table}");
            }
        }
        let users_now = &after.0.iter().find(|(t, _)| *t == "users").unwrap().1;
        assert!(!users_now.iter().any(|u| u.contains("mallory")));
    }

    async fn other_patients_ids_inside_pushes_leave_their_rows_alone(server: TestServer) {
        let app = server.app().await;
        let ana = side(&server, &app, "ana").await;
        let bo = side(&server, &app, "bo").await;
        let b = token(&bo.patient);
        let hlc = |tick: u64| journal_core::hlc::Hlc::new(1_767_225_600_000 + tick * 1_000, 0).to_string();
        let at = "2026-01-01T00:00:00Z";
        let m = |id: u64, record: &str, kind: &str, op: &str, body: Value| {
            let mut m = json!({"mutationId": id, "recordId": record, "kind": kind, "op": op,
                "hlc": hlc(id), "createdAt": at, "updatedAt": at});
            if op == "upsert" {
                m["body"] = body;
            }
            m
        };
        let before = data_snapshot(&server).await;
        let mutations = vec![
            m(1, &ana.record, "journalEntry", "upsert", json!({"body": "Bo's now", "phase": "integration", "tags": []})),
            m(2, &ana.record, "journalEntry", "delete", Value::Null),
            m(3, &ana.record, "moodCheckIn", "upsert", json!({"recordedAt": at, "mood": 1, "anxiety": 1, "energy": 1, "emotions": []})),
            m(4, &ana.alert, "journalEntry", "upsert", json!({"body": "x", "phase": "integration", "tags": []})),
            m(5, &ana.comment, "journalEntry", "delete", Value::Null),
            m(6, &ana.patient_id, "journalEntry", "upsert", json!({"body": "x", "phase": "integration", "tags": []})),
        ];
        let push = json!({"deviceId": uuid::Uuid::now_v7().to_string(), "mutations": mutations});
        let reply = call(&app, authed(TestRequest::post().uri("/api/v1/sync/push").set_json(&push), &b)).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let results = reply.body["results"].as_array().unwrap();
        for result in &results[..3] {
            assert_eq!(result["status"], "rejected", "{result}");
            assert_eq!(result["problem"]["type"], "urn:kap-journal:problem:not-found", "{result}");
        }
        let after = data_snapshot(&server).await;
        let of = |s: &DataSnapshot, table: &str, who: &str| -> Vec<String> {
            s.0.iter().find(|(t, _)| *t == table).unwrap().1.iter().filter(|r| r.contains(who)).cloned().collect()
        };
        for table in ["records", "comments", "alerts", "record_revisions"] {
            assert_eq!(of(&after, table, &ana.record), of(&before, table, &ana.record), "{table}");
        }
        assert_eq!(of(&after, "owner_versions", &ana.patient_id), of(&before, "owner_versions", &ana.patient_id));
        let ana_export = call(&app, authed(TestRequest::get().uri("/api/v1/me/export"), &token(&ana.patient))).await;
        assert_eq!(ana_export.status, 200);
        assert!(ana_export.body.to_string().contains("ana's entry"));
        assert!(!ana_export.body.to_string().contains("Bo's now"));
    }
}

/// Percent-encodes everything but unreserved characters.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
