//! Accounts, sign-in and tokens, and the error classes every route shares;
//! each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: [u8; 32] = TEST_SECRET;

fn login_request(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/login")
        .set_json(json!({"email": email, "password": password}))
}

fn forged(claims: Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

fn claims(sub: &str, session: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": "kap-journal", "aud": "kap-journal-api", "sub": sub, "role": "patient",
           "iat": now, "nbf": now, "exp": now + exp_offset, "jti": "x", "sid": session})
}

on_both_backends! {
    async fn register_sign_in_and_me(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "Ana@Example.COM ").await;
        assert_eq!(tokens["tokenType"], "Bearer");
        assert!(tokens["expiresIn"].as_u64().unwrap() <= 900);
        assert_eq!(tokens["account"]["role"], "patient");

        let me = call(&app, authed(TestRequest::get().uri("/api/v1/me"), &token(&tokens))).await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["email"], "ana@example.com", "stored normalised");

        // Case variants are one account.
        let again = login_request("ANA@example.com", "correct horse battery");
        assert_eq!(call(&app, again).await.status, 200);
        let duplicate = call(&app, TestRequest::post().uri("/api/v1/auth/register")
            .set_json(json!({"email": "ana@EXAMPLE.com", "password": "another long password"}))).await;
        duplicate.assert_problem(409, "conflict");
    }

    async fn registration_is_validated_and_cannot_choose_a_role(server: TestServer) {
        let app = server.app().await;
        let bad = call(&app, TestRequest::post().uri("/api/v1/auth/register")
            .set_json(json!({"email": "not-an-email", "password": "short"}))).await;
        bad.assert_problem(422, "validation");
        let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter()
            .map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["email", "password"]);

        let long = "x".repeat(129);
        let reply = call(&app, TestRequest::post().uri("/api/v1/auth/register")
            .set_json(json!({"email": "a@b.org", "password": long}))).await;
        reply.assert_problem(422, "validation");

        let sneaky = call(&app, TestRequest::post().uri("/api/v1/auth/register")
            .set_json(json!({"email": "eve@b.org", "password": "correct horse battery", "role": "therapist"}))).await;
        sneaky.assert_problem(400, "bad-request");
        assert!(sneaky.body["detail"].as_str().unwrap().contains("role"), "{:?}", sneaky.body);
        assert_eq!(call(&app, login_request("eve@b.org", "correct horse battery")).await.status, 401,
            "no account was made");
    }

    async fn unknown_email_and_wrong_password_answer_alike(server: TestServer) {
        let app = server.app().await;
        register(&app, "bo@example.org").await;
        let wrong = call(&app, login_request("bo@example.org", "not the password")).await;
        let unknown = call(&app, login_request("nobody@example.org", "not the password")).await;
        wrong.assert_problem(401, "unauthorized");
        assert_eq!(wrong.status, unknown.status);
        assert_eq!(wrong.body, unknown.body);
        let too_long = call(&app, login_request("bo@example.org", &"p".repeat(10_000))).await;
        assert_eq!(too_long.body, wrong.body);
    }

    async fn repeated_failures_lock_an_email_known_or_not(server: TestServer) {
        let app = server.app().await;
        register(&app, "cy@example.org").await;
        for email in ["cy@example.org", "ghost@example.org"] {
            for _ in 0..5 {
                assert_eq!(call(&app, login_request(email, "wrong password!")).await.status, 401);
            }
            let locked = call(&app, login_request(email, "correct horse battery")).await;
            locked.assert_problem(429, "too-many-requests");
            assert!(locked.headers.contains_key("retry-after"));
        }
    }

    async fn refresh_rotates_and_reuse_revokes_the_family(server: TestServer) {
        let app = server.app().await;
        let first = register(&app, "di@example.org").await;
        let refresh = |t: &str| TestRequest::post().uri("/api/v1/auth/refresh")
            .set_json(json!({"refreshToken": t}));

        let second = call(&app, refresh(first["refreshToken"].as_str().unwrap())).await;
        assert_eq!(second.status, 200, "{:?}", second.body);
        assert_ne!(second.body["refreshToken"], first["refreshToken"]);
        let me = call(&app, authed(TestRequest::get().uri("/api/v1/me"), &token(&second.body))).await;
        assert_eq!(me.status, 200);

        // The old token again: a replay. The whole family ends, including the
        // token the legitimate client holds now.
        let replay = call(&app, refresh(first["refreshToken"].as_str().unwrap())).await;
        replay.assert_problem(401, "unauthorized");
        let current = call(&app, refresh(second.body["refreshToken"].as_str().unwrap())).await;
        current.assert_problem(401, "unauthorized");

        // Another sign-in starts a family of its own.
        let fresh = call(&app, login_request("di@example.org", "correct horse battery")).await;
        assert_eq!(call(&app, refresh(fresh.body["refreshToken"].as_str().unwrap())).await.status, 200);
        call(&app, refresh("made-up")).await.assert_problem(401, "unauthorized");
    }

    async fn a_password_change_needs_the_current_one_and_ends_other_sessions(server: TestServer) {
        let app = server.app().await;
        let here = register(&app, "fi@example.org").await;
        let elsewhere = call(&app, login_request("fi@example.org", PATIENT_PASSWORD)).await;
        let change = |current: &str, new: &str| authed(TestRequest::post().uri("/api/v1/me/password")
            .set_json(json!({"currentPassword": current, "newPassword": new})), &token(&here));
        // A wrong current password: its own problem type, nothing changed.
        call(&app, change("not my password", "a new passphrase")).await.assert_problem(401, "wrong-password");
        // A new password breaking the rules: named, nothing changed.
        let short = call(&app, change(PATIENT_PASSWORD, "short")).await;
        short.assert_problem(422, "validation");
        assert_eq!(fields(&short), vec![pair("newPassword", "length")]);
        assert_eq!(call(&app, login_request("fi@example.org", PATIENT_PASSWORD)).await.status, 200);
        call(&app, authed(TestRequest::post().uri("/api/v1/me/password")
            .set_json(json!({"currentPassword": PATIENT_PASSWORD})), &token(&here))).await
            .assert_problem(400, "bad-request");
        // Changed: this session goes on, the other one ends, the old
        // password no longer signs in.
        assert_eq!(call(&app, change(PATIENT_PASSWORD, "a new passphrase")).await.status, 204);
        assert_eq!(call(&app, authed(TestRequest::get().uri("/api/v1/me"), &token(&here))).await.status, 200);
        let refresh = |t: &Value| TestRequest::post().uri("/api/v1/auth/refresh")
            .set_json(json!({"refreshToken": t["refreshToken"]}));
        assert_eq!(call(&app, refresh(&here)).await.status, 200);
        call(&app, refresh(&elsewhere.body)).await.assert_problem(401, "unauthorized");
        call(&app, authed(TestRequest::get().uri("/api/v1/me"), &token(&elsewhere.body))).await
            .assert_problem(401, "unauthorized");
        call(&app, login_request("fi@example.org", PATIENT_PASSWORD)).await.assert_problem(401, "unauthorized");
        assert_eq!(call(&app, login_request("fi@example.org", "a new passphrase")).await.status, 200);
        // Wrong current passwords lock like wrong sign-ins.
        for _ in 0..5 {
            call(&app, change("a wrong guess!", "another passphrase")).await;
        }
        call(&app, change("a new passphrase", "another passphrase")).await.assert_problem(429, "too-many-requests");
    }

    async fn the_display_name_is_changed_checked_and_removed(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "gi@example.org").await;
        let patch = |body: Value| authed(TestRequest::patch().uri("/api/v1/me").set_json(body), &token(&tokens));
        let named = call(&app, patch(json!({"displayName": "Gi Park"}))).await;
        assert_eq!(named.status, 200, "{:?}", named.body);
        assert_eq!(named.body["displayName"], "Gi Park");
        assert_eq!(call(&app, authed(TestRequest::get().uri("/api/v1/me"), &token(&tokens))).await.body["displayName"], "Gi Park");
        for bad in [json!({"displayName": "   "}), json!({"displayName": "a\u{7}b"}), json!({"displayName": "x".repeat(101)})] {
            let refused = call(&app, patch(bad.clone())).await;
            refused.assert_problem(422, "validation");
            assert_eq!(fields(&refused), vec![pair("displayName", "length")], "{bad}");
        }
        call(&app, patch(json!({"displayName": "Gi", "role": "therapist"}))).await.assert_problem(400, "bad-request");
        assert_eq!(call(&app, authed(TestRequest::get().uri("/api/v1/me"), &token(&tokens))).await.body["displayName"], "Gi Park");
        let removed = call(&app, patch(json!({"displayName": null}))).await;
        assert_eq!(removed.status, 200);
        assert!(removed.body["displayName"].is_null());
    }

    async fn sign_out_revokes(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "ed@example.org").await;
        let body = json!({"refreshToken": tokens["refreshToken"]});
        let out = call(&app, TestRequest::post().uri("/api/v1/auth/logout").set_json(&body)).await;
        assert_eq!(out.status, 204);
        let after = call(&app, TestRequest::post().uri("/api/v1/auth/refresh").set_json(&body)).await;
        after.assert_problem(401, "unauthorized");
        let twice = call(&app, TestRequest::post().uri("/api/v1/auth/logout").set_json(&body)).await;
        assert_eq!(twice.status, 204);
    }

    async fn bad_access_tokens_are_refused(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "fa@example.org").await;
        let me = |t: String| authed(TestRequest::get().uri("/api/v1/me"), &t);
        let id = tokens["account"]["id"].as_str().unwrap().to_owned();
        let session = session_of(&tokens);
        let claims = |sub: &str, exp_offset: i64| claims(sub, &session, exp_offset);
        assert_eq!(call(&app, me(forged(claims(&id, 60), &SECRET))).await.status, 200, "a good forgery is the control");

        let good = token(&tokens);
        let mut tampered = good.clone();
        let middle = tampered.find('.').unwrap() + 5;
        tampered.replace_range(middle..middle + 1, if &good[middle..middle + 1] == "A" { "B" } else { "A" });
        let mut wrong_audience = claims(&id, 60);
        wrong_audience["aud"] = json!("someone-else");
        let mut wrong_issuer = claims(&id, 60);
        wrong_issuer["iss"] = json!("evil");
        let mut exp_as_text = claims(&id, 60);
        exp_as_text["exp"] = json!("tomorrow");
        let mut role_as_number = claims(&id, 60);
        role_as_number["role"] = json!(1);
        let mut not_yet = claims(&id, 600);
        not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 300);
        let mut no_nbf = claims(&id, 60);
        no_nbf.as_object_mut().unwrap().remove("nbf");
        let none_alg = {
            use base64::Engine;
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!("{}.{}.", e.encode(br#"{"alg":"none","typ":"JWT"}"#),
                e.encode(serde_json::to_vec(&claims(&id, 60)).unwrap()))
        };
        let cases = vec![
            ("expired", forged(claims(&id, -120), &SECRET)),
            ("tampered", tampered),
            ("other key", forged(claims(&id, 60), &[7u8; 32])),
            ("wrong audience", forged(wrong_audience, &SECRET)),
            ("wrong issuer", forged(wrong_issuer, &SECRET)),
            ("exp as text", forged(exp_as_text, &SECRET)),
            ("role as number", forged(role_as_number, &SECRET)),
            ("not yet valid", forged(not_yet, &SECRET)),
            ("no nbf", forged(no_nbf, &SECRET)),
            ("alg none", none_alg),
            ("garbage", "a.b.c".to_owned()),
        ];
        for (name, bad) in cases {
            let reply = call(&app, me(bad)).await;
            reply.assert_problem(401, "unauthorized");
            let challenge = reply.headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "{name}");
        }
        let none = call(&app, TestRequest::get().uri("/api/v1/me")).await;
        none.assert_problem(401, "unauthorized");
        assert!(none.headers.contains_key("www-authenticate"));
        let basic = call(&app, TestRequest::get().uri("/api/v1/me")
            .insert_header(("Authorization", "Basic YTpi"))).await;
        basic.assert_problem(401, "unauthorized");
    }

    async fn every_error_class_is_a_problem(server: TestServer) {
        let app = server.app().await;
        let malformed = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .insert_header(("content-type", "application/json")).set_payload("{\"email\": ")).await;
        malformed.assert_problem(400, "bad-request");
        let wrong_type = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": 5, "password": []}))).await;
        wrong_type.assert_problem(400, "bad-request");
        let not_json = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .insert_header(("content-type", "text/plain")).set_payload("email=a")).await;
        not_json.assert_problem(415, "unsupported-media-type");
        let huge = format!("{{\"email\":\"{}\",\"password\":\"x\"}}", "a".repeat(journal_server::MAX_BODY_BYTES));
        let too_large = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .insert_header(("content-type", "application/json")).set_payload(huge)).await;
        too_large.assert_problem(413, "payload-too-large");
        let unknown = call(&app, TestRequest::get().uri("/api/v1/no-such-thing")).await;
        unknown.assert_problem(404, "not-found");
        let method = call(&app, TestRequest::delete().uri("/api/v1/auth/login")).await;
        assert_eq!(method.status, 405);
        assert_eq!(method.content_type(), "application/problem+json");
        assert_eq!(method.body["type"], "urn:kap-journal:problem:method-not-allowed");
    }

    async fn health_and_readiness(server: TestServer) {
        let app = server.app().await;
        let health = call(&app, TestRequest::get().uri("/healthz")).await;
        assert_eq!((health.status.as_u16(), health.body["status"].as_str()), (200, Some("ok")));
        let ready = call(&app, TestRequest::get().uri("/readyz")).await;
        assert_eq!(ready.status, 200);
        let expected = match server.backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgresql" };
        assert_eq!(ready.body["database"], expected);
    }
}

mod throttling_per_address {
    use super::*;

    #[actix_web::test]
    async fn too_many_attempts_from_one_address() {
        let server = TestServer::start_with(Backend::Sqlite, &["--auth-attempts-per-minute", "3"])
            .await
            .unwrap();
        let app = server.app().await;
        let from = |r: TestRequest| r.peer_addr("203.0.113.9:5000".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(
                call(&app, from(login_request("x@y.org", "wrong password")))
                    .await
                    .status,
                401
            );
        }
        let limited = call(&app, from(login_request("x@y.org", "wrong password"))).await;
        limited.assert_problem(429, "too-many-requests");
        let other = login_request("x@y.org", "wrong password")
            .peer_addr("198.51.100.1:5000".parse().unwrap());
        assert_eq!(
            call(&app, other).await.status,
            401,
            "another address is not limited"
        );
    }
}
