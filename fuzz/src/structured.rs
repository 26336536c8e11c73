//! Inputs built from the fuzzer's bytes as structures rather than parsed as
//! JSON: records that are nearly valid, from small pools of ids, stamps and
//! times so that ids collide, stamps tie and times sit on the edges of what
//! the types hold. Byte-level fuzzing rarely gets this deep.

use arbitrary::{Result, Unstructured};
use chrono::{DateTime, Utc};
use journal_core::comments::Comment;
use journal_core::export::{EXPORT_FORMAT, EXPORT_VERSION, ExportDocument, ExportedAccount};
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, MutationId, RecordId};
use journal_core::records::RecordKind;
use journal_core::sync::{
    ChangeOp, MAX_CHANGE_MILLIS, Mutation, PushRequest, RawBody, RecordState, Revision,
    RevisionReason,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Ids from a pool of eight, so records, revisions and comments meet.
fn id(u: &mut Unstructured) -> Result<Uuid> {
    let n: u8 = u.int_in_range(0..=7)?;
    Ok(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n),
    ))
}

fn record_id(u: &mut Unstructured) -> Result<RecordId> {
    Ok(RecordId::from_uuid(id(u)?))
}

/// Stamps: small ones that tie, the largest there is, and any.
fn hlc(u: &mut Unstructured) -> Result<Hlc> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Hlc::ZERO,
        1 => Hlc::new(Hlc::MAX_MILLIS, u16::MAX),
        2 => Hlc::new(Hlc::MAX_MILLIS, u.arbitrary()?),
        3 => Hlc::new(
            1_700_000_000_000 + u64::from(u.int_in_range(0u8..=3)?),
            u.int_in_range(0..=2)?,
        ),
        4 => Hlc::new(u.arbitrary()?, u.arbitrary()?),
        _ => Hlc::new(1_700_000_000_000, u16::MAX),
    })
}

/// Times: the ends of the range, sub-microsecond and leap-second readings.
fn time(u: &mut Unstructured) -> Result<DateTime<Utc>> {
    let base = match u.int_in_range(0..=6)? {
        0 => DateTime::<Utc>::MIN_UTC,
        1 => DateTime::<Utc>::MAX_UTC,
        2 => DateTime::UNIX_EPOCH,
        3 => DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default(),
        // 23:59:60, a leap second.
        4 => DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap_or_default(),
        5 => DateTime::from_timestamp(u.int_in_range(-8_000_000_000_000..=8_000_000_000_000)?, 0)
            .unwrap_or_default(),
        _ => DateTime::from_timestamp(1_700_000_000 + i64::from(u.int_in_range(0u8..=3)?), 0)
            .unwrap_or_default(),
    };
    Ok(base)
}

/// Text near the rules' edges: blank, control characters, bidi overrides,
/// the length limits, and anything.
fn text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=11)? {
        0 => String::new(),
        1 => " \t".to_owned(),
        2 => "calm".to_owned(),
        3 => "two\nlines".to_owned(),
        4 => "evil\u{202E}txt".to_owned(),
        5 => "nul\0".to_owned(),
        6 => "x".repeat(40),
        7 => "é".repeat(41),
        8 => "x".repeat(usize::from(u.int_in_range(195u8..=205)?)),
        9 => "\u{FEFF}bom".to_owned(),
        10 => "Hope".to_owned(),
        _ => u.arbitrary()?,
    })
}

fn labels(u: &mut Unstructured) -> Result<Value> {
    let n = u.int_in_range(0..=22)?;
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        items.push(if u.ratio(1, 3)? {
            text(u)?
        } else {
            format!("tag{i}")
        });
    }
    Ok(json!(items))
}

fn pick<T: Copy>(u: &mut Unstructured, items: &[T]) -> Result<T> {
    Ok(*u.choose(items)?)
}

/// A small number, sometimes past the rules' range.
fn scale(u: &mut Unstructured) -> Result<Value> {
    Ok(json!(u.int_in_range(0u8..=12)?))
}

/// Content of `kind`, nearly valid; now and then a field dropped or one
/// added.
fn body(u: &mut Unstructured, kind: RecordKind) -> Result<Value> {
    let mut body = match kind {
        RecordKind::JournalEntry => {
            let prompt = match u.int_in_range(0..=2)? {
                0 => Value::Null,
                1 => json!(u.choose(journal_core::prompts::all())?.id),
                _ => json!(text(u)?),
            };
            json!({
                "title": if u.arbitrary()? { json!(text(u)?) } else { Value::Null },
                "body": if u.arbitrary()? { json!("A sea of light") } else { json!(text(u)?) },
                "phase": pick(u, &["preparation", "dosing", "integration", "after"])?,
                "promptId": prompt,
                "tags": labels(u)?,
                "dosingSessionId": if u.arbitrary()? { json!(record_id(u)?) } else { Value::Null },
            })
        }
        RecordKind::Intention => {
            let reflection = if u.arbitrary()? {
                json!({"howItWent": text(u)?, "carryForward": text(u)?})
            } else {
                Value::Null
            };
            json!({
                "text": if u.arbitrary()? { json!("Be open") } else { json!(text(u)?) },
                "dosingSessionId": record_id(u)?,
                "reflection": reflection,
                "status": pick(u, &["open", "fulfilled", "partlyFulfilled", "notFulfilled", "released"])?,
            })
        }
        RecordKind::MoodCheckIn => {
            let sleep = match u.int_in_range(0..=4)? {
                0 => Value::Null,
                1 => json!(24.0),
                2 => json!(f64::from_bits(u.arbitrary()?)),
                3 => json!(0.1 + 0.2),
                _ => json!(f64::from(u.int_in_range(0u8..=25)?) / 3.0),
            };
            json!({
                "recordedAt": time(u)?,
                "mood": scale(u)?, "anxiety": scale(u)?, "energy": scale(u)?,
                "sleepHours": sleep,
                "emotions": labels(u)?,
                "note": if u.arbitrary()? { json!(text(u)?) } else { Value::Null },
            })
        }
        RecordKind::Assessment => {
            let n = u.int_in_range(6..=10)?;
            let mut answers = Vec::with_capacity(n);
            for _ in 0..n {
                answers.push(u.int_in_range(0u8..=4)?);
            }
            json!({
                "instrument": pick(u, &["phq9", "gad7"])?,
                "takenAt": time(u)?,
                "answers": answers,
            })
        }
        RecordKind::ExercisePractice => {
            let exercise = if u.ratio(4, 5)? {
                json!(u.choose(journal_core::grounding::catalog())?.id)
            } else {
                json!(text(u)?)
            };
            json!({
                "exerciseId": exercise,
                "practicedAt": time(u)?,
                "stepsCompleted": if u.arbitrary()? { json!(u.int_in_range(0u32..=40)?) } else { json!(u32::MAX) },
                "distressBefore": scale(u)?,
                "distressAfter": scale(u)?,
            })
        }
        RecordKind::DosingSession => json!({
            "scheduledAt": time(u)?,
            "route": pick(u, &["lozenge", "nasalSpray", "intramuscular", "intravenous"])?,
            "status": pick(u, &["planned", "completed", "cancelled"])?,
            "notes": if u.arbitrary()? { json!(text(u)?) } else { Value::Null },
        }),
        RecordKind::Commitment => json!({
            "text": if u.arbitrary()? { json!("Walk every morning") } else { json!(text(u)?) },
            "dosingSessionId": record_id(u)?,
            "intentionId": if u.arbitrary()? { json!(record_id(u)?) } else { Value::Null },
            "followUpOn": if u.ratio(4, 5)? {
                json!(format!("20{:02}-{:02}-{:02}", u.int_in_range(0u8..=99)?, u.int_in_range(1u8..=12)?, u.int_in_range(1u8..=31)?))
            } else {
                json!(text(u)?)
            },
            "status": pick(u, &["open", "kept", "changed", "dropped"])?,
            "note": if u.arbitrary()? { json!(text(u)?) } else { Value::Null },
        }),
        RecordKind::CarePlan => {
            let every = if u.arbitrary()? {
                json!(u.int_in_range(0u32..=400)?)
            } else {
                Value::Null
            };
            json!({
                "measures": [{
                    "instrument": pick(u, &["phq9", "gad7"])?,
                    "everyDays": every,
                    "beforeEachSession": u.arbitrary::<bool>()?,
                    "daysAfterSession": [u.int_in_range(0u32..=400)?],
                }],
                "followUps": if u.arbitrary()? { json!({"days": [1, 3, 7, 14], "promptIds": [text(u)?]}) } else { Value::Null },
                "checkIns": pick(u, &["daily", "weekly", "hourly"])?,
            })
        }
        RecordKind::Share => {
            let scope = if u.arbitrary()? {
                json!({"type": "item", "recordId": record_id(u)?})
            } else {
                let n = u.int_in_range(0..=3)?;
                let mut kinds = Vec::with_capacity(n);
                for _ in 0..n {
                    kinds.push(u.choose(&RecordKind::ALL)?.as_str());
                }
                json!({"type": "kinds", "kinds": kinds})
            };
            json!({
                "therapistId": if u.ratio(1, 8)? { Uuid::nil() } else { id(u)? },
                "scope": scope,
                "revoked": u.arbitrary::<bool>()?,
            })
        }
    };
    if let Value::Object(map) = &mut body {
        // Absent optional fields, as a device writes them.
        map.retain(|_, v| !v.is_null());
        tweak(u, map)?;
    }
    Ok(body)
}

/// Now and then: a field dropped, or a stray one added.
fn tweak(u: &mut Unstructured, map: &mut Map<String, Value>) -> Result<()> {
    match u.int_in_range(0..=15)? {
        0 => {
            let keys: Vec<String> = map.keys().cloned().collect();
            if !keys.is_empty() {
                let key = u.choose(&keys)?.clone();
                map.remove(&key);
            }
        }
        1 => {
            map.insert("owner".to_owned(), json!("someone else"));
        }
        _ => {}
    }
    Ok(())
}

fn kind(u: &mut Unstructured) -> Result<RecordKind> {
    u.choose(&RecordKind::ALL).copied()
}

/// A record of the export, its content now and then of another kind.
fn record_state(u: &mut Unstructured) -> Result<RecordState> {
    let kind = kind(u)?;
    let content_kind = if u.ratio(1, 16)? {
        self::kind(u)?
    } else {
        kind
    };
    let deleted = u.ratio(1, 10)?;
    Ok(RecordState {
        id: record_id(u)?,
        kind,
        created_at: time(u)?,
        updated_at: time(u)?,
        hlc: hlc(u)?,
        deleted,
        body: if u.ratio(1, 20)? {
            None
        } else {
            Some(body(u, content_kind)?)
        },
    })
}

/// An export document of a few records, revisions and comments.
pub fn export_document(u: &mut Unstructured) -> Result<ExportDocument> {
    let mut records = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        records.push(record_state(u)?);
    }
    let mut revisions = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let kind = kind(u)?;
        revisions.push(Revision {
            id: id(u)?,
            record_id: record_id(u)?,
            kind,
            hlc: hlc(u)?,
            reason: if u.arbitrary()? {
                RevisionReason::Conflict
            } else {
                RevisionReason::Deleted
            },
            body: body(u, kind)?,
            created_at: time(u)?,
        });
    }
    let mut comments = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        comments.push(Comment {
            id: id(u)?,
            record_id: record_id(u)?,
            therapist_id: id(u)?,
            author: text(u)?,
            text: text(u)?,
            created_at: time(u)?,
            updated_at: time(u)?,
            deleted: u.ratio(1, 6)?,
            from_patient: u.ratio(1, 3)?,
            reply_to: if u.arbitrary()? { Some(id(u)?) } else { None },
            delivery: Default::default(),
        });
    }
    Ok(ExportDocument {
        format: if u.ratio(1, 30)? {
            "other".to_owned()
        } else {
            EXPORT_FORMAT.to_owned()
        },
        version: if u.ratio(1, 30)? {
            EXPORT_VERSION + 1
        } else {
            EXPORT_VERSION
        },
        exported_at: time(u)?,
        account: ExportedAccount {
            id: id(u)?,
            email: "ana@example.org".to_owned(),
            display_name: None,
            created_at: time(u)?,
        },
        records,
        revisions,
        comments,
    })
}

/// A device's own stamp of a change: below the last millisecond, as the
/// wire requires.
fn change_hlc(u: &mut Unstructured) -> Result<Hlc> {
    let hlc = hlc(u)?;
    Ok(Hlc::new(hlc.millis().min(MAX_CHANGE_MILLIS), hlc.counter()))
}

/// A push of a few mutations on a few records.
pub fn push_request(u: &mut Unstructured) -> Result<PushRequest> {
    let mut mutations = Vec::new();
    let mut next = 1u64;
    for _ in 0..u.int_in_range(1..=8)? {
        let kind = kind(u)?;
        let op = if u.ratio(1, 5)? {
            ChangeOp::Delete
        } else {
            ChangeOp::Upsert
        };
        let changed = if u.arbitrary()? {
            let names = [
                "text",
                "reflection",
                "status",
                "notes",
                "scheduledAt",
                "route",
                "body",
                "x",
            ];
            let n = u.int_in_range(0..=3)?;
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                list.push((*u.choose(&names)?).to_owned());
            }
            Some(list)
        } else {
            None
        };
        mutations.push(Mutation {
            mutation_id: MutationId(next),
            record_id: record_id(u)?,
            kind,
            op,
            hlc: change_hlc(u)?,
            base_hlc: if u.arbitrary()? { Some(hlc(u)?) } else { None },
            changed_fields: changed,
            created_at: time(u)?,
            updated_at: time(u)?,
            body: match op {
                ChangeOp::Upsert => Some(
                    RawBody::from_value(&body(u, kind)?)
                        .map_err(|_| arbitrary::Error::IncorrectFormat)?,
                ),
                ChangeOp::Delete => None,
            },
        });
        next += u64::from(u.int_in_range(1u8..=3)?);
    }
    Ok(PushRequest {
        device_id: DeviceId::from_uuid(id(u)?),
        mutations,
    })
}
