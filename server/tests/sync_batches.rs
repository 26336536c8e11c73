//! A push is applied in batches (one look-up of its records, multi-row
//! inserts), yet it must end exactly as its mutations applied one by one:
//! records touched several times in one push, conflicts with a record the
//! same push created, kind changes, deletes, another patient's record id.
//! Each test on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use chrono::{DateTime, SecondsFormat};
use common::*;
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, RecordId};
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z in milliseconds; step `n` is `n` seconds later.
const START_MILLIS: u64 = 1_767_225_600_000;

fn stamp(step: u64) -> String {
    Hlc::new(START_MILLIS + step * 1_000, 0).to_string()
}

fn at(step: u64) -> String {
    let millis = i64::try_from(START_MILLIS + step * 1_000).unwrap();
    DateTime::from_timestamp_millis(millis)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn note(text: &str) -> Value {
    json!({"kind": "journalEntry", "body": {"body": text, "phase": "integration", "tags": []}})
}

fn mood(level: u8) -> Value {
    json!({"kind": "moodCheckIn", "body": {"recordedAt": "2026-01-02T08:00:00Z", "mood": level,
        "anxiety": 3, "energy": 5, "emotions": []}})
}

/// One step of the script: which record (by index), what, when, on which
/// version.
enum Step {
    Put(usize, Value, u64, Option<u64>),
    Remove(usize, &'static str, u64, Option<u64>),
}

fn mutation(number: u64, step: &Step, ids: &[String]) -> Value {
    let (index, kind, body, tick, base, op) = match step {
        Step::Put(index, content, tick, base) => (
            *index,
            content["kind"].clone(),
            Some(content["body"].clone()),
            *tick,
            *base,
            "upsert",
        ),
        Step::Remove(index, kind, tick, base) => {
            (*index, json!(kind), None, *tick, *base, "delete")
        }
    };
    let mut m = json!({
        "mutationId": number, "recordId": ids[index], "kind": kind, "op": op,
        "hlc": stamp(tick), "createdAt": at(0), "updatedAt": at(tick),
    });
    if let Some(body) = body {
        m["body"] = body;
    }
    if let Some(base) = base {
        m["baseHlc"] = json!(stamp(base));
    }
    m
}

async fn push_all<S, B>(app: &S, token: &str, device: &str, mutations: Vec<Value>) -> Vec<Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let request = TestRequest::post()
        .uri("/api/v1/sync/push")
        .set_json(json!({"deviceId": device, "mutations": mutations}));
    let reply = call(app, authed(request, token)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["results"].as_array().unwrap().clone()
}

async fn pull_everything<S, B>(app: &S, token: &str) -> Vec<Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut since = 0;
    let mut changes = Vec::new();
    loop {
        let request = TestRequest::get().uri(&format!("/api/v1/sync/pull?since={since}&limit=3"));
        let page = call(app, authed(request, token)).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        changes.extend(page.body["changes"].as_array().unwrap().iter().cloned());
        since = page.body["cursor"].as_u64().unwrap();
        if !page.body["hasMore"].as_bool().unwrap() {
            return changes;
        }
    }
}

/// What a patient ends with, record ids replaced by their index in the
/// script: the records as last pulled, and the revisions (sorted).
fn outcome_of(changes: &[Value], ids: &[String]) -> (BTreeMap<usize, Value>, Vec<Value>) {
    let index = |id: &Value| ids.iter().position(|i| id == i).unwrap();
    let mut records = BTreeMap::new();
    let mut revisions = Vec::new();
    for change in changes {
        match change["type"].as_str().unwrap() {
            "record" => {
                let mut record = change["record"].clone();
                let at = index(&record["id"]);
                record["id"] = json!(at);
                records.insert(at, record);
            }
            "revision" => {
                let revision = &change["revision"];
                revisions.push(json!({
                    "record": index(&revision["recordId"]), "reason": revision["reason"],
                    "hlc": revision["hlc"], "kind": revision["kind"], "body": revision["body"],
                }));
            }
            other => panic!("unexpected change {other}"),
        }
    }
    revisions.sort_by_key(|r| r.to_string());
    (records, revisions)
}

/// (status, conflict, problem type) of each outcome.
fn summary(results: &[Value]) -> Vec<(Value, Value, Value)> {
    results
        .iter()
        .map(|r| {
            (
                r["status"].clone(),
                r["conflict"].clone(),
                r["problem"]["type"].clone(),
            )
        })
        .collect()
}

on_both_backends! {
    async fn a_push_ends_as_its_mutations_applied_one_by_one(server: TestServer) {
        let app = server.app().await;
        // Another patient's record, whose id both scripts name.
        let other = token(&register(&app, "someone-else@example.org").await);
        let theirs = RecordId::new().to_string();
        let other_device = DeviceId::new().to_string();
        let before = push_all(&app, &other, &other_device,
            vec![mutation(1, &Step::Put(0, note("theirs"), 1, None), std::slice::from_ref(&theirs))]).await;
        assert_eq!(before[0]["status"], "applied");

        let script: Vec<Vec<Step>> = vec![
            vec![
                // Created, then changed, then changed concurrently: all
                // before the push's new records are written.
                Step::Put(0, note("first"), 1, None),
                Step::Put(0, note("second"), 2, Some(1)),
                Step::Put(0, note("concurrent"), 3, Some(1)),
                Step::Put(1, mood(5), 4, None),
                Step::Remove(1, "moodCheckIn", 5, Some(4)),
                Step::Put(1, mood(6), 6, Some(5)),
                Step::Put(2, note("a note"), 7, None),
                // A note cannot become a check-in.
                Step::Put(2, mood(2), 8, Some(7)),
                // Another patient's id: rejected, their record untouched.
                Step::Put(3, note("not mine"), 9, None),
                Step::Put(4, mood(1), 10, None),
            ],
            vec![
                // Records stored by the first push, changed twice here.
                Step::Put(0, note("third"), 11, Some(3)),
                Step::Put(0, note("fourth"), 12, Some(11)),
                Step::Put(2, note("stale edit"), 13, Some(1)),
                Step::Remove(2, "journalEntry", 14, Some(13)),
                Step::Remove(4, "moodCheckIn", 15, Some(10)),
                Step::Put(4, mood(3), 16, Some(10)),
                Step::Put(3, note("still not mine"), 17, None),
            ],
        ];

        let mut ends = Vec::new();
        for (who, one_push_each) in [("batched@example.org", false), ("one-by-one@example.org", true)] {
            let t = token(&register(&app, who).await);
            let mut ids: Vec<String> = (0..5).map(|_| RecordId::new().to_string()).collect();
            ids[3] = theirs.clone();
            let device = DeviceId::new().to_string();
            let mut results = Vec::new();
            let mut number = 0;
            for push in &script {
                let mutations: Vec<Value> = push
                    .iter()
                    .map(|step| {
                        number += 1;
                        mutation(number, step, &ids)
                    })
                    .collect();
                if one_push_each {
                    for m in mutations {
                        results.extend(push_all(&app, &t, &device, vec![m]).await);
                    }
                } else {
                    results.extend(push_all(&app, &t, &device, mutations).await);
                }
            }
            let changes = pull_everything(&app, &t).await;
            ends.push((summary(&results), outcome_of(&changes, &ids)));
        }
        let (batched, one_by_one) = (&ends[0], &ends[1]);
        assert_eq!(batched.0, one_by_one.0, "outcomes differ");
        assert_eq!(batched.1.0, one_by_one.1.0, "records differ");
        assert_eq!(batched.1.1, one_by_one.1.1, "revisions differ");

        // The script covers what it means to: a conflict, rejections, a
        // revision, and the other patient's id refused.
        let statuses: Vec<&str> = batched.0.iter().map(|(s, _, _)| s.as_str().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == "rejected").count(), 3, "{statuses:?}");
        assert!(batched.0.iter().any(|(_, conflict, _)| conflict == true));
        assert!(!batched.1.1.is_empty());
        assert!(!batched.1.0.contains_key(&3));
        assert_eq!(batched.1.0.len(), 4);

        let theirs_now = pull_everything(&app, &other).await;
        assert_eq!(theirs_now.len(), 1);
        assert_eq!(theirs_now[0]["record"]["body"]["body"], "theirs");
        assert_eq!(theirs_now[0]["record"]["hlc"], json!(stamp(1)));
    }
}
