//! The conflict table, case by case.

use chrono::{TimeZone, Utc};

use super::*;

/// `resolve`, by a shorter name.
fn decide(stored: Option<&Stored>, incoming: Incoming) -> Resolution {
    resolve(stored, incoming)
}

use crate::phase::Phase;
use crate::records::{
    DosingSession, Intention, IntentionStatus, JournalEntry, MoodCheckIn, Reflection, Route,
};

fn device(n: u8) -> DeviceId {
    DeviceId::from_uuid(uuid::Uuid::from_bytes([n; 16]))
}

fn stamp(millis: u64, n: u8) -> Stamp {
    Stamp {
        hlc: Hlc::new(millis, 0),
        device: device(n),
    }
}

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

fn stored(body: Option<RecordBody>, at: Stamp) -> Stored {
    Stored {
        kind: body
            .as_ref()
            .map_or(RecordKind::JournalEntry, RecordBody::kind),
        stamp: at,
        created: at,
        body,
        fields: FieldStamps::new(),
    }
}

fn upsert(body: RecordBody, at: Stamp, base: Option<Hlc>) -> Incoming {
    Incoming {
        stamp: at,
        base,
        op: IncomingOp::Upsert {
            body,
            changed: None,
        },
    }
}

fn delete(at: Stamp, base: Option<Hlc>) -> Incoming {
    Incoming {
        stamp: at,
        base,
        op: IncomingOp::Delete,
    }
}

#[test]
fn a_new_record_is_written() {
    let r = decide(None, upsert(entry("hello"), stamp(10, 1), None));
    assert!(matches!(
        r,
        Resolution::Write {
            body: Some(_),
            conflict: false,
            lost: None,
            ..
        }
    ));
    let r = decide(None, delete(stamp(10, 1), None));
    assert!(
        matches!(r, Resolution::Write { body: None, .. }),
        "a tombstone is kept even for an unknown record"
    );
}

#[test]
fn an_edit_on_the_current_version_fast_forwards() {
    let s = stored(Some(entry("v1")), stamp(10, 1));
    // Made on what the server holds, by another device: no conflict, even
    // though that device's id orders before the stored one's.
    let r = decide(
        Some(&s),
        upsert(entry("v2"), stamp(12, 0), Some(s.stamp.hlc)),
    );
    match r {
        Resolution::Write {
            body,
            stamp: st,
            lost,
            conflict,
            ..
        } => {
            assert_eq!(body, Some(entry("v2")));
            assert_eq!(st, stamp(12, 0));
            assert_eq!((lost, conflict), (None, false));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_edit_whose_stamp_is_not_later_than_its_base_is_not_trusted() {
    let s = stored(Some(entry("v1")), stamp(10, 1));
    // A device whose clock did not follow: the stored version stays, the
    // incoming text is kept.
    match decide(
        Some(&s),
        upsert(entry("v2"), stamp(5, 2), Some(s.stamp.hlc)),
    ) {
        Resolution::Keep {
            lost: Some(lost),
            conflict: true,
        } => assert_eq!(lost.body, entry("v2")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_entry_edits_keep_both_texts() {
    let s = stored(Some(entry("written on the phone")), stamp(20, 1));
    // The tablet edited version 10 at time 30: later, so it wins...
    let r = decide(
        Some(&s),
        upsert(
            entry("written on the tablet"),
            stamp(30, 2),
            Some(Hlc::new(10, 0)),
        ),
    );
    match r {
        Resolution::Write {
            body,
            lost: Some(lost),
            conflict: true,
            ..
        } => {
            assert_eq!(body, Some(entry("written on the tablet")));
            assert_eq!(lost.body, entry("written on the phone"));
            assert_eq!(lost.reason, RevisionReason::Conflict);
        }
        other => panic!("{other:?}"),
    }
    // ...and at time 15 it loses, but its text is kept.
    let r = decide(
        Some(&s),
        upsert(
            entry("older tablet text"),
            stamp(15, 2),
            Some(Hlc::new(10, 0)),
        ),
    );
    match r {
        Resolution::Keep {
            lost: Some(lost),
            conflict: true,
        } => {
            assert_eq!(lost.body, entry("older tablet text"));
            assert_eq!(lost.stamp, stamp(15, 2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn equal_clock_stamps_are_ordered_by_device() {
    let s = stored(Some(entry("device 1")), stamp(20, 1));
    let r = decide(
        Some(&s),
        upsert(entry("device 2"), stamp(20, 2), Some(Hlc::new(10, 0))),
    );
    assert!(
        matches!(r, Resolution::Write { conflict: true, .. }),
        "device 2 > device 1"
    );
    let s = stored(Some(entry("device 2")), stamp(20, 2));
    let r = decide(
        Some(&s),
        upsert(entry("device 1"), stamp(20, 1), Some(Hlc::new(10, 0))),
    );
    assert!(matches!(r, Resolution::Keep { conflict: true, .. }));
}

#[test]
fn delete_versus_edit_the_later_wins() {
    let s = stored(Some(entry("edited meanwhile")), stamp(20, 1));
    // A later delete made on an older version: wins, the unseen text is kept.
    match decide(Some(&s), delete(stamp(30, 2), Some(Hlc::new(10, 0)))) {
        Resolution::Write {
            body: None,
            lost: Some(lost),
            conflict: true,
            ..
        } => {
            assert_eq!(lost.body, entry("edited meanwhile"));
            assert_eq!(lost.reason, RevisionReason::Deleted);
        }
        other => panic!("{other:?}"),
    }
    // An earlier delete loses to the later edit.
    assert!(matches!(
        decide(Some(&s), delete(stamp(15, 2), Some(Hlc::new(10, 0)))),
        Resolution::Keep {
            conflict: true,
            lost: None
        }
    ));
    // A delete of what the device saw loses no text.
    assert!(matches!(
        decide(Some(&s), delete(stamp(25, 2), Some(s.stamp.hlc))),
        Resolution::Write {
            body: None,
            lost: None,
            conflict: false,
            ..
        }
    ));
}

#[test]
fn edit_versus_earlier_delete() {
    let mut s = stored(None, stamp(20, 1));
    s.kind = RecordKind::JournalEntry;
    // An edit made after the delete brings the record back.
    assert!(matches!(
        decide(
            Some(&s),
            upsert(entry("still here"), stamp(30, 2), Some(Hlc::new(10, 0)))
        ),
        Resolution::Write {
            body: Some(_),
            conflict: true,
            ..
        }
    ));
    // An edit made before it stays deleted, its text kept.
    match decide(
        Some(&s),
        upsert(entry("too late"), stamp(15, 2), Some(Hlc::new(10, 0))),
    ) {
        Resolution::Keep {
            lost: Some(lost),
            conflict: true,
        } => assert_eq!(lost.reason, RevisionReason::Deleted),
        other => panic!("{other:?}"),
    }
    // A later delete of the deleted record keeps it deleted and takes the
    // later stamp; an earlier one changes nothing.
    assert!(matches!(
        decide(Some(&s), delete(stamp(40, 2), Some(Hlc::new(20, 0)))),
        Resolution::Write { body: None, stamp: st, conflict: false, .. } if st == stamp(40, 2)
    ));
    assert!(matches!(
        decide(Some(&s), delete(stamp(10, 2), None)),
        Resolution::Keep {
            conflict: false,
            ..
        }
    ));
    // Found by the property test: deleted at 20, deleted again at 40, and
    // an edit made at 30 arrives last: it stays beaten.
    let twice = match decide(Some(&s), delete(stamp(40, 2), Some(Hlc::new(20, 0)))) {
        Resolution::Write { stamp: st, .. } => Stored {
            stamp: st,
            ..s.clone()
        },
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        decide(
            Some(&twice),
            upsert(
                entry("edited in between"),
                stamp(30, 3),
                Some(Hlc::new(10, 0))
            )
        ),
        Resolution::Keep { .. }
    ));
}

#[test]
fn facts_take_the_later_version_whole_and_keep_no_revision() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
    let a: RecordBody = MoodCheckIn::new(at, 3, 3, 3).unwrap().into();
    let b: RecordBody = MoodCheckIn::new(at, 7, 1, 6).unwrap().into();
    let s = stored(Some(a), stamp(20, 1));
    assert!(matches!(
        decide(
            Some(&s),
            upsert(b.clone(), stamp(30, 2), Some(Hlc::new(10, 0)))
        ),
        Resolution::Write {
            lost: None,
            conflict: true,
            ..
        }
    ));
    assert!(matches!(
        decide(Some(&s), upsert(b, stamp(15, 2), Some(Hlc::new(10, 0)))),
        Resolution::Keep {
            lost: None,
            conflict: true
        }
    ));
}

fn intention(
    text: &str,
    how: Option<&str>,
    status: IntentionStatus,
    session: crate::ids::RecordId,
) -> RecordBody {
    let mut i = Intention::new(text, session).unwrap();
    i.reflection = how.map(|h| Reflection {
        how_it_went: h.into(),
        carry_forward: String::new(),
    });
    i.status = status;
    i.into()
}

#[test]
fn small_records_merge_field_by_field() {
    let session = crate::ids::RecordId::new();
    let base = intention("Be open", None, IntentionStatus::Open, session);
    let created = stamp(10, 1);
    // The phone reflected (reflection + status) at 20; the server holds that.
    let phone = intention(
        "Be open",
        Some("It went gently"),
        IntentionStatus::Fulfilled,
        session,
    );
    let mut s = stored(Some(phone), stamp(20, 1));
    s.created = created;
    s.fields.insert("reflection".into(), stamp(20, 1));
    s.fields.insert("status".into(), stamp(20, 1));
    // The tablet, still on the base version, reworded the text at 25.
    let tablet = Incoming {
        stamp: stamp(25, 2),
        base: Some(created.hlc),
        op: IncomingOp::Upsert {
            body: intention("Be open and kind", None, IntentionStatus::Open, session),
            changed: Some(vec!["text".into()]),
        },
    };
    match decide(Some(&s), tablet) {
        Resolution::Write {
            body: Some(RecordBody::Intention(merged)),
            fields,
            conflict: true,
            lost: None,
            stamp: st,
        } => {
            assert_eq!(merged.text, "Be open and kind", "the tablet's field");
            assert_eq!(
                merged.status,
                IntentionStatus::Fulfilled,
                "the phone's field"
            );
            assert_eq!(merged.reflection.unwrap().how_it_went, "It went gently");
            assert_eq!(fields["text"], stamp(25, 2));
            assert_eq!(st, stamp(25, 2));
        }
        other => panic!("{other:?}"),
    }
    let _ = base;
    // The same field changed on both: the later stamp wins.
    let older = Incoming {
        stamp: stamp(15, 2),
        base: Some(created.hlc),
        op: IncomingOp::Upsert {
            body: intention("Be open", None, IntentionStatus::Released, session),
            changed: Some(vec!["status".into()]),
        },
    };
    assert!(matches!(
        decide(Some(&s), older),
        Resolution::Keep { conflict: true, .. }
    ));
}

#[test]
fn commitments_merge_field_by_field_like_intentions() {
    use crate::records::{Commitment, CommitmentStatus};
    let session = crate::ids::RecordId::new();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let commitment = |text: &str, status: CommitmentStatus, note: Option<&str>| -> RecordBody {
        let mut c = Commitment::new(text, session, day).unwrap();
        c.status = status;
        c.note = note.map(str::to_owned);
        c.into()
    };
    let created = stamp(10, 1);
    // One phone marked it kept, with a note, at 20.
    let mut s = stored(
        Some(commitment(
            "Walk",
            CommitmentStatus::Kept,
            Some("Most mornings"),
        )),
        stamp(20, 1),
    );
    s.created = created;
    s.fields.insert("status".into(), stamp(20, 1));
    s.fields.insert("note".into(), stamp(20, 1));
    // The other, still on the first version, reworded it at 25.
    let other = Incoming {
        stamp: stamp(25, 2),
        base: Some(created.hlc),
        op: IncomingOp::Upsert {
            body: commitment("Walk by the river", CommitmentStatus::Open, None),
            changed: Some(vec!["text".into()]),
        },
    };
    match decide(Some(&s), other) {
        Resolution::Write {
            body: Some(RecordBody::Commitment(merged)),
            conflict: true,
            ..
        } => {
            assert_eq!(merged.text, "Walk by the river");
            assert_eq!(merged.status, CommitmentStatus::Kept);
            assert_eq!(merged.note.as_deref(), Some("Most mornings"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn field_stamps_follow_fast_forwards() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
    let a: RecordBody = DosingSession::new(at, Route::Lozenge).unwrap().into();
    let b: RecordBody = DosingSession::new(at, Route::NasalSpray).unwrap().into();
    let s = stored(Some(a), stamp(10, 1));
    match decide(Some(&s), upsert(b, stamp(20, 1), Some(s.stamp.hlc))) {
        Resolution::Write { fields, .. } => {
            assert_eq!(fields.len(), 1);
            assert_eq!(fields["route"], stamp(20, 1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_merge_gets_a_stamp_of_its_own_and_fast_forwards_keep_it() {
    // The data-loss case: a merge that kept the stored stamp, then a
    // fast-forward on that stamp that wrote the whole body back.
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
    let created = stamp(1, 1);
    let planned = DosingSession::new(at, Route::Lozenge).unwrap();
    let mut with_notes = planned.clone();
    with_notes.notes = Some("bring a blanket".into());
    // The tablet set the notes at 5.
    let mut s = stored(Some(with_notes.clone().into()), stamp(5, 2));
    s.created = created;
    s.fields.insert("notes".into(), stamp(5, 2));
    // The phone, on the created version, marked it completed at 4.
    let mut completed = planned.clone();
    completed.status = crate::records::SessionStatus::Completed;
    let phone = Incoming {
        stamp: stamp(4, 1),
        base: Some(created.hlc),
        op: IncomingOp::Upsert {
            body: completed.into(),
            changed: Some(vec!["status".into()]),
        },
    };
    let (merged, merged_stamp, merged_fields) = match decide(Some(&s), phone) {
        Resolution::Write {
            body: Some(body),
            stamp: st,
            fields,
            conflict: true,
            ..
        } => (body, st, fields),
        other => panic!("{other:?}"),
    };
    assert!(
        merged_stamp > s.stamp,
        "a merged version has a stamp of its own"
    );
    assert_eq!(
        merged_stamp,
        super::merged_stamp(stamp(5, 2).hlc),
        "just after what it merged"
    );
    let RecordBody::DosingSession(m) = &merged else {
        panic!()
    };
    assert_eq!(m.notes.as_deref(), Some("bring a blanket"));
    assert_eq!(m.status, crate::records::SessionStatus::Completed);

    // The tablet edits the notes again on the version it knows (stamp 5):
    // concurrent with the merge, field by field; the status survives.
    let mut tablet_body = with_notes.clone();
    tablet_body.notes = Some("bring a blanket and socks".into());
    let s2 = Stored {
        stamp: merged_stamp,
        body: Some(merged.clone()),
        fields: merged_fields.clone(),
        ..s.clone()
    };
    let tablet = Incoming {
        stamp: stamp(6, 2),
        base: Some(stamp(5, 2).hlc),
        op: IncomingOp::Upsert {
            body: tablet_body.clone().into(),
            changed: Some(vec!["notes".into()]),
        },
    };
    match decide(Some(&s2), tablet) {
        Resolution::Write {
            body: Some(RecordBody::DosingSession(b)),
            ..
        } => {
            assert_eq!(b.status, crate::records::SessionStatus::Completed);
            assert_eq!(b.notes.as_deref(), Some("bring a blanket and socks"));
        }
        other => panic!("{other:?}"),
    }

    // And a device that saw the merge and edits only the notes: a
    // fast-forward that leaves the status alone even if its copy differs.
    let ff = Incoming {
        stamp: Stamp {
            hlc: Hlc::new(merged_stamp.hlc.millis() + 1, 0),
            device: device(2),
        },
        base: Some(merged_stamp.hlc),
        op: IncomingOp::Upsert {
            body: tablet_body.into(),
            changed: Some(vec!["notes".into()]),
        },
    };
    match decide(Some(&s2), ff) {
        Resolution::Write {
            body: Some(RecordBody::DosingSession(b)),
            conflict: false,
            ..
        } => {
            assert_eq!(
                b.status,
                crate::records::SessionStatus::Completed,
                "untouched field kept"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn identical_text_is_not_kept_twice() {
    let s = stored(Some(entry("the same words")), stamp(20, 1));
    // The same change pushed again under another device id: concurrent by
    // its base, but nothing is lost either way.
    for at in [stamp(20, 2), stamp(20, 0)] {
        match decide(
            Some(&s),
            upsert(entry("the same words"), at, Some(Hlc::new(10, 0))),
        ) {
            Resolution::Write { lost, .. } | Resolution::Keep { lost, .. } => {
                assert_eq!(lost, None)
            }
        }
    }
}

fn share(revoked: bool, kinds: Vec<RecordKind>) -> RecordBody {
    let mut share = crate::records::Share::kinds(uuid::Uuid::from_bytes([7; 16]), kinds).unwrap();
    share.revoked = revoked;
    share.into()
}

#[test]
fn a_revocation_wins_over_a_concurrent_grant_whatever_the_clocks() {
    let granted = share(false, vec![RecordKind::MoodCheckIn]);
    let widened = share(false, vec![RecordKind::MoodCheckIn, RecordKind::Assessment]);
    let revoked = share(true, vec![RecordKind::MoodCheckIn]);

    // The server holds the widened grant (stamp 30); a revocation made on
    // the old version at 20 still wins, with a stamp of its own.
    let s = stored(Some(widened.clone()), stamp(30, 1));
    match decide(
        Some(&s),
        upsert(revoked.clone(), stamp(20, 2), Some(Hlc::new(10, 0))),
    ) {
        Resolution::Write {
            body: Some(RecordBody::Share(b)),
            stamp: st,
            conflict: true,
            ..
        } => {
            assert!(b.revoked);
            assert!(st > s.stamp);
        }
        other => panic!("{other:?}"),
    }
    // The server holds the revocation; a later grant does not undo it.
    let s = stored(Some(revoked.clone()), stamp(20, 2));
    assert!(matches!(
        decide(
            Some(&s),
            upsert(widened, stamp(40, 1), Some(Hlc::new(10, 0)))
        ),
        Resolution::Keep { conflict: true, .. }
    ));
    // Nor does a fast-forward on the revoked version.
    assert!(matches!(
        decide(
            Some(&s),
            upsert(granted.clone(), stamp(50, 1), Some(s.stamp.hlc))
        ),
        Resolution::Keep { .. }
    ));
    // A deleted share stays deleted.
    let mut gone = stored(None, stamp(20, 2));
    gone.kind = RecordKind::Share;
    assert!(matches!(
        decide(
            Some(&gone),
            upsert(granted, stamp(60, 1), Some(Hlc::new(20, 0)))
        ),
        Resolution::Keep { .. }
    ));
    // A delete of a revoked share still deletes it.
    let s = stored(Some(revoked), stamp(20, 2));
    assert!(matches!(
        decide(Some(&s), delete(stamp(70, 1), Some(s.stamp.hlc))),
        Resolution::Write { body: None, .. }
    ));
}

#[test]
fn shares_are_checked() {
    let t = uuid::Uuid::from_bytes([7; 16]);
    assert!(
        crate::records::Share::kinds(t, vec![])
            .unwrap_err()
            .has("scope.kinds", "length")
    );
    assert!(
        crate::records::Share::kinds(t, vec![RecordKind::Share])
            .unwrap_err()
            .has("scope.kinds", "not_shareable")
    );
    assert!(
        crate::records::Share::kinds(t, vec![RecordKind::MoodCheckIn, RecordKind::MoodCheckIn])
            .unwrap_err()
            .has("scope.kinds", "unique")
    );
    assert!(
        crate::records::Share::kinds(uuid::Uuid::nil(), vec![RecordKind::MoodCheckIn])
            .unwrap_err()
            .has("therapistId", "required")
    );
    let item = crate::records::Share::item(t, crate::ids::RecordId::new());
    assert!(item.validate().is_ok());
    let json = serde_json::to_value(&item).unwrap();
    assert_eq!(json["scope"]["type"], "item");
    assert!(json["scope"]["recordId"].is_string());
}

#[test]
fn a_delete_made_after_two_merged_edits_still_wins() {
    // Found by the property test: two phones edit a dosing session offline
    // (at 4 and 5), then one deletes it (at 7). The server merges the edits
    // when the phones sync — later in wall time than the delete — and the
    // delete must still order after the merge.
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
    let base = DosingSession::new(at, Route::Lozenge).unwrap();
    let created = stamp(1, 1);
    let mut tablet = base.clone();
    tablet.notes = Some("tablet".into());
    let mut s = stored(Some(tablet.clone().into()), stamp(5, 2));
    s.created = created;
    s.fields.insert("notes".into(), stamp(5, 2));
    let mut phone = base.clone();
    phone.status = crate::records::SessionStatus::Completed;
    let merged = match decide(
        Some(&s),
        Incoming {
            stamp: stamp(4, 1),
            base: Some(created.hlc),
            op: IncomingOp::Upsert {
                body: phone.into(),
                changed: Some(vec!["status".into()]),
            },
        },
    ) {
        Resolution::Write {
            body,
            stamp: st,
            fields,
            ..
        } => Stored {
            stamp: st,
            body,
            fields,
            ..s.clone()
        },
        other => panic!("{other:?}"),
    };
    // The phone's delete, made at 7 on its own version (its edit at 4).
    match decide(Some(&merged), delete(stamp(7, 1), Some(Hlc::new(4, 0)))) {
        Resolution::Write { body: None, .. } => {}
        other => panic!("the later delete must win: {other:?}"),
    }
}
