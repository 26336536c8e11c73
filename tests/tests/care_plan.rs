//! A therapist's care plan end to end, on SQLite and on PostgreSQL: the
//! therapist sets it through the API, the phone's sync brings it, the
//! phone's agenda asks for what it says, the patient does it offline, and
//! once synced the therapist's adherence count follows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use journal_core::agenda::Due;
use journal_core::plan::PlanSource;
use journal_core::records::{Assessment, Instrument, RecordKind, Share};
use journal_e2e::{Phone, on_both_backends};
use serde_json::json;

const PASSWORD: &str = "a long passphrase";

on_both_backends! {
    fn a_plan_set_by_the_therapist_reaches_the_agenda_and_adherence_follows(server: LiveServer) {
        let email = "plan.patient@example.org";
        server.register(email, PASSWORD);
        let therapist_id = server.create_therapist("plan.lee@example.org", PASSWORD, "Dr. Lee");
        let therapist = server.token("plan.lee@example.org", PASSWORD);
        let patient = server.token(email, PASSWORD);
        server.link(&therapist, &patient);
        let phone = Phone::new(&server, email, PASSWORD);
        // The patient shares their questionnaires with the therapist.
        let therapist_uuid = therapist_id.parse().unwrap();
        phone.store.create(Share::kinds(therapist_uuid, vec![RecordKind::Assessment]).unwrap().into()).unwrap();
        phone.client.sync().unwrap();
        let (_, me) = server.call("GET", "/api/v1/me", &patient, None);
        let patient_id = me["id"].as_str().unwrap().to_owned();
        assert!(phone.store.agenda(Utc::now()).unwrap().is_empty(), "no plan yet");

        // The therapist sets a plan: a PHQ-9 every two weeks.
        let plan_uri = format!("/api/v1/care-plans/{patient_id}");
        let (status, set) = server.call("PUT", &plan_uri, &therapist,
            Some(json!({"measures": [{"instrument": "phq9", "everyDays": 14}]})));
        assert_eq!(status, 200, "{set}");
        let adherence_uri = format!("{plan_uri}/adherence");
        let (_, before) = server.call("GET", &adherence_uri, &therapist, None);
        assert_eq!(before["questionnaires"]["due"], 1, "{before}");
        assert_eq!(before["questionnaires"]["done"], 0);

        // The phone syncs: the plan is in force, and the PHQ-9 is due.
        let report = phone.client.sync().unwrap();
        assert_eq!(report.care_plans, 1);
        let in_force = phone.store.care_plan().unwrap().expect("the therapist's plan");
        assert_eq!(in_force.source, PlanSource::Therapist {
            therapist_id: therapist_uuid,
            author: "Dr. Lee".to_owned(),
        });
        let due = phone.store.agenda(Utc::now()).unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert!(matches!(due[0].due, Due::Questionnaire { instrument: Instrument::Phq9, .. }));

        // Done offline: the agenda clears at once, before any sync.
        phone.store.create(Assessment::new(Instrument::Phq9, Utc::now(), vec![1, 1, 0, 1, 1, 0, 1, 0, 0]).unwrap().into()).unwrap();
        assert!(phone.store.agenda(Utc::now()).unwrap().is_empty());
        let (_, unsynced) = server.call("GET", &adherence_uri, &therapist, None);
        assert_eq!(unsynced["questionnaires"]["done"], 0, "the server has not heard yet");

        // Synced: the therapist's adherence count follows.
        phone.client.sync().unwrap();
        let (_, after) = server.call("GET", &adherence_uri, &therapist, None);
        assert_eq!(after["questionnaires"], json!({"due": 1, "done": 1, "open": 0, "missed": 0, "rate": 1.0}), "{after}");

        // The therapist withdraws the plan: after the next sync the phone
        // has none, and nothing is asked.
        let (status, _) = server.call("DELETE", &plan_uri, &therapist, None);
        assert_eq!(status, 204);
        let report = phone.client.sync().unwrap();
        assert_eq!(report.care_plans, 1);
        assert_eq!(phone.store.care_plan().unwrap(), None);
        assert!(phone.store.agenda(Utc::now()).unwrap().is_empty());

        // A second phone signing in later gets the plan set again, and
        // nothing of the withdrawn one.
        let (status, _) = server.call("PUT", &plan_uri, &therapist, Some(json!({"checkIns": "daily"})));
        assert_eq!(status, 200);
        let other = Phone::new(&server, email, PASSWORD);
        other.client.sync().unwrap();
        let plans = other.store.assigned_plans().unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].plan.as_ref().unwrap().check_ins, Some(journal_core::plan::CheckInCadence::Daily));
        assert!(matches!(other.store.agenda(Utc::now()).unwrap()[0].due, Due::CheckIn { .. }));
    }
}
