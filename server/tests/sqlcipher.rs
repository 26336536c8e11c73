//! The server's SQLite is SQLCipher on purpose (one library for the whole
//! workspace; see the root Cargo.toml): unkeyed, it reads and writes plain
//! SQLite files as before, and it is the library the phone ships, with the
//! same cryptography (journal-cipher's, not OpenSSL's).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    cipher_version: String,
}

#[derive(QueryableByName)]
struct Provider {
    #[diesel(sql_type = Text)]
    cipher_provider: String,
}

/// A new database file `name` in a directory of its own, opened with the
/// workspace's SQLCipher.
fn new_database(name: &str) -> (tempfile::TempDir, SqliteConnection) {
    journal_cipher::link();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    (dir, conn)
}

#[test]
fn the_servers_sqlite_is_sqlcipher_and_unkeyed_files_stay_plain() {
    let (dir, mut conn) = new_database("server.db");
    let version: Version = diesel::sql_query("PRAGMA cipher_version")
        .get_result(&mut conn)
        .unwrap();
    assert!(
        version.cipher_version.starts_with('4'),
        "{}",
        version.cipher_version
    );
    diesel::sql_query("CREATE TABLE t (x TEXT)")
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let bytes = std::fs::read(dir.path().join("server.db")).unwrap();
    assert!(
        bytes.starts_with(b"SQLite format 3\0"),
        "an unkeyed database is plain SQLite"
    );
}

#[test]
fn a_keyed_database_is_encrypted_by_the_workspaces_own_provider() {
    let (_dir, mut conn) = new_database("keyed.db");
    diesel::sql_query(journal_core::encryption::DatabaseKey::from_bytes([9; 32]).pragma())
        .execute(&mut conn)
        .unwrap();
    let provider: Provider = diesel::sql_query("PRAGMA cipher_provider")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(provider.cipher_provider, journal_cipher::PROVIDER_NAME);
}

#[derive(QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = Text)]
    compile_options: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// SQLite is built without STAT4 (`.cargo/config.toml`): with it, once
/// `ANALYZE` had run, every statement binding another owner was prepared
/// again, and a large server's pulls ran at half the rate. `ANALYZE` keeps
/// its STAT1 statistics.
#[test]
fn analyze_keeps_no_per_value_samples_that_would_replan_every_statement() {
    let (_dir, mut conn) = new_database("analysed.db");
    let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options")
        .load(&mut conn)
        .unwrap();
    assert!(
        options
            .iter()
            .all(|o| !o.compile_options.starts_with("ENABLE_STAT4")),
        "SQLite was compiled with STAT4"
    );
    diesel::sql_query("CREATE TABLE r (owner TEXT, v INTEGER)")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("CREATE INDEX r_by_owner ON r (owner, v)")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
         INSERT INTO r SELECT 'owner-' || (i % 20), i FROM n",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("ANALYZE").execute(&mut conn).unwrap();
    let tables: Vec<Name> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'")
            .load(&mut conn)
            .unwrap();
    let tables: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["sqlite_stat1"]);
}
