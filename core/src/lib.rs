//! The domain of the KAP integration journal, shared by the phone and the
//! server so the two can never disagree on a rule.
//!
//! | module | owns |
//! |---|---|
//! | [`records`] | every record kind a patient owns, its rules, and the [`Record`] envelope |
//! | [`records::Assessment`] | PHQ-9 / GAD-7 scoring, severity bands, the risk flag |
//! | [`plan`] | care plans: questionnaires, integration follow-ups and check-ins, and their rules |
//! | [`agenda`] | what a plan and the dosing sessions make due, and what is already done |
//! | [`reminders`] | when to remind: reminder times, quiet hours, time zones (daylight saving included) |
//! | [`insights`] | check-in averages and trends, the questionnaires' course, around each session, practices, sleep and mood |
//! | [`zone`] | IANA time zones (bundled): local dates, local times, the instant of a local time |
//! | [`mbc`] | measurement-based care: baseline, latest, change, response and remission of a questionnaire's scores |
//! | [`plausible`] | the window of plausible moments (not before 1900, not ahead of now but for a clock allowance), for phone and server alike |
//! | [`validation`] | [`InvalidInput`]: the one shape of a validation failure |
//! | [`hlc`] | the hybrid logical clock ordering edits across devices |
//! | [`ids`] | id newtypes: [`RecordId`], [`DeviceId`], [`MutationId`] |
//! | [`phase`] | the three phases of KAP |
//! | [`prompts`] | the library of writing prompts per phase |
//! | [`query`] | [`query::ListQuery`], cursors and pages: how lists of records are asked for |
//! | [`comments`] | therapists' comments as the patient's devices receive them |
//! | [`export`] | the export document: everything a patient wrote |
//! | [`encryption`] | the 256-bit key a SQLite journal is encrypted with (SQLCipher) |
//! | [`grounding`] | the catalog of grounding exercises |
//! | [`safety`] | the safety notice with crisis resources a risk answer brings up |
//! | [`sync`] | the sync protocol's JSON and the conflict rules |
//! | `store` (feature `device`) | the phone's local SQLite database: records, outbox, search |
//!
//! The device store sits behind the `device` cargo feature so the server,
//! which never opens a phone database, does not compile it.

pub mod adherence;
pub mod agenda;
pub mod comments;
pub mod encryption;
pub mod export;
pub mod grounding;
pub mod hlc;
pub mod ids;
pub mod insights;
pub mod mbc;
#[cfg(feature = "openapi")]
mod openapi;
pub mod phase;
pub mod plan;
pub mod plausible;
pub mod prompts;
pub mod query;
pub mod records;
pub mod reminders;
pub mod safety;
pub mod sync;
pub mod validation;
pub mod zone;

#[cfg(feature = "device")]
pub mod store;

pub use hlc::{Hlc, HlcClock, ManualClock, SystemClock, WallClock};
pub use ids::{DeviceId, MutationId, RecordId};
pub use phase::Phase;
pub use records::{Record, RecordBody, RecordKind};
pub use validation::{FieldViolation, InvalidInput};
