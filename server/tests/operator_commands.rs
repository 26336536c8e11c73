//! An operator's mistakes with the management commands: `create-therapist`
//! or `migrate` run from another folder (a relative SQLite path then names
//! a file that does not exist), or pointed at a PostgreSQL database the
//! server never started on. Such a command must not make a database — a
//! therapist created in a second, empty journal gets a password that never
//! works against the running server — and must say which database it
//! looked for. Each case on SQLite and on PostgreSQL, through the real
//! binary.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use journal_testing::{Backend, TestDatabase};

fn server(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_journal-server"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("JOURNAL_LOG", "warn")
        .output()
        .expect("journal-server runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const CREATE: &[&str] = &[
    "create-therapist",
    "--email",
    "lee@clinic.example",
    "--display-name",
    "Dr. Lee",
];

#[test]
fn commands_run_from_another_folder_make_no_sqlite_file() {
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("data").join("journal.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [CREATE, &["migrate"]] {
        let output = server(args, &url);
        assert!(!output.status.success(), "{args:?} succeeded");
        let said = stderr(&output);
        assert!(said.contains("no database at"), "{said}");
        assert!(said.contains(&missing.display().to_string()), "{said}");
        assert!(!missing.exists(), "{args:?} made {}", missing.display());
        assert!(
            !folder.path().join("data").exists(),
            "{args:?} made the folder"
        );
    }
}

#[test]
fn a_relative_sqlite_path_is_named_as_the_absolute_file_it_looked_for() {
    let folder = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_journal-server"))
        .args(CREATE)
        .current_dir(folder.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = stderr(&output);
    let expected = folder.path().join("data").join("journal.db");
    assert!(said.contains(&expected.display().to_string()), "{said}");
    assert!(!expected.exists());
}

#[test]
fn commands_work_on_the_servers_database() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(database) = TestDatabase::create(backend, "journal_cli_") else {
            continue;
        };
        // The server makes its database on first start (here: `open`).
        journal_server::store::Database::open(database.url(), 1).unwrap();
        let migrated = server(&["migrate"], database.url());
        assert!(
            migrated.status.success(),
            "{backend:?}: {}",
            stderr(&migrated)
        );
        let created = server(CREATE, database.url());
        assert!(
            created.status.success(),
            "{backend:?}: {}",
            stderr(&created)
        );
        let said = String::from_utf8_lossy(&created.stdout);
        assert!(
            said.contains("created therapist lee@clinic.example"),
            "{said}"
        );
        assert!(said.contains("password: "), "{said}");
    }
}

#[test]
fn a_postgres_database_the_server_never_started_on_gets_no_therapist() {
    let Some(database) = TestDatabase::create(Backend::Postgres, "journal_cli_") else {
        return;
    };
    let output = server(CREATE, database.url());
    assert!(!output.status.success(), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(said.contains("holds no journal"), "{said}");
    assert!(said.contains("journal_cli_"), "{said}");
    // Nothing was made in it: `migrate` (which may fill an empty database)
    // then finds it still without the journal's tables and makes them.
    let mut conn = <diesel::PgConnection as diesel::Connection>::establish(database.url()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Tables {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let tables: Tables = diesel::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
        ),
        &mut conn,
    )
    .unwrap();
    assert_eq!(
        tables.n, 0,
        "create-therapist wrote into the empty database"
    );
    let migrated = server(&["migrate"], database.url());
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let created = server(CREATE, database.url());
    assert!(created.status.success(), "{}", stderr(&created));
}

#[test]
fn a_predictable_signing_secret_is_refused_before_serving() {
    use base64::Engine;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(database) = TestDatabase::create(backend, "journal_cli_") else {
            continue;
        };
        let zeros = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        let output = Command::new(env!("CARGO_BIN_EXE_journal-server"))
            .args(["serve", "--bind", "127.0.0.1:0", "--jwt-secret", &zeros])
            .env("DATABASE_URL", database.url())
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{backend:?}: served with 32 zero bytes"
        );
        let said = stderr(&output);
        assert!(said.contains("too predictable"), "{backend:?}: {said}");
        assert!(
            said.contains("openssl rand -base64 48"),
            "{backend:?}: {said}"
        );
    }
}
