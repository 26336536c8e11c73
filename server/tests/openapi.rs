//! The OpenAPI document is the contract: it lists every route the server
//! serves, and every route it lists is served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;

/// Every route the server serves, as (method, path template).
const SERVED: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("get", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/me/password"),
    ("post", "/api/v1/care/invitations"),
    ("get", "/api/v1/care/invitations"),
    ("delete", "/api/v1/care/invitations/{id}"),
    ("post", "/api/v1/care/links"),
    ("get", "/api/v1/care/links"),
    ("delete", "/api/v1/care/links/{id}"),
    ("put", "/api/v1/care-plans/{patientId}"),
    ("get", "/api/v1/care-plans/{patientId}"),
    ("delete", "/api/v1/care-plans/{patientId}"),
    ("get", "/api/v1/care-plans/{patientId}/adherence"),
    ("get", "/api/v1/care-plans"),
    ("post", "/api/v1/records"),
    ("get", "/api/v1/records"),
    ("get", "/api/v1/records/{id}"),
    ("put", "/api/v1/records/{id}"),
    ("delete", "/api/v1/records/{id}"),
    ("get", "/api/v1/records/{id}/revisions"),
    ("post", "/api/v1/sync/push"),
    ("get", "/api/v1/sync/pull"),
    (
        "post",
        "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments",
    ),
    (
        "get",
        "/api/v1/therapist/patients/{patientId}/records/{recordId}/comments",
    ),
    ("put", "/api/v1/therapist/comments/{commentId}"),
    ("delete", "/api/v1/therapist/comments/{commentId}"),
    ("get", "/api/v1/records/{id}/comments"),
    ("post", "/api/v1/records/{id}/comments"),
    ("put", "/api/v1/comments/{commentId}"),
    ("delete", "/api/v1/comments/{commentId}"),
    ("get", "/api/v1/me/export"),
    ("delete", "/api/v1/me"),
    ("get", "/api/v1/therapist/patients"),
    ("get", "/api/v1/therapist/patients/{patientId}/feed"),
    (
        "get",
        "/api/v1/therapist/patients/{patientId}/records/{recordId}",
    ),
    ("get", "/api/v1/therapist/patients/{patientId}/timeline"),
    ("get", "/api/v1/me/access-log"),
    ("get", "/api/v1/therapist/alerts"),
    ("post", "/api/v1/therapist/alerts/{id}/acknowledge"),
    ("post", "/api/v1/therapist/alerts/{id}/resolve"),
    ("get", "/api/v1/policy"),
];

fn request(method: &str, path: &str) -> TestRequest {
    let path = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let request = match method {
        "get" => TestRequest::get(),
        "post" => TestRequest::post(),
        "put" => TestRequest::put(),
        "delete" => TestRequest::delete(),
        "patch" => TestRequest::patch(),
        other => panic!("unexpected method {other}"),
    };
    request.uri(&path)
}

on_both_backends! {
    async fn the_document_lists_every_route_and_every_listed_route_exists(server: TestServer) {
        let app = server.app().await;
        let reply = call(&app, TestRequest::get().uri("/api/v1/openapi.json")).await;
        assert_eq!(reply.status, 200);
        let doc = reply.body;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["Problem"].is_object());

        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in SERVED {
            assert!(paths.get(*path).and_then(|p| p.get(*method)).is_some(), "{method} {path} is not documented");
        }
        let mut listed = 0;
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().unwrap() {
                listed += 1;
                assert!(SERVED.contains(&(method.as_str(), path.as_str())), "{method} {path} is documented but not in SERVED");
                assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
                let reply = call(&app, request(method, path)).await;
                assert_ne!(reply.status, 405, "{method} {path} is documented but not served");
                let detail = reply.body["detail"].as_str().unwrap_or("");
                assert!(!(reply.status == 404 && detail.starts_with("no route")), "{method} {path} is documented but not served");
                assert!(!reply.status.is_server_error(), "{method} {path}: {:?}", reply.body);
            }
        }
        assert_eq!(listed, SERVED.len());
    }
}
