//! Care links: therapists' invitation codes, patients accepting them, and
//! either party ending a link; each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use journal_server::store::StoreError;
use journal_server::store::schema::{care_invitations, care_links};
use serde_json::{Value, json};

const INVITATIONS: &str = "/api/v1/care/invitations";
const LINKS: &str = "/api/v1/care/links";

/// Creates an invitation as `therapist`; returns its body.
async fn invite<S, B>(app: &S, therapist: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let reply = call(app, authed(TestRequest::post().uri(INVITATIONS), therapist)).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

fn accept(code: &str, patient: &str) -> TestRequest {
    authed(TestRequest::post().uri(LINKS), patient).set_json(json!({"code": code}))
}

fn list(uri: &str, token: &str) -> TestRequest {
    authed(TestRequest::get().uri(uri), token)
}

fn delete(uri: &str, token: &str) -> TestRequest {
    authed(TestRequest::delete().uri(uri), token)
}

fn code_of(invitation: &Value) -> String {
    invitation["code"].as_str().unwrap().to_owned()
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Sets a column of one invitation directly in the database.
async fn age_invitation(server: &TestServer, id: &str) {
    let id = id.to_owned();
    let past = chrono::Utc::now().timestamp_micros() - 1_000_000;
    let changed = server
        .state
        .db
        .run(move |conn| -> Result<usize, StoreError> {
            Ok(diesel::update(care_invitations::table.find(id))
                .set(care_invitations::expires_at.eq(past))
                .execute(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

on_both_backends! {
    async fn the_whole_lifecycle(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.kim@clinic.example").await);
        let ana_tokens = register(&app, "ana@example.org").await;
        let ana = token(&ana_tokens);

        let invitation = invite(&app, &doctor).await;
        let code = code_of(&invitation);
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(&code[5..6], "-");
        assert!(code.chars().filter(|&c| c != '-')
            .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)), "{code}");
        let created = chrono::DateTime::parse_from_rfc3339(invitation["createdAt"].as_str().unwrap()).unwrap();
        let expires = chrono::DateTime::parse_from_rfc3339(invitation["expiresAt"].as_str().unwrap()).unwrap();
        assert_eq!((expires - created).num_hours(), 72, "the default lifetime");
        uuid::Uuid::parse_str(&id_of(&invitation)).unwrap();

        // Only the hash is stored.
        let stored: Vec<String> = server.state.db.run(|conn| -> Result<_, StoreError> {
            Ok(care_invitations::table.select(care_invitations::code_hash).load(conn)?)
        }).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(&code) && !stored[0].contains(&code.replace('-', "")));
        assert_eq!(stored[0].len(), 64);

        let linked = call(&app, accept(&code, &ana)).await;
        assert_eq!(linked.status, 201, "{:?}", linked.body);
        let link_id = id_of(&linked.body);
        assert_eq!(linked.body["patient"]["id"], ana_tokens["account"]["id"]);
        assert_eq!(linked.body["patient"]["email"], "ana@example.org");
        assert_eq!(linked.body["therapist"]["displayName"], "Dr. Test");
        assert_eq!(linked.body["therapist"]["email"], "dr.kim@clinic.example");
        chrono::DateTime::parse_from_rfc3339(linked.body["createdAt"].as_str().unwrap()).unwrap();

        for who in [&ana, &doctor] {
            let links = call(&app, list(LINKS, who)).await;
            assert_eq!(links.status, 200, "{:?}", links.body);
            assert_eq!(links.body, json!([linked.body]), "both see the same link");
        }

        // Either party may end it; here the patient does, then the
        // therapist cannot end it again.
        assert_eq!(call(&app, delete(&format!("{LINKS}/{link_id}"), &ana)).await.status, 204);
        for who in [&ana, &doctor] {
            assert_eq!(call(&app, list(LINKS, who)).await.body, json!([]));
        }
        call(&app, delete(&format!("{LINKS}/{link_id}"), &doctor)).await.assert_problem(404, "not-found");
        let ended_by: Option<String> = server.state.db.run(move |conn| -> Result<_, StoreError> {
            Ok(care_links::table.find(link_id).select(care_links::ended_by).first(conn)?)
        }).await.unwrap();
        assert_eq!(ended_by.as_deref(), ana_tokens["account"]["id"].as_str());

        // Linking again takes a new code; this time the therapist ends it.
        let again = call(&app, accept(&code_of(&invite(&app, &doctor).await), &ana)).await;
        assert_eq!(again.status, 201, "{:?}", again.body);
        let again_id = id_of(&again.body);
        assert_eq!(call(&app, delete(&format!("{LINKS}/{again_id}"), &doctor)).await.status, 204);
        for who in [&ana, &doctor] {
            assert_eq!(call(&app, list(LINKS, who)).await.body, json!([]));
        }
    }

    async fn codes_are_accepted_in_any_case_without_the_dash(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.lee@clinic.example").await);
        let bo = token(&register(&app, "bo@example.org").await);
        let cy = token(&register(&app, "cy@example.org").await);

        let code = code_of(&invite(&app, &doctor).await);
        let sloppy = code.replace('-', "").to_lowercase();
        assert_eq!(call(&app, accept(&sloppy, &bo)).await.status, 201);

        let code = code_of(&invite(&app, &doctor).await);
        let spaced = format!(" {} - {} ", &code[..5], &code[6..]).to_lowercase();
        assert_eq!(call(&app, accept(&spaced, &cy)).await.status, 201);
    }

    async fn a_code_links_once(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.ng@clinic.example").await);
        let first = token(&register(&app, "first@example.org").await);
        let second = token(&register(&app, "second@example.org").await);
        let code = code_of(&invite(&app, &doctor).await);
        let made = call(&app, accept(&code, &first)).await;
        assert_eq!(made.status, 201);
        call(&app, accept(&code, &second)).await.assert_problem(410, "gone");
        assert_eq!(call(&app, list(LINKS, &second)).await.body, json!([]));
        assert_eq!(call(&app, list(LINKS, &doctor)).await.body.as_array().unwrap().len(), 1);
        // The patient who used it entering it again (an app retrying after
        // a lost answer) gets the same link back, and nothing new is made.
        let again = call(&app, accept(&code, &first)).await;
        assert_eq!(again.status, 201, "{:?}", again.body);
        assert_eq!(again.body["id"], made.body["id"]);
        assert_eq!(call(&app, list(LINKS, &first)).await.body.as_array().unwrap().len(), 1);
        // Not once the link has ended.
        let link = made.body["id"].as_str().unwrap();
        let ended = call(&app, authed(TestRequest::delete().uri(&format!("{LINKS}/{link}")), &first)).await;
        assert_eq!(ended.status, 204);
        call(&app, accept(&code, &first)).await.assert_problem(410, "gone");
    }

    async fn a_code_links_once_even_when_raced(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.race@clinic.example").await);
        let mut patients = Vec::new();
        for n in 0..4 {
            patients.push(token(&register(&app, &format!("racer{n}@example.org")).await));
        }
        let code = code_of(&invite(&app, &doctor).await);
        let (a, b, c, d) = tokio::join!(
            call(&app, accept(&code, &patients[0])),
            call(&app, accept(&code, &patients[1])),
            call(&app, accept(&code, &patients[2])),
            call(&app, accept(&code, &patients[3])),
        );
        let replies = [a, b, c, d];
        let won = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(won, 1, "{replies:?}");
        for reply in replies.iter().filter(|r| r.status != 201) {
            reply.assert_problem(410, "gone");
        }
        assert_eq!(call(&app, list(LINKS, &doctor)).await.body.as_array().unwrap().len(), 1);
    }

    async fn expired_and_revoked_codes_are_gone(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.oh@clinic.example").await);
        let ed = token(&register(&app, "ed@example.org").await);

        let expired = invite(&app, &doctor).await;
        age_invitation(&server, &id_of(&expired)).await;
        let reply = call(&app, accept(&code_of(&expired), &ed)).await;
        reply.assert_problem(410, "gone");
        assert!(reply.body["detail"].as_str().unwrap().contains("expired"), "{:?}", reply.body);

        let revoked = invite(&app, &doctor).await;
        let uri = format!("{INVITATIONS}/{}", id_of(&revoked));
        assert_eq!(call(&app, delete(&uri, &doctor)).await.status, 204);
        assert_eq!(call(&app, delete(&uri, &doctor)).await.status, 204, "revoking twice is fine");
        let reply = call(&app, accept(&code_of(&revoked), &ed)).await;
        reply.assert_problem(410, "gone");
        assert!(reply.body["detail"].as_str().unwrap().contains("revoked"), "{:?}", reply.body);

        assert_eq!(call(&app, list(LINKS, &ed)).await.body, json!([]));
    }

    async fn unknown_codes_are_not_found(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.pi@clinic.example").await);
        let fay = token(&register(&app, "fay@example.org").await);
        let real = code_of(&invite(&app, &doctor).await);
        // A well-formed code that is not the real one (one symbol changed).
        let first = real.chars().next().unwrap();
        let other = if first == '0' { '1' } else { '0' };
        let wrong = format!("{other}{}", &real[1..]);
        for code in [wrong.as_str(), "00000-00000", "not a code", "", "UUUUU-UUUUU"] {
            call(&app, accept(code, &fay)).await.assert_problem(404, "not-found");
        }
        // The real one still works: failures do not use it up.
        assert_eq!(call(&app, accept(&real, &fay)).await.status, 201);
    }

    async fn roles_are_checked(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.qu@clinic.example").await);
        let gil = token(&register(&app, "gil@example.org").await);

        call(&app, authed(TestRequest::post().uri(INVITATIONS), &gil)).await
            .assert_problem(403, "forbidden");
        call(&app, list(INVITATIONS, &gil)).await.assert_problem(403, "forbidden");
        let invitation = invite(&app, &doctor).await;
        call(&app, delete(&format!("{INVITATIONS}/{}", id_of(&invitation)), &gil)).await
            .assert_problem(403, "forbidden");
        call(&app, accept(&code_of(&invitation), &doctor)).await.assert_problem(403, "forbidden");

        // Nobody signed in: 401 everywhere.
        for request in [
            TestRequest::post().uri(INVITATIONS),
            TestRequest::get().uri(INVITATIONS),
            TestRequest::get().uri(LINKS),
            TestRequest::post().uri(LINKS).set_json(json!({"code": code_of(&invitation)})),
            TestRequest::delete().uri(&format!("{INVITATIONS}/{}", id_of(&invitation))),
        ] {
            call(&app, request).await.assert_problem(401, "unauthorized");
        }
        // And the code was not used up by any of it.
        assert_eq!(call(&app, accept(&code_of(&invitation), &gil)).await.status, 201);
    }

    async fn outsiders_see_nothing_of_others_links_and_invitations(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.ra@clinic.example").await);
        let rival = token(&therapist(&server, &app, "dr.su@clinic.example").await);
        let hal = token(&register(&app, "hal@example.org").await);
        let ivy = token(&register(&app, "ivy@example.org").await);

        let invitation = invite(&app, &doctor).await;
        let link = call(&app, accept(&code_of(&invitation), &hal)).await;
        assert_eq!(link.status, 201);
        let link_uri = format!("{LINKS}/{}", id_of(&link.body));

        // A third patient and another therapist cannot end it: 404 exactly
        // like a link that does not exist.
        let missing = call(&app, delete(&format!("{LINKS}/{}", uuid::Uuid::now_v7()), &ivy)).await;
        missing.assert_problem(404, "not-found");
        for outsider in [&ivy, &rival] {
            let reply = call(&app, delete(&link_uri, outsider)).await;
            reply.assert_problem(404, "not-found");
            assert_eq!(reply.body, missing.body);
            assert_eq!(call(&app, list(LINKS, outsider)).await.body, json!([]));
        }
        call(&app, delete(&format!("{LINKS}/not-a-uuid"), &hal)).await.assert_problem(404, "not-found");
        assert_eq!(call(&app, list(LINKS, &hal)).await.body.as_array().unwrap().len(), 1);

        // Another therapist cannot revoke (or see) this therapist's invitation.
        let pending = invite(&app, &doctor).await;
        let uri = format!("{INVITATIONS}/{}", id_of(&pending));
        call(&app, delete(&uri, &rival)).await.assert_problem(404, "not-found");
        call(&app, delete(&format!("{INVITATIONS}/{}", uuid::Uuid::now_v7()), &rival)).await
            .assert_problem(404, "not-found");
        call(&app, delete(&format!("{INVITATIONS}/12345"), &doctor)).await.assert_problem(404, "not-found");
        assert_eq!(call(&app, list(INVITATIONS, &rival)).await.body, json!([]));
        assert_eq!(call(&app, accept(&code_of(&pending), &ivy)).await.status, 201, "still pending");
    }

    async fn a_second_active_link_with_the_same_therapist_conflicts(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.tu@clinic.example").await);
        let other = token(&therapist(&server, &app, "dr.vo@clinic.example").await);
        let jo = token(&register(&app, "jo@example.org").await);

        assert_eq!(call(&app, accept(&code_of(&invite(&app, &doctor).await), &jo)).await.status, 201);
        let second = invite(&app, &doctor).await;
        call(&app, accept(&code_of(&second), &jo)).await.assert_problem(409, "conflict");
        // The refused code was not used up.
        let statuses = call(&app, list(INVITATIONS, &doctor)).await;
        assert_eq!(statuses.body[0]["id"], second["id"]);
        assert_eq!(statuses.body[0]["status"], "pending");

        // Another therapist is fine.
        assert_eq!(call(&app, accept(&code_of(&invite(&app, &other).await), &jo)).await.status, 201);
        let links = call(&app, list(LINKS, &jo)).await;
        assert_eq!(links.body.as_array().unwrap().len(), 2);
        assert_eq!(links.body[0]["therapist"]["email"], "dr.vo@clinic.example", "newest first");
    }

    async fn listing_invitations_shows_statuses_never_codes(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.wu@clinic.example").await);
        let kai = token(&register(&app, "kai@example.org").await);

        let used = invite(&app, &doctor).await;
        assert_eq!(call(&app, accept(&code_of(&used), &kai)).await.status, 201);
        let expired = invite(&app, &doctor).await;
        age_invitation(&server, &id_of(&expired)).await;
        let revoked = invite(&app, &doctor).await;
        assert_eq!(call(&app, delete(&format!("{INVITATIONS}/{}", id_of(&revoked)), &doctor)).await.status, 204);
        let pending = invite(&app, &doctor).await;

        let listed = call(&app, list(INVITATIONS, &doctor)).await;
        assert_eq!(listed.status, 200);
        let listed = listed.body.as_array().unwrap().clone();
        let summary: Vec<(Value, Value)> = listed.iter()
            .map(|i| (i["id"].clone(), i["status"].clone())).collect();
        assert_eq!(summary, vec![
            (pending["id"].clone(), json!("pending")),
            (revoked["id"].clone(), json!("revoked")),
            (expired["id"].clone(), json!("expired")),
            (used["id"].clone(), json!("used")),
        ], "newest first");
        for item in &listed {
            let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["createdAt", "expiresAt", "id", "status"]);
        }
        let text = serde_json::to_string(&listed).unwrap();
        for invitation in [&used, &expired, &revoked, &pending] {
            let code = code_of(invitation);
            assert!(!text.contains(&code) && !text.contains(&code.replace('-', "")));
        }
        // Revoking a used invitation changes nothing.
        assert_eq!(call(&app, delete(&format!("{INVITATIONS}/{}", id_of(&used)), &doctor)).await.status, 204);
        let listed = call(&app, list(INVITATIONS, &doctor)).await;
        assert_eq!(listed.body[3]["status"], "used");
    }

    async fn bad_bodies_and_wrong_methods_are_problems(server: TestServer) {
        let app = server.app().await;
        let doctor = token(&therapist(&server, &app, "dr.xi@clinic.example").await);
        let lu = token(&register(&app, "lu@example.org").await);
        let code = code_of(&invite(&app, &doctor).await);

        let unknown_field = call(&app, authed(TestRequest::post().uri(LINKS), &lu)
            .set_json(json!({"code": code, "therapistId": "x"}))).await;
        unknown_field.assert_problem(400, "bad-request");
        assert!(unknown_field.body["detail"].as_str().unwrap().contains("therapistId"));
        let missing = call(&app, authed(TestRequest::post().uri(LINKS), &lu).set_json(json!({}))).await;
        missing.assert_problem(400, "bad-request");
        assert!(missing.body["detail"].as_str().unwrap().contains("code"));
        call(&app, authed(TestRequest::post().uri(LINKS), &lu).set_json(json!({"code": 12345}))).await
            .assert_problem(400, "bad-request");
        call(&app, authed(TestRequest::post().uri(LINKS), &lu)
            .insert_header(("Content-Type", "application/json")).set_payload("{\"code\":")).await
            .assert_problem(400, "bad-request");

        let some_id = uuid::Uuid::now_v7();
        for request in [
            TestRequest::put().uri(INVITATIONS),
            TestRequest::delete().uri(INVITATIONS),
            TestRequest::get().uri(&format!("{INVITATIONS}/{some_id}")),
            TestRequest::patch().uri(LINKS),
            TestRequest::get().uri(&format!("{LINKS}/{some_id}")),
            TestRequest::post().uri(&format!("{LINKS}/{some_id}")),
        ] {
            let reply = call(&app, authed(request, &lu)).await;
            assert_eq!(reply.status, 405, "{:?}", reply.body);
            assert_eq!(reply.content_type(), "application/problem+json");
            assert_eq!(reply.body["type"], "urn:kap-journal:problem:method-not-allowed");
        }
        // None of it used the code.
        assert_eq!(call(&app, accept(&code, &lu)).await.status, 201);
    }
}

/// Guessing codes is throttled per address, like signing in.
#[actix_web::test]
async fn guessing_codes_is_throttled() {
    let server = TestServer::start_with(Backend::Sqlite, &["--auth-attempts-per-minute", "6"])
        .await
        .unwrap();
    let app = server.app().await;
    // Registration counts against the same limit.
    let patient = token(&register(&app, "mo@example.org").await);
    let mut replies = Vec::new();
    for _ in 0..10 {
        let reply = call(&app, accept("00000-00000", &patient)).await;
        let limited = reply.status == 429;
        replies.push(reply);
        if limited {
            break;
        }
    }
    let last = replies.pop().unwrap();
    last.assert_problem(429, "too-many-requests");
    assert!(last.headers.contains_key("retry-after"));
    assert!(
        !replies.is_empty(),
        "some guesses were answered before the limit"
    );
    for reply in replies {
        reply.assert_problem(404, "not-found");
    }
}
