//! Patient data left behind in caches, and answers a browser could be
//! tricked into misreading: every answer — each documented route as its
//! rightful caller calls it, unknown routes, wrong methods, refused tokens,
//! bodies too large — says `Cache-Control: no-store` (so no proxy, browser
//! or app cache keeps a journal entry, a pull page, a feed, an export or a
//! token), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//! no-referrer`, and may not be framed. Each test on SQLite and on
//! PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use serde_json::json;

/// The headers no answer may go without, and their values.
const REQUIRED: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

#[track_caller]
fn assert_guarded(reply: &Reply, what: &str) {
    for (name, value) in REQUIRED {
        let found = reply.headers.get(*name).and_then(|v| v.to_str().ok());
        assert_eq!(found, Some(*value), "{what}: {name} ({})", reply.status);
    }
    let policy = reply
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: content-security-policy {policy:?}"
    );
}

on_both_backends! {
    async fn every_answer_forbids_caching_sniffing_and_framing(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "headers").await;
        for (method, path, operation) in documented_operations(&app).await {
            let uri = side.fill(&path);
            let mut request = request_of(&method, &uri);
            if let Some(token) = holder(&path, &operation, &side) {
                request = authed(request, &token);
            }
            // Whatever the answer — data, an empty success, a problem about
            // the missing body — it carries the headers.
            let reply = call(&app, request).await;
            assert_guarded(&reply, &format!("{method} {uri}"));
        }
    }

    async fn answers_holding_patient_data_and_tokens_are_never_cached(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "cached").await;
        let patient = token(&side.patient);
        let therapist = token(&side.therapist);
        let reads = [
            (format!("/api/v1/records/{}", side.record), &patient),
            ("/api/v1/records".to_owned(), &patient),
            ("/api/v1/sync/pull".to_owned(), &patient),
            ("/api/v1/me/export".to_owned(), &patient),
            ("/api/v1/me/access-log".to_owned(), &patient),
            (format!("/api/v1/records/{}/comments", side.record), &patient),
            (format!("/api/v1/therapist/patients/{}/feed", side.patient_id), &therapist),
            (format!("/api/v1/therapist/patients/{}/timeline", side.patient_id), &therapist),
            ("/api/v1/therapist/alerts".to_owned(), &therapist),
        ];
        for (uri, token) in reads {
            let reply = call(&app, authed(TestRequest::get().uri(&uri), token)).await;
            assert_eq!(reply.status, 200, "{uri}: {:?}", reply.body);
            assert_guarded(&reply, &uri);
        }
        // A sign-in answer holds a refresh token: a cache must never keep it.
        let signed_in = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email": "cached.patient@example.org", "password": PATIENT_PASSWORD})),
        )
        .await;
        assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
        assert!(signed_in.body["refreshToken"].is_string());
        assert_guarded(&signed_in, "POST /api/v1/auth/login");
    }

    async fn refusals_and_unknown_routes_carry_them_too(server: TestServer) {
        let app = server.app().await;
        let cases = [
            ("unknown route", TestRequest::get().uri("/api/v1/nothing-here")),
            ("wrong method", TestRequest::patch().uri("/api/v1/records")),
            ("no token", TestRequest::get().uri("/api/v1/records")),
            (
                "forged token",
                TestRequest::get()
                    .uri("/api/v1/records")
                    .insert_header(("Authorization", "Bearer not.a.token")),
            ),
            (
                "body too large",
                TestRequest::post()
                    .uri("/api/v1/auth/login")
                    .insert_header(("Content-Type", "application/json"))
                    .set_payload(vec![b' '; journal_server::MAX_BODY_BYTES + 1]),
            ),
            ("health", TestRequest::get().uri("/healthz")),
            ("the OpenAPI document", TestRequest::get().uri("/api/v1/openapi.json")),
        ];
        for (what, request) in cases {
            let reply = call(&app, request).await;
            assert_guarded(&reply, what);
        }
    }
}
