//! The schedule's arithmetic at its edges, and the agenda's two promises
//! as properties.

use crate::zone::Zone;
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;
use crate::plan::{FollowUpPlan, MeasurePlan};

fn t0() -> DateTime<Utc> {
    "2026-04-01T09:00:00Z".parse().unwrap()
}

fn day(n: f64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds((n * 86_400.0) as i64)
}

fn utc() -> Zone {
    Zone::utc()
}

fn measure(instrument: Instrument) -> MeasurePlan {
    MeasurePlan {
        instrument,
        every_days: None,
        before_each_session: false,
        days_after_session: vec![],
    }
}

fn session(at: DateTime<Utc>, status: SessionStatus) -> SessionFact {
    SessionFact {
        id: RecordId::new(),
        at,
        status,
    }
}

fn keys(items: &[AgendaItem]) -> Vec<String> {
    items.iter().map(|i| i.key.clone()).collect()
}

fn questionnaires(items: &[AgendaItem]) -> Vec<(Instrument, MeasureReason)> {
    items
        .iter()
        .filter_map(|i| match i.due {
            Due::Questionnaire { instrument, reason } => Some((instrument, reason)),
            _ => None,
        })
        .collect()
}

fn in_force(plan: &CarePlan, since: DateTime<Utc>) -> Option<PlanInForce<'_>> {
    Some(PlanInForce { plan, since })
}

#[test]
fn an_empty_journal_and_a_plan_asking_nothing_have_nothing_due() {
    let empty = History::default();
    assert!(agenda(None, &empty, &utc(), t0()).is_empty());
    let nothing = CarePlan::default();
    assert!(agenda(in_force(&nothing, t0()), &empty, &utc(), day(30.0)).is_empty());
    // Past sessions with no intention and a plan with no measures: still
    // nothing (no reflection without an intention).
    let history = History {
        sessions: vec![session(day(-5.0), SessionStatus::Completed)],
        ..History::default()
    };
    assert!(agenda(in_force(&nothing, t0()), &history, &utc(), day(1.0)).is_empty());
}

#[test]
fn every_n_days_counts_from_the_last_time_and_early_counts() {
    let mut phq = measure(Instrument::Phq9);
    phq.every_days = Some(14);
    let plan = CarePlan {
        measures: vec![phq],
        ..CarePlan::default()
    };
    let mut history = History::default();
    // Due as soon as the plan is set.
    let now = agenda(in_force(&plan, t0()), &history, &utc(), t0());
    assert_eq!(
        questionnaires(&now),
        [(Instrument::Phq9, MeasureReason::Every { days: 14 })]
    );
    assert!(!now[0].overdue);
    // Still due, and overdue, three days on.
    let later = agenda(in_force(&plan, t0()), &history, &utc(), day(3.0));
    assert!(later[0].overdue);
    // Taken on day 3: nothing due until day 17.
    history.assessments.push((Instrument::Phq9, day(3.0)));
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(16.9)).is_empty());
    assert_eq!(
        agenda(in_force(&plan, t0()), &history, &utc(), day(17.0)).len(),
        1
    );
    // Taken a day early (day 16): counts, next due on day 30.
    history.assessments.push((Instrument::Phq9, day(16.0)));
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(17.5)).is_empty());
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(29.9)).is_empty());
    assert_eq!(
        agenda(in_force(&plan, t0()), &history, &utc(), day(30.0)).len(),
        1
    );
    // A GAD-7 does not count for a PHQ-9.
    history.assessments.push((Instrument::Gad7, day(30.0)));
    assert_eq!(
        agenda(in_force(&plan, t0()), &history, &utc(), day(30.5)).len(),
        1
    );
}

#[test]
fn before_a_session_it_is_due_three_days_ahead_and_lapses_at_the_session() {
    let mut gad = measure(Instrument::Gad7);
    gad.before_each_session = true;
    let plan = CarePlan {
        measures: vec![gad],
        ..CarePlan::default()
    };
    let s = session(day(10.0), SessionStatus::Planned);
    let id = s.id;
    let mut history = History {
        sessions: vec![s],
        // An intention is set, so only the questionnaire shows.
        intentions: vec![IntentionFact {
            id: RecordId::new(),
            session: id,
            reflected: true,
        }],
        ..History::default()
    };
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(6.9)).is_empty());
    let due = agenda(in_force(&plan, t0()), &history, &utc(), day(7.0));
    assert_eq!(
        questionnaires(&due),
        [(Instrument::Gad7, MeasureReason::BeforeSession)]
    );
    assert_eq!(due[0].session_id, Some(id));
    // Not taken: gone once the session starts (it can no longer be before).
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(10.0)).is_empty());
    // Taken: cleared at once.
    history.assessments.push((Instrument::Gad7, day(8.0)));
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(8.0)).is_empty());
}

#[test]
fn days_after_a_session_follow_it_when_moved_and_vanish_when_cancelled() {
    let mut phq = measure(Instrument::Phq9);
    phq.days_after_session = vec![7, 1];
    let plan = CarePlan {
        measures: vec![phq],
        ..CarePlan::default()
    };
    let mut s = session(day(10.0), SessionStatus::Completed);
    let mut history = History {
        sessions: vec![s.clone()],
        ..History::default()
    };
    let at = |n| agenda(in_force(&plan, t0()), &history, &utc(), day(n));
    assert!(at(10.9).is_empty());
    assert_eq!(
        questionnaires(&at(11.0)),
        [(Instrument::Phq9, MeasureReason::AfterSession { day: 1 })]
    );
    // Day 1's lapses when day 7's is due.
    assert_eq!(
        questionnaires(&at(17.0)),
        [(Instrument::Phq9, MeasureReason::AfterSession { day: 7 })]
    );
    // And day 7's a week later.
    assert!(at(24.0).is_empty());
    // Moved to day 20: everything hangs on the new date.
    s.at = day(20.0);
    history.sessions = vec![s.clone()];
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(11.0)).is_empty());
    assert_eq!(
        agenda(in_force(&plan, t0()), &history, &utc(), day(21.0)).len(),
        1
    );
    // Cancelled: nothing.
    s.status = SessionStatus::Cancelled;
    history.sessions = vec![s];
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(21.0)).is_empty());
}

#[test]
fn a_plan_changed_mid_course_judges_only_what_follows_the_change() {
    let mut phq = measure(Instrument::Phq9);
    phq.days_after_session = vec![1, 7];
    let plan = CarePlan {
        measures: vec![phq],
        ..CarePlan::default()
    };
    let history = History {
        sessions: vec![session(day(10.0), SessionStatus::Completed)],
        ..History::default()
    };
    // The plan is set on day 13: day 1 after the session (day 11) was
    // before it and is never due; day 7 (day 17) is.
    let since = day(13.0);
    assert!(agenda(in_force(&plan, since), &history, &utc(), day(13.5)).is_empty());
    assert_eq!(
        agenda(in_force(&plan, since), &history, &utc(), day(17.0)).len(),
        1
    );
    // Adherence over the course counts only day 7.
    let all = occurrences(in_force(&plan, since), &history, &utc(), t0(), day(40.0));
    assert_eq!(all.len(), 1);
    // Every 14 days, taken five days before the change: due nine days after.
    let mut every = measure(Instrument::Phq9);
    every.every_days = Some(14);
    let plan = CarePlan {
        measures: vec![every],
        ..CarePlan::default()
    };
    let taken = History {
        assessments: vec![(Instrument::Phq9, day(8.0))],
        ..History::default()
    };
    assert!(agenda(in_force(&plan, since), &taken, &utc(), day(21.9)).is_empty());
    assert_eq!(
        agenda(in_force(&plan, since), &taken, &utc(), day(22.0)).len(),
        1
    );
}

#[test]
fn follow_ups_offer_prompts_and_clear_with_an_entry_about_that_session() {
    let plan = CarePlan {
        follow_ups: Some(FollowUpPlan {
            days: vec![],
            prompt_ids: vec!["integ-02".into(), "integ-03".into()],
        }),
        ..CarePlan::default()
    };
    let s = session(day(10.0), SessionStatus::Completed);
    let other = session(day(-30.0), SessionStatus::Completed);
    let mut history = History {
        sessions: vec![s.clone(), other.clone()],
        ..History::default()
    };
    let due = agenda(in_force(&plan, t0()), &history, &utc(), day(13.0));
    assert_eq!(
        due.iter().map(|i| i.due.clone()).collect::<Vec<_>>(),
        [Due::FollowUp {
            day: 3,
            prompt_id: "integ-03".into()
        }],
        "day 1 lapsed at day 3; the default days 1, 3, 7, 14 take the prompts in turn"
    );
    // An entry about another session does not answer it.
    history.entries.push(EntryFact {
        at: day(13.0),
        phase: Phase::Integration,
        session: Some(other.id),
    });
    assert_eq!(
        agenda(in_force(&plan, t0()), &history, &utc(), day(13.1)).len(),
        1
    );
    // An entry about this one does.
    history.entries.push(EntryFact {
        at: day(13.1),
        phase: Phase::Dosing,
        session: Some(s.id),
    });
    assert!(agenda(in_force(&plan, t0()), &history, &utc(), day(13.2)).is_empty());
}

#[test]
fn intention_before_and_reflection_after_each_session_without_any_plan() {
    let s = session(day(10.0), SessionStatus::Planned);
    let mut history = History {
        sessions: vec![s.clone()],
        ..History::default()
    };
    assert!(agenda(None, &history, &utc(), day(2.9)).is_empty());
    assert_eq!(
        keys(&agenda(None, &history, &utc(), day(3.0))),
        [format!("intention:{}", s.id)]
    );
    let intention = RecordId::new();
    history.intentions.push(IntentionFact {
        id: intention,
        session: s.id,
        reflected: false,
    });
    assert!(agenda(None, &history, &utc(), day(9.0)).is_empty());
    // The session happened; the reflection is due the day after.
    history.sessions[0].status = SessionStatus::Completed;
    let after = agenda(None, &history, &utc(), day(11.0));
    assert_eq!(
        after[0].due,
        Due::Reflection {
            intention_id: intention
        }
    );
    assert!(
        agenda(None, &history, &utc(), day(41.0)).is_empty(),
        "lapses after 30 days"
    );
    history.intentions[0].reflected = true;
    assert!(agenda(None, &history, &utc(), day(11.0)).is_empty());
}

#[test]
fn a_commitment_is_due_on_its_day_until_looked_back_on() {
    let s = session(day(0.0), SessionStatus::Completed);
    let follow_up_on = day(14.0).date_naive();
    let mut history = History {
        sessions: vec![s.clone()],
        commitments: vec![CommitmentFact {
            id: RecordId::new(),
            session: s.id,
            follow_up_on,
            open: true,
        }],
        ..History::default()
    };
    let berlin: Zone = "Europe/Berlin".parse().unwrap();
    // 15 April begins at 22:00 UTC on the 14th in Berlin.
    assert!(
        agenda(
            None,
            &history,
            &berlin,
            "2026-04-14T21:59:00Z".parse().unwrap()
        )
        .is_empty()
    );
    let due = agenda(
        None,
        &history,
        &berlin,
        "2026-04-14T22:00:00Z".parse().unwrap(),
    );
    assert_eq!(
        due[0].due,
        Due::Commitment {
            commitment_id: history.commitments[0].id
        }
    );
    // Weeks later it is still there, overdue, until marked.
    assert!(agenda(None, &history, &berlin, day(60.0))[0].overdue);
    history.commitments[0].open = false;
    assert!(agenda(None, &history, &berlin, day(60.0)).is_empty());
}

#[test]
fn daily_check_ins_follow_local_days_through_the_night_the_clocks_change() {
    let berlin: Zone = "Europe/Berlin".parse().unwrap();
    let plan = CarePlan {
        check_ins: Some(CheckInCadence::Daily),
        ..CarePlan::default()
    };
    let since: DateTime<Utc> = "2026-03-27T10:00:00Z".parse().unwrap();
    let mut history = History::default();
    // Sunday 29 March begins at 23:00 UTC on Saturday (CET midnight) and
    // is only 23 hours long.
    let sunday = agenda(
        in_force(&plan, since),
        &history,
        &berlin,
        "2026-03-29T12:00:00Z".parse().unwrap(),
    );
    assert_eq!(keys(&sunday), ["check-in:2026-03-29"]);
    assert_eq!(
        sunday[0].due_at,
        "2026-03-28T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    history
        .check_ins
        .push("2026-03-29T06:00:00Z".parse().unwrap());
    assert!(
        agenda(
            in_force(&plan, since),
            &history,
            &berlin,
            "2026-03-29T21:59:00Z".parse().unwrap()
        )
        .is_empty()
    );
    // Monday begins at 22:00 UTC (CEST midnight).
    let monday = agenda(
        in_force(&plan, since),
        &history,
        &berlin,
        "2026-03-29T22:00:00Z".parse().unwrap(),
    );
    assert_eq!(keys(&monday), ["check-in:2026-03-30"]);
    // Days the patient missed lapsed; only today's shows.
    let later = agenda(
        in_force(&plan, since),
        &history,
        &berlin,
        "2026-04-03T12:00:00Z".parse().unwrap(),
    );
    assert_eq!(keys(&later), ["check-in:2026-04-03"]);
    // Weekly: one per seven local days from the plan's start.
    let weekly = CarePlan {
        check_ins: Some(CheckInCadence::Weekly),
        ..CarePlan::default()
    };
    let week = agenda(
        in_force(&weekly, since),
        &history,
        &berlin,
        "2026-04-03T12:00:00Z".parse().unwrap(),
    );
    assert_eq!(keys(&week), ["check-in:2026-04-03"], "27 March + 7 days");
    let covered = agenda(
        in_force(&weekly, since),
        &history,
        &berlin,
        "2026-04-02T12:00:00Z".parse().unwrap(),
    );
    assert!(
        covered.is_empty(),
        "the check-in of 29 March covers 27 March – 2 April"
    );
}

#[test]
fn a_patient_travelling_sees_days_in_their_new_time_zone() {
    let plan = CarePlan {
        check_ins: Some(CheckInCadence::Daily),
        ..CarePlan::default()
    };
    let since: DateTime<Utc> = "2026-05-01T08:00:00Z".parse().unwrap();
    // Checked in at 23:00 in Berlin, 17:00 in New York.
    let history = History {
        check_ins: vec!["2026-05-10T21:00:00Z".parse().unwrap()],
        ..History::default()
    };
    let at: DateTime<Utc> = "2026-05-10T22:30:00Z".parse().unwrap();
    let berlin: Zone = "Europe/Berlin".parse().unwrap();
    let new_york: Zone = "America/New_York".parse().unwrap();
    // 00:30 on 11 May in Berlin: a new day, due.
    assert_eq!(
        keys(&agenda(in_force(&plan, since), &history, &berlin, at)),
        ["check-in:2026-05-11"]
    );
    // 18:30 on 10 May in New York: that day's check-in is done.
    assert!(agenda(in_force(&plan, since), &history, &new_york, at).is_empty());
}

#[test]
fn the_next_reminder_waits_for_something_due_outside_quiet_hours() {
    let mut phq = measure(Instrument::Phq9);
    phq.days_after_session = vec![2];
    let plan = CarePlan {
        measures: vec![phq],
        ..CarePlan::default()
    };
    let history = History {
        // A session at 15:00 UTC on 1 April: day 2 is due on 3 April 15:00.
        sessions: vec![session(
            "2026-04-01T15:00:00Z".parse().unwrap(),
            SessionStatus::Completed,
        )],
        ..History::default()
    };
    let settings = crate::reminders::ReminderSettings::parse(
        &["08:00".to_owned(), "21:30".to_owned()],
        Some(("21:00", "07:30")),
        "Europe/London",
    )
    .unwrap();
    let due = occurrences(
        in_force(&plan, t0()),
        &history,
        &settings.time_zone,
        t0(),
        day(90.0),
    );
    let next = crate::reminders::next_reminder_at(
        &settings,
        "2026-04-01T16:00:00Z".parse().unwrap(),
        |t| due.iter().any(|o| o.is_open_at(t)),
    );
    // 21:30 on 3 April is quiet; 08:00 BST on 4 April is 07:00 UTC.
    assert_eq!(next, Some("2026-04-04T07:00:00Z".parse().unwrap()));
}

fn arbitrary_history() -> impl Strategy<Value = (CarePlan, History, f64)> {
    let instrument = prop_oneof![Just(Instrument::Phq9), Just(Instrument::Gad7)];
    let plan = (
        proptest::option::of(1u32..30),
        any::<bool>(),
        proptest::collection::btree_set(1u32..30, 0..4),
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just(CheckInCadence::Daily),
            Just(CheckInCadence::Weekly)
        ]),
    )
        .prop_map(|(every, before, after, follow, check_ins)| CarePlan {
            measures: vec![MeasurePlan {
                instrument: Instrument::Phq9,
                every_days: every,
                before_each_session: before,
                days_after_session: after.into_iter().collect(),
            }],
            follow_ups: follow.then(FollowUpPlan::default),
            check_ins,
        });
    let sessions = proptest::collection::vec(
        (
            -20.0f64..80.0,
            prop_oneof![
                Just(SessionStatus::Planned),
                Just(SessionStatus::Completed),
                Just(SessionStatus::Cancelled)
            ],
        ),
        0..5,
    );
    let assessments = proptest::collection::vec((instrument, -20.0f64..90.0), 0..20);
    let check_ins = proptest::collection::vec(-5.0f64..90.0, 0..40);
    let entries = proptest::collection::vec((-5.0f64..90.0, any::<bool>(), 0usize..6), 0..15);
    let intentions = proptest::collection::vec((0usize..6, any::<bool>()), 0..5);
    let commitments = proptest::collection::vec((0usize..6, 0i64..100, any::<bool>()), 0..4);
    (
        plan,
        sessions,
        assessments,
        check_ins,
        entries,
        (intentions, commitments),
        -5.0f64..100.0,
    )
        .prop_map(
            |(
                plan,
                sessions,
                assessments,
                check_ins,
                entries,
                (intentions, commitments),
                since,
            )| {
                let sessions: Vec<SessionFact> = sessions
                    .into_iter()
                    .map(|(d, status)| session(day(d), status))
                    .collect();
                let pick = |n: usize| sessions.get(n).map(|s| s.id);
                let history = History {
                    assessments: {
                        let mut a: Vec<_> =
                            assessments.into_iter().map(|(i, d)| (i, day(d))).collect();
                        a.sort_by_key(|(_, at)| *at);
                        a
                    },
                    check_ins: {
                        let mut c: Vec<_> = check_ins.into_iter().map(day).collect();
                        c.sort();
                        c
                    },
                    entries: entries
                        .into_iter()
                        .map(|(d, integration, about)| EntryFact {
                            at: day(d),
                            phase: if integration {
                                Phase::Integration
                            } else {
                                Phase::Preparation
                            },
                            session: pick(about),
                        })
                        .collect(),
                    intentions: intentions
                        .into_iter()
                        .filter_map(|(n, reflected)| {
                            Some(IntentionFact {
                                id: RecordId::new(),
                                session: pick(n)?,
                                reflected,
                            })
                        })
                        .collect(),
                    commitments: commitments
                        .into_iter()
                        .filter_map(|(n, d, open)| {
                            Some(CommitmentFact {
                                id: RecordId::new(),
                                session: pick(n)?,
                                follow_up_on: day(d as f64).date_naive(),
                                open,
                            })
                        })
                        .collect(),
                    sessions,
                };
                (plan, history, since.min(60.0))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if std::env::var("CI").is_ok() { 64 } else { 256 }))]

    /// The agenda never lists something already done since it became due,
    /// and everything the plan and sessions make due appears on it at the
    /// moment it becomes due (unless already done).
    #[test]
    fn the_agenda_lists_nothing_done_and_everything_due(
        (plan, history, since) in arbitrary_history(),
        at in 0.0f64..100.0,
        zone in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/New_York"), Just("Asia/Kolkata")],
    ) {
        let tz: Zone = zone.parse().unwrap();
        let since = day(since);
        let at = day(at);
        let plan_in_force = in_force(&plan, since);
        for item in agenda(plan_in_force, &history, &tz, at) {
            prop_assert!(item.due_at <= at);
            match &item.due {
                Due::Questionnaire { instrument, .. } => prop_assert!(
                    !history.assessments.iter().any(|(i, t)| i == instrument && *t >= item.due_at && *t <= at),
                    "{} listed though taken since it became due", item.key
                ),
                Due::CheckIn { .. } => prop_assert!(
                    !history.check_ins.iter().any(|t| *t >= item.due_at && *t <= at),
                    "{} listed though checked in since", item.key
                ),
                Due::FollowUp { .. } => prop_assert!(
                    !history.entries.iter().any(|e| e.at >= item.due_at && e.at <= at
                        && e.session.map_or(e.phase == Phase::Integration, |s| Some(s) == item.session_id)),
                    "{} listed though answered since", item.key
                ),
                Due::Intention => prop_assert!(
                    !history.intentions.iter().any(|i| Some(i.session) == item.session_id),
                    "{} listed though set", item.key
                ),
                Due::Reflection { intention_id } => prop_assert!(
                    history.intentions.iter().any(|i| i.id == *intention_id && !i.reflected),
                    "{} listed though reflected", item.key
                ),
                Due::Commitment { commitment_id } => prop_assert!(
                    history.commitments.iter().any(|c| c.id == *commitment_id && c.open),
                    "{} listed though looked back on", item.key
                ),
            }
        }
        let horizon = day(120.0);
        for occurrence in occurrences(plan_in_force, &history, &tz, day(-30.0), horizon) {
            if occurrence.done {
                continue;
            }
            let shown = agenda(plan_in_force, &history, &tz, occurrence.due_at);
            prop_assert!(
                shown.iter().any(|i| i.key == occurrence.key),
                "{} due at {} never appears", occurrence.key, occurrence.due_at
            );
        }
    }
}
