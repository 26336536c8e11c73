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

#[test]
fn the_servers_sqlite_is_sqlcipher_and_unkeyed_files_stay_plain() {
    journal_cipher::link();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
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
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(b"SQLite format 3\0"),
        "an unkeyed database is plain SQLite"
    );
}

#[test]
fn a_keyed_database_is_encrypted_by_the_workspaces_own_provider() {
    journal_cipher::link();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyed.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(journal_core::encryption::DatabaseKey::from_bytes([9; 32]).pragma())
        .execute(&mut conn)
        .unwrap();
    let provider: Provider = diesel::sql_query("PRAGMA cipher_provider")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(provider.cipher_provider, journal_cipher::PROVIDER_NAME);
}
