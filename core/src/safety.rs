//! Safety: the notice with crisis resources that a risk answer brings up at
//! once, on the phone, online or offline.
//!
//! A PHQ-9 answer of 1 or more on item 9 (thoughts of being better off dead
//! or of hurting oneself) is a risk flag. Saving such an assessment must
//! show crisis resources immediately: the device store returns a
//! [`SafetyNotice`] with the saved record, and the app shows it before
//! anything else. The text is configurable per deployment (a clinic's own
//! numbers); [`CrisisResources::default`] is a sensible international
//! fallback.

use serde::{Deserialize, Serialize};

use crate::records::RecordBody;

/// One way to reach help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CrisisContact {
    /// Who answers, e.g. "988 Suicide & Crisis Lifeline (US)".
    pub name: String,
    /// A number to call, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A number to text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A web address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What the app shows when a risk answer is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CrisisResources {
    /// A short heading.
    pub headline: String,
    /// A few sentences to the patient.
    pub message: String,
    /// Where to find help now, most immediate first.
    pub contacts: Vec<CrisisContact>,
}

impl Default for CrisisResources {
    fn default() -> Self {
        let contact = |name: &str, phone: Option<&str>, text: Option<&str>, url: Option<&str>| {
            CrisisContact {
                name: name.to_owned(),
                phone: phone.map(str::to_owned),
                text: text.map(str::to_owned),
                url: url.map(str::to_owned),
            }
        };
        Self {
            headline: "You don't have to go through this alone".to_owned(),
            message: "Your answer says you have had thoughts of being better off dead or of \
                      hurting yourself. If you might act on these thoughts or feel unsafe right \
                      now, call your local emergency number. Talking to someone today can help: \
                      a crisis line is free and open day and night, and your therapist and care \
                      team want to know how you are doing. This journal is not watched in real \
                      time."
                .to_owned(),
            contacts: vec![
                contact("Emergency services", Some("112 / 911 / 999"), None, None),
                contact(
                    "988 Suicide & Crisis Lifeline (US)",
                    Some("988"),
                    Some("988"),
                    Some("https://988lifeline.org"),
                ),
                contact(
                    "Samaritans (UK and Ireland)",
                    Some("116 123"),
                    None,
                    Some("https://www.samaritans.org"),
                ),
                contact(
                    "Find a helpline in your country",
                    None,
                    None,
                    Some("https://findahelpline.com"),
                ),
            ],
        }
    }
}

/// Why a notice was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RiskReason {
    /// PHQ-9 item 9 answered 1 or more.
    Phq9Item9,
}

/// Shown at once when a saved record signals risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SafetyNotice {
    /// What raised it.
    pub reason: RiskReason,
    /// What to show.
    pub resources: CrisisResources,
}

/// The notice a record calls for, if any: an assessment with the PHQ-9
/// item-9 risk flag. Scoring is journal-core's own (see
/// [`crate::records::Assessment::score`]).
pub fn safety_notice(body: &RecordBody, resources: &CrisisResources) -> Option<SafetyNotice> {
    match body {
        RecordBody::Assessment(assessment) => match assessment.score() {
            Ok(score) if score.risk_flag => Some(SafetyNotice {
                reason: RiskReason::Phq9Item9,
                resources: resources.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::records::{Assessment, Instrument, MoodCheckIn};

    #[test]
    fn only_a_risk_answer_raises_a_notice() {
        let resources = CrisisResources::default();
        let risk = Assessment::new(
            Instrument::Phq9,
            Utc::now(),
            vec![0, 0, 0, 0, 0, 0, 0, 0, 1],
        )
        .unwrap();
        let notice = safety_notice(&risk.into(), &resources).unwrap();
        assert_eq!(notice.reason, RiskReason::Phq9Item9);
        assert!(!notice.resources.contacts.is_empty());
        let severe_without_risk = Assessment::new(
            Instrument::Phq9,
            Utc::now(),
            vec![3, 3, 3, 3, 3, 3, 3, 3, 0],
        )
        .unwrap();
        assert!(safety_notice(&severe_without_risk.into(), &resources).is_none());
        let gad = Assessment::new(Instrument::Gad7, Utc::now(), vec![3; 7]).unwrap();
        assert!(safety_notice(&gad.into(), &resources).is_none());
        let mood = MoodCheckIn::new(Utc::now(), 0, 10, 0).unwrap();
        assert!(safety_notice(&mood.into(), &resources).is_none());
    }

    #[test]
    fn the_text_is_configurable() {
        let clinic = CrisisResources {
            headline: "Call the clinic".into(),
            message: "Our on-call line is open day and night.".into(),
            contacts: vec![CrisisContact {
                name: "Clinic on-call".into(),
                phone: Some("+1 555 0100".into()),
                text: None,
                url: None,
            }],
        };
        let risk = Assessment::new(
            Instrument::Phq9,
            Utc::now(),
            vec![1, 1, 1, 1, 1, 1, 1, 1, 3],
        )
        .unwrap();
        assert_eq!(
            safety_notice(&risk.into(), &clinic).unwrap().resources,
            clinic
        );
    }
}
