//! SyncClient against a small in-memory server behind a fake Transport:
//! pushed records come back on pull with rising versions, tokens rotate,
//! and faults can be switched on. (The real server is tested end to end in
//! `tests/`.)

use std::collections::{HashMap, HashSet};

use tempfile::TempDir;

use super::*;
use crate::ids::{DeviceId, MutationId, RecordId};
use crate::phase::Phase;
use crate::records::{JournalEntry, RecordBody};
use crate::sync::transport::InMemorySecrets;
use crate::sync::wire::*;

const EMAIL: &str = "ada@example.org";
const PASSWORD: &str = "correct horse battery";

#[derive(Default)]
struct Server {
    version: u64,
    records: HashMap<RecordId, (u64, RecordState)>,
    last_applied: HashMap<DeviceId, MutationId>,
    access_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    issued: u64,
    refreshes: u32,
    pushes: u32,
    /// The next pushes fail before reaching the server.
    drop_pushes: u32,
    /// Pulls asked for so far.
    pulls: u32,
    /// The pull of this number (1 for the first) fails on the network.
    fail_pull: Option<u32>,
    /// The next pushes are applied, but their answer is lost.
    lose_push_answers: u32,
    /// Refuse every access token (as if the account were locked).
    refuse_all_access: bool,
    /// The JSON size of every push received.
    push_sizes: Vec<usize>,
}

impl Server {
    fn issue(&mut self) -> Tokens {
        self.issued += 1;
        let tokens = Tokens {
            access_token: format!("access-{}", self.issued),
            refresh_token: format!("refresh-{}", self.issued),
            expires_in: 900,
        };
        self.access_tokens.insert(tokens.access_token.clone());
        self.refresh_tokens.insert(tokens.refresh_token.clone());
        tokens
    }

    fn check(&self, access_token: &str) -> Result<(), TransportError> {
        if self.refuse_all_access || !self.access_tokens.contains(access_token) {
            return Err(TransportError::Unauthorized("the token has expired".into()));
        }
        Ok(())
    }
}

#[derive(Default)]
struct FakeTransport(Mutex<Server>);

impl FakeTransport {
    fn server(&self) -> MutexGuard<'_, Server> {
        self.0.lock().unwrap()
    }
}

impl Transport for FakeTransport {
    fn sign_in(&self, email: &str, password: &str) -> Result<Tokens, TransportError> {
        if (email, password) != (EMAIL, PASSWORD) {
            return Err(TransportError::Unauthorized(
                "wrong email or password".into(),
            ));
        }
        Ok(self.server().issue())
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        let mut server = self.server();
        server.refreshes += 1;
        if !server.refresh_tokens.remove(refresh_token) {
            return Err(TransportError::Unauthorized("unknown refresh token".into()));
        }
        Ok(server.issue())
    }

    fn push(
        &self,
        access_token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, TransportError> {
        let mut server = self.server();
        server.check(access_token)?;
        server.pushes += 1;
        let size = serde_json::to_vec(request).unwrap().len();
        server.push_sizes.push(size);
        if server.drop_pushes > 0 {
            server.drop_pushes -= 1;
            return Err(TransportError::Network("connection reset".into()));
        }
        let mut results = Vec::new();
        for m in &request.mutations {
            let seen = server.last_applied.get(&request.device_id).copied();
            if seen.is_none_or(|last| m.mutation_id > last) {
                server.version += 1;
                let state = RecordState {
                    id: m.record_id,
                    kind: m.kind,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                    hlc: m.hlc,
                    deleted: m.op == ChangeOp::Delete,
                    body: m.body.as_ref().map(|b| b.to_value().unwrap()),
                };
                let version = server.version;
                server.records.insert(m.record_id, (version, state));
                server.last_applied.insert(request.device_id, m.mutation_id);
            }
            results.push(MutationOutcome {
                mutation_id: m.mutation_id,
                status: OutcomeStatus::Applied,
                conflict: false,
                problem: None,
            });
        }
        if server.lose_push_answers > 0 {
            server.lose_push_answers -= 1;
            return Err(TransportError::Network(
                "timed out reading the answer".into(),
            ));
        }
        Ok(PushResponse {
            results,
            last_applied_mutation: server.last_applied.get(&request.device_id).copied(),
        })
    }

    fn pull(
        &self,
        access_token: &str,
        since: OwnerVersion,
        limit: u32,
        device: DeviceId,
    ) -> Result<PullResponse, TransportError> {
        let mut server = self.server();
        server.check(access_token)?;
        server.pulls += 1;
        if server.fail_pull == Some(server.pulls) {
            return Err(TransportError::Network("connection reset".into()));
        }
        let mut newer: Vec<&(u64, RecordState)> = server
            .records
            .values()
            .filter(|(v, _)| *v > since.0)
            .collect();
        newer.sort_by_key(|(v, _)| *v);
        let has_more = newer.len() > limit as usize;
        newer.truncate(limit as usize);
        let changes: Vec<PulledChange> = newer
            .into_iter()
            .map(|(v, state)| PulledChange::Record {
                version: OwnerVersion(*v),
                record: state.clone(),
            })
            .collect();
        Ok(PullResponse {
            cursor: changes.last().map_or(since, PulledChange::version),
            changes,
            has_more,
            last_applied_mutation: server.last_applied.get(&device).copied(),
            server_time: None,
        })
    }
}

struct Phone {
    _dir: TempDir,
    store: Arc<JournalStore>,
    secrets: Arc<InMemorySecrets>,
    client: SyncClient,
}

fn phone(transport: &Arc<FakeTransport>) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(JournalStore::open(dir.path().join("journal.db")).unwrap());
    let secrets = Arc::new(InMemorySecrets::new());
    let client = SyncClient::new(
        Arc::clone(&store),
        Arc::clone(transport) as Arc<dyn Transport>,
        Arc::clone(&secrets) as Arc<dyn SecretStore>,
    );
    Phone {
        _dir: dir,
        store,
        secrets,
        client,
    }
}

fn signed_in_phone(transport: &Arc<FakeTransport>) -> Phone {
    let p = phone(transport);
    p.client.sign_in(EMAIL, PASSWORD).unwrap();
    p
}

fn entries(n: usize) -> Vec<RecordBody> {
    (0..n)
        .map(|i| {
            JournalEntry::new(format!("entry number {i}"), Phase::Integration)
                .unwrap()
                .into()
        })
        .collect()
}

#[test]
fn sign_in_keeps_the_refresh_token_in_the_secret_store() {
    let transport = Arc::new(FakeTransport::default());
    let p = phone(&transport);
    assert!(!p.client.is_signed_in());
    assert!(matches!(
        p.client.sign_in(EMAIL, "wrong password").unwrap_err(),
        SyncError::WrongCredentials(_)
    ));
    assert_eq!(p.secrets.get(REFRESH_TOKEN_KEY), None);

    p.client.sign_in(EMAIL, PASSWORD).unwrap();
    assert!(p.client.is_signed_in());
    assert_eq!(
        p.secrets.get(REFRESH_TOKEN_KEY).as_deref(),
        Some("refresh-1")
    );

    p.client.sign_out();
    assert!(!p.client.is_signed_in());
    assert_eq!(p.secrets.get(REFRESH_TOKEN_KEY), None);
    assert!(matches!(
        p.client.sync().unwrap_err(),
        SyncError::NotSignedIn
    ));
}

#[test]
fn a_sync_pushes_then_pulls_and_another_phone_receives() {
    let transport = Arc::new(FakeTransport::default());
    let a = signed_in_phone(&transport);
    let first = a.store.create(entries(1).remove(0)).unwrap();
    let second = a.store.create(entries(2).remove(1)).unwrap();
    a.store.delete(second.id).unwrap();

    let report = a.client.sync().unwrap();
    assert_eq!(
        report,
        SyncReport {
            pushed: 3,
            // Its own changes coming back are not news.
            pulled: 0,
            ..SyncReport::default()
        }
    );
    assert_eq!(a.store.pending_change_count().unwrap(), 0);
    assert_eq!(a.store.pull_cursor().unwrap(), OwnerVersion(3));
    assert_eq!(
        a.store.get(first.id).unwrap(),
        first,
        "the echo changes nothing"
    );

    // Nothing new: a second sync sends and applies nothing.
    let again = a.client.sync().unwrap();
    assert_eq!(again, SyncReport::default());

    // The same patient's other phone.
    let b = signed_in_phone(&transport);
    let report = b.client.sync().unwrap();
    assert_eq!((report.pushed, report.pulled), (0, 2));
    assert_eq!(b.store.get(first.id).unwrap(), first);
    assert!(b.store.get(second.id).is_err(), "the delete arrived too");

    // An edit there comes back here, stamped after what it saw.
    let edited = b
        .store
        .update(
            first.id,
            JournalEntry::new("edited on the other phone", Phase::Integration)
                .unwrap()
                .into(),
        )
        .unwrap();
    b.client.sync().unwrap();
    a.client.sync().unwrap();
    assert_eq!(a.store.get(first.id).unwrap(), edited);
    assert!(edited.hlc > first.hlc);
}

#[test]
fn an_expired_access_token_is_refreshed_once() {
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    p.store.create(entries(1).remove(0)).unwrap();
    transport.server().access_tokens.clear(); // every access token expires

    let report = p.client.sync().unwrap();
    assert_eq!(report.pushed, 1);
    assert_eq!(
        transport.server().refreshes,
        1,
        "one refresh for the whole sync"
    );
    assert_eq!(
        p.secrets.get(REFRESH_TOKEN_KEY).as_deref(),
        Some("refresh-2"),
        "the rotated refresh token is kept"
    );
}

#[test]
fn refused_after_a_refresh_is_not_signed_in() {
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    p.store.create(entries(1).remove(0)).unwrap();
    transport.server().refuse_all_access = true;
    assert!(matches!(
        p.client.sync().unwrap_err(),
        SyncError::NotSignedIn
    ));
    assert_eq!(
        transport.server().refreshes,
        1,
        "refreshed once, not in a loop"
    );
    assert_eq!(p.store.pending_change_count().unwrap(), 1, "nothing lost");

    // A refresh token the server no longer knows is forgotten.
    transport.server().refuse_all_access = false;
    transport.server().refresh_tokens.clear();
    transport.server().access_tokens.clear();
    assert!(matches!(
        p.client.sync().unwrap_err(),
        SyncError::NotSignedIn
    ));
    assert_eq!(p.secrets.get(REFRESH_TOKEN_KEY), None);
    assert!(!p.client.is_signed_in());

    p.client.sign_in(EMAIL, PASSWORD).unwrap();
    assert_eq!(p.client.sync().unwrap().pushed, 1);
}

#[test]
fn a_network_failure_mid_push_loses_nothing_and_the_next_sync_completes() {
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    p.store.create_many(entries(650)).unwrap();
    // The first batch of 500 goes through; the second never arrives.
    let flaky = Arc::new(SecondPushFails {
        inner: Arc::clone(&transport),
        calls: Mutex::new(0),
    });
    let client = SyncClient::new(
        Arc::clone(&p.store),
        Arc::clone(&flaky) as Arc<dyn Transport>,
        Arc::clone(&p.secrets) as Arc<dyn SecretStore>,
    );
    assert!(matches!(client.sync().unwrap_err(), SyncError::Network(_)));
    assert_eq!(transport.server().records.len(), 500);
    assert_eq!(
        p.store.pending_change_count().unwrap(),
        150,
        "the acknowledged batch left, the rest stays"
    );
    assert_eq!(p.store.pull_cursor().unwrap(), OwnerVersion(0));

    let report = client.sync().unwrap();
    assert_eq!(report.pushed, 150);
    assert_eq!(
        report.pulled, 0,
        "two pull pages of its own changes: no news"
    );
    assert_eq!(p.store.pull_cursor().unwrap(), OwnerVersion(650));
    assert_eq!(p.store.pending_change_count().unwrap(), 0);
    assert_eq!(transport.server().records.len(), 650);
    assert_eq!(transport.server().version, 650, "nothing applied twice");
}

/// Passes every call through, except that the second push fails with a
/// network error before reaching the server.
struct SecondPushFails {
    inner: Arc<FakeTransport>,
    calls: Mutex<u32>,
}

impl Transport for SecondPushFails {
    fn sign_in(&self, email: &str, password: &str) -> Result<Tokens, TransportError> {
        self.inner.sign_in(email, password)
    }
    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        self.inner.refresh(refresh_token)
    }
    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == 2 {
            return Err(TransportError::Network("connection reset".into()));
        }
        self.inner.push(token, request)
    }
    fn pull(
        &self,
        token: &str,
        since: OwnerVersion,
        limit: u32,
        device: DeviceId,
    ) -> Result<PullResponse, TransportError> {
        self.inner.pull(token, since, limit, device)
    }
}

#[test]
fn a_lost_push_answer_is_replayed_without_applying_twice() {
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    p.store.create_many(entries(3)).unwrap();
    transport.server().lose_push_answers = 1;

    assert!(matches!(
        p.client.sync().unwrap_err(),
        SyncError::Network(_)
    ));
    assert_eq!(transport.server().version, 3, "the server has them");
    assert_eq!(
        p.store.pending_change_count().unwrap(),
        3,
        "the phone keeps them"
    );

    let report = p.client.sync().unwrap();
    assert_eq!(report.pushed, 3, "replayed, answered as before");
    assert_eq!(transport.server().version, 3, "not applied twice");
    assert_eq!(p.store.pending_change_count().unwrap(), 0);
    assert_eq!(report.pulled, 0, "its own changes came back, not news");
}

#[test]
fn a_server_that_acknowledges_nothing_stops_the_sync() {
    struct Forgetful(Arc<FakeTransport>);
    impl Transport for Forgetful {
        fn sign_in(&self, e: &str, p: &str) -> Result<Tokens, TransportError> {
            self.0.sign_in(e, p)
        }
        fn refresh(&self, r: &str) -> Result<Tokens, TransportError> {
            self.0.refresh(r)
        }
        fn push(&self, _: &str, _: &PushRequest) -> Result<PushResponse, TransportError> {
            Ok(PushResponse {
                results: vec![],
                last_applied_mutation: None,
            })
        }
        fn pull(
            &self,
            t: &str,
            s: OwnerVersion,
            l: u32,
            d: DeviceId,
        ) -> Result<PullResponse, TransportError> {
            self.0.pull(t, s, l, d)
        }
    }
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    p.store.create_many(entries(1)).unwrap();
    let client = SyncClient::new(
        Arc::clone(&p.store),
        Arc::new(Forgetful(Arc::clone(&transport))),
        Arc::clone(&p.secrets) as Arc<dyn SecretStore>,
    );
    assert!(matches!(client.sync().unwrap_err(), SyncError::Protocol(_)));
    assert_eq!(p.store.pending_change_count().unwrap(), 1);
}

#[test]
fn errors_say_whether_to_try_again() {
    assert!(SyncError::Network("down".into()).is_transient());
    let rejected = |status| SyncError::Rejected {
        status,
        problem_type: "t".into(),
        detail: "d".into(),
        retry_after: None,
        violations: Vec::new(),
    };
    assert!(rejected(503).is_transient());
    assert!(rejected(429).is_transient());
    assert!(!rejected(422).is_transient());
    assert!(!SyncError::NotSignedIn.is_transient());
    assert!(SyncError::NotSignedIn.to_string().contains("sign in again"));
}

#[test]
fn long_entries_are_pushed_in_batches_the_server_accepts() {
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    let long: Vec<RecordBody> = (0..12)
        .map(|i| {
            JournalEntry::new(format!("{i} {}", "words ".repeat(16_000)), Phase::Dosing)
                .unwrap()
                .into()
        })
        .collect();
    p.store.create_many(long).unwrap();
    let report = p.client.sync().unwrap();
    assert_eq!(report.pushed, 12);
    let sizes = transport.server().push_sizes.clone();
    assert!(sizes.len() > 1, "{sizes:?}");
    assert!(
        sizes.iter().all(|s| *s <= MAX_PUSH_BYTES + 1024),
        "{sizes:?}"
    );
}

#[test]
fn a_push_refused_as_too_large_is_retried_in_smaller_batches() {
    /// Refuses pushes of more than two mutations, as a server with a small
    /// body limit would.
    struct Small(Arc<FakeTransport>);
    impl Transport for Small {
        fn sign_in(&self, e: &str, p: &str) -> Result<Tokens, TransportError> {
            self.0.sign_in(e, p)
        }
        fn refresh(&self, r: &str) -> Result<Tokens, TransportError> {
            self.0.refresh(r)
        }
        fn push(&self, t: &str, r: &PushRequest) -> Result<PushResponse, TransportError> {
            if r.mutations.len() > 2 {
                return Err(TransportError::Rejected {
                    status: 413,
                    problem_type: "urn:kap-journal:problem:payload-too-large".into(),
                    detail: "the request body is larger than 1048576 bytes".into(),
                    retry_after: None,
                    violations: Vec::new(),
                });
            }
            self.0.push(t, r)
        }
        fn pull(
            &self,
            t: &str,
            s: OwnerVersion,
            l: u32,
            d: DeviceId,
        ) -> Result<PullResponse, TransportError> {
            self.0.pull(t, s, l, d)
        }
    }
    let transport = Arc::new(FakeTransport::default());
    let p = signed_in_phone(&transport);
    p.store.create_many(entries(7)).unwrap();
    let client = SyncClient::new(
        Arc::clone(&p.store),
        Arc::new(Small(Arc::clone(&transport))),
        Arc::clone(&p.secrets) as Arc<dyn SecretStore>,
    );
    let report = client.sync().unwrap();
    assert_eq!((report.pushed, report.pulled), (7, 0));
    assert_eq!(p.store.pending_change_count().unwrap(), 0);
}

/// The journal's pulled records, counted through the public list.
fn listed(store: &JournalStore) -> usize {
    let mut query = crate::query::ListQuery::all();
    query.limit = Some(100);
    let mut count = 0;
    loop {
        let page = store.list(&query).unwrap();
        count += page.records.len();
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return count,
        }
    }
}

#[test]
fn pages_are_applied_in_order_while_the_next_is_asked_for() {
    let transport = Arc::new(FakeTransport::default());
    let writer = signed_in_phone(&transport);
    writer.store.create_many(entries(2_100)).unwrap();
    writer.client.sync().unwrap();
    let first_page_end = {
        let server = transport.server();
        let mut versions: Vec<u64> = server.records.values().map(|(v, _)| *v).collect();
        versions.sort_unstable();
        OwnerVersion(versions[999])
    };

    // The second page, asked for while the first is written, is lost on
    // the network: the first page stays written, the sync says so.
    let phone = signed_in_phone(&transport);
    {
        let mut server = transport.server();
        server.pulls = 0;
        server.fail_pull = Some(2);
    }
    assert!(matches!(
        phone.client.sync().unwrap_err(),
        SyncError::Network(_)
    ));
    assert_eq!(phone.store.pull_cursor().unwrap(), first_page_end);
    assert_eq!(listed(&phone.store), 1_000);
    // The next sync goes on from there: two more pages.
    {
        let mut server = transport.server();
        server.pulls = 0;
        server.fail_pull = None;
    }
    let report = phone.client.sync().unwrap();
    assert_eq!(report.pulled, 1_100);
    assert_eq!(transport.server().pulls, 2);
    assert_eq!(listed(&phone.store), 2_100);

    // A page that cannot be applied stops the sync before anything after
    // it is written, even though the next page was already asked for.
    let broken = {
        let mut server = transport.server();
        let (_, state) = server.records.values_mut().min_by_key(|(v, _)| *v).unwrap();
        let body = state.body.take();
        (state.id, body)
    };
    let fresh = signed_in_phone(&transport);
    transport.server().pulls = 0;
    assert!(matches!(
        fresh.client.sync().unwrap_err(),
        SyncError::Storage(_)
    ));
    assert_eq!(transport.server().pulls, 2, "the next page was asked for");
    assert_eq!(fresh.store.pull_cursor().unwrap(), OwnerVersion(0));
    assert_eq!(listed(&fresh.store), 0, "nothing of the pages was written");
    // Mended on the server, the same phone gets everything.
    {
        let mut server = transport.server();
        let (_, state) = server.records.get_mut(&broken.0).unwrap();
        state.body = broken.1;
    }
    fresh.client.sync().unwrap();
    assert_eq!(listed(&fresh.store), 2_100);
}
