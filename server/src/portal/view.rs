//! How records, scores and moments read on a page: words a clinician uses,
//! never the API's identifiers.

use chrono::{DateTime, Utc};
use journal_core::mbc::MbcSummary;
use journal_core::records::{Instrument, IntentionStatus, RecordKind, SessionStatus, Severity};

/// A moment, as a page shows it ("2 Dec 2026, 14:05 UTC").
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// A day, as a page shows it ("2 Dec 2026").
pub fn day(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

/// A questionnaire's name.
pub fn instrument(instrument: Instrument) -> &'static str {
    match instrument {
        Instrument::Phq9 => "PHQ-9",
        Instrument::Gad7 => "GAD-7",
    }
}

/// A severity band's name.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Minimal => "minimal",
        Severity::Mild => "mild",
        Severity::Moderate => "moderate",
        Severity::ModeratelySevere => "moderately severe",
        Severity::Severe => "severe",
    }
}

/// The band a total falls in, by name ("" past the scale).
pub fn band(instrument: Instrument, total: u8) -> &'static str {
    instrument.severity(total).map_or("", severity)
}

/// A record kind's name.
pub fn kind(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::JournalEntry => "Journal entry",
        RecordKind::MoodCheckIn => "Check-in",
        RecordKind::Assessment => "Questionnaire",
        RecordKind::DosingSession => "Dosing session",
        RecordKind::Intention => "Intention",
        RecordKind::ExercisePractice => "Grounding practice",
        RecordKind::Commitment => "Commitment",
        RecordKind::CarePlan => "Own care plan",
        RecordKind::Share => "Share",
    }
}

/// Where a commitment stands, in words.
pub fn commitment_status(status: journal_core::records::CommitmentStatus) -> &'static str {
    use journal_core::records::CommitmentStatus;
    match status {
        CommitmentStatus::Open => "open",
        CommitmentStatus::Kept => "kept",
        CommitmentStatus::Changed => "kept, changed",
        CommitmentStatus::Dropped => "dropped",
    }
}

/// An intention's state.
pub fn intention_status(status: IntentionStatus) -> &'static str {
    match status {
        IntentionStatus::Open => "open",
        IntentionStatus::Fulfilled => "met",
        IntentionStatus::PartlyFulfilled => "partly met",
        IntentionStatus::NotFulfilled => "not met",
        IntentionStatus::Released => "let go",
    }
}

/// A dosing session's state.
pub fn session_status(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Planned => "planned",
        SessionStatus::Completed => "completed",
        SessionStatus::Cancelled => "cancelled",
    }
}

/// The change since baseline in words: "18 → 7 (−11, −61 %)".
pub fn change(summary: &MbcSummary) -> String {
    let percent = summary
        .percent_change
        .map(|p| {
            let sign = match p {
                p if p >= 0.5 => "+",
                p if p <= -0.5 => "−",
                _ => "±",
            };
            format!(", {sign}{:.0} %", p.abs())
        })
        .unwrap_or_default();
    let sign = match summary.change {
        c if c > 0 => "+",
        c if c < 0 => "−",
        _ => "±",
    };
    format!(
        "{} → {} ({sign}{}{percent})",
        summary.baseline.total,
        summary.latest.total,
        summary.change.unsigned_abs()
    )
}

/// Response and remission, when reached.
pub fn outcome(summary: &MbcSummary) -> Option<&'static str> {
    match (summary.remission, summary.response) {
        (true, _) => Some("remission"),
        (false, true) => Some("response"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_a_clinician_writes_them() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T14:05:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(at), "2 Dec 2026, 14:05 UTC");
        assert_eq!(day(at), "2 Dec 2026");
        assert_eq!(band(Instrument::Phq9, 16), "moderately severe");
        assert_eq!(band(Instrument::Gad7, 16), "severe");
    }
}
