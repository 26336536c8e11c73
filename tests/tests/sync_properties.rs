//! Sync as a state machine: a patient's 2–3 phones write, edit, delete and
//! restore records (journal entries, mood check-ins, dosing sessions,
//! intentions), sync through a faulty network (requests dropped, answers
//! lost after the server committed, requests sent twice), crash part-way
//! through a sync and start again, and old pushes arrive late — in random
//! order, generated and shrunk by `proptest-state-machine`. After every case
//! the network turns quiet and every phone syncs twice, in turn; then:
//!
//! - **(a) convergence**: every phone's live records equal the server's, and
//!   every phone keeps the server's conflict revisions;
//! - **(b) no text lost**: every journal-entry text a phone saved is still
//!   on the server — as the record's content or as one of its revisions —
//!   unless someone replaced it knowingly: an edit or delete *made on that
//!   very version* (on any phone). A text never vanishes because of a
//!   concurrent edit, a delete of another version, a fault or a crash;
//! - **(c) replays are harmless**: every old push of every phone sent again
//!   changes nothing on the server (same records, tombstones and revisions,
//!   and no new version for a phone to pull);
//! - **(d) deletes stick**: a record that every phone which changed it
//!   deleted last (so no edit anywhere came after) is deleted on the server,
//!   and so on every phone. Strict: a record whose latest change by clock
//!   stamp, over all phones, was a delete is deleted — what the conflict
//!   rules promise ("delete vs edit: the later by clock stamp wins").
//!
//! Along the way: a sync that succeeds leaves nothing in the outbox, and a
//! late replay of an old push is always answered, never refused.
//!
//! This test found two bugs of the conflict rules that broke (d), now fixed
//! and kept as step-by-step regression tests at the end of this file: a
//! field merge on the server outlived deletes made before it arrived
//! (intentions, dosing sessions), and a delete that reached a tombstone lost
//! to an earlier edit arriving after it. (d) is checked in its strict form
//! on every kind; `SYNC_PROPERTIES_STRICT=0` checks only the first form.
//!
//! Phones read a wall clock of the case's, not the machine's: every step
//! moves it on by a millisecond, and each phone's clock is off by a skew
//! drawn for the case (up to ±5 s), so a case runs the same however fast
//! the machine is, and phones' clocks disagree as they do in life.
//!
//! Each case starts a server of its own (SQLite in a temporary folder, on a
//! loopback port), registers one patient and signs the phones in. By
//! default 12 cases of 20–50 steps run (about 5 s on 2 cores); proptest's
//! environment variables override that:
//!
//! ```sh
//! # a larger run: 1,000 cases, shrinking a failure for at most 10 minutes
//! PROPTEST_CASES=1000 PROPTEST_MAX_SHRINK_TIME=600000 \
//!     cargo test -p journal-e2e --test sync_properties
//! # against PostgreSQL (TEST_DATABASE_URL; a database per case)
//! SYNC_PROPERTIES_BACKEND=postgres PROPTEST_CASES=200 \
//!     cargo test -p journal-e2e --test sync_properties
//! # every step of every case
//! PROPTEST_VERBOSE=1 cargo test -p journal-e2e --test sync_properties -- --nocapture
//! ```
//!
//! A failure is shrunk to a short list of steps (printed as "minimal failing
//! input"), and its seed is kept in `tests/proptest-regressions/
//! sync_properties.txt`, which runs it first next time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use journal_core::Phase;
use journal_core::records::{
    DosingSession, Intention, IntentionStatus, JournalEntry, MoodCheckIn, Reflection, Route,
    SessionStatus,
};
use journal_core::store::{JournalStore, StoreError};
use journal_core::sync::{InMemorySecrets, Stamp, SyncClient};
use journal_core::{ManualClock, RecordBody, RecordId, SystemClock, WallClock};
use journal_e2e::{Backend, Fault, FaultyTransport, Holdings, LiveServer, Phone};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

const PASSWORD: &str = "correct horse battery staple";

/// Cases run when `PROPTEST_CASES` is not set: few enough for CI.
const DEFAULT_CASES: u32 = 12;

/// Shrink steps when `PROPTEST_MAX_SHRINK_ITERS` is not set: each replays a
/// whole case against a new server, so shrinking is bounded.
const DEFAULT_MAX_SHRINK_ITERS: u32 = 512;

fn config() -> ProptestConfig {
    // `default()` reads every PROPTEST_* variable; only those left unset get
    // this file's defaults.
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        config.max_shrink_iters = DEFAULT_MAX_SHRINK_ITERS;
    }
    // Relative to the package (tests run in `tests/`): proptest's default
    // looks for a `lib.rs` beside this file, which integration tests lack.
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/sync_properties.txt",
    )));
    config
}

fn backend() -> Backend {
    match std::env::var("SYNC_PROPERTIES_BACKEND").as_deref() {
        Ok("postgres" | "postgresql") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

fn strict() -> bool {
    std::env::var("SYNC_PROPERTIES_STRICT").as_deref() != Ok("0")
}

// ---------------------------------------------------------------------------
// The reference model: which steps can be generated
// ---------------------------------------------------------------------------

/// The kinds of record the phones write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// Journal entries: a losing text is kept as a revision.
    Entry,
    /// Mood check-ins: the later version wins whole.
    CheckIn,
    /// Dosing sessions: merged field by field.
    Session,
    /// Intentions (for a session): merged field by field.
    Intention,
}

const KINDS: [Kind; 4] = [Kind::Entry, Kind::CheckIn, Kind::Session, Kind::Intention];

/// Where a sync is cut: the request at which the app is killed never leaves
/// the phone, or it reaches the server and commits but its answer is never
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    BeforeSending,
    AfterCommit,
}

/// One step of a case. A phone edits, deletes or restores one of the
/// records of a kind it shows (`pick`, counted modulo how many it shows, in
/// the order they were created), as a patient can only change what they
/// see; a step with nothing to pick does nothing.
#[derive(Debug, Clone)]
enum Step {
    /// A phone creates a record (an intention: for the `session`-th session
    /// created in the case, if the phone shows it).
    Create {
        phone: usize,
        kind: Kind,
        session: usize,
    },
    /// A phone edits a record; `variant` picks what changes.
    Edit {
        phone: usize,
        kind: Kind,
        pick: usize,
        variant: u8,
    },
    /// A phone deletes a record.
    Delete {
        phone: usize,
        kind: Kind,
        pick: usize,
    },
    /// A phone restores one of the entry revisions it keeps (counted over
    /// every entry created in the case, deleted ones included).
    Restore { phone: usize, pick: usize },
    /// A phone syncs; each request meets a fault with probability
    /// `fault_percent` % (drawn from `seed`). It may fail.
    Sync {
        phone: usize,
        fault_percent: u32,
        seed: u64,
    },
    /// A phone syncs and the app is killed at request `at` (modulo the
    /// requests the sync makes), then started again.
    CrashMidSync {
        phone: usize,
        at: usize,
        crash: Crash,
    },
    /// One of the pushes a phone sent earlier arrives again, late.
    ReplayOldPush { phone: usize, pick: usize },
}

/// What the generator knows: the phones (by how far each one's clock is
/// off, in milliseconds), and how many records of each kind have been
/// created so far.
#[derive(Debug, Clone)]
struct Plan {
    skews: Vec<i64>,
    created: BTreeMap<Kind, usize>,
}

impl Plan {
    fn count(&self, kind: Kind) -> usize {
        self.created.get(&kind).copied().unwrap_or(0)
    }
}

struct SyncMachine;

fn create(phone: std::ops::Range<usize>, kind: Kind) -> BoxedStrategy<Step> {
    phone
        .prop_map(move |phone| Step::Create {
            phone,
            kind,
            session: 0,
        })
        .boxed()
}

impl ReferenceStateMachine for SyncMachine {
    type State = Plan;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Plan> {
        let skew = prop_oneof![2 => Just(0i64), 2 => -50i64..50, 1 => -5_000i64..5_000];
        proptest::collection::vec(skew, 2..=3)
            .prop_map(|skews| Plan {
                skews,
                created: BTreeMap::new(),
            })
            .boxed()
    }

    fn transitions(plan: &Plan) -> BoxedStrategy<Step> {
        let phone = 0..plan.skews.len();
        let fault_percent =
            prop_oneof![3 => Just(0u32), 1 => Just(25), 1 => Just(50), 1 => Just(80)];
        let crash = prop_oneof![Just(Crash::BeforeSending), Just(Crash::AfterCommit)];
        let mut choices: Vec<(u32, BoxedStrategy<Step>)> = vec![
            (3, create(phone.clone(), Kind::Entry)),
            (1, create(phone.clone(), Kind::CheckIn)),
            (1, create(phone.clone(), Kind::Session)),
            (
                8,
                (phone.clone(), fault_percent, any::<u64>())
                    .prop_map(|(phone, fault_percent, seed)| Step::Sync {
                        phone,
                        fault_percent,
                        seed,
                    })
                    .boxed(),
            ),
            (
                2,
                (phone.clone(), 0usize..4, crash)
                    .prop_map(|(phone, at, crash)| Step::CrashMidSync { phone, at, crash })
                    .boxed(),
            ),
            (
                1,
                (phone.clone(), 0usize..64)
                    .prop_map(|(phone, pick)| Step::ReplayOldPush { phone, pick })
                    .boxed(),
            ),
        ];
        let sessions = plan.count(Kind::Session);
        if sessions > 0 {
            choices.push((
                2,
                (phone.clone(), 0..sessions)
                    .prop_map(|(phone, session)| Step::Create {
                        phone,
                        kind: Kind::Intention,
                        session,
                    })
                    .boxed(),
            ));
        }
        if plan.count(Kind::Entry) > 0 {
            choices.push((
                1,
                (phone.clone(), 0usize..8)
                    .prop_map(|(phone, pick)| Step::Restore { phone, pick })
                    .boxed(),
            ));
        }
        for kind in KINDS {
            if plan.count(kind) == 0 {
                continue;
            }
            let (edit_weight, delete_weight) = match kind {
                Kind::Entry => (8, 3),
                Kind::Intention => (4, 2),
                Kind::CheckIn | Kind::Session => (2, 1),
            };
            choices.push((
                edit_weight,
                (phone.clone(), 0usize..8, any::<u8>())
                    .prop_map(move |(phone, pick, variant)| Step::Edit {
                        phone,
                        kind,
                        pick,
                        variant,
                    })
                    .boxed(),
            ));
            choices.push((
                delete_weight,
                (phone.clone(), 0usize..8)
                    .prop_map(move |(phone, pick)| Step::Delete { phone, kind, pick })
                    .boxed(),
            ));
        }
        Union::new_weighted(choices).boxed()
    }

    /// Keeps shrunk sequences meaningful: a step names only phones that
    /// exist, and records of kinds an earlier step created.
    fn preconditions(plan: &Plan, step: &Step) -> bool {
        let phones = plan.skews.len();
        match *step {
            Step::Create {
                phone,
                kind,
                session,
            } => phone < phones && (kind != Kind::Intention || session < plan.count(Kind::Session)),
            Step::Edit { phone, kind, .. } | Step::Delete { phone, kind, .. } => {
                phone < phones && plan.count(kind) > 0
            }
            Step::Restore { phone, .. } => phone < phones && plan.count(Kind::Entry) > 0,
            Step::Sync { phone, .. }
            | Step::CrashMidSync { phone, .. }
            | Step::ReplayOldPush { phone, .. } => phone < phones,
        }
    }

    fn apply(mut plan: Plan, step: &Step) -> Plan {
        if let Step::Create { kind, .. } = step {
            *plan.created.entry(*kind).or_default() += 1;
        }
        plan
    }
}

// ---------------------------------------------------------------------------
// The system under test, and what it must guarantee
// ---------------------------------------------------------------------------

/// A journal-entry text a phone saved: the version it made.
#[derive(Debug, Clone)]
struct EntryText {
    record: RecordId,
    /// The version's clock stamp (`Hlc::to_i64`).
    stamp: i64,
    text: String,
    phone: usize,
}

/// A change a phone made to a record, with its stamp.
#[derive(Debug, Clone, Copy)]
struct Change {
    phone: usize,
    stamp: Stamp,
    deleted: bool,
}

/// A wall clock of the case's (every step moves it on by a millisecond), off
/// by the phone's skew.
struct SkewedClock {
    base: ManualClock,
    skew: i64,
}

impl WallClock for SkewedClock {
    fn now_millis(&self) -> u64 {
        self.base.now_millis().saturating_add_signed(self.skew)
    }
}

/// A phone as `journal_e2e::Phone` makes one (a journal file of its own and
/// a sync client over a `FaultyTransport`, signed in), but reading the
/// case's clock: cases do not depend on how fast the machine runs (which
/// lets proptest shrink a failure), and phones' clocks can disagree.
struct Device {
    store: Arc<JournalStore>,
    client: SyncClient,
    network: Arc<FaultyTransport>,
    secrets: Arc<InMemorySecrets>,
    clock: Arc<SkewedClock>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Device {
    fn new(server: &LiveServer, email: &str, clock: SkewedClock) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let clock = Arc::new(clock);
        let store = Arc::new(JournalStore::open_with_clock(&path, clock.clone()).unwrap());
        let network = Arc::new(FaultyTransport::new(&server.url()));
        let secrets = Arc::new(InMemorySecrets::new());
        let client = SyncClient::new(Arc::clone(&store), network.clone(), secrets.clone());
        client.sign_in(email, PASSWORD).unwrap();
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
    fn restart(self) -> Self {
        let Device {
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
        let store = Arc::new(JournalStore::open_with_clock(&path, clock.clone()).unwrap());
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

    /// The live records' ids and content JSON, sorted by id (as
    /// `Phone::live`).
    fn live(&self) -> Vec<(RecordId, serde_json::Value)> {
        journal_e2e::live_records(&self.store)
    }
}

/// A server, one patient, their phones, and what they did.
struct World {
    server: LiveServer,
    email: String,
    phones: Vec<Device>,
    /// The case's wall clock, which every phone's reads (off by its skew).
    clock: ManualClock,
    /// The records created, by kind, in order (`None`: the create did
    /// nothing).
    slots: BTreeMap<Kind, Vec<Option<RecordId>>>,
    kinds: HashMap<RecordId, Kind>,
    /// Every journal-entry version a phone saved.
    entry_texts: Vec<EntryText>,
    /// Versions (record, stamp) some phone edited or deleted knowingly: the
    /// change was made on that version.
    replaced: HashSet<(RecordId, i64)>,
    /// Every change each phone made to each record.
    changes: BTreeMap<RecordId, Vec<Change>>,
    /// How many pushes each phone has sent (its network keeps the last 64).
    pushes: Vec<usize>,
    /// Makes every text unique, so that each can be traced.
    counter: u64,
}

impl World {
    fn new(skews: &[i64]) -> Self {
        let server = LiveServer::start(backend()).expect("the PostgreSQL backend is skipped");
        let email = format!("patient-{}@example.org", uuid::Uuid::new_v4().simple());
        server.register(&email, PASSWORD);
        let clock = ManualClock::at(SystemClock.now_millis());
        let phones: Vec<Device> = skews
            .iter()
            .map(|&skew| {
                let clock = SkewedClock {
                    base: clock.clone(),
                    skew,
                };
                Device::new(&server, &email, clock)
            })
            .collect();
        Self {
            server,
            email,
            pushes: vec![0; phones.len()],
            phones,
            clock,
            slots: BTreeMap::new(),
            kinds: HashMap::new(),
            entry_texts: Vec::new(),
            replaced: HashSet::new(),
            changes: BTreeMap::new(),
            counter: 0,
        }
    }

    fn text(&mut self, phone: usize, what: &str) -> String {
        self.counter += 1;
        format!("{what} {} written on phone {phone}", self.counter)
    }

    /// The `pick`-th (modulo) record of `kind` that `phone` shows.
    fn pick(&self, phone: usize, kind: Kind, pick: usize) -> Option<RecordId> {
        let shown: Vec<RecordId> = self
            .slots
            .get(&kind)
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|id| self.phones[phone].store.get(*id).is_ok())
            .collect();
        (!shown.is_empty()).then(|| shown[pick % shown.len()])
    }

    fn holdings(&self) -> Holdings {
        self.server.holdings(&self.email, PASSWORD)
    }

    fn run(&mut self, step: Step) {
        self.clock.advance(1);
        match step {
            Step::Create {
                phone,
                kind,
                session,
            } => {
                let id = self.create(phone, kind, session);
                self.slots.entry(kind).or_default().push(id);
            }
            Step::Edit {
                phone,
                kind,
                pick,
                variant,
            } => {
                if let Some(id) = self.pick(phone, kind, pick) {
                    self.edit(phone, kind, id, variant);
                }
            }
            Step::Delete { phone, kind, pick } => {
                if let Some(id) = self.pick(phone, kind, pick) {
                    self.delete(phone, id);
                }
            }
            Step::Restore { phone, pick } => self.restore(phone, pick),
            Step::Sync {
                phone,
                fault_percent,
                seed,
            } => {
                self.count_push(phone);
                let p = &self.phones[phone];
                p.network.random_faults(seed, fault_percent);
                let result = p.client.sync();
                p.network.random_faults(0, 0);
                if result.is_ok() {
                    assert_eq!(
                        p.store.pending_change_count().unwrap(),
                        0,
                        "a sync that succeeded left changes in the outbox"
                    );
                }
            }
            Step::CrashMidSync { phone, at, crash } => {
                // A sync is one push when there is anything to push (the
                // outbox holds far fewer than a batch), then one pull page.
                let requests = usize::from(self.count_push(phone)) + 1;
                let at = at % requests;
                let fault = match crash {
                    Crash::BeforeSending => Fault::DropRequest,
                    Crash::AfterCommit => Fault::DropResponse,
                };
                let p = &self.phones[phone];
                p.network
                    .script(std::iter::repeat_n(Fault::None, at).chain([fault]));
                let result = p.client.sync();
                assert!(
                    result.is_err(),
                    "the scripted crash at request {at} did not happen: {result:?}"
                );
                let crashed = self.phones.remove(phone);
                self.phones.insert(phone, crashed.restart());
            }
            Step::ReplayOldPush { phone, pick } => {
                if let Some(answer) = self.phones[phone].network.replay_old_push(pick) {
                    answer.expect("a late replay of an old push was refused");
                }
            }
        }
    }

    /// Counts the push the next sync of `phone` sends, if it sends one.
    fn count_push(&mut self, phone: usize) -> bool {
        let pending = self.phones[phone].store.pending_change_count().unwrap() > 0;
        if pending {
            self.pushes[phone] += 1;
        }
        pending
    }

    fn create(&mut self, phone: usize, kind: Kind, session: usize) -> Option<RecordId> {
        let body: RecordBody = match kind {
            Kind::Entry => {
                let text = self.text(phone, "entry");
                JournalEntry::new(text, Phase::Integration).unwrap().into()
            }
            Kind::CheckIn => MoodCheckIn::new(chrono::Utc::now(), 5, 3, 6)
                .unwrap()
                .into(),
            Kind::Session => DosingSession::new(chrono::Utc::now(), Route::Intramuscular)
                .unwrap()
                .into(),
            Kind::Intention => {
                let session = self
                    .slots
                    .get(&Kind::Session)
                    .and_then(|s| s.get(session).copied().flatten())?;
                // Only for a session this phone shows.
                self.phones[phone].store.get(session).ok()?;
                let text = self.text(phone, "intention");
                Intention::new(text, session).unwrap().into()
            }
        };
        let record = self.phones[phone].store.create(body).unwrap();
        self.kinds.insert(record.id, kind);
        self.wrote(phone, &record);
        Some(record.id)
    }

    fn edit(&mut self, phone: usize, kind: Kind, id: RecordId, variant: u8) {
        let current = self.phones[phone].store.get(id).unwrap();
        let body: RecordBody = match current.body.clone() {
            RecordBody::JournalEntry(mut entry) => {
                entry.body = self.text(phone, "entry");
                entry.into()
            }
            RecordBody::MoodCheckIn(mut check_in) => {
                check_in.mood = variant % 11;
                if variant.is_multiple_of(2) {
                    check_in.note = Some(self.text(phone, "note"));
                }
                check_in.into()
            }
            RecordBody::DosingSession(mut session) => {
                match variant % 3 {
                    0 => session.notes = Some(self.text(phone, "session notes")),
                    1 => session.status = SessionStatus::Completed,
                    _ => session.route = Route::NasalSpray,
                }
                session.into()
            }
            RecordBody::Intention(mut intention) => {
                match variant % 3 {
                    0 => intention.text = self.text(phone, "intention"),
                    1 => {
                        intention.status = [
                            IntentionStatus::Fulfilled,
                            IntentionStatus::PartlyFulfilled,
                            IntentionStatus::NotFulfilled,
                            IntentionStatus::Released,
                        ][usize::from(variant / 3) % 4];
                    }
                    _ => {
                        intention.reflection = Some(Reflection {
                            how_it_went: self.text(phone, "reflection"),
                            carry_forward: String::new(),
                        });
                    }
                }
                intention.into()
            }
            other => panic!("a {kind:?} holds {other:?}"),
        };
        let updated = match self.phones[phone].store.update(id, body) {
            Ok(updated) => updated,
            // An intention whose session is deleted cannot be edited.
            Err(StoreError::Invalid(_)) if kind == Kind::Intention => return,
            Err(e) => panic!("editing {kind:?} {id}: {e}"),
        };
        if updated.hlc == current.hlc {
            return; // the same content again: no change
        }
        self.replaced.insert((id, current.hlc.to_i64()));
        self.wrote(phone, &updated);
    }

    fn delete(&mut self, phone: usize, id: RecordId) {
        let current = self.phones[phone].store.get(id).unwrap();
        match self.phones[phone].store.delete(id) {
            Ok(()) => {}
            // A session that intentions still link to stays.
            Err(StoreError::SessionInUse { .. }) => return,
            Err(e) => panic!("deleting {id}: {e}"),
        }
        self.replaced.insert((id, current.hlc.to_i64()));
        let store = &self.phones[phone].store;
        let stamp = Stamp {
            // The delete's stamp: the last the phone's clock handed out.
            hlc: store.last_stamp(),
            device: store.device_id(),
        };
        self.changes.entry(id).or_default().push(Change {
            phone,
            stamp,
            deleted: true,
        });
    }

    fn restore(&mut self, phone: usize, pick: usize) {
        let store = &self.phones[phone].store;
        let revisions: Vec<_> = self
            .slots
            .get(&Kind::Entry)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|id| store.revisions(*id).unwrap())
            .collect();
        if revisions.is_empty() {
            return;
        }
        let revision = &revisions[pick % revisions.len()];
        let before = store.get(revision.record_id).ok();
        let restored = store.restore_revision(revision.id).unwrap();
        if let Some(before) = before {
            if before.hlc == restored.hlc {
                return; // it was the current text already
            }
            self.replaced
                .insert((revision.record_id, before.hlc.to_i64()));
        }
        self.wrote(phone, &restored);
    }

    /// Notes a version a phone saved.
    fn wrote(&mut self, phone: usize, record: &journal_core::Record) {
        if let RecordBody::JournalEntry(entry) = &record.body {
            self.entry_texts.push(EntryText {
                record: record.id,
                stamp: record.hlc.to_i64(),
                text: entry.body.clone(),
                phone,
            });
        }
        let stamp = Stamp {
            hlc: record.hlc,
            device: self.phones[phone].store.device_id(),
        };
        self.changes.entry(record.id).or_default().push(Change {
            phone,
            stamp,
            deleted: false,
        });
    }

    /// The network turns quiet and every phone syncs twice, in turn; then
    /// every property is checked.
    fn settle_and_check(&mut self) {
        for round in 0..2 {
            for (i, phone) in self.phones.iter().enumerate() {
                phone.network.random_faults(0, 0);
                if let Err(e) = phone.client.sync() {
                    panic!("quiet sync {round} of phone {i} failed: {e}");
                }
            }
        }
        let holdings = self.holdings();
        self.check_convergence(&holdings);
        self.check_no_text_lost(&holdings);
        self.check_deletes_stick(&holdings);
        self.check_replays_change_nothing(&holdings);
    }

    /// (a) Every phone shows what the server holds, revisions included.
    fn check_convergence(&self, holdings: &Holdings) {
        let server = holdings.live();
        let mut server_revisions: BTreeMap<RecordId, BTreeSet<String>> = BTreeMap::new();
        for revision in &holdings.revisions {
            server_revisions
                .entry(revision.record_id)
                .or_default()
                .insert(revision.body.to_string());
        }
        for (i, phone) in self.phones.iter().enumerate() {
            assert_eq!(
                phone.store.pending_change_count().unwrap(),
                0,
                "phone {i} still has changes to push after the quiet syncs"
            );
            let live = phone.live();
            if live != server {
                let on_phone: BTreeMap<_, _> = live.into_iter().collect();
                let on_server: BTreeMap<_, _> = server.iter().cloned().collect();
                let differences: Vec<String> = on_phone
                    .keys()
                    .chain(on_server.keys())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter(|id| on_phone.get(id) != on_server.get(id))
                    .map(|id| {
                        format!(
                            "{id}: phone {:?} / server {:?}",
                            on_phone.get(id),
                            on_server.get(id)
                        )
                    })
                    .collect();
                panic!(
                    "(a) phone {i} and the server disagree on {} record(s):\n{}",
                    differences.len(),
                    differences.join("\n")
                );
            }
            for record in &holdings.records {
                let kept: BTreeSet<String> = phone
                    .store
                    .revisions(record.id)
                    .unwrap()
                    .into_iter()
                    .map(|r| r.body.to_string())
                    .collect();
                let expected = server_revisions
                    .get(&record.id)
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(
                    kept, expected,
                    "(a) phone {i} and the server keep different revisions of {}",
                    record.id
                );
            }
        }
    }

    /// (b) Every entry text saved on a phone is on the server, unless some
    /// phone edited or deleted that very version.
    fn check_no_text_lost(&self, holdings: &Holdings) {
        let text_of = |body: &serde_json::Value| {
            body.get("body")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let mut kept: HashMap<RecordId, HashSet<String>> = HashMap::new();
        for record in &holdings.records {
            if let Some(text) = record.body.as_ref().and_then(text_of) {
                kept.entry(record.id).or_default().insert(text);
            }
        }
        for revision in &holdings.revisions {
            if let Some(text) = text_of(&revision.body) {
                kept.entry(revision.record_id).or_default().insert(text);
            }
        }
        let lost: Vec<String> = self
            .entry_texts
            .iter()
            .filter(|w| !self.replaced.contains(&(w.record, w.stamp)))
            .filter(|w| !kept.get(&w.record).is_some_and(|t| t.contains(&w.text)))
            .map(|w| {
                let state = holdings.records.iter().find(|r| r.id == w.record);
                format!(
                    "{:?} (record {}, stamp {:016x}, phone {}); the server holds {:?}",
                    w.text,
                    w.record,
                    w.stamp,
                    w.phone,
                    state.map(|s| (s.deleted, s.hlc, s.body.as_ref().and_then(text_of))),
                )
            })
            .collect();
        assert!(
            lost.is_empty(),
            "(b) {} text(s) saved on a phone are gone from the server:\n{}",
            lost.len(),
            lost.join("\n")
        );
    }

    /// (d) Deletes stick: a record every phone that changed it deleted last
    /// is deleted. Strict (the default; `SYNC_PROPERTIES_STRICT=0` turns it
    /// off): so is a record whose latest change by clock stamp, on any phone,
    /// was a delete.
    fn check_deletes_stick(&self, holdings: &Holdings) {
        let strict = strict();
        for (id, changes) in &self.changes {
            let kind = self.kinds[id];
            let mut last_on_each: BTreeMap<usize, bool> = BTreeMap::new();
            for change in changes {
                last_on_each.insert(change.phone, change.deleted);
            }
            let deleted_last_everywhere = last_on_each.values().all(|deleted| *deleted);
            let latest = changes.iter().max_by_key(|c| c.stamp).unwrap();
            // The strict form implies the first: the latest change of all
            // is the last change of the phone that made it.
            let must_be_deleted = if strict {
                latest.deleted
            } else {
                deleted_last_everywhere
            };
            if !must_be_deleted {
                continue;
            }
            let record = holdings
                .records
                .iter()
                .find(|r| r.id == *id)
                .unwrap_or_else(|| panic!("(d) {kind:?} {id} never reached the server"));
            assert!(
                record.deleted,
                "(d) {kind:?} {id} was deleted last on {}, and the latest change to it by \
                 clock stamp is phone {}'s {}, yet the server holds it live (stamp {:?}): \
                 {:?}\nchanges, in the order made: {changes:?}",
                if deleted_last_everywhere {
                    "every phone that changed it"
                } else {
                    "some phones"
                },
                latest.phone,
                if latest.deleted { "delete" } else { "edit" },
                record.hlc,
                record.body
            );
        }
    }

    /// (c) Every old push sent again changes nothing.
    fn check_replays_change_nothing(&self, before: &Holdings) {
        for (i, phone) in self.phones.iter().enumerate() {
            for pick in 0..self.pushes[i].min(64) {
                if let Some(answer) = phone.network.replay_old_push(pick) {
                    answer.expect("(c) a replay after the end was refused");
                }
            }
        }
        let after = self.holdings();
        let sorted = |h: &Holdings| {
            let mut records = h.records.clone();
            records.sort_by_key(|r| r.id);
            let mut revisions = h.revisions.clone();
            revisions.sort_by_key(|r| r.id);
            (records, revisions)
        };
        assert!(
            sorted(before) == sorted(&after),
            "(c) replaying old pushes changed what the server holds"
        );
        for (i, phone) in self.phones.iter().enumerate() {
            let report = phone.client.sync().unwrap();
            assert_eq!(
                (report.pushed, report.pulled, report.revisions),
                (0, 0, 0),
                "(c) after the replays phone {i} had something to push or pull"
            );
        }
    }
}

impl StateMachineTest for World {
    type SystemUnderTest = World;
    type Reference = SyncMachine;

    fn init_test(plan: &Plan) -> World {
        World::new(&plan.skews)
    }

    fn apply(mut world: World, _plan: &Plan, step: Step) -> World {
        world.run(step);
        world
    }

    fn teardown(mut world: World, _plan: Plan) {
        world.settle_and_check();
    }
}

prop_state_machine! {
    #![proptest_config(config())]

    /// Whatever the phones do, whatever the network does to their syncs.
    #[test]
    fn sync_keeps_every_text_and_converges(sequential 20..50 => World);
}

/// (d) on an intention, step by step. Phone A edits the text, phone B the
/// status; B syncs; then both phones delete the intention, B last, and sync.
/// Every phone's last change was a delete, B's is the latest change of all
/// by clock stamp, so the intention must end deleted. The bug this pins
/// (fixed): A's edit arrived after B's, the server merged the two fields and
/// stamped the merged version with its own clock — later than both deletes,
/// made before the push — so the deletes lost. Merged versions now take
/// `merged_stamp`, the smallest stamp later than what they merge.
#[test]
fn a_delete_later_than_every_edit_beats_a_field_merge() {
    let pause = || std::thread::sleep(std::time::Duration::from_millis(3));
    let server = LiveServer::start(Backend::Sqlite).unwrap();
    let email = "merge-then-delete@example.org";
    server.register(email, PASSWORD);
    let a = Phone::new(&server, email, PASSWORD);
    let b = Phone::new(&server, email, PASSWORD);
    let session = DosingSession::new(chrono::Utc::now(), Route::Intramuscular).unwrap();
    let session = a.store.create(session.into()).unwrap();
    let intention = Intention::new("meet the fear with kindness", session.id).unwrap();
    let id = a.store.create(intention.into()).unwrap().id;
    a.client.sync().unwrap();
    b.client.sync().unwrap();

    let intention_on = |phone: &Phone| match phone.store.get(id).unwrap().body {
        RecordBody::Intention(intention) => intention,
        other => panic!("not an intention: {other:?}"),
    };
    pause();
    let mut on_a = intention_on(&a);
    on_a.text = "meet the fear with curiosity".to_owned();
    let text_edit = a.store.update(id, on_a.into()).unwrap().hlc;
    pause();
    let mut on_b = intention_on(&b);
    on_b.status = IntentionStatus::Released;
    let status_edit = b.store.update(id, on_b.into()).unwrap().hlc;
    b.client.sync().unwrap();
    pause();
    a.store.delete(id).unwrap();
    let delete_on_a = a.store.last_stamp();
    pause();
    b.store.delete(id).unwrap();
    let delete_on_b = b.store.last_stamp();
    assert!(text_edit < status_edit && status_edit < delete_on_a && delete_on_a < delete_on_b);
    pause();
    a.client.sync().unwrap();
    b.client.sync().unwrap();
    a.client.sync().unwrap();

    let holdings = server.holdings(email, PASSWORD);
    let record = holdings.records.iter().find(|r| r.id == id).unwrap();
    assert!(
        record.deleted,
        "both phones deleted the intention last ({delete_on_a:?}, {delete_on_b:?}), after \
         both edits ({text_edit:?}, {status_edit:?}), yet the server holds it live, stamped \
         {:?}: {:?}",
        record.hlc, record.body
    );
}

/// (d) on a journal entry, step by step. A deletes the entry and syncs; B,
/// which has not synced since, edits it; C deletes it after that and syncs
/// before B does. C's delete is the latest change by clock stamp, so the
/// entry must stay deleted (B's text kept as a revision). The bug this pins
/// (fixed): C's delete reached a record already a tombstone and kept the
/// tombstone's older stamp (A's), so B's edit, later than that, revived
/// the entry. A later delete now moves the tombstone's stamp on.
#[test]
fn a_delete_that_reaches_a_tombstone_still_beats_an_earlier_edit() {
    let pause = || std::thread::sleep(std::time::Duration::from_millis(3));
    let server = LiveServer::start(Backend::Sqlite).unwrap();
    let email = "delete-a-tombstone@example.org";
    server.register(email, PASSWORD);
    let a = Phone::new(&server, email, PASSWORD);
    let b = Phone::new(&server, email, PASSWORD);
    let c = Phone::new(&server, email, PASSWORD);
    let entry = JournalEntry::new("the room was warm", Phase::Integration).unwrap();
    let id = a.store.create(entry.into()).unwrap().id;
    for phone in [&a, &b, &c] {
        phone.client.sync().unwrap();
    }

    pause();
    a.store.delete(id).unwrap();
    let delete_on_a = a.store.last_stamp();
    a.client.sync().unwrap();
    pause();
    let mut edited = match b.store.get(id).unwrap().body {
        RecordBody::JournalEntry(entry) => entry,
        other => panic!("not an entry: {other:?}"),
    };
    edited.body = "the room was warm, and I was not afraid".to_owned();
    let edit_on_b = b.store.update(id, edited.into()).unwrap().hlc;
    pause();
    c.store.delete(id).unwrap();
    let delete_on_c = c.store.last_stamp();
    assert!(delete_on_a < edit_on_b && edit_on_b < delete_on_c);
    c.client.sync().unwrap();
    b.client.sync().unwrap();
    for phone in [&a, &b, &c] {
        phone.client.sync().unwrap();
    }

    let holdings = server.holdings(email, PASSWORD);
    let record = holdings.records.iter().find(|r| r.id == id).unwrap();
    assert!(
        record.deleted,
        "C's delete ({delete_on_c:?}) is later than B's edit ({edit_on_b:?}), yet the server \
         holds the entry live, stamped {:?}: {:?}",
        record.hlc, record.body
    );
}
