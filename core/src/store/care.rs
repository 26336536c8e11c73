//! What is due, when to remind, and what is changing — worked out on the
//! phone from its own journal, offline: the agenda ([`crate::agenda`]),
//! the next reminder ([`crate::reminders`]) and insights
//! ([`crate::insights`]) over the records stored here.
//!
//! The plan in force is the most recently changed plan a linked therapist
//! wrote (as sync delivered it), or else the patient's own (the most
//! recently changed live `carePlan` record). The patient's reminder times,
//! quiet hours and time zone are kept in the journal's settings.

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::{journal_meta, records};
use super::{JournalStore, RecordRow, StoreError, time_to_micros};
use crate::agenda::{self, AgendaItem, History, PlanInForce};
use crate::insights::{self, Insights};
use crate::plan::{AssignedPlan, CarePlan, PlanInEffect, PlanSource};
use crate::records::{Record, RecordBody, RecordKind};
use crate::reminders::{self, QuietHours, ReminderSettings};
use crate::zone::Zone;

const REMINDERS_KEY: &str = "reminder_settings";

/// How the settings are kept.
#[derive(Serialize, Deserialize)]
struct StoredReminders {
    times: Vec<NaiveTime>,
    quiet_hours: Option<QuietHours>,
    time_zone: String,
}

/// The kinds the agenda reads.
const AGENDA_KINDS: [RecordKind; 6] = [
    RecordKind::DosingSession,
    RecordKind::Assessment,
    RecordKind::JournalEntry,
    RecordKind::MoodCheckIn,
    RecordKind::Intention,
    RecordKind::Commitment,
];

/// The kinds insights read.
const INSIGHT_KINDS: [RecordKind; 4] = [
    RecordKind::MoodCheckIn,
    RecordKind::Assessment,
    RecordKind::DosingSession,
    RecordKind::ExercisePractice,
];

/// The plan and since when, as the agenda takes it.
fn in_force(plan: Option<&PlanInEffect>) -> Option<PlanInForce<'_>> {
    plan.map(|p| PlanInForce {
        plan: &p.plan,
        since: p.since,
    })
}

impl JournalStore {
    /// The patient's reminder times, quiet hours and time zone, once set.
    pub fn reminder_settings(&self) -> Result<Option<ReminderSettings>, StoreError> {
        let mut guard = self.lock();
        let stored: Option<String> = journal_meta::table
            .find(REMINDERS_KEY)
            .select(journal_meta::value)
            .first(&mut guard.conn)
            .optional()?;
        let Some(json) = stored else {
            return Ok(None);
        };
        let stored: StoredReminders = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("stored reminder settings: {e}")))?;
        let time_zone = stored
            .time_zone
            .parse::<Zone>()
            .map_err(|_| StoreError::Corrupt(format!("stored time zone {:?}", stored.time_zone)))?;
        Ok(Some(ReminderSettings {
            times: stored.times,
            quiet_hours: stored.quiet_hours,
            time_zone,
        }))
    }

    /// Keeps the patient's reminder times, quiet hours and time zone (they
    /// stay on this device; they are not synced).
    pub fn set_reminder_settings(&self, settings: &ReminderSettings) -> Result<(), StoreError> {
        let json = serde_json::to_string(&StoredReminders {
            times: settings.times.clone(),
            quiet_hours: settings.quiet_hours,
            time_zone: settings.time_zone.name().to_owned(),
        })
        .map_err(|e| StoreError::Corrupt(format!("reminder settings: {e}")))?;
        let mut guard = self.lock();
        diesel::replace_into(journal_meta::table)
            .values((
                journal_meta::key.eq(REMINDERS_KEY),
                journal_meta::value.eq(json),
            ))
            .execute(&mut guard.conn)?;
        Ok(())
    }

    /// The time zone days are counted in: the one in the reminder settings,
    /// or UTC until one is set.
    pub fn time_zone(&self) -> Result<Zone, StoreError> {
        Ok(self
            .reminder_settings()?
            .map_or_else(Zone::utc, |settings| settings.time_zone))
    }

    /// The care plan in force on this device, since when, and who wrote it:
    /// the most recently changed plan from a linked therapist, or else the
    /// patient's own (the most recently changed one).
    pub fn care_plan(&self) -> Result<Option<PlanInEffect>, StoreError> {
        if let Some(assigned) = self.assigned_plans()?.into_iter().next()
            && let Some(plan) = assigned.plan
        {
            return Ok(Some(PlanInEffect {
                plan,
                since: assigned.updated_at,
                source: PlanSource::Therapist {
                    therapist_id: assigned.therapist_id,
                    author: assigned.author,
                },
            }));
        }
        Ok(self.own_care_plan()?.map(|(plan, since)| PlanInEffect {
            plan,
            since,
            source: PlanSource::Patient,
        }))
    }

    /// The patient's own care plan (the most recently changed live
    /// `carePlan` record) and since when, whether or not a therapist's
    /// plan takes precedence.
    pub fn own_care_plan(&self) -> Result<Option<(CarePlan, DateTime<Utc>)>, StoreError> {
        let plans = self.live_of_kinds(&[RecordKind::CarePlan], None)?;
        Ok(plans
            .into_iter()
            .filter_map(|record| match record.body {
                RecordBody::CarePlan(plan) => Some((plan, record.updated_at)),
                _ => None,
            })
            .max_by_key(|(_, since)| *since))
    }

    /// The care plans the patient's linked therapists wrote, as the last
    /// sync brought them, most recently changed first.
    pub fn assigned_plans(&self) -> Result<Vec<AssignedPlan>, StoreError> {
        let mut guard = self.lock();
        super::assigned_plans::all(&mut guard.conn)
    }

    /// What is due or overdue at `at`, oldest first (see
    /// [`crate::agenda`] for the rules).
    pub fn agenda(&self, at: DateTime<Utc>) -> Result<Vec<AgendaItem>, StoreError> {
        let plan = self.care_plan()?;
        let history = self.history()?;
        let tz = self.time_zone()?;
        Ok(agenda::agenda(in_force(plan.as_ref()), &history, &tz, at))
    }

    /// The next moment after `after` at which the app should show a
    /// reminder: one of the patient's reminder times, outside quiet hours,
    /// when something will be due. `None` without reminder settings, or
    /// when nothing is due at any reminder time in the next 60 days.
    pub fn next_reminder_at(
        &self,
        after: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(settings) = self.reminder_settings()? else {
            return Ok(None);
        };
        let plan = self.care_plan()?;
        let history = self.history()?;
        let horizon = after + chrono::TimeDelta::days(reminders::HORIZON_DAYS as i64 + 1);
        let occurrences = agenda::occurrences(
            in_force(plan.as_ref()),
            &history,
            &settings.time_zone,
            after - chrono::TimeDelta::days(400),
            horizon,
        );
        Ok(reminders::next_reminder_at(&settings, after, |t| {
            occurrences.iter().any(|o| o.is_open_at(t))
        }))
    }

    /// Insights over the records about moments in `[from, to)` (see
    /// [`crate::insights`]).
    pub fn insights(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Insights, StoreError> {
        let records = self.live_of_kinds(&INSIGHT_KINDS, None)?;
        Ok(insights::insights(&records, from, to, &self.time_zone()?))
    }

    fn history(&self) -> Result<History, StoreError> {
        Ok(History::from_records(
            &self.live_of_kinds(&AGENDA_KINDS, None)?,
        ))
    }

    /// Every live record of these kinds (about a moment at or after `from`,
    /// when given).
    fn live_of_kinds(
        &self,
        kinds: &[RecordKind],
        from: Option<DateTime<Utc>>,
    ) -> Result<Vec<Record>, StoreError> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let mut guard = self.lock();
        let mut sql = records::table
            .filter(records::deleted.eq(false))
            .filter(records::kind.eq_any(kinds))
            .select(RecordRow::as_select())
            .into_boxed();
        if let Some(from) = from {
            sql = sql.filter(records::occurred_at.ge(time_to_micros(from)));
        }
        let rows: Vec<RecordRow> = sql.load(&mut guard.conn)?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agenda::Due;
    use crate::records::{Assessment, DosingSession, Instrument, MoodCheckIn, Route};

    fn store() -> (tempfile::TempDir, JournalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::open(dir.path().join("journal.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn the_agenda_follows_the_patients_own_plan_and_clears_when_done() {
        let (_dir, store) = store();
        let now = Utc::now();
        assert!(store.agenda(now).unwrap().is_empty(), "an empty journal");
        let plan: CarePlan = serde_json::from_str(
            r#"{"measures": [{"instrument": "phq9", "everyDays": 14}], "checkIns": "daily"}"#,
        )
        .unwrap();
        store.create(RecordBody::CarePlan(plan)).unwrap();
        let due = store.agenda(Utc::now()).unwrap();
        let whats: Vec<&Due> = due.iter().map(|i| &i.due).collect();
        assert!(
            whats.iter().any(|d| matches!(
                d,
                Due::Questionnaire {
                    instrument: Instrument::Phq9,
                    ..
                }
            )),
            "{whats:?}"
        );
        assert!(
            whats.iter().any(|d| matches!(d, Due::CheckIn { .. })),
            "{whats:?}"
        );
        // Doing them clears them, offline.
        store
            .create(
                Assessment::new(Instrument::Phq9, Utc::now(), vec![1; 9])
                    .unwrap()
                    .into(),
            )
            .unwrap();
        store
            .create(MoodCheckIn::new(Utc::now(), 6, 3, 5).unwrap().into())
            .unwrap();
        assert!(store.agenda(Utc::now()).unwrap().is_empty());
        // A planned session next week brings its intention.
        store
            .create(
                DosingSession::new(
                    Utc::now() + chrono::TimeDelta::days(6),
                    Route::Intramuscular,
                )
                .unwrap()
                .into(),
            )
            .unwrap();
        let due = store.agenda(Utc::now()).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].due, Due::Intention);
    }

    fn plan_change(
        version: u64,
        id: uuid::Uuid,
        therapist: uuid::Uuid,
        plan: Option<CarePlan>,
        at: DateTime<Utc>,
    ) -> crate::sync::PullResponse {
        crate::sync::PullResponse {
            changes: vec![crate::sync::PulledChange::CarePlan {
                version: crate::sync::OwnerVersion(version),
                care_plan: AssignedPlan {
                    id,
                    therapist_id: therapist,
                    author: "Dr. Lee".to_owned(),
                    plan,
                    updated_at: at,
                },
            }],
            cursor: crate::sync::OwnerVersion(version),
            has_more: false,
            last_applied_mutation: None,
            server_time: None,
        }
    }

    #[test]
    fn a_therapists_plan_from_sync_takes_precedence_until_it_is_withdrawn() {
        let (_dir, store) = store();
        let own: CarePlan = serde_json::from_str(r#"{"checkIns": "weekly"}"#).unwrap();
        store.create(RecordBody::CarePlan(own.clone())).unwrap();
        assert_eq!(
            store.care_plan().unwrap().unwrap().source,
            PlanSource::Patient
        );
        let (id, therapist) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let theirs: CarePlan =
            serde_json::from_str(r#"{"measures": [{"instrument": "gad7", "everyDays": 7}]}"#)
                .unwrap();
        // Microseconds, as the server keeps them.
        let set_at = DateTime::from_timestamp_micros(
            (Utc::now() - chrono::TimeDelta::hours(1)).timestamp_micros(),
        )
        .unwrap();
        let report = store
            .apply_pull(&plan_change(3, id, therapist, Some(theirs.clone()), set_at))
            .unwrap();
        assert_eq!(report.care_plans, 1);
        let in_force = store.care_plan().unwrap().unwrap();
        assert_eq!(in_force.plan, theirs);
        assert_eq!(in_force.since, set_at);
        assert_eq!(
            in_force.source,
            PlanSource::Therapist {
                therapist_id: therapist,
                author: "Dr. Lee".to_owned()
            }
        );
        // The patient's own plan is still there, for when it counts again.
        assert_eq!(store.own_care_plan().unwrap().unwrap().0, own);
        // The agenda follows the therapist's plan: a GAD-7, no check-in.
        let due = store.agenda(Utc::now()).unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert!(matches!(
            due[0].due,
            Due::Questionnaire {
                instrument: Instrument::Gad7,
                ..
            }
        ));
        // Applying the same page again changes nothing.
        store
            .apply_pull(&plan_change(3, id, therapist, Some(theirs), set_at))
            .unwrap();
        assert_eq!(store.assigned_plans().unwrap().len(), 1);
        // Withdrawn: the patient's own plan is in force again.
        store
            .apply_pull(&plan_change(4, id, therapist, None, Utc::now()))
            .unwrap();
        assert!(store.assigned_plans().unwrap().is_empty());
        assert_eq!(
            store.care_plan().unwrap().unwrap().source,
            PlanSource::Patient
        );
        // A plan the rules refuse stops the page, which changes nothing.
        let broken = CarePlan {
            measures: vec![crate::plan::MeasurePlan {
                instrument: Instrument::Phq9,
                every_days: Some(0),
                before_each_session: false,
                days_after_session: Vec::new(),
            }],
            follow_ups: None,
            check_ins: None,
        };
        assert!(matches!(
            store.apply_pull(&plan_change(5, id, therapist, Some(broken), Utc::now())),
            Err(StoreError::UnreadableChange { .. })
        ));
        assert!(store.assigned_plans().unwrap().is_empty());
        assert_eq!(store.pull_cursor().unwrap(), crate::sync::OwnerVersion(4));
    }

    #[test]
    fn reminder_settings_are_kept_and_reminders_wait_for_something_due() {
        let (_dir, store) = store();
        assert_eq!(store.reminder_settings().unwrap(), None);
        assert_eq!(
            store.next_reminder_at(Utc::now()).unwrap(),
            None,
            "no settings, no reminders"
        );
        let settings = ReminderSettings::parse(
            &["09:00".to_owned(), "20:00".to_owned()],
            Some(("22:00", "07:00")),
            "Europe/Berlin",
        )
        .unwrap();
        store.set_reminder_settings(&settings).unwrap();
        assert_eq!(store.reminder_settings().unwrap(), Some(settings));
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        assert_eq!(store.time_zone().unwrap(), berlin);
        // Nothing planned: nothing to remind of.
        assert_eq!(store.next_reminder_at(Utc::now()).unwrap(), None);
        let plan: CarePlan = serde_json::from_str(r#"{"checkIns": "daily"}"#).unwrap();
        store.create(RecordBody::CarePlan(plan)).unwrap();
        let next = store
            .next_reminder_at(Utc::now())
            .unwrap()
            .expect("a reminder");
        let local = berlin.time_of(next);
        assert!(
            local == NaiveTime::from_hms_opt(9, 0, 0).unwrap()
                || local == NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            "{local}"
        );
        assert!(next > Utc::now() && next < Utc::now() + chrono::TimeDelta::days(2));
    }

    #[test]
    fn insights_read_this_journal() {
        let (_dir, store) = store();
        let start = Utc::now() - chrono::TimeDelta::days(10);
        for day in 0..10 {
            store
                .create(
                    MoodCheckIn::new(
                        start + chrono::TimeDelta::days(day),
                        4 + (day % 3) as u8,
                        5,
                        5,
                    )
                    .unwrap()
                    .into(),
                )
                .unwrap();
        }
        let found = store.insights(start, Utc::now()).unwrap();
        assert_eq!(found.check_ins.mood.count, 10);
        assert!(found.check_ins.mood.trend_per_week.is_some());
    }
}
