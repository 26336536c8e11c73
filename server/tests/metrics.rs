//! The Prometheus metrics after real traffic: the expected series with
//! sensible values, route patterns rather than ids in the labels, and
//! nothing of them on the API's own address. Each test on SQLite and on
//! PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, RecordId};
use serde_json::json;

/// The value of the series `name` with exactly these labels (in the
/// exposition's order), or of an unlabelled series.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

on_both_backends! {
    async fn traffic_shows_in_the_metrics_and_no_id_does(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "metrics@example.org").await;
        let token = token(&tokens);
        // One wrong password.
        let wrong = call(&app, TestRequest::post().uri("/api/v1/auth/login")
            .set_json(json!({"email": "metrics@example.org", "password": "not the password at all"}))).await;
        assert_eq!(wrong.status, 401);
        // A push of three entries, then two pulls.
        let device = DeviceId::new().to_string();
        let ids: Vec<String> = (0..3).map(|_| RecordId::new().to_string()).collect();
        let mutations: Vec<_> = (1..=3u64).map(|n| json!({
            "mutationId": n, "recordId": ids[n as usize - 1], "kind": "journalEntry",
            "op": "upsert", "hlc": Hlc::new(1_767_225_600_000 + n * 1_000, 0).to_string(),
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
            "body": {"body": format!("entry {n}"), "phase": "integration", "tags": []},
        })).collect();
        let pushed = call(&app, authed(TestRequest::post().uri("/api/v1/sync/push")
            .set_json(json!({"deviceId": device, "mutations": mutations})), &token)).await;
        assert_eq!(pushed.status, 200, "{:?}", pushed.body);
        for _ in 0..2 {
            let pulled = call(&app, authed(TestRequest::get().uri("/api/v1/sync/pull?since=0"), &token)).await;
            assert_eq!(pulled.status, 200, "{:?}", pulled.body);
        }
        // A record read by its id: the label is the route's pattern.
        let record = ids[0].clone();
        let _ = call(&app, authed(TestRequest::get().uri(&format!("/api/v1/records/{record}")), &token)).await;

        // A risk answer shared with a linked therapist raises a safety alert.
        let doctor_tokens = therapist(&server, &app, "doctor@example.org").await;
        let doctor = common::token(&doctor_tokens);
        let doctor_id = account_id(&doctor_tokens);
        link(&app, &doctor, &token).await;
        let shared = call(&app, authed(TestRequest::post().uri("/api/v1/records")
            .set_json(kinds_share(&doctor_id, &["assessment"])), &token)).await;
        assert_eq!(shared.status, 201, "{:?}", shared.body);
        let risk = call(&app, authed(TestRequest::post().uri("/api/v1/records").set_json(json!({
            "kind": "assessment", "body": {"instrument": "phq9", "takenAt": "2026-01-03T09:00:00Z",
            "answers": [1, 1, 2, 0, 0, 1, 2, 0, 1]}})), &token)).await;
        assert_eq!(risk.status, 201, "{:?}", risk.body);

        // The API's address has no /metrics.
        let none = call(&app, TestRequest::get().uri("/metrics")).await;
        assert_eq!(none.status, 404);

        let metrics = actix_web::test::init_service(
            journal_server::http::metrics::build_metrics_app(server.state.clone()),
        ).await;
        let scraped = actix_web::test::call_service(&metrics, TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(scraped.status().as_u16(), 200);
        let text = String::from_utf8(actix_web::test::read_body(scraped).await.to_vec()).unwrap();

        assert_eq!(value(&text, "journal_sync_pushes_total"), Some(1.0), "{text}");
        assert_eq!(value(&text, "journal_sync_changes_pushed_total"), Some(3.0));
        assert_eq!(value(&text, "journal_sync_pulls_total"), Some(2.0));
        assert_eq!(value(&text, "journal_sync_changes_pulled_total"), Some(6.0));
        assert_eq!(value(&text, "journal_sign_in_failures_total"), Some(1.0));
        assert_eq!(value(&text, "journal_throttled_attempts_total"), Some(0.0));
        assert_eq!(value(&text, r#"journal_safety_alerts{state="open"}"#), Some(1.0), "{text}");
        assert_eq!(value(&text, r#"journal_safety_alerts{state="resolved"}"#), Some(0.0));
        assert_eq!(
            value(&text, r#"journal_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"}"#),
            Some(1.0)
        );
        assert_eq!(
            value(&text, r#"journal_http_requests_total{method="GET",route="/api/v1/sync/pull",status="200"}"#),
            Some(2.0)
        );
        assert_eq!(
            value(&text, r#"journal_http_request_duration_seconds_count{method="GET",route="/api/v1/sync/pull"}"#),
            Some(2.0)
        );
        assert!(text.contains(r#"route="/api/v1/records/{id}""#), "{text}");
        let max = value(&text, "journal_db_pool_max_connections").unwrap();
        let open = value(&text, "journal_db_pool_connections").unwrap();
        assert!(max >= 1.0 && open >= 1.0 && open <= max, "{open} of {max}");
        // No id, email or device in any label.
        for secret in [record.as_str(), device.as_str(), "metrics@example.org", "doctor@example.org", account_id(&tokens).as_str(), doctor_id.as_str()] {
            assert!(!text.contains(secret), "{secret} in the metrics");
        }
    }
}
