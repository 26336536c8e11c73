//! Abuse of credentials, on every route the OpenAPI document lists: no,
//! forged, tampered, expired, wrongly addressed and wrongly typed access
//! tokens; a token of an erased account; the wrong role; another user's ids
//! in every path; refresh-token replay. Every case answers a problem
//! document and leaves the data as it was. Each test on SQLite and on
//! PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

/// Who a signed-in route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Patient,
    Therapist,
    Either,
}

/// Every route that needs no token.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("get", "/api/v1/policy"),
];

/// Every route that needs a token, and whose.
const SIGNED_IN: &[(&str, &str, Who)] = &[
    ("get", "/api/v1/me", Who::Either),
    ("patch", "/api/v1/me", Who::Either),
    ("post", "/api/v1/me/password", Who::Either),
    ("delete", "/api/v1/me", Who::Patient),
    ("get", "/api/v1/me/export", Who::Patient),
    ("get", "/api/v1/me/access-log", Who::Patient),
    ("post", "/api/v1/care/invitations", Who::Therapist),
    ("get", "/api/v1/care/invitations", Who::Therapist),
    ("delete", "/api/v1/care/invitations/{id}", Who::Therapist),
    ("post", "/api/v1/care/links", Who::Patient),
    ("get", "/api/v1/care/links", Who::Either),
    ("put", "/api/v1/care-plans/{patientId}", Who::Therapist),
    ("get", "/api/v1/care-plans/{patientId}", Who::Therapist),
    ("delete", "/api/v1/care-plans/{patientId}", Who::Therapist),
    (
        "get",
        "/api/v1/care-plans/{patientId}/adherence",
        Who::Therapist,
    ),
    ("get", "/api/v1/care-plans", Who::Patient),
    ("delete", "/api/v1/care/links/{id}", Who::Either),
    ("post", "/api/v1/records", Who::Patient),
    ("get", "/api/v1/records", Who::Patient),
    ("get", "/api/v1/records/{id}", Who::Patient),
    ("put", "/api/v1/records/{id}", Who::Patient),
    ("delete", "/api/v1/records/{id}", Who::Patient),
    ("get", "/api/v1/records/{id}/revisions", Who::Patient),
    ("get", "/api/v1/records/{id}/comments", Who::Patient),
    ("post", "/api/v1/records/{id}/comments", Who::Patient),
    ("put", "/api/v1/comments/{commentId}", Who::Patient),
    ("delete", "/api/v1/comments/{commentId}", Who::Patient),
    ("post", "/api/v1/sync/push", Who::Patient),
    ("get", "/api/v1/sync/pull", Who::Patient),
    ("get", "/api/v1/therapist/patients", Who::Therapist),
    (
        "get",
        "/api/v1/therapist/patients/{patientId}/feed",
        Who::Therapist,
    ),
    (
        "get",
        "/api/v1/therapist/patients/{patientId}/timeline",
        Who::Therapist,
    ),
    (
        "get",
        "/api/v1/therapist/patients/{patientId}/records/{recordId}",
        Who::Therapist,
    ),
    (
        "post",
        "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments",
        Who::Therapist,
    ),
    (
        "get",
        "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments",
        Who::Therapist,
    ),
    (
        "put",
        "/api/v1/therapist/comments/{commentId}",
        Who::Therapist,
    ),
    (
        "delete",
        "/api/v1/therapist/comments/{commentId}",
        Who::Therapist,
    ),
    ("get", "/api/v1/therapist/alerts", Who::Therapist),
    (
        "post",
        "/api/v1/therapist/alerts/{id}/acknowledge",
        Who::Therapist,
    ),
    (
        "post",
        "/api/v1/therapist/alerts/{id}/resolve",
        Who::Therapist,
    ),
];

/// Checks the document against [`PUBLIC`] and [`SIGNED_IN`] both ways, so a
/// new route fails here until it is placed (and so tested below); returns
/// the signed-in operations with whose they are.
fn classify(operations: &[(String, String, Value)]) -> Vec<(String, String, Value, Who)> {
    let mut signed_in = Vec::new();
    for (method, path, operation) in operations {
        let key = (method.as_str(), path.as_str());
        let whose = SIGNED_IN
            .iter()
            .find(|(m, p, _)| (*m, *p) == key)
            .map(|(_, _, w)| *w);
        match (needs_token(operation), whose) {
            (true, Some(who)) => {
                signed_in.push((method.clone(), path.clone(), operation.clone(), who))
            }
            (false, None) => assert!(
                PUBLIC.contains(&key),
                "{method} {path} needs no token by the document: add it to PUBLIC (or document its bearer security)"
            ),
            (true, None) => panic!("{method} {path} needs a token: add it to SIGNED_IN"),
            (false, Some(_)) => {
                panic!("{method} {path} is in SIGNED_IN but documents no bearer security")
            }
        }
    }
    for (method, path, _) in SIGNED_IN {
        assert!(
            signed_in
                .iter()
                .any(|(m, p, _, _)| (m.as_str(), p.as_str()) == (*method, *path)),
            "{method} {path} is in SIGNED_IN but not in the document"
        );
    }
    assert_eq!(
        operations.len(),
        SIGNED_IN.len() + PUBLIC.len(),
        "every documented route is classified once"
    );
    signed_in
}

/// A body the route accepts (for a caller allowed to use it), so that an
/// abusive request fails for the abuse, not for the body.
fn body_for(method: &str, path: &str, operation: &Value) -> Option<Value> {
    let body = match (method, path) {
        ("delete", "/api/v1/me") => json!({"password": PATIENT_PASSWORD}),
        ("post", "/api/v1/care/links") => json!({"code": "AAAAA-BBBBB"}),
        ("post", "/api/v1/records") | ("put", "/api/v1/records/{id}") => {
            json!({"kind": "journalEntry", "body": {"body": "abuse", "phase": "integration"}})
        }
        ("post", "/api/v1/sync/push") => json!({
            "deviceId": uuid::Uuid::now_v7().to_string(),
            "mutations": [{"mutationId": 1, "recordId": uuid::Uuid::now_v7().to_string(),
                "kind": "journalEntry", "op": "upsert",
                "hlc": journal_core::hlc::Hlc::new(1_767_225_600_000, 0).to_string(),
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "body": {"body": "abuse", "phase": "integration", "tags": []}}]
        }),
        ("post", "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments")
        | ("put", "/api/v1/therapist/comments/{commentId}")
        | ("put", "/api/v1/comments/{commentId}") => json!({"text": "abuse"}),
        // `replyTo` is filled with the side's comment by `request`.
        ("post", "/api/v1/records/{id}/comments") => json!({"replyTo": null, "text": "abuse"}),
        ("post", "/api/v1/therapist/alerts/{id}/resolve") => json!({"note": "abuse"}),
        ("put", "/api/v1/care-plans/{patientId}") => json!({"checkIns": "daily"}),
        ("patch", "/api/v1/me") => json!({"displayName": "Abuse"}),
        // The same password again: the controls may change it, and later
        // ones sign in with it.
        ("post", "/api/v1/me/password") => {
            json!({"currentPassword": PATIENT_PASSWORD, "newPassword": PATIENT_PASSWORD})
        }
        _ => {
            assert!(
                operation.get("requestBody").is_none(),
                "{method} {path} takes a body: teach body_for one"
            );
            return None;
        }
    };
    Some(body)
}

/// The request of an operation with `side`'s ids and the route's body.
fn request(method: &str, path: &str, operation: &Value, side: &Side) -> TestRequest {
    let request = request_of(method, &side.fill(path));
    match body_for(method, path, operation) {
        Some(mut body) => {
            if body.get("replyTo").is_some() {
                body["replyTo"] = json!(side.comment);
            }
            request.set_json(body)
        }
        None => request,
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token put together by hand: any header and payload, any signature.
fn raw_token(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(payload).unwrap())
    )
}

fn signed(claims: &Value) -> String {
    sign_token(&Header::new(Algorithm::HS256), claims, &TEST_SECRET)
}

fn bearer(token: &str) -> Option<HeaderValue> {
    Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap())
}

/// Every bad `Authorization` a caller could send (`None`: no header),
/// aimed at `victim` (a patient): each must answer 401 on every signed-in
/// route.
fn bad_credentials(victim: &Side, erased_token: &str) -> Vec<(&'static str, Option<HeaderValue>)> {
    let good = token(&victim.patient);
    let id = victim.patient_id.as_str();
    let session = session_of(&victim.patient);
    let claims = || access_claims(id, "patient", &session);
    let with = |field: &str, value: Value| {
        let mut c = claims();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let now = chrono::Utc::now().timestamp();
    let parts: Vec<&str> = good.split('.').collect();

    let mut tampered_signature = good.clone();
    let at = tampered_signature.len() - 3;
    let flipped = if &good[at..=at] == "A" { "B" } else { "A" };
    tampered_signature.replace_range(at..=at, flipped);
    // The victim's payload rewritten to another role, the signature kept.
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let mut upgraded = payload.clone();
    upgraded["role"] = json!("therapist");
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&upgraded).unwrap()),
        parts[2]
    );
    let hs = json!({"alg": "HS256", "typ": "JWT"});

    let tokens: Vec<(&'static str, String)> = vec![
        ("tampered signature", tampered_signature),
        ("tampered payload", tampered_payload),
        ("no signature", format!("{}.{}.", parts[0], parts[1])),
        (
            "other secret",
            sign_token(&Header::new(Algorithm::HS256), &claims(), &[7u8; 32]),
        ),
        (
            "alg none",
            raw_token(&json!({"alg": "none", "typ": "JWT"}), &claims(), ""),
        ),
        (
            "alg none, signed",
            raw_token(&json!({"alg": "none", "typ": "JWT"}), &claims(), parts[2]),
        ),
        (
            "alg NONE",
            raw_token(&json!({"alg": "NONE"}), &claims(), ""),
        ),
        (
            "HS512 with the secret",
            sign_token(&Header::new(Algorithm::HS512), &claims(), &TEST_SECRET),
        ),
        (
            "HS384 with the secret",
            sign_token(&Header::new(Algorithm::HS384), &claims(), &TEST_SECRET),
        ),
        (
            "RS256 header",
            raw_token(&json!({"alg": "RS256", "typ": "JWT"}), &payload, parts[2]),
        ),
        ("expired", signed(&with("exp", json!(now - 120)))),
        ("not yet valid", signed(&with("nbf", json!(now + 300)))),
        ("wrong issuer", signed(&with("iss", json!("someone-else")))),
        ("wrong audience", signed(&with("aud", json!("another-api")))),
        (
            "audience list without ours",
            signed(&with("aud", json!(["another-api"]))),
        ),
        ("no exp", signed(&without("exp"))),
        ("no nbf", signed(&without("nbf"))),
        ("no sub", signed(&without("sub"))),
        ("no role", signed(&without("role"))),
        ("no iss", signed(&without("iss"))),
        ("no aud", signed(&without("aud"))),
        ("sub as a number", signed(&with("sub", json!(12345)))),
        ("sub not a UUID", signed(&with("sub", json!("' OR 1=1 --")))),
        (
            "sub nil UUID",
            signed(&with("sub", json!(uuid::Uuid::nil().to_string()))),
        ),
        (
            "exp as a string",
            signed(&with("exp", json!((now + 60).to_string()))),
        ),
        ("exp as a float", signed(&with("exp", json!(1e300)))),
        ("nbf as an object", signed(&with("nbf", json!({"at": now})))),
        (
            "role as an array",
            signed(&with("role", json!(["patient"]))),
        ),
        ("role as a number", signed(&with("role", json!(1)))),
        ("role unknown", signed(&with("role", json!("admin")))),
        (
            "iss as an array",
            signed(&with("iss", json!(["kap-journal"]))),
        ),
        (
            "claims an array",
            raw_token(&hs, &json!([id, "patient"]), parts[2]),
        ),
        ("claims null", raw_token(&hs, &Value::Null, parts[2])),
        (
            "header not JSON",
            format!("{}.{}.{}", b64(b"\xff\xfe"), parts[1], parts[2]),
        ),
        ("not base64", "@@@.@@@.@@@".to_owned()),
        ("garbage", "a.b.c".to_owned()),
        ("one part", "abc".to_owned()),
        ("huge", "A".repeat(64 * 1024)),
        // Correctly signed, but not what the account is.
        (
            "signed, role not the account's",
            signed(&access_claims(id, "therapist", &session)),
        ),
        (
            "signed, no such account",
            signed(&access_claims(
                &uuid::Uuid::now_v7().to_string(),
                "patient",
                &session,
            )),
        ),
        ("an erased account's", erased_token.to_owned()),
        (
            "a refresh token",
            victim.patient["refreshToken"].as_str().unwrap().to_owned(),
        ),
    ];
    let mut out: Vec<(&'static str, Option<HeaderValue>)> = vec![
        ("no Authorization", None),
        ("empty Bearer", Some(HeaderValue::from_static("Bearer "))),
        ("Basic scheme", Some(HeaderValue::from_static("Basic YTpi"))),
        (
            "token without scheme",
            Some(HeaderValue::from_str(&good).unwrap()),
        ),
        (
            "not text",
            Some(HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap()),
        ),
    ];
    out.extend(tokens.into_iter().map(|(name, t)| (name, bearer(&t))));
    out
}

/// An account signed in and then erased; its access token is still
/// unexpired.
async fn erased_token<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let tokens = register(app, "erased@example.org").await;
    let t = token(&tokens);
    let erased = call(
        app,
        authed(TestRequest::delete().uri("/api/v1/me"), &t)
            .set_json(json!({"password": PATIENT_PASSWORD})),
    )
    .await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);
    t
}

on_both_backends! {
    async fn every_signed_in_route_refuses_every_bad_token(server: TestServer) {
        let app = server.app().await;
        let operations = documented_operations(&app).await;
        let signed_in = classify(&operations);
        let ana = side(&server, &app, "ana").await;
        let erased = erased_token(&app).await;
        let credentials = bad_credentials(&ana, &erased);

        for (method, path, operation, who) in &signed_in {
            // Taken per route: the controls below change data on purpose.
            let before = data_snapshot(&server).await;
            // The same request with each bad credential, aimed at the very
            // account the ids belong to.
            for (name, credential) in &credentials {
                let mut request = request(method, path, operation, &ana);
                if let Some(value) = credential {
                    request = request.insert_header(("Authorization", value.clone()));
                }
                let reply = call(&app, request).await;
                assert_eq!(reply.status, 401, "{method} {path} with {name}: {:?}", reply.body);
                reply.assert_problem(401, "unauthorized");
                let challenge = reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok());
                assert!(challenge.is_some_and(|c| c.starts_with("Bearer ")), "{method} {path} with {name}");
            }
            assert!(documents(operation, 401), "{method} {path} does not document its 401");
            assert_eq!(data_snapshot(&server).await, before, "{method} {path}: bad tokens changed data");
            // Control: the right token of the right role gets past sign-in
            // (erasure last, below).
            if (method.as_str(), path.as_str()) != ("delete", "/api/v1/me") {
                let holder = match who {
                    Who::Therapist => token(&ana.therapist),
                    Who::Patient | Who::Either => token(&ana.patient),
                };
                let reply = call(&app, authed(request(method, path, operation, &ana), &holder)).await;
                assert_ne!(reply.status, 401, "{method} {path}, control: {:?}", reply.body);
                assert!(!reply.status.is_server_error(), "{method} {path}, control: {:?}", reply.body);
            }
        }
        let erase = call(&app, authed(TestRequest::delete().uri("/api/v1/me"), &token(&ana.patient))
            .set_json(json!({"password": PATIENT_PASSWORD}))).await;
        assert_eq!(erase.status, 204, "control: {:?}", erase.body);
    }

    async fn the_wrong_role_is_refused_everywhere_as_documented(server: TestServer) {
        let app = server.app().await;
        let signed_in = classify(&documented_operations(&app).await);
        let ana = side(&server, &app, "ana").await;
        let before = data_snapshot(&server).await;
        let mut checked = 0;
        for (method, path, operation, who) in &signed_in {
            let wrong = match who {
                Who::Patient => token(&ana.therapist),
                Who::Therapist => token(&ana.patient),
                Who::Either => continue,
            };
            let reply = call(&app, authed(request(method, path, operation, &ana), &wrong)).await;
            let status = reply.status.as_u16();
            assert!(status == 403 || status == 404, "{method} {path} for the wrong role: {status} {:?}", reply.body);
            reply.assert_problem(status, if status == 403 { "forbidden" } else { "not-found" });
            assert!(documents(operation, status), "{method} {path} answers the wrong role {status} but does not document it");
            assert_eq!(data_snapshot(&server).await, before, "{method} {path}: the wrong role changed data");
            checked += 1;
        }
        assert!(checked > 20, "{checked}");
    }

    async fn another_users_ids_in_every_path_answer_not_found_and_change_nothing(server: TestServer) {
        let app = server.app().await;
        let signed_in = classify(&documented_operations(&app).await);
        let ana = side(&server, &app, "ana").await;
        let bo = side(&server, &app, "bo").await;
        let before = data_snapshot(&server).await;
        let mut checked = 0;
        for (method, path, operation, who) in &signed_in {
            if !path.contains('{') {
                continue;
            }
            let callers = match who {
                Who::Patient => vec![token(&ana.patient)],
                Who::Therapist => vec![token(&ana.therapist)],
                Who::Either => vec![token(&ana.patient), token(&ana.therapist)],
            };
            for caller in callers {
                // Ana's side's caller, Bo's side's ids.
                let reply = call(&app, authed(request(method, path, operation, &bo), &caller)).await;
                reply.assert_problem(404, "not-found");
                assert!(documents(operation, 404), "{method} {path} answers 404 but does not document it");
                checked += 1;
            }
            assert_eq!(data_snapshot(&server).await, before, "{method} {path}: another user's ids changed data");
        }
        assert!(checked >= 15, "{checked}");
    }

    async fn refresh_abuse(server: TestServer) {
        let app = server.app().await;
        let first = register(&app, "ref@example.org").await;
        let refresh = |body: Value| TestRequest::post().uri("/api/v1/auth/refresh").set_json(body);
        let rotated = call(&app, refresh(json!({"refreshToken": first["refreshToken"]}))).await;
        assert_eq!(rotated.status, 200, "{:?}", rotated.body);
        let third = call(&app, refresh(json!({"refreshToken": rotated.body["refreshToken"]}))).await;
        assert_eq!(third.status, 200, "{:?}", third.body);

        // Not refresh tokens at all: refused, and the session lives on.
        let before = data_snapshot(&server).await;
        for body in [
            json!({"refreshToken": token(&first)}),
            json!({"refreshToken": ""}),
            json!({"refreshToken": "' OR '1'='1"}),
            json!({"refreshToken": "x".repeat(500_000)}),
            json!({"refreshToken": "\u{0}\u{7}\u{1b}[2J"}),
        ] {
            call(&app, refresh(body)).await.assert_problem(401, "unauthorized");
        }
        for body in [
            json!({"refreshToken": 12345}),
            json!({"refreshToken": [third.body["refreshToken"]]}),
            json!({"refreshToken": null}),
            json!({"refreshToken": {"$ne": ""}}),
            json!({}),
            json!({"refreshToken": third.body["refreshToken"], "userId": first["account"]["id"]}),
            json!("a string"),
            json!(null),
        ] {
            call(&app, refresh(body)).await.assert_problem(400, "bad-request");
        }
        assert_eq!(data_snapshot(&server).await, before, "refused refreshes changed nothing");

        // The first token again, two rotations later: a replay. The whole
        // family ends, the newest token with it.
        let replay = call(&app, refresh(json!({"refreshToken": first["refreshToken"]}))).await;
        replay.assert_problem(401, "unauthorized");
        for stale in [&rotated.body["refreshToken"], &third.body["refreshToken"]] {
            call(&app, refresh(json!({"refreshToken": stale}))).await.assert_problem(401, "unauthorized");
        }
        let user = first["account"]["id"].as_str().unwrap().to_owned();
        let live = server.state.db.run(move |conn| -> Result<i64, journal_server::store::StoreError> {
            use diesel::prelude::*;
            use journal_server::store::schema::refresh_tokens;
            Ok(refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(user))
                .filter(refresh_tokens::revoked_at.is_null())
                .count()
                .get_result(conn)?)
        }).await.unwrap();
        assert_eq!(live, 0, "every token of the family is revoked");
        // Signing in again starts afresh.
        let again = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": "ref@example.org", "password": PATIENT_PASSWORD}))).await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        let fresh = call(&app, refresh(json!({"refreshToken": again.body["refreshToken"]}))).await;
        assert_eq!(fresh.status, 200, "{:?}", fresh.body);
    }
}

/// Routes a signed-out patient's old access token must no longer open.
const AFTER_SIGN_OUT: [&str; 4] = [
    "/api/v1/me",
    "/api/v1/records",
    "/api/v1/sync/pull",
    "/api/v1/me/export",
];

on_both_backends! {
    async fn signing_out_ends_the_sessions_access_tokens_at_once(server: TestServer) {
        let app = server.app().await;
        let first = register(&app, "out@example.org").await;
        // A second session of the same account (another phone).
        let second = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": "out@example.org", "password": PATIENT_PASSWORD}))).await;
        assert_eq!(second.status, 200);
        let (old, other) = (token(&first), token(&second.body));
        for uri in AFTER_SIGN_OUT {
            assert_eq!(call(&app, authed(TestRequest::get().uri(uri), &old)).await.status, 200, "{uri}");
        }
        let out = call(&app, TestRequest::post().uri("/api/v1/auth/logout")
            .set_json(json!({"refreshToken": first["refreshToken"]}))).await;
        assert_eq!(out.status, 204);
        for uri in AFTER_SIGN_OUT {
            let reply = call(&app, authed(TestRequest::get().uri(uri), &old)).await;
            reply.assert_problem(401, "unauthorized");
            assert!(reply.body["detail"].as_str().unwrap().contains("sign in again"), "{uri}");
            // The other phone's session goes on.
            let reply = call(&app, authed(TestRequest::get().uri(uri), &other)).await;
            assert_eq!(reply.status, 200, "{uri}: {:?}", reply.body);
        }
    }

    async fn a_reused_refresh_token_ends_the_access_tokens_of_its_session(server: TestServer) {
        let app = server.app().await;
        let first = register(&app, "reuse@example.org").await;
        let refresh = |t: &Value| TestRequest::post().uri("/api/v1/auth/refresh")
            .set_json(json!({"refreshToken": t["refreshToken"]}));
        let rotated = call(&app, refresh(&first)).await;
        assert_eq!(rotated.status, 200);
        assert_eq!(session_of(&rotated.body), session_of(&first), "one session across rotations");
        let current = token(&rotated.body);
        assert_eq!(call(&app, authed(TestRequest::get().uri("/api/v1/me"), &current)).await.status, 200);
        // A thief replays the spent token: the family ends, and so does the
        // access token the rightful phone holds.
        call(&app, refresh(&first)).await.assert_problem(401, "unauthorized");
        for t in [&current, &token(&first)] {
            call(&app, authed(TestRequest::get().uri("/api/v1/me"), t)).await
                .assert_problem(401, "unauthorized");
        }
    }

    async fn tokens_of_no_session_or_living_too_long_are_refused(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "forged-session").await;
        let id = side.patient_id.clone();
        let session = session_of(&side.patient);
        let me = |t: String| authed(TestRequest::get().uri("/api/v1/me"), &t);
        let good = access_claims(&id, "patient", &session);
        assert_eq!(call(&app, me(signed(&good))).await.status, 200, "the control");
        let mut no_session = good.clone();
        no_session.as_object_mut().unwrap().remove("sid");
        let mut unknown_session = good.clone();
        unknown_session["sid"] = json!(uuid::Uuid::now_v7().to_string());
        let mut not_a_session = good.clone();
        not_a_session["sid"] = json!("everyone");
        // Someone who learned the signing secret mints a token for a year.
        let mut a_year = good.clone();
        a_year["exp"] = json!(chrono::Utc::now().timestamp() + 365 * 24 * 3600);
        let mut no_iat = good.clone();
        no_iat.as_object_mut().unwrap().remove("iat");
        for (what, claims) in [
            ("no session", no_session),
            ("an unknown session", unknown_session),
            ("not a session id", not_a_session),
            ("a year long", a_year),
            ("no issue time", no_iat),
        ] {
            for uri in AFTER_SIGN_OUT {
                let reply = call(&app, authed(TestRequest::get().uri(uri), &signed(&claims))).await;
                assert_eq!(reply.status, 401, "{what} on {uri}: {:?}", reply.body);
            }
        }
    }
}
