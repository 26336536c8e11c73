//! The provider against real SQLCipher 4 files: the fixtures were written by
//! the stock SQLCipher 4.14 build on OpenSSL 3.6 (raw key, passphrase, and
//! passphrase in SQLCipher 3's settings), so opening them here proves the
//! files this provider reads and writes are ordinary SQLCipher files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

const RAW_KEY: &str =
    "PRAGMA key = \"x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'\";";
const PASSPHRASE: &str = "PRAGMA key = 'correct horse battery staple';";
const CANARY: &str = "The lake was still and I could breathe again.";

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Provider {
    #[diesel(sql_type = Text)]
    cipher_provider: String,
}

fn copy_of(fixture: &str, dir: &tempfile::TempDir) -> String {
    let to = dir.path().join(fixture);
    std::fs::copy(
        format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR")),
        &to,
    )
    .unwrap();
    to.to_string_lossy().into_owned()
}

fn open(path: &str, key: &str) -> SqliteConnection {
    assert_eq!(journal_cipher::link(), journal_cipher::PROVIDER_NAME);
    let mut conn = SqliteConnection::establish(path).unwrap();
    conn.batch_execute(key).unwrap();
    conn
}

fn lines(conn: &mut SqliteConnection) -> QueryResult<Vec<String>> {
    let rows: Vec<Line> = diesel::sql_query("SELECT line FROM canary ORDER BY rowid").load(conn)?;
    Ok(rows.into_iter().map(|r| r.line).collect())
}

#[test]
fn files_written_by_the_openssl_build_open_and_take_new_writes() {
    for (fixture, key) in [
        ("raw-key-v4.db", RAW_KEY.to_owned()),
        ("passphrase-v4.db", PASSPHRASE.to_owned()),
        (
            "passphrase-v3.db",
            format!("{PASSPHRASE} PRAGMA cipher_compatibility = 3;"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = copy_of(fixture, &dir);
        let mut conn = open(&path, &key);
        let provider: Vec<Provider> = diesel::sql_query("PRAGMA cipher_provider")
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            provider[0].cipher_provider,
            journal_cipher::PROVIDER_NAME,
            "{fixture}"
        );
        let read = lines(&mut conn).unwrap();
        assert_eq!((read.len(), read[0].as_str()), (201, CANARY), "{fixture}");
        conn.batch_execute("INSERT INTO canary VALUES ('written through the Rust provider'); PRAGMA integrity_check;").unwrap();
        drop(conn);
        let mut again = open(&path, &key);
        assert_eq!(
            lines(&mut again).unwrap().last().map(String::as_str),
            Some("written through the Rust provider"),
            "{fixture}"
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes
                .windows(8)
                .any(|w| w == b"The lake" || w == b"the Rust"),
            "{fixture} holds plaintext"
        );
    }
}

#[test]
fn a_wrong_key_or_a_tampered_page_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of("raw-key-v4.db", &dir);
    let mut wrong = open(
        &path,
        "PRAGMA key = \"x'ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'\";",
    );
    assert!(lines(&mut wrong).is_err());
    drop(wrong);

    // One flipped bit in the second page's ciphertext fails its HMAC.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 100] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let mut tampered = open(&path, RAW_KEY);
    assert!(lines(&mut tampered).is_err());
}
