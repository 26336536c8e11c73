//! The journal encrypted at rest: nothing readable in any file, the right
//! key opens it, a wrong or missing one changes nothing, a plaintext
//! journal is encrypted without loss even when killed part way, a key
//! change is finished after a cut.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::phase::Phase;
use crate::records::{JournalEntry, RecordBody};
use crate::sync::SecretStore;

const CANARY: &str = "Zephyrine-canary-sentence-4417";

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

/// A secret store in a file, so a child process and its parent share it.
struct FileSecrets(PathBuf);

impl FileSecrets {
    fn all(&self) -> HashMap<String, String> {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
    fn save(&self, all: &HashMap<String, String>) {
        let temp = self.0.with_extension("tmp");
        std::fs::write(&temp, serde_json::to_vec(all).unwrap()).unwrap();
        std::fs::File::open(&temp).unwrap().sync_all().unwrap();
        std::fs::rename(&temp, &self.0).unwrap();
    }
}

impl SecretStore for FileSecrets {
    fn get(&self, key: &str) -> Option<String> {
        self.all().get(key).cloned()
    }
    fn set(&self, key: &str, value: &str) {
        let mut all = self.all();
        all.insert(key.to_owned(), value.to_owned());
        self.save(&all);
    }
    fn remove(&self, key: &str) {
        let mut all = self.all();
        all.remove(key);
        self.save(&all);
    }
}

/// A store that forgets what it is told.
struct Forgetful;

impl SecretStore for Forgetful {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
    fn set(&self, _: &str, _: &str) {}
    fn remove(&self, _: &str) {}
}

/// Every file in `dir` but the secrets, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "json"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    all.sort();
    all
}

fn holds(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

fn assert_nothing_readable(dir: &Path) {
    let found = files(dir);
    assert!(!found.is_empty());
    for (path, bytes) in found {
        assert!(
            !holds(&bytes, CANARY.as_bytes()),
            "{} holds the canary",
            path.display()
        );
        assert!(
            !holds(&bytes, b"canary"),
            "{} holds a word of it",
            path.display()
        );
        assert!(
            !holds(&bytes, b"SQLite format 3"),
            "{} is plaintext SQLite",
            path.display()
        );
    }
}

#[test]
fn nothing_readable_is_left_in_any_file_and_only_the_right_key_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let secrets = FileSecrets(dir.path().join("secrets.json"));
    let store = JournalStore::open_with_secrets(&path, &secrets).unwrap();
    let saved = store.create(entry(&format!("Today: {CANARY}."))).unwrap();
    let gone = store.create(entry("deleted canary words")).unwrap();
    store.delete(gone.id).unwrap();
    assert_eq!(
        store.search(&SearchQuery::new("zephyrine")).unwrap().len(),
        1
    );
    // While open, the write-ahead log is beside it: encrypted too.
    assert_nothing_readable(dir.path());
    drop(store);
    assert_nothing_readable(dir.path());

    let store = JournalStore::open_with_secrets(&path, &secrets).unwrap();
    assert!(
        store
            .get(saved.id)
            .unwrap()
            .body
            .to_json()
            .unwrap()
            .contains(CANARY)
    );
    drop(store);
    let before = files(dir.path());

    // A wrong key, no key, the plain opener: typed errors, not a byte changed.
    let wrong = DatabaseKey::from_bytes([7; 32]);
    assert!(matches!(
        JournalStore::open_encrypted(&path, &wrong),
        Err(StoreError::WrongKey { .. })
    ));
    let empty = FileSecrets(dir.path().join("other-secrets.json"));
    assert!(matches!(
        JournalStore::open_with_secrets(&path, &empty),
        Err(StoreError::KeyMissing { .. })
    ));
    let names = keys::names(&path);
    empty.set(&names.current, &wrong.to_hex());
    assert!(matches!(
        JournalStore::open_with_secrets(&path, &empty),
        Err(StoreError::WrongKey { .. })
    ));
    assert!(matches!(
        JournalStore::open(&path),
        Err(StoreError::NotAJournal { .. })
    ));
    assert!(matches!(
        JournalStore::open_with_secrets(&path, &Forgetful),
        Err(StoreError::KeyMissing { .. })
    ));
    assert_eq!(files(dir.path()), before, "refused opens change nothing");

    // Another application's plain SQLite database: refused, untouched, and
    // no key left behind for it.
    let other = dir.path().join("other-app.db");
    {
        use diesel::connection::SimpleConnection;
        let mut conn = SqliteConnection::establish(other.to_str().unwrap()).unwrap();
        conn.batch_execute("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('milk');")
            .unwrap();
    }
    let bytes = std::fs::read(&other).unwrap();
    let clean = FileSecrets(dir.path().join("clean-secrets.json"));
    assert!(matches!(
        JournalStore::open_with_secrets(&other, &clean),
        Err(StoreError::NotAJournal { .. })
    ));
    assert_eq!(std::fs::read(&other).unwrap(), bytes);
    assert!(clean.all().is_empty(), "{:?}", clean.all().keys());

    // A store that does not keep the key: no new journal is made.
    let fresh = dir.path().join("fresh.db");
    assert!(matches!(
        JournalStore::open_with_secrets(&fresh, &Forgetful),
        Err(StoreError::KeyNotKept(_))
    ));
    assert!(!fresh.exists());
}

#[test]
fn a_plaintext_journal_is_encrypted_on_open_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let plain = JournalStore::open(&path).unwrap();
    let ids: Vec<_> = (0..50)
        .map(|i| {
            plain
                .create(entry(&format!("entry {i} {CANARY}")))
                .unwrap()
                .id
        })
        .collect();
    let pending = plain.pending_change_count().unwrap();
    let device = plain.device_id();
    drop(plain);
    assert!(
        holds(&std::fs::read(&path).unwrap(), CANARY.as_bytes()),
        "plaintext before"
    );

    let secrets = FileSecrets(dir.path().join("secrets.json"));
    let store = JournalStore::open_with_secrets(&path, &secrets).unwrap();
    for id in &ids {
        store.get(*id).unwrap();
    }
    assert_eq!(
        store.pending_change_count().unwrap(),
        pending,
        "the outbox came along"
    );
    assert_eq!(store.device_id(), device);
    assert_eq!(
        store.search(&SearchQuery::new("zephyrine")).unwrap().len(),
        20
    );
    drop(store);
    assert_nothing_readable(dir.path());
    assert!(!encrypt::copy_path(&path).exists());
}

#[test]
fn a_key_change_leaves_a_journal_only_the_new_key_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let secrets = FileSecrets(dir.path().join("secrets.json"));
    let store = JournalStore::open_with_secrets(&path, &secrets).unwrap();
    let saved = store.create(entry(CANARY)).unwrap();
    let names = keys::names(&path);
    let old = keys::read(&secrets, &names.current).unwrap();
    store.rekey(&secrets).unwrap();
    // Still usable, and the change is in the new file.
    let later = store.create(entry("after the key change")).unwrap();
    drop(store);
    let new = keys::read(&secrets, &names.current).unwrap();
    assert_ne!(new, old);
    assert!(secrets.get(&names.next).is_none());
    assert!(matches!(
        JournalStore::open_encrypted(&path, &old),
        Err(StoreError::WrongKey { .. })
    ));
    let store = JournalStore::open_with_secrets(&path, &secrets).unwrap();
    store.get(saved.id).unwrap();
    store.get(later.id).unwrap();
    drop(store);

    // Cut off after the swap, before the new key was made the journal's:
    // the next open finishes the change.
    secrets.set(&names.next, &new.to_hex());
    secrets.set(&names.current, &old.to_hex());
    let store = JournalStore::open_with_secrets(&path, &secrets).unwrap();
    store.get(saved.id).unwrap();
    assert_eq!(keys::read(&secrets, &names.current), Some(new.clone()));
    assert!(secrets.get(&names.next).is_none());
    drop(store);
    // Cut off before the swap: the old key opens it, the stray copy goes.
    secrets.set(&names.next, &old.to_hex());
    std::fs::write(encrypt::copy_path(&path), b"half a copy").unwrap();
    JournalStore::open_with_secrets(&path, &secrets).unwrap();
    assert!(secrets.get(&names.next).is_none());
    assert!(!encrypt::copy_path(&path).exists());
}

#[test]
fn a_journal_whose_key_is_lost_is_set_aside_whole_and_a_new_one_made() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let secrets = FileSecrets(dir.path().join("secrets.json"));
    drop(JournalStore::open_with_secrets(&path, &secrets).unwrap());
    let bytes = std::fs::read(&path).unwrap();
    let restored = FileSecrets(dir.path().join("restored.json"));
    assert!(matches!(
        JournalStore::open_with_secrets(&path, &restored),
        Err(StoreError::KeyMissing { .. })
    ));
    let aside = JournalStore::set_aside_unreadable(&path, &restored).unwrap();
    assert_eq!(std::fs::read(&aside).unwrap(), bytes, "kept as it was");
    let store = JournalStore::open_with_secrets(&path, &restored).unwrap();
    assert_eq!(store.pending_change_count().unwrap(), 0);
}

/// The child of the kill test: opens (and so encrypts) the journal named
/// by the environment, and exits. Run only by the parent.
#[test]
#[ignore = "run by a_plaintext_journal_survives_being_killed_while_it_is_encrypted"]
fn encrypting_child() {
    let Ok(path) = std::env::var("JOURNAL_ENCRYPT_CHILD") else {
        return;
    };
    let path = PathBuf::from(path);
    let secrets = FileSecrets(path.with_file_name("secrets.json"));
    JournalStore::open_with_secrets(&path, &secrets).unwrap();
}

#[test]
fn a_plaintext_journal_survives_being_killed_while_it_is_encrypted() {
    let runs: u64 = if std::env::var_os("CI").is_some() {
        6
    } else {
        12
    };
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let secrets = FileSecrets(dir.path().join("secrets.json"));
    let seed = Mutex::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64,
    );
    let mut killed_mid_way = 0;
    for run in 0..runs {
        // A fresh plaintext journal each time.
        for file in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(file.unwrap().path()).unwrap();
        }
        let plain = JournalStore::open(&path).unwrap();
        let ids: Vec<_> = (0..400)
            .map(|i| {
                plain
                    .create(entry(&format!("entry {i} of run {run}")))
                    .unwrap()
                    .id
            })
            .collect();
        drop(plain);
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "store::encryption_tests::encrypting_child",
                "--ignored",
                "--quiet",
            ])
            .env("JOURNAL_ENCRYPT_CHILD", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let wait = {
            let mut s = seed.lock().unwrap();
            *s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (*s >> 33) % 120
        };
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_way += 1;
        }
        // Either journal is whole: open it (finishing the encryption if it
        // was cut off) and find every entry.
        let store = JournalStore::open_with_secrets(&path, &secrets)
            .unwrap_or_else(|e| panic!("run {run} (killed after {wait} ms): {e}"));
        for id in &ids {
            store
                .get(*id)
                .unwrap_or_else(|e| panic!("run {run}: {id} lost: {e}"));
        }
        drop(store);
        assert!(!encrypt::copy_path(&path).exists());
        assert!(!holds(&std::fs::read(&path).unwrap(), b"SQLite format 3"));
    }
    eprintln!("{killed_mid_way} of {runs} runs were killed before the child finished");
}
