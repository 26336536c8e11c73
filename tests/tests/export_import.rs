//! A patient's export from the server imports into an empty journal on a
//! new phone: everything they wrote, with revisions and therapists'
//! comments; on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use journal_core::Phase;
use journal_core::export::ExportDocument;
use journal_core::records::{JournalEntry, MoodCheckIn, RecordBody};
use journal_core::store::JournalStore;
use journal_core::sync::{HttpTransport, Transport};
use journal_e2e::{Phone, on_both_backends};

const PASSWORD: &str = "a long passphrase";

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

on_both_backends! {
    fn the_servers_export_imports_into_an_empty_journal(server: LiveServer) {
        let email = "ana@example.org";
        server.register(email, PASSWORD);
        let a = Phone::new(&server, email, PASSWORD);
        let b = Phone::new(&server, email, PASSWORD);
        let shared = a.store.create(entry("the first draft")).unwrap();
        a.store.create(MoodCheckIn::new(chrono::Utc::now(), 5, 4, 6).unwrap().into()).unwrap();
        a.client.sync().unwrap();
        b.client.sync().unwrap();
        // A conflict, so the export holds a revision too.
        a.store.update(shared.id, entry("the phone's words")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        b.store.update(shared.id, entry("the tablet's words")).unwrap();
        a.client.sync().unwrap();
        b.client.sync().unwrap();
        a.client.sync().unwrap();

        let tokens = HttpTransport::new(&server.url()).unwrap().sign_in(email, PASSWORD).unwrap();
        let response = ureq::get(&format!("{}/api/v1/me/export", server.url()))
            .header("Authorization", &format!("Bearer {}", tokens.access_token))
            .call()
            .unwrap();
        let text = response.into_body().read_to_string().unwrap();
        let document: ExportDocument = serde_json::from_str(&text).unwrap();
        document.check().unwrap();
        assert_eq!(document.records.len(), 2);
        assert_eq!(document.revisions.len(), 1);

        let dir = tempfile::tempdir().unwrap();
        let fresh = JournalStore::open(dir.path().join("restored.db")).unwrap();
        let report = fresh.import(&document, false).unwrap();
        assert_eq!((report.records, report.revisions), (2, 1));
        for record in a.store.list(&Default::default()).unwrap().records {
            assert_eq!(fresh.get(record.id).unwrap(), record, "as on the phone");
        }
        let kept = fresh.revisions(shared.id).unwrap();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].body.to_string().contains("the phone's words"));
    }
}
