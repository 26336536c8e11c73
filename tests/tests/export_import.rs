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
use journal_e2e::{LiveServer, Phone, on_both_backends};

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

mod therapist_comments {
    use super::*;

    on_both_backends! {
        fn a_comment_on_a_shared_entry_reaches_the_phone(server: LiveServer) {
            let email = "bo@example.org";
            server.register(email, PASSWORD);
            let therapist_id = server.create_therapist("lee@clinic.example", "therapist password", "Dr. Lee");
            let therapist = server.token("lee@clinic.example", "therapist password");
            let patient = server.token(email, PASSWORD);
            server.link(&therapist, &patient);

            // The phone writes two entries and shares one, offline; then syncs.
            let phone = Phone::new(&server, email, PASSWORD);
            let shared = phone.store.create(entry("I want you to read this")).unwrap();
            let private = phone.store.create(entry("This one is mine")).unwrap();
            let share = journal_core::records::Share::item(therapist_id.parse().unwrap(), shared.id);
            phone.store.create(share.into()).unwrap();
            phone.client.sync().unwrap();

            let me = phone_account(&server, &patient);
            let feed_path = format!("/api/v1/therapist/patients/{me}/feed");
            let (status, feed) = server.call("GET", &feed_path, &therapist, None);
            assert_eq!(status, 200, "{feed}");
            let seen: Vec<String> = feed["items"].as_array().unwrap().iter()
                .map(|i| i["record"]["id"].as_str().unwrap().to_owned()).collect();
            assert_eq!(seen, vec![shared.id.to_string()], "the shared entry and nothing else");
            let (status, _) = server.call("GET", &format!("/api/v1/therapist/patients/{me}/records/{}", private.id), &therapist, None);
            assert_eq!(status, 404);

            let path = format!("/api/v1/therapist/patients/{me}/records/{}/comments", shared.id);
            let (status, comment) = server.call("POST", &path, &therapist, Some(serde_json::json!({"text": "Thank you for sharing this."})));
            assert_eq!(status, 201, "{comment}");
            let report = phone.client.sync().unwrap();
            let _ = report;
            let comments = phone.store.comments(shared.id).unwrap();
            assert_eq!(comments.len(), 1);
            assert_eq!(comments[0].text, "Thank you for sharing this.");
            assert_eq!(comments[0].author, "Dr. Lee");
        }
    }

    fn phone_account(server: &LiveServer, token: &str) -> String {
        let (status, me) = server.call("GET", "/api/v1/me", token, None);
        assert_eq!(status, 200);
        me["id"].as_str().unwrap().to_owned()
    }
}
