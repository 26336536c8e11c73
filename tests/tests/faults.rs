//! Crash and fault tests: the server killed with SIGKILL while phones push,
//! PostgreSQL stopped and started under load, a phone killed mid-sync.
//! After each, sync completes, and the server and every phone hold exactly
//! what the phones wrote: nothing lost, nothing twice.
//!
//! - `server_killed_while_phones_sync::{sqlite,postgres}`: three phones
//!   (journal files of their own, sync over HTTP) write, edit and sync on
//!   threads while the server process (`e2e-server`) is killed at random
//!   moments and started again on the same database and port.
//! - `postgres_stopped_and_started_under_load`: a PostgreSQL cluster of the
//!   test's own (never the shared one) is stopped (`immediate`, then
//!   `fast`) while threads make authenticated requests: `/readyz` and every
//!   request answer 503 problems meanwhile, never 500 and never later than
//!   the pool's timeout allows; once PostgreSQL is back the service recovers
//!   by itself within 10 s, and no acknowledged write is lost. Needs the
//!   PostgreSQL server binaries (`initdb`, `pg_ctl`): skipped with a message
//!   when they are missing, failed under `CI=true`.
//! - `phone_killed_mid_push`, `phone_killed_during_first_pull`: a phone
//!   process (`e2e-phone`) is killed while it pushes, or while it pulls a
//!   big journal for the first time; the journal file it leaves syncs to
//!   completion.
//!
//! Kill moments come from a seeded generator; the seed is printed and
//! `FAULT_SEED=<n>` repeats a run. `FAULT_ROUNDS=<n>` sets how many times
//! each test kills (defaults keep CI short), e.g. for a longer run:
//!
//! ```sh
//! FAULT_ROUNDS=50 TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test -p journal-e2e --test faults -- --test-threads=1 --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use journal_core::records::{JournalEntry, RecordBody};
use journal_core::sync::SyncError;
use journal_core::{Phase, RecordId};
use journal_e2e::holdings_at;
use journal_e2e::process::{
    Device, Dice, PrivatePostgres, ScratchDatabase, ServerProcess, agent, register, rounds, token,
};
use journal_e2e::{Backend, LiveServer, on_both_backends};

const PASSWORD: &str = "a long passphrase";
const SERVER: &str = env!("CARGO_BIN_EXE_e2e-server");
const PHONE: &str = env!("CARGO_BIN_EXE_e2e-phone");

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

fn text_of(body: &serde_json::Value) -> String {
    body["body"].as_str().unwrap_or_default().to_owned()
}

/// Checks the server holds exactly `expected` (record id → entry text) and
/// nothing twice; returns its live records.
fn assert_server_holds(
    url: &str,
    email: &str,
    expected: &BTreeMap<RecordId, String>,
) -> Vec<(RecordId, serde_json::Value)> {
    let (holdings, sent) = holdings_at(url, email, PASSWORD);
    let distinct: BTreeSet<RecordId> = sent.iter().copied().collect();
    assert_eq!(distinct.len(), sent.len(), "a record was pulled twice");
    assert!(
        holdings.revisions.is_empty(),
        "no phone edited another's records, yet the server made revisions: {:?}",
        holdings.revisions
    );
    let live = holdings.live();
    let held: BTreeMap<RecordId, String> =
        live.iter().map(|(id, body)| (*id, text_of(body))).collect();
    let missing: Vec<_> = expected
        .keys()
        .filter(|id| !held.contains_key(id))
        .collect();
    let extra: Vec<_> = held
        .keys()
        .filter(|id| !expected.contains_key(id))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "lost: {missing:?}; not written by any phone: {extra:?}"
    );
    assert_eq!(
        &held, expected,
        "the server's texts are not the phones' last texts"
    );
    live
}

// --- The server killed while phones sync -------------------------------

/// What one phone thread wrote: record id → its last text.
struct Written {
    device: Device,
    texts: BTreeMap<RecordId, String>,
    syncs: u32,
    interrupted: u32,
}

fn write_and_sync(n: u32, device: Device, stop: &AtomicBool, mut dice: Dice) -> Written {
    let mut texts = BTreeMap::new();
    let mut ids = Vec::new();
    let (mut written, mut syncs, mut interrupted) = (0u32, 0u32, 0u32);
    while !stop.load(Ordering::SeqCst) {
        for _ in 0..dice.below(1..8) {
            written += 1;
            if !ids.is_empty() && dice.below(0..4) == 0 {
                let id = ids[dice.below(0..ids.len() as u64) as usize];
                let text = format!("phone {n}, edit {written}");
                device.store.update(id, entry(&text)).unwrap();
                texts.insert(id, text);
            } else {
                let text = format!("phone {n}, entry {written}");
                let record = device.store.create(entry(&text)).unwrap();
                ids.push(record.id);
                texts.insert(record.id, text);
            }
        }
        match device.client.sync() {
            Ok(_) => syncs += 1,
            // Killed mid-request, or down: the next sync resumes.
            Err(SyncError::Network(_)) => {
                interrupted += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(SyncError::Rejected { status: 503, .. }) => {
                interrupted += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(other) => panic!("phone {n}: a sync failed with more than a lost server: {other}"),
        }
    }
    Written {
        device,
        texts,
        syncs,
        interrupted,
    }
}

fn server_killed_while_phones_sync(backend: Backend) {
    let Some(database) = ScratchDatabase::create(backend) else {
        return;
    };
    let mut server = ServerProcess::start(SERVER, &database.url);
    let url = server.url();
    let email = "kim@example.org";
    register(&url, email, PASSWORD);
    let mut dice = Dice::from_env("server_killed_while_phones_sync");
    let stop = Arc::new(AtomicBool::new(false));
    let phones: Vec<_> = (0..3)
        .map(|n| {
            // Signed in before the kills begin.
            let device = Device::new(&url, email, PASSWORD);
            let stop = Arc::clone(&stop);
            let dice = Dice::from_seed(dice.below(1..u64::MAX));
            std::thread::spawn(move || write_and_sync(n, device, &stop, dice))
        })
        .collect();
    let kills = rounds(4);
    for _ in 0..kills {
        std::thread::sleep(dice.millis(150, 900));
        server.kill();
        std::thread::sleep(dice.millis(0, 300));
        server.restart();
    }
    std::thread::sleep(dice.millis(100, 400));
    stop.store(true, Ordering::SeqCst);
    let written: Vec<Written> = phones
        .into_iter()
        .map(|t| t.join().expect("a phone thread failed"))
        .collect();
    for (n, w) in written.iter().enumerate() {
        eprintln!(
            "phone {n}: {} records, {} syncs completed, {} cut by a kill",
            w.texts.len(),
            w.syncs,
            w.interrupted
        );
    }
    assert_eq!(server.starts, kills + 1);

    // The server is up for good: every phone syncs to completion, twice
    // round so each also pulls what the others pushed last.
    for _ in 0..2 {
        for (n, w) in written.iter().enumerate() {
            w.device
                .client
                .sync()
                .unwrap_or_else(|e| panic!("phone {n} cannot sync after the kills: {e}"));
        }
    }
    let mut expected = BTreeMap::new();
    for w in &written {
        assert_eq!(w.device.store.pending_change_count().unwrap(), 0);
        expected.extend(w.texts.clone());
    }
    let live = assert_server_holds(&url, email, &expected);
    for (n, w) in written.iter().enumerate() {
        assert_eq!(w.device.live(), live, "phone {n} did not converge");
    }
    // The export, read from the database rather than the change log, agrees.
    let (status, export) = get_json(&url, "/api/v1/me/export", &token(&url, email, PASSWORD));
    assert_eq!(status, 200);
    let mut exported: Vec<String> = export["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    exported.sort();
    let mut ids: Vec<String> = expected.keys().map(|id| id.to_string()).collect();
    ids.sort();
    assert_eq!(
        exported, ids,
        "the export holds other records than the phones wrote"
    );
}

mod server_killed_while_phones_sync {
    #[test]
    fn sqlite() {
        super::server_killed_while_phones_sync(super::Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        super::server_killed_while_phones_sync(super::Backend::Postgres);
    }
}

fn get_json(url: &str, path: &str, token: &str) -> (u16, serde_json::Value) {
    let response = agent(Duration::from_secs(30))
        .get(format!("{url}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

// --- PostgreSQL stopped and started under load --------------------------

const UP: u8 = 0;
const DOWN: u8 = 1;
const RECOVERING: u8 = 2;

/// Longest a request may go unanswered: the pool's 5 s wait for a
/// connection, with room for a loaded machine. Past it, a hang.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);
/// The service must be back this soon after PostgreSQL is.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(10);

struct Answer {
    status: u16,
    problem: bool,
    body: serde_json::Value,
}

fn send(
    url: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<Answer, String> {
    let agent = agent(ANSWER_DEADLINE);
    let target = format!("{url}{path}");
    let auth = format!("Bearer {token}");
    let response = match body {
        None => agent.get(&target).header("Authorization", &auth).call(),
        Some(body) => agent
            .post(&target)
            .header("Authorization", &auth)
            .header("content-type", "application/json")
            .send(serde_json::to_vec(&body).unwrap()),
    }
    .map_err(|e| format!("{method} {path}: no answer: {e}"))?;
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let text = response.into_body().read_to_string().unwrap_or_default();
    Ok(Answer {
        status,
        problem,
        body: serde_json::from_str(&text).unwrap_or_default(),
    })
}

fn new_entry(text: &str) -> serde_json::Value {
    serde_json::json!({"kind": "journalEntry",
        "body": {"title": "load", "body": text, "phase": "integration"}})
}

/// What one load thread saw.
#[derive(Default)]
struct LoadLog {
    acknowledged: Vec<String>,
    answers: u32,
    unavailable: u32,
    violations: Vec<String>,
}

fn load(
    n: usize,
    url: &str,
    token: &str,
    phase: &AtomicU8,
    stop: &AtomicBool,
    seen_down: &AtomicU32,
) -> LoadLog {
    let mut log = LoadLog::default();
    let mut i = 0u32;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let before = phase.load(Ordering::SeqCst);
        let (what, answer) = if i.is_multiple_of(2) {
            (
                "GET /records",
                send(url, token, "GET", "/api/v1/records?limit=5", None),
            )
        } else {
            let text = format!("load {n}-{i}");
            (
                "POST /records",
                send(
                    url,
                    token,
                    "POST",
                    "/api/v1/records",
                    Some(new_entry(&text)),
                ),
            )
        };
        let after = phase.load(Ordering::SeqCst);
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                log.violations.push(e);
                continue;
            }
        };
        log.answers += 1;
        match answer.status {
            200 => {}
            201 => log
                .acknowledged
                .push(answer.body["id"].as_str().unwrap_or_default().to_owned()),
            503 => {
                log.unavailable += 1;
                if !answer.problem || answer.body["type"] != "urn:kap-journal:problem:unavailable" {
                    log.violations.push(format!(
                        "{what}: a 503 that is not an unavailable problem: {}",
                        answer.body
                    ));
                }
                if before == DOWN {
                    seen_down.fetch_add(1, Ordering::SeqCst);
                }
            }
            other => log.violations.push(format!(
                "{what}: answered {other} (phase {before}→{after}): {}",
                answer.body
            )),
        }
        if before == DOWN && after == DOWN && answer.status != 503 {
            log.violations.push(format!(
                "{what}: answered {} while the database was down",
                answer.status
            ));
        }
    }
    log
}

#[test]
fn postgres_stopped_and_started_under_load() {
    let Some(cluster) = PrivatePostgres::start() else {
        return;
    };
    let database = ScratchDatabase::on(&cluster.admin_url());
    let server = ServerProcess::start(SERVER, &database.url);
    let url = server.url();
    let email = "lou@example.org";
    register(&url, email, PASSWORD);
    let token = token(&url, email, PASSWORD);
    let phase = Arc::new(AtomicU8::new(UP));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = 3usize;
    let seen_down: Arc<Vec<AtomicU32>> =
        Arc::new((0..threads).map(|_| AtomicU32::new(0)).collect());
    let workers: Vec<_> = (0..threads)
        .map(|n| {
            let (url, token) = (url.clone(), token.clone());
            let (phase, stop, seen_down) = (
                Arc::clone(&phase),
                Arc::clone(&stop),
                Arc::clone(&seen_down),
            );
            std::thread::spawn(move || load(n, &url, &token, &phase, &stop, &seen_down[n]))
        })
        .collect();
    let agent = agent(ANSWER_DEADLINE);
    let readyz = || {
        let response = agent.get(format!("{url}/readyz")).call().unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.into_body().read_to_string().unwrap_or_default();
        (
            status,
            content_type,
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
        )
    };
    assert_eq!(readyz().0, 200);

    for mode in ["immediate", "fast"] {
        std::thread::sleep(Duration::from_millis(800));
        let marks: Vec<u32> = seen_down.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        cluster.stop(mode);
        phase.store(DOWN, Ordering::SeqCst);

        let (status, content_type, problem) = readyz();
        assert_eq!(
            status, 503,
            "/readyz with PostgreSQL stopped ({mode}): {problem}"
        );
        assert!(
            content_type.starts_with("application/problem+json"),
            "{content_type}"
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("postgresql database"),
            "/readyz must name the database: {problem}"
        );

        // Every load thread meets the outage at least once.
        let deadline = Instant::now() + 3 * ANSWER_DEADLINE;
        while seen_down
            .iter()
            .zip(&marks)
            .any(|(count, mark)| count.load(Ordering::SeqCst) <= *mark)
        {
            assert!(
                Instant::now() < deadline,
                "a load thread never got its 503 ({mode} stop)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        // Recovering from the moment PostgreSQL may accept connections:
        // `pg_ctl start -w` returns a little after it does, and a request
        // waiting for a connection may then be served at once.
        phase.store(RECOVERING, Ordering::SeqCst);
        cluster.start_again();
        let back = Instant::now();
        loop {
            let ready = readyz().0 == 200;
            let writes = ready
                && send(
                    &url,
                    &token,
                    "POST",
                    "/api/v1/records",
                    Some(new_entry("after the restart")),
                )
                .is_ok_and(|a| a.status == 201);
            if writes {
                break;
            }
            assert!(
                back.elapsed() < RECOVERY_DEADLINE,
                "the service did not recover within {RECOVERY_DEADLINE:?} of PostgreSQL's {mode} restart"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "{mode} stop: recovered {:?} after PostgreSQL was back",
            back.elapsed()
        );
        phase.store(UP, Ordering::SeqCst);
    }
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::SeqCst);
    let logs: Vec<LoadLog> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let violations: Vec<&String> = logs.iter().flat_map(|l| &l.violations).collect();
    eprintln!(
        "{} answers, {} of them 503, {} writes acknowledged",
        logs.iter().map(|l| l.answers).sum::<u32>(),
        logs.iter().map(|l| l.unavailable).sum::<u32>(),
        logs.iter().map(|l| l.acknowledged.len()).sum::<usize>()
    );
    assert!(
        violations.is_empty(),
        "{violations:#?}\nserver log:\n{}",
        server.log_text()
    );

    let (status, export) = get_json(&url, "/api/v1/me/export", &token);
    assert_eq!(status, 200, "{export}");
    let exported: Vec<&str> = export["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = exported.iter().copied().collect();
    assert_eq!(distinct.len(), exported.len(), "a record is exported twice");
    for id in logs.iter().flat_map(|l| &l.acknowledged) {
        assert!(
            distinct.contains(id.as_str()),
            "acknowledged write {id} was lost"
        );
    }
}

// --- A phone killed mid-sync ------------------------------------------

/// Runs `e2e-phone` on `journal`; when `kill_at` is `(prefix, k)`, kills it
/// `delay` after the `k`-th line starting with `prefix`. Returns whether it
/// was killed (it may finish first).
fn run_phone(
    server: &LiveServer,
    email: &str,
    journal: &Path,
    write: u32,
    tag: &str,
    kill_at: Option<(&str, u64, Duration)>,
) -> bool {
    let mut child = Command::new(PHONE)
        .args([
            "--server",
            &server.url(),
            "--email",
            email,
            "--password",
            PASSWORD,
        ])
        .arg("--journal")
        .arg(journal)
        .args(["--write", &write.to_string(), "--tag", tag])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = 0;
    let mut said = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        said.push(line.clone());
        if let Some((prefix, k, delay)) = kill_at
            && line.starts_with(prefix)
        {
            seen += 1;
            if seen == k {
                std::thread::sleep(delay);
                child.kill().unwrap();
                child.wait().unwrap();
                eprintln!("killed after {said:?}");
                return true;
            }
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        status.success(),
        "e2e-phone failed ({status}): {stderr}; said {said:?}"
    );
    false
}

/// The phone left by the killed process opens and syncs to completion;
/// the server and it hold exactly `texts`, each once.
fn assert_phone_recovers(
    server: &LiveServer,
    email: &str,
    journal: &Path,
    texts: &BTreeSet<String>,
) {
    let device = Device::open(journal, &server.url(), email, PASSWORD);
    device
        .client
        .sync()
        .unwrap_or_else(|e| panic!("the journal of a killed phone cannot sync: {e}"));
    assert_eq!(device.store.pending_change_count().unwrap(), 0);
    let (holdings, sent) = holdings_at(&server.url(), email, PASSWORD);
    let distinct: BTreeSet<RecordId> = sent.iter().copied().collect();
    assert_eq!(distinct.len(), sent.len(), "a record was pulled twice");
    assert!(holdings.revisions.is_empty(), "{:?}", holdings.revisions);
    let live = holdings.live();
    let mut held: Vec<String> = live.iter().map(|(_, body)| text_of(body)).collect();
    held.sort();
    let expected: Vec<String> = texts.iter().cloned().collect();
    assert_eq!(
        held.len(),
        expected.len(),
        "the server holds {} entries, the phones wrote {}",
        held.len(),
        expected.len()
    );
    assert_eq!(
        held, expected,
        "the server's entries are not the ones written, once each"
    );
    assert_eq!(device.live(), live, "the phone and the server differ");
}

fn written(tag: &str, count: u32) -> impl Iterator<Item = String> + '_ {
    (0..count).map(move |n| format!("{tag} {n}"))
}

on_both_backends! {
    fn phone_killed_mid_push(server: LiveServer) {
        let email = "max@example.org";
        server.register(email, PASSWORD);
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.db");
        let mut dice = Dice::from_env("phone_killed_mid_push");
        let mut texts = BTreeSet::new();
        // A first run with three batches to push; then smaller ones, each
        // killed at a random step of its push (or its pull after).
        for round in 0..rounds(3) {
            let (count, tag) = if round == 0 { (1_200, "first".to_owned()) } else { (dice.below(50..400) as u32, format!("round {round}")) };
            let kill_at = if round == 0 {
                ("push", dice.below(1..4), dice.millis(0, 40))
            } else if dice.below(0..3) == 0 {
                ("pull", 1, dice.millis(0, 20))
            } else {
                ("push", 1, dice.millis(0, 40))
            };
            run_phone(&server, email, &journal, count, &tag, Some(kill_at));
            texts.extend(written(&tag, count));
        }
        assert_phone_recovers(&server, email, &journal, &texts);
    }

    fn phone_killed_during_first_pull(server: LiveServer) {
        let email = "noa@example.org";
        server.register(email, PASSWORD);
        let mut dice = Dice::from_env("phone_killed_during_first_pull");
        // Another phone filled the journal: several pull pages of it.
        let dir = tempfile::tempdir().unwrap();
        let writer = dir.path().join("writer.db");
        run_phone(&server, email, &writer, 2_600, "long ago", None);
        let texts: BTreeSet<String> = written("long ago", 2_600).collect();

        // A new phone pulls it all for the first time, and is killed on
        // the way; again on its next launches.
        let journal = dir.path().join("new-phone.db");
        for _ in 0..rounds(2) {
            let page = dice.below(1..5);
            run_phone(&server, email, &journal, 0, "none", Some(("pull", page, dice.millis(0, 60))));
        }
        assert_phone_recovers(&server, email, &journal, &texts);
    }
}
