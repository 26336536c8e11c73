//! Safety-alert emails, end to end on both backends: a phone's sync raises
//! an alert, and the linked therapist gets exactly one email in a local
//! SMTP sink — saying only that an alert awaits, with the portal's
//! address, and nothing of the patient's. An SMTP server that is down
//! delays the email and loses nothing; an alert handled before its email
//! could go out sends none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use journal_core::records::{RecordBody, RecordKind};
use journal_e2e::smtp::{SmtpSink, closed_port};
use journal_e2e::{Backend, LiveServer, Phone};
use serde_json::json;

const PASSWORD: &str = "a long passphrase for tests";
const THERAPIST: &str = "dr.lee@clinic.example";
const SENDER: &str = "alerts@clinic.example";
const PORTAL: &str = "https://journal.clinic.example";

/// The server, emailing through 127.0.0.1:`port` without TLS.
fn server(backend: Backend, port: u16) -> Option<LiveServer> {
    LiveServer::start_mailing(backend, port, SENDER, &["--public-url", PORTAL])
}

fn body(kind: RecordKind, value: serde_json::Value) -> RecordBody {
    RecordBody::from_json(kind, &value.to_string()).unwrap()
}

/// A patient linked with the therapist, sharing questionnaires from the
/// phone; returns the phone and the therapist's token.
fn linked_patient(server: &LiveServer, name: &str) -> (Phone, String, String) {
    let email = format!("{name}@example.org");
    server.register(&email, PASSWORD);
    let therapist_token = server.token(THERAPIST, PASSWORD);
    let patient_token = server.token(&email, PASSWORD);
    server.link(&therapist_token, &patient_token);
    let (_, me) = server.call("GET", "/api/v1/me", &therapist_token, None);
    let therapist_id = me["id"].as_str().unwrap().to_owned();
    let phone = Phone::new(server, &email, PASSWORD);
    phone
        .store
        .create(body(
            RecordKind::Share,
            json!({"therapistId": therapist_id, "scope": {"type": "kinds", "kinds": ["assessment"]}}),
        ))
        .unwrap();
    (phone, therapist_token, email)
}

/// A PHQ-9 answering question 9 "more than half the days" (total 16).
fn risk_answer(phone: &Phone) {
    phone
        .store
        .create(body(
            RecordKind::Assessment,
            json!({"instrument": "phq9", "takenAt": chrono::Utc::now().to_rfc3339(),
                "answers": [2, 2, 2, 2, 2, 2, 1, 1, 2]}),
        ))
        .unwrap();
}

/// The therapist's alerts through the API.
fn alerts(server: &LiveServer, token: &str) -> Vec<serde_json::Value> {
    let (status, page) = server.call("GET", "/api/v1/therapist/alerts", token, None);
    assert_eq!(status, 200, "{page}");
    page["alerts"].as_array().cloned().unwrap_or_default()
}

fn the_email_says_only_that_an_alert_awaits(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(server) = server(backend, sink.port) else {
        return;
    };
    server.create_therapist(THERAPIST, PASSWORD, "Dr. Lee");
    let (phone, token, patient_email) = linked_patient(&server, "rowan");
    phone
        .store
        .create(body(
            RecordKind::JournalEntry,
            json!({"body": "Rowan's private words", "phase": "integration"}),
        ))
        .unwrap();
    risk_answer(&phone);
    let started = Instant::now();
    phone.client.sync().unwrap();
    let sync_time = started.elapsed();
    assert_eq!(alerts(&server, &token).len(), 1);

    let messages = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(messages.len(), 1, "one alert, one email");
    let email = &messages[0];
    assert_eq!(email.from, SENDER);
    assert_eq!(email.to, [THERAPIST]);
    assert!(
        email.data.contains(journal_server::mail::SUBJECT),
        "{}",
        email.data
    );
    assert!(
        email.data.contains(&format!("{PORTAL}/portal/alerts")),
        "the portal's address: {}",
        email.data
    );
    // Nothing of the patient's: not their address, name, words or score
    // (the text holds no number at all).
    let lower = email.data.to_lowercase();
    for secret in [
        patient_email.as_str(),
        "rowan",
        "private words",
        "phq",
        "question 9",
    ] {
        assert!(
            !lower.contains(secret),
            "the email holds {secret:?}: {}",
            email.data
        );
    }
    let text = email
        .data
        .split_once("\r\n\r\n")
        .map_or("", |(_, text)| text);
    assert!(text.contains("Sign in to the portal"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_ascii_digit()),
        "a number in the email: {text}"
    );

    // More syncs, more reads, a second look: still one email.
    risk_answer(&phone);
    phone.client.sync().unwrap();
    let messages = sink.wait_for(2, Duration::from_secs(4));
    assert_eq!(messages.len(), 2, "a second risk answer is a second alert");
    phone.client.sync().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sink.messages().len(), 2, "no alert is emailed twice");
    eprintln!("sync raising the alert took {sync_time:?}");
}

fn a_smtp_server_that_is_down_delays_the_email_and_loses_nothing(backend: Backend) {
    let port = closed_port();
    let Some(server) = server(backend, port) else {
        return;
    };
    server.create_therapist(THERAPIST, PASSWORD, "Dr. Lee");
    let (phone, token, _) = linked_patient(&server, "sasha");
    risk_answer(&phone);
    // The patient's write goes through while the mail server is down.
    let report = phone.client.sync().unwrap();
    assert_eq!(report.rejected, 0);
    let alert_id = alerts(&server, &token)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = journal_server::store::Database::open(&server.database_url(), 1).unwrap();
    let state =
        || journal_server::store::alert_emails::state(&mut db.get().unwrap(), &alert_id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state().0 < 2 {
        assert!(Instant::now() < deadline, "no attempts made: {:?}", state());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (attempts, sent, error) = state();
    assert!(attempts >= 2 && sent.is_none(), "{:?}", state());
    assert!(error.is_some(), "the failure is kept for operators");

    // The mail server comes back: the email goes out, once.
    let sink = SmtpSink::start_on(port);
    let messages = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(
        messages.len(),
        1,
        "the delayed email arrives: {:?}",
        state()
    );
    assert_eq!(messages[0].to, [THERAPIST]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sink.messages().len(), 1);
    let (_, sent, error) = state();
    assert!(sent.is_some() && error.is_none(), "{:?}", state());

    // An alert acknowledged while the mail server was down sends nothing
    // once it is back: the therapist has already seen it.
    drop(sink);
    risk_answer(&phone);
    phone.client.sync().unwrap();
    let open: Vec<String> = alerts(&server, &token)
        .iter()
        .filter(|a| a["status"] == "open")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .filter(|id| *id != alert_id)
        .collect();
    assert_eq!(open.len(), 1, "the new alert");
    let (status, answer) = server.call(
        "POST",
        &format!("/api/v1/therapist/alerts/{}/acknowledge", open[0]),
        &token,
        Some(json!({})),
    );
    assert_eq!(status, 200, "{answer}");
    let sink = SmtpSink::start_on(port);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        sink.messages().is_empty(),
        "an acknowledged alert was emailed"
    );
}

#[test]
fn the_email_says_only_that_an_alert_awaits_sqlite() {
    the_email_says_only_that_an_alert_awaits(Backend::Sqlite);
}

#[test]
fn the_email_says_only_that_an_alert_awaits_postgres() {
    the_email_says_only_that_an_alert_awaits(Backend::Postgres);
}

#[test]
fn a_smtp_server_that_is_down_delays_the_email_and_loses_nothing_sqlite() {
    a_smtp_server_that_is_down_delays_the_email_and_loses_nothing(Backend::Sqlite);
}

#[test]
fn a_smtp_server_that_is_down_delays_the_email_and_loses_nothing_postgres() {
    a_smtp_server_that_is_down_delays_the_email_and_loses_nothing(Backend::Postgres);
}

/// Without SMTP settings the server runs as before and says at start that
/// alerts are not emailed.
fn without_smtp_the_server_says_so_at_start(backend: Backend) {
    let Some(database) = journal_e2e::process::ScratchDatabase::create(backend) else {
        return;
    };
    let server =
        journal_e2e::process::ServerProcess::start(env!("CARGO_BIN_EXE_e2e-server"), &database.url);
    journal_e2e::process::register(&server.url(), "quiet@example.org", PASSWORD);
    let log = server.log_text();
    assert!(
        log.contains("SMTP is not configured") && log.contains("not emailed"),
        "{log}"
    );
}

#[test]
fn without_smtp_the_server_says_so_at_start_sqlite() {
    without_smtp_the_server_says_so_at_start(Backend::Sqlite);
}

#[test]
fn without_smtp_the_server_says_so_at_start_postgres() {
    without_smtp_the_server_says_so_at_start(Backend::Postgres);
}

/// Incomplete SMTP settings stop the server before it opens (or makes) its
/// database, saying which setting is missing.
#[test]
fn incomplete_smtp_settings_stop_the_server_before_the_database_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("journal.db");
    let url = format!("sqlite://{}", database.display());
    let secret = journal_testing::jwt_secret(3);
    let cli = <journal_server::config::Cli as clap::Parser>::try_parse_from([
        "journal-server",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--jwt-secret",
        &secret,
        "--smtp-host",
        "smtp.clinic.example",
    ])
    .unwrap();
    let error = journal_server::start(cli.config).unwrap_err();
    assert!(error.contains("--smtp-from"), "{error}");
    assert!(
        !database.exists(),
        "a database was made before the settings were checked"
    );
}
