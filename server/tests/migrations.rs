//! Upgrades of databases that already hold data: what a migration does to
//! rows written by the server before it. Each test on SQLite and on
//! PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use journal_server::store::Database;
use journal_server::store::schema::{care_plans, owner_versions};
use journal_testing::{Backend, TestDatabase};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Applies the pending migrations older than `before`.
fn migrate_until<C>(conn: &mut C, migrations: EmbeddedMigrations, before: &str)
where
    C: MigrationHarness<<C as Connection>::Backend> + Connection,
{
    for migration in conn.pending_migrations(migrations).unwrap() {
        if migration
            .name()
            .version()
            .to_string()
            .replace('-', "")
            .as_str()
            >= before
        {
            break;
        }
        conn.run_migration(&migration).unwrap();
    }
}

/// A database of `backend` migrated up to (not including) `before`, with
/// `setup` run on it.
fn database_before(backend: Backend, before: &str, setup: &str) -> Option<TestDatabase> {
    let database = TestDatabase::create(backend, "journal_migration_")?;
    match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::establish(database.url()).unwrap();
            migrate_until(&mut conn, POSTGRES, before);
            conn.batch_execute(setup).unwrap();
        }
        Backend::Sqlite => {
            let path = database.url().trim_start_matches("sqlite://");
            let mut conn = SqliteConnection::establish(path).unwrap();
            migrate_until(&mut conn, SQLITE, before);
            conn.batch_execute(setup).unwrap();
        }
    }
    Some(database)
}

/// Patients 1 and 2, therapists 1 and 2; patient 1 linked with both and
/// already at version 40 of their history, patient 2's link ended and no
/// history yet; three plans written before plans were synced.
const PLANS_BEFORE_SYNC: &str = "
INSERT INTO users (id, email, password_hash, role, created_at) VALUES
  ('00000000-0000-7000-8000-0000000000p1', 'p1@example.org', 'x', 'patient', 1),
  ('00000000-0000-7000-8000-0000000000p2', 'p2@example.org', 'x', 'patient', 1),
  ('00000000-0000-7000-8000-0000000000t1', 't1@example.org', 'x', 'therapist', 1),
  ('00000000-0000-7000-8000-0000000000t2', 't2@example.org', 'x', 'therapist', 1);
INSERT INTO care_links (id, patient_id, therapist_id, created_at, ended_at) VALUES
  ('l1', '00000000-0000-7000-8000-0000000000p1', '00000000-0000-7000-8000-0000000000t1', 1, NULL),
  ('l2', '00000000-0000-7000-8000-0000000000p1', '00000000-0000-7000-8000-0000000000t2', 1, NULL),
  ('l3', '00000000-0000-7000-8000-0000000000p2', '00000000-0000-7000-8000-0000000000t1', 1, 2);
INSERT INTO owner_versions (owner_id, version) VALUES
  ('00000000-0000-7000-8000-0000000000p1', 40);
INSERT INTO care_plans (id, patient_id, therapist_id, body, created_at, updated_at) VALUES
  ('a', '00000000-0000-7000-8000-0000000000p1', '00000000-0000-7000-8000-0000000000t1', '{}', 1, 1),
  ('b', '00000000-0000-7000-8000-0000000000p1', '00000000-0000-7000-8000-0000000000t2', '{}', 1, 1),
  ('c', '00000000-0000-7000-8000-0000000000p2', '00000000-0000-7000-8000-0000000000t1', '{}', 1, 1);
";

fn plans_written_before_sync_get_versions_above_every_cursor(backend: Backend) {
    let Some(database) = database_before(backend, "20261203000008", PLANS_BEFORE_SYNC) else {
        return;
    };
    let db = Database::open(database.url(), 1).unwrap();
    let mut conn = db.get().unwrap();
    let plans: Vec<(String, i64, bool)> = care_plans::table
        .select((care_plans::id, care_plans::version, care_plans::withdrawn))
        .order(care_plans::id)
        .load(&mut *conn)
        .unwrap();
    // Above what patient 1's devices may have pulled (40), each its own,
    // and the counter past them; patient 2's history starts with theirs.
    assert_eq!(
        plans,
        vec![
            ("a".to_owned(), 41, false),
            ("b".to_owned(), 42, false),
            ("c".to_owned(), 1, true),
        ]
    );
    let counters: Vec<(String, i64)> = owner_versions::table
        .order(owner_versions::owner_id)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(
        counters,
        vec![
            ("00000000-0000-7000-8000-0000000000p1".to_owned(), 42),
            ("00000000-0000-7000-8000-0000000000p2".to_owned(), 1),
        ]
    );
}

#[test]
fn plans_written_before_sync_get_versions_above_every_cursor_sqlite() {
    plans_written_before_sync_get_versions_above_every_cursor(Backend::Sqlite);
}

#[test]
fn plans_written_before_sync_get_versions_above_every_cursor_postgres() {
    plans_written_before_sync_get_versions_above_every_cursor(Backend::Postgres);
}

/// Several instances started at once on a new database (a rolling deploy,
/// or every container of a group at once): each opens it, which migrates
/// under the database-wide lock; every one succeeds and every migration is
/// recorded as applied.
fn instances_starting_at_once_migrate_once(backend: Backend) {
    let Some(database) = TestDatabase::create(backend, "journal_migration_") else {
        return;
    };
    let url = database.url().to_owned();
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| Database::open(&url, 2).map(drop).map_err(|e| e.to_string())))
            .collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (instance, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "instance {instance}: {result:?}");
    }
    let (applied, known) = match backend {
        Backend::Postgres => {
            applied_and_known(&mut PgConnection::establish(&url).unwrap(), POSTGRES)
        }
        Backend::Sqlite => applied_and_known(
            &mut SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap(),
            SQLITE,
        ),
    };
    assert_eq!(applied, known);
}

/// The versions recorded as applied, and those the server knows, sorted.
fn applied_and_known<C>(conn: &mut C, migrations: EmbeddedMigrations) -> (Vec<String>, Vec<String>)
where
    C: MigrationHarness<C::Backend> + Connection,
    EmbeddedMigrations: diesel::migration::MigrationSource<C::Backend>,
{
    let mut applied: Vec<String> = conn
        .applied_migrations()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut known: Vec<String> =
        diesel::migration::MigrationSource::<C::Backend>::migrations(&migrations)
            .unwrap()
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
    applied.sort();
    known.sort();
    (applied, known)
}

#[test]
fn instances_starting_at_once_migrate_once_sqlite() {
    instances_starting_at_once_migrate_once(Backend::Sqlite);
}

#[test]
fn instances_starting_at_once_migrate_once_postgres() {
    instances_starting_at_once_migrate_once(Backend::Postgres);
}
