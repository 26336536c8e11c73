//! Importing an export into an empty journal, and the safety notice on save.

use chrono::Utc;

use super::*;
use crate::export::{EXPORT_FORMAT, EXPORT_VERSION, ExportDocument, ExportedAccount};
use crate::phase::Phase;
use crate::records::{Assessment, Instrument, JournalEntry, MoodCheckIn, Share};
use crate::sync::{RecordState, Revision, RevisionReason};

fn open() -> (tempfile::TempDir, JournalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = JournalStore::open(dir.path().join("j.db")).unwrap();
    (dir, store)
}

fn state_of(record: &Record) -> RecordState {
    RecordState {
        id: record.id,
        kind: record.kind(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        hlc: record.hlc,
        deleted: false,
        body: Some(serde_json::from_str(&record.body.to_json().unwrap()).unwrap()),
    }
}

fn export_of(store: &JournalStore) -> (ExportDocument, Vec<Record>) {
    let records = store
        .list(&ListQuery {
            limit: Some(200),
            ..ListQuery::all()
        })
        .unwrap()
        .records;
    let entry = records
        .iter()
        .find(|r| r.kind() == RecordKind::JournalEntry)
        .unwrap();
    let document = ExportDocument {
        format: EXPORT_FORMAT.to_owned(),
        version: EXPORT_VERSION,
        exported_at: Utc::now(),
        account: ExportedAccount {
            id: uuid::Uuid::now_v7(),
            email: "ana@example.org".into(),
            display_name: None,
            created_at: Utc::now(),
        },
        records: records.iter().map(state_of).collect(),
        revisions: vec![Revision {
            id: uuid::Uuid::now_v7(),
            record_id: entry.id,
            kind: RecordKind::JournalEntry,
            hlc: entry.hlc,
            reason: RevisionReason::Conflict,
            body: serde_json::json!({"body": "the other device's words", "phase": "integration", "tags": []}),
            created_at: Utc::now(),
        }],
        comments: vec![crate::comments::Comment {
            id: uuid::Uuid::now_v7(),
            record_id: entry.id,
            therapist_id: uuid::Uuid::now_v7(),
            author: "Dr. Lee".into(),
            text: "Thank you.".into(),
            created_at: DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
            updated_at: DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
            deleted: false,
            from_patient: false,
            reply_to: None,
            delivery: Default::default(),
        }],
    };
    (document, records)
}

fn filled() -> (tempfile::TempDir, JournalStore) {
    let (dir, store) = open();
    store
        .create(
            JournalEntry::new("A sea of light", Phase::Integration)
                .unwrap()
                .into(),
        )
        .unwrap();
    store
        .create(MoodCheckIn::new(Utc::now(), 6, 2, 7).unwrap().into())
        .unwrap();
    store
        .create(
            Share::kinds(uuid::Uuid::now_v7(), vec![RecordKind::MoodCheckIn])
                .unwrap()
                .into(),
        )
        .unwrap();
    (dir, store)
}

#[test]
fn an_export_imports_into_an_empty_journal_as_it_was() {
    let (_a, source) = filled();
    let (document, records) = export_of(&source);
    let (_b, target) = open();
    let report = target.import(&document, false).unwrap();
    assert_eq!(
        (
            report.records,
            report.revisions,
            report.comments,
            report.queued
        ),
        (3, 1, 1, 0)
    );
    for record in &records {
        assert_eq!(&target.get(record.id).unwrap(), record);
    }
    let entry = records
        .iter()
        .find(|r| r.kind() == RecordKind::JournalEntry)
        .unwrap();
    assert_eq!(target.revisions(entry.id).unwrap().len(), 1);
    assert_eq!(target.comments(entry.id).unwrap(), document.comments);
    assert_eq!(
        target.search(&SearchQuery::new("light")).unwrap().len(),
        1,
        "searchable"
    );
    assert_eq!(target.pending_change_count().unwrap(), 0, "nothing queued");
    // A later edit stamps after everything imported.
    let edited = target
        .update(
            entry.id,
            JournalEntry::new("edited", Phase::Integration)
                .unwrap()
                .into(),
        )
        .unwrap();
    assert!(edited.hlc > entry.hlc);
}

#[test]
fn an_import_for_a_new_account_queues_everything() {
    let (_a, source) = filled();
    let (document, _) = export_of(&source);
    let (_b, target) = open();
    assert_eq!(target.import(&document, true).unwrap().queued, 3);
    assert_eq!(target.pending_change_count().unwrap(), 3);
}

#[test]
fn only_an_empty_journal_takes_an_import_and_bad_documents_change_nothing() {
    let (_a, source) = filled();
    let (document, _) = export_of(&source);
    assert!(matches!(
        source.import(&document, false),
        Err(StoreError::NotEmpty { records: 3 })
    ));

    let (_b, target) = open();
    let mut wrong = document.clone();
    wrong.format = "something-else".into();
    assert!(
        matches!(target.import(&wrong, false), Err(StoreError::Invalid(i)) if i.has("format", "format"))
    );
    let mut invalid = document.clone();
    invalid.records[0].body = Some(serde_json::json!({"body": "   ", "phase": "integration"}));
    let err = target.import(&invalid, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.violations.iter().any(|v| v.field.starts_with("records[0].body"))),
        "{err:?}"
    );
    assert_eq!(
        target.list(&ListQuery::all()).unwrap().records.len(),
        0,
        "nothing written"
    );
    // A JSON round trip of the document imports the same.
    let text = serde_json::to_string(&document).unwrap();
    let back: ExportDocument = serde_json::from_str(&text).unwrap();
    assert_eq!(target.import(&back, false).unwrap().records, 3);
}

#[test]
fn a_risk_answer_returns_crisis_resources_at_once() {
    let (_d, store) = open();
    let risk = Assessment::new(
        Instrument::Phq9,
        Utc::now(),
        vec![0, 1, 0, 0, 0, 0, 0, 0, 2],
    )
    .unwrap();
    let saved = store.save_new(risk.clone().into()).unwrap();
    let notice = saved.safety_notice.expect("a notice");
    assert_eq!(notice.resources, crate::safety::CrisisResources::default());

    let calm = Assessment::new(Instrument::Phq9, Utc::now(), vec![0; 9]).unwrap();
    let edit = store.save_edit(saved.record.id, calm.into()).unwrap();
    assert!(edit.safety_notice.is_none());
    assert!(
        store
            .save_new(MoodCheckIn::new(Utc::now(), 1, 9, 1).unwrap().into())
            .unwrap()
            .safety_notice
            .is_none()
    );

    // A clinic's own resources, kept across restarts.
    let clinic = crate::safety::CrisisResources {
        headline: "Call us".into(),
        message: "Our on-call line is open day and night.".into(),
        contacts: vec![crate::safety::CrisisContact {
            name: "Clinic on-call".into(),
            phone: Some("+1 555 0100".into()),
            text: None,
            url: None,
        }],
    };
    store.set_crisis_resources(&clinic).unwrap();
    let path = store.path().to_owned();
    drop(store);
    let store = JournalStore::open(&path).unwrap();
    let again = store.save_new(risk.into()).unwrap();
    assert_eq!(again.safety_notice.unwrap().resources, clinic);
}
