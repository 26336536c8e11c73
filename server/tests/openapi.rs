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

/// Whether any `allOf` in the document joins a `oneOf` (by itself or
/// through a `$ref`): the shape client generators drop.
fn all_of_over_one_of(value: &serde_json::Value, schemas: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(items) = map.get("allOf").and_then(|a| a.as_array()) {
                for item in items {
                    let target = item["$ref"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .map_or(item, |name| &schemas[name]);
                    if target.get("oneOf").is_some() {
                        return Some(value.to_string().chars().take(200).collect());
                    }
                }
            }
            map.values().find_map(|v| all_of_over_one_of(v, schemas))
        }
        serde_json::Value::Array(items) => {
            items.iter().find_map(|v| all_of_over_one_of(v, schemas))
        }
        _ => None,
    }
}

#[test]
fn records_are_a_one_of_of_whole_objects_that_generators_read() {
    let doc = serde_json::to_value(journal_server::http::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(all_of_over_one_of(&doc, schemas), None);
    // A record: one object per kind, each with the envelope and the kind's
    // own `kind` and `body`, all required, nothing else allowed.
    let kinds = schemas["RecordBody"]["oneOf"].as_array().unwrap().len();
    let variants = schemas["Record"]["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), kinds);
    for variant in variants {
        let required: Vec<&str> = variant["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for field in ["id", "createdAt", "updatedAt", "hlc", "kind", "body"] {
            assert!(
                variant["properties"][field].is_object(),
                "{field}: {variant}"
            );
            assert!(required.contains(&field), "{field} not required: {variant}");
        }
    }
    // The pages and the therapist's shared records point at it.
    assert_eq!(
        schemas["RecordPage"]["properties"]["records"]["items"]["$ref"],
        "#/components/schemas/Record"
    );
    assert_eq!(
        schemas["SharedRecord"]["properties"]["record"]["$ref"],
        "#/components/schemas/Record"
    );
}

#[test]
fn an_all_of_over_a_one_of_is_rewritten_and_others_are_left_alone() {
    use journal_server::http::openapi::flatten_unions;
    let doc = serde_json::json!({
        "components": {"schemas": {
            "Body": {"oneOf": [
                {"type": "object", "properties": {"kind": {"enum": ["a"]}}, "required": ["kind"], "additionalProperties": false},
                {"type": "object", "properties": {"kind": {"enum": ["b"]}}, "required": ["kind"], "additionalProperties": false}
            ]},
            "Thing": {"allOf": [
                {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                {"$ref": "#/components/schemas/Body"}
            ], "description": "a thing"},
            "Other": {"allOf": [
                {"type": "object", "properties": {"id": {"type": "string"}}},
                {"type": "object", "properties": {"name": {"type": "string"}}}
            ]}
        }}
    });
    let out = flatten_unions(doc.clone());
    let thing = &out["components"]["schemas"]["Thing"];
    assert_eq!(thing["description"], "a thing");
    assert!(thing.get("allOf").is_none());
    let variants = thing["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    for variant in variants {
        assert_eq!(variant["required"], serde_json::json!(["kind", "id"]));
        assert_eq!(variant["properties"]["id"]["type"], "string");
        assert_eq!(variant["additionalProperties"], false);
    }
    // An allOf of plain objects is left as it was.
    assert_eq!(
        out["components"]["schemas"]["Other"],
        doc["components"]["schemas"]["Other"]
    );
}
