//! The body of `POST /api/v1/sync/push`, decoded and checked as the server
//! does with journal-core's types and rules, then applied in memory with
//! journal-core's conflict rules.
//!
//! The server's own checks of the request as a whole (device id not nil,
//! 1–500 mutations, rising ids) and of `changedFields` (count and length)
//! live in `server/src/routes/sync.rs` and are not reached from here.

use std::collections::HashMap;

use journal_core::ids::RecordId;
use journal_core::records::{RecordBody, RecordKind};
use journal_core::sync::{
    ChangeOp, Incoming, IncomingOp, Mutation, PushRequest, Resolution, Stamp, Stored, resolve,
};

/// Runs one input through the push path. Panics on a finding.
pub fn check_bytes(data: &[u8]) {
    let Ok(request) = serde_json::from_slice::<PushRequest>(data) else {
        return;
    };
    check_request(&request);
}

/// Checks a decoded push: it survives a round trip through JSON, and every
/// mutation is read, validated and resolved as the server would.
pub fn check_request(request: &PushRequest) {
    check_requests(std::slice::from_ref(request));
}

/// Checks pushes made one after the other (from one device or several) to
/// one patient's records.
pub fn check_requests(requests: &[PushRequest]) {
    let mut server = HashMap::<RecordId, Stored>::new();
    for request in requests {
        check_one(&mut server, request);
    }
}

fn check_one(server: &mut HashMap<RecordId, Stored>, request: &PushRequest) {
    round_trip_request(request);
    for mutation in &request.mutations {
        check_envelope(mutation);
        let Some(op) = incoming_op(mutation) else {
            continue;
        };
        apply(server, request, mutation, op);
    }
}

/// What the server sends back and stores must read back as what it got.
fn round_trip_request(request: &PushRequest) {
    let text = serde_json::to_string(request).expect("a decoded push serializes");
    let back: PushRequest =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}\ndoes not decode: {e}"));
    assert_eq!(&back, request, "the push changed in a JSON round trip");
}

/// The columns the server derives from the envelope.
fn check_envelope(mutation: &Mutation) {
    assert!(mutation.hlc.to_i64() >= 0, "packed stamp is negative");
    if let Some(base) = mutation.base_hlc {
        assert!(base.to_i64() >= 0, "packed base stamp is negative");
    }
    // Stored as microseconds: must not overflow for any decodable time.
    let _ = mutation.created_at.timestamp_micros();
    let _ = mutation.updated_at.timestamp_micros();
}

/// The server's reading of a mutation's content: `None` when it would be
/// rejected (its own outcome, not an error of the push).
fn incoming_op(mutation: &Mutation) -> Option<IncomingOp> {
    match mutation.op {
        ChangeOp::Delete => Some(IncomingOp::Delete),
        ChangeOp::Upsert => {
            let body = mutation.body.as_ref()?.read_as(mutation.kind).ok()?;
            assert_eq!(body.kind(), mutation.kind, "content read as another kind");
            match body.validate() {
                Ok(()) => {
                    check_valid_body(&body, mutation.record_id);
                    Some(IncomingOp::Upsert {
                        body,
                        changed: mutation.changed_fields.clone(),
                    })
                }
                Err(invalid) => {
                    assert!(
                        !invalid.violations.is_empty(),
                        "invalid content with no violation"
                    );
                    assert!(
                        invalid.violations.is_sorted_by(|a, b| a.field <= b.field),
                        "violations not sorted by field: {invalid:?}"
                    );
                    None
                }
            }
        }
    }
}

/// Valid content is stored as JSON and read back by every device: it must
/// come back the same, and still valid.
pub fn check_valid_body(body: &RecordBody, id: RecordId) {
    let json = body.to_json().expect("valid content serializes");
    let back = RecordBody::from_json(body.kind(), &json)
        .unwrap_or_else(|e| panic!("stored content {json} does not read back: {e}"));
    assert_eq!(&back, body, "content changed through its stored JSON");
    back.validate()
        .unwrap_or_else(|e| panic!("content {json} no longer valid after a round trip: {e}"));

    let tagged = serde_json::to_value(body).expect("content serializes with its kind");
    let again: RecordBody = serde_json::from_value(tagged.clone())
        .unwrap_or_else(|e| panic!("tagged content {tagged} does not read back: {e}"));
    assert_eq!(&again, body, "content changed through its tagged JSON");

    // The derived columns and the search text.
    let _ = body.occurred_at().map(|t| t.timestamp_micros());
    let _ = body.phase();
    let _ = body.searchable_text();
    if let Some(session) = body.dosing_session_id(id)
        && body.kind() == RecordKind::DosingSession
    {
        assert_eq!(session, id, "a session links to itself");
    }
    if let RecordBody::Assessment(assessment) = body {
        let score = assessment
            .score()
            .unwrap_or_else(|e| panic!("a valid assessment cannot be scored: {e}"));
        assert!(score.total <= assessment.instrument.max_total());
    }
}

/// Resolves the mutation against what the server holds (built from the
/// earlier mutations of the push), checking the conflict rules' promises.
fn apply(
    server: &mut HashMap<RecordId, Stored>,
    request: &PushRequest,
    mutation: &Mutation,
    op: IncomingOp,
) {
    let stored = server.get(&mutation.record_id);
    if let Some(stored) = stored
        && stored.kind != mutation.kind
    {
        // Refused by the server: a record's kind never changes.
        return;
    }
    let stamp = Stamp {
        hlc: mutation.hlc,
        device: request.device_id,
    };
    let incoming = Incoming {
        stamp,
        base: mutation.base_hlc,
        op: op.clone(),
    };
    let resolution = resolve(stored, incoming.clone());
    assert_eq!(
        resolve(stored, incoming),
        resolution,
        "the conflict rules are not deterministic"
    );
    match resolution {
        Resolution::Write {
            body,
            stamp: written,
            fields,
            lost,
            ..
        } => {
            if let Some(body) = &body {
                assert_eq!(
                    body.kind(),
                    mutation.kind,
                    "written content of another kind"
                );
                body.validate()
                    .unwrap_or_else(|e| panic!("the rules wrote invalid content: {e}"));
            }
            if let Some(stored) = stored {
                assert!(
                    written > stored.stamp,
                    "a write does not order after the version it replaces: {written:?} <= {:?}",
                    stored.stamp
                );
            }
            if let Some(lost) = &lost {
                lost.body
                    .validate()
                    .unwrap_or_else(|e| panic!("kept text is invalid: {e}"));
            }
            let created = stored.map_or(written, |s| s.created);
            server.insert(
                mutation.record_id,
                Stored {
                    kind: mutation.kind,
                    stamp: written,
                    created,
                    body,
                    fields,
                },
            );
        }
        Resolution::Keep { lost, .. } => {
            assert!(stored.is_some(), "a new record was not written");
            if let Some(lost) = &lost {
                lost.body
                    .validate()
                    .unwrap_or_else(|e| panic!("kept text is invalid: {e}"));
            }
        }
    }
}
