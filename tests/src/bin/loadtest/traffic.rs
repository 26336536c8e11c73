//! The traffic: worker threads, each a blocking HTTP client with keep-alive
//! driving the devices it owns, picking operations by the mix, timing each
//! one into an HDR histogram.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use journal_core::records::RecordBody;
use journal_core::store::JournalStore;
use journal_core::sync::{
    ChangeOp, HttpTransport, InMemorySecrets, Mutation, OutcomeStatus, PullResponse, PushRequest,
    PushResponse, SyncClient,
};
use journal_core::{DeviceId, HlcClock, MutationId, RecordId, SystemClock};
use journal_e2e::load::{Lcg, PASSWORD, entries};
use std::sync::Arc;

use crate::setup::World;

/// What one step of traffic does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// An up-to-date device asks for changes (`GET /sync/pull`).
    Pull,
    /// A device pushes a few new entries, then pulls until up to date.
    Sync,
    /// A therapist reads a patient's shared feed.
    Feed,
    /// A new phone signs in and syncs everything (a real journal file).
    First,
    /// `GET /healthz`: no database, no token (the HTTP floor).
    Health,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 5] = [Op::Pull, Op::Sync, Op::Feed, Op::First, Op::Health];

    /// Its name in `--mix` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Pull => "pull",
            Op::Sync => "sync",
            Op::Feed => "feed",
            Op::First => "first",
            Op::Health => "health",
        }
    }

    fn index(self) -> usize {
        match self {
            Op::Pull => 0,
            Op::Sync => 1,
            Op::Feed => 2,
            Op::First => 3,
            Op::Health => 4,
        }
    }
}

/// How often each operation is picked: weights, e.g. `pull=90,sync=5,feed=5`.
#[derive(Debug, Clone)]
pub struct Mix {
    weights: Vec<(Op, f64)>,
    total: f64,
}

impl Mix {
    /// Parses `name=weight,…` (weights are non-negative numbers).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("--mix: `{part}` is not name=weight"))?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name.trim())
                .ok_or_else(|| {
                    format!("--mix: unknown operation `{name}` (pull, sync, feed, first, health)")
                })?;
            let weight: f64 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| format!("--mix: `{weight}` is not a non-negative number"))?;
            weights.push((op, weight));
        }
        Self::of(weights)
    }

    /// A mix of the given weights.
    pub fn of(weights: Vec<(Op, f64)>) -> Result<Self, String> {
        let total: f64 = weights.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return Err("--mix: the weights add up to nothing".to_owned());
        }
        Ok(Self { weights, total })
    }

    /// Only `op`.
    pub fn only(op: Op) -> Self {
        Self {
            weights: vec![(op, 1.0)],
            total: 1.0,
        }
    }

    /// Whether `op` is ever picked.
    pub fn has(&self, op: Op) -> bool {
        self.weights.iter().any(|(o, w)| *o == op && *w > 0.0)
    }

    fn pick(&self, rng: &mut Lcg) -> Op {
        let roll = (rng.draw() % 1_000_000) as f64 / 1_000_000.0 * self.total;
        let mut sum = 0.0;
        for (op, weight) in &self.weights {
            sum += weight;
            if roll < sum {
                return *op;
            }
        }
        self.weights.last().map_or(Op::Pull, |(op, _)| *op)
    }

    /// As written in `--mix`.
    pub fn describe(&self) -> String {
        self.weights
            .iter()
            .map(|(op, w)| format!("{}={w}", op.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One device of a patient, as the server knows it: its id, the number of
/// its next change, its pull cursor and its clock.
pub struct Device {
    /// Index into the world's patients.
    pub patient: usize,
    /// Its id.
    pub id: DeviceId,
    /// The number of its next change.
    pub next_mutation: u64,
    /// Its pull cursor.
    pub cursor: u64,
    /// Its clock.
    pub clock: HlcClock<SystemClock>,
}

impl Device {
    /// A device that has not synced yet.
    pub fn new(patient: usize) -> Self {
        Self {
            patient,
            id: DeviceId::new(),
            next_mutation: 1,
            cursor: 0,
            clock: HlcClock::new(SystemClock),
        }
    }
}

/// A keep-alive HTTP client that reads status codes itself.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .max_idle_connections(1_000)
        .max_idle_connections_per_host(1_000)
        .build()
        .into()
}

fn expect_status(
    response: ureq::http::Response<ureq::Body>,
    want: u16,
    what: &str,
) -> Result<String, String> {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("{what}: reading the answer: {e}"))?;
    if status == want {
        Ok(body)
    } else {
        let shown: String = body.chars().take(300).collect();
        Err(format!("{what}: HTTP {status}: {shown}"))
    }
}

/// One pull page for `device`; moves its cursor. Returns whether more follow.
pub fn pull_once(agent: &ureq::Agent, world: &World, device: &mut Device) -> Result<bool, String> {
    let url = format!(
        "{}/api/v1/sync/pull?since={}&limit=500&deviceId={}",
        world.url, device.cursor, device.id
    );
    let response = agent
        .get(&url)
        .header("Authorization", &world.patients[device.patient].bearer)
        .call()
        .map_err(|e| format!("pull: {e}"))?;
    let body = expect_status(response, 200, "pull")?;
    let page: PullResponse =
        serde_json::from_str(&body).map_err(|e| format!("pull: unreadable answer: {e}"))?;
    if page.cursor.0 < device.cursor {
        return Err(format!(
            "pull: the cursor went back from {} to {}",
            device.cursor, page.cursor.0
        ));
    }
    device.cursor = page.cursor.0;
    Ok(page.has_more)
}

/// Pulls until the device is up to date; returns the number of requests.
pub fn pull_all(agent: &ureq::Agent, world: &World, device: &mut Device) -> Result<u64, String> {
    let mut requests = 1;
    while pull_once(agent, world, device)? {
        requests += 1;
    }
    Ok(requests)
}

/// Pushes `bodies` as new records from `device`, checking that every one
/// was applied and acknowledged.
pub fn push_new(
    agent: &ureq::Agent,
    world: &World,
    device: &mut Device,
    bodies: &[RecordBody],
) -> Result<(), String> {
    let now = chrono::Utc::now();
    let mut mutations = Vec::with_capacity(bodies.len());
    for body in bodies {
        let json = body
            .to_json()
            .map_err(|e| format!("push: cannot write a body: {e}"))?;
        mutations.push(Mutation {
            mutation_id: MutationId(device.next_mutation),
            record_id: RecordId::new(),
            kind: body.kind(),
            op: ChangeOp::Upsert,
            hlc: device.clock.tick(),
            base_hlc: None,
            changed_fields: None,
            created_at: now,
            updated_at: now,
            body: Some(
                serde_json::from_str(&json).map_err(|e| format!("push: bad body JSON: {e}"))?,
            ),
        });
        device.next_mutation += 1;
    }
    let last = MutationId(device.next_mutation - 1);
    let request = PushRequest {
        device_id: device.id,
        mutations,
    };
    let json = serde_json::to_vec(&request).map_err(|e| format!("push: {e}"))?;
    let response = agent
        .post(format!("{}/api/v1/sync/push", world.url))
        .header("Authorization", &world.patients[device.patient].bearer)
        .header("Content-Type", "application/json")
        .send(&json[..])
        .map_err(|e| format!("push: {e}"))?;
    let body = expect_status(response, 200, "push")?;
    let answer: PushResponse =
        serde_json::from_str(&body).map_err(|e| format!("push: unreadable answer: {e}"))?;
    if let Some(refused) = answer
        .results
        .iter()
        .find(|r| r.status != OutcomeStatus::Applied)
    {
        return Err(format!("push: a change was refused: {refused:?}"));
    }
    if answer.results.len() != bodies.len() || answer.last_applied_mutation != Some(last) {
        return Err(format!(
            "push: {} outcomes for {} changes, acknowledged through {:?} (sent through {last})",
            answer.results.len(),
            bodies.len(),
            answer.last_applied_mutation
        ));
    }
    Ok(())
}

fn feed(agent: &ureq::Agent, world: &World, device: &Device) -> Result<u64, String> {
    let patient = &world.patients[device.patient];
    let therapist = &world.therapists[patient.therapist];
    let response = agent
        .get(format!(
            "{}/api/v1/therapist/patients/{}/feed?limit=20",
            world.url, patient.id
        ))
        .header("Authorization", &therapist.bearer)
        .call()
        .map_err(|e| format!("feed: {e}"))?;
    let body = expect_status(response, 200, "feed")?;
    let _: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("feed: unreadable answer: {e}"))?;
    Ok(1)
}

/// A new phone: a journal file of its own and a sync client signed in with
/// the password (the folder holds the file: keep it while the phone is used).
pub fn new_phone(url: &str, email: &str) -> Result<(tempfile::TempDir, SyncClient), String> {
    new_phone_with_store(url, email).map(|(dir, _, client)| (dir, client))
}

/// [`new_phone`], with its journal.
pub fn new_phone_with_store(
    url: &str,
    email: &str,
) -> Result<(tempfile::TempDir, Arc<JournalStore>, SyncClient), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("new phone: {e}"))?;
    // Encrypted, as apps open the journal: its key made and kept in the
    // phone's secret store on this first open.
    let secrets = Arc::new(InMemorySecrets::new());
    let store = Arc::new(
        JournalStore::open_with_secrets(dir.path().join("journal.db"), secrets.as_ref())
            .map_err(|e| format!("journal: {e}"))?,
    );
    let transport = Arc::new(HttpTransport::new(url).map_err(|e| format!("new phone: {e}"))?);
    let client = SyncClient::new(Arc::clone(&store), transport, secrets);
    client
        .sign_in(email, PASSWORD)
        .map_err(|e| format!("sign-in: {e}"))?;
    Ok((dir, store, client))
}

/// A new phone signs in and syncs; returns the number of records pulled.
pub fn first_sync(url: &str, email: &str) -> Result<u64, String> {
    let (_dir, client) = new_phone(url, email)?;
    let report = client.sync().map_err(|e| format!("first sync: {e}"))?;
    Ok(report.pulled)
}

fn health(agent: &ureq::Agent, world: &World) -> Result<u64, String> {
    let response = agent
        .get(format!("{}/healthz", world.url))
        .call()
        .map_err(|e| format!("healthz: {e}"))?;
    expect_status(response, 200, "healthz")?;
    Ok(1)
}

/// What one phase measured, per operation.
pub struct PhaseResult {
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// HTTP requests sent (a sync counts its push and each pull page).
    pub requests: u64,
    /// Per operation: latency of each successful one, in µs.
    pub latencies: Vec<(Op, Histogram<u64>)>,
    /// Per operation: how many failed.
    pub errors: Vec<(Op, u64)>,
    /// The first few failures, as text.
    pub samples: Vec<String>,
}

impl PhaseResult {
    /// Every failure of the phase.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().map(|(_, n)| n).sum()
    }

    /// The latencies of `op`, if it ran.
    pub fn of(&self, op: Op) -> Option<&Histogram<u64>> {
        self.latencies
            .iter()
            .find(|(o, h)| *o == op && !h.is_empty())
            .map(|(_, h)| h)
    }

    /// Requests per second over the phase.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct WorkerResult {
    devices: Vec<Device>,
    latencies: Vec<Histogram<u64>>,
    errors: Vec<u64>,
    samples: Vec<String>,
}

fn histogram() -> Result<Histogram<u64>, String> {
    // 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| format!("histogram: {e}"))
}

/// Runs `mix` for `duration` on `concurrency` threads, the devices shared
/// out among them (each device is driven by one thread only). Shows a
/// progress bar unless `quiet`. The devices come back with their cursors.
pub fn run_phase(
    name: &str,
    world: &World,
    devices: &mut Vec<Device>,
    concurrency: usize,
    duration: Duration,
    mix: &Mix,
    quiet: bool,
) -> Result<PhaseResult, String> {
    let concurrency = concurrency.max(1);
    let needs_devices = mix
        .weights
        .iter()
        .any(|(op, w)| *w > 0.0 && *op != Op::Health);
    if needs_devices && devices.len() < concurrency {
        return Err(format!(
            "{name}: {} devices cannot keep {concurrency} clients busy; use --devices ≥ --concurrency",
            devices.len()
        ));
    }
    let mut shares: Vec<Vec<Device>> = (0..concurrency).map(|_| Vec::new()).collect();
    for (i, device) in devices.drain(..).enumerate() {
        shares[i % concurrency].push(device);
    }
    let requests = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let bar = crate::progress_bar(name, duration, quiet);
    let start = Instant::now();
    let deadline = start + duration;
    let results: Vec<Result<WorkerResult, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(w, mine)| {
                let (requests, failures, stop) = (&requests, &failures, &stop);
                scope.spawn(move || {
                    worker(
                        world, mine, mix, w as u64, deadline, requests, failures, stop,
                    )
                })
            })
            .collect();
        while Instant::now() < deadline && !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            let elapsed = start.elapsed().min(duration);
            let sent = requests.load(Ordering::Relaxed);
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(format!(
                "{:>8.0} req/s  errors {}",
                sent as f64 / elapsed.as_secs_f64().max(1e-3),
                failures.load(Ordering::Relaxed)
            ));
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a worker thread panicked".to_owned()))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let mut latencies: Vec<(Op, Histogram<u64>)> = Vec::new();
    for op in Op::ALL {
        latencies.push((op, histogram()?));
    }
    let mut errors: Vec<(Op, u64)> = Op::ALL.iter().map(|op| (*op, 0)).collect();
    let mut samples = Vec::new();
    for result in results {
        let result = result?;
        devices.extend(result.devices);
        for (i, h) in result.latencies.iter().enumerate() {
            latencies[i]
                .1
                .add(h)
                .map_err(|e| format!("histogram: {e}"))?;
        }
        for (i, n) in result.errors.iter().enumerate() {
            errors[i].1 += n;
        }
        samples.extend(result.samples);
    }
    samples.truncate(10);
    Ok(PhaseResult {
        elapsed,
        requests: requests.into_inner(),
        latencies,
        errors,
        samples,
    })
}

#[allow(clippy::too_many_arguments)]
fn worker(
    world: &World,
    mut devices: Vec<Device>,
    mix: &Mix,
    seed: u64,
    deadline: Instant,
    requests: &AtomicU64,
    failures: &AtomicU64,
    stop: &AtomicBool,
) -> Result<WorkerResult, String> {
    let agent = agent();
    let mut rng = Lcg(0x5eed_0000 + seed);
    let mut latencies = Vec::new();
    for _ in Op::ALL {
        latencies.push(histogram()?);
    }
    let mut errors = vec![0u64; Op::ALL.len()];
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let op = mix.pick(&mut rng);
        let pick = if devices.is_empty() {
            0
        } else {
            rng.draw() % devices.len()
        };
        let start = Instant::now();
        let outcome = match (op, devices.get_mut(pick)) {
            (Op::Health, _) => health(&agent, world),
            (_, None) => Err("no device to drive".to_owned()),
            (Op::Pull, Some(device)) => pull_once(&agent, world, device).map(|_| 1),
            (Op::Sync, Some(device)) => {
                let bodies = entries(&mut rng, 3);
                push_new(&agent, world, device, &bodies)
                    .and_then(|()| pull_all(&agent, world, device))
                    .map(|pulls| 1 + pulls)
            }
            (Op::Feed, Some(device)) => feed(&agent, world, device),
            (Op::First, Some(device)) => {
                let patient = &world.patients[device.patient];
                // The sign-in, then the pull pages (nothing to push).
                first_sync(&world.url, &patient.email).and_then(|pulled| match pulled {
                    0 => Err("first sync: nothing pulled".to_owned()),
                    n => Ok(1 + n.div_ceil(500)),
                })
            }
        };
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        match outcome {
            Ok(sent) => {
                requests.fetch_add(sent, Ordering::Relaxed);
                latencies[op.index()].saturating_record(micros.max(1));
            }
            Err(e) => {
                failures.fetch_add(1, Ordering::Relaxed);
                errors[op.index()] += 1;
                if samples.len() < 3 {
                    samples.push(e);
                }
            }
        }
    }
    Ok(WorkerResult {
        devices,
        latencies,
        errors,
        samples,
    })
}
