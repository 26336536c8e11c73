//! What the sync benchmark (`benches/sync.rs`) and the load harness
//! (`src/bin/loadtest`) share, so that both write the same rows the same
//! way:
//!
//! - [`entries`]: journal entries of 60–300 words from a seeded generator.
//! - [`raw_insert`]: the floor a push is compared with — the same entries
//!   written straight into the server's `records` table, one diesel batch
//!   insert per 500 rows in one transaction, on SQLite or PostgreSQL.
//! - [`push_outbox`]: the push half of a sync, as the sync client does it.
//! - [`ServerProcess`]: the server as a process of its own (the `e2e-server`
//!   binary), so that its memory can be read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use journal_core::Phase;
use journal_core::records::{JournalEntry, RecordBody};
use journal_core::store::JournalStore;
use journal_core::sync::{MAX_PUSH_MUTATIONS, PushRequest, Transport};
use journal_server::store::DbConnection;
use journal_server::store::schema::{owner_versions, records};

use journal_testing::{Backend, TestDatabase};

/// The password of every account the benchmarks and the harness make.
pub const PASSWORD: &str = "correct horse battery staple";

/// A deterministic stream of pseudo-random numbers (a 64-bit LCG).
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number (31 bits of the state).
    pub fn draw(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "felt", "today", "session", "body", "breath", "calm", "light", "music", "fear", "heavy",
    "memory", "warmth", "mother", "chest", "grief", "walk", "morning", "tears", "dream",
    "home", "safe", "held", "open", "notice", "quiet", "space", "kindness", "father", "work",
    "relief", "sleep", "evening", "voice", "child", "color", "anger", "shame", "forgive",
    "wave", "forest", "river", "mountain", "sister", "friend", "therapist", "intention",
];

/// `count` journal entries of 60–300 words (about 350–1,900 bytes of JSON
/// each), the same for the same generator state.
pub fn entries(rng: &mut Lcg, count: usize) -> Vec<RecordBody> {
    (0..count)
        .filter_map(|_| {
            let words = 60 + rng.draw() % 240;
            let text: Vec<&str> = (0..words)
                .map(|_| WORDS[rng.draw() % WORDS.len()])
                .collect();
            let phase = Phase::ALL[rng.draw() % 3];
            // Never refused: 60–300 short words are within every rule.
            JournalEntry::new(text.join(" "), phase)
                .ok()
                .map(Into::into)
        })
        .collect()
}

/// A `records` row as the server writes it for a new journal entry.
#[derive(Insertable, Clone, Debug)]
#[diesel(table_name = records)]
#[diesel(treat_none_as_default_value = false)]
pub struct RawRow {
    /// The record's id.
    pub id: String,
    /// Its owner.
    pub owner_id: String,
    /// Its kind.
    pub kind: &'static str,
    /// Its phase.
    pub phase: Option<&'static str>,
    /// The dosing session it belongs to.
    pub dosing_session_id: Option<String>,
    /// When it happened (µs).
    pub occurred_at: i64,
    /// When it was made (µs).
    pub created_at: i64,
    /// When it last changed (µs).
    pub updated_at: i64,
    /// The stamp of its current version.
    pub hlc: i64,
    /// Tombstone.
    pub deleted: bool,
    /// The content's JSON.
    pub body: String,
    /// Its place in the owner's history.
    pub version: i64,
    /// The device that wrote the current version.
    pub origin_device: String,
    /// The stamp it was created with.
    pub created_hlc: Option<i64>,
    /// The device it was created on.
    pub created_device: Option<String>,
    /// Per-field stamps (none for an entry).
    pub field_stamps: String,
}

/// The rows of `bodies`, for `owner`, numbered from `first_version`.
pub fn raw_rows(owner: &str, bodies: &[RecordBody], first_version: i64) -> Vec<RawRow> {
    let device = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now().timestamp_micros();
    let mut clock = journal_core::HlcClock::new(journal_core::SystemClock);
    bodies
        .iter()
        .zip(first_version..)
        .map(|(body, version)| {
            let hlc = clock.tick().to_i64();
            RawRow {
                id: journal_core::RecordId::new().to_string(),
                owner_id: owner.to_owned(),
                kind: body.kind().as_str(),
                phase: body.phase().map(Phase::as_str),
                dosing_session_id: None,
                occurred_at: now,
                created_at: now,
                updated_at: now,
                hlc,
                deleted: false,
                body: body.to_json().unwrap_or_default(),
                version,
                origin_device: device.clone(),
                created_hlc: Some(hlc),
                created_device: Some(device.clone()),
                field_stamps: "{}".to_owned(),
            }
        })
        .collect()
}

/// The raw insert's statements on one connection type: make sure the
/// owner's counter row exists and read it (untimed), then in one
/// transaction bump it by the number of rows and insert them, 500 a
/// statement (timed). `$begin` opens the transaction.
macro_rules! raw_insert_on {
    ($conn:expr, $owner:expr, $bodies:expr, $begin:ident) => {{
        let conn = $conn;
        let size = i64::try_from($bodies.len()).unwrap_or(i64::MAX);
        diesel::insert_into(owner_versions::table)
            .values((
                owner_versions::owner_id.eq($owner),
                owner_versions::version.eq(0_i64),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        let base: i64 = owner_versions::table
            .find($owner)
            .select(owner_versions::version)
            .first(conn)?;
        // The rows are made before the clock starts; their versions follow
        // the counter, bumped in the transaction.
        let rows = raw_rows($owner, $bodies, base + 1);
        let start = Instant::now();
        conn.$begin(|conn| {
            let top: i64 = diesel::update(owner_versions::table.find($owner))
                .set(owner_versions::version.eq(owner_versions::version + size))
                .returning(owner_versions::version)
                .get_result(conn)?;
            if top != base + size {
                // Someone else wrote for this owner meanwhile.
                return Err(diesel::result::Error::RollbackTransaction);
            }
            for chunk in rows.chunks(MAX_PUSH_MUTATIONS) {
                diesel::insert_into(records::table)
                    .values(chunk)
                    .execute(conn)?;
            }
            diesel::QueryResult::Ok(())
        })?;
        Ok(start.elapsed())
    }};
}

/// Writes `bodies` as new entries of `owner` straight into the server's
/// `records` table — one batch insert per 500 rows, in one transaction that
/// also bumps the owner's version counter — and returns how long the
/// transaction took (the rows are made before the clock starts). The floor
/// a push is compared with: no HTTP, JSON, conflict rules or outcomes.
pub fn raw_insert(
    conn: &mut DbConnection,
    owner: &str,
    bodies: &[RecordBody],
) -> QueryResult<Duration> {
    match conn {
        DbConnection::Sqlite(conn) => raw_insert_on!(conn, owner, bodies, immediate_transaction),
        DbConnection::Postgresql(conn) => raw_insert_on!(conn, owner, bodies, transaction),
    }
}

/// Why a push of an outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The journal could not be read or written.
    #[error("journal: {0}")]
    Store(#[from] journal_core::store::StoreError),
    /// The server refused or could not be reached.
    #[error("push: {0}")]
    Transport(#[from] journal_core::sync::TransportError),
    /// The server answered without acknowledging the batch.
    #[error("the push was answered without acknowledging its changes")]
    NotAcknowledged,
}

/// What [`push_outbox`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pushed {
    /// Changes the server applied.
    pub applied: usize,
    /// Of the push's time, what the phone spent reading its outbox.
    pub reading: Duration,
    /// … and forgetting what the server acknowledged.
    pub acknowledging: Duration,
}

/// The push half of a sync, as the sync client does it: batches of up to
/// 500 changes read from the outbox, sent, acknowledged, until the outbox
/// is empty.
pub fn push_outbox(
    store: &JournalStore,
    transport: &dyn Transport,
    token: &str,
) -> Result<Pushed, PushError> {
    let device = store.device_id();
    let mut pushed = Pushed::default();
    loop {
        let started = Instant::now();
        let mutations = store.pending_mutations(MAX_PUSH_MUTATIONS as u32)?;
        pushed.reading += started.elapsed();
        if mutations.is_empty() {
            return Ok(pushed);
        }
        let request = PushRequest {
            device_id: device,
            mutations,
        };
        let answer = transport.push(token, &request)?;
        pushed.applied += answer
            .results
            .iter()
            .filter(|r| r.status == journal_core::sync::OutcomeStatus::Applied)
            .count();
        let through = answer
            .last_applied_mutation
            .ok_or(PushError::NotAcknowledged)?;
        let started = Instant::now();
        store.acknowledge_changes(through)?;
        pushed.acknowledging += started.elapsed();
    }
}

/// Writes `bodies` into `store` as new records, 1,000 a transaction.
pub fn write_all(store: &JournalStore, bodies: &[RecordBody]) -> Result<(), PushError> {
    for chunk in bodies.chunks(1_000) {
        store.create_many(chunk.to_vec())?;
    }
    Ok(())
}

/// A fresh database for a server: a SQLite file in a temporary folder, or a
/// new database on the PostgreSQL server at `admin_url` (dropped with the
/// returned guard). Returns its URL and the guard.
pub fn fresh_database(backend: Backend, admin_url: &str) -> Result<(String, TestDatabase), String> {
    let database =
        TestDatabase::try_create(backend, "journal_load_", admin_url).map_err(|e| e.to_string())?;
    Ok((database.url().to_owned(), database))
}

/// Memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// The most it was ever resident (`VmHWM`).
    pub peak_kib: u64,
}

/// The CPU time (user and system) a process has used so far, in seconds;
/// `None` when it is gone (or not on Linux).
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, and it may hold spaces) come
    // the state (field 3), …, utime (14) and stime (15), in clock ticks.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot
/// be asked).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t: &f64| *t > 0.0)
        .unwrap_or(100.0)
}

/// Reads a process's resident memory; `None` when it is gone (or not on
/// Linux).
pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// A free loopback port (free when asked; the server binds it right after).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The server (`e2e-server serve`) as a child process on a loopback port.
/// Stopped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    url: String,
    port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `exe serve` on `database_url` with `--jwt-secret secret`,
    /// `workers` HTTP workers and a pool of `pool` connections, and waits
    /// until `/healthz` answers. Its log goes to `log`.
    pub fn start(
        exe: &Path,
        database_url: &str,
        secret: &str,
        workers: usize,
        pool: u32,
        log: &Path,
    ) -> Result<Self, String> {
        let port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let out = file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(exe)
            .args(["serve", "--bind", &bind, "--database-url", database_url])
            .args(["--workers", &workers.to_string()])
            .args(["--db-pool-size", &pool.to_string()])
            .args(["--auth-attempts-per-minute", "1000000000"])
            .args(["--log", "warn"])
            .env("JOURNAL_JWT_SECRET", secret)
            .stdin(Stdio::null())
            // Logs go to standard output, errors to standard error.
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(file))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let mut server = Self {
            child,
            url: format!("http://{bind}"),
            port,
            log: log.to_owned(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("the server exited ({status}):\n{log}"));
            }
            if agent
                .get(format!("{}/healthz", self.url))
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("the server did not answer /healthz within 60 s".to_owned())
    }

    /// Its base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory now, and the most it ever held.
    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid())
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
