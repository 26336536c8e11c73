//! The patient's records as plain values for Kotlin, Swift and Python: one
//! record type per kind, [`RecordContent`] holding any of them, and
//! [`JournalRecord`], a stored record with its envelope. Also the
//! conversions to and from journal-core's types — the rules themselves are
//! journal-core's, checked when a record is saved.
//!
//! Conventions across the boundary:
//! - ids are strings (UUIDs as text); a string that is not one is refused
//!   with [`JournalError::Invalid`] naming the field;
//! - times are `SystemTime`: `java.time.Instant` in Kotlin (Android API 26+),
//!   `Date` in Swift, a timezone-aware `datetime` in Python;
//! - whole numbers are signed (`i32`, `i64`: Kotlin's `Int` and `Long`), and
//!   a value outside a rule's range is refused by the rule, never wrapped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use journal_core::RecordId;
use journal_core::records as core;
use uuid::Uuid;

use crate::error::JournalError;

/// The phase of treatment a piece of writing belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum Phase {
    /// Before dosing: goals, intentions, safety planning, grounding skills.
    Preparation,
    /// The dosing session itself and the hours right after it.
    Dosing,
    /// Between and after sessions: making sense of what came up and turning
    /// it into change in daily life.
    Integration,
}

/// The kinds of record a patient keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum RecordKind {
    /// A `JournalEntry`.
    JournalEntry,
    /// An `Intention`.
    Intention,
    /// A `MoodCheckIn`.
    MoodCheckIn,
    /// An `Assessment` (questionnaire).
    Assessment,
    /// An `ExercisePractice`.
    ExercisePractice,
    /// A `DosingSession`.
    DosingSession,
    /// A `Share` with a therapist.
    Share,
    /// A `Commitment` made after a dosing session.
    Commitment,
    /// The patient's own `CarePlan`.
    CarePlan,
}

/// A piece of free writing, optionally answering a prompt.
///
/// Rules: `body` 1–100,000 characters, not blank; `title` 1–200 characters
/// on one line; `promptId` one of the prompt library's (`prompts`); at most 20 `tags` of
/// 1–40 characters, no repeats; `dosingSessionId` one of the patient's
/// dosing sessions on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct JournalEntry {
    /// The text the patient wrote.
    pub body: String,
    /// The phase of treatment the entry belongs to.
    pub phase: Phase,
    /// A short title.
    #[uniffi(default)]
    pub title: Option<String>,
    /// The prompt the entry answers (a `Prompt`'s id).
    #[uniffi(default)]
    pub prompt_id: Option<String>,
    /// The patient's own labels.
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// The dosing session the entry is about (its record id).
    #[uniffi(default)]
    pub dosing_session_id: Option<String>,
}

/// Where an intention stands once the session is behind the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum IntentionStatus {
    /// Set, and not reflected on yet.
    Open,
    /// The patient feels the intention was met.
    Fulfilled,
    /// Partly met; there is more to do.
    PartlyFulfilled,
    /// Not met this time.
    NotFulfilled,
    /// Consciously let go of: it no longer fits.
    Released,
}

/// The patient's look back on an intention after the session.
///
/// Rules: each text at most 20,000 characters; at least one says something.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Reflection {
    /// How the session went with respect to the intention.
    #[uniffi(default = "")]
    pub how_it_went: String,
    /// What to carry forward into daily life.
    #[uniffi(default = "")]
    pub carry_forward: String,
}

/// An intention set before a dosing session, and later the look back on it.
///
/// Rules: `text` 1–2,000 characters, not blank; `dosingSessionId` one of the
/// patient's dosing sessions on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Intention {
    /// The intention, in the patient's words.
    pub text: String,
    /// The dosing session it is for (its record id).
    pub dosing_session_id: String,
    /// Where it stands (`Open` when set).
    pub status: IntentionStatus,
    /// The look back, written after the session.
    #[uniffi(default)]
    pub reflection: Option<Reflection>,
}

/// Where a commitment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum CommitmentStatus {
    /// Made, not yet looked back on.
    Open,
    /// Kept.
    Kept,
    /// Kept in a changed form (the note says how).
    Changed,
    /// Let go of.
    Dropped,
}

/// After a dosing session, an insight turned into something to do ("walk
/// every morning"), with a day to look back on it.
///
/// Rules: `text` 1–2,000 characters, not blank; `dosingSessionId` one of
/// the patient's dosing sessions on this device; `followUpOn` a date as
/// `YYYY-MM-DD`, at most two years ahead; `note` at most 20,000 characters.
/// Edits on two phones merge field by field, like intentions.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Commitment {
    /// The commitment, in the patient's words.
    pub text: String,
    /// The dosing session it came from (its record id).
    pub dosing_session_id: String,
    /// The day to look back on it, `YYYY-MM-DD`.
    pub follow_up_on: String,
    /// Where it stands (`Open` when made).
    pub status: CommitmentStatus,
    /// The intention whose insight it carries on (its record id).
    #[uniffi(default)]
    pub intention_id: Option<String>,
    /// How it went, or what changed.
    #[uniffi(default)]
    pub note: Option<String>,
}

/// A quick check-in on how the patient is doing.
///
/// Rules: `mood`, `anxiety`, `energy` 0–10; `sleepHours` 0–24; at most 12
/// `emotions` of 1–40 characters, no repeats; `note` at most 5,000
/// characters.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct MoodCheckIn {
    /// When the patient checked in.
    pub recorded_at: SystemTime,
    /// Mood, 0 (very low) to 10 (very good).
    pub mood: i32,
    /// Anxiety, 0 (none) to 10 (extreme).
    pub anxiety: i32,
    /// Energy, 0 (exhausted) to 10 (full of energy).
    pub energy: i32,
    /// Hours slept last night.
    #[uniffi(default)]
    pub sleep_hours: Option<f64>,
    /// Words for what the patient feels.
    #[uniffi(default)]
    pub emotions: Vec<String>,
    /// Anything else the patient wants to note.
    #[uniffi(default)]
    pub note: Option<String>,
}

/// Which questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum Instrument {
    /// The nine-item Patient Health Questionnaire (depression).
    Phq9,
    /// The seven-item Generalized Anxiety Disorder scale.
    Gad7,
}

/// A completed questionnaire.
///
/// Rules: exactly one answer per item (9 for PHQ-9, 7 for GAD-7), in item
/// order, each 0 ("not at all") to 3 ("nearly every day").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Assessment {
    /// Which questionnaire.
    pub instrument: Instrument,
    /// When the patient answered it.
    pub taken_at: SystemTime,
    /// One answer per item, in order, each 0–3.
    pub answers: Vec<i32>,
}

/// The severity band of a questionnaire total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum Severity {
    /// Minimal symptoms (0–4).
    Minimal,
    /// Mild (5–9).
    Mild,
    /// Moderate (10–14).
    Moderate,
    /// Moderately severe (15–19, PHQ-9 only).
    ModeratelySevere,
    /// Severe (PHQ-9 20–27, GAD-7 15–21).
    Severe,
}

/// A scored questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AssessmentScore {
    /// The sum of the answers.
    pub total: i32,
    /// The highest total the questionnaire allows (27 or 21).
    pub max_total: i32,
    /// The band the total falls in.
    pub severity: Severity,
    /// Whether an answer signals risk (PHQ-9 item 9 answered 1 or more):
    /// the app must show crisis resources at once.
    pub risk_flag: bool,
}

/// One logged practice of a grounding exercise. A `GuidedPractice`
/// saves one when the patient finishes; apps can also log one directly.
///
/// Rules: `exerciseId` names an exercise of the catalog; `stepsCompleted`
/// 0 up to its total number of steps; distress 0 (calm) – 10 (unbearable).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ExercisePractice {
    /// The exercise practised (a `GroundingExercise`'s id).
    pub exercise_id: String,
    /// When the practice started.
    pub practiced_at: SystemTime,
    /// How many steps the patient went through.
    pub steps_completed: i32,
    /// Distress before, 0–10.
    pub distress_before: i32,
    /// Distress after, 0–10.
    pub distress_after: i32,
}

/// How the ketamine is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum Route {
    /// A lozenge or troche dissolved in the mouth.
    Lozenge,
    /// A nasal spray.
    NasalSpray,
    /// An injection into a muscle.
    Intramuscular,
    /// An infusion into a vein.
    Intravenous,
}

/// Where a dosing session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum SessionStatus {
    /// Booked, not yet happened.
    Planned,
    /// It took place.
    Completed,
    /// It will not take place.
    Cancelled,
}

/// A monitored dosing session.
///
/// Rules: `notes` at most 10,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct DosingSession {
    /// When the session starts (or started).
    pub scheduled_at: SystemTime,
    /// How the medicine is given.
    pub route: Route,
    /// Where the session stands.
    pub status: SessionStatus,
    /// The patient's notes about the session.
    #[uniffi(default)]
    pub notes: Option<String>,
}

/// What a share lets the therapist read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum ShareScope {
    /// One record.
    Item {
        /// The record shared.
        record_id: String,
    },
    /// Every record of these kinds, including those written later (e.g.
    /// all mood check-ins and questionnaires).
    Kinds {
        /// The kinds shared: at least one, no repeats, not `Share`.
        kinds: Vec<RecordKind>,
    },
    /// Every questionnaire of these instruments, including those taken
    /// later (the PHQ-9s but not the GAD-7s, say).
    Instruments {
        /// The questionnaires shared: at least one, no repeats.
        instruments: Vec<Instrument>,
    },
}

/// Permission for one linked therapist to read what the scope covers. A
/// revoked share stays revoked; to share again, make a new one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Share {
    /// The therapist's account id (from the care link).
    pub therapist_id: String,
    /// What is shared.
    pub scope: ShareScope,
    /// Whether the patient took the share back.
    #[uniffi(default = false)]
    pub revoked: bool,
}

/// The content of a record: one case per kind.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum RecordContent {
    /// A journal entry.
    JournalEntry {
        /// The entry.
        entry: JournalEntry,
    },
    /// An intention.
    Intention {
        /// The intention.
        intention: Intention,
    },
    /// A mood check-in.
    MoodCheckIn {
        /// The check-in.
        check_in: MoodCheckIn,
    },
    /// A questionnaire.
    Assessment {
        /// The questionnaire.
        assessment: Assessment,
    },
    /// A grounding-exercise practice.
    ExercisePractice {
        /// The practice.
        practice: ExercisePractice,
    },
    /// A dosing session.
    DosingSession {
        /// The session.
        session: DosingSession,
    },
    /// A share with a therapist.
    Share {
        /// The share.
        share: Share,
    },
    /// A commitment made after a dosing session.
    Commitment {
        /// The commitment.
        commitment: Commitment,
    },
    /// A care plan the patient keeps for themselves.
    CarePlan {
        /// The plan.
        plan: crate::care::CarePlan,
    },
}

/// A record as stored on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct JournalRecord {
    /// The record's id, made on the device that first wrote it.
    pub id: String,
    /// Its kind (the same as `content`'s case).
    pub kind: RecordKind,
    /// When it was first written (that device's clock; for display).
    pub created_at: SystemTime,
    /// When it last changed (for display).
    pub updated_at: SystemTime,
    /// The content.
    pub content: RecordContent,
}

// ---------------------------------------------------------------------------
// Conversions. From core: total. To core: ids and times are checked here,
// every other rule is journal-core's, checked when the record is saved.

/// Reads a record id given as `field`.
pub(crate) fn record_id(field: &str, text: &str) -> Result<RecordId, JournalError> {
    text.trim().parse().map_err(|_| not_an_id(field))
}

/// Reads a UUID given as `field`.
pub(crate) fn uuid(field: &str, text: &str) -> Result<Uuid, JournalError> {
    Uuid::parse_str(text.trim()).map_err(|_| not_an_id(field))
}

fn not_an_id(field: &str) -> JournalError {
    JournalError::invalid(
        field,
        "uuid",
        "must be an id as this library hands them out (a UUID)",
    )
}

/// A `SystemTime` given as `field`, as journal-core's time.
pub(crate) fn to_time(field: &str, time: SystemTime) -> Result<DateTime<Utc>, JournalError> {
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (i64::try_from(after.as_secs()).ok(), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let seconds = i64::try_from(before.as_secs()).ok().map(|s| -s);
            match before.subsec_nanos() {
                0 => (seconds, 0),
                n => (
                    seconds.and_then(|s| s.checked_sub(1)),
                    1_000_000_000_u32.saturating_sub(n),
                ),
            }
        }
    };
    seconds
        .and_then(|s| DateTime::from_timestamp(s, nanos))
        .ok_or_else(|| JournalError::invalid(field, "range", "is not a time the journal can keep"))
}

/// journal-core's time as a `SystemTime`.
pub(crate) fn from_time(time: DateTime<Utc>) -> SystemTime {
    let seconds = time.timestamp();
    let nanos = Duration::from_nanos(u64::from(time.timestamp_subsec_nanos()));
    let whole = Duration::from_secs(seconds.unsigned_abs());
    let moment = if seconds >= 0 {
        UNIX_EPOCH.checked_add(whole)
    } else {
        UNIX_EPOCH.checked_sub(whole)
    };
    moment
        .and_then(|m| m.checked_add(nanos))
        .unwrap_or(UNIX_EPOCH)
}

/// A small whole number for a `u8` rule: out-of-range values become one
/// the rule refuses with its own message (never wrapped into range).
fn small(value: i32) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

/// A count for a `u32` rule, likewise.
fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A `u32` as the signed number apps see.
pub(crate) fn signed(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A `u64` as the signed number apps see.
pub(crate) fn signed64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl From<journal_core::Phase> for Phase {
    fn from(phase: journal_core::Phase) -> Self {
        match phase {
            journal_core::Phase::Preparation => Phase::Preparation,
            journal_core::Phase::Dosing => Phase::Dosing,
            journal_core::Phase::Integration => Phase::Integration,
        }
    }
}

impl From<Phase> for journal_core::Phase {
    fn from(phase: Phase) -> Self {
        match phase {
            Phase::Preparation => journal_core::Phase::Preparation,
            Phase::Dosing => journal_core::Phase::Dosing,
            Phase::Integration => journal_core::Phase::Integration,
        }
    }
}

impl From<core::RecordKind> for RecordKind {
    fn from(kind: core::RecordKind) -> Self {
        match kind {
            core::RecordKind::JournalEntry => RecordKind::JournalEntry,
            core::RecordKind::Intention => RecordKind::Intention,
            core::RecordKind::MoodCheckIn => RecordKind::MoodCheckIn,
            core::RecordKind::Assessment => RecordKind::Assessment,
            core::RecordKind::ExercisePractice => RecordKind::ExercisePractice,
            core::RecordKind::DosingSession => RecordKind::DosingSession,
            core::RecordKind::Share => RecordKind::Share,
            core::RecordKind::Commitment => RecordKind::Commitment,
            core::RecordKind::CarePlan => RecordKind::CarePlan,
        }
    }
}

impl From<RecordKind> for core::RecordKind {
    fn from(kind: RecordKind) -> Self {
        match kind {
            RecordKind::JournalEntry => core::RecordKind::JournalEntry,
            RecordKind::Intention => core::RecordKind::Intention,
            RecordKind::MoodCheckIn => core::RecordKind::MoodCheckIn,
            RecordKind::Assessment => core::RecordKind::Assessment,
            RecordKind::ExercisePractice => core::RecordKind::ExercisePractice,
            RecordKind::DosingSession => core::RecordKind::DosingSession,
            RecordKind::Share => core::RecordKind::Share,
            RecordKind::Commitment => core::RecordKind::Commitment,
            RecordKind::CarePlan => core::RecordKind::CarePlan,
        }
    }
}

impl From<core::CommitmentStatus> for CommitmentStatus {
    fn from(status: core::CommitmentStatus) -> Self {
        match status {
            core::CommitmentStatus::Open => CommitmentStatus::Open,
            core::CommitmentStatus::Kept => CommitmentStatus::Kept,
            core::CommitmentStatus::Changed => CommitmentStatus::Changed,
            core::CommitmentStatus::Dropped => CommitmentStatus::Dropped,
        }
    }
}

impl From<CommitmentStatus> for core::CommitmentStatus {
    fn from(status: CommitmentStatus) -> Self {
        match status {
            CommitmentStatus::Open => core::CommitmentStatus::Open,
            CommitmentStatus::Kept => core::CommitmentStatus::Kept,
            CommitmentStatus::Changed => core::CommitmentStatus::Changed,
            CommitmentStatus::Dropped => core::CommitmentStatus::Dropped,
        }
    }
}

/// A calendar date given as `YYYY-MM-DD`, or `Invalid` naming the field.
pub(crate) fn date(field: &str, text: &str) -> Result<chrono::NaiveDate, JournalError> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        JournalError::invalid(
            field,
            "date",
            format!("must be a date as YYYY-MM-DD, not {text:?}"),
        )
    })
}

impl From<core::IntentionStatus> for IntentionStatus {
    fn from(status: core::IntentionStatus) -> Self {
        match status {
            core::IntentionStatus::Open => IntentionStatus::Open,
            core::IntentionStatus::Fulfilled => IntentionStatus::Fulfilled,
            core::IntentionStatus::PartlyFulfilled => IntentionStatus::PartlyFulfilled,
            core::IntentionStatus::NotFulfilled => IntentionStatus::NotFulfilled,
            core::IntentionStatus::Released => IntentionStatus::Released,
        }
    }
}

impl From<IntentionStatus> for core::IntentionStatus {
    fn from(status: IntentionStatus) -> Self {
        match status {
            IntentionStatus::Open => core::IntentionStatus::Open,
            IntentionStatus::Fulfilled => core::IntentionStatus::Fulfilled,
            IntentionStatus::PartlyFulfilled => core::IntentionStatus::PartlyFulfilled,
            IntentionStatus::NotFulfilled => core::IntentionStatus::NotFulfilled,
            IntentionStatus::Released => core::IntentionStatus::Released,
        }
    }
}

impl From<core::Instrument> for Instrument {
    fn from(instrument: core::Instrument) -> Self {
        match instrument {
            core::Instrument::Phq9 => Instrument::Phq9,
            core::Instrument::Gad7 => Instrument::Gad7,
        }
    }
}

impl From<Instrument> for core::Instrument {
    fn from(instrument: Instrument) -> Self {
        match instrument {
            Instrument::Phq9 => core::Instrument::Phq9,
            Instrument::Gad7 => core::Instrument::Gad7,
        }
    }
}

impl From<core::Severity> for Severity {
    fn from(severity: core::Severity) -> Self {
        match severity {
            core::Severity::Minimal => Severity::Minimal,
            core::Severity::Mild => Severity::Mild,
            core::Severity::Moderate => Severity::Moderate,
            core::Severity::ModeratelySevere => Severity::ModeratelySevere,
            core::Severity::Severe => Severity::Severe,
        }
    }
}

impl From<core::Route> for Route {
    fn from(route: core::Route) -> Self {
        match route {
            core::Route::Lozenge => Route::Lozenge,
            core::Route::NasalSpray => Route::NasalSpray,
            core::Route::Intramuscular => Route::Intramuscular,
            core::Route::Intravenous => Route::Intravenous,
        }
    }
}

impl From<Route> for core::Route {
    fn from(route: Route) -> Self {
        match route {
            Route::Lozenge => core::Route::Lozenge,
            Route::NasalSpray => core::Route::NasalSpray,
            Route::Intramuscular => core::Route::Intramuscular,
            Route::Intravenous => core::Route::Intravenous,
        }
    }
}

impl From<core::SessionStatus> for SessionStatus {
    fn from(status: core::SessionStatus) -> Self {
        match status {
            core::SessionStatus::Planned => SessionStatus::Planned,
            core::SessionStatus::Completed => SessionStatus::Completed,
            core::SessionStatus::Cancelled => SessionStatus::Cancelled,
        }
    }
}

impl From<SessionStatus> for core::SessionStatus {
    fn from(status: SessionStatus) -> Self {
        match status {
            SessionStatus::Planned => core::SessionStatus::Planned,
            SessionStatus::Completed => core::SessionStatus::Completed,
            SessionStatus::Cancelled => core::SessionStatus::Cancelled,
        }
    }
}

/// Scores a questionnaire with journal-core's scoring (the one the server
/// uses too).
pub(crate) fn score(assessment: &core::Assessment) -> Result<AssessmentScore, JournalError> {
    let score = assessment.score()?;
    Ok(AssessmentScore {
        total: i32::from(score.total),
        max_total: i32::from(assessment.instrument.max_total()),
        severity: score.severity.into(),
        risk_flag: score.risk_flag,
    })
}

impl Assessment {
    /// journal-core's assessment (checked later, when scored or saved).
    pub(crate) fn to_core(&self) -> Result<core::Assessment, JournalError> {
        Ok(core::Assessment {
            instrument: self.instrument.into(),
            taken_at: to_time("takenAt", self.taken_at)?,
            answers: self.answers.iter().copied().map(small).collect(),
        })
    }
}

impl RecordContent {
    /// journal-core's content, with ids and times read (every other rule
    /// is checked by the store when the record is saved).
    pub(crate) fn into_core(self) -> Result<core::RecordBody, JournalError> {
        Ok(match self {
            RecordContent::JournalEntry { entry } => {
                core::RecordBody::JournalEntry(core::JournalEntry {
                    title: entry.title,
                    body: entry.body,
                    phase: entry.phase.into(),
                    prompt_id: entry.prompt_id,
                    tags: entry.tags,
                    dosing_session_id: entry
                        .dosing_session_id
                        .map(|id| record_id("dosingSessionId", &id))
                        .transpose()?,
                })
            }
            RecordContent::Intention { intention } => {
                core::RecordBody::Intention(core::Intention {
                    text: intention.text,
                    dosing_session_id: record_id("dosingSessionId", &intention.dosing_session_id)?,
                    reflection: intention.reflection.map(|r| core::Reflection {
                        how_it_went: r.how_it_went,
                        carry_forward: r.carry_forward,
                    }),
                    status: intention.status.into(),
                })
            }
            RecordContent::CarePlan { plan } => core::RecordBody::CarePlan(plan.into()),
            RecordContent::Commitment { commitment } => {
                core::RecordBody::Commitment(core::Commitment {
                    text: commitment.text,
                    dosing_session_id: record_id("dosingSessionId", &commitment.dosing_session_id)?,
                    intention_id: commitment
                        .intention_id
                        .map(|id| record_id("intentionId", &id))
                        .transpose()?,
                    follow_up_on: date("followUpOn", &commitment.follow_up_on)?,
                    status: commitment.status.into(),
                    note: commitment.note,
                })
            }
            RecordContent::MoodCheckIn { check_in } => {
                core::RecordBody::MoodCheckIn(core::MoodCheckIn {
                    recorded_at: to_time("recordedAt", check_in.recorded_at)?,
                    mood: small(check_in.mood),
                    anxiety: small(check_in.anxiety),
                    energy: small(check_in.energy),
                    sleep_hours: check_in.sleep_hours,
                    emotions: check_in.emotions,
                    note: check_in.note,
                })
            }
            RecordContent::Assessment { assessment } => {
                core::RecordBody::Assessment(assessment.to_core()?)
            }
            RecordContent::ExercisePractice { practice } => {
                core::RecordBody::ExercisePractice(core::ExercisePractice {
                    exercise_id: practice.exercise_id,
                    practiced_at: to_time("practicedAt", practice.practiced_at)?,
                    steps_completed: count(practice.steps_completed),
                    distress_before: small(practice.distress_before),
                    distress_after: small(practice.distress_after),
                })
            }
            RecordContent::DosingSession { session } => {
                core::RecordBody::DosingSession(core::DosingSession {
                    scheduled_at: to_time("scheduledAt", session.scheduled_at)?,
                    route: session.route.into(),
                    status: session.status.into(),
                    notes: session.notes,
                })
            }
            RecordContent::Share { share } => core::RecordBody::Share(core::Share {
                therapist_id: uuid("therapistId", &share.therapist_id)?,
                scope: match share.scope {
                    ShareScope::Item { record_id: id } => core::ShareScope::Item {
                        record_id: record_id("scope.recordId", &id)?,
                    },
                    ShareScope::Kinds { kinds } => core::ShareScope::Kinds {
                        kinds: kinds.into_iter().map(Into::into).collect(),
                    },
                    ShareScope::Instruments { instruments } => core::ShareScope::Instruments {
                        instruments: instruments.into_iter().map(Into::into).collect(),
                    },
                },
                revoked: share.revoked,
            }),
        })
    }
}

impl From<core::RecordBody> for RecordContent {
    fn from(body: core::RecordBody) -> Self {
        match body {
            core::RecordBody::JournalEntry(e) => RecordContent::JournalEntry {
                entry: JournalEntry {
                    body: e.body,
                    phase: e.phase.into(),
                    title: e.title,
                    prompt_id: e.prompt_id,
                    tags: e.tags,
                    dosing_session_id: e.dosing_session_id.map(|id| id.to_string()),
                },
            },
            core::RecordBody::Intention(i) => RecordContent::Intention {
                intention: Intention {
                    text: i.text,
                    dosing_session_id: i.dosing_session_id.to_string(),
                    status: i.status.into(),
                    reflection: i.reflection.map(|r| Reflection {
                        how_it_went: r.how_it_went,
                        carry_forward: r.carry_forward,
                    }),
                },
            },
            core::RecordBody::CarePlan(plan) => RecordContent::CarePlan { plan: plan.into() },
            core::RecordBody::Commitment(c) => RecordContent::Commitment {
                commitment: Commitment {
                    text: c.text,
                    dosing_session_id: c.dosing_session_id.to_string(),
                    follow_up_on: c.follow_up_on.format("%Y-%m-%d").to_string(),
                    status: c.status.into(),
                    intention_id: c.intention_id.map(|id| id.to_string()),
                    note: c.note,
                },
            },
            core::RecordBody::MoodCheckIn(m) => RecordContent::MoodCheckIn {
                check_in: MoodCheckIn {
                    recorded_at: from_time(m.recorded_at),
                    mood: i32::from(m.mood),
                    anxiety: i32::from(m.anxiety),
                    energy: i32::from(m.energy),
                    sleep_hours: m.sleep_hours,
                    emotions: m.emotions,
                    note: m.note,
                },
            },
            core::RecordBody::Assessment(a) => RecordContent::Assessment {
                assessment: Assessment {
                    instrument: a.instrument.into(),
                    taken_at: from_time(a.taken_at),
                    answers: a.answers.into_iter().map(i32::from).collect(),
                },
            },
            core::RecordBody::ExercisePractice(p) => RecordContent::ExercisePractice {
                practice: ExercisePractice {
                    exercise_id: p.exercise_id,
                    practiced_at: from_time(p.practiced_at),
                    steps_completed: signed(p.steps_completed),
                    distress_before: i32::from(p.distress_before),
                    distress_after: i32::from(p.distress_after),
                },
            },
            core::RecordBody::DosingSession(s) => RecordContent::DosingSession {
                session: DosingSession {
                    scheduled_at: from_time(s.scheduled_at),
                    route: s.route.into(),
                    status: s.status.into(),
                    notes: s.notes,
                },
            },
            core::RecordBody::Share(s) => RecordContent::Share {
                share: Share {
                    therapist_id: s.therapist_id.to_string(),
                    scope: match s.scope {
                        core::ShareScope::Item { record_id } => ShareScope::Item {
                            record_id: record_id.to_string(),
                        },
                        core::ShareScope::Kinds { kinds } => ShareScope::Kinds {
                            kinds: kinds.into_iter().map(Into::into).collect(),
                        },
                        core::ShareScope::Instruments { instruments } => ShareScope::Instruments {
                            instruments: instruments.into_iter().map(Into::into).collect(),
                        },
                    },
                    revoked: s.revoked,
                },
            },
        }
    }
}

impl From<journal_core::Record> for JournalRecord {
    fn from(record: journal_core::Record) -> Self {
        Self {
            id: record.id.to_string(),
            kind: record.kind().into(),
            created_at: from_time(record.created_at),
            updated_at: from_time(record.updated_at),
            content: record.body.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_on_both_sides_of_the_epoch() {
        for text in [
            "2026-03-01T08:00:00.123456Z",
            "1969-12-31T23:59:59.5Z",
            "1900-01-01T00:00:00Z",
        ] {
            let time: DateTime<Utc> = text.parse().unwrap();
            assert_eq!(to_time("t", from_time(time)).unwrap(), time, "{text}");
        }
    }

    #[test]
    fn out_of_range_numbers_are_refused_by_the_rules_not_wrapped() {
        let content = RecordContent::MoodCheckIn {
            check_in: MoodCheckIn {
                recorded_at: SystemTime::now(),
                mood: -1,
                anxiety: 256,
                energy: 5,
                sleep_hours: None,
                emotions: vec![],
                note: None,
            },
        };
        let invalid = content.into_core().unwrap().validate().unwrap_err();
        assert!(invalid.has("mood", "range"), "{invalid}");
        assert!(invalid.has("anxiety", "range"), "{invalid}");
    }

    #[test]
    fn bad_ids_name_their_field() {
        let content = RecordContent::Share {
            share: Share {
                therapist_id: uuid::Uuid::now_v7().to_string(),
                scope: ShareScope::Item {
                    record_id: "nope".into(),
                },
                revoked: false,
            },
        };
        match content.into_core() {
            Err(JournalError::Invalid { violations, .. }) => {
                assert_eq!(violations[0].field, "scope.recordId");
            }
            other => panic!("{other:?}"),
        }
    }
}
