//! Backups an operator can restore: `journal-server backup` copies a live
//! server's database while patients' devices keep pushing, `restore` puts
//! the copy into a new database, and a server started on it holds every
//! entry acknowledged before the backup began, none twice, no push in
//! part, nothing never sent. On SQLite the server's database is encrypted
//! (`--db-key-file`), and so is its backup. Both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use journal_core::encryption::DatabaseKey;
use journal_e2e::holdings_at;
use journal_e2e::process::{ScratchDatabase, ServerProcess, register};
use journal_e2e::writers::{WriteLog, check_held, write_until};
use journal_testing::Backend;

const SERVER: &str = env!("CARGO_BIN_EXE_e2e-server");
const PASSWORD: &str = "a long passphrase for backups";
/// Patients writing at once.
const WRITERS: usize = 3;
/// Entries per push.
const BATCH: usize = 8;

/// Runs the server binary's `command` on `database_url`; its exit status
/// and what it printed.
fn run(command: &[&str], database_url: &str, flags: &[&str]) -> (bool, String) {
    let output = Command::new(SERVER)
        .args(command)
        .args(["--database-url", database_url, "--log", "warn"])
        .args(flags)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn backup_under_writes_restores_every_acknowledged_entry(backend: Backend) {
    let Some(database) = ScratchDatabase::create(backend) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("db.key");
    std::fs::write(&key_file, DatabaseKey::from_bytes([0x3c; 32]).to_hex()).unwrap();
    let key_flags: Vec<&str> = match backend {
        Backend::Sqlite => vec!["--db-key-file", key_file.to_str().unwrap()],
        Backend::Postgres => vec![],
    };
    let server = ServerProcess::start_with(SERVER, &database.url, &key_flags);
    let url = server.url();
    let emails: Vec<String> = (0..WRITERS)
        .map(|n| format!("backup-{n}@example.org"))
        .collect();
    for email in &emails {
        register(&url, email, PASSWORD);
    }

    // The writers push until told to stop; the backup runs in the middle.
    let stop = Arc::new(AtomicBool::new(false));
    let pushes = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = emails
        .iter()
        .enumerate()
        .map(|(n, email)| {
            let (url, email) = (url.clone(), email.clone());
            let (stop, pushes) = (Arc::clone(&stop), Arc::clone(&pushes));
            std::thread::spawn(move || {
                write_until(&url, &email, PASSWORD, BATCH, 7 + n as u64, &stop, &pushes)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pushes.load(Ordering::Relaxed) < 5 * WRITERS {
        assert!(Instant::now() < deadline, "the writers did not get going");
        std::thread::sleep(Duration::from_millis(20));
    }

    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("journal.backup");
    let began = Instant::now();
    let (ok, said) = run(
        &["backup", "--to", file.to_str().unwrap()],
        &database.url,
        &key_flags,
    );
    let ended = Instant::now();
    assert!(ok, "backup failed: {said}");
    assert!(said.contains("backed up to"), "{said}");
    // The writers go on after the backup, so it was taken under writes.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<WriteLog> = writers
        .into_iter()
        .map(|w| w.join().unwrap().unwrap())
        .collect();
    let acked_during = logs
        .iter()
        .flat_map(|log| log.batches.iter())
        .filter(|b| b.acknowledged_at.is_some_and(|at| at > began && at < ended))
        .count();
    let acked_after = logs
        .iter()
        .flat_map(|log| log.batches.iter())
        .filter(|b| b.acknowledged_at.is_some_and(|at| at > ended))
        .count();
    assert!(acked_after > 0, "no push was acknowledged after the backup");

    if backend == Backend::Sqlite {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "the backup of an encrypted database is plain"
        );
        assert!(
            !bytes.windows(7).any(|w| w == b"session"),
            "the backup holds readable text"
        );
        // Without the key, the restore is refused and makes nothing.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("nokey.db");
        let (ok, said) = run(
            &["restore", "--from", file.to_str().unwrap()],
            &format!("sqlite://{}", target.display()),
            &[],
        );
        assert!(!ok && said.contains("--db-key-file"), "{said}");
        assert!(!target.exists(), "a refused restore left a file");
    }

    // A backup never overwrites; a restore never goes into a database in use.
    let (ok, said) = run(
        &["backup", "--to", file.to_str().unwrap()],
        &database.url,
        &key_flags,
    );
    assert!(!ok && said.contains("exists already"), "{said}");
    let (ok, said) = run(
        &["restore", "--from", file.to_str().unwrap()],
        &database.url,
        &key_flags,
    );
    assert!(
        !ok && (said.contains("not empty") || said.contains("a database exists")),
        "{said}"
    );

    // A log left where the database will be is refused, not replayed.
    if backend == Backend::Sqlite {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("journal.db");
        std::fs::write(
            dir.path().join("journal.db-wal"),
            b"left from an earlier database",
        )
        .unwrap();
        let (ok, said) = run(
            &["restore", "--from", file.to_str().unwrap()],
            &format!("sqlite://{}", target.display()),
            &key_flags,
        );
        assert!(!ok && said.contains("journal.db-wal"), "{said}");
        assert!(!target.exists(), "a refused restore left a file");
    }

    // Restored into a new database, served again.
    let restored = ScratchDatabase::create(backend).unwrap();
    let (ok, said) = run(
        &["restore", "--from", file.to_str().unwrap()],
        &restored.url,
        &key_flags,
    );
    assert!(ok, "restore failed: {said}");
    assert!(said.contains("restored"), "{said}");
    drop(server);
    let again = ServerProcess::start_with(SERVER, &restored.url, &key_flags);
    let mut held_total = 0;
    for (email, log) in emails.iter().zip(&logs) {
        let (_, sent) = holdings_at(&again.url(), email, PASSWORD);
        // Everything acknowledged before the backup began is held; what was
        // acknowledged while it ran may or may not be, but whole.
        held_total +=
            check_held(log, &sent, Some(began)).unwrap_or_else(|e| panic!("{email}: {e}"));
    }
    let acked_before: usize = logs
        .iter()
        .map(|log| log.acknowledged_before(began).len())
        .sum();
    assert!(held_total >= acked_before);
    eprintln!(
        "{backend:?}: {acked_before} entries acknowledged before the backup, {held_total} restored; \
         {acked_during} pushes acknowledged while it ran, {acked_after} after"
    );
    assert_restored_file_is_whole(backend, &restored.url);
}

/// The restored SQLite file is the one the restore placed: no copy in
/// progress is left beside it.
fn assert_restored_file_is_whole(backend: Backend, url: &str) {
    if backend == Backend::Sqlite {
        let path = Path::new(url.strip_prefix("sqlite://").unwrap());
        assert!(path.is_file());
        assert!(!path.with_extension("restoring").exists());
    }
}

#[test]
fn sqlite_encrypted_backup_under_writes_restores_every_acknowledged_entry() {
    backup_under_writes_restores_every_acknowledged_entry(Backend::Sqlite);
}

#[test]
fn postgres_backup_under_writes_restores_every_acknowledged_entry() {
    backup_under_writes_restores_every_acknowledged_entry(Backend::Postgres);
}
