//! A share of some questionnaires only — every PHQ-9, not the GAD-7s —
//! decided by the server's one access function everywhere a therapist
//! reads: the patients list, the feed, the timeline, one record, comments,
//! safety alerts; gone the moment it is revoked. Each test on SQLite and
//! on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use serde_json::{Value, json};

fn create(token: &str, content: Value) -> TestRequest {
    authed(
        TestRequest::post().uri("/api/v1/records").set_json(content),
        token,
    )
}

fn get(uri: &str, token: &str) -> TestRequest {
    authed(TestRequest::get().uri(uri), token)
}

on_both_backends! {
    async fn only_the_shared_questionnaires_are_read_until_revoked(server: TestServer) {
        let app = server.app().await;
        let patient = register(&app, "pia@example.org").await;
        let p = token(&patient);
        let pid = account_id(&patient);
        let doctor = therapist(&server, &app, "dr.ito@clinic.example").await;
        let t = token(&doctor);
        let tid = account_id(&doctor);
        link(&app, &t, &p).await;
        let at = "2026-03-02T09:00:00Z";
        let mut ids = Vec::new();
        for content in [
            // A PHQ-9 with a risk answer on item 9, a GAD-7, an entry.
            json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": at,
                   "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}}),
            json!({"kind": "assessment", "body": {"instrument": "gad7", "takenAt": at,
                   "answers": [2, 2, 2, 2, 2, 2, 2]}}),
            json!({"kind": "journalEntry", "body": {"body": "not shared", "phase": "integration"}}),
        ] {
            let made = call(&app, create(&p, content)).await;
            assert_eq!(made.status, 201, "{:?}", made.body);
            ids.push(made.body["id"].as_str().unwrap().to_owned());
        }
        let (phq9, gad7, entry) = (&ids[0], &ids[1], &ids[2]);
        // Refused shapes: empty, twice, unknown.
        for scope in [json!({"type": "instruments", "instruments": []}),
                      json!({"type": "instruments", "instruments": ["phq9", "phq9"]})] {
            let refused = call(&app, create(&p, json!({"kind": "share",
                "body": {"therapistId": tid, "scope": scope}}))).await;
            refused.assert_problem(422, "validation");
        }
        let unknown = call(&app, create(&p, json!({"kind": "share",
            "body": {"therapistId": tid, "scope": {"type": "instruments", "instruments": ["bdi"]}}}))).await;
        assert!(unknown.status == 400 || unknown.status == 422, "{:?}", unknown.body);
        let share = call(&app, create(&p, json!({"kind": "share",
            "body": {"therapistId": tid, "scope": {"type": "instruments", "instruments": ["phq9"]}}}))).await;
        assert_eq!(share.status, 201, "{:?}", share.body);

        let patients = call(&app, get("/api/v1/therapist/patients", &t)).await;
        assert_eq!(patients.body[0]["sharedInstruments"], json!(["phq9"]), "{:?}", patients.body);
        assert_eq!(patients.body[0]["sharedKinds"], json!([]));
        let base = format!("/api/v1/therapist/patients/{pid}");
        let feed = call(&app, get(&format!("{base}/feed"), &t)).await;
        let listed: Vec<&str> = feed.body["items"].as_array().unwrap().iter()
            .map(|i| i["record"]["id"].as_str().unwrap()).collect();
        assert_eq!(listed, vec![phq9.as_str()], "{:?}", feed.body);
        let timeline = call(&app, get(&format!("{base}/timeline"), &t)).await;
        let text = timeline.body.to_string();
        assert!(text.contains(phq9.as_str()) && !text.contains(gad7.as_str()), "{text}");
        assert_eq!(call(&app, get(&format!("{base}/records/{phq9}"), &t)).await.status, 200);
        for hidden in [gad7, entry] {
            call(&app, get(&format!("{base}/records/{hidden}"), &t)).await.assert_problem(404, "not-found");
            let comment = call(&app, authed(TestRequest::post()
                .uri(&format!("{base}/records/{hidden}/comments")).set_json(json!({"text": "hm"})), &t)).await;
            comment.assert_problem(404, "not-found");
        }
        let comment = call(&app, authed(TestRequest::post()
            .uri(&format!("{base}/records/{phq9}/comments")).set_json(json!({"text": "Thank you."})), &t)).await;
        assert_eq!(comment.status, 201, "{:?}", comment.body);
        // The risk answer reaches the therapist as an alert.
        let alerts = call(&app, get("/api/v1/therapist/alerts", &t)).await;
        let about: Vec<&str> = alerts.body["alerts"].as_array().or(alerts.body.as_array()).unwrap()
            .iter().map(|a| a["recordId"].as_str().unwrap()).collect();
        assert_eq!(about, vec![phq9.as_str()], "{:?}", alerts.body);

        // A plan asking for both: adherence counts the PHQ-9s only (a GAD-7
        // not shared is never shown as missed).
        let plan = json!({"measures": [{"instrument": "phq9", "everyDays": 14},
                                       {"instrument": "gad7", "everyDays": 14}]});
        let set = call(&app, authed(TestRequest::put().uri(&format!("/api/v1/care-plans/{pid}")).set_json(plan), &t)).await;
        assert_eq!(set.status, 200, "{:?}", set.body);
        let adherence = call(&app, get(&format!("/api/v1/care-plans/{pid}/adherence"), &t)).await;
        assert_eq!(adherence.body["questionnaires"]["due"], 1, "{:?}", adherence.body);

        // Revoked: nothing of it can be read any more.
        let share_id = share.body["id"].as_str().unwrap();
        let revoked = call(&app, authed(TestRequest::delete().uri(&format!("/api/v1/records/{share_id}")), &p)).await;
        assert_eq!(revoked.status, 204);
        let feed = call(&app, get(&format!("{base}/feed"), &t)).await;
        assert_eq!(feed.body["items"], json!([]));
        call(&app, get(&format!("{base}/records/{phq9}"), &t)).await.assert_problem(404, "not-found");
        let adherence = call(&app, get(&format!("/api/v1/care-plans/{pid}/adherence"), &t)).await;
        assert!(adherence.body.get("questionnaires").is_none(), "{:?}", adherence.body);
    }
}
