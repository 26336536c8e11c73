//! Dosing sessions: the monitored ketamine sessions the rest of the journal
//! is organised around.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::validation::{self, InvalidInput};

/// How the ketamine is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum SessionStatus {
    /// Booked, not yet happened.
    #[default]
    Planned,
    /// It took place.
    Completed,
    /// It will not take place.
    Cancelled,
}

/// A dosing session.
///
/// Rules: `notes` optional, at most 10,000 characters, line breaks allowed;
/// `status` defaults to `planned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DosingSession {
    /// When the session starts (or started).
    pub scheduled_at: DateTime<Utc>,
    /// How the medicine is given.
    pub route: Route,
    /// Where the session stands.
    #[serde(default)]
    pub status: SessionStatus,
    /// The patient's notes about the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 10_000), custom(function = "validation::free_text"))]
    pub notes: Option<String>,
}

impl DosingSession {
    /// A planned session at the given time.
    pub fn new(scheduled_at: DateTime<Utc>, route: Route) -> Result<Self, InvalidInput> {
        let session = Self {
            scheduled_at,
            route,
            status: SessionStatus::Planned,
            notes: None,
        };
        session.validate()?;
        Ok(session)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        InvalidInput::collect(Validate::validate(self), Vec::new())
    }
}
