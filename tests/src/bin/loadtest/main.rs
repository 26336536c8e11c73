//! The load harness: starts the server (`e2e-server`, beside this
//! executable) as a process of its own on SQLite or PostgreSQL, makes
//! patients with devices and therapists, drives real HTTP traffic with real
//! tokens, and prints each figure beside its target:
//!
//! - floors: the HTTP floor (`GET /healthz` at the same concurrency) and the
//!   raw diesel batch insert of the rows a push writes;
//! - authenticated incremental pulls of up-to-date devices;
//! - a mix of pulls, incremental syncs (a few new entries pushed, then
//!   pulled), therapist feed reads and first syncs of new phones;
//! - the first sync of 10,000 entries to a fresh phone (a real journal
//!   file and sync client), against pouchdb-server replicating the same
//!   documents into a fresh PouchDB;
//! - a push of 2,000 entries against the raw insert of the same rows;
//! - the server's resident memory, idle and under load.
//!
//! `--seed-records 1000000` stores a million entries for other patients
//! first (10,000 patients × 100, by raw inserts, in a minute or two), so the
//! same figures can be read as the data grows.
//!
//! `cargo run --release -p journal-e2e --bin loadtest -- --help` lists the
//! flags; `--smoke` is a few-second run that fails on any error (for CI).

mod peer;
mod setup;
mod traffic;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use journal_core::store::JournalStore;
use journal_core::sync::HttpTransport;
use journal_e2e::Backend;
use journal_e2e::balancer::Balancer;
use journal_e2e::load::{
    Lcg, ServerProcess, cpu_seconds_of, entries, fresh_database, push_outbox, raw_insert,
};
use journal_server::auth::Role;
use journal_server::store::Database;
use serde::Serialize;

use crate::setup::World;
use crate::traffic::{Mix, Op, PhaseResult, run_phase};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Everything below, in this order (the peer only if installed).
    All,
    /// The HTTP floor and the raw insert floor.
    Floors,
    /// Incremental pulls of up-to-date devices only.
    Pull,
    /// The mix of `--mix`.
    Mix,
    /// The first sync of `--first-sync-records` to a fresh phone.
    FirstSync,
    /// A push of `--push-records` against the raw insert of the same rows.
    Push,
    /// Resident memory: idle, then under pulls and the mix.
    Rss,
    /// The first sync against pouchdb-server's replication.
    Peer,
}

/// The journal server under load.
#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "Puts the journal server under load and prints each figure beside its target"
)]
struct Args {
    /// Database backend of the server.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// PostgreSQL server to make a fresh database on (dropped afterwards).
    #[arg(
        long,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
    /// What to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Scenario,
    /// Patients.
    #[arg(long, default_value_t = 500)]
    patients: usize,
    /// Devices, dealt to the patients in turn.
    #[arg(long, default_value_t = 1_000)]
    devices: usize,
    /// Clients sending at once (threads, each with a keep-alive connection).
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Seconds each traffic phase lasts.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Weights of the mixed phase: pull, sync, feed, first (and health).
    #[arg(long, default_value = "pull=90,sync=5,feed=4.9,first=0.1")]
    mix: String,
    /// Entries each patient writes during setup.
    #[arg(long, default_value_t = 20)]
    records_per_patient: usize,
    /// Entries stored for other patients before the scenarios run (raw
    /// inserts, 100 a patient; e.g. 1000000 for 10,000 patients × 100):
    /// how pulls and pushes cost as the data grows.
    #[arg(long, default_value_t = 0)]
    seed_records: usize,
    /// Entries of the first-sync scenario (and the peer's documents).
    #[arg(long, default_value_t = 10_000)]
    first_sync_records: usize,
    /// Entries of the push scenario.
    #[arg(long, default_value_t = 2_000)]
    push_records: usize,
    /// Repetitions of the first sync, push and raw insert (the median is
    /// reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Server HTTP workers (the figures are for 2 cores).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Server database pool size.
    #[arg(long, default_value_t = 8)]
    db_pool: u32,
    /// Server instances on the one database (more than one: PostgreSQL
    /// only), behind HAProxy (installed by ./scripts/test.sh); memory is
    /// the first instance's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    instances: u32,
    /// Put HAProxy in front even of one instance (to see what the
    /// balancer itself costs).
    #[arg(long)]
    balancer: bool,
    /// A few seconds on a small world, no peer; exits non-zero on any error.
    /// Targets are printed, not enforced.
    #[arg(long)]
    smoke: bool,
    /// Also write the figures to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where tests/peer/install.sh put pouchdb-server (default: the
    /// target folder's pouchdb-peer).
    #[arg(long)]
    peer_dir: Option<PathBuf>,
    /// The server executable (default: e2e-server beside this one).
    #[arg(long)]
    server_exe: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// A progress bar over a phase of `duration`, drawn on standard error.
fn progress_bar(name: &str, duration: Duration, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {elapsed:>4} / {len_s}  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_owned());
    bar
}

/// One reported figure.
#[derive(Debug, Clone, Serialize)]
struct Figure {
    name: String,
    value: f64,
    unit: String,
    target: Option<String>,
    met: Option<bool>,
}

#[derive(Default, Serialize)]
struct Report {
    backend: String,
    scenario: String,
    smoke: bool,
    patients: usize,
    devices: usize,
    concurrency: usize,
    duration_s: f64,
    mix: String,
    workers: usize,
    figures: Vec<Figure>,
    errors: u64,
    error_samples: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    fn add(&mut self, name: &str, value: f64, unit: &str, target: Option<(&str, bool)>) {
        let figure = Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            target: target.map(|(t, _)| t.to_owned()),
            met: target.map(|(_, m)| m),
        };
        let shown = match (&figure.target, figure.met) {
            (Some(t), Some(m)) => format!("  target {t}: {}", if m { "met" } else { "NOT MET" }),
            _ => String::new(),
        };
        println!(
            "  {:<58} {:>12} {:<8}{shown}",
            figure.name,
            fmt(value),
            unit
        );
        self.figures.push(figure);
    }

    fn phase(&mut self, name: &str, result: &PhaseResult) {
        println!(
            "{name}: {} requests in {:.1} s, {:.0} requests/s, {} errors",
            result.requests,
            result.elapsed.as_secs_f64(),
            result.throughput(),
            result.total_errors()
        );
        self.errors += result.total_errors();
        self.error_samples.extend(result.samples.iter().cloned());
        for (op, n) in &result.errors {
            if *n > 0 {
                println!("  {} errors: {n}", op.name());
            }
        }
        for sample in &result.samples {
            println!("  error: {sample}");
        }
    }

    fn latencies(&mut self, label: &str, result: &PhaseResult, op: Op, p99_target: Option<f64>) {
        let Some(h) = result.of(op) else { return };
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
        let ops = h.len() as f64 / result.elapsed.as_secs_f64().max(1e-9);
        self.add(
            &format!("{label}: {} per second", op.name()),
            ops,
            "ops/s",
            None,
        );
        self.add(&format!("{label}: {} p50", op.name()), ms(0.50), "ms", None);
        self.add(&format!("{label}: {} p95", op.name()), ms(0.95), "ms", None);
        let target = p99_target.map(|t| (format!("≤ {t} ms"), ms(0.99) <= t));
        self.add(
            &format!("{label}: {} p99", op.name()),
            ms(0.99),
            "ms",
            target.as_ref().map(|(t, m)| (t.as_str(), *m)),
        );
    }
}

fn fmt(value: f64) -> String {
    if value.abs() >= 100.0 {
        let whole = value.round() as i64;
        let digits = whole.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if whole < 0 { format!("-{out}") } else { out }
    } else {
        format!("{value:.2}")
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Reads the server's resident memory every 10 ms, keeping the highest
/// since it was last taken (VmHWM only ever grows, so it cannot tell one
/// phase from another).
struct RssSampler {
    max_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let max_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (max, done) = (Arc::clone(&max_kib), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(memory) = journal_e2e::load::memory_of(pid) {
                    max.fetch_max(memory.rss_kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { max_kib, stop }
    }

    /// The highest resident memory seen since the last call, in KiB.
    fn take(&self) -> u64 {
        self.max_kib.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        args.patients = args.patients.min(12);
        args.devices = args.devices.min(24);
        args.concurrency = args.concurrency.min(6);
        args.duration = args.duration.min(0.6);
        args.records_per_patient = args.records_per_patient.min(5);
        args.first_sync_records = args.first_sync_records.min(300);
        args.push_records = args.push_records.min(200);
        args.runs = 1;
        // The seeding path, on a small scale.
        args.seed_records = args.seed_records.clamp(250, 2_000);
    }
    match run(&args) {
        Ok(report) => {
            if let Some(path) = &args.json {
                let written = serde_json::to_vec_pretty(&report)
                    .map_err(|e| e.to_string())
                    .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    eprintln!("loadtest: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if report.errors > 0 {
                eprintln!("loadtest: {} requests failed", report.errors);
                ExitCode::FAILURE
            } else {
                println!("errors: 0");
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<Report, String> {
    let s = args.scenario;
    let wants = |x: Scenario| s == Scenario::All || s == x;
    let backend = match args.backend {
        BackendArg::Sqlite => Backend::Sqlite,
        BackendArg::Postgres => Backend::Postgres,
    };
    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let mix = Mix::parse(&args.mix)?;
    let mut report = Report {
        backend: format!("{:?}", args.backend).to_lowercase(),
        scenario: format!("{:?}", args.scenario).to_lowercase(),
        smoke: args.smoke,
        patients: args.patients,
        devices: args.devices,
        concurrency: args.concurrency,
        duration_s: duration.as_secs_f64(),
        mix: mix.describe(),
        workers: args.workers,
        ..Report::default()
    };

    let exe = match &args.server_exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("e2e-server"),
    };
    let (url, _database) = fresh_database(backend, &args.database_url)?;
    let mut secret = [0u8; 48];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = (Lcg(0x5ec2e7 + i as u64).draw() & 0xff) as u8;
    }
    let secret_b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    if args.instances > 1 && backend == Backend::Sqlite {
        return Err("several instances need PostgreSQL (--backend postgres)".to_owned());
    }
    let servers = (0..args.instances)
        .map(|n| {
            ServerProcess::start(
                &exe,
                &url,
                &secret_b64,
                args.workers,
                args.db_pool,
                &work.path().join(format!("server-{n}.log")),
            )
        })
        .collect::<Result<Vec<_>, String>>()?;
    let server = &servers[0];
    for instance in &servers {
        println!(
            "server: {} (pid {}), {} on {}, {} workers, pool {}",
            instance.url(),
            instance.pid(),
            exe.display(),
            report.backend,
            args.workers,
            args.db_pool
        );
    }
    let balancer = if args.instances > 1 || args.balancer {
        let ports: Vec<u16> = servers.iter().map(ServerProcess::port).collect();
        let balancer =
            Balancer::start(&ports).ok_or("HAProxy is not installed (apt-get install haproxy)")?;
        println!("balancer: HAProxy at {}", balancer.url());
        report.add(
            "server instances behind HAProxy",
            f64::from(args.instances),
            "",
            None,
        );
        Some(balancer)
    } else {
        None
    };
    let base_url = balancer
        .as_ref()
        .map_or_else(|| server.url().to_owned(), Balancer::url);
    let base_url = base_url.as_str();

    // Idle memory: the server started, migrated, answered /healthz.
    std::thread::sleep(Duration::from_secs(1));
    if wants(Scenario::Rss) {
        let idle = server.memory().ok_or("cannot read the server's memory")?;
        report.add(
            "server RSS, idle",
            mib(idle.rss_kib),
            "MiB",
            Some(("≤ 50 MB", idle.rss_kib as f64 * 1024.0 <= 50e6)),
        );
    }

    let sampler = RssSampler::start(server.pid());
    let database = Database::open(&url, 2).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let hash = setup::password_hash()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut world = World::create(
        base_url,
        &database,
        &hash,
        &secret,
        args.patients.max(1),
        &run_id,
    )?;

    if args.seed_records > 0 {
        println!(
            "\n== seeding {} entries for other patients (100 each, raw inserts)",
            args.seed_records
        );
        let took = setup::seed(&database, &hash, args.seed_records, &run_id)?;
        println!("  seeding took {:.1} s", took.as_secs_f64());
        report.add(
            "entries stored beforehand for other patients",
            args.seed_records as f64,
            "records",
            None,
        );
    }

    // Floors.
    // The servers' CPU time so far (the database server's, for PostgreSQL,
    // is not in it).
    let server_cpu = || -> f64 { servers.iter().filter_map(|s| cpu_seconds_of(s.pid())).sum() };
    let cpu_per_request = |report: &mut Report, name: &str, seconds: f64, requests: u64| {
        report.add(
            &format!("servers' CPU per request: {name}"),
            1e6 * seconds / requests.max(1) as f64,
            "µs",
            None,
        );
    };
    if wants(Scenario::Floors) {
        println!("\n== floors");
        world.mint()?;
        let mut none = Vec::new();
        let cpu_before = server_cpu();
        let result = run_phase(
            "healthz",
            &world,
            &mut none,
            args.concurrency,
            duration,
            &Mix::only(Op::Health),
            args.quiet,
        )?;
        report.phase("HTTP floor (GET /healthz)", &result);
        report.add(
            &format!("HTTP floor at {} clients", args.concurrency),
            result.throughput(),
            "req/s",
            None,
        );
        report.latencies("HTTP floor", &result, Op::Health, None);
        cpu_per_request(
            &mut report,
            "HTTP floor",
            server_cpu() - cpu_before,
            result.requests,
        );
    }

    let device_scenarios = [Scenario::Pull, Scenario::Mix, Scenario::Rss];
    if device_scenarios.iter().any(|x| wants(*x)) {
        println!(
            "\n== setup: {} patients, {} therapists, {} devices, {} entries each",
            world.patients.len(),
            world.therapists.len(),
            args.devices,
            args.records_per_patient
        );
        world.mint()?;
        let mut devices = world.populate(
            args.devices.max(1),
            args.records_per_patient,
            args.concurrency,
        )?;
        println!("  setup took {:.1} s", started.elapsed().as_secs_f64());
        let rss = |report: &mut Report, phase: &str, kib: u64, target: bool| {
            let name = format!("server peak RSS during {phase} (sampled every 10 ms)");
            let within = kib as f64 * 1024.0 <= 200e6;
            let target = target.then_some(("≤ 200 MB at 1,000 devices", within));
            report.add(&name, mib(kib), "MiB", target);
        };
        rss(&mut report, "setup", sampler.take(), false);

        if wants(Scenario::Pull) || wants(Scenario::Rss) {
            println!("\n== incremental pulls");
            world.mint()?;
            let cpu_before = server_cpu();
            let result = run_phase(
                "pull",
                &world,
                &mut devices,
                args.concurrency,
                duration,
                &Mix::only(Op::Pull),
                args.quiet,
            )?;
            report.phase("pulls of up-to-date devices", &result);
            let rps = result.throughput();
            report.add(
                &format!("pull throughput at {} devices at once", args.concurrency),
                rps,
                "req/s",
                Some(("≥ 10,000 (100 devices, 2 cores)", rps >= 10_000.0)),
            );
            report.latencies("pull", &result, Op::Pull, Some(10.0));
            cpu_per_request(
                &mut report,
                "pull",
                server_cpu() - cpu_before,
                result.requests,
            );
            rss(&mut report, "the pulls", sampler.take(), true);
            if let Some(floor) = report
                .figures
                .iter()
                .find(|f| f.name.starts_with("HTTP floor at"))
                .map(|f| f.value)
            {
                report.add(
                    "pull throughput / HTTP floor",
                    100.0 * rps / floor,
                    "%",
                    None,
                );
            }
            let p99 = |name: &str| {
                report
                    .figures
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| f.value)
            };
            if let (Some(pull), Some(floor)) =
                (p99("pull: pull p99"), p99("HTTP floor: health p99"))
            {
                report.add(
                    "pull p99 / HTTP floor's p99",
                    pull / floor.max(1e-9),
                    "×",
                    Some(("≤ 1.2×", pull <= 1.2 * floor)),
                );
            }
        }
        if wants(Scenario::Mix) || wants(Scenario::Rss) {
            println!("\n== mix {}", mix.describe());
            world.mint()?;
            let result = run_phase(
                "mix",
                &world,
                &mut devices,
                args.concurrency,
                duration,
                &mix,
                args.quiet,
            )?;
            report.phase("mixed traffic", &result);
            report.add(
                "mix: HTTP requests per second",
                result.throughput(),
                "req/s",
                None,
            );
            for op in [Op::Pull, Op::Sync, Op::Feed, Op::First] {
                if mix.has(op) {
                    report.latencies("mix", &result, op, None);
                }
            }
            rss(&mut report, "the mix", sampler.take(), true);
        }
        if wants(Scenario::Rss) {
            let memory = server.memory().ok_or("cannot read the server's memory")?;
            report.add(
                &format!(
                    "server RSS high-water mark after {} devices (VmHWM)",
                    devices.len()
                ),
                mib(memory.peak_kib),
                "MiB",
                None,
            );
        }
    }

    let mut ours_first_sync = None;
    if wants(Scenario::FirstSync) || wants(Scenario::Peer) {
        let count = args.first_sync_records;
        println!("\n== first sync of {count} entries to a fresh phone");
        let email = format!("bulk-{run_id}@load.example");
        let ids = setup::insert_accounts(
            &database,
            &hash,
            Role::Patient,
            std::slice::from_ref(&email),
        )?;
        let (owner, session) = ids.first().copied().ok_or("no account made")?;
        let token = world.token(owner, Role::Patient, session)?;
        // A writer phone with the entries, pushed: setup, untimed.
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let writer = JournalStore::open(dir.path().join("writer.db")).map_err(|e| e.to_string())?;
        journal_e2e::load::write_all(&writer, &entries(&mut Lcg(7), count))
            .map_err(|e| e.to_string())?;
        let transport = HttpTransport::new(base_url).map_err(|e| e.to_string())?;
        let pushed = push_outbox(&writer, &transport, &token)
            .map_err(|e| e.to_string())?
            .applied;
        if pushed != count {
            return Err(format!("the writer pushed {pushed} of {count} entries"));
        }
        let (mut times, mut searchable_times) = (Vec::new(), Vec::new());
        for _ in 0..args.runs.max(1) {
            // A new journal file, signed in: untimed.
            let (_dir, journal, phone) = traffic::new_phone_with_store(base_url, &email)?;
            let started = Instant::now();
            let pulled = phone.sync().map_err(|e| format!("first sync: {e}"))?.pulled;
            times.push(started.elapsed().as_secs_f64());
            // The search index is built after the sync, in the background:
            // until it is complete (a search meanwhile would finish it).
            journal
                .build_search_index()
                .map_err(|e| format!("search index: {e}"))?;
            searchable_times.push(started.elapsed().as_secs_f64());
            if pulled != count as u64 {
                report.errors += 1;
                report
                    .error_samples
                    .push(format!("first sync pulled {pulled} of {count}"));
            }
        }
        let ours = median(times.clone());
        ours_first_sync = Some(ours);
        println!(
            "  runs: {}",
            times
                .iter()
                .map(|t| format!("{:.3} s", t))
                .collect::<Vec<_>>()
                .join(", ")
        );
        report.add(
            &format!("first sync of {count} (median of {})", times.len()),
            ours * 1_000.0,
            "ms",
            Some(("≤ 1,000 ms", ours <= 1.0)),
        );
        report.add(
            "first sync throughput",
            count as f64 / ours,
            "records/s",
            None,
        );
        report.add(
            "… and its search index built (median)",
            median(searchable_times) * 1_000.0,
            "ms",
            None,
        );
    }

    if wants(Scenario::Push) || wants(Scenario::Floors) {
        let count = args.push_records;
        println!("\n== push of {count} entries against the raw insert of the same rows");
        let email = format!("pusher-{run_id}@load.example");
        let ids = setup::insert_accounts(&database, &hash, Role::Patient, &[email])?;
        let (owner, session) = ids.first().copied().ok_or("no account made")?;
        let token = world.token(owner, Role::Patient, session)?;
        let transport = HttpTransport::new(base_url).map_err(|e| e.to_string())?;
        let (mut push_times, mut raw_times) = (Vec::new(), Vec::new());
        let (mut reading_times, mut acknowledging_times) = (Vec::new(), Vec::new());
        for run in 0..args.runs.max(1) {
            let bodies = entries(&mut Lcg(100 + run as u64), count);
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let phone =
                JournalStore::open(dir.path().join("phone.db")).map_err(|e| e.to_string())?;
            journal_e2e::load::write_all(&phone, &bodies).map_err(|e| e.to_string())?;
            let started = Instant::now();
            let pushed = push_outbox(&phone, &transport, &token).map_err(|e| e.to_string())?;
            push_times.push(started.elapsed().as_secs_f64());
            reading_times.push(pushed.reading.as_secs_f64());
            acknowledging_times.push(pushed.acknowledging.as_secs_f64());
            let pushed = pushed.applied;
            if pushed != count {
                report.errors += 1;
                report
                    .error_samples
                    .push(format!("push applied {pushed} of {count}"));
            }
            let mut conn = database.get().map_err(|e| e.to_string())?;
            let raw = raw_insert(&mut conn, &owner.to_string(), &bodies)
                .map_err(|e| format!("raw insert: {e}"))?;
            raw_times.push(raw.as_secs_f64());
        }
        let (push, raw) = (median(push_times), median(raw_times));
        let push_rate = count as f64 / push;
        let raw_rate = count as f64 / raw;
        report.add(
            "raw diesel batch insert (floor)",
            raw_rate,
            "records/s",
            None,
        );
        report.add(&format!("push of {count}"), push_rate, "records/s", None);
        report.add(
            "… of it on the phone: reading the outbox",
            median(reading_times) * 1_000.0,
            "ms",
            None,
        );
        report.add(
            "… of it on the phone: forgetting what was acknowledged",
            median(acknowledging_times) * 1_000.0,
            "ms",
            None,
        );
        report.add("… its whole time (median)", push * 1_000.0, "ms", None);
        report.add(
            "push / raw insert",
            100.0 * push_rate / raw_rate,
            "%",
            Some(("≥ 50 %", push_rate >= 0.5 * raw_rate)),
        );
    }

    if wants(Scenario::Peer) && !args.smoke {
        let dir = args.peer_dir.clone().or_else(peer::default_dir);
        let available = dir
            .as_ref()
            .is_some_and(|d| d.join("node_modules/pouchdb-server").is_dir());
        match (dir, available, ours_first_sync) {
            (Some(dir), true, Some(ours)) => {
                let count = args.first_sync_records;
                println!("\n== peer: pouchdb-server, the same {count} documents");
                let bodies = entries(&mut Lcg(7), count);
                let peer = peer::run(&dir, &bodies, args.runs.max(1))?;
                println!(
                    "  pouchdb-server {} ({}), PouchDB {} ({}); replications: {}",
                    peer.server_version,
                    peer.server_adapter,
                    peer.pouchdb_version,
                    peer.local_adapter,
                    peer.replicate_ms
                        .iter()
                        .map(|t| format!("{t:.0} ms"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                report.notes.push(format!(
                    "peer: pouchdb-server {} on {}, local PouchDB {} on {}",
                    peer.server_version,
                    peer.server_adapter,
                    peer.pouchdb_version,
                    peer.local_adapter
                ));
                if peer.docs != count as u64 {
                    return Err(format!("the peer replicated {} of {count}", peer.docs));
                }
                let theirs = median(peer.replicate_ms.clone()) / 1_000.0;
                report.add("peer: write (_bulk_docs)", peer.write_ms, "ms", None);
                report.add(
                    &format!("peer: replication of {count} to a fresh PouchDB"),
                    theirs * 1_000.0,
                    "ms",
                    None,
                );
                report.add(
                    "peer replication time / our first sync time",
                    theirs / ours,
                    "×",
                    Some(("≥ 10×", theirs / ours >= 10.0)),
                );
            }
            (_, false, _) if s == Scenario::All => {
                println!("\n== peer skipped: not installed (tests/peer/install.sh)");
                report
                    .notes
                    .push("peer skipped: pouchdb-server not installed".to_owned());
            }
            (_, false, _) => {
                return Err("pouchdb-server is not installed: run tests/peer/install.sh".to_owned());
            }
            _ => {}
        }
    }

    let memory = server.memory().ok_or("cannot read the server's memory")?;
    report.add(
        "server peak RSS over the whole run (VmHWM)",
        mib(memory.peak_kib),
        "MiB",
        None,
    );
    let log: String = servers.iter().map(ServerProcess::log).collect();
    if log.contains("panicked") {
        report.errors += 1;
        report
            .error_samples
            .push("the server's log shows a panic".to_owned());
    }
    if report.errors > 0 {
        let lines: Vec<&str> = log.lines().collect();
        println!("\nthe server's log, last lines:");
        for line in &lines[lines.len().saturating_sub(20)..] {
            println!("  {line}");
        }
    }
    Ok(report)
}
