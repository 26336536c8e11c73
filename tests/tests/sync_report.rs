//! What a sync tells the patient, end to end on both backends: news from
//! the other phone (created, deleted), a therapist's comment made, edited
//! and deleted, conflicts — with the records they are about — and never
//! the phone's own changes coming back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use journal_core::Phase;
use journal_core::records::{JournalEntry, RecordBody, RecordKind, Share};
use journal_e2e::{Phone, on_both_backends};
use serde_json::json;

const PASSWORD: &str = "a long passphrase";

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

on_both_backends! {
    fn the_report_counts_news_comments_and_conflicts_never_echoes(server: LiveServer) {
        let email = "report@example.org";
        server.register(email, PASSWORD);
        let therapist_id = server.create_therapist("report.lee@clinic.example", PASSWORD, "Dr. Lee");
        let therapist = server.token("report.lee@clinic.example", PASSWORD);
        let patient = server.token(email, PASSWORD);
        server.link(&therapist, &patient);
        let (_, me) = server.call("GET", "/api/v1/me", &patient, None);
        let patient_id = me["id"].as_str().unwrap().to_owned();

        let a = Phone::new(&server, email, PASSWORD);
        let b = Phone::new(&server, email, PASSWORD);
        let shared = a.store.create(entry("for Dr. Lee")).unwrap();
        let doomed = a.store.create(entry("to be deleted on the tablet")).unwrap();
        a.store.create(Share::kinds(therapist_id.parse().unwrap(), vec![RecordKind::JournalEntry]).unwrap().into()).unwrap();
        let first = a.client.sync().unwrap();
        assert_eq!((first.pushed, first.pulled), (3, 0), "its own changes are not news");
        assert!(first.deleted_elsewhere.is_empty());

        // The tablet: three new from the phone; then it writes and deletes.
        let tablet = b.client.sync().unwrap();
        assert_eq!(tablet.pulled, 3);
        b.store.create(entry("written on the tablet")).unwrap();
        b.store.delete(doomed.id).unwrap();
        b.client.sync().unwrap();
        let news = a.client.sync().unwrap();
        assert_eq!(news.pulled, 2, "one new, one deleted");
        assert_eq!(news.deleted_elsewhere, vec![doomed.id]);
        assert_eq!(a.client.sync().unwrap().pulled, 0, "nothing twice");

        // The therapist comments, edits, deletes.
        let (status, comment) = server.call(
            "POST",
            &format!("/api/v1/therapist/patients/{patient_id}/records/{}/comments", shared.id),
            &therapist,
            Some(json!({"text": "Thank you for this."})),
        );
        assert_eq!(status, 201, "{comment}");
        let replied = a.client.sync().unwrap();
        assert_eq!((replied.comments_new, replied.comments_edited, replied.comments_deleted), (1, 0, 0));
        assert_eq!(replied.commented_records, vec![shared.id]);
        let comment_uri = format!("/api/v1/therapist/comments/{}", comment["id"].as_str().unwrap());
        assert_eq!(server.call("PUT", &comment_uri, &therapist, Some(json!({"text": "Thank you."}))).0, 200);
        let edited = a.client.sync().unwrap();
        assert_eq!((edited.comments_new, edited.comments_edited, edited.comments_deleted), (0, 1, 0));
        assert_eq!(server.call("DELETE", &comment_uri, &therapist, None).0, 204);
        let deleted = a.client.sync().unwrap();
        assert_eq!((deleted.comments_new, deleted.comments_edited, deleted.comments_deleted), (0, 0, 1));
        assert_eq!(deleted.commented_records, vec![shared.id]);

        // Both edit the shared entry: the one whose edit lost hears of it.
        b.client.sync().unwrap();
        a.store.update(shared.id, entry("the phone's words")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        b.store.update(shared.id, entry("the tablet's words")).unwrap();
        a.client.sync().unwrap();
        let clash = b.client.sync().unwrap();
        assert_eq!(clash.conflicts, 1);
        let heard = a.client.sync().unwrap();
        assert_eq!(heard.pulled, 1, "the tablet's later edit");
        assert_eq!(heard.revisions, 1);
        assert_eq!(heard.conflicted_records, vec![shared.id]);
    }
}
