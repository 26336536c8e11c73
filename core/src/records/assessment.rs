//! Standard questionnaires (PHQ-9 for depression, GAD-7 for anxiety) and
//! their scoring. The scoring lives here and nowhere else: the phone and the
//! server both call it, so they can never disagree on a band or a risk flag.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::validation::{FieldViolation, InvalidInput};

/// Which questionnaire was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Instrument {
    /// The nine-item Patient Health Questionnaire (depression).
    #[serde(rename = "phq9")]
    Phq9,
    /// The seven-item Generalized Anxiety Disorder scale.
    #[serde(rename = "gad7")]
    Gad7,
}

impl Instrument {
    /// Its name as JSON spells it (`phq9`, `gad7`).
    pub fn as_str(self) -> &'static str {
        match self {
            Instrument::Phq9 => "phq9",
            Instrument::Gad7 => "gad7",
        }
    }

    /// How many items the questionnaire has.
    pub fn item_count(self) -> usize {
        match self {
            Instrument::Phq9 => 9,
            Instrument::Gad7 => 7,
        }
    }

    /// The highest answer to one item ("nearly every day").
    pub const MAX_ANSWER: u8 = 3;

    /// The highest possible total.
    pub fn max_total(self) -> u8 {
        // At most 9 × 3 = 27.
        self.item_count() as u8 * Self::MAX_ANSWER
    }

    /// The severity band of a total, or `None` for a total the questionnaire
    /// cannot produce.
    ///
    /// PHQ-9: minimal 0–4, mild 5–9, moderate 10–14, moderately severe
    /// 15–19, severe 20–27. GAD-7: minimal 0–4, mild 5–9, moderate 10–14,
    /// severe 15–21.
    pub fn severity(self, total: u8) -> Option<Severity> {
        if total > self.max_total() {
            return None;
        }
        Some(match (self, total) {
            (_, 0..=4) => Severity::Minimal,
            (_, 5..=9) => Severity::Mild,
            (_, 10..=14) => Severity::Moderate,
            (Instrument::Phq9, 15..=19) => Severity::ModeratelySevere,
            _ => Severity::Severe,
        })
    }

    /// The total below which the patient counts as in remission (fewer than
    /// 5 points on both questionnaires).
    pub fn remission_below(self) -> u8 {
        5
    }
}

/// The severity band of a questionnaire total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Minimal symptoms.
    Minimal,
    /// Mild.
    Mild,
    /// Moderate.
    Moderate,
    /// Moderately severe (PHQ-9 only).
    ModeratelySevere,
    /// Severe.
    Severe,
}

/// The result of scoring a completed questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AssessmentScore {
    /// The sum of the answers.
    pub total: u8,
    /// The band the total falls in.
    pub severity: Severity,
    /// Whether an answer signals risk: on the PHQ-9, any answer of 1 or more
    /// to item 9 (thoughts of being better off dead or of self-harm). When
    /// set, the app must show crisis resources at once.
    pub risk_flag: bool,
}

/// A completed questionnaire.
///
/// Rules: `answers` holds exactly one answer per item (9 for PHQ-9, 7 for
/// GAD-7), in item order, each 0 ("not at all") to 3 ("nearly every day").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assessment {
    /// Which questionnaire.
    pub instrument: Instrument,
    /// When the patient answered it.
    pub taken_at: DateTime<Utc>,
    /// One answer per item, in order, each 0–3.
    pub answers: Vec<u8>,
}

/// The PHQ-9 item that asks about thoughts of death or self-harm (item 9,
/// index 8).
const PHQ9_RISK_ITEM: usize = 8;

impl Assessment {
    /// A valid assessment with the given answers.
    pub fn new(
        instrument: Instrument,
        taken_at: DateTime<Utc>,
        answers: Vec<u8>,
    ) -> Result<Self, InvalidInput> {
        let assessment = Self {
            instrument,
            taken_at,
            answers,
        };
        assessment.validate()?;
        Ok(assessment)
    }

    /// Checks every rule listed on the type.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut extra = Vec::new();
        let expected = self.instrument.item_count();
        if self.answers.len() != expected {
            extra.push(FieldViolation {
                field: "answers".to_owned(),
                rule: "item_count".to_owned(),
                message: format!(
                    "must hold exactly {expected} answers, one per item, got {}",
                    self.answers.len()
                ),
            });
        }
        for (index, answer) in self.answers.iter().enumerate() {
            if *answer > Instrument::MAX_ANSWER {
                extra.push(FieldViolation {
                    field: format!("answers[{index}]"),
                    rule: "range".to_owned(),
                    message: "must be between 0 and 3".to_owned(),
                });
            }
        }
        InvalidInput::collect(Validate::validate(self), extra)
    }

    /// Scores the questionnaire: total, severity band and risk flag.
    ///
    /// Fails, rather than guessing, when the answers break the rules.
    pub fn score(&self) -> Result<AssessmentScore, InvalidInput> {
        self.validate()?;
        let total: u8 = self.answers.iter().sum();
        let severity = self.instrument.severity(total).ok_or_else(|| {
            InvalidInput::single("answers", "range", "the answers add up past the maximum")
        })?;
        let risk_flag = self.instrument == Instrument::Phq9
            && self.answers.get(PHQ9_RISK_ITEM).is_some_and(|a| *a >= 1);
        Ok(AssessmentScore {
            total,
            severity,
            risk_flag,
        })
    }
}
