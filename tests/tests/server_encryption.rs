//! The server's embedded SQLite encrypted with a key from configuration
//! (`--db-key-file`): nothing readable in the database or its log while
//! the server writes; without the key, with a wrong one, or with a key for
//! a plain database, the server refuses to start and says why; PostgreSQL
//! takes no key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use journal_core::encryption::DatabaseKey;
use journal_e2e::LiveServer;
use journal_server::store::{Database, DbError, Existing};
use journal_testing::Backend;
use serde_json::json;

const PASSWORD: &str = "a long passphrase";
const CANARY: &str = "Marrowind-canary-5531";

fn holds(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_encrypted_server_database_holds_nothing_readable_and_needs_its_key() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("db.key");
    let key = DatabaseKey::from_bytes([0x5a; 32]);
    std::fs::write(&key_file, format!("{}\n", key.to_hex())).unwrap();
    let server = LiveServer::start_with(
        Backend::Sqlite,
        &["--db-key-file", key_file.to_str().unwrap()],
    )
    .unwrap();
    server.register("enc@example.org", PASSWORD);
    let token = server.token("enc@example.org", PASSWORD);
    let (status, body) = server.call(
        "POST",
        "/api/v1/records",
        &token,
        Some(json!({"kind": "journalEntry", "body": {"body": CANARY, "phase": "integration"}})),
    );
    assert_eq!(status, 201, "{body}");

    let url = server.database_url();
    let path = std::path::PathBuf::from(url.strip_prefix("sqlite://").unwrap());
    let folder = path.parent().unwrap();
    let mut seen = 0;
    for file in std::fs::read_dir(folder).unwrap() {
        let file = file.unwrap().path();
        if !file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(path.file_name().unwrap().to_str().unwrap())
        {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !holds(&bytes, CANARY.as_bytes()),
            "{} holds the canary",
            file.display()
        );
        assert!(
            !holds(&bytes, b"enc@example.org"),
            "{} holds the email",
            file.display()
        );
        assert!(
            !holds(&bytes, b"SQLite format 3"),
            "{} is plain SQLite",
            file.display()
        );
        seen += 1;
    }
    assert!(seen >= 1);

    // The right key opens it; none, or a wrong one, is refused with words.
    Database::open_existing_keyed(&url, Existing::Journal, Some(key.clone())).unwrap();
    let refused = |key: Option<DatabaseKey>| match Database::open_existing_keyed(
        &url,
        Existing::Journal,
        key,
    ) {
        Err(DbError::Encryption(message)) => message,
        other => panic!("{:?}", other.map(|_| ())),
    };
    assert!(refused(None).contains("--db-key-file"));
    assert!(refused(Some(DatabaseKey::from_bytes([1; 32]))).contains("does not open"));
}

#[test]
fn a_key_for_a_plain_database_or_for_postgresql_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plain.db").display());
    Database::open(&url, 1).unwrap();
    match Database::open_keyed(&url, 1, Some(DatabaseKey::from_bytes([2; 32]))) {
        Err(DbError::Encryption(message)) => {
            assert!(message.contains("not encrypted"), "{message}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let key_error = |database_url: &str, contents: &str| {
        let key_file = dir.path().join("db.key");
        std::fs::write(&key_file, contents).unwrap();
        let cli = <journal_server::config::Cli as clap::Parser>::try_parse_from([
            "journal-server",
            "--database-url",
            database_url,
            "--db-key-file",
            key_file.to_str().unwrap(),
        ])
        .unwrap();
        cli.config.database_key().unwrap_err()
    };
    assert!(key_error("postgres://localhost/x", &"ab".repeat(32)).contains("PostgreSQL"));
    assert!(key_error(&url, "not a key").contains("64 hexadecimal"));
}
