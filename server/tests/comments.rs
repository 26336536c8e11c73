//! Therapists' comments: written on shared items only, delivered to the
//! patient's devices by pull (new, edited and deleted) and listed with the
//! record; only the author edits or deletes; revoked access stops new
//! comments and edits but not deleting one's own; text checked; the
//! patient's replies reach the therapist and the patient's other devices,
//! only while the record is shared, once however often they are resent.
//! Each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use journal_server::store::StoreError;
use journal_server::store::schema::comments;
use serde_json::{Value, json};

const RECORDS: &str = "/api/v1/records";

fn entry(text: &str) -> Value {
    json!({"kind": "journalEntry", "body": {"body": text, "phase": "integration"}})
}

fn check_in(at: &str, mood: u8) -> Value {
    json!({"kind": "moodCheckIn",
           "body": {"recordedAt": at, "mood": mood, "anxiety": 4, "energy": 6}})
}

fn comments_uri(patient: &str, record: &str) -> String {
    format!("/api/v1/therapist/patients/{patient}/records/{record}/comments")
}

fn comment_uri(comment: &str) -> String {
    format!("/api/v1/therapist/comments/{comment}")
}

fn write(token: &str, patient: &str, record: &str, text: &str) -> TestRequest {
    authed(
        TestRequest::post()
            .uri(&comments_uri(patient, record))
            .set_json(json!({"text": text})),
        token,
    )
}

fn read(token: &str, patient: &str, record: &str) -> TestRequest {
    authed(
        TestRequest::get().uri(&comments_uri(patient, record)),
        token,
    )
}

fn edit(token: &str, comment: &str, text: &str) -> TestRequest {
    authed(
        TestRequest::put()
            .uri(&comment_uri(comment))
            .set_json(json!({"text": text})),
        token,
    )
}

fn remove(token: &str, comment: &str) -> TestRequest {
    authed(TestRequest::delete().uri(&comment_uri(comment)), token)
}

fn patient_view(token: &str, record: &str) -> TestRequest {
    authed(
        TestRequest::get().uri(&format!("{RECORDS}/{record}/comments")),
        token,
    )
}

fn answer(token: &str, record: &str, body: &Value) -> TestRequest {
    authed(
        TestRequest::post()
            .uri(&format!("{RECORDS}/{record}/comments"))
            .set_json(body),
        token,
    )
}

fn reply_uri(reply: &str) -> String {
    format!("/api/v1/comments/{reply}")
}

/// Creates a record; returns its id.
async fn create<S, B>(app: &S, token: &str, content: &Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        authed(TestRequest::post().uri(RECORDS).set_json(content), token),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// The pulled comments, in order.
fn pulled_comments(changes: &[Value]) -> Vec<Value> {
    changes
        .iter()
        .filter(|c| c["type"] == "comment")
        .map(|c| c["comment"].clone())
        .collect()
}

/// How many comment rows are stored.
async fn stored_comments(server: &TestServer) -> i64 {
    server
        .state
        .db
        .run(|conn| -> Result<i64, StoreError> { Ok(comments::table.count().get_result(conn)?) })
        .await
        .unwrap()
}

on_both_backends! {
    async fn a_patients_reply_reaches_the_therapist_and_their_other_devices(server: TestServer) {
        let app = server.app().await;
        let therapist_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&therapist_tokens), account_id(&therapist_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        link(&app, &t, &p).await;
        let e = create(&app, &p, &entry("I saw the sea.")).await;
        create(&app, &p, &item_share(&lee, &e)).await;
        let comment = call(&app, write(&t, &ana, &e, "What did the sea say?")).await;
        let comment_id = comment.body["id"].as_str().unwrap().to_owned();
        let (_, cursor) = pull_changes(&app, &p, 0, 500).await;

        // The phone chooses the reply's id, so a resend is the same reply.
        let id = uuid::Uuid::now_v7().to_string();
        let body = json!({"id": id, "replyTo": comment_id, "text": "That I can rest."});
        let written = call(&app, answer(&p, &e, &body)).await;
        assert_eq!(written.status, 201, "{:?}", written.body);
        assert_eq!(written.headers.get("location").unwrap(), &reply_uri(&id));
        assert_eq!(written.body["id"], id);
        assert_eq!(written.body["fromPatient"], true);
        assert_eq!(written.body["replyTo"], comment_id);
        assert_eq!(written.body["therapistId"], lee);
        assert_eq!(written.body["author"], "ana@example.org");
        let count = stored_comments(&server).await;
        let again = call(&app, answer(&p, &e, &body)).await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(again.body, written.body);
        assert_eq!(stored_comments(&server).await, count, "a resent reply is not a second one");

        // The therapist sees it beside their comment; the patient's other
        // devices get it by pull; the therapist's comment carries no
        // fromPatient flag of its own.
        let own = call(&app, read(&t, &ana, &e)).await;
        assert_eq!(own.body, json!([comment.body, written.body]));
        assert_eq!(comment.body["fromPatient"], false);
        assert!(comment.body.get("replyTo").is_none());
        let listed = call(&app, patient_view(&p, &e)).await;
        assert_eq!(listed.body, json!([comment.body, written.body]));
        let (changes, cursor) = pull_changes(&app, &p, cursor, 500).await;
        assert_eq!(pulled_comments(&changes), vec![written.body.clone()]);

        // Only the patient edits or deletes their reply; the therapist
        // cannot, and the patient cannot touch the therapist's comment.
        call(&app, edit(&t, &id, "Not mine")).await.assert_problem(404, "not-found");
        call(&app, remove(&t, &id)).await.assert_problem(404, "not-found");
        let theirs = authed(TestRequest::put().uri(&reply_uri(&comment_id)).set_json(json!({"text": "x"})), &p);
        call(&app, theirs).await.assert_problem(404, "not-found");
        call(&app, authed(TestRequest::delete().uri(&reply_uri(&comment_id)), &p)).await.assert_problem(404, "not-found");
        let edited = call(&app, authed(TestRequest::put().uri(&reply_uri(&id)).set_json(json!({"text": "That I can rest now."})), &p)).await;
        assert_eq!(edited.status, 200, "{:?}", edited.body);
        assert_eq!(edited.body["text"], "That I can rest now.");
        let (changes, cursor) = pull_changes(&app, &p, cursor, 500).await;
        assert_eq!(pulled_comments(&changes), vec![edited.body.clone()]);
        // A resend carrying the edited text is that edit, not a new reply.
        let resent = call(&app, answer(&p, &e, &json!({"id": id, "replyTo": comment_id, "text": "That I can rest now."}))).await;
        assert_eq!(resent.status, 200, "{:?}", resent.body);
        assert_eq!(resent.body, edited.body);

        // A reply cannot answer a reply, nor borrow another comment's id.
        call(&app, answer(&p, &e, &json!({"replyTo": id, "text": "x"}))).await.assert_problem(404, "not-found");
        call(&app, answer(&p, &e, &json!({"id": comment_id, "replyTo": comment_id, "text": "x"}))).await.assert_problem(409, "conflict");

        let deleted = call(&app, authed(TestRequest::delete().uri(&reply_uri(&id)), &p)).await;
        assert_eq!(deleted.status, 204);
        let again = call(&app, authed(TestRequest::delete().uri(&reply_uri(&id)), &p)).await;
        assert_eq!(again.status, 204, "a resent deletion is answered alike");
        let (changes, _) = pull_changes(&app, &p, cursor, 500).await;
        let pulled = pulled_comments(&changes);
        assert_eq!(pulled.len(), 1, "{pulled:?}");
        assert_eq!((&pulled[0]["deleted"], &pulled[0]["text"]), (&json!(true), &json!("")));
        assert_eq!(call(&app, read(&t, &ana, &e)).await.body, json!([comment.body]));
        call(&app, answer(&p, &e, &body)).await.assert_problem(410, "gone");
        // The patient's export keeps what is live: the comment only.
        assert_eq!(call(&app, patient_view(&p, &e)).await.body, json!([comment.body]));
    }

    async fn a_reply_needs_the_record_shared_and_nothing_else_is_written(server: TestServer) {
        let app = server.app().await;
        let therapist_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&therapist_tokens), account_id(&therapist_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        let ben_tokens = register(&app, "ben@example.org").await;
        let (q, ben) = (token(&ben_tokens), account_id(&ben_tokens));
        let link_id = link(&app, &t, &p).await;
        link(&app, &t, &q).await;
        let e = create(&app, &p, &entry("shared for a while")).await;
        let f = create(&app, &p, &entry("another")).await;
        let share = create(&app, &p, &item_share(&lee, &e)).await;
        create(&app, &p, &item_share(&lee, &f)).await;
        let on_e = call(&app, write(&t, &ana, &e, "First")).await.body["id"].as_str().unwrap().to_owned();
        let on_f = call(&app, write(&t, &ana, &f, "Second")).await.body["id"].as_str().unwrap().to_owned();
        let bens = create(&app, &q, &entry("Ben's")).await;
        create(&app, &q, &item_share(&lee, &bens)).await;
        let on_ben = call(&app, write(&t, &ben, &bens, "To Ben")).await.body["id"].as_str().unwrap().to_owned();
        let kept = call(&app, answer(&p, &f, &json!({"replyTo": on_f, "text": "kept"}))).await;
        assert_eq!(kept.status, 201, "{:?}", kept.body);
        let kept = kept.body["id"].as_str().unwrap().to_owned();
        let count = stored_comments(&server).await;

        // Another patient's comment, a comment on another record, an
        // unknown one, a bad record id: 404; bad text: 422; a therapist: 403.
        for (record, reply_to) in [(&e, &on_ben), (&e, &on_f), (&bens, &on_ben), (&"not-a-uuid".to_owned(), &on_e)] {
            call(&app, answer(&p, record, &json!({"replyTo": reply_to, "text": "x"}))).await.assert_problem(404, "not-found");
        }
        call(&app, answer(&p, &e, &json!({"replyTo": uuid::Uuid::now_v7(), "text": "x"}))).await.assert_problem(404, "not-found");
        call(&app, answer(&p, &e, &json!({"replyTo": on_e, "text": " "}))).await.assert_problem(422, "validation");
        call(&app, answer(&p, &e, &json!({"replyTo": on_e, "text": "x", "extra": 1}))).await.assert_problem(400, "bad-request");
        call(&app, answer(&p, &e, &json!({"text": "x"}))).await.assert_problem(400, "bad-request");
        call(&app, answer(&t, &e, &json!({"replyTo": on_e, "text": "x"}))).await.assert_problem(403, "forbidden");
        call(&app, authed(TestRequest::put().uri(&reply_uri("nope")).set_json(json!({"text": "x"})), &p)).await.assert_problem(404, "not-found");
        call(&app, authed(TestRequest::put().uri(&reply_uri(&kept)).set_json(json!({"text": ""})), &p)).await.assert_problem(422, "validation");
        assert_eq!(stored_comments(&server).await, count, "nothing was written");

        // The share of e revoked: no reply reaches the therapist (409, in
        // words the patient understands); the other record still takes one.
        let mut revoked = item_share(&lee, &e);
        revoked["body"]["revoked"] = json!(true);
        let put = call(&app, authed(TestRequest::put().uri(&format!("{RECORDS}/{share}")).set_json(&revoked), &p)).await;
        assert_eq!(put.status, 200, "{:?}", put.body);
        let refused = call(&app, answer(&p, &e, &json!({"replyTo": on_e, "text": "Are you there?"}))).await;
        refused.assert_problem(409, "conflict");
        assert!(refused.body["detail"].as_str().unwrap().contains("no longer shared with Dr. Test"), "{:?}", refused.body);
        assert_eq!(stored_comments(&server).await, count);

        // The link ended: no reply and no edit, but deleting one's own
        // reply still works.
        let ended = call(&app, authed(TestRequest::delete().uri(&format!("/api/v1/care/links/{link_id}")), &p)).await;
        assert_eq!(ended.status, 204);
        call(&app, answer(&p, &f, &json!({"replyTo": on_f, "text": "Hello?"}))).await.assert_problem(409, "conflict");
        call(&app, authed(TestRequest::put().uri(&reply_uri(&kept)).set_json(json!({"text": "changed"})), &p)).await.assert_problem(409, "conflict");
        assert_eq!(call(&app, authed(TestRequest::delete().uri(&reply_uri(&kept)), &p)).await.status, 204);
    }

    async fn a_comment_reaches_the_patient_with_its_edits_and_deletion(server: TestServer) {
        let app = server.app().await;
        let therapist_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&therapist_tokens), account_id(&therapist_tokens));
        let patient_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&patient_tokens), account_id(&patient_tokens));
        link(&app, &t, &p).await;
        let e = create(&app, &p, &entry("I saw the sea.")).await;
        create(&app, &p, &item_share(&lee, &e)).await;
        let (before, cursor) = pull_changes(&app, &p, 0, 500).await;
        assert_eq!(before.len(), 2);

        let written = call(&app, write(&t, &ana, &e, "Thank you for sharing this.")).await;
        assert_eq!(written.status, 201, "{:?}", written.body);
        let id = written.body["id"].as_str().unwrap().to_owned();
        assert_eq!(written.headers.get("location").unwrap(), &comment_uri(&id));
        assert_eq!(written.body["recordId"], e);
        assert_eq!(written.body["therapistId"], lee);
        assert_eq!(written.body["author"], "Dr. Test");
        assert_eq!(written.body["text"], "Thank you for sharing this.");
        assert_eq!(written.body["deleted"], false);
        assert_eq!(written.body["createdAt"], written.body["updatedAt"]);

        // The patient's device gets it by pull, after everything before.
        let (changes, after_new) = pull_changes(&app, &p, cursor, 500).await;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0]["type"], "comment");
        assert!(changes[0]["version"].as_u64().unwrap() > cursor);
        assert_eq!(changes[0]["comment"], written.body);
        // And with the record through the REST API; the therapist sees it too.
        let listed = call(&app, patient_view(&p, &e)).await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        assert_eq!(listed.body, json!([written.body]));
        let own = call(&app, read(&t, &ana, &e)).await;
        assert_eq!(own.status, 200, "{:?}", own.body);
        assert_eq!(own.body, json!([written.body]));

        // An edit is a change of its own, pulled as the comment now is.
        let edited = call(&app, edit(&t, &id, "Thank you — see you Tuesday.")).await;
        assert_eq!(edited.status, 200, "{:?}", edited.body);
        assert_eq!(edited.body["text"], "Thank you — see you Tuesday.");
        assert_eq!(edited.body["createdAt"], written.body["createdAt"]);
        let (changes, after_edit) = pull_changes(&app, &p, after_new, 500).await;
        assert_eq!(pulled_comments(&changes), vec![edited.body.clone()]);
        assert!(after_edit > after_new);
        // The same text again changes nothing.
        let same = call(&app, edit(&t, &id, "Thank you — see you Tuesday.")).await;
        assert_eq!(same.status, 200, "{:?}", same.body);
        assert_eq!(same.body, edited.body);
        assert!(pull_changes(&app, &p, after_edit, 500).await.0.is_empty());

        // A second comment, then records, interleave in version order.
        let second = call(&app, write(&t, &ana, &e, "One more thought.")).await;
        assert_eq!(second.status, 201, "{:?}", second.body);
        create(&app, &p, &entry("Later that week")).await;
        let listed = call(&app, patient_view(&p, &e)).await;
        assert_eq!(listed.body, json!([edited.body, second.body]), "oldest first");

        // A delete syncs too: the row stays, deleted, without its text.
        let deleted = call(&app, remove(&t, &id)).await;
        assert_eq!(deleted.status, 204, "{:?}", deleted.body);
        let (changes, _) = pull_changes(&app, &p, after_edit, 500).await;
        let pulled = pulled_comments(&changes);
        assert_eq!(pulled.len(), 2, "{pulled:?}");
        assert_eq!(pulled[0], second.body);
        assert_eq!(pulled[1]["id"], id);
        assert_eq!(pulled[1]["deleted"], true);
        assert_eq!(pulled[1]["text"], "");
        let listed = call(&app, patient_view(&p, &e)).await;
        assert_eq!(listed.body, json!([second.body]), "deleted comments are not listed");
        let own = call(&app, read(&t, &ana, &e)).await;
        assert_eq!(own.body, json!([second.body]));
        call(&app, remove(&t, &id)).await.assert_problem(404, "not-found");
        call(&app, edit(&t, &id, "back again")).await.assert_problem(404, "not-found");

        // Every change, paged one at a time, comes once, in version order,
        // exactly as in one page.
        let (whole, last) = pull_changes(&app, &p, 0, 1000).await;
        let (paged, paged_last) = pull_changes(&app, &p, 0, 1).await;
        assert_eq!(whole, paged);
        assert_eq!(last, paged_last);
        let versions: Vec<u64> = whole.iter().map(|c| c["version"].as_u64().unwrap()).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        let kinds: Vec<&str> = whole.iter().map(|c| c["type"].as_str().unwrap()).collect();
        // The entry, its share, the second comment, the later entry, then
        // the first comment's deletion (its edits are superseded).
        assert_eq!(kinds, ["record", "record", "comment", "record", "comment"]);
    }

    async fn only_items_shared_with_the_therapist_take_comments(server: TestServer) {
        let app = server.app().await;
        let therapist_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&therapist_tokens), account_id(&therapist_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        let ben_tokens = register(&app, "ben@example.org").await;
        let (q, ben) = (token(&ben_tokens), account_id(&ben_tokens));
        let cy_tokens = register(&app, "cy@example.org").await;
        let (r, cy) = (token(&cy_tokens), account_id(&cy_tokens));
        link(&app, &t, &p).await;
        link(&app, &t, &q).await;

        let shared = create(&app, &p, &entry("shared")).await;
        let unshared = create(&app, &p, &entry("private")).await;
        let share = create(&app, &p, &item_share(&lee, &shared)).await;
        let mood = create(&app, &p, &check_in("2026-01-02T08:00:00Z", 6)).await;
        create(&app, &p, &kinds_share(&lee, &["moodCheckIn"])).await;
        let bens = create(&app, &q, &entry("Ben's")).await;
        create(&app, &q, &item_share(&lee, &bens)).await;
        // Cy shares with the therapist but never linked.
        let cys = create(&app, &r, &entry("Cy's")).await;
        create(&app, &r, &item_share(&lee, &cys)).await;

        // Shared one by one, or by a standing share of the kind: yes.
        assert_eq!(call(&app, write(&t, &ana, &shared, "On the item")).await.status, 201);
        assert_eq!(call(&app, write(&t, &ana, &mood, "On the kind")).await.status, 201);
        assert_eq!(call(&app, write(&t, &ben, &bens, "Ben's item")).await.status, 201);
        let count = stored_comments(&server).await;

        // Everything else is 404, all alike, for writing and reading.
        let nobody = uuid::Uuid::now_v7().to_string();
        for (patient, record) in [
            (&ana, &unshared),
            (&ana, &share),
            (&ana, &bens),
            (&ben, &shared),
            (&cy, &cys),
            (&nobody, &shared),
            (&ana, &nobody),
            (&"not-a-uuid".to_owned(), &shared),
            (&ana, &"not-a-uuid".to_owned()),
        ] {
            let refused = call(&app, write(&t, patient, record, "Hello")).await;
            refused.assert_problem(404, "not-found");
            assert_eq!(refused.body["detail"], "no such record", "{patient} {record}");
            call(&app, read(&t, patient, record)).await.assert_problem(404, "not-found");
        }
        // A record deleted by the patient takes no more comments.
        let gone = call(&app, authed(TestRequest::delete().uri(&format!("{RECORDS}/{shared}")), &p)).await;
        assert_eq!(gone.status, 204);
        call(&app, write(&t, &ana, &shared, "Too late")).await.assert_problem(404, "not-found");
        call(&app, read(&t, &ana, &shared)).await.assert_problem(404, "not-found");
        call(&app, patient_view(&p, &shared)).await.assert_problem(404, "not-found");
        assert_eq!(stored_comments(&server).await, count, "nothing was written");

        // Roles and owners: a patient cannot comment (whatever they send),
        // a therapist cannot use the patient's view, and another patient's
        // record is unknown to the patient.
        call(&app, write(&p, &ana, &mood, "Me")).await.assert_problem(403, "forbidden");
        let no_body = authed(TestRequest::post().uri(&comments_uri(&ana, &mood)), &p);
        call(&app, no_body).await.assert_problem(403, "forbidden");
        call(&app, read(&p, &ana, &mood)).await.assert_problem(403, "forbidden");
        call(&app, patient_view(&t, &mood)).await.assert_problem(403, "forbidden");
        call(&app, patient_view(&q, &mood)).await.assert_problem(404, "not-found");
        call(&app, patient_view(&p, "not-a-uuid")).await.assert_problem(404, "not-found");
        assert_eq!(call(&app, TestRequest::get().uri(&comments_uri(&ana, &mood))).await.status, 401);
        // Known paths, wrong methods.
        let wrong = call(&app, authed(TestRequest::delete().uri(&comments_uri(&ana, &mood)), &t)).await;
        wrong.assert_problem(405, "method-not-allowed");
        let wrong = call(&app, authed(TestRequest::get().uri(&comment_uri(&nobody)), &t)).await;
        wrong.assert_problem(405, "method-not-allowed");
        let wrong = call(&app, authed(TestRequest::delete().uri(&format!("{RECORDS}/{mood}/comments")), &p)).await;
        wrong.assert_problem(405, "method-not-allowed");
        let wrong = call(&app, authed(TestRequest::get().uri(&reply_uri(&nobody)), &p)).await;
        wrong.assert_problem(405, "method-not-allowed");
    }

    async fn only_the_author_edits_or_deletes_a_comment(server: TestServer) {
        let app = server.app().await;
        let lee_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&lee_tokens), account_id(&lee_tokens));
        let kim_tokens = therapist(&server, &app, "kim@clinic.example").await;
        let (u, kim) = (token(&kim_tokens), account_id(&kim_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        link(&app, &t, &p).await;
        link(&app, &u, &p).await;
        let e = create(&app, &p, &entry("for both")).await;
        create(&app, &p, &item_share(&lee, &e)).await;
        create(&app, &p, &item_share(&kim, &e)).await;

        let lees = call(&app, write(&t, &ana, &e, "From Lee")).await;
        assert_eq!(lees.status, 201);
        let lees_id = lees.body["id"].as_str().unwrap().to_owned();
        let kims = call(&app, write(&u, &ana, &e, "From Kim")).await;
        assert_eq!(kims.status, 201);
        let (_, cursor) = pull_changes(&app, &p, 0, 500).await;

        // Kim cannot touch Lee's comment, nor tell it exists.
        let refused = call(&app, edit(&u, &lees_id, "Kim was here")).await;
        refused.assert_problem(404, "not-found");
        call(&app, remove(&u, &lees_id)).await.assert_problem(404, "not-found");
        call(&app, edit(&u, &uuid::Uuid::now_v7().to_string(), "x")).await.assert_problem(404, "not-found");
        call(&app, remove(&u, "not-a-uuid")).await.assert_problem(404, "not-found");
        // Nor can the patient.
        call(&app, remove(&p, &lees_id)).await.assert_problem(403, "forbidden");
        assert!(pull_changes(&app, &p, cursor, 500).await.0.is_empty(), "nothing changed");

        // Each therapist sees their own; the patient sees both.
        assert_eq!(call(&app, read(&t, &ana, &e)).await.body, json!([lees.body]));
        assert_eq!(call(&app, read(&u, &ana, &e)).await.body, json!([kims.body]));
        assert_eq!(call(&app, patient_view(&p, &e)).await.body, json!([lees.body, kims.body]));
    }

    async fn revoked_access_stops_comments_and_edits_but_not_deleting(server: TestServer) {
        let app = server.app().await;
        let therapist_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&therapist_tokens), account_id(&therapist_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        let link_id = link(&app, &t, &p).await;
        let e = create(&app, &p, &entry("shared for a while")).await;
        let f = create(&app, &p, &entry("shared until the link ends")).await;
        let share = create(&app, &p, &item_share(&lee, &e)).await;
        create(&app, &p, &item_share(&lee, &f)).await;
        let on_e = call(&app, write(&t, &ana, &e, "First")).await;
        assert_eq!(on_e.status, 201);
        let on_e = on_e.body["id"].as_str().unwrap().to_owned();
        let on_f = call(&app, write(&t, &ana, &f, "Second")).await;
        assert_eq!(on_f.status, 201);
        let on_f = on_f.body["id"].as_str().unwrap().to_owned();

        // The patient revokes the share of e.
        let mut revoked = item_share(&lee, &e);
        revoked["body"]["revoked"] = json!(true);
        let put = call(&app, authed(TestRequest::put().uri(&format!("{RECORDS}/{share}")).set_json(&revoked), &p)).await;
        assert_eq!(put.status, 200, "{:?}", put.body);
        call(&app, write(&t, &ana, &e, "Again")).await.assert_problem(404, "not-found");
        call(&app, read(&t, &ana, &e)).await.assert_problem(404, "not-found");
        call(&app, edit(&t, &on_e, "Changed my mind")).await.assert_problem(404, "not-found");
        let (_, cursor) = pull_changes(&app, &p, 0, 500).await;
        // Deleting one's own comment still works, and reaches the patient.
        assert_eq!(call(&app, remove(&t, &on_e)).await.status, 204);
        let (changes, cursor) = pull_changes(&app, &p, cursor, 500).await;
        let pulled = pulled_comments(&changes);
        assert_eq!(pulled.len(), 1);
        assert_eq!((&pulled[0]["id"], &pulled[0]["deleted"]), (&json!(on_e), &json!(true)));

        // The patient ends the link: f is no longer readable either.
        let ended = call(&app, authed(TestRequest::delete().uri(&format!("/api/v1/care/links/{link_id}")), &p)).await;
        assert_eq!(ended.status, 204);
        call(&app, write(&t, &ana, &f, "Still there?")).await.assert_problem(404, "not-found");
        call(&app, edit(&t, &on_f, "Edited")).await.assert_problem(404, "not-found");
        assert_eq!(call(&app, remove(&t, &on_f)).await.status, 204);
        let (changes, _) = pull_changes(&app, &p, cursor, 500).await;
        let pulled = pulled_comments(&changes);
        assert_eq!(pulled.len(), 1);
        assert_eq!((&pulled[0]["id"], &pulled[0]["text"]), (&json!(on_f), &json!("")));
        assert_eq!(call(&app, patient_view(&p, &f)).await.body, json!([]));
    }

    async fn comment_text_is_checked(server: TestServer) {
        let app = server.app().await;
        let therapist_tokens = therapist(&server, &app, "lee@clinic.example").await;
        let (t, lee) = (token(&therapist_tokens), account_id(&therapist_tokens));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        link(&app, &t, &p).await;
        let e = create(&app, &p, &entry("shared")).await;
        create(&app, &p, &item_share(&lee, &e)).await;
        let longest = "x".repeat(2_000);
        let written = call(&app, write(&t, &ana, &e, &longest)).await;
        assert_eq!(written.status, 201, "{:?}", written.body);
        let id = written.body["id"].as_str().unwrap().to_owned();
        let lines = call(&app, write(&t, &ana, &e, "Two\nlines")).await;
        assert_eq!(lines.status, 201, "{:?}", lines.body);
        let (_, cursor) = pull_changes(&app, &p, 0, 500).await;
        let count = stored_comments(&server).await;

        for (text, rule) in [
            ("", "length"),
            (" \n\t ", "not_blank"),
            (&"x".repeat(2_001), "length"),
            ("bell\u{7}", "control_characters"),
        ] {
            for reply in [
                call(&app, write(&t, &ana, &e, text)).await,
                call(&app, edit(&t, &id, text)).await,
            ] {
                reply.assert_problem(422, "validation");
                assert_eq!(reply.body["errors"][0]["field"], "text");
                assert_eq!(reply.body["errors"][0]["rule"], rule, "{text:?}");
            }
        }
        // Not a comment at all.
        for body in [json!({}), json!({"text": 5}), json!({"text": "hi", "author": "me"})] {
            let post = authed(TestRequest::post().uri(&comments_uri(&ana, &e)).set_json(&body), &t);
            call(&app, post).await.assert_problem(400, "bad-request");
            let put = authed(TestRequest::put().uri(&comment_uri(&id)).set_json(&body), &t);
            call(&app, put).await.assert_problem(400, "bad-request");
        }
        let not_json = authed(TestRequest::post().uri(&comments_uri(&ana, &e)).set_payload("text"), &t);
        assert_eq!(call(&app, not_json).await.status, 415);
        assert_eq!(stored_comments(&server).await, count, "nothing was written");
        assert!(pull_changes(&app, &p, cursor, 500).await.0.is_empty(), "nothing to pull");
        assert_eq!(call(&app, patient_view(&p, &e)).await.body[0]["text"], longest);
    }

    async fn the_author_without_a_display_name_is_shown_by_email(server: TestServer) {
        let app = server.app().await;
        let hash = server.state.passwords.hash("therapist password".to_owned()).await.unwrap();
        server.state.db.run(move |conn| {
            journal_server::store::accounts::insert_account(
                conn, "noname@clinic.example", &hash, journal_server::auth::Role::Therapist, None)
        }).await.unwrap();
        let signed_in = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": "noname@clinic.example", "password": "therapist password"}))).await;
        assert_eq!(signed_in.status, 200);
        let (t, them) = (token(&signed_in.body), account_id(&signed_in.body));
        let ana_tokens = register(&app, "ana@example.org").await;
        let (p, ana) = (token(&ana_tokens), account_id(&ana_tokens));
        link(&app, &t, &p).await;
        let e = create(&app, &p, &entry("shared")).await;
        create(&app, &p, &item_share(&them, &e)).await;
        let written = call(&app, write(&t, &ana, &e, "Hello")).await;
        assert_eq!(written.body["author"], "noname@clinic.example");
        let (changes, _) = pull_changes(&app, &p, 0, 500).await;
        assert_eq!(pulled_comments(&changes)[0]["author"], "noname@clinic.example");
    }
}
