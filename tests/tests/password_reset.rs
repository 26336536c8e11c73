//! Resetting a forgotten password by an emailed code, end to end on both
//! backends with a local SMTP sink: the same answer whether or not an
//! account has the email, one email with a code for the one that has,
//! the code working once and ending every session, wrong and expired
//! codes refused, too many requests or wrong tries stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use journal_core::sync::{HttpTransport, Transport};
use journal_e2e::smtp::SmtpSink;
use journal_e2e::{Backend, LiveServer};
use serde_json::json;

const PASSWORD: &str = "a long passphrase for tests";
const NEW_PASSWORD: &str = "a brand new passphrase";
const REQUEST: &str = "/api/v1/auth/password-reset";
const CONFIRM: &str = "/api/v1/auth/password-reset/confirm";

fn server(backend: Backend, port: u16) -> Option<LiveServer> {
    LiveServer::start_mailing(backend, port, "no-reply@clinic.example", &[])
}

/// The code in a reset email.
fn code_in(data: &str) -> String {
    let line = data
        .lines()
        .find(|l| l.starts_with("Your code: "))
        .expect("a code line");
    line.trim_start_matches("Your code: ").trim().to_owned()
}

fn confirm(
    server: &LiveServer,
    email: &str,
    code: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    server.post_anonymous(
        CONFIRM,
        json!({"email": email, "code": code, "newPassword": password}),
    )
}

fn a_code_resets_the_password_once_and_ends_every_session(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(server) = server(backend, sink.port) else {
        return;
    };
    let email = "ana@example.org";
    server.register(email, PASSWORD);
    let transport = HttpTransport::new(&server.url()).unwrap();
    let session = transport.sign_in(email, PASSWORD).unwrap();

    // Unknown and known emails get the same answer; only the known one an email.
    let (unknown_status, unknown_body) =
        server.post_anonymous(REQUEST, json!({"email": "nobody@example.org"}));
    let (known_status, known_body) =
        server.post_anonymous(REQUEST, json!({"email": "  ANA@example.org "}));
    assert_eq!((unknown_status, known_status), (202, 202));
    assert_eq!(unknown_body, known_body);
    let messages = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(messages.len(), 1, "one email, to the account only");
    assert_eq!(messages[0].to, vec![email.to_owned()]);
    assert!(!messages[0].data.contains(PASSWORD));
    let code = code_in(&messages[0].data);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.messages().len(), 1, "nothing for the unknown email");

    // A wrong code, a too-short password: refused, nothing changed.
    let (status, body) = confirm(&server, email, "AAAA-AAAA", NEW_PASSWORD);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "code");
    let (status, body) = confirm(&server, email, &code, "short");
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "newPassword");
    assert!(
        transport.sign_in(email, PASSWORD).is_ok(),
        "the old password still works"
    );

    // The right code (case and dash do not matter): reset.
    let typed = code.to_lowercase().replace('-', " ");
    let (status, body) = confirm(&server, email, &typed, NEW_PASSWORD);
    assert_eq!(status, 204, "{body}");
    assert!(
        transport.sign_in(email, PASSWORD).is_err(),
        "the old password is gone"
    );
    assert!(transport.sign_in(email, NEW_PASSWORD).is_ok());
    assert!(
        transport.refresh(&session.refresh_token).is_err(),
        "earlier sessions ended"
    );
    // Used once.
    let (status, _) = confirm(&server, email, &code, "yet another passphrase");
    assert_eq!(status, 422);
    assert!(transport.sign_in(email, NEW_PASSWORD).is_ok());
}

fn wrong_tries_and_requests_are_limited_and_codes_expire(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(server) = server(backend, sink.port) else {
        return;
    };
    let email = "bo@example.org";
    server.register(email, PASSWORD);
    assert_eq!(
        server.post_anonymous(REQUEST, json!({"email": email})).0,
        202
    );
    let code = code_in(&sink.wait_for(1, Duration::from_secs(20))[0].data);
    // Five wrong tries spend the code: the right one no longer works.
    for _ in 0..5 {
        assert_eq!(confirm(&server, email, "ZZZZ-ZZZZ", NEW_PASSWORD).0, 422);
    }
    assert_eq!(confirm(&server, email, &code, NEW_PASSWORD).0, 422);
    // A new code works; the third request of the hour is the last.
    assert_eq!(
        server.post_anonymous(REQUEST, json!({"email": email})).0,
        202
    );
    let code = code_in(&sink.wait_for(2, Duration::from_secs(20))[1].data);
    // Expired (moved past its 30 minutes in the database): refused.
    let db = journal_server::store::Database::open(&server.database_url(), 1).unwrap();
    {
        use diesel::prelude::*;
        use journal_server::store::schema::password_resets;
        let mut conn = db.get().unwrap();
        diesel::update(password_resets::table)
            .set(password_resets::expires_at.eq(1_i64))
            .execute(&mut *conn)
            .unwrap();
    }
    assert_eq!(confirm(&server, email, &code, NEW_PASSWORD).0, 422);
    assert_eq!(
        server.post_anonymous(REQUEST, json!({"email": email})).0,
        202
    );
    let (status, body) = server.post_anonymous(REQUEST, json!({"email": email}));
    assert_eq!(status, 429, "{body}");
    // Unknown emails are limited the same way, so the limit tells nothing.
    for _ in 0..3 {
        assert_eq!(
            server
                .post_anonymous(REQUEST, json!({"email": "ghost@example.org"}))
                .0,
            202
        );
    }
    assert_eq!(
        server
            .post_anonymous(REQUEST, json!({"email": "ghost@example.org"}))
            .0,
        429
    );
    assert!(
        HttpTransport::new(&server.url())
            .unwrap()
            .sign_in(email, PASSWORD)
            .is_ok(),
        "nothing changed"
    );
}

fn without_smtp_resets_are_refused_plainly(backend: Backend) {
    let Some(server) = LiveServer::start(backend) else {
        return;
    };
    let (status, body) = server.post_anonymous(REQUEST, json!({"email": "ana@example.org"}));
    assert_eq!(status, 503);
    assert_eq!(body["type"], "urn:kap-journal:problem:not-configured");
}

#[test]
fn a_code_resets_the_password_once_and_ends_every_session_sqlite() {
    a_code_resets_the_password_once_and_ends_every_session(Backend::Sqlite);
}

#[test]
fn a_code_resets_the_password_once_and_ends_every_session_postgres() {
    a_code_resets_the_password_once_and_ends_every_session(Backend::Postgres);
}

#[test]
fn wrong_tries_and_requests_are_limited_and_codes_expire_sqlite() {
    wrong_tries_and_requests_are_limited_and_codes_expire(Backend::Sqlite);
}

#[test]
fn wrong_tries_and_requests_are_limited_and_codes_expire_postgres() {
    wrong_tries_and_requests_are_limited_and_codes_expire(Backend::Postgres);
}

#[test]
fn without_smtp_resets_are_refused_plainly_sqlite() {
    without_smtp_resets_are_refused_plainly(Backend::Sqlite);
}

#[test]
fn without_smtp_resets_are_refused_plainly_postgres() {
    without_smtp_resets_are_refused_plainly(Backend::Postgres);
}
