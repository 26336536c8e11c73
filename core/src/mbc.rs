//! The arithmetic of measurement-based care: from a patient's totals on one
//! questionnaire (PHQ-9 or GAD-7), the baseline, the latest score, the
//! change between them and whether it counts as response or remission.
//!
//! The server summarizes shared questionnaires for therapists with it; the
//! phone can compute the same insights offline, so both always agree.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::RecordId;
use crate::records::Instrument;

/// One questionnaire total at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScorePoint {
    /// The questionnaire's record.
    pub record_id: RecordId,
    /// When it was answered.
    pub taken_at: DateTime<Utc>,
    /// Its total (journal-core's scoring).
    pub total: u8,
}

impl ScorePoint {
    fn order(&self, other: &Self) -> Ordering {
        self.taken_at
            .cmp(&other.taken_at)
            .then_with(|| self.record_id.to_string().cmp(&other.record_id.to_string()))
    }
}

/// The measurement-based-care summary of one questionnaire: where the
/// patient started, where they are, and whether that counts as response
/// or remission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MbcSummary {
    /// How many scores it is made of.
    pub count: usize,
    /// The earliest score.
    pub baseline: ScorePoint,
    /// The most recent score.
    pub latest: ScorePoint,
    /// `latest − baseline` (negative is better).
    pub change: i32,
    /// The change as a percentage of the baseline, to one decimal (e.g.
    /// −55.0); `null` when the baseline is 0.
    pub percent_change: Option<f64>,
    /// Response: the latest total is at most half the baseline (a
    /// reduction of 50 % or more). Never with a baseline of 0.
    pub response: bool,
    /// Remission: the latest total is below the questionnaire's remission
    /// threshold (fewer than 5 points on PHQ-9 and GAD-7).
    pub remission: bool,
}

/// The summary of the scores of one questionnaire, in any order; `None`
/// without any score.
pub fn mbc_summary(instrument: Instrument, scores: &[ScorePoint]) -> Option<MbcSummary> {
    let baseline = *scores.iter().min_by(|a, b| a.order(b))?;
    let latest = *scores.iter().max_by(|a, b| a.order(b))?;
    let (first, last) = (i32::from(baseline.total), i32::from(latest.total));
    let percent_change =
        (first > 0).then(|| (f64::from(last - first) * 1000.0 / f64::from(first)).round() / 10.0);
    Some(MbcSummary {
        count: scores.len(),
        baseline,
        latest,
        change: last - first,
        percent_change,
        response: first > 0 && last * 2 <= first,
        remission: latest.total < instrument.remission_below(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(day: u32, total: u8) -> ScorePoint {
        ScorePoint {
            record_id: RecordId::new(),
            taken_at: DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T09:00:00Z"))
                .unwrap()
                .with_timezone(&Utc),
            total,
        }
    }

    #[test]
    fn no_score_no_summary() {
        assert_eq!(mbc_summary(Instrument::Phq9, &[]), None);
    }

    #[test]
    fn one_score_is_baseline_and_latest() {
        let only = point(1, 12);
        let s = mbc_summary(Instrument::Phq9, &[only]).unwrap();
        assert_eq!(
            (s.count, s.baseline, s.latest, s.change),
            (1, only, only, 0)
        );
        assert_eq!(s.percent_change, Some(0.0));
        assert!(!s.response && !s.remission);
    }

    #[test]
    fn response_is_half_or_less_of_the_baseline() {
        // 20 → 9: −11, −55 %: response, not remission. Given out of order.
        let s = mbc_summary(
            Instrument::Phq9,
            &[point(20, 9), point(1, 20), point(10, 14)],
        )
        .unwrap();
        assert_eq!((s.baseline.total, s.latest.total, s.change), (20, 9, -11));
        assert_eq!(s.percent_change, Some(-55.0));
        assert!(s.response && !s.remission);
        // 20 → 10 is exactly half: response; 20 → 11 is not.
        assert!(
            mbc_summary(Instrument::Phq9, &[point(1, 20), point(2, 10)])
                .unwrap()
                .response
        );
        assert!(
            !mbc_summary(Instrument::Phq9, &[point(1, 20), point(2, 11)])
                .unwrap()
                .response
        );
    }

    #[test]
    fn remission_is_below_five() {
        // 20 → 4: −16, −80 %: response and remission.
        let s = mbc_summary(Instrument::Phq9, &[point(1, 20), point(2, 4)]).unwrap();
        assert_eq!((s.change, s.percent_change), (-16, Some(-80.0)));
        assert!(s.response && s.remission);
        assert!(
            !mbc_summary(Instrument::Gad7, &[point(1, 15), point(2, 5)])
                .unwrap()
                .remission
        );
        assert!(
            mbc_summary(Instrument::Gad7, &[point(1, 15), point(2, 4)])
                .unwrap()
                .remission
        );
    }

    #[test]
    fn a_zero_baseline_has_no_percentage_and_no_response() {
        let s = mbc_summary(Instrument::Gad7, &[point(1, 0), point(2, 3)]).unwrap();
        assert_eq!((s.change, s.percent_change), (3, None));
        assert!(!s.response && s.remission);
        let s = mbc_summary(Instrument::Gad7, &[point(1, 15), point(2, 10)]).unwrap();
        assert_eq!(s.percent_change, Some(-33.3));
    }
}
