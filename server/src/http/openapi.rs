//! The OpenAPI document, generated from the handlers and types, served at
//! `/api/v1/openapi.json`. Each area of the API declares its own part next
//! to its handlers; this module joins them and adds what is shared.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http as routes;

/// The document's root: metadata, health routes, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "KAP Integration Journal API",
        description = "Patients' journal, sync and therapist review. Every error is an RFC 9457 \
                       problem document (application/problem+json)."
    ),
    paths(routes::health::healthz, routes::health::readyz),
    components(schemas(crate::http::problem::Problem, journal_core::validation::FieldViolation, routes::health::Health)),
    modifiers(&BearerAuth)
)]
struct Root;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from /api/v1/auth/login, /register or /refresh",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let doc = serde_json::to_value(joined()).unwrap_or_default();
    let doc = flatten_unions(doc);
    // Only objects the document already held were rearranged, so it reads
    // back; should it not, the document as generated is served.
    serde_json::from_value(doc).unwrap_or_else(|_| joined())
}

/// The parts joined, as generated.
fn joined() -> utoipa::openapi::OpenApi {
    let mut doc = Root::openapi();
    doc.merge(routes::accounts::AccountsApi::openapi());
    doc.merge(routes::care::CareApi::openapi());
    doc.merge(routes::care_plans::CarePlansApi::openapi());
    doc.merge(routes::records::RecordsApi::openapi());
    doc.merge(routes::sync::SyncApi::openapi());
    doc.merge(routes::therapist::ReviewApi::openapi());
    doc.merge(routes::access_log::AccessLogApi::openapi());
    doc.merge(routes::alerts::AlertsApi::openapi());
    doc.merge(routes::comments::CommentsApi::openapi());
    doc.merge(routes::me::MeApi::openapi());
    doc.merge(routes::passwords::PasswordsApi::openapi());
    doc
}

/// Rewrites every `allOf` that joins objects to a `oneOf` of objects (a
/// record's envelope and the kinds of its content, say) as a `oneOf` of
/// whole objects, each variant with the envelope's properties added: the
/// same JSON on the wire, in a form client generators read (some drop a
/// schema with an `allOf` over a `oneOf`, and everything that uses it).
pub fn flatten_unions(mut doc: serde_json::Value) -> serde_json::Value {
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    rewrite(&mut doc, &schemas);
    doc
}

fn rewrite(value: &mut serde_json::Value, schemas: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for child in map.values_mut() {
                rewrite(child, schemas);
            }
            if let Some(union) = map.get("allOf").and_then(|all| flattened(all, schemas)) {
                map.remove("allOf");
                map.remove("type");
                map.insert("oneOf".to_owned(), union);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                rewrite(item, schemas);
            }
        }
        _ => {}
    }
}

/// The schema a `$ref` names (followed through), or the value itself.
fn resolved<'a>(
    value: &'a serde_json::Value,
    schemas: &'a serde_json::Value,
) -> &'a serde_json::Value {
    let mut current = value;
    for _ in 0..8 {
        let Some(name) = current
            .get("$ref")
            .and_then(serde_json::Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        else {
            break;
        };
        match schemas.get(name) {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

/// Whether a schema is a plain object: properties, no composition.
fn is_plain_object(schema: &serde_json::Value) -> bool {
    schema
        .get("properties")
        .is_some_and(serde_json::Value::is_object)
        && ["allOf", "oneOf", "anyOf"]
            .iter()
            .all(|key| schema.get(key).is_none())
}

/// The `oneOf` an `allOf` amounts to, when it joins plain objects to one
/// `oneOf` of plain objects; `None` for any other `allOf`.
fn flattened(all: &serde_json::Value, schemas: &serde_json::Value) -> Option<serde_json::Value> {
    let items = all.as_array()?;
    let mut union = None;
    let mut envelope = Vec::new();
    for item in items {
        let schema = resolved(item, schemas);
        match schema.get("oneOf").and_then(serde_json::Value::as_array) {
            Some(variants) if union.is_none() => union = Some(variants),
            Some(_) => return None,
            None if is_plain_object(schema) => envelope.push(schema),
            None => return None,
        }
    }
    let variants = union?;
    let mut out = Vec::with_capacity(variants.len());
    for variant in variants {
        let mut object = resolved(variant, schemas).clone();
        if !is_plain_object(&object) {
            return None;
        }
        let map = object.as_object_mut()?;
        for part in &envelope {
            let properties = part.get("properties")?.as_object()?;
            let own = map.get_mut("properties")?.as_object_mut()?;
            for (name, property) in properties {
                own.entry(name.clone()).or_insert_with(|| property.clone());
            }
            if let Some(required) = part.get("required").and_then(serde_json::Value::as_array) {
                let list = map
                    .entry("required")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let Some(list) = list.as_array_mut() {
                    for name in required {
                        if !list.contains(name) {
                            list.push(name.clone());
                        }
                    }
                }
            }
        }
        out.push(object);
    }
    Some(serde_json::Value::Array(out))
}

/// Serves the document.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
