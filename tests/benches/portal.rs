//! How long the portal's two heaviest pages take to serve: the caseload of
//! a therapist with 200 linked patients (each sharing questionnaires,
//! check-ins and dosing sessions, some with open alerts, each with a care
//! plan whose adherence the caseload counts), and the page of
//! one patient with two years of daily check-ins, fortnightly PHQ-9 and
//! GAD-7, and a dosing session a month.
//!
//! Each page is fetched over loopback HTTP from a real server with a
//! signed-in session, on SQLite and on PostgreSQL (when it is reachable);
//! the time is the server's (loopback adds well under a millisecond). The
//! data is written straight through the store, as the API would write it.
//!
//! `cargo bench -p journal-e2e --bench portal` — full sizes, medians in
//! `docs/benchmarks.md` (targets: caseload ≤ 50 ms, patient page ≤ 100 ms).
//! Under `cargo test` (no `--bench`) it runs once on small data, as a
//! smoke test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::Criterion;
use diesel::prelude::*;
use journal_core::hlc::{HlcClock, SystemClock};
use journal_core::records::{RecordBody, RecordKind};
use journal_e2e::{Backend, LiveServer};
use journal_server::auth::Role;
use journal_server::store::{Database, DbConnection, accounts, care, care_plans, records, schema};
use serde_json::{Value, json};

const PASSWORD: &str = "a long passphrase for tests";
const THERAPIST: &str = "bench.therapist@clinic.example";

struct Sizes {
    patients: usize,
    days: i64,
}

fn sizes() -> Sizes {
    // cargo bench passes --bench; cargo test does not.
    if std::env::args().any(|a| a == "--bench") {
        Sizes {
            patients: 200,
            days: 730,
        }
    } else {
        Sizes {
            patients: 12,
            days: 60,
        }
    }
}

struct Writer {
    clock: HlcClock<SystemClock>,
}

impl Writer {
    fn create(
        &mut self,
        conn: &mut DbConnection,
        owner: &str,
        kind: RecordKind,
        body: Value,
    ) -> String {
        let body = RecordBody::from_json(kind, &body.to_string()).unwrap();
        records::create(conn, owner, None, body, self.clock.tick())
            .unwrap()
            .id
            .to_string()
    }

    fn share_kinds(
        &mut self,
        conn: &mut DbConnection,
        owner: &str,
        therapist: &str,
        kinds: &[&str],
    ) {
        self.create(
            conn,
            owner,
            RecordKind::Share,
            json!({"therapistId": therapist, "scope": {"type": "kinds", "kinds": kinds}}),
        );
    }

    fn share_item(&mut self, conn: &mut DbConnection, owner: &str, therapist: &str, record: &str) {
        self.create(
            conn,
            owner,
            RecordKind::Share,
            json!({"therapistId": therapist, "scope": {"type": "item", "recordId": record}}),
        );
    }
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// Answers of an instrument of `items` questions summing to `total`, the
/// last (PHQ-9's question 9) answered `last`.
fn answers(items: usize, total: u32, last: u32) -> Vec<u32> {
    let mut out = vec![0; items];
    out[items - 1] = last;
    let mut left = total.saturating_sub(last);
    for answer in out.iter_mut().take(items - 1) {
        *answer = left.min(3);
        left -= *answer;
    }
    out
}

/// A linked patient; returns their id.
fn patient(conn: &mut DbConnection, therapist: &str, hash: &str, n: usize) -> String {
    let id = accounts::insert_account(
        conn,
        &format!("patient{n}@example.org"),
        hash,
        Role::Patient,
        Some(&format!("Patient {n:03}")),
    )
    .unwrap()
    .to_string();
    let invitation = care::invite(conn, therapist, 3_600_000_000).unwrap();
    care::accept(conn, &id, &invitation.code).unwrap();
    id
}

/// The caseload's patients: a few months of a course each.
fn caseload(db: &Database, therapist: &str, hash: &str, count: usize, writer: &mut Writer) {
    let mut conn = db.get().unwrap();
    let now = Utc::now();
    for n in 0..count {
        let id = patient(&mut conn, therapist, hash, n);
        writer.share_kinds(&mut conn, &id, therapist, &["assessment", "moodCheckIn"]);
        for week in 0..4i64 {
            let taken = now - TimeDelta::days(90 - week * 21);
            let phq = 18u32.saturating_sub((week as u32) * 3 + (n as u32 % 4));
            // Every tenth patient answered question 9 last time: an alert.
            let risk = u32::from(n % 10 == 0 && week == 3);
            writer.create(&mut conn, &id, RecordKind::Assessment,
                json!({"instrument": "phq9", "takenAt": at(taken), "answers": answers(9, phq, risk)}));
            writer.create(&mut conn, &id, RecordKind::Assessment,
                json!({"instrument": "gad7", "takenAt": at(taken), "answers": answers(7, phq.saturating_sub(2), 0)}));
        }
        let session = writer.create(&mut conn, &id, RecordKind::DosingSession,
            json!({"scheduledAt": at(now - TimeDelta::days(30)), "route": "intramuscular", "status": "completed"}));
        writer.share_item(&mut conn, &id, therapist, &session);
        writer.create(&mut conn, &id, RecordKind::MoodCheckIn,
            json!({"recordedAt": at(now - TimeDelta::days(1)), "mood": 6, "anxiety": 4, "energy": 5}));
        // A care plan set two months ago, so the caseload counts a full
        // 30 days of adherence for everyone.
        let plan: journal_core::plan::CarePlan = serde_json::from_value(json!({
            "measures": [{"instrument": "phq9", "everyDays": 21}, {"instrument": "gad7", "daysAfterSession": [1, 7]}],
            "followUps": {"days": [1, 3, 7, 14]}, "checkIns": "daily"})).unwrap();
        care_plans::set(&mut conn, therapist, &id, &plan).unwrap();
        diesel::update(schema::care_plans::table.filter(schema::care_plans::patient_id.eq(&id)))
            .set(schema::care_plans::updated_at.eq((now - TimeDelta::days(60)).timestamp_micros()))
            .execute(&mut conn)
            .unwrap();
    }
}

/// One patient with `days` of daily check-ins, fortnightly questionnaires
/// and a dosing session a month, all shared, and a shared entry a week.
fn long_history(
    db: &Database,
    therapist: &str,
    hash: &str,
    days: i64,
    writer: &mut Writer,
) -> String {
    let mut conn = db.get().unwrap();
    let id = patient(&mut conn, therapist, hash, 9_999);
    writer.share_kinds(
        &mut conn,
        &id,
        therapist,
        &[
            "assessment",
            "moodCheckIn",
            "journalEntry",
            "exercisePractice",
        ],
    );
    let start = Utc::now() - TimeDelta::days(days);
    for day in 0..days {
        let t = start + TimeDelta::days(day) + TimeDelta::hours(8);
        let wave = u32::try_from(day % 7).unwrap();
        writer.create(&mut conn, &id, RecordKind::MoodCheckIn,
            json!({"recordedAt": at(t), "mood": 3 + wave, "anxiety": 8 - wave, "energy": 4 + wave / 2,
                "sleepHours": 6.5}));
        if day % 14 == 0 {
            let total = 20u32.saturating_sub(u32::try_from(day / 60).unwrap().min(15));
            writer.create(
                &mut conn,
                &id,
                RecordKind::Assessment,
                json!({"instrument": "phq9", "takenAt": at(t), "answers": answers(9, total, 0)}),
            );
            writer.create(&mut conn, &id, RecordKind::Assessment,
                json!({"instrument": "gad7", "takenAt": at(t), "answers": answers(7, total.min(20), 0)}));
        }
        if day % 30 == 3 {
            let session = writer.create(
                &mut conn,
                &id,
                RecordKind::DosingSession,
                json!({"scheduledAt": at(t), "route": "intramuscular", "status": "completed"}),
            );
            writer.share_item(&mut conn, &id, therapist, &session);
        }
        if day % 7 == 5 {
            writer.create(&mut conn, &id, RecordKind::JournalEntry,
                json!({"body": format!("Day {day}: what stayed with me this week."), "phase": "integration"}));
        }
    }
    id
}

/// Signs in through the portal's form; returns the session cookie
/// (`name=value`).
fn sign_in(agent: &ureq::Agent, base: &str) -> String {
    let form = agent.get(&format!("{base}/portal/sign-in")).call().unwrap();
    let pre = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .next()
        .unwrap();
    let page = form.into_body().read_to_string().unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let answer = agent
        .post(&format!("{base}/portal/sign-in"))
        .header("cookie", &pre)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", THERAPIST),
            ("password", PASSWORD),
        ])
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303, "signed in");
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("kap-portal="))
        .expect("a session cookie")
}

fn fetch(agent: &ureq::Agent, url: &str, cookie: &str) -> usize {
    let answer = agent.get(url).header("cookie", cookie).call().unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{url}");
    answer.into_body().read_to_string().unwrap().len()
}

fn bench_backend(criterion: &mut Criterion, backend: Backend, sizes: &Sizes) {
    let Some(server) = LiveServer::start(backend) else {
        eprintln!("portal bench: PostgreSQL skipped on this machine");
        return;
    };
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let therapist = server.create_therapist(THERAPIST, PASSWORD, "Dr. Bench");
    let db = Database::open(&server.database_url(), 2).unwrap();
    // The patients never sign in: any hash will do.
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    let mut writer = Writer {
        clock: HlcClock::new(SystemClock),
    };
    let seeding = std::time::Instant::now();
    caseload(&db, &therapist, hash, sizes.patients, &mut writer);
    let long = long_history(&db, &therapist, hash, sizes.days, &mut writer);
    eprintln!("portal bench ({name}): seeded in {:.1?}", seeding.elapsed());

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let base = server.url();
    let cookie = sign_in(&agent, &base);
    let caseload_url = format!("{base}/portal");
    let patient_url = format!("{base}/portal/patients/{long}");
    let caseload_bytes = fetch(&agent, &caseload_url, &cookie);
    let patient_bytes = fetch(&agent, &patient_url, &cookie);
    eprintln!(
        "portal bench ({name}): caseload of {} patients {caseload_bytes} bytes; patient page of {} days {patient_bytes} bytes",
        sizes.patients + 1,
        sizes.days
    );
    let mut group = criterion.benchmark_group(format!("portal_{name}"));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(format!("caseload_{}_patients", sizes.patients + 1), |b| {
        b.iter(|| fetch(&agent, &caseload_url, &cookie));
    });
    group.bench_function(format!("patient_page_{}_days", sizes.days), |b| {
        b.iter(|| fetch(&agent, &patient_url, &cookie));
    });
    group.finish();
}

fn main() {
    let sizes = sizes();
    let mut criterion = Criterion::default().configure_from_args();
    bench_backend(&mut criterion, Backend::Sqlite, &sizes);
    bench_backend(&mut criterion, Backend::Postgres, &sizes);
    criterion.final_summary();
}
