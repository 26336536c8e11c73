//! journal-mobile: the KAP integration journal for Kotlin, Swift and Python
//! apps — a thin façade over journal-core's device store and sync client,
//! exposed with uniffi (proc-macro style, namespace `journal`).
//!
//! | file | owns |
//! |---|---|
//! | `lib.rs` | this map, the uniffi scaffolding, re-exports |
//! | `journal.rs` | [`Journal`]: open a journal file; records, lists, search, revisions, comments, shares, export/import, sign-in and sync |
//! | `records.rs` | the records crossing the boundary ([`RecordContent`], one record type per kind, [`JournalRecord`]) and their conversions |
//! | `care.rs` | the patient's `CarePlan`, `agenda`, `nextReminderAt`, reminder settings, `insights` |
//! | `catalog.rs` | prompts, grounding exercises, questionnaire scoring, crisis resources: top-level functions |
//! | `practice.rs` | [`GuidedPractice`]: a grounding exercise run step by step, saved as a practice |
//! | `secrets.rs` | [`SecretStore`], the app's Keychain / Keystore, adapted to journal-core's |
//! | `error.rs` | [`JournalError`]: the one error enum, converted from journal-core's in one place |
//!
//! The rules (lengths, ranges, scoring) are journal-core's, so the phone and
//! the server can never disagree; this crate only converts values and errors.
//! Every call blocks; apps call the library off their UI thread. Nothing here
//! panics on bad input: every failure is a [`JournalError`] (and uniffi
//! turns a panic, should one happen, into an exception, never an abort).
//!
//! `docs/mobile.md` is the guide for app developers;
//! `scripts/build-bindings.sh` builds the library and generates the
//! bindings.

mod account;
mod care;
mod catalog;
mod error;
mod journal;
mod practice;
mod records;
mod secrets;

pub use account::{Account, CareLink, Policy};
pub use care::{
    AgendaItem, AgendaTask, AroundSession, CarePlan, CheckInCadence, FollowUpPlan, Insights,
    MeasurePlan, MeasureReason, MeasureStats, PracticeStats, QuestionnaireCourse, ReminderSettings,
};
pub use catalog::{
    CrisisContact, CrisisResources, ExerciseStep, GroundingExercise, Prompt, RiskReason,
    SafetyNotice, find_grounding_exercise, find_prompt, grounding_exercises, library_version,
    prompts, score_assessment,
};
pub use error::{FieldViolation, JournalError};
pub use journal::{
    ACCOUNT_EMAIL_KEY, AssessmentResult, Comment, Conflict, ImportReport, Journal, RecordFilter,
    RecordPage, Revision, RevisionReason, SERVER_URL_KEY, SavedRecord, SearchHit, SnippetPart,
    SyncReport,
};
pub use practice::{GuidedPractice, PracticeStep};
pub use records::{
    Assessment, AssessmentScore, Commitment, CommitmentStatus, DosingSession, ExercisePractice,
    Instrument, Intention, IntentionStatus, JournalEntry, JournalRecord, MoodCheckIn, Phase,
    RecordContent, RecordKind, Reflection, Route, SessionStatus, Severity, Share, ShareScope,
};
pub use secrets::SecretStore;

/// For Rust callers and the workspace's tests: the device store itself.
pub use journal_core::store::{JournalStore, StoreError};

uniffi::setup_scaffolding!("journal");
