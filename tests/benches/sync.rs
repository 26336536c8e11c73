//! Sync speed against a real server on loopback (SQLite, in a temporary
//! folder), with journal entries of 60–300 words:
//!
//! - `first_sync_10000/fresh_phone`: a patient has 10,000 entries on the
//!   server; a phone just signed in pulls them all (`SyncClient::sync`: 20
//!   pages of 500, each applied in one transaction with the search index).
//!   Target ≤ 1 s.
//! - `push_2000/*`: 2,000 new entries leave a phone. `push_only` is the push
//!   half of a sync, as `SyncClient` does it (batches of 500 read from the
//!   outbox, sent over HTTP, acknowledged); `raw_insert` writes the same
//!   rows straight into the server's `records` table with one diesel batch
//!   insert per 500 rows in one transaction (the floor: no HTTP, JSON,
//!   conflict rules or outcomes; `journal_e2e::load::raw_insert`, which the
//!   load harness uses too); `phone_sync` is the whole sync the patient
//!   waits for (push, then pull the 2,000 back). Target: push ≥ 50 % of the
//!   raw insert's records per second. The ratio is printed at the end.
//!
//! Run: `cargo bench -p journal-e2e --bench sync`. Under `cargo test`
//! (`--all-targets`) each case runs once on 500 and 200 records, as a smoke
//! test. `SYNC_BENCH_ONLY=first_sync` (or `push`) runs one group, setup
//! included; `SYNC_BENCH_PHASES=1` prints where the time of one first sync
//! and one push goes, phase by phase (see `phases`).

// A benchmark whose setup fails has nothing to measure: stopping is right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use diesel::prelude::*;
use journal_core::records::RecordBody;
use journal_core::sync::{
    DEFAULT_PULL_LIMIT, HttpTransport, MAX_PUSH_MUTATIONS, MutationOutcome, OutcomeStatus,
    PullResponse, PushRequest, Transport,
};
use journal_e2e::load::{Lcg, PASSWORD, RawRow, entries, push_outbox, raw_insert, raw_rows};
use journal_e2e::{Backend, LiveServer, Phone};
use journal_server::store::schema::{
    mutation_outcomes, owner_versions, record_revisions, records, sync_devices, users,
};
use journal_server::store::{Database, DbConnection};

/// Sizes: full under `cargo bench`, small under `cargo test`.
struct Sizes {
    first_sync: usize,
    push: usize,
}

fn sizes() -> Sizes {
    // cargo bench passes --bench; cargo test does not.
    if std::env::args().any(|a| a == "--bench") {
        Sizes {
            first_sync: 10_000,
            push: 2_000,
        }
    } else {
        Sizes {
            first_sync: 500,
            push: 200,
        }
    }
}

fn new_patient(server: &LiveServer) -> String {
    let email = format!("bench-{}@example.org", uuid::Uuid::new_v4().simple());
    server.register(&email, PASSWORD);
    email
}

fn write(phone: &Phone, bodies: Vec<RecordBody>) {
    journal_e2e::load::write_all(&phone.store, &bodies).unwrap();
}

fn median(times: &Mutex<Vec<Duration>>) -> Duration {
    let mut times = times.lock().unwrap().clone();
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn first_sync(c: &mut Criterion, server: &LiveServer, count: usize) {
    let email = new_patient(server);
    let writer = Phone::new(server, &email, PASSWORD);
    write(&writer, entries(&mut Lcg(7), count));
    writer.client.sync().unwrap();
    assert_eq!(writer.store.pending_change_count().unwrap(), 0);

    // Once, untimed: a fresh phone ends up with every record.
    let check = Phone::new(server, &email, PASSWORD);
    check.client.sync().unwrap();
    assert_eq!(check.live().len(), count, "a fresh phone pulled them all");
    drop(check);

    let mut group = c.benchmark_group(format!("first_sync_{count}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(count as u64));
    group.bench_function("fresh_phone", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new journal file, signed in: not timed.
                let phone = Phone::new(server, &email, PASSWORD);
                let start = Instant::now();
                let report = phone.client.sync().unwrap();
                total += start.elapsed();
                assert_eq!(report.pulled, count as u64);
            }
            total
        })
    });
    group.finish();
}

fn push(c: &mut Criterion, server: &LiveServer, database_url: &str, count: usize) {
    let email = new_patient(server);
    let database = Database::open(database_url, 1).unwrap();
    let owner: String = {
        let mut conn = database.get().unwrap();
        users::table
            .filter(users::email.eq(&email))
            .select(users::id)
            .first(&mut *conn)
            .unwrap()
    };
    let mut rng = Lcg(11);
    let push_times = Mutex::new(Vec::new());
    let raw_times = Mutex::new(Vec::new());

    let mut group = c.benchmark_group(format!("push_{count}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(count as u64));

    group.bench_function("push_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A phone of the patient with `count` new entries: not timed.
                let phone = Phone::new(server, &email, PASSWORD);
                write(&phone, entries(&mut rng, count));
                let transport = HttpTransport::new(&server.url()).unwrap();
                let token = transport.sign_in(&email, PASSWORD).unwrap().access_token;

                let start = Instant::now();
                let pushed = push_outbox(&phone.store, &transport, &token)
                    .unwrap()
                    .applied;
                let elapsed = start.elapsed();
                assert_eq!(pushed, count);
                push_times.lock().unwrap().push(elapsed);
                total += elapsed;
            }
            total
        })
    });

    group.bench_function("raw_insert", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let bodies = entries(&mut rng, count);
                let mut pooled = database.get().unwrap();
                // The same rows the load harness writes, the same way.
                let elapsed = raw_insert(&mut pooled, &owner, &bodies).unwrap();
                raw_times.lock().unwrap().push(elapsed);
                total += elapsed;
            }
            total
        })
    });

    group.bench_function("phone_sync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A patient of their own, so the pull brings back exactly
                // what was pushed: not timed.
                let email = new_patient(server);
                let phone = Phone::new(server, &email, PASSWORD);
                write(&phone, entries(&mut rng, count));
                let start = Instant::now();
                let report = phone.client.sync().unwrap();
                total += start.elapsed();
                assert_eq!(report.pushed, count as u64);
            }
            total
        })
    });
    group.finish();

    let (push, raw) = (median(&push_times), median(&raw_times));
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    eprintln!(
        "push_{count}: push {:.0} records/s ({push:.2?}), raw insert {:.0} records/s ({raw:.2?}): \
         push at {:.0} % of raw (target ≥ 50 %)",
        rate(push),
        rate(raw),
        100.0 * rate(push) / rate(raw),
    );
}

fn main() {
    let sizes = sizes();
    let server = LiveServer::start(Backend::Sqlite).unwrap();
    let database_url = server.database_url();
    let mut criterion = Criterion::default().configure_from_args();
    // SYNC_BENCH_ONLY=first_sync|push skips the other group's setup too
    // (criterion's own filter skips only the measuring), e.g. under perf.
    let only = std::env::var("SYNC_BENCH_ONLY").ok();
    let runs = |group: &str| only.as_deref().is_none_or(|o| o == group);
    if std::env::var_os("SYNC_BENCH_PHASES").is_some() {
        phases(&server, &database_url, &sizes);
    }
    if runs("first_sync") {
        first_sync(&mut criterion, &server, sizes.first_sync);
    }
    if runs("push") {
        push(&mut criterion, &server, &database_url, sizes.push);
    }
    criterion.final_summary();
}

// ---------------------------------------------------------------------------
// Phases: where the time goes (SYNC_BENCH_PHASES=1)
// ---------------------------------------------------------------------------

fn owner_of(database: &Database, email: &str) -> String {
    let mut conn = database.get().unwrap();
    users::table
        .filter(users::email.eq(email))
        .select(users::id)
        .first(&mut *conn)
        .unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:>8.1} ms", d.as_secs_f64() * 1_000.0)
}

/// One first sync and one push, timed phase by phase on the phone's side,
/// with the server's share estimated by running its statements (as
/// `journal_server::store::sync` writes them, on its own connection type)
/// and its JSON work beside it.
fn phases(server: &LiveServer, database_url: &str, sizes: &Sizes) {
    let database = Database::open(database_url, 1).unwrap();

    // First sync.
    let email = new_patient(server);
    let owner = owner_of(&database, &email);
    let writer = Phone::new(server, &email, PASSWORD);
    write(&writer, entries(&mut Lcg(7), sizes.first_sync));
    writer.client.sync().unwrap();
    let phone = Phone::new(server, &email, PASSWORD);
    let transport = HttpTransport::new(&server.url()).unwrap();
    let token = transport.sign_in(&email, PASSWORD).unwrap().access_token;
    let device = phone.store.device_id();
    let mut t = [Duration::ZERO; 6];
    let (mut pages, mut bytes) = (0, 0);
    let total = Instant::now();
    loop {
        let since = phone.store.pull_cursor().unwrap();
        let start = Instant::now();
        let page = transport
            .pull(&token, since, DEFAULT_PULL_LIMIT, device)
            .unwrap();
        t[0] += start.elapsed();
        let start = Instant::now();
        phone.store.apply_pull(&page).unwrap();
        t[1] += start.elapsed();
        // Beside the sync, not part of it: what the page's JSON and the
        // server's queries cost on their own.
        let start = Instant::now();
        let json = serde_json::to_vec(&page).unwrap();
        t[2] += start.elapsed();
        bytes += json.len();
        let start = Instant::now();
        let _: PullResponse = serde_json::from_slice(&json).unwrap();
        t[3] += start.elapsed();
        let start = Instant::now();
        server_pull_queries(&database, &owner, since.0, DEFAULT_PULL_LIMIT);
        t[4] += start.elapsed();
        pages += 1;
        if !page.has_more {
            break;
        }
    }
    t[5] = total.elapsed();
    eprintln!(
        "\nfirst sync of {} records, {pages} pages, {:.1} MB of JSON:\n\
         \x20 pull requests (server, HTTP, JSON both ways) {}\n\
         \x20 applying the pages on the phone              {}\n\
         beside it:\n\
         \x20 serializing the pages (as the server does)   {}\n\
         \x20 parsing the pages (as the phone does)        {}\n\
         \x20 the server's queries and body parsing        {}",
        sizes.first_sync,
        bytes as f64 / 1e6,
        ms(t[0]),
        ms(t[1]),
        ms(t[2]),
        ms(t[3]),
        ms(t[4]),
    );

    // The same first sync, with the phone's full-text index as it is,
    // without its prefix indexes, and replaced by a plain table (what
    // indexing costs).
    let variants = [
        ("full-text index as it is (FTS5, prefixes 2 and 3)", None),
        (
            "FTS5 without the prefix indexes",
            Some(
                "CREATE VIRTUAL TABLE search_index USING fts5(title, body, \
                 tokenize = 'unicode61 remove_diacritics 2')",
            ),
        ),
        (
            "no full-text index (a plain table)",
            // Its columns take what the index build writes to FTS5: rows
            // with their record's number as `rowid` (a column here, so that
            // the build's settings rows, `INSERT INTO search_index
            // (search_index, rank)`, cannot collide with them).
            Some("CREATE TABLE search_index (rowid, title, body, search_index, rank)"),
        ),
    ];
    eprintln!("whole first syncs (median of 3):");
    for (name, index) in variants {
        let mut runs: Vec<Duration> = (0..3)
            .map(|_| {
                let phone = Phone::new(server, &email, PASSWORD);
                if let Some(index) = index {
                    let path = phone.path().to_str().unwrap().to_owned();
                    let mut conn = diesel::SqliteConnection::establish(&path).unwrap();
                    diesel::connection::SimpleConnection::batch_execute(
                        &mut conn,
                        &format!("DROP TABLE search_index; {index};"),
                    )
                    .unwrap();
                }
                let start = Instant::now();
                phone.client.sync().unwrap();
                start.elapsed()
            })
            .collect();
        runs.sort();
        eprintln!("  {name:<50} {}", ms(runs[1]));
    }

    // Push.
    let count = sizes.push;
    let email = new_patient(server);
    let owner = owner_of(&database, &email);
    let phone = Phone::new(server, &email, PASSWORD);
    write(&phone, entries(&mut Lcg(13), count));
    let token = transport.sign_in(&email, PASSWORD).unwrap().access_token;
    let device = phone.store.device_id();
    let mut t = [Duration::ZERO; 6];
    let mut bytes = 0;
    loop {
        let start = Instant::now();
        let mutations = phone
            .store
            .pending_mutations(MAX_PUSH_MUTATIONS as u32)
            .unwrap();
        t[0] += start.elapsed();
        if mutations.is_empty() {
            break;
        }
        let request = PushRequest {
            device_id: device,
            mutations,
        };
        let start = Instant::now();
        let answer = transport.push(&token, &request).unwrap();
        t[1] += start.elapsed();
        let start = Instant::now();
        phone
            .store
            .acknowledge_changes(answer.last_applied_mutation.unwrap())
            .unwrap();
        t[2] += start.elapsed();
        // Beside the push: its JSON, and reading it as the server does.
        let start = Instant::now();
        let json = serde_json::to_vec(&request).unwrap();
        t[3] += start.elapsed();
        bytes += json.len();
        let start = Instant::now();
        let read: PushRequest = serde_json::from_slice(&json).unwrap();
        for mutation in &read.mutations {
            let body = mutation.body.as_ref().unwrap().read_as(mutation.kind);
            body.unwrap().validate().unwrap();
        }
        t[4] += start.elapsed();
    }
    let median_of = |f: &dyn Fn() -> Duration| {
        let mut runs: Vec<Duration> = (0..5).map(|_| f()).collect();
        runs.sort();
        runs[2]
    };
    let as_server = median_of(&|| server_push_statements(&database, &owner, count, true, true));
    let no_savepoints =
        median_of(&|| server_push_statements(&database, &owner, count, false, true));
    let no_outcomes = median_of(&|| server_push_statements(&database, &owner, count, true, false));
    let neither = median_of(&|| server_push_statements(&database, &owner, count, false, false));
    let batch = median_of(&|| batch_insert(&database, &owner, count));
    eprintln!(
        "\npush of {count} records, {:.1} MB of JSON:\n\
         \x20 reading the outbox                           {}\n\
         \x20 push requests (server, HTTP, JSON both ways) {}\n\
         \x20 acknowledging                                {}\n\
         beside it:\n\
         \x20 serializing the requests (as the phone does) {}\n\
         \x20 reading and checking them (as the server)    {}\n\
         \x20 the server's statements, row by row          {}\n\
         \x20   the same without a savepoint per insert    {}\n\
         \x20   the same without storing outcomes          {}\n\
         \x20   the same without either                    {}\n\
         \x20 one batch insert per 500 rows                {}",
        bytes as f64 / 1e6,
        ms(t[0]),
        ms(t[1]),
        ms(t[2]),
        ms(t[3]),
        ms(t[4]),
        ms(as_server),
        ms(no_savepoints),
        ms(no_outcomes),
        ms(neither),
        ms(batch),
    );
}

/// A record as a pull page reads it: id, kind, created, updated, stamp,
/// tombstone, body, version.
type PulledRow = (String, String, i64, i64, i64, bool, String, i64);

/// A record as the conflict rules read it (`StoredRow`).
type StoredRow = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    bool,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
);

/// The two queries of one pull page, as `pull_page` runs them, with the
/// bodies read as JSON.
fn server_pull_queries(database: &Database, owner: &str, since: u64, limit: u32) {
    let mut conn = database.get().unwrap();
    let since = i64::try_from(since).unwrap();
    let fetch = i64::from(limit) + 1;
    let rows: Vec<PulledRow> = records::table
        .filter(records::owner_id.eq(owner))
        .filter(records::version.gt(since))
        .order(records::version.asc())
        .limit(fetch)
        .select((
            records::id,
            records::kind,
            records::created_at,
            records::updated_at,
            records::hlc,
            records::deleted,
            records::body,
            records::version,
        ))
        .load(&mut *conn)
        .unwrap();
    let revisions: Vec<(String, i64)> = record_revisions::table
        .filter(record_revisions::owner_id.eq(owner))
        .filter(record_revisions::version.gt(since))
        .order(record_revisions::version.asc())
        .limit(fetch)
        .select((record_revisions::id, record_revisions::version))
        .load(&mut *conn)
        .unwrap();
    for row in &rows {
        let _: serde_json::Value = serde_json::from_str(&row.6).unwrap();
    }
    std::hint::black_box((rows, revisions));
}

/// What a push of `count` new records makes the server's database do, as
/// `apply_push` does it (on its connection type, 500 a transaction): bump
/// the version counter, find the device, and per record look for it, insert
/// it (in a savepoint) and store the mutation's outcome.
fn server_push_statements(
    database: &Database,
    owner: &str,
    count: usize,
    savepoints: bool,
    outcomes: bool,
) -> Duration {
    let bodies = entries(&mut Lcg(17), count);
    let mut pooled = database.get().unwrap();
    let conn: &mut DbConnection = &mut pooled;
    let device = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(sync_devices::table)
        .values((
            sync_devices::device_id.eq(&device),
            sync_devices::owner_id.eq(owner),
            sync_devices::last_mutation_id.eq(0_i64),
            sync_devices::created_at.eq(0_i64),
            sync_devices::last_seen_at.eq(0_i64),
        ))
        .execute(conn)
        .unwrap();
    let rows = raw_rows(owner, &bodies, 1);
    let start = Instant::now();
    let mut mutation_id = 0_i64;
    for chunk in rows.chunks(MAX_PUSH_MUTATIONS) {
        conn.transaction(|conn| {
            let size = i64::try_from(chunk.len() * 2).unwrap();
            let top: i64 = diesel::update(owner_versions::table.find(owner))
                .set(owner_versions::version.eq(owner_versions::version + size))
                .returning(owner_versions::version)
                .get_result(conn)?;
            let _last: i64 = sync_devices::table
                .find(&device)
                .select(sync_devices::last_mutation_id)
                .first(conn)?;
            for (i, row) in chunk.iter().enumerate() {
                mutation_id += 1;
                let found = records::table
                    .filter(records::id.eq(&row.id))
                    .filter(records::owner_id.eq(owner))
                    .select((
                        records::id,
                        records::kind,
                        records::created_at,
                        records::updated_at,
                        records::occurred_at,
                        records::hlc,
                        records::deleted,
                        records::body,
                        records::origin_device,
                        records::created_hlc,
                        records::created_device,
                        records::field_stamps,
                    ))
                    .first::<StoredRow>(conn)
                    .optional()?;
                assert!(found.is_none());
                let row = RawRow {
                    version: top - size + 1 + i64::try_from(i).unwrap(),
                    ..row.clone()
                };
                if savepoints {
                    conn.transaction(|conn| {
                        diesel::insert_into(records::table)
                            .values(&row)
                            .execute(conn)
                    })?;
                } else {
                    diesel::insert_into(records::table)
                        .values(&row)
                        .execute(conn)?;
                }
                if outcomes {
                    let outcome = serde_json::to_string(&MutationOutcome {
                        mutation_id: journal_core::MutationId(mutation_id.unsigned_abs()),
                        status: OutcomeStatus::Applied,
                        conflict: false,
                        problem: None,
                    })
                    .unwrap();
                    diesel::insert_into(mutation_outcomes::table)
                        .values((
                            mutation_outcomes::device_id.eq(&device),
                            mutation_outcomes::mutation_id.eq(mutation_id),
                            mutation_outcomes::outcome.eq(outcome),
                            mutation_outcomes::record_id.eq(Some(&row.id)),
                            mutation_outcomes::hlc.eq(Some(row.hlc)),
                        ))
                        .execute(conn)?;
                }
            }
            diesel::update(sync_devices::table.find(&device))
                .set(sync_devices::last_mutation_id.eq(mutation_id))
                .execute(conn)?;
            diesel::QueryResult::Ok(())
        })
        .unwrap();
    }
    start.elapsed()
}

/// The baseline of `raw_insert`, once.
fn batch_insert(database: &Database, owner: &str, count: usize) -> Duration {
    let bodies = entries(&mut Lcg(19), count);
    let mut pooled = database.get().unwrap();
    raw_insert(&mut pooled, owner, &bodies).unwrap()
}
