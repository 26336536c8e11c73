//! Sync end to end: a real server on a loopback port, phones with journals
//! of their own syncing over HTTP; on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use journal_core::hlc::{ManualClock, SystemClock, WallClock};

use journal_core::records::{
    DosingSession, Intention, JournalEntry, MoodCheckIn, RecordBody, Route,
};
use journal_core::sync::SyncError;
use journal_core::{Phase, RecordId};
use journal_e2e::{Fault, LiveServer, Phone, on_both_backends};

const PASSWORD: &str = "a long passphrase";

fn patient(server: &LiveServer, name: &str) -> String {
    let email = format!("{name}@example.org");
    server.register(&email, PASSWORD);
    email
}

fn entry(text: &str) -> RecordBody {
    JournalEntry::new(text, Phase::Integration).unwrap().into()
}

fn text_of(body: &serde_json::Value) -> &str {
    body["body"].as_str().unwrap_or("")
}

/// A year, in milliseconds.
const YEAR_MILLIS: u64 = 366 * 24 * 3600 * 1000;

/// Clock stamps are milliseconds: let one tick pass so edits on two phones
/// are ordered the way the test means.
fn tick() {
    std::thread::sleep(Duration::from_millis(5));
}

on_both_backends! {
    fn phones_writing_offline_converge_whatever_the_order(server: LiveServer) {
        let email = patient(&server, "ana");
        let a = Phone::new(&server, &email, PASSWORD);
        let b = Phone::new(&server, &email, PASSWORD);
        // Both offline: each writes its own.
        a.store.create(entry("written on the bus")).unwrap();
        a.store.create(MoodCheckIn::new(chrono::Utc::now(), 6, 3, 5).unwrap().into()).unwrap();
        let session = b.store.create(DosingSession::new(chrono::Utc::now(), Route::Intramuscular).unwrap().into()).unwrap();
        b.store.create(Intention::new("Stay with what comes", session.id).unwrap().into()).unwrap();
        b.store.create(entry("written at home")).unwrap();

        let report = b.client.sync().unwrap();
        assert_eq!((report.pushed, report.rejected), (3, 0));
        a.client.sync().unwrap();
        b.client.sync().unwrap();

        let server_view = server.holdings(&email, PASSWORD).live();
        assert_eq!(server_view.len(), 5);
        assert_eq!(a.live(), server_view);
        assert_eq!(b.live(), server_view);
        assert_eq!(a.store.pending_change_count().unwrap(), 0);
    }

    fn the_same_entry_edited_on_two_phones_keeps_both_texts(server: LiveServer) {
        let email = patient(&server, "bo");
        let a = Phone::new(&server, &email, PASSWORD);
        let b = Phone::new(&server, &email, PASSWORD);
        let record = a.store.create(entry("the first draft")).unwrap();
        a.client.sync().unwrap();
        b.client.sync().unwrap();

        a.store.update(record.id, entry("the phone's version")).unwrap();
        tick();
        b.store.update(record.id, entry("the tablet's version")).unwrap();
        a.client.sync().unwrap();
        let report = b.client.sync().unwrap();
        assert_eq!(report.conflicts, 1);
        a.client.sync().unwrap();

        // The later edit is current everywhere; the other is a revision
        // everywhere.
        for phone in [&a, &b] {
            let current = phone.store.get(record.id).unwrap();
            assert_eq!(current.body, entry("the tablet's version"));
            let revisions = phone.store.revisions(record.id).unwrap();
            assert_eq!(revisions.len(), 1, "{revisions:?}");
            assert_eq!(text_of(&revisions[0].body), "the phone's version");
        }
        let texts = server.holdings(&email, PASSWORD).texts_of(record.id);
        assert!(texts.iter().any(|t| t.contains("the phone's version")));
        assert!(texts.iter().any(|t| t.contains("the tablet's version")));

        // The patient restores the losing text: it becomes current, and the
        // other phone follows.
        let revision = a.store.revisions(record.id).unwrap()[0].id;
        a.store.restore_revision(revision).unwrap();
        a.client.sync().unwrap();
        b.client.sync().unwrap();
        assert_eq!(b.store.get(record.id).unwrap().body, entry("the phone's version"));
    }

    fn delete_against_edit_the_later_wins_and_no_text_is_lost(server: LiveServer) {
        let email = patient(&server, "cy");
        let a = Phone::new(&server, &email, PASSWORD);
        let b = Phone::new(&server, &email, PASSWORD);
        let first = a.store.create(entry("to be deleted, then edited")).unwrap();
        let second = a.store.create(entry("to be edited, then deleted")).unwrap();
        a.client.sync().unwrap();
        b.client.sync().unwrap();

        // First record: deleted on A, then edited later on B: the edit wins.
        a.store.delete(first.id).unwrap();
        tick();
        b.store.update(first.id, entry("edited after the delete")).unwrap();
        // Second record: edited on B, then deleted later on A: the delete
        // wins, and the edited text is kept as a revision.
        b.store.update(second.id, entry("edited before the delete")).unwrap();
        tick();
        a.store.delete(second.id).unwrap();

        a.client.sync().unwrap();
        b.client.sync().unwrap();
        a.client.sync().unwrap();

        for phone in [&a, &b] {
            assert_eq!(phone.store.get(first.id).unwrap().body, entry("edited after the delete"));
            assert!(phone.store.get(second.id).is_err(), "the later delete wins");
        }
        let holdings = server.holdings(&email, PASSWORD);
        assert!(holdings.texts_of(second.id).iter().any(|t| t.contains("edited before the delete")));
        assert_eq!(a.live(), holdings.live());
        assert_eq!(b.live(), holdings.live());
    }

    fn a_phone_whose_clock_runs_a_year_ahead_loses_nothing_and_drags_no_one_along(server: LiveServer) {
        let email = patient(&server, "fay");
        let wrong = ManualClock::at(SystemClock.now_millis() + YEAR_MILLIS);
        let a = Phone::with_clock(&server, &email, PASSWORD, Arc::new(wrong.clone()));
        let b = Phone::new(&server, &email, PASSWORD);
        // Written offline with the clock a year ahead: an entry edited
        // twice (each edit built on the one before) and another entry.
        let kept = a.store.create(entry("first draft")).unwrap();
        a.store.update(kept.id, entry("second draft")).unwrap();
        a.store.update(kept.id, entry("written with the clock a year ahead")).unwrap();
        let other = a.store.create(entry("another one")).unwrap();

        // The server refuses the stamps; the phone learns the server's time,
        // stamps its changes again and sends them: all taken, none lost.
        let report = a.client.sync().unwrap();
        assert_eq!((report.pushed, report.rejected, report.conflicts), (4, 0, 0), "{report:?}");
        assert_eq!(a.store.pending_change_count().unwrap(), 0);
        let ahead = a.store.clock_ahead_millis();
        assert!(ahead > YEAR_MILLIS - 120_000 && ahead <= YEAR_MILLIS, "{ahead}");
        let holdings = server.holdings(&email, PASSWORD);
        assert_eq!(a.live(), holdings.live());
        assert_eq!(holdings.live().len(), 2);

        // The other phone gets everything, and its clock is not dragged a
        // year ahead: its own edits still order after the wrong phone's.
        b.client.sync().unwrap();
        assert_eq!(b.live(), holdings.live());
        let latest = SystemClock.now_millis() + 15 * 60 * 1000;
        assert!(b.store.last_stamp().millis() <= latest, "{}", b.store.last_stamp());
        assert!(a.store.last_stamp().millis() <= latest, "{}", a.store.last_stamp());
        tick();
        b.store.update(kept.id, entry("edited later, on the phone with the right clock")).unwrap();
        b.client.sync().unwrap();
        a.client.sync().unwrap();
        assert_eq!(a.store.get(kept.id).unwrap().body, entry("edited later, on the phone with the right clock"));

        // After a restart the correction is kept: the next edit goes
        // through at once, and wins over the older one as it should.
        let a = a.restart();
        tick();
        a.store.update(other.id, entry("edited after a restart")).unwrap();
        let report = a.client.sync().unwrap();
        assert_eq!((report.pushed, report.rejected), (1, 0), "{report:?}");
        b.client.sync().unwrap();
        assert_eq!(b.store.get(other.id).unwrap().body, entry("edited after a restart"));

        // The clock is put right: the correction goes back to zero.
        wrong.set(SystemClock.now_millis());
        a.client.sync().unwrap();
        assert_eq!(a.store.clock_ahead_millis(), 0);
        assert_eq!(a.live(), server.holdings(&email, PASSWORD).live());
    }

    fn changes_written_while_the_clock_was_ahead_are_sent_once_it_is_right(server: LiveServer) {
        let email = patient(&server, "gus");
        let clock = ManualClock::at(SystemClock.now_millis() + 3 * 24 * 3600 * 1000);
        let a = Phone::with_clock(&server, &email, PASSWORD, Arc::new(clock.clone()));
        let written = a.store.create(entry("written while the clock was three days ahead")).unwrap();
        // The clock is put right before the phone syncs: its waiting change
        // still carries the stamp from three days ahead.
        clock.set(SystemClock.now_millis());
        let report = a.client.sync().unwrap();
        assert_eq!((report.pushed, report.rejected), (1, 0), "{report:?}");
        assert_eq!(a.store.clock_ahead_millis(), 0);
        let holdings = server.holdings(&email, PASSWORD);
        assert_eq!(holdings.live().len(), 1);
        assert_eq!(a.store.get(written.id).unwrap().body, entry("written while the clock was three days ahead"));
        assert_eq!(a.live(), holdings.live());
    }

    fn a_push_whose_answer_is_lost_is_retried_without_applying_twice(server: LiveServer) {
        let email = patient(&server, "di");
        let a = Phone::new(&server, &email, PASSWORD);
        for n in 0..3 {
            a.store.create(entry(&format!("entry {n}"))).unwrap();
        }
        // The server commits the push, the answer never arrives.
        a.network.script([Fault::DropResponse]);
        let error = a.client.sync().unwrap_err();
        assert!(matches!(error, SyncError::Network(_)), "{error:?}");
        assert_eq!(server.holdings(&email, PASSWORD).live().len(), 3, "the server has them");
        assert_eq!(a.store.pending_change_count().unwrap(), 3, "the phone keeps them until told");

        // Sent again: answered as the first time, nothing applied twice.
        let before = server.holdings(&email, PASSWORD);
        a.client.sync().unwrap();
        let after = server.holdings(&email, PASSWORD);
        assert_eq!(after.live(), before.live());
        assert_eq!(after.records.len(), 3);
        assert!(after.revisions.is_empty());
        assert_eq!(a.store.pending_change_count().unwrap(), 0);

        // Duplicated requests and a late copy of an old push change nothing.
        a.store.create(entry("entry 3")).unwrap();
        a.network.script([Fault::Duplicate, Fault::Duplicate]);
        a.client.sync().unwrap();
        let settled = server.holdings(&email, PASSWORD);
        assert_eq!(settled.records.len(), 4);
        a.network.replay_old_push(0).unwrap().unwrap();
        assert_eq!(server.holdings(&email, PASSWORD).records, settled.records);
    }

    fn a_phone_killed_mid_sync_resumes_with_nothing_lost(server: LiveServer) {
        let email = patient(&server, "ed");
        let a = Phone::new(&server, &email, PASSWORD);
        let bodies: Vec<RecordBody> = (0..1_200).map(|n| entry(&format!("note {n}"))).collect();
        a.store.create_many(bodies).unwrap();
        // The second push batch never arrives; the app is killed.
        a.network.script([Fault::None, Fault::DropRequest]);
        assert!(a.client.sync().is_err());
        let a = a.restart();
        a.client.sync().unwrap();
        let holdings = server.holdings(&email, PASSWORD);
        assert_eq!(holdings.records.len(), 1_200);
        assert_eq!(a.live(), holdings.live());
        assert_eq!(a.store.pending_change_count().unwrap(), 0);
    }

    fn a_phone_restored_from_a_backup_loses_nothing(server: LiveServer) {
        let email = patient(&server, "fay");
        let a = Phone::new(&server, &email, PASSWORD);
        let kept = a.store.create(entry("written before the backup")).unwrap();
        a.client.sync().unwrap();
        let backup = tempfile::tempdir().unwrap();
        let backup_file = backup.path().join("journal.db");
        let a = a.restart_after(|path| {
            std::fs::copy(path, &backup_file).unwrap();
        });
        let lost_phone = a.store.create(entry("written after the backup")).unwrap();
        a.client.sync().unwrap();

        // The phone is restored from the backup: its change numbers go back.
        let a = a.restart_after(|path| {
            std::fs::copy(&backup_file, path).unwrap();
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        });
        let old_device = a.store.device_id();
        let fresh = a.store.create(entry("written after the restore")).unwrap();
        a.client.sync().unwrap();
        assert_ne!(a.store.device_id(), old_device, "took a new device id");

        let holdings = server.holdings(&email, PASSWORD);
        let live: Vec<RecordId> = holdings.live().into_iter().map(|(id, _)| id).collect();
        for id in [kept.id, lost_phone.id, fresh.id] {
            assert!(live.contains(&id), "{id} is on the server");
        }
        assert_eq!(a.live(), holdings.live(), "and back on the restored phone");
    }

    fn ten_thousand_records_reach_a_fresh_phone(server: LiveServer) {
        let email = patient(&server, "gil");
        let a = Phone::new(&server, &email, PASSWORD);
        for chunk in 0..10 {
            let bodies: Vec<RecordBody> =
                (0..1_000).map(|n| entry(&format!("entry {chunk}-{n}: a line of writing"))).collect();
            a.store.create_many(bodies).unwrap();
        }
        let pushed = a.client.sync().unwrap();
        assert_eq!(pushed.pushed, 10_000);
        let b = Phone::new(&server, &email, PASSWORD);
        let pulled = b.client.sync().unwrap();
        assert_eq!(pulled.pulled, 10_000);
        let on_b = b.live();
        assert_eq!(on_b.len(), 10_000);
        assert_eq!(on_b, a.live());
    }
}
