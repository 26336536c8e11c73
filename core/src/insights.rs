//! What is changing, in numbers the app draws: check-in averages and their
//! trend, the questionnaires' course (the same [`crate::mbc`] arithmetic
//! the therapist's timeline uses), the week before each dosing session
//! against the week after, what each grounding exercise does for
//! distress, and how sleep goes with the next day's mood.
//!
//! Nothing is claimed from too little: a trend needs
//! [`MIN_TREND_DAYS`] check-ins, a practice's effect [`MIN_PRACTICES`]
//! practices, the sleep association [`MIN_PAIRS`] pairs of nights and next
//! days; below that the figure is `None` and the count says why.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::ids::RecordId;
use crate::mbc::{MbcSummary, ScorePoint, mbc_summary};
use crate::records::{Instrument, Record, RecordBody, SessionStatus};
use crate::zone::Zone;

/// Check-ins needed before a trend is given.
pub const MIN_TREND_DAYS: usize = 7;
/// Practices of one exercise needed before its effect is given.
pub const MIN_PRACTICES: usize = 3;
/// Pairs of a night's sleep and the next day's mood needed before their
/// association is given.
pub const MIN_PAIRS: usize = 10;
/// The days before and after a dosing session that are compared.
pub const AROUND_SESSION_DAYS: i64 = 7;

/// What is said with the sleep and mood association, whatever its size.
pub const ASSOCIATION_CAVEAT: &str = "This shows how your sleep and the next day's mood have \
     moved together in your own check-ins. It does not show that one causes the other, and \
     a few unusual days can change it.";

/// One check-in measure over the period.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureStats {
    /// How many check-ins gave it.
    pub count: usize,
    /// Their mean; `None` without any.
    pub mean: Option<f64>,
    /// The change per week of a straight line through them (least
    /// squares); `None` under [`MIN_TREND_DAYS`] check-ins.
    pub trend_per_week: Option<f64>,
}

/// Mood, anxiety and energy (0–10) and sleep (hours).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckInStats {
    /// Mood.
    pub mood: MeasureStats,
    /// Anxiety.
    pub anxiety: MeasureStats,
    /// Energy.
    pub energy: MeasureStats,
    /// Hours of sleep.
    pub sleep_hours: MeasureStats,
}

/// The mean of each measure on either side of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct AroundSession {
    /// The session's record id.
    pub session_id: RecordId,
    /// When it was.
    pub at: DateTime<Utc>,
    /// Check-ins in the 7 days before.
    pub before_count: usize,
    /// Check-ins in the 7 days after.
    pub after_count: usize,
    /// Mood before and after (means; `None` on a side without check-ins).
    pub mood: (Option<f64>, Option<f64>),
    /// Anxiety before and after.
    pub anxiety: (Option<f64>, Option<f64>),
    /// Energy before and after.
    pub energy: (Option<f64>, Option<f64>),
    /// Sleep before and after.
    pub sleep_hours: (Option<f64>, Option<f64>),
}

/// What practising one grounding exercise did for distress.
#[derive(Debug, Clone, PartialEq)]
pub struct PracticeStats {
    /// The exercise's id.
    pub exercise_id: String,
    /// How often it was practised.
    pub count: usize,
    /// The mean drop in distress (before − after, 0–10 scale); `None`
    /// under [`MIN_PRACTICES`] practices.
    pub mean_drop: Option<f64>,
}

/// How a night's sleep and the next day's mood move together: the sleep a
/// check-in gives is the night before it, paired with that day's mood.
#[derive(Debug, Clone, PartialEq)]
pub struct SleepMood {
    /// Days with both the night's sleep and the day's mood.
    pub pairs: usize,
    /// Pearson's correlation (−1 to 1); `None` under [`MIN_PAIRS`] pairs or
    /// when either side never varies.
    pub correlation: Option<f64>,
    /// What the figure does and does not say.
    pub caveat: &'static str,
}

/// Everything [`insights`] works out for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Insights {
    /// Check-in averages and trends.
    pub check_ins: CheckInStats,
    /// The PHQ-9's course: baseline, latest, change, response, remission.
    pub phq9: Option<MbcSummary>,
    /// The GAD-7's course.
    pub gad7: Option<MbcSummary>,
    /// Each dosing session in the period: the week before against the
    /// week after.
    pub sessions: Vec<AroundSession>,
    /// Each grounding exercise practised in the period.
    pub practices: Vec<PracticeStats>,
    /// Sleep and the next day's mood.
    pub sleep_and_mood: SleepMood,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The slope per week of the least-squares line through `(day, value)`.
fn slope_per_week(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < MIN_TREND_DAYS {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(round2(sxy / sxx * 7.0))
}

fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < MIN_PAIRS {
        return None;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
    (sxx > 0.0 && syy > 0.0).then(|| round2(sxy / (sxx * syy).sqrt()))
}

/// One check-in's four measures, and when.
struct CheckIn {
    at: DateTime<Utc>,
    mood: f64,
    anxiety: f64,
    energy: f64,
    sleep: Option<f64>,
}

fn stats(
    check_ins: &[&CheckIn],
    origin: DateTime<Utc>,
    pick: impl Fn(&CheckIn) -> Option<f64>,
) -> MeasureStats {
    let points: Vec<(f64, f64)> = check_ins
        .iter()
        .filter_map(|c| pick(c).map(|v| ((c.at - origin).num_seconds() as f64 / 86_400.0, v)))
        .collect();
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    MeasureStats {
        count: values.len(),
        mean: mean(&values).map(round2),
        trend_per_week: slope_per_week(&points),
    }
}

fn side_mean(check_ins: &[&CheckIn], pick: impl Fn(&CheckIn) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = check_ins.iter().filter_map(|c| pick(c)).collect();
    mean(&values).map(round2)
}

/// The insights of the live records about moments in `[from, to)`, with
/// days counted in `tz` (for a night's sleep and the next day's mood).
pub fn insights<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: &Zone,
) -> Insights {
    let mut check_ins = Vec::new();
    let mut scores: BTreeMap<&'static str, (Instrument, Vec<ScorePoint>)> = BTreeMap::new();
    let mut sessions = Vec::new();
    let mut practices: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let within = |at: DateTime<Utc>| at >= from && at < to;
    // Check-ins are also read a week either side, for the sessions at the
    // edges of the period.
    let around = TimeDelta::days(AROUND_SESSION_DAYS);
    for record in records {
        match &record.body {
            RecordBody::MoodCheckIn(c)
                if c.recorded_at >= from - around && c.recorded_at < to + around =>
            {
                check_ins.push(CheckIn {
                    at: c.recorded_at,
                    mood: f64::from(c.mood),
                    anxiety: f64::from(c.anxiety),
                    energy: f64::from(c.energy),
                    sleep: c.sleep_hours,
                });
            }
            RecordBody::Assessment(a) if within(a.taken_at) => {
                if let Ok(score) = a.score() {
                    let key = match a.instrument {
                        Instrument::Phq9 => "phq9",
                        Instrument::Gad7 => "gad7",
                    };
                    scores
                        .entry(key)
                        .or_insert((a.instrument, Vec::new()))
                        .1
                        .push(ScorePoint {
                            record_id: record.id,
                            taken_at: a.taken_at,
                            total: score.total,
                        });
                }
            }
            RecordBody::DosingSession(s)
                if within(s.scheduled_at) && s.status != SessionStatus::Cancelled =>
            {
                sessions.push((record.id, s.scheduled_at));
            }
            RecordBody::ExercisePractice(p) if within(p.practiced_at) => {
                practices
                    .entry(p.exercise_id.clone())
                    .or_default()
                    .push(f64::from(p.distress_before) - f64::from(p.distress_after));
            }
            _ => {}
        }
    }
    check_ins.sort_by_key(|c| c.at);
    let in_period: Vec<&CheckIn> = check_ins.iter().filter(|c| within(c.at)).collect();
    let check_in_stats = CheckInStats {
        mood: stats(&in_period, from, |c| Some(c.mood)),
        anxiety: stats(&in_period, from, |c| Some(c.anxiety)),
        energy: stats(&in_period, from, |c| Some(c.energy)),
        sleep_hours: stats(&in_period, from, |c| c.sleep),
    };
    sessions.sort_by_key(|(_, at)| *at);
    let sessions = sessions
        .into_iter()
        .map(|(session_id, at)| {
            let before: Vec<&CheckIn> = check_ins
                .iter()
                .filter(|c| c.at >= at - around && c.at < at)
                .collect();
            let after: Vec<&CheckIn> = check_ins
                .iter()
                .filter(|c| c.at >= at && c.at < at + around)
                .collect();
            let pair = |pick: fn(&CheckIn) -> Option<f64>| {
                (side_mean(&before, pick), side_mean(&after, pick))
            };
            AroundSession {
                session_id,
                at,
                before_count: before.len(),
                after_count: after.len(),
                mood: pair(|c| Some(c.mood)),
                anxiety: pair(|c| Some(c.anxiety)),
                energy: pair(|c| Some(c.energy)),
                sleep_hours: pair(|c| c.sleep),
            }
        })
        .collect();
    let practices = practices
        .into_iter()
        .map(|(exercise_id, drops)| PracticeStats {
            count: drops.len(),
            mean_drop: (drops.len() >= MIN_PRACTICES)
                .then(|| mean(&drops))
                .flatten()
                .map(round2),
            exercise_id,
        })
        .collect();
    // A check-in's sleep is the night before it ("hours slept last
    // night"): each local day's sleep against the same day's mood (the
    // day's means when there are several check-ins).
    let mut by_day: BTreeMap<NaiveDate, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for c in &in_period {
        let day = tz.date_of(c.at);
        let entry = by_day.entry(day).or_default();
        entry.0.push(c.mood);
        if let Some(sleep) = c.sleep {
            entry.1.push(sleep);
        }
    }
    let pairs: Vec<(f64, f64)> = by_day
        .values()
        .filter_map(|(moods, sleep)| Some((mean(sleep)?, mean(moods)?)))
        .collect();
    let summary = |key: &str| {
        scores
            .get(key)
            .and_then(|(i, points)| mbc_summary(*i, points))
    };
    Insights {
        check_ins: check_in_stats,
        phq9: summary("phq9"),
        gad7: summary("gad7"),
        sessions,
        practices,
        sleep_and_mood: SleepMood {
            pairs: pairs.len(),
            correlation: pearson(&pairs),
            caveat: ASSOCIATION_CAVEAT,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Hlc;
    use crate::records::{Assessment, DosingSession, ExercisePractice, MoodCheckIn, Route};

    fn day(n: i64) -> DateTime<Utc> {
        "2026-01-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::days(n)
    }

    fn record(body: impl Into<RecordBody>, at: DateTime<Utc>) -> Record {
        Record::new(body.into(), Hlc::new(1, 0), at)
    }

    fn check_in(n: i64, mood: u8, anxiety: u8, sleep: Option<f64>) -> Record {
        let mut c = MoodCheckIn::new(day(n), mood, anxiety, 5).unwrap();
        c.sleep_hours = sleep;
        record(c, day(n))
    }

    fn utc() -> Zone {
        Zone::utc()
    }

    #[test]
    fn an_empty_journal_claims_nothing() {
        let none = insights(&[], day(0), day(30), &utc());
        assert_eq!(none.check_ins.mood.count, 0);
        assert_eq!(none.check_ins.mood.mean, None);
        assert_eq!(none.check_ins.mood.trend_per_week, None);
        assert!(none.phq9.is_none() && none.sessions.is_empty() && none.practices.is_empty());
        assert_eq!(none.sleep_and_mood.pairs, 0);
        assert_eq!(none.sleep_and_mood.correlation, None);
        assert_eq!(none.sleep_and_mood.caveat, ASSOCIATION_CAVEAT);
    }

    #[test]
    fn averages_trends_and_the_course_of_the_questionnaires() {
        // Mood rises one point every two days: +3.5 a week.
        let mut records: Vec<Record> = (0..14)
            .map(|n| check_in(n, u8::try_from(2 + n / 2).unwrap(), 5, None))
            .collect();
        for (n, answers) in [
            (0, vec![3, 3, 2, 2, 2, 2, 2, 2, 0]),
            (13, vec![1, 1, 1, 1, 0, 0, 0, 0, 0]),
        ] {
            records.push(record(
                Assessment::new(Instrument::Phq9, day(n), answers).unwrap(),
                day(n),
            ));
        }
        let found = insights(&records, day(0), day(14), &utc());
        assert_eq!(found.check_ins.mood.count, 14);
        assert_eq!(found.check_ins.mood.mean, Some(5.0));
        let trend = found.check_ins.mood.trend_per_week.unwrap();
        assert!((trend - 3.43).abs() < 0.2, "{trend}");
        assert_eq!(found.check_ins.anxiety.trend_per_week, Some(0.0));
        let phq = found.phq9.unwrap();
        assert_eq!(
            (phq.baseline.total, phq.latest.total, phq.change),
            (18, 4, -14)
        );
        assert!(phq.response && phq.remission);
        // The same arithmetic the therapist's timeline uses.
        let points: Vec<ScorePoint> = vec![phq.baseline, phq.latest];
        assert_eq!(Some(phq.clone()), mbc_summary(Instrument::Phq9, &points));
        // Too few check-ins: a mean, no trend.
        let few = insights(&records, day(0), day(5), &utc());
        assert_eq!(few.check_ins.mood.count, 5);
        assert_eq!(few.check_ins.mood.trend_per_week, None);
    }

    #[test]
    fn the_week_before_each_session_against_the_week_after() {
        let mut records: Vec<Record> = (0..20)
            .map(|n| {
                check_in(
                    n,
                    if n < 10 { 3 } else { 7 },
                    if n < 10 { 8 } else { 4 },
                    Some(6.0),
                )
            })
            .collect();
        let mut session =
            DosingSession::new(day(10) - TimeDelta::hours(1), Route::Intramuscular).unwrap();
        session.status = SessionStatus::Completed;
        records.push(record(session.clone(), day(0)));
        let mut cancelled = session;
        cancelled.status = SessionStatus::Cancelled;
        records.push(record(cancelled, day(0)));
        let found = insights(&records, day(0), day(30), &utc());
        assert_eq!(found.sessions.len(), 1, "a cancelled session is no session");
        let around = &found.sessions[0];
        assert_eq!((around.before_count, around.after_count), (7, 7));
        assert_eq!(around.mood, (Some(3.0), Some(7.0)));
        assert_eq!(around.anxiety, (Some(8.0), Some(4.0)));
        assert_eq!(around.sleep_hours, (Some(6.0), Some(6.0)));
    }

    #[test]
    fn practices_need_three_before_an_effect_is_claimed() {
        let practice = |n: i64, id: &str, before: u8, after: u8| {
            record(
                ExercisePractice::new(id, day(n), 3, before, after).unwrap(),
                day(n),
            )
        };
        let records = vec![
            practice(1, "five-senses", 8, 4),
            practice(2, "five-senses", 6, 4),
            practice(3, "five-senses", 7, 4),
            practice(4, "box-breathing", 9, 1),
        ];
        let found = insights(&records, day(0), day(30), &utc());
        let by_id: BTreeMap<&str, &PracticeStats> = found
            .practices
            .iter()
            .map(|p| (p.exercise_id.as_str(), p))
            .collect();
        assert_eq!(by_id["five-senses"].count, 3);
        assert_eq!(by_id["five-senses"].mean_drop, Some(3.0));
        assert_eq!(by_id["box-breathing"].count, 1);
        assert_eq!(
            by_id["box-breathing"].mean_drop, None,
            "one practice proves nothing"
        );
    }

    #[test]
    fn sleep_and_the_next_days_mood_with_its_sample_and_caveat() {
        // Good nights, better days: a strong positive association.
        let records: Vec<Record> = (0..12)
            .map(|n| {
                let sleep = 5.0 + (n % 4) as f64;
                check_in(n, u8::try_from(3 + n % 4).unwrap(), 5, Some(sleep))
            })
            .collect();
        let found = insights(&records, day(0), day(12), &utc());
        assert_eq!(found.sleep_and_mood.pairs, 12);
        assert_eq!(found.sleep_and_mood.correlation, Some(1.0));
        let short = insights(&records, day(0), day(9), &utc());
        assert_eq!(short.sleep_and_mood.pairs, 9);
        assert_eq!(short.sleep_and_mood.correlation, None, "under ten pairs");
    }
}
