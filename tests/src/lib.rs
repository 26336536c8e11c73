//! journal-e2e: tests of flows that cross crates — a real server on a
//! loopback port, phones with journals of their own syncing over HTTP, a
//! faulty network between them. The tests are in `tests/tests/`; this
//! library is what they share:
//!
//! - [`LiveServer`]: the server on SQLite or on a PostgreSQL database of its
//!   own, on a free loopback port.
//! - [`Phone`]: a journal file and a sync client, signed in.
//! - [`FaultyTransport`]: the phone's transport with faults injected —
//!   requests dropped, answers lost after the server committed, requests
//!   sent twice, old pushes sent again later.
//! - [`load`]: what the sync benchmark and the load harness (`loadtest`)
//!   share — the entries they write, the raw insert floor, the server as a
//!   process of its own.
//! - [`process`]: the server, a private PostgreSQL cluster and phones as
//!   processes of their own, for the crash and fault tests.
//!
//! Fresh databases, [`Backend`] and when PostgreSQL is skipped come from
//! journal-testing, which the server's own tests share.

// Test support: failing loudly on a broken setup is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use journal_core::hlc::{SystemClock, WallClock};
use journal_core::store::JournalStore;
use journal_core::sync::{
    HttpTransport, InMemorySecrets, OwnerVersion, PullResponse, PulledChange, PushRequest,
    PushResponse, RecordState, Revision, SyncClient, Tokens, Transport, TransportError,
};
use journal_core::{DeviceId, RecordId};
use journal_server::RunningServer;
use journal_testing::TestDatabase;

pub mod process;

pub mod balancer;
pub mod browser;
pub mod load;
pub mod smtp;
pub mod writers;

pub use journal_testing::Backend;

/// Runs a test body against a server on each backend: `…::sqlite` and
/// `…::postgres`. The PostgreSQL half is skipped only when
/// `JOURNAL_SKIP_POSTGRES=1` and not under `CI=true`.
#[macro_export]
macro_rules! on_both_backends {
    ($(fn $name:ident($server:ident: LiveServer) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($server: $crate::LiveServer) $body

            #[test]
            fn sqlite() {
                run($crate::LiveServer::start($crate::Backend::Sqlite).expect("sqlite"));
            }

            #[test]
            fn postgres() {
                if let Some(server) = $crate::LiveServer::start($crate::Backend::Postgres) {
                    run(server);
                }
            }
        }
    )*};
}

/// The server, listening on a free loopback port.
pub struct LiveServer {
    server: Option<RunningServer>,
    /// The database it runs on.
    pub backend: Backend,
    database: TestDatabase,
}

impl LiveServer {
    /// Starts a server on a fresh database; `None` when PostgreSQL is
    /// skipped on this machine.
    pub fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, &[])
    }

    /// Like [`LiveServer::start`], emailing through an SMTP server on
    /// 127.0.0.1:`smtp_port` without TLS (a [`smtp::SmtpSink`]) as
    /// `sender`, with more flags.
    pub fn start_mailing(
        backend: Backend,
        smtp_port: u16,
        sender: &str,
        flags: &[&str],
    ) -> Option<Self> {
        let port = smtp_port.to_string();
        let from = format!("KAP journal <{sender}>");
        let mut all = vec![
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "none",
            "--smtp-from",
            &from,
        ];
        all.extend_from_slice(flags);
        Self::start_with(backend, &all)
    }

    /// Like [`LiveServer::start`], with more of the server's flags (SMTP
    /// settings, say).
    pub fn start_with(backend: Backend, flags: &[&str]) -> Option<Self> {
        let database = TestDatabase::create(backend, "journal_e2e_")?;
        let secret = journal_testing::jwt_secret(9);
        let base = [
            "journal-server",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            database.url(),
            "--jwt-secret",
            &secret,
            "--auth-attempts-per-minute",
            "100000",
            "--db-pool-size",
            "8",
            "--log",
            "warn",
        ];
        let cli =
            <journal_server::config::Cli as clap::Parser>::try_parse_from(base.iter().chain(flags))
                .unwrap();
        let server = journal_server::start(cli.config).unwrap();
        Some(Self {
            server: Some(server),
            backend,
            database,
        })
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.server
            .as_ref()
            .map(RunningServer::url)
            .unwrap_or_default()
    }

    /// Registers a patient.
    pub fn register(&self, email: &str, password: &str) {
        let body = serde_json::json!({"email": email, "password": password});
        let response = ureq::post(&format!("{}/api/v1/auth/register", self.url()))
            .header("content-type", "application/json")
            .send(serde_json::to_vec(&body).unwrap())
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }

    /// Creates a therapist account, as the operator command does; returns
    /// the account id.
    pub fn create_therapist(&self, email: &str, password: &str, name: &str) -> String {
        let db = journal_server::store::Database::open(self.database.url(), 1).unwrap();
        let hash = actix_web::rt::System::new()
            .block_on(async {
                journal_server::auth::passwords::Passwords::new(1)
                    .unwrap()
                    .hash(password.to_owned())
                    .await
            })
            .unwrap();
        let mut conn = db.get().unwrap();
        journal_server::store::accounts::insert_account(
            &mut conn,
            email,
            &hash,
            journal_server::auth::Role::Therapist,
            Some(name),
        )
        .unwrap()
        .to_string()
    }

    /// Signs in over HTTP and returns the access token.
    pub fn token(&self, email: &str, password: &str) -> String {
        HttpTransport::new(&self.url())
            .unwrap()
            .sign_in(email, password)
            .unwrap()
            .access_token
    }

    /// Sends a JSON request with a bearer token; returns status and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        call_at(&self.url(), method, path, token, body)
    }

    /// Sends a JSON POST without a token (sign-in, registration, password
    /// resets); returns status and body.
    pub fn post_anonymous(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        post_anonymous_at(&self.url(), path, body)
    }

    /// Links a patient and a therapist through an invitation code.
    pub fn link(&self, therapist_token: &str, patient_token: &str) {
        link_at(&self.url(), therapist_token, patient_token);
    }

    /// Everything the server holds for a patient: records (tombstones
    /// included) and revisions, read through a full pull.
    pub fn holdings(&self, email: &str, password: &str) -> Holdings {
        holdings_at(&self.url(), email, password).0
    }
}

/// Everything the server at `url` holds for a patient, read through a full
/// pull, with every record change the pull sent (so a record sent twice
/// shows as a duplicate).
pub fn holdings_at(url: &str, email: &str, password: &str) -> (Holdings, Vec<RecordId>) {
    let transport = HttpTransport::new(url).unwrap();
    let tokens = transport.sign_in(email, password).unwrap();
    let mut holdings = Holdings::default();
    let mut sent = Vec::new();
    let mut since = OwnerVersion(0);
    loop {
        let page = transport
            .pull(&tokens.access_token, since, 1_000, DeviceId::new())
            .unwrap();
        for change in page.changes {
            match change {
                PulledChange::Record { record, .. } => {
                    sent.push(record.id);
                    holdings.records.retain(|r| r.id != record.id);
                    holdings.records.push(record);
                }
                PulledChange::Revision { revision, .. } => holdings.revisions.push(revision),
                PulledChange::Comment { comment, .. } => {
                    holdings.comments.retain(|c| c.id != comment.id);
                    if !comment.deleted {
                        holdings.comments.push(comment);
                    }
                }
                PulledChange::CarePlan { care_plan, .. } => {
                    holdings.care_plans.retain(|p| p.id != care_plan.id);
                    if care_plan.plan.is_some() {
                        holdings.care_plans.push(care_plan);
                    }
                }
            }
        }
        since = page.cursor;
        if !page.has_more {
            return (holdings, sent);
        }
    }
}

/// Sends a JSON request with a bearer token to the server (or balancer) at
/// `base`; returns status and body.
pub fn call_at(
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!("{base}{path}");
    let auth = format!("Bearer {token}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
        (m, body) => {
            let bytes = serde_json::to_vec(&body.unwrap_or(serde_json::Value::Null)).unwrap();
            let request = match m {
                "PUT" => agent.put(&url),
                _ => agent.post(&url),
            };
            request
                .header("Authorization", &auth)
                .header("content-type", "application/json")
                .send(bytes)
        }
    }
    .unwrap();
    answer_of(response)
}

/// Links a patient and a therapist through an invitation code, at the
/// server (or balancer) at `base`.
pub fn link_at(base: &str, therapist_token: &str, patient_token: &str) {
    let (status, invitation) = call_at(
        base,
        "POST",
        "/api/v1/care/invitations",
        therapist_token,
        Some(serde_json::json!({})),
    );
    assert_eq!(status, 201, "{invitation}");
    let code = invitation["code"].as_str().unwrap().to_owned();
    let (status, link) = call_at(
        base,
        "POST",
        "/api/v1/care/links",
        patient_token,
        Some(serde_json::json!({"code": code})),
    );
    assert_eq!(status, 201, "{link}");
}

/// Sends a JSON POST without a token to the server at `base`; returns
/// status and body.
pub fn post_anonymous_at(
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&format!("{base}{path}"))
        .header("content-type", "application/json")
        .send(serde_json::to_vec(&body).unwrap())
        .unwrap();
    answer_of(response)
}

fn answer_of(response: ureq::http::Response<ureq::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// What the server holds for one patient.
#[derive(Debug, Default, Clone)]
pub struct Holdings {
    /// Every record, tombstones included.
    pub records: Vec<RecordState>,
    /// Every revision kept.
    pub revisions: Vec<Revision>,
    /// Every comment not deleted.
    pub comments: Vec<journal_core::comments::Comment>,
    /// Every therapist's care plan not withdrawn.
    pub care_plans: Vec<journal_core::plan::AssignedPlan>,
}

impl Holdings {
    /// The live records' ids and content JSON, sorted by id.
    pub fn live(&self) -> Vec<(RecordId, serde_json::Value)> {
        let mut live: Vec<_> = self
            .records
            .iter()
            .filter(|r| !r.deleted)
            .map(|r| (r.id, r.body.clone().unwrap_or_default()))
            .collect();
        live.sort_by_key(|(id, _)| *id);
        live
    }

    /// Every text the server keeps for a record: its current content and
    /// its revisions, as JSON strings.
    pub fn texts_of(&self, id: RecordId) -> Vec<String> {
        let mut texts: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.id == id)
            .filter_map(|r| r.body.as_ref().map(|b| b.to_string()))
            .collect();
        texts.extend(
            self.revisions
                .iter()
                .filter(|r| r.record_id == id)
                .map(|r| r.body.to_string()),
        );
        texts
    }
}

/// What the faulty network does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Delivered, answered.
    None,
    /// Lost on the way: the server never sees it.
    DropRequest,
    /// Delivered and committed, but the answer is lost.
    DropResponse,
    /// Delivered twice (the second answer is the one returned).
    Duplicate,
}

/// A transport that injects faults, by script or at random, and can send an
/// old push again later (a delayed duplicate arriving out of order).
pub struct FaultyTransport {
    inner: HttpTransport,
    script: Mutex<VecDeque<Fault>>,
    random: Mutex<Option<(u64, u32)>>,
    sent_pushes: Mutex<Vec<(String, PushRequest)>>,
    /// How many requests were sent to the server (duplicates count twice).
    pub delivered: Mutex<u64>,
}

impl FaultyTransport {
    /// A transport to `url`, faultless until told otherwise.
    pub fn new(url: &str) -> Self {
        Self {
            inner: HttpTransport::new(url).unwrap(),
            script: Mutex::new(VecDeque::new()),
            random: Mutex::new(None),
            sent_pushes: Mutex::new(Vec::new()),
            delivered: Mutex::new(0),
        }
    }

    /// The next requests meet these faults, in order.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.script.lock().unwrap().extend(faults);
    }

    /// Every request meets a fault with probability `percent` in 100
    /// (chosen among the three kinds), from a seeded generator; `0` turns it
    /// off.
    pub fn random_faults(&self, seed: u64, percent: u32) {
        *self.random.lock().unwrap() = (percent > 0).then_some((seed, percent));
    }

    fn next_fault(&self) -> Fault {
        if let Some(fault) = self.script.lock().unwrap().pop_front() {
            return fault;
        }
        let mut random = self.random.lock().unwrap();
        let Some((state, percent)) = random.as_mut() else {
            return Fault::None;
        };
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let roll = (*state >> 33) % 300;
        if roll as u32 >= *percent * 3 {
            return Fault::None;
        }
        match roll % 3 {
            0 => Fault::DropRequest,
            1 => Fault::DropResponse,
            _ => Fault::Duplicate,
        }
    }

    fn deliver<T>(
        &self,
        send: impl Fn() -> Result<T, TransportError>,
    ) -> Result<T, TransportError> {
        let lost = || {
            Err(TransportError::Network(
                "injected: connection lost".to_owned(),
            ))
        };
        match self.next_fault() {
            Fault::DropRequest => lost(),
            Fault::None => {
                *self.delivered.lock().unwrap() += 1;
                send()
            }
            Fault::DropResponse => {
                *self.delivered.lock().unwrap() += 1;
                let _ = send();
                lost()
            }
            Fault::Duplicate => {
                *self.delivered.lock().unwrap() += 2;
                let _ = send();
                send()
            }
        }
    }

    /// Sends one of the pushes sent earlier again, as a delayed duplicate
    /// arriving after newer ones; returns the server's answer, if any.
    pub fn replay_old_push(&self, pick: usize) -> Option<Result<PushResponse, TransportError>> {
        let pushes = self.sent_pushes.lock().unwrap();
        if pushes.is_empty() {
            return None;
        }
        let (token, request) = pushes[pick % pushes.len()].clone();
        drop(pushes);
        Some(self.inner.push(&token, &request))
    }
}

impl Transport for FaultyTransport {
    fn sign_in(&self, email: &str, password: &str) -> Result<Tokens, TransportError> {
        self.inner.sign_in(email, password)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        self.inner.refresh(refresh_token)
    }

    fn push(
        &self,
        access_token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, TransportError> {
        let mut pushes = self.sent_pushes.lock().unwrap();
        if pushes.len() >= 64 {
            pushes.remove(0);
        }
        pushes.push((access_token.to_owned(), request.clone()));
        drop(pushes);
        self.deliver(|| self.inner.push(access_token, request))
    }

    fn pull(
        &self,
        access_token: &str,
        since: OwnerVersion,
        limit: u32,
        device: DeviceId,
    ) -> Result<PullResponse, TransportError> {
        self.deliver(|| self.inner.pull(access_token, since, limit, device))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        access_token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, TransportError> {
        self.deliver(|| self.inner.call(method, path, access_token, body))
    }
}

/// A phone: a journal file of its own and a sync client, signed in.
pub struct Phone {
    /// The journal.
    pub store: Arc<JournalStore>,
    /// Its sync client.
    pub client: SyncClient,
    /// The network it syncs through.
    pub network: Arc<FaultyTransport>,
    secrets: Arc<InMemorySecrets>,
    clock: Arc<dyn WallClock>,
    path: PathBuf,
    _dir: Arc<tempfile::TempDir>,
}

impl Phone {
    /// A new phone with an empty journal, signed in as the patient.
    pub fn new(server: &LiveServer, email: &str, password: &str) -> Self {
        Self::with_clock(server, email, password, Arc::new(SystemClock))
    }

    /// Like [`Phone::new`], on a phone whose wall clock reads `clock` (set
    /// wrong, or jumping).
    pub fn with_clock(
        server: &LiveServer,
        email: &str,
        password: &str,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let path = dir.path().join("journal.db");
        let store = Arc::new(JournalStore::open_with_clock(&path, Arc::clone(&clock)).unwrap());
        let network = Arc::new(FaultyTransport::new(&server.url()));
        let secrets = Arc::new(InMemorySecrets::new());
        let client = SyncClient::new(Arc::clone(&store), network.clone(), secrets.clone());
        client.sign_in(email, password).unwrap();
        Self {
            store,
            client,
            network,
            secrets,
            clock,
            path,
            _dir: dir,
        }
    }

    /// The app was killed and started again: the journal is opened anew
    /// from its file, the refresh token comes back from the secret store.
    pub fn restart(self) -> Self {
        self.restart_after(|_| ())
    }

    /// Like [`Phone::restart`], doing `meanwhile` with the journal file while
    /// the app is closed (copy it away as a backup, or restore one).
    pub fn restart_after(self, meanwhile: impl FnOnce(&std::path::Path)) -> Self {
        let Phone {
            store,
            client,
            network,
            secrets,
            clock,
            path,
            _dir,
        } = self;
        drop(client);
        drop(store);
        meanwhile(&path);
        let store = Arc::new(JournalStore::open_with_clock(&path, Arc::clone(&clock)).unwrap());
        let client = SyncClient::new(Arc::clone(&store), network.clone(), secrets.clone());
        Self {
            store,
            client,
            network,
            secrets,
            clock,
            path,
            _dir,
        }
    }

    /// The journal file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The live records' ids and content JSON, sorted by id.
    pub fn live(&self) -> Vec<(RecordId, serde_json::Value)> {
        live_records(&self.store)
    }
}

/// A journal's live records: ids and content JSON, sorted by id, read
/// page by page through the store's own list.
pub fn live_records(store: &JournalStore) -> Vec<(RecordId, serde_json::Value)> {
    let mut all = Vec::new();
    let mut query = journal_core::query::ListQuery {
        limit: Some(200),
        ..Default::default()
    };
    loop {
        let page = store.list(&query).unwrap();
        all.extend(page.records.into_iter().map(|r| {
            let body = serde_json::to_value(&r.body).unwrap()["body"].clone();
            (r.id, body)
        }));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    all.sort_by_key(|(id, _)| *id);
    all
}

impl LiveServer {
    /// The URL of the server's database, for benchmarks that write to it
    /// directly (`journal_server::store::Database::open`).
    pub fn database_url(&self) -> String {
        self.database.url().to_owned()
    }
}
