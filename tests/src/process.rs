//! Crash and fault tests need the parts to be processes of their own, to be
//! killed with SIGKILL and started again: the server ([`ServerProcess`],
//! the `e2e-server` binary), a PostgreSQL cluster of the test's own
//! ([`PrivatePostgres`], stopped and started under load without touching the
//! shared one), and the devices ([`Device`] in this process; the `e2e-phone`
//! binary as a process).

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journal_core::RecordId;
use journal_core::store::JournalStore;
use journal_core::sync::{HttpTransport, InMemorySecrets, SyncClient, Transport};

pub use crate::holdings_at;
use journal_testing::{Backend, TestDatabase, jwt_secret, skip_postgres};

/// How long a server process or a PostgreSQL cluster may take to come up
/// before the test gives up on its setup (a deadline, not a measurement).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A small seeded generator for kill moments, so a failing run can be
/// repeated with the seed it prints.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    /// From `FAULT_SEED` when set, otherwise from the clock; the seed is
    /// printed.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: FAULT_SEED={seed}");
        Self(seed | 1)
    }

    /// From a given seed (e.g. one drawn from another generator).
    pub fn from_seed(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A number in `range` (half open).
    pub fn below(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + self.0 % (range.end - range.start).max(1)
    }

    /// A pause of `min..max` milliseconds.
    pub fn millis(&mut self, min: u64, max: u64) -> Duration {
        Duration::from_millis(self.below(min..max))
    }
}

/// How many kill rounds a test makes: `FAULT_ROUNDS`, or `default`.
pub fn rounds(default: u32) -> u32 {
    std::env::var("FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// A free loopback port (free when asked; the server binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A database for a server process: a SQLite file in a temporary folder,
/// or a database of its own on a PostgreSQL server (dropped at the end).
pub struct ScratchDatabase {
    /// The URL to give the server.
    pub url: String,
    _database: TestDatabase,
}

impl ScratchDatabase {
    /// The prefix of its PostgreSQL database's name.
    const PREFIX: &str = "journal_faults_";

    /// A fresh database on `backend`: for PostgreSQL on the shared test
    /// server (`TEST_DATABASE_URL`); `None` when PostgreSQL is skipped here.
    pub fn create(backend: Backend) -> Option<Self> {
        TestDatabase::create(backend, Self::PREFIX).map(Self::from)
    }

    /// A fresh database on the PostgreSQL server `admin_url` points at.
    pub fn on(admin_url: &str) -> Self {
        TestDatabase::try_create(Backend::Postgres, Self::PREFIX, admin_url)
            .map(Self::from)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl From<TestDatabase> for ScratchDatabase {
    fn from(database: TestDatabase) -> Self {
        Self {
            url: database.url().to_owned(),
            _database: database,
        }
    }
}

/// The server as a process of its own (`e2e-server serve`), on a fixed
/// loopback port so it can be killed and started again at the same address.
pub struct ServerProcess {
    binary: PathBuf,
    database_url: String,
    port: u16,
    flags: Vec<String>,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
    /// How many times it was started.
    pub starts: u32,
}

impl ServerProcess {
    /// Starts `binary` (the test's `env!("CARGO_BIN_EXE_e2e-server")`) on
    /// `database_url` and a free port; returns once `/healthz` answers.
    pub fn start(binary: &str, database_url: &str) -> Self {
        Self::start_with(binary, database_url, &[])
    }

    /// Like [`ServerProcess::start`], with more of the server's flags.
    pub fn start_with(binary: &str, database_url: &str, flags: &[&str]) -> Self {
        let mut server = Self {
            binary: PathBuf::from(binary),
            database_url: database_url.to_owned(),
            port: free_port(),
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            child: None,
            log: tempfile::NamedTempFile::new().unwrap(),
            starts: 0,
        };
        server.launch();
        server
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn launch(&mut self) {
        assert!(self.child.is_none(), "already running");
        let secret = jwt_secret(7);
        let log = self.log.reopen().unwrap();
        // The test's own flags replace these.
        let defaults: Vec<&str> = [
            ["--auth-attempts-per-minute", "100000"],
            ["--db-pool-size", "4"],
            ["--workers", "2"],
            ["--log", "warn"],
        ]
        .into_iter()
        .filter(|[flag, _]| !self.flags.iter().any(|f| f == flag))
        .flatten()
        .collect();
        let child = Command::new(&self.binary)
            .args(["serve", "--bind"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["--database-url", &self.database_url])
            .args(["--jwt-secret", &secret])
            .args(defaults)
            .args(&self.flags)
            .stdin(Stdio::null())
            // Logs go to standard output; errors at start to standard error.
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.starts += 1;
        let url = self.url();
        let child = &mut self.child;
        let log = &self.log;
        wait_until_healthy(
            &url,
            "the server",
            || child.as_mut().and_then(|c| c.try_wait().ok().flatten()),
            || text_of(log),
        );
    }

    /// What the server wrote to stderr so far.
    pub fn log_text(&self) -> String {
        text_of(&self.log)
    }

    /// SIGKILL: no shutdown, no flushing, requests cut mid-way.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: the server finishes the requests in flight and exits;
    /// waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts it again on the same database and port (after [`kill`] or
    /// [`stop`]; kills it first if it runs).
    ///
    /// [`kill`]: ServerProcess::kill
    /// [`stop`]: ServerProcess::stop
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a process wrote to its log file so far.
pub(crate) fn text_of(log: &tempfile::NamedTempFile) -> String {
    let mut text = String::new();
    let _ = log.reopen().and_then(|mut f| f.read_to_string(&mut text));
    text
}

/// Waits until `GET {url}/healthz` answers 200. Fails the test, with what
/// `log` says, when `exited` finds the process gone or it takes longer
/// than [`START_DEADLINE`].
pub(crate) fn wait_until_healthy(
    url: &str,
    what: &str,
    mut exited: impl FnMut() -> Option<std::process::ExitStatus>,
    log: impl Fn() -> String,
) {
    let agent = agent(Duration::from_secs(5));
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(response) = agent.get(format!("{url}/healthz")).call()
            && response.status().as_u16() == 200
        {
            return;
        }
        if let Some(status) = exited() {
            panic!("{what} exited ({status}) on start: {}", log());
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not come up: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A ureq agent that hands back 4xx/5xx answers instead of errors, giving
/// up on a request after `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Registers a patient on the server at `url`.
pub fn register(url: &str, email: &str, password: &str) {
    let body = serde_json::json!({"email": email, "password": password});
    let response = agent(Duration::from_secs(30))
        .post(format!("{url}/api/v1/auth/register"))
        .header("content-type", "application/json")
        .send(serde_json::to_vec(&body).unwrap())
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "register {email}");
}

/// Signs in at `url` and returns an access token.
pub fn token(url: &str, email: &str, password: &str) -> String {
    HttpTransport::new(url)
        .unwrap()
        .sign_in(email, password)
        .unwrap()
        .access_token
}

/// A phone in this process: a journal file, a sync client over HTTP.
pub struct Device {
    /// The journal.
    pub store: Arc<JournalStore>,
    /// Its sync client.
    pub client: SyncClient,
    _dir: Option<tempfile::TempDir>,
}

impl Device {
    /// A new phone with an empty journal, signed in at `url`.
    pub fn new(url: &str, email: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut device = Self::open(&dir.path().join("journal.db"), url, email, password);
        device._dir = Some(dir);
        device
    }

    /// The phone whose journal is the file at `path` (left there by a
    /// killed `e2e-phone`), signed in at `url`.
    pub fn open(path: &Path, url: &str, email: &str, password: &str) -> Self {
        let store = Arc::new(JournalStore::open(path).unwrap());
        let client = SyncClient::new(
            Arc::clone(&store),
            Arc::new(HttpTransport::new(url).unwrap()),
            Arc::new(InMemorySecrets::new()),
        );
        client.sign_in(email, password).unwrap();
        Self {
            store,
            client,
            _dir: None,
        }
    }

    /// The live records' ids and content JSON, sorted by id.
    pub fn live(&self) -> Vec<(RecordId, serde_json::Value)> {
        crate::live_records(&self.store)
    }
}

/// Where the PostgreSQL binaries are: `pg_config --bindir`, else the
/// newest `/usr/lib/postgresql/*/bin` holding `pg_ctl`.
fn postgres_binaries() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_config.into_iter().collect();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = versions
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("pg_ctl").is_file() && dir.join("initdb").is_file())
}

/// A PostgreSQL cluster of the test's own, in a temporary folder, on a free
/// loopback port: stopped and started by the test while the shared cluster
/// keeps serving everyone else. As root, its commands run as `postgres`.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates and starts the cluster. `None` (with a message) when
    /// PostgreSQL is skipped here or its binaries are missing, unless
    /// `CI=true`, where missing binaries fail the test.
    pub fn start() -> Option<Self> {
        if skip_postgres() {
            eprintln!("private PostgreSQL skipped: JOURNAL_SKIP_POSTGRES=1");
            return None;
        }
        let Some(bin) = postgres_binaries() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL binaries (initdb, pg_ctl) not found: install the postgresql server package"
            );
            eprintln!(
                "private PostgreSQL skipped: no initdb/pg_ctl (pg_config --bindir, /usr/lib/postgresql/*/bin)"
            );
            return None;
        };
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cannot hand the cluster folder to postgres"
            );
        }
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        if !output.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "{tool} {args:?} failed: {}\n{}\nserver log:\n{log}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// The URL of its `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("server.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                &START_DEADLINE.as_secs().to_string(),
                "start",
            ],
        );
    }

    /// Stops the cluster: `immediate` (like a crash: no checkpoint,
    /// connections cut) or `fast` (connections told to end, then a clean
    /// shutdown).
    pub fn stop(&self, mode: &str) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                mode,
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
