//! Care plans a therapist writes for a linked patient: set, read, replaced
//! and removed by their author only, read by the patient, refused for
//! patients not linked, with impossible values named field by field and
//! nothing written. Each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use serde_json::{Value, json};

fn plan_uri(patient: &str) -> String {
    format!("/api/v1/care-plans/{patient}")
}

fn plan() -> Value {
    json!({"measures": [{"instrument": "phq9", "everyDays": 14, "beforeEachSession": false,
                         "daysAfterSession": [1, 7]}],
           "followUps": {"days": [1, 3, 7, 14], "promptIds": ["integ-01"]},
           "checkIns": "daily"})
}

/// The care plan changes among pulled changes, in order.
fn pulled_plans(changes: &[Value]) -> Vec<Value> {
    changes
        .iter()
        .filter(|c| c["type"] == "carePlan")
        .map(|c| c["carePlan"].clone())
        .collect()
}

fn put(uri: &str, token: &str, body: &Value) -> TestRequest {
    authed(TestRequest::put().uri(uri).set_json(body), token)
}

fn get(uri: &str, token: &str) -> TestRequest {
    authed(TestRequest::get().uri(uri), token)
}

on_both_backends! {
    async fn a_therapist_sets_reads_replaces_and_removes_a_plan_the_patient_reads(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "plan").await;
        let (p, t) = (token(&side.patient), token(&side.therapist));
        let uri = plan_uri(&side.patient_id);
        call(&app, get(&uri, &t)).await.assert_problem(404, "not-found");
        let set = call(&app, put(&uri, &t, &plan())).await;
        assert_eq!(set.status, 200, "{:?}", set.body);
        assert_eq!(set.body["plan"], plan());
        assert_eq!(set.body["therapistId"], side.therapist_id.as_str());
        assert_eq!(set.body["patientId"], side.patient_id.as_str());
        assert_eq!(call(&app, get(&uri, &t)).await.body, set.body);
        // The patient reads it.
        let mine = call(&app, get("/api/v1/care-plans", &p)).await;
        assert_eq!(mine.status, 200);
        assert_eq!(mine.body, json!([set.body]));
        // Replaced: one plan per therapist and patient, same id.
        let weekly = json!({"checkIns": "weekly"});
        let replaced = call(&app, put(&uri, &t, &weekly)).await;
        assert_eq!(replaced.status, 200);
        assert_eq!(replaced.body["id"], set.body["id"]);
        assert_eq!(replaced.body["plan"], json!({"measures": [], "checkIns": "weekly"}));
        assert_eq!(call(&app, get("/api/v1/care-plans", &p)).await.body.as_array().unwrap().len(), 1);
        // Removed.
        let gone = call(&app, authed(TestRequest::delete().uri(&uri), &t)).await;
        assert_eq!(gone.status, 204);
        call(&app, get(&uri, &t)).await.assert_problem(404, "not-found");
        call(&app, authed(TestRequest::delete().uri(&uri), &t)).await.assert_problem(404, "not-found");
        assert_eq!(call(&app, get("/api/v1/care-plans", &p)).await.body, json!([]));
    }

    async fn impossible_plans_are_refused_field_by_field_and_nothing_is_written(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "bad").await;
        let t = token(&side.therapist);
        let uri = plan_uri(&side.patient_id);
        let bad = json!({"measures": [{"instrument": "gad7", "everyDays": 0, "daysAfterSession": [400, 3, 3]}],
                         "followUps": {"promptIds": ["no-such-prompt"]}});
        assert_eq!(fields(&call(&app, put(&uri, &t, &bad)).await), vec![
            pair("followUps.promptIds[0]", "unknown_prompt"),
            pair("measures[0].daysAfterSession[0]", "range"),
            pair("measures[0].daysAfterSession[2]", "unique"),
            pair("measures[0].everyDays", "range"),
        ]);
        // Negative days, unknown fields and cadences do not even read.
        for unreadable in [
            json!({"measures": [{"instrument": "phq9", "daysAfterSession": [-1]}]}),
            json!({"checkIns": "hourly"}),
            json!({"cadence": "daily"}),
            json!([]),
        ] {
            call(&app, put(&uri, &t, &unreadable)).await.assert_problem(400, "bad-request");
        }
        call(&app, get(&uri, &t)).await.assert_problem(404, "not-found");
    }

    async fn only_the_linked_author_writes_and_patients_cannot(server: TestServer) {
        let app = server.app().await;
        let mine = side(&server, &app, "mine").await;
        let other = side(&server, &app, "other").await;
        let (p, t) = (token(&mine.patient), token(&mine.therapist));
        // Another therapist's patient, an unknown id, a malformed id: 404 alike.
        for patient in [other.patient_id.as_str(), "0190b1c2-0000-7000-8000-000000000000", "not-an-id"] {
            call(&app, put(&plan_uri(patient), &t, &plan())).await.assert_problem(404, "not-found");
        }
        // A patient cannot write a plan, even their own.
        call(&app, put(&plan_uri(&mine.patient_id), &p, &plan())).await.assert_problem(403, "forbidden");
        // Another therapist cannot read or remove this one's plan.
        assert_eq!(call(&app, put(&plan_uri(&mine.patient_id), &t, &plan())).await.status, 200);
        let stranger = token(&other.therapist);
        call(&app, get(&plan_uri(&mine.patient_id), &stranger)).await.assert_problem(404, "not-found");
        call(&app, authed(TestRequest::delete().uri(&plan_uri(&mine.patient_id)), &stranger)).await
            .assert_problem(404, "not-found");
        // A therapist has no patient view of plans.
        call(&app, get("/api/v1/care-plans", &t)).await.assert_problem(403, "forbidden");
        // Once the link ends, the therapist can no longer write or read it,
        // and the patient no longer sees it.
        let ended = call(&app, authed(TestRequest::delete().uri(&format!("/api/v1/care/links/{}", mine.link)), &p)).await;
        assert_eq!(ended.status, 204, "{:?}", ended.body);
        call(&app, get(&plan_uri(&mine.patient_id), &t)).await.assert_problem(404, "not-found");
        call(&app, put(&plan_uri(&mine.patient_id), &t, &plan())).await.assert_problem(404, "not-found");
        assert_eq!(call(&app, get("/api/v1/care-plans", &p)).await.body, json!([]));
    }

    async fn plans_reach_the_patients_devices_through_pull_set_changed_and_withdrawn(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "pulled").await;
        let (p, t) = (token(&side.patient), token(&side.therapist));
        let uri = plan_uri(&side.patient_id);
        let (before, cursor) = pull_changes(&app, &p, 0, 500).await;
        assert!(pulled_plans(&before).is_empty());
        // Set: the next pull brings it, signed with the author's name.
        let set = call(&app, put(&uri, &t, &plan())).await;
        assert_eq!(set.status, 200);
        let (changes, after_set) = pull_changes(&app, &p, cursor, 500).await;
        let plans = pulled_plans(&changes);
        assert_eq!(plans.len(), 1, "{changes:?}");
        assert_eq!(plans[0]["id"], set.body["id"]);
        assert_eq!(plans[0]["therapistId"], side.therapist_id.as_str());
        assert_eq!(plans[0]["plan"], plan());
        assert!(!plans[0]["author"].as_str().unwrap().is_empty());
        assert!(after_set > cursor);
        // Nothing new: nothing pulled, the cursor stays.
        let (none, same) = pull_changes(&app, &p, after_set, 500).await;
        assert!(none.is_empty() && same == after_set);
        // Changed: the new plan, under the same id; paged one at a time too.
        let weekly = json!({"checkIns": "weekly"});
        assert_eq!(call(&app, put(&uri, &t, &weekly)).await.status, 200);
        let (changes, after_change) = pull_changes(&app, &p, after_set, 1).await;
        let plans = pulled_plans(&changes);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0]["id"], set.body["id"]);
        assert_eq!(plans[0]["plan"]["checkIns"], "weekly");
        // A full pull from the start holds it once, as it is now.
        let (whole, _) = pull_changes(&app, &p, 0, 500).await;
        let plans = pulled_plans(&whole);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0]["plan"]["checkIns"], "weekly");
        // Withdrawn by its author: the pull says so (no plan).
        let gone = call(&app, authed(TestRequest::delete().uri(&uri), &t)).await;
        assert_eq!(gone.status, 204);
        let (changes, after_removal) = pull_changes(&app, &p, after_change, 500).await;
        let plans = pulled_plans(&changes);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0]["id"], set.body["id"]);
        assert!(plans[0].get("plan").is_none(), "{:?}", plans[0]);
        // Set again, then the care link ends: withdrawn again.
        assert_eq!(call(&app, put(&uri, &t, &plan())).await.status, 200);
        let (changes, after_again) = pull_changes(&app, &p, after_removal, 500).await;
        assert_eq!(pulled_plans(&changes)[0]["plan"], plan());
        let ended = call(&app, authed(TestRequest::delete().uri(&format!("/api/v1/care/links/{}", side.link)), &t)).await;
        assert_eq!(ended.status, 204, "{:?}", ended.body);
        let (changes, _) = pull_changes(&app, &p, after_again, 500).await;
        let plans = pulled_plans(&changes);
        assert_eq!(plans.len(), 1, "{changes:?}");
        assert!(plans[0].get("plan").is_none());
    }

    async fn adherence_counts_what_the_plan_made_due_from_what_is_shared(server: TestServer) {
        let app = server.app().await;
        let side = side(&server, &app, "adhere").await;
        let (p, t) = (token(&side.patient), token(&side.therapist));
        let adherence_uri = format!("{}/adherence", plan_uri(&side.patient_id));
        // No plan yet.
        call(&app, get(&adherence_uri, &t)).await.assert_problem(404, "not-found");
        let daily = json!({"measures": [{"instrument": "phq9", "everyDays": 14}], "checkIns": "daily"});
        assert_eq!(call(&app, put(&plan_uri(&side.patient_id), &t, &daily)).await.status, 200);
        // The patient shares journal entries and questionnaires (not
        // check-ins or dosing sessions): the PHQ-9 is due and still open,
        // nothing is said of check-ins or follow-ups.
        let found = call(&app, get(&adherence_uri, &t)).await;
        assert_eq!(found.status, 200, "{:?}", found.body);
        assert_eq!(found.body["questionnaires"], json!({"due": 1, "done": 0, "open": 1, "missed": 0, "rate": 0.0}),
            "{:?}", found.body);
        assert!(found.body.get("checkIns").is_none());
        assert!(found.body.get("followUps").is_none());
        assert_eq!(found.body["planSince"], found.body["from"], "the plan is younger than 30 days");
        // Done offline on the phone, then synced.
        let now = chrono::Utc::now().to_rfc3339();
        for content in [
            json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": now,
                   "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0]}}),
            json!({"kind": "moodCheckIn", "body": {"recordedAt": now, "mood": 6, "anxiety": 4, "energy": 5}}),
        ] {
            let made = call(&app, authed(TestRequest::post().uri("/api/v1/records").set_json(&content), &p)).await;
            assert_eq!(made.status, 201, "{:?}", made.body);
        }
        let found = call(&app, get(&adherence_uri, &t)).await;
        assert_eq!(found.body["questionnaires"], json!({"due": 1, "done": 1, "open": 0, "missed": 0, "rate": 1.0}));
        assert!(found.body.get("checkIns").is_none(), "check-ins are still not shared");
        // Check-ins shared: their count appears.
        let share = call(&app, authed(TestRequest::post().uri("/api/v1/records")
            .set_json(kinds_share(&side.therapist_id, &["moodCheckIn"])), &p)).await;
        assert_eq!(share.status, 201);
        let found = call(&app, get(&adherence_uri, &t)).await;
        assert_eq!(found.body["checkIns"], json!({"due": 1, "done": 1, "open": 0, "missed": 0, "rate": 1.0}));
        // That share revoked: nothing is said of check-ins any more.
        let share_id = share.body["id"].as_str().unwrap();
        let revoked = call(&app, authed(TestRequest::delete().uri(&format!("/api/v1/records/{share_id}")), &p)).await;
        assert_eq!(revoked.status, 204, "{:?}", revoked.body);
        let found = call(&app, get(&adherence_uri, &t)).await;
        assert!(found.body.get("checkIns").is_none());
        // Only the plan's author, for a linked patient; never the patient.
        let other = common::side(&server, &app, "adhere.other").await;
        call(&app, get(&adherence_uri, &token(&other.therapist))).await.assert_problem(404, "not-found");
        call(&app, get(&adherence_uri, &p)).await.assert_problem(403, "forbidden");
    }
}
