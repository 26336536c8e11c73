//! Every rule of every record kind at its accepting and its rejecting edge,
//! and every scoring band at both of its ends.

use chrono::{TimeZone, Utc};

use super::*;
use crate::validation::InvalidInput;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap()
}

fn entry() -> JournalEntry {
    JournalEntry::new("Today I noticed the light.", Phase::Integration).unwrap()
}

#[track_caller]
fn rejects(result: Result<(), InvalidInput>, field: &str, rule: &str) {
    let err = result.expect_err("should be rejected");
    assert!(
        err.has(field, rule),
        "expected {field}/{rule}, got {:?}",
        err.violations
    );
}

fn chars(n: usize) -> String {
    "é".repeat(n) // multi-byte: limits count characters, not bytes
}

// ---- journal entries ----

#[test]
fn entry_title_edges() {
    let mut e = entry();
    e.title = Some(chars(200));
    assert!(e.validate().is_ok());
    e.title = Some(chars(201));
    rejects(e.validate(), "title", "length");
    e.title = Some(String::new());
    rejects(e.validate(), "title", "length");
    e.title = Some("   ".into());
    rejects(e.validate(), "title", "not_blank");
    e.title = Some("line\nbreak".into());
    rejects(e.validate(), "title", "single_line");
    e.title = None;
    assert!(e.validate().is_ok());
}

#[test]
fn entry_body_edges() {
    let mut e = entry();
    e.body = "x".into();
    assert!(e.validate().is_ok());
    e.body = chars(100_000);
    assert!(e.validate().is_ok());
    e.body = chars(100_001);
    rejects(e.validate(), "body", "length");
    e.body = String::new();
    rejects(e.validate(), "body", "length");
    e.body = " \n\t ".into();
    rejects(e.validate(), "body", "not_blank");
    e.body = "para one\n\npara two\twith tab".into();
    assert!(e.validate().is_ok());
    e.body = "escape \u{1b}[31m".into();
    rejects(e.validate(), "body", "control_characters");
}

#[test]
fn entry_prompt_must_exist() {
    let mut e = entry();
    let first = crate::prompts::for_phase(e.phase).next().unwrap().id;
    e.prompt_id = Some(first.into());
    assert!(e.validate().is_ok());
    e.prompt_id = Some("no-such-prompt".into());
    rejects(e.validate(), "promptId", "unknown_prompt");
}

#[test]
fn entry_tag_edges() {
    let mut e = entry();
    e.tags = (0..20).map(|i| format!("tag{i}")).collect();
    assert!(e.validate().is_ok());
    e.tags = (0..21).map(|i| format!("tag{i}")).collect();
    rejects(e.validate(), "tags", "length");
    e.tags = vec!["x".repeat(40)];
    assert!(e.validate().is_ok());
    e.tags = vec!["x".repeat(41)];
    rejects(e.validate(), "tags", "label_length");
    e.tags = vec!["Calm".into(), "calm".into()];
    rejects(e.validate(), "tags", "unique");
    e.tags = vec!["".into()];
    rejects(e.validate(), "tags", "not_blank");
}

#[test]
fn entry_json_is_camel_case_and_strict() {
    let mut e = entry();
    e.prompt_id = Some(crate::prompts::all()[0].id.into());
    e.dosing_session_id = Some(RecordId::new());
    let json = serde_json::to_value(&e).unwrap();
    assert!(json.get("promptId").is_some());
    assert!(json.get("dosingSessionId").is_some());
    let back: JournalEntry = serde_json::from_value(json).unwrap();
    assert_eq!(back, e);
    let unknown = r#"{"body":"x","phase":"dosing","ownerId":"someone"}"#;
    assert!(serde_json::from_str::<JournalEntry>(unknown).is_err());
    let bad_phase = r#"{"body":"x","phase":"afterglow"}"#;
    assert!(serde_json::from_str::<JournalEntry>(bad_phase).is_err());
}

#[test]
fn constructors_reject_invalid_input_with_the_field() {
    let err = JournalEntry::new("  ", Phase::Dosing).unwrap_err();
    assert!(err.has("body", "not_blank"));
    let err = Intention::new("", RecordId::new()).unwrap_err();
    assert!(err.has("text", "length"));
    let err = MoodCheckIn::new(at(), 11, 0, 0).unwrap_err();
    assert!(err.has("mood", "range"));
    let err = Assessment::new(Instrument::Gad7, at(), vec![0; 9]).unwrap_err();
    assert!(err.has("answers", "item_count"));
    let err = ExercisePractice::new("nope", at(), 0, 0, 0).unwrap_err();
    assert!(err.has("exerciseId", "unknown_exercise"));
    assert!(DosingSession::new(at(), Route::Lozenge).is_ok());
}

// ---- intentions ----

#[test]
fn intention_text_edges() {
    let mut i = Intention::new("To meet my grief with kindness", RecordId::new()).unwrap();
    assert_eq!(i.status, IntentionStatus::Open);
    i.text = chars(2_000);
    assert!(i.validate().is_ok());
    i.text = chars(2_001);
    rejects(i.validate(), "text", "length");
    i.text = "\n".into();
    rejects(i.validate(), "text", "not_blank");
}

#[test]
fn intention_reflection_edges() {
    let mut i = Intention::new("Listen to my body", RecordId::new()).unwrap();
    i.reflection = Some(Reflection {
        how_it_went: chars(20_000),
        carry_forward: String::new(),
    });
    i.status = IntentionStatus::PartlyFulfilled;
    assert!(i.validate().is_ok());
    i.reflection = Some(Reflection {
        how_it_went: String::new(),
        carry_forward: chars(20_001),
    });
    rejects(i.validate(), "reflection.carryForward", "length");
    i.reflection = Some(Reflection {
        how_it_went: " ".into(),
        carry_forward: "".into(),
    });
    rejects(i.validate(), "reflection", "not_blank");
    i.reflection = Some(Reflection {
        how_it_went: "ok\u{0}".into(),
        carry_forward: "".into(),
    });
    rejects(i.validate(), "reflection.howItWent", "control_characters");
    let json = serde_json::to_value(&i).unwrap();
    assert_eq!(json["reflection"]["howItWent"], "ok\u{0}");
    assert!(
        serde_json::from_str::<IntentionStatus>("\"partlyFulfilled\"").is_ok(),
        "statuses are camelCase"
    );
}

// ---- mood check-ins ----

#[test]
fn mood_scale_edges() {
    let mut m = MoodCheckIn::new(at(), 0, 10, 5).unwrap();
    assert!(m.validate().is_ok());
    m.mood = 10;
    assert!(m.validate().is_ok());
    m.mood = 11;
    rejects(m.validate(), "mood", "range");
    m.mood = 5;
    m.anxiety = 11;
    rejects(m.validate(), "anxiety", "range");
    m.anxiety = 5;
    m.energy = 11;
    rejects(m.validate(), "energy", "range");
    assert!(
        serde_json::from_str::<MoodCheckIn>(
            r#"{"recordedAt":"2026-01-01T00:00:00Z","mood":-1,"anxiety":0,"energy":0}"#
        )
        .is_err()
    );
}

#[test]
fn valid_sleep_hours_read_back_exactly_from_stored_json() {
    // Found by fuzzing: a tiny (subnormal) number of hours is valid, and
    // came back from its stored JSON as another number.
    let mut m = MoodCheckIn::new(at(), 5, 5, 5).unwrap();
    for hours in [
        f64::from_bits(0x0000_7a75_2b6c_1f00),
        6.59779337413797e-310,
        0.1 + 0.2,
    ] {
        m.sleep_hours = Some(hours);
        assert!(m.validate().is_ok(), "{hours}");
        let body = RecordBody::MoodCheckIn(m.clone());
        let back =
            RecordBody::from_json(RecordKind::MoodCheckIn, &body.to_json().unwrap()).unwrap();
        assert_eq!(back, body, "{hours}");
    }
}

#[test]
fn mood_sleep_emotion_and_note_edges() {
    let mut m = MoodCheckIn::new(at(), 5, 5, 5).unwrap();
    for ok in [0.0, 7.5, 24.0] {
        m.sleep_hours = Some(ok);
        assert!(m.validate().is_ok(), "{ok}");
    }
    for bad in [-0.1, 24.01, f64::NAN, f64::INFINITY] {
        m.sleep_hours = Some(bad);
        rejects(m.validate(), "sleepHours", "range");
    }
    m.sleep_hours = None;
    m.emotions = (0..12).map(|i| format!("feeling{i}")).collect();
    assert!(m.validate().is_ok());
    m.emotions.push("one more".into());
    rejects(m.validate(), "emotions", "length");
    m.emotions = vec!["sad\tand".into()];
    rejects(m.validate(), "emotions", "single_line");
    m.emotions.clear();
    m.note = Some(chars(5_000));
    assert!(m.validate().is_ok());
    m.note = Some(chars(5_001));
    rejects(m.validate(), "note", "length");
}

// ---- assessments ----

fn phq9(answers: [u8; 9]) -> AssessmentScore {
    Assessment::new(Instrument::Phq9, at(), answers.to_vec())
        .unwrap()
        .score()
        .unwrap()
}

fn gad7(answers: [u8; 7]) -> AssessmentScore {
    Assessment::new(Instrument::Gad7, at(), answers.to_vec())
        .unwrap()
        .score()
        .unwrap()
}

#[test]
fn phq9_band_edges() {
    use Severity::*;
    let cases = [
        (0, Minimal),
        (4, Minimal),
        (5, Mild),
        (9, Mild),
        (10, Moderate),
        (14, Moderate),
        (15, ModeratelySevere),
        (19, ModeratelySevere),
        (20, Severe),
        (27, Severe),
    ];
    for (total, band) in cases {
        assert_eq!(
            Instrument::Phq9.severity(total),
            Some(band),
            "PHQ-9 {total}"
        );
    }
    assert_eq!(Instrument::Phq9.severity(28), None);
}

#[test]
fn gad7_band_edges() {
    use Severity::*;
    let cases = [
        (0, Minimal),
        (4, Minimal),
        (5, Mild),
        (9, Mild),
        (10, Moderate),
        (14, Moderate),
        (15, Severe),
        (21, Severe),
    ];
    for (total, band) in cases {
        assert_eq!(
            Instrument::Gad7.severity(total),
            Some(band),
            "GAD-7 {total}"
        );
    }
    assert_eq!(Instrument::Gad7.severity(22), None);
}

#[test]
fn scoring_sums_answers_into_the_band() {
    let s = phq9([3, 3, 3, 3, 3, 3, 3, 3, 0]);
    assert_eq!(
        (s.total, s.severity, s.risk_flag),
        (24, Severity::Severe, false)
    );
    let s = phq9([1, 1, 1, 1, 1, 0, 0, 0, 0]);
    assert_eq!((s.total, s.severity), (5, Severity::Mild));
    let s = gad7([3; 7]);
    assert_eq!(
        (s.total, s.severity, s.risk_flag),
        (21, Severity::Severe, false)
    );
    let s = gad7([2, 2, 0, 0, 0, 0, 0]);
    assert_eq!((s.total, s.severity), (4, Severity::Minimal));
}

#[test]
fn phq9_item_nine_is_the_risk_flag() {
    assert!(!phq9([0; 9]).risk_flag);
    assert!(!phq9([3, 3, 3, 3, 3, 3, 3, 3, 0]).risk_flag);
    for answer in 1..=3 {
        let s = phq9([0, 0, 0, 0, 0, 0, 0, 0, answer]);
        assert!(s.risk_flag, "item 9 = {answer}");
        assert_eq!(
            s.severity,
            Severity::Minimal,
            "the flag does not depend on the total"
        );
    }
}

#[test]
fn assessment_answer_edges() {
    let mut a = Assessment::new(Instrument::Phq9, at(), vec![3; 9]).unwrap();
    a.answers[4] = 4;
    rejects(a.validate(), "answers[4]", "range");
    assert!(a.score().is_err(), "no score for invalid answers");
    a.answers = vec![0; 8];
    rejects(a.validate(), "answers", "item_count");
    a.answers = vec![0; 10];
    rejects(a.validate(), "answers", "item_count");
    a.instrument = Instrument::Gad7;
    a.answers = vec![0; 7];
    assert!(a.validate().is_ok());
    assert_eq!(serde_json::to_value(Instrument::Phq9).unwrap(), "phq9");
}

// ---- exercise practice ----

#[test]
fn practice_edges() {
    let exercise = crate::grounding::find("box-breathing").unwrap();
    let max = exercise.total_steps();
    let mut p = ExercisePractice::new("box-breathing", at(), max, 10, 0).unwrap();
    assert_eq!(p.relief(), 10);
    p.steps_completed = max + 1;
    rejects(p.validate(), "stepsCompleted", "range");
    p.steps_completed = 0;
    assert!(p.validate().is_ok());
    p.distress_before = 11;
    rejects(p.validate(), "distressBefore", "range");
    p.distress_before = 0;
    p.distress_after = 11;
    rejects(p.validate(), "distressAfter", "range");
    p.distress_after = 3;
    assert_eq!(p.relief(), -3);
    p.exercise_id = "Box-Breathing".into();
    rejects(p.validate(), "exerciseId", "unknown_exercise");
}

// ---- dosing sessions ----

#[test]
fn dosing_session_edges() {
    let mut s = DosingSession::new(at(), Route::NasalSpray).unwrap();
    assert_eq!(s.status, SessionStatus::Planned);
    s.notes = Some(chars(10_000));
    assert!(s.validate().is_ok());
    s.notes = Some(chars(10_001));
    rejects(s.validate(), "notes", "length");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["route"], "nasalSpray");
    for route in ["lozenge", "nasalSpray", "intramuscular", "intravenous"] {
        let text = format!(r#"{{"scheduledAt":"2026-01-01T10:00:00Z","route":"{route}"}}"#);
        assert!(
            serde_json::from_str::<DosingSession>(&text).is_ok(),
            "{route}"
        );
    }
    assert!(
        serde_json::from_str::<DosingSession>(
            r#"{"scheduledAt":"2026-01-01T10:00:00Z","route":"oral"}"#
        )
        .is_err()
    );
}

#[test]
fn commitment_rules_and_json() {
    let session = RecordId::new();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    let mut c = Commitment::new("Walk every morning", session, day).unwrap();
    assert_eq!(c.status, CommitmentStatus::Open);
    c.text = "   ".into();
    rejects(c.validate(), "text", "not_blank");
    c.text = chars(2_001);
    rejects(c.validate(), "text", "length");
    c.text = "Walk".into();
    c.note = Some(chars(20_001));
    rejects(c.validate(), "note", "length");
    c.note = Some("Mornings were hard; evenings work".into());
    c.status = CommitmentStatus::Changed;
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["followUpOn"], "2026-02-01");
    assert_eq!(json["status"], "changed");
    assert!(
        serde_json::from_str::<Commitment>(&format!(
            r#"{{"text":"x","dosingSessionId":"{session}","followUpOn":"2026-02-30"}}"#
        ))
        .is_err(),
        "no 30 February"
    );
    assert!(
        serde_json::from_str::<Commitment>(&format!(
            r#"{{"text":"x","dosingSessionId":"{session}","followUpOn":"2026-02-01","owner":"me"}}"#
        ))
        .is_err()
    );
    // It names a session, like an intention, so the link rule applies.
    let body: RecordBody = Commitment::new("x", session, day).unwrap().into();
    assert_eq!(body.linked_dosing_session(), Some(session));
    assert_eq!(
        body.searchable_text(),
        Some(("x".to_owned(), String::new()))
    );
}

// ---- the envelope ----

#[test]
fn bodies_round_trip_through_their_kind_and_json() {
    let session = RecordId::new();
    let bodies: Vec<RecordBody> = vec![
        entry().into(),
        Intention::new("Stay curious", session).unwrap().into(),
        MoodCheckIn::new(at(), 3, 4, 5).unwrap().into(),
        Assessment::new(Instrument::Gad7, at(), vec![1; 7])
            .unwrap()
            .into(),
        ExercisePractice::new("five-senses", at(), 2, 6, 3)
            .unwrap()
            .into(),
        DosingSession::new(at(), Route::Intravenous).unwrap().into(),
        Share::kinds(uuid::Uuid::now_v7(), vec![RecordKind::MoodCheckIn])
            .unwrap()
            .into(),
        Commitment::new(
            "Walk every morning",
            session,
            chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        )
        .unwrap()
        .into(),
        RecordBody::CarePlan(
            serde_json::from_str(
                r#"{"measures": [{"instrument": "phq9", "everyDays": 14}], "checkIns": "daily"}"#,
            )
            .unwrap(),
        ),
    ];
    let kinds: Vec<RecordKind> = bodies.iter().map(RecordBody::kind).collect();
    assert_eq!(kinds, RecordKind::ALL.to_vec());
    for body in bodies {
        let back = RecordBody::from_json(body.kind(), &body.to_json().unwrap()).unwrap();
        assert_eq!(back, body);
        let tagged = serde_json::to_value(&body).unwrap();
        assert_eq!(tagged["kind"], body.kind().as_str());
        assert_eq!(body.kind().as_str().parse::<RecordKind>(), Ok(body.kind()));
    }
    assert!("journal_entry".parse::<RecordKind>().is_err());
}

#[test]
fn list_keys_of_each_kind() {
    let own = RecordId::new();
    let session = RecordId::new();
    let mut e = entry();
    assert_eq!(RecordBody::from(e.clone()).occurred_at(), None);
    assert_eq!(
        RecordBody::from(e.clone()).phase(),
        Some(Phase::Integration)
    );
    e.dosing_session_id = Some(session);
    assert_eq!(RecordBody::from(e).dosing_session_id(own), Some(session));
    let s: RecordBody = DosingSession::new(at(), Route::Lozenge).unwrap().into();
    assert_eq!(s.dosing_session_id(own), Some(own));
    assert_eq!(s.occurred_at(), Some(at()));
    let m: RecordBody = MoodCheckIn::new(at(), 1, 1, 1).unwrap().into();
    assert_eq!((m.phase(), m.dosing_session_id(own)), (None, None));
    assert!(m.searchable_text().is_none());
}

#[test]
fn tagged_bodies_refuse_unknown_fields_at_every_level() {
    let ok = r#"{"kind":"journalEntry","body":{"body":"x","phase":"dosing"}}"#;
    assert!(serde_json::from_str::<RecordBody>(ok).is_ok());
    for sneaky in [
        r#"{"kind":"journalEntry","body":{"body":"x","phase":"dosing"},"ownerId":"u"}"#,
        r#"{"id":"x","kind":"journalEntry","body":{"body":"x","phase":"dosing"}}"#,
        r#"{"kind":"journalEntry","version":3,"body":{"body":"x","phase":"dosing"}}"#,
        r#"{"kind":"journalEntry","body":{"body":"x","phase":"dosing","ownerId":"u"}}"#,
    ] {
        assert!(
            serde_json::from_str::<RecordBody>(sneaky).is_err(),
            "{sneaky}"
        );
    }
}

// ---- links to dosing sessions ----

#[test]
fn only_entries_and_intentions_link_to_a_session() {
    let session = RecordId::new();
    let mut e = entry();
    assert_eq!(RecordBody::from(e.clone()).linked_dosing_session(), None);
    e.dosing_session_id = Some(session);
    assert_eq!(RecordBody::from(e).linked_dosing_session(), Some(session));
    let i: RecordBody = Intention::new("Stay curious", session).unwrap().into();
    assert_eq!(i.linked_dosing_session(), Some(session));
    // A session is linked to itself, but that link is not checked.
    let s: RecordBody = DosingSession::new(at(), Route::Lozenge).unwrap().into();
    assert_eq!(s.linked_dosing_session(), None);
    let m: RecordBody = MoodCheckIn::new(at(), 1, 1, 1).unwrap().into();
    assert_eq!(m.linked_dosing_session(), None);
}

#[test]
fn content_without_a_link_is_not_looked_up() {
    for body in [
        RecordBody::from(entry()),
        DosingSession::new(at(), Route::Lozenge).unwrap().into(),
        MoodCheckIn::new(at(), 1, 1, 1).unwrap().into(),
    ] {
        let checked = check_dosing_session_link(&body, |_| -> Result<bool, InvalidInput> {
            panic!("nothing to look up")
        });
        assert_eq!(checked, Ok(()));
    }
}

#[test]
fn a_link_to_a_live_session_is_accepted() {
    let session = RecordId::new();
    let body: RecordBody = Intention::new("Stay curious", session).unwrap().into();
    let mut asked = None;
    let checked = check_dosing_session_link(&body, |id| -> Result<bool, InvalidInput> {
        asked = Some(id);
        Ok(true)
    });
    assert_eq!(checked, Ok(()));
    assert_eq!(asked, Some(session));
}

#[test]
fn a_link_to_an_unknown_session_is_refused() {
    let mut e = entry();
    e.dosing_session_id = Some(RecordId::new());
    for body in [
        RecordBody::from(e),
        Intention::new("Stay curious", RecordId::new())
            .unwrap()
            .into(),
    ] {
        let err = check_dosing_session_link(&body, |_| Ok::<_, InvalidInput>(false)).unwrap_err();
        assert_eq!(
            err,
            InvalidInput::single(
                "dosingSessionId",
                "unknown_session",
                "must name one of your dosing sessions",
            )
        );
    }
}

#[test]
fn the_lookups_own_error_passes_through() {
    #[derive(Debug, PartialEq)]
    enum LookupError {
        Offline,
        Invalid(InvalidInput),
    }
    impl From<InvalidInput> for LookupError {
        fn from(invalid: InvalidInput) -> Self {
            LookupError::Invalid(invalid)
        }
    }
    let body: RecordBody = Intention::new("Stay curious", RecordId::new())
        .unwrap()
        .into();
    let failed = check_dosing_session_link(&body, |_| Err(LookupError::Offline));
    assert_eq!(failed, Err(LookupError::Offline));
    let refused = check_dosing_session_link(&body, |_| Ok(false));
    assert!(matches!(
        refused,
        Err(LookupError::Invalid(ref invalid)) if invalid.has("dosingSessionId", "unknown_session")
    ));
}

// ---- deleting a dosing session ----

#[test]
fn only_a_dosing_session_with_links_is_kept_from_deletion() {
    for kind in RecordKind::ALL {
        if kind == RecordKind::DosingSession {
            continue;
        }
        let checked = check_deletable(kind, || -> Result<u64, ()> { panic!("not asked") });
        assert_eq!(checked, Ok(Ok(())), "{kind}");
    }
    assert_eq!(
        check_deletable(RecordKind::DosingSession, || Ok::<_, ()>(0)),
        Ok(Ok(()))
    );
    let refused = check_deletable(RecordKind::DosingSession, || Ok::<_, ()>(2));
    assert_eq!(refused, Ok(Err(SessionInUse { linked: 2 })));
    assert_eq!(
        SessionInUse { linked: 2 }.to_string(),
        "this dosing session still has 2 intention(s) or entries linked to it; delete or relink them first"
    );
    assert_eq!(
        check_deletable(RecordKind::DosingSession, || Err::<u64, _>("offline")),
        Err("offline")
    );
}

// ---- editing a revoked share ----

#[test]
fn a_revoked_share_is_never_granted_or_changed_again() {
    let therapist = uuid::Uuid::now_v7();
    let mut share = Share::kinds(therapist, vec![RecordKind::MoodCheckIn]).unwrap();
    let live: RecordBody = share.clone().into();
    share.revoked = true;
    let revoked: RecordBody = share.clone().into();
    // Revoking a live share, and any edit of a live one, is allowed.
    assert_eq!(check_share_edit(&live, &revoked), Ok(()));
    let mut wider = share.clone();
    wider.revoked = false;
    wider.scope = ShareScope::Kinds {
        kinds: vec![RecordKind::MoodCheckIn, RecordKind::Assessment],
    };
    assert_eq!(check_share_edit(&live, &wider.clone().into()), Ok(()));
    // Granting it again, or changing what it covers, is refused.
    assert_eq!(check_share_edit(&revoked, &live), Err(ShareRevoked));
    let mut still_revoked = wider;
    still_revoked.revoked = true;
    assert_eq!(
        check_share_edit(&revoked, &still_revoked.into()),
        Err(ShareRevoked)
    );
    // The same content is no change.
    assert_eq!(check_share_edit(&revoked, &revoked), Ok(()));
    // Nothing else is concerned.
    let entry: RecordBody = entry().into();
    assert_eq!(check_share_edit(&entry, &entry), Ok(()));
    assert!(ShareRevoked.to_string().contains("make a new share"));
}

// ---- prompts of another phase ----

#[test]
fn an_entry_answers_only_a_prompt_of_its_own_phase() {
    let preparation = crate::prompts::for_phase(Phase::Preparation)
        .next()
        .unwrap()
        .id;
    let mut e = entry();
    e.phase = Phase::Preparation;
    e.prompt_id = Some(preparation.to_owned());
    assert_eq!(e.validate(), Ok(()));
    e.phase = Phase::Dosing;
    let err = e.validate().unwrap_err();
    assert!(err.has("promptId", "phase"), "{err:?}");
    assert!(err.to_string().contains("preparation"), "{err}");
}
