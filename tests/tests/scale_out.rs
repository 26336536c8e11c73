//! Several server instances on one PostgreSQL behind a real load balancer
//! (HAProxy; `./scripts/test.sh` installs it when missing):
//!
//! - three instances started at once on a fresh database (they migrate
//!   once, under the migration lock), patients' devices and a therapist
//!   driven through the balancer while one instance is killed with SIGKILL
//!   in the middle of pushes and started again (`FAULT_ROUNDS` times, one
//!   instance after another; once by default), then all three restarted
//!   one after another: every acknowledged write is kept, none twice, no
//!   push in part, every device converges, the therapist sees every shared
//!   entry, and no client meets an error other than a connection failure
//!   it sends again;
//! - wrong passwords spread over the three instances are stopped at the
//!   same count as on one instance, also when the client writes its own
//!   `X-Forwarded-For`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use journal_core::RecordKind;
use journal_core::phase::Phase;
use journal_core::records::{JournalEntry, Share};
use journal_core::sync::SyncError;
use journal_e2e::balancer::{BALANCER_SOURCE, Balancer};
use journal_e2e::process::{Device, ScratchDatabase, ServerProcess, agent, register, rounds};
use journal_e2e::writers::{WriteLog, check_held, sign_in, write_until};
use journal_e2e::{call_at, holdings_at, link_at};
use journal_testing::Backend;

const SERVER: &str = env!("CARGO_BIN_EXE_e2e-server");
const PASSWORD: &str = "a long passphrase behind a balancer";
const THERAPIST: &str = "lee@clinic.example";
const INSTANCES: usize = 3;
const PATIENTS: usize = 3;
/// Entries per push.
const BATCH: usize = 8;

/// Starts the instances at once, on one database.
fn start_instances(database_url: &str, flags: &[&str]) -> Vec<ServerProcess> {
    std::thread::scope(|scope| {
        let starting: Vec<_> = (0..INSTANCES)
            .map(|_| scope.spawn(|| ServerProcess::start_with(SERVER, database_url, flags)))
            .collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    })
}

/// Makes the therapist account with the operator command.
fn create_therapist(database_url: &str) {
    let mut child = Command::new(SERVER)
        .args(["create-therapist", "--email", THERAPIST, "--password-stdin"])
        .args(["--database-url", database_url, "--log", "warn"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether a sync failed only at the connection (or the balancer found
/// no instance to take it): the device keeps its changes and syncs again.
fn is_retryable(error: &SyncError) -> bool {
    match error {
        SyncError::Network(_) => true,
        SyncError::Rejected { status, .. } => matches!(status, 502..=504),
        _ => false,
    }
}

/// Syncs until a sync succeeds, sending again through connection failures
/// only; counts those in `resent`.
fn sync_through(device: &Device, resent: &AtomicUsize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match device.client.sync() {
            Ok(_) => return,
            Err(error) if is_retryable(&error) && Instant::now() < deadline => {
                resent.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => panic!("a device's sync failed: {error}"),
        }
    }
}

/// Waits until `count` reaches `at_least`.
fn wait_for(count: &AtomicUsize, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while count.load(Ordering::Relaxed) < at_least {
        assert!(
            Instant::now() < deadline,
            "the writers stopped getting through"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every record id of the therapist's feed of `patient`, through all pages.
fn feed_ids(url: &str, token: &str, patient: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/api/v1/therapist/patients/{patient}/feed?limit=100"),
            Some(c) => format!("/api/v1/therapist/patients/{patient}/feed?limit=100&cursor={c}"),
        };
        let (status, page) = call_at(url, "GET", &path, token, None);
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            ids.push(item["record"]["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

#[test]
fn three_instances_behind_a_balancer_keep_every_write_through_a_kill_and_a_rolling_restart() {
    let Some(database) = ScratchDatabase::create(Backend::Postgres) else {
        return;
    };
    let mut instances = start_instances(&database.url, &["--trusted-proxy", BALANCER_SOURCE]);
    let ports: Vec<u16> = instances.iter().map(ServerProcess::port).collect();
    let Some(balancer) = Balancer::start(&ports) else {
        return;
    };
    let url = balancer.url();
    create_therapist(&database.url);
    let therapist = sign_in(
        &journal_core::sync::HttpTransport::new(&url).unwrap(),
        THERAPIST,
        PASSWORD,
    )
    .unwrap();
    let (status, me) = call_at(&url, "GET", "/api/v1/me", &therapist, None);
    assert_eq!(status, 200, "{me}");
    let therapist_id: uuid::Uuid = me["id"].as_str().unwrap().parse().unwrap();

    // Each patient: registered and linked through the balancer; a phone that
    // shares every journal entry with the therapist and writes now and
    // then; a device of the writer's kind pushing all the time.
    let emails: Vec<String> = (0..PATIENTS)
        .map(|n| format!("patient-{n}@example.org"))
        .collect();
    let mut phones = Vec::new();
    let mut shares = HashSet::new();
    for email in &emails {
        register(&url, email, PASSWORD);
        let token = sign_in(
            &journal_core::sync::HttpTransport::new(&url).unwrap(),
            email,
            PASSWORD,
        )
        .unwrap();
        link_at(&url, &therapist, &token);
        let phone = Device::new(&url, email, PASSWORD);
        let share = phone
            .store
            .create(
                Share::kinds(therapist_id, vec![RecordKind::JournalEntry])
                    .unwrap()
                    .into(),
            )
            .unwrap();
        shares.insert(share.id.to_string());
        phone.client.sync().unwrap();
        phones.push(phone);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let pushes = Arc::new(AtomicUsize::new(0));
    let resent = Arc::new(AtomicUsize::new(0));
    let (logs, phones) = std::thread::scope(|scope| {
        let writers: Vec<_> = emails
            .iter()
            .enumerate()
            .map(|(n, email)| {
                let (url, stop, pushes) = (&url, &stop, &pushes);
                scope.spawn(move || {
                    write_until(url, email, PASSWORD, BATCH, 11 + n as u64, stop, pushes)
                })
            })
            .collect();
        // The phones write an entry and sync every so often meanwhile.
        let syncing: Vec<_> = phones
            .into_iter()
            .enumerate()
            .map(|(n, phone)| {
                let (stop, resent) = (&stop, &resent);
                scope.spawn(move || {
                    let mut written = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let text = format!("Between sessions, note {written} of phone {n}.");
                        phone
                            .store
                            .create(JournalEntry::new(text, Phase::Integration).unwrap().into())
                            .unwrap();
                        written += 1;
                        sync_through(&phone, resent);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    phone
                })
            })
            .collect();

        wait_for(&pushes, 5 * PATIENTS);
        // SIGKILL in the middle of pushes, then started again: one
        // instance after another, FAULT_ROUNDS times (once by default).
        for round in 0..rounds(1) as usize {
            let instance = &mut instances[(round + 1) % INSTANCES];
            instance.kill();
            std::thread::sleep(Duration::from_millis(500));
            instance.restart();
            let after_kill = pushes.load(Ordering::Relaxed);
            wait_for(&pushes, after_kill + 5 * PATIENTS);
        }
        // A rolling restart: each instance stopped and started in turn,
        // the next only once the balancer's check has seen it back.
        for instance in &mut instances {
            instance.stop();
            std::thread::sleep(Duration::from_millis(300));
            instance.restart();
            std::thread::sleep(Duration::from_millis(500));
        }
        let after_rolling = pushes.load(Ordering::Relaxed);
        wait_for(&pushes, after_rolling + 5 * PATIENTS);
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<WriteLog> = writers
            .into_iter()
            .map(|w| w.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let phones: Vec<Device> = syncing.into_iter().map(|s| s.join().unwrap()).collect();
        (logs, phones)
    });

    // Every acknowledged push is held once and whole; the devices converge;
    // the therapist sees every shared entry.
    let mut kept = 0;
    for ((email, log), phone) in emails.iter().zip(&logs).zip(&phones) {
        sync_through(phone, &resent);
        let own: HashSet<_> = phone
            .store
            .pending_mutations(1)
            .map(|pending| {
                assert!(
                    pending.is_empty(),
                    "{email}: the phone still has changes to send"
                );
                phone.live().into_iter().map(|(id, _)| id).collect()
            })
            .unwrap();
        let (holdings, sent) = holdings_at(&url, email, PASSWORD);
        let from_writer: Vec<_> = sent
            .iter()
            .copied()
            .filter(|id| log.batches.iter().any(|b| b.ids.contains(id)))
            .collect();
        kept += check_held(log, &from_writer, None).unwrap_or_else(|e| panic!("{email}: {e}"));
        let strays: Vec<_> = sent
            .iter()
            .filter(|id| !own.contains(id) && !from_writer.contains(id))
            .collect();
        assert!(
            strays.is_empty(),
            "{email}: held but never written: {strays:?}"
        );

        // A new phone, and the phone that wrote, hold the same journal as
        // the server.
        let fresh = Device::new(&url, email, PASSWORD);
        sync_through(&fresh, &resent);
        let (on_fresh, on_phone) = (fresh.live(), phone.live());
        assert!(
            on_fresh == on_phone,
            "{email}: the devices differ: {} records on a new phone, {} on the one that wrote",
            on_fresh.len(),
            on_phone.len()
        );
        assert_eq!(holdings.live().len(), on_phone.len(), "{email}");

        // The therapist sees every journal entry (all of them are shared).
        let (status, patients) =
            call_at(&url, "GET", "/api/v1/therapist/patients", &therapist, None);
        assert_eq!(status, 200, "{patients}");
        let patient = patients
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == email.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let seen: HashSet<String> = feed_ids(&url, &therapist, &patient).into_iter().collect();
        let entries: HashSet<String> = phone
            .live()
            .into_iter()
            .map(|(id, _)| id.to_string())
            .filter(|id| !shares.contains(id))
            .collect();
        let missing = entries.difference(&seen).count();
        let extra = seen.difference(&entries).count();
        assert!(
            missing == 0 && extra == 0,
            "{email}: the therapist's feed has {} entries, the journal {}: {missing} missing, \
             {extra} not in the journal",
            seen.len(),
            entries.len()
        );
    }
    eprintln!(
        "{kept} entries pushed and kept through {} SIGKILL(s) and a rolling restart of \
         {INSTANCES} instances; {} sends and syncs sent again after a connection failure",
        rounds(1),
        resent.load(Ordering::Relaxed) + logs.iter().map(|l| l.resent).sum::<usize>()
    );
    drop(balancer);
}

/// A sign-in with a wrong password sent straight to the instance on `port`
/// from the local address `source`, naming `forwarded` in
/// `X-Forwarded-For`; the answer's status.
fn login_from(source: &str, port: u16, forwarded: &str) -> u16 {
    use std::io::Read;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let server: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect(&server.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    let body =
        serde_json::json!({"email": THERAPIST, "password": "another wrong guess"}).to_string();
    write!(
        stream,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Forwarded-For: {forwarded}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

#[test]
fn wrong_passwords_spread_over_three_instances_stop_at_the_same_count_as_on_one() {
    let Some(database) = ScratchDatabase::create(Backend::Postgres) else {
        return;
    };
    // Below the per-email lock (five failures), so the per-address limit
    // is what stops the guesses.
    let limit = "3";
    let flags = [
        "--trusted-proxy",
        BALANCER_SOURCE,
        "--auth-attempts-per-minute",
        limit,
    ];
    let instances = start_instances(&database.url, &flags);
    let ports: Vec<u16> = instances.iter().map(ServerProcess::port).collect();
    let Some(balancer) = Balancer::start(&ports) else {
        return;
    };
    // The account is made by the operator command: no attempt is counted.
    create_therapist(&database.url);
    let http = agent(Duration::from_secs(10));
    // Sign-ins with a wrong password until refused, from one client: its
    // own address (the balancer appends it), and a forged one in front.
    let attempts_until_refused = |base: &str, forged: Option<&str>| {
        for attempt in 1..=20 {
            let mut request = http
                .post(format!("{base}/api/v1/auth/login"))
                .header("content-type", "application/json");
            if let Some(forged) = forged {
                request = request.header("X-Forwarded-For", forged);
            }
            let response = request
                .send(
                    serde_json::json!({
                        "email": THERAPIST,
                        "password": format!("wrong guess {attempt}"),
                    })
                    .to_string(),
                )
                .unwrap();
            match response.status().as_u16() {
                401 => {}
                429 => return attempt - 1,
                other => panic!("attempt {attempt}: {other}"),
            }
        }
        panic!("never refused");
    };
    // Through the balancer: round robin over the three instances.
    let through_three = attempts_until_refused(&balancer.url(), None);
    // A forged header does not make a new client: the right-most address the
    // balancer appended is the client's, and it is already refused.
    let forged = attempts_until_refused(&balancer.url(), Some("203.0.113.77"));
    // One instance on its own database, the same limit.
    let alone_db = ScratchDatabase::create(Backend::Postgres).unwrap();
    let alone = ServerProcess::start_with(SERVER, &alone_db.url, &flags[2..]);
    create_therapist(&alone_db.url);
    let on_one = attempts_until_refused(&alone.url(), None);
    assert_eq!(on_one, 3, "the limit on one instance");
    assert_eq!(
        through_three, on_one,
        "three instances allowed more guesses"
    );
    assert_eq!(forged, 0, "a forged X-Forwarded-For escaped the limit");
    // The instances tell clients apart by the balancer's header: from the
    // balancer's address, the client it names is another one, not yet
    // limited; the same header from anywhere else counts for nothing.
    let named = "198.51.100.9";
    assert_eq!(login_from(BALANCER_SOURCE, ports[0], named), 401);
    assert_eq!(login_from("127.0.0.1", ports[0], named), 429);
    drop(instances);
}
