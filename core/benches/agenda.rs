//! The phone's agenda and insights over a journal of two years: a daily
//! check-in every day, a PHQ-9 and a GAD-7 every fortnight, 20 dosing
//! sessions each with an intention (reflected) and a commitment, a weekly
//! journal entry, grounding practices, and a care plan asking for
//! questionnaires every 14 days and after each session, follow-ups and
//! daily check-ins.
//!
//! Run: `cargo bench -p journal-core --features device --bench agenda`.
//! Under `cargo test` each case runs once, as a smoke test.
//! Targets: agenda ≤ 5 ms, insights (90 days) ≤ 20 ms, median.

// A benchmark whose setup fails has nothing to measure: stopping is right.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use journal_core::Phase;
use journal_core::plan::{CarePlan, CheckInCadence, FollowUpPlan, MeasurePlan};
use journal_core::records::{
    Assessment, Commitment, CommitmentStatus, DosingSession, ExercisePractice, Instrument,
    Intention, IntentionStatus, JournalEntry, MoodCheckIn, RecordBody, Reflection, Route,
    SessionStatus,
};
use journal_core::reminders::ReminderSettings;
use journal_core::store::JournalStore;

const DAYS: i64 = 730;
const SESSIONS: i64 = 20;

fn journal() -> (tempfile::TempDir, JournalStore) {
    let dir = tempfile::tempdir().expect("a folder");
    let store = JournalStore::open(dir.path().join("journal.db")).expect("a journal");
    let start = Utc::now() - TimeDelta::days(DAYS);
    let mut bodies: Vec<RecordBody> = Vec::new();
    for day in 0..DAYS {
        let at = start + TimeDelta::days(day) + TimeDelta::hours(8);
        let wave = u8::try_from(day % 7).expect("small");
        let mut check_in = MoodCheckIn::new(at, 3 + wave, 8 - wave, 4 + wave / 2).expect("valid");
        check_in.sleep_hours = Some(5.5 + f64::from(wave) * 0.4);
        bodies.push(check_in.into());
        if day % 14 == 0 {
            bodies.push(
                Assessment::new(Instrument::Phq9, at, vec![1, 2, 1, 1, 0, 1, 1, 0, 0])
                    .expect("valid")
                    .into(),
            );
            bodies.push(
                Assessment::new(Instrument::Gad7, at, vec![1, 1, 1, 0, 1, 0, 1])
                    .expect("valid")
                    .into(),
            );
        }
        if day % 7 == 3 {
            bodies.push(
                JournalEntry::new(
                    format!("Day {day}: what stayed with me."),
                    Phase::Integration,
                )
                .expect("valid")
                .into(),
            );
        }
        if day % 5 == 1 {
            bodies.push(
                ExercisePractice::new("box-breathing", at, 4, 7, 3)
                    .expect("valid")
                    .into(),
            );
        }
    }
    store.create_many(bodies).expect("written");
    // 20 sessions, one every 36 days, each with an intention and a
    // commitment.
    for n in 0..SESSIONS {
        let at = start + TimeDelta::days(10 + n * 36);
        let mut session = DosingSession::new(at, Route::Intramuscular).expect("valid");
        session.status = SessionStatus::Completed;
        let session = store.create(session.into()).expect("written");
        let mut intention = Intention::new("Stay with what comes", session.id).expect("valid");
        intention.status = IntentionStatus::Fulfilled;
        intention.reflection = Some(Reflection {
            how_it_went: "Gently".into(),
            carry_forward: "Mornings outside".into(),
        });
        store.create(intention.into()).expect("written");
        let mut commitment = Commitment::new(
            "Walk every morning",
            session.id,
            (at + TimeDelta::days(14)).date_naive(),
        )
        .expect("valid");
        commitment.status = CommitmentStatus::Kept;
        store.create(commitment.into()).expect("written");
    }
    let plan = CarePlan {
        measures: vec![
            MeasurePlan {
                instrument: Instrument::Phq9,
                every_days: Some(14),
                before_each_session: true,
                days_after_session: vec![7],
            },
            MeasurePlan {
                instrument: Instrument::Gad7,
                every_days: Some(28),
                before_each_session: false,
                days_after_session: vec![1, 14],
            },
        ],
        follow_ups: Some(FollowUpPlan::default()),
        check_ins: Some(CheckInCadence::Daily),
    };
    store.create(RecordBody::CarePlan(plan)).expect("written");
    let settings = ReminderSettings::parse(
        &["08:30".to_owned(), "19:00".to_owned()],
        Some(("22:00", "07:00")),
        "Europe/Berlin",
    )
    .expect("valid");
    store.set_reminder_settings(&settings).expect("kept");
    (dir, store)
}

fn bench(c: &mut Criterion) {
    let (_dir, store) = journal();
    let now = Utc::now();
    c.bench_function("agenda_two_years", |b| {
        b.iter(|| black_box(store.agenda(now).expect("an agenda")));
    });
    c.bench_function("next_reminder_two_years", |b| {
        b.iter(|| black_box(store.next_reminder_at(now).expect("a reminder")));
    });
    c.bench_function("insights_90_days_of_two_years", |b| {
        b.iter(|| {
            black_box(
                store
                    .insights(now - TimeDelta::days(90), now)
                    .expect("insights"),
            )
        });
    });
    c.bench_function("insights_two_years", |b| {
        b.iter(|| {
            black_box(
                store
                    .insights(now - TimeDelta::days(DAYS + 1), now)
                    .expect("insights"),
            )
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
