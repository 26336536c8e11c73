//! A phone restored from a backup without its keychain, end to end on both
//! backends: the encrypted journal cannot be opened (a typed error, the
//! file untouched), is set aside, and signing in and syncing brings back
//! every record that was synced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use journal_core::Phase;
use journal_core::records::{JournalEntry, RecordBody};
use journal_core::store::{JournalStore, StoreError};
use journal_core::sync::{HttpTransport, InMemorySecrets, SyncClient};
use journal_e2e::{LiveServer, on_both_backends};

const PASSWORD: &str = "a long passphrase";

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

fn phone(
    server: &LiveServer,
    path: &std::path::Path,
    secrets: Arc<InMemorySecrets>,
) -> (Arc<JournalStore>, SyncClient) {
    let store = Arc::new(JournalStore::open_with_secrets(path, secrets.as_ref()).unwrap());
    let transport = Arc::new(HttpTransport::new(&server.url()).unwrap());
    let client = SyncClient::new(Arc::clone(&store), transport, secrets);
    (store, client)
}

on_both_backends! {
    fn a_phone_whose_key_is_gone_signs_in_and_gets_every_record_back(server: LiveServer) {
        let email = "lost.key@example.org";
        server.register(email, PASSWORD);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let (store, client) = phone(&server, &path, Arc::new(InMemorySecrets::new()));
        client.sign_in(email, PASSWORD).unwrap();
        let ids: Vec<_> = (0..30).map(|i| store.create(entry(&format!("entry {i}"))).unwrap().id).collect();
        store.delete(ids[0]).unwrap();
        client.sync().unwrap();
        drop(client);
        drop(store);
        let bytes = std::fs::read(&path).unwrap();

        // Restored without the keychain: refused, untouched.
        let restored = Arc::new(InMemorySecrets::new());
        assert!(matches!(JournalStore::open_with_secrets(&path, restored.as_ref()),
            Err(StoreError::KeyMissing { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let aside = JournalStore::set_aside_unreadable(&path, restored.as_ref()).unwrap();
        assert_eq!(std::fs::read(&aside).unwrap(), bytes, "set aside whole");

        let (store, client) = phone(&server, &path, restored);
        client.sign_in(email, PASSWORD).unwrap();
        let report = client.sync().unwrap();
        assert_eq!(report.pulled, 30, "{report:?}");
        assert!(store.get(ids[0]).is_err(), "the deleted one stays deleted");
        for id in &ids[1..] {
            store.get(*id).unwrap();
        }
    }
}
