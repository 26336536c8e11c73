//! The server's SQLite is SQLCipher on purpose (one library for the whole
//! workspace; see the root Cargo.toml): unkeyed, it reads and writes plain
//! SQLite files as before, and it is the library the phone ships.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    cipher_version: String,
}

#[test]
fn the_servers_sqlite_is_sqlcipher_and_unkeyed_files_stay_plain() {
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
