//! The conflict rules, as one pure function both sides call: given what the
//! server holds and an incoming change, what the record becomes and what
//! text, if any, must be kept as a revision.
//!
//! | record | rule |
//! |---|---|
//! | journal entry text | concurrent edits: the later by clock stamp stays current, the other text is kept as a conflict revision |
//! | intentions, dosing sessions | last writer wins per field, by clock stamp, ties by device id |
//! | check-ins, questionnaires, practices | facts: the later version wins whole |
//! | delete vs edit | the later by clock stamp wins; entry text lost to a delete is kept as a revision |
//! | shares | a revocation (or delete) wins over any concurrent change, whatever the clocks say; a revoked share never comes back |
//!
//! An edit is *concurrent* when it was made on a version other than the
//! one the server holds (its `base_hlc` differs from the stored stamp):
//! another device changed the record in between. A non-concurrent edit is
//! a plain fast-forward and always applies. Every stored version has a
//! stamp of its own, later than the one before it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::wire::RevisionReason;
use crate::hlc::Hlc;
use crate::ids::DeviceId;
use crate::records::{RecordBody, RecordKind};

/// Orders versions: clock stamp first, then the writing device's id, so
/// that two devices can never tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    /// The clock stamp.
    pub hlc: Hlc,
    /// The device that wrote it.
    pub device: DeviceId,
}

/// For records merged field by field: the stamp that last set each
/// top-level field. A field with no entry was set by the record's creation.
pub type FieldStamps = BTreeMap<String, Stamp>;

/// The record as the server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Its kind.
    pub kind: RecordKind,
    /// The stamp of the current version.
    pub stamp: Stamp,
    /// The stamp the record was created with (what fields without a field
    /// stamp were set by).
    pub created: Stamp,
    /// The content, `None` for a tombstone.
    pub body: Option<RecordBody>,
    /// Per-field stamps (intentions and dosing sessions).
    pub fields: FieldStamps,
}

/// What the incoming change does.
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingOp {
    /// The record now has this content; `changed` lists the top-level
    /// fields the change set (`None`: all).
    Upsert {
        /// The content.
        body: RecordBody,
        /// The fields set.
        changed: Option<Vec<String>>,
    },
    /// The record is deleted.
    Delete,
}

/// A change arriving from a device (or made through the API).
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// Its stamp.
    pub stamp: Stamp,
    /// The stamp of the version it was made on (`None`: a new record).
    pub base: Option<Hlc>,
    /// What it does.
    pub op: IncomingOp,
}

/// Content that lost and must be kept as a revision.
#[derive(Debug, Clone, PartialEq)]
pub struct LostText {
    /// The losing content.
    pub body: RecordBody,
    /// The stamp of the losing version.
    pub stamp: Stamp,
    /// Lost to a concurrent edit or to a delete.
    pub reason: RevisionReason,
}

/// What to do with an incoming change.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Store this as the record's new version.
    Write {
        /// The new content, `None` for a tombstone.
        body: Option<RecordBody>,
        /// The new version's stamp.
        stamp: Stamp,
        /// The new per-field stamps.
        fields: FieldStamps,
        /// Text the write supersedes that must be kept.
        lost: Option<LostText>,
        /// Whether the change met a concurrent one.
        conflict: bool,
    },
    /// Keep the stored version as it is.
    Keep {
        /// The incoming text, when it lost and must be kept.
        lost: Option<LostText>,
        /// Whether the change met a concurrent one.
        conflict: bool,
    },
}

/// Decides what an incoming change does to the stored record (`None`: the
/// server has never seen it). The caller has already checked that both are
/// of the same kind and owner.
///
/// A version the rules make out of two (a field merge, or a revocation
/// that wins over a later grant) gets [`merged_stamp`]: the smallest stamp
/// later than both, so any change made after them, anywhere, still orders
/// after it.
pub fn resolve(stored: Option<&Stored>, incoming: Incoming) -> Resolution {
    let Some(stored) = stored else {
        let (body, fields) = match incoming.op {
            IncomingOp::Upsert { body, .. } => (Some(body), FieldStamps::new()),
            IncomingOp::Delete => (None, FieldStamps::new()),
        };
        return Resolution::Write {
            body,
            stamp: incoming.stamp,
            fields,
            lost: None,
            conflict: false,
        };
    };
    // A change made on the stored version normally carries a later stamp
    // (its device saw the stored stamp first). One that does not would
    // leave two contents with one stamp, and a later edit of "that" version
    // could then overwrite text it never saw: it is treated as concurrent,
    // so the ordering decides and no text is lost.
    let concurrent =
        incoming.base != Some(stored.stamp.hlc) || incoming.stamp.hlc <= stored.stamp.hlc;
    if stored.kind == RecordKind::Share
        && let Some(decided) = resolve_share(stored, &incoming, concurrent)
    {
        return decided;
    }
    let incoming_later = incoming.stamp > stored.stamp;
    let is_entry = stored.kind == RecordKind::JournalEntry;
    match (incoming.op, &stored.body) {
        // A delete of a record already deleted keeps it deleted; when it is
        // the later delete, the tombstone takes its stamp, so that an edit
        // made between the two deletes, arriving last, stays beaten.
        (IncomingOp::Delete, None) => {
            if incoming_later {
                Resolution::Write {
                    body: None,
                    stamp: incoming.stamp,
                    fields: FieldStamps::new(),
                    lost: None,
                    conflict: false,
                }
            } else {
                Resolution::Keep {
                    lost: None,
                    conflict: false,
                }
            }
        }
        (IncomingOp::Delete, Some(current)) => {
            if !concurrent || incoming_later {
                // Text the deleting device never saw is kept.
                let lost = (concurrent && is_entry).then(|| LostText {
                    body: current.clone(),
                    stamp: stored.stamp,
                    reason: RevisionReason::Deleted,
                });
                Resolution::Write {
                    body: None,
                    stamp: newest(stored.stamp, incoming.stamp),
                    fields: FieldStamps::new(),
                    lost,
                    conflict: concurrent,
                }
            } else {
                Resolution::Keep {
                    lost: None,
                    conflict: true,
                }
            }
        }
        (IncomingOp::Upsert { body, .. }, None) => {
            if incoming_later {
                // Edited after the delete: the edit brings the record back.
                Resolution::Write {
                    body: Some(body),
                    stamp: incoming.stamp,
                    fields: FieldStamps::new(),
                    lost: None,
                    conflict: true,
                }
            } else {
                let lost = is_entry.then_some(LostText {
                    body,
                    stamp: incoming.stamp,
                    reason: RevisionReason::Deleted,
                });
                Resolution::Keep {
                    lost,
                    conflict: true,
                }
            }
        }
        (IncomingOp::Upsert { body, changed }, Some(current)) => {
            let per_field = matches!(
                stored.kind,
                RecordKind::Intention | RecordKind::DosingSession | RecordKind::Commitment
            );
            if !concurrent {
                // A change sets only the fields it lists: fields it did not
                // touch keep what the server holds, which may be a merge the
                // device has not seen yet.
                if per_field
                    && let Some((body, fields)) = fast_forward_fields(
                        stored,
                        current,
                        &body,
                        changed.as_deref(),
                        incoming.stamp,
                    )
                {
                    return Resolution::Write {
                        body: Some(body),
                        stamp: incoming.stamp,
                        fields,
                        lost: None,
                        conflict: false,
                    };
                }
                return Resolution::Write {
                    body: Some(body),
                    stamp: incoming.stamp,
                    fields: FieldStamps::new(),
                    lost: None,
                    conflict: false,
                };
            }
            if per_field
                && let Some(write) =
                    merge_fields(stored, current, &body, changed.as_deref(), incoming.stamp)
            {
                return write;
            }
            // Identical text lost to itself is not worth a revision (a
            // change pushed again under a renewed device id, say).
            let same = *current == body;
            if incoming_later {
                let lost = (is_entry && !same).then(|| LostText {
                    body: current.clone(),
                    stamp: stored.stamp,
                    reason: RevisionReason::Conflict,
                });
                Resolution::Write {
                    body: Some(body),
                    stamp: incoming.stamp,
                    fields: FieldStamps::new(),
                    lost,
                    conflict: true,
                }
            } else {
                let lost = (is_entry && !same).then_some(LostText {
                    body,
                    stamp: incoming.stamp,
                    reason: RevisionReason::Conflict,
                });
                Resolution::Keep {
                    lost,
                    conflict: true,
                }
            }
        }
    }
}

/// Shares: taking consent back must never be undone by a change made
/// elsewhere at the same time. `None`: the general rules apply.
fn resolve_share(stored: &Stored, incoming: &Incoming, concurrent: bool) -> Option<Resolution> {
    let stored_revoked = match &stored.body {
        None => true,
        Some(RecordBody::Share(share)) => share.revoked,
        Some(_) => false,
    };
    let incoming_revokes = match &incoming.op {
        IncomingOp::Delete => true,
        IncomingOp::Upsert {
            body: RecordBody::Share(share),
            ..
        } => share.revoked,
        IncomingOp::Upsert { .. } => false,
    };
    if stored_revoked {
        // Revoked or deleted stays so; a delete of a revoked share still
        // deletes it.
        return match incoming.op {
            IncomingOp::Delete if stored.body.is_some() => None,
            _ => Some(Resolution::Keep {
                lost: None,
                conflict: !incoming_revokes,
            }),
        };
    }
    if incoming_revokes {
        // Wins even when its stamp is older than a concurrent grant's.
        let stamp = if incoming.stamp > stored.stamp {
            incoming.stamp
        } else {
            merged_stamp(stored.stamp.hlc.max(incoming.stamp.hlc))
        };
        let body = match &incoming.op {
            IncomingOp::Upsert { body, .. } => Some(body.clone()),
            IncomingOp::Delete => None,
        };
        return Some(Resolution::Write {
            body,
            stamp,
            fields: FieldStamps::new(),
            lost: None,
            conflict: concurrent,
        });
    }
    None
}

/// The stamp of a version the rules made out of two: the smallest stamp
/// later than `after` (the later of the two), written by no device (the nil
/// id). Not the server's clock: a merge computed when a device syncs must
/// not order after changes other devices made before that, offline.
pub fn merged_stamp(after: Hlc) -> Stamp {
    Stamp {
        hlc: after.successor(),
        device: DeviceId::from_uuid(uuid::Uuid::nil()),
    }
}

fn newest(a: Stamp, b: Stamp) -> Stamp {
    a.max(b)
}

fn as_object(body: &RecordBody) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::to_value(body).ok()?.get("body")? {
        serde_json::Value::Object(map) => Some(map.clone()),
        _ => None,
    }
}

/// The fields a change set: those listed, or, with no list, those that
/// differ from the stored content.
fn fields_set(
    current: &serde_json::Map<String, serde_json::Value>,
    incoming: &serde_json::Map<String, serde_json::Value>,
    changed: Option<&[String]>,
) -> Vec<String> {
    match changed {
        Some(list) => list.to_vec(),
        None => {
            let mut keys: Vec<String> = current.keys().chain(incoming.keys()).cloned().collect();
            keys.sort();
            keys.dedup();
            keys.retain(|k| current.get(k) != incoming.get(k));
            keys
        }
    }
}

/// A fast-forward of a record merged field by field: the fields the change
/// sets take its values and its stamp; the others keep the stored ones.
/// `None` when the result would break a rule (then the change applies whole).
fn fast_forward_fields(
    stored: &Stored,
    current: &RecordBody,
    incoming: &RecordBody,
    changed: Option<&[String]>,
    stamp: Stamp,
) -> Option<(RecordBody, FieldStamps)> {
    let cur = as_object(current)?;
    let inc = as_object(incoming)?;
    let mut merged = cur.clone();
    let mut fields = stored.fields.clone();
    for field in fields_set(&cur, &inc, changed) {
        match inc.get(&field) {
            Some(value) => merged.insert(field.clone(), value.clone()),
            None => merged.remove(&field),
        };
        fields.insert(field, stamp);
    }
    let body = RecordBody::from_value(stored.kind, serde_json::Value::Object(merged)).ok()?;
    body.validate().ok()?;
    Some((body, fields))
}

/// Merges a concurrent change field by field: each field the change set
/// wins when its stamp is later than the stamp that last set that field.
/// `None` when the merged content would break a rule (then the whole later
/// version wins instead).
fn merge_fields(
    stored: &Stored,
    current: &RecordBody,
    incoming: &RecordBody,
    changed: Option<&[String]>,
    stamp: Stamp,
) -> Option<Resolution> {
    let cur = as_object(current)?;
    let inc = as_object(incoming)?;
    let mut merged = cur.clone();
    let mut fields = stored.fields.clone();
    let mut took_any = false;
    for field in fields_set(&cur, &inc, changed) {
        let holder = stored.fields.get(&field).copied().unwrap_or(stored.created);
        if stamp > holder {
            match inc.get(&field) {
                Some(value) => merged.insert(field.clone(), value.clone()),
                None => merged.remove(&field),
            };
            fields.insert(field, stamp);
            took_any = true;
        }
    }
    if !took_any {
        return Some(Resolution::Keep {
            lost: None,
            conflict: true,
        });
    }
    let body = RecordBody::from_value(stored.kind, serde_json::Value::Object(merged)).ok()?;
    body.validate().ok()?;
    // The merged content is a version of its own: it needs a stamp later
    // than the stored one.
    let stamp = if stamp > stored.stamp {
        stamp
    } else {
        merged_stamp(stored.stamp.hlc.max(stamp.hlc))
    };
    Some(Resolution::Write {
        body: Some(body),
        stamp,
        fields,
        lost: None,
        conflict: true,
    })
}

#[cfg(test)]
mod tests;
