//! The patient's replies to a therapist's comment, end to end on both
//! backends: written on the phone (kept at once, offline), sent by sync,
//! seen by the therapist and by the patient's other phone, edited and
//! deleted from either phone; a reply the server refuses (the share
//! revoked) keeps its words on the phone and goes once the record is
//! shared again; a reply whose answer the network lost is one reply.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use journal_core::Phase;
use journal_core::comments::{Comment, Delivery};
use journal_core::records::{JournalEntry, RecordBody, RecordKind, Share};
use journal_core::store::{JournalStore, StoreError};
use journal_core::sync::{InMemorySecrets, SyncClient};
use journal_e2e::{Fault, FaultyTransport, LiveServer, Phone, on_both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "a long passphrase";

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

/// The therapist's view of the conversation on one record.
fn therapist_view(server: &LiveServer, token: &str, patient: &str, record: &str) -> Vec<Value> {
    let (status, body) = server.call(
        "GET",
        &format!("/api/v1/therapist/patients/{patient}/records/{record}/comments"),
        token,
        None,
    );
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn replies(comments: &[Comment]) -> Vec<&Comment> {
    comments.iter().filter(|c| c.from_patient).collect()
}

on_both_backends! {
    fn a_reply_goes_from_the_phone_to_the_therapist_and_the_other_phone(server: LiveServer) {
        let email = "replies@example.org";
        server.register(email, PASSWORD);
        let lee = server.create_therapist("replies.lee@clinic.example", PASSWORD, "Dr. Lee");
        let therapist = server.token("replies.lee@clinic.example", PASSWORD);
        let patient = server.token(email, PASSWORD);
        server.link(&therapist, &patient);
        let (_, me) = server.call("GET", "/api/v1/me", &patient, None);
        let patient_id = me["id"].as_str().unwrap().to_owned();

        let a = Phone::new(&server, email, PASSWORD);
        let b = Phone::new(&server, email, PASSWORD);
        let shared = a.store.create(entry("The sea was loud.")).unwrap();
        let share = a.store.create(Share::kinds(lee.parse().unwrap(), vec![RecordKind::JournalEntry]).unwrap().into()).unwrap();
        a.client.sync().unwrap();
        let record = shared.id.to_string();
        let (status, comment) = server.call(
            "POST",
            &format!("/api/v1/therapist/patients/{patient_id}/records/{record}/comments"),
            &therapist,
            Some(json!({"text": "What did it drown out?"})),
        );
        assert_eq!(status, 201, "{comment}");
        let comment_id: uuid::Uuid = comment["id"].as_str().unwrap().parse().unwrap();
        a.client.sync().unwrap();
        b.client.sync().unwrap();

        // Written before any network: kept, waiting, listed after the
        // comment; the therapist does not have it yet.
        let reply = a.store.reply_to_comment(comment_id, "My own worrying.").unwrap();
        assert!(reply.from_patient);
        assert_eq!(reply.reply_to, Some(comment_id));
        assert_eq!(reply.delivery, Delivery::Pending);
        let listed = a.store.comments(shared.id).unwrap();
        assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![comment_id, reply.id]);
        assert_eq!(therapist_view(&server, &therapist, &patient_id, &record).len(), 1);

        // Sent by the sync; the therapist sees it, under the patient's name.
        let sent = a.client.sync().unwrap();
        assert_eq!(sent.replies_sent, 1);
        assert!(sent.replies_refused.is_empty());
        assert_eq!((sent.comments_new, sent.comments_edited), (0, 0), "its own reply is not news");
        let seen = therapist_view(&server, &therapist, &patient_id, &record);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1]["id"], reply.id.to_string());
        assert_eq!(seen[1]["text"], "My own worrying.");
        assert_eq!(seen[1]["fromPatient"], true);
        assert_eq!(seen[1]["author"], email);
        let here = a.store.comments(shared.id).unwrap();
        assert_eq!(replies(&here)[0].delivery, Delivery::Delivered);
        assert_eq!(replies(&here)[0].author, email, "the server's copy names the author");
        assert_eq!(a.client.sync().unwrap().replies_sent, 0, "sent once");

        // The other phone gets it, and does not count it as a therapist's news.
        let other = b.client.sync().unwrap();
        assert_eq!((other.comments_new, other.comments_edited, other.comments_deleted), (0, 0, 0));
        let there = b.store.comments(shared.id).unwrap();
        assert_eq!(replies(&there).len(), 1);
        assert_eq!(replies(&there)[0].text, "My own worrying.");
        assert_eq!(replies(&there)[0].delivery, Delivery::Delivered);

        // Edited on the other phone: the therapist and the first phone follow.
        b.store.edit_reply(reply.id, "My own worrying, mostly.").unwrap();
        assert_eq!(b.client.sync().unwrap().replies_sent, 1);
        assert_eq!(therapist_view(&server, &therapist, &patient_id, &record)[1]["text"], "My own worrying, mostly.");
        a.client.sync().unwrap();
        assert_eq!(replies(&a.store.comments(shared.id).unwrap())[0].text, "My own worrying, mostly.");

        // Edited on the first phone while the second's later copy is not
        // yet pulled: a pull never overwrites words not yet sent.
        a.store.edit_reply(reply.id, "Mostly my own worrying.").unwrap();
        a.client.sync().unwrap();
        assert_eq!(replies(&a.store.comments(shared.id).unwrap())[0].text, "Mostly my own worrying.");
        assert_eq!(therapist_view(&server, &therapist, &patient_id, &record)[1]["text"], "Mostly my own worrying.");

        // The therapist cannot touch it; the patient's other record cannot
        // take a reply to a comment that is not there; a reply cannot be
        // answered.
        let (status, _) = server.call("PUT", &format!("/api/v1/therapist/comments/{}", reply.id), &therapist, Some(json!({"text": "x"})));
        assert_eq!(status, 404);
        assert!(matches!(a.store.reply_to_comment(reply.id, "x"), Err(StoreError::CommentNotFound { .. })));
        assert!(matches!(a.store.reply_to_comment(uuid::Uuid::now_v7(), "x"), Err(StoreError::CommentNotFound { .. })));
        assert!(matches!(a.store.reply_to_comment(comment_id, "  "), Err(StoreError::Invalid(_))));
        assert!(matches!(a.store.edit_reply(comment_id, "x"), Err(StoreError::CommentNotFound { .. })));

        // Deleted on the first phone: gone here at once, then there.
        a.store.delete_reply(reply.id).unwrap();
        assert!(replies(&a.store.comments(shared.id).unwrap()).is_empty());
        assert_eq!(a.client.sync().unwrap().replies_sent, 1);
        assert_eq!(therapist_view(&server, &therapist, &patient_id, &record).len(), 1);
        b.client.sync().unwrap();
        assert!(replies(&b.store.comments(shared.id).unwrap()).is_empty());

        // A reply deleted before it was ever sent never reaches anyone.
        let unsent = a.store.reply_to_comment(comment_id, "Never mind.").unwrap();
        a.store.delete_reply(unsent.id).unwrap();
        assert_eq!(a.client.sync().unwrap().replies_sent, 0);
        assert_eq!(therapist_view(&server, &therapist, &patient_id, &record).len(), 1);

        // The share revoked: the reply written meanwhile is refused, and
        // its words stay on the phone.
        let mut revoked = Share::kinds(lee.parse().unwrap(), vec![RecordKind::JournalEntry]).unwrap();
        revoked.revoked = true;
        a.store.update(share.id, revoked.into()).unwrap();
        let late = a.store.reply_to_comment(comment_id, "Are you still there?").unwrap();
        let refused = a.client.sync().unwrap();
        assert_eq!(refused.replies_refused, vec![late.id]);
        assert_eq!(refused.replies_sent, 0);
        let kept = a.store.comments(shared.id).unwrap();
        assert_eq!(replies(&kept)[0].text, "Are you still there?");
        assert_eq!(replies(&kept)[0].delivery, Delivery::Refused);
        assert!(a.client.sync().unwrap().replies_refused.is_empty(), "not sent again unless edited");
        // Shared again, the edited reply goes.
        a.store.create(Share::kinds(lee.parse().unwrap(), vec![RecordKind::JournalEntry]).unwrap().into()).unwrap();
        a.store.edit_reply(late.id, "Are you still there? I shared it again.").unwrap();
        let resent = a.client.sync().unwrap();
        assert_eq!(resent.replies_sent, 1, "{resent:?}");
        let seen = therapist_view(&server, &therapist, &patient_id, &record);
        assert_eq!(seen.last().unwrap()["text"], "Are you still there? I shared it again.");
    }

    fn a_reply_whose_answer_was_lost_is_one_reply(server: LiveServer) {
        let email = "lost.reply@example.org";
        server.register(email, PASSWORD);
        let lee = server.create_therapist("lost.lee@clinic.example", PASSWORD, "Dr. Lee");
        let therapist = server.token("lost.lee@clinic.example", PASSWORD);
        let patient = server.token(email, PASSWORD);
        server.link(&therapist, &patient);
        let (_, me) = server.call("GET", "/api/v1/me", &patient, None);
        let patient_id = me["id"].as_str().unwrap().to_owned();

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(JournalStore::open(dir.path().join("journal.db")).unwrap());
        let network = Arc::new(FaultyTransport::new(&server.url()));
        let client = SyncClient::new(Arc::clone(&store), Arc::clone(&network) as _, Arc::new(InMemorySecrets::new()));
        client.sign_in(email, PASSWORD).unwrap();
        let shared = store.create(entry("Shared")).unwrap();
        store.create(Share::kinds(lee.parse().unwrap(), vec![RecordKind::JournalEntry]).unwrap().into()).unwrap();
        client.sync().unwrap();
        let record = shared.id.to_string();
        let (_, comment) = server.call(
            "POST",
            &format!("/api/v1/therapist/patients/{patient_id}/records/{record}/comments"),
            &therapist,
            Some(json!({"text": "Thanks."})),
        );
        client.sync().unwrap();
        let comment_id: uuid::Uuid = comment["id"].as_str().unwrap().parse().unwrap();

        let reply = store.reply_to_comment(comment_id, "You're welcome.").unwrap();
        // Lost on the way: still waiting. Answer lost: sent again, one reply.
        network.script([Fault::DropRequest]);
        assert!(client.sync().is_err());
        assert_eq!(replies(&store.comments(shared.id).unwrap())[0].delivery, Delivery::Pending);
        network.script([Fault::DropResponse]);
        assert!(client.sync().is_err());
        assert_eq!(therapist_view(&server, &therapist, &patient_id, &record).len(), 2);
        store.edit_reply(reply.id, "You're welcome!").unwrap();
        network.script([Fault::Duplicate]);
        let report = client.sync().unwrap();
        assert_eq!(report.replies_sent, 1);
        let seen = therapist_view(&server, &therapist, &patient_id, &record);
        assert_eq!(seen.len(), 2, "one reply: {seen:?}");
        assert_eq!(seen[1]["text"], "You're welcome!");
        assert_eq!(replies(&store.comments(shared.id).unwrap())[0].delivery, Delivery::Delivered);
    }
}
