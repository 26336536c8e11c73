//! The three phases of a course of ketamine-assisted psychotherapy, which
//! journal entries and prompts are filed under.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The phase of KAP a piece of writing belongs to.
///
/// Serialized in lower case (`"preparation"`, `"dosing"`, `"integration"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before dosing: goals, intentions, safety planning, grounding skills.
    Preparation,
    /// The dosing session itself and the hours right after it.
    Dosing,
    /// Between and after sessions: making sense of what came up and turning
    /// it into change in daily life.
    Integration,
}

impl Phase {
    /// Every phase, in the order a course of treatment goes through them.
    pub const ALL: [Phase; 3] = [Phase::Preparation, Phase::Dosing, Phase::Integration];

    /// The stable wire and storage name of the phase.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preparation => "preparation",
            Phase::Dosing => "dosing",
            Phase::Integration => "integration",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Phase`] from a string that names none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phase {0:?}: expected preparation, dosing or integration")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_json() {
        for phase in Phase::ALL {
            assert_eq!(phase.as_str().parse::<Phase>(), Ok(phase));
            let json = serde_json::to_string(&phase).unwrap();
            assert_eq!(json, format!("\"{}\"", phase.as_str()));
        }
        assert!("Dosing".parse::<Phase>().is_err());
    }
}
