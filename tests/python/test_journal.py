"""The journal on one phone, no server: every record kind, typed errors,
questionnaires and the safety notice, the catalogs, the guided practice,
and calls from several threads."""

import datetime
import threading

import pytest

import journal


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def entry(body, **fields):
    return journal.RecordContent.JOURNAL_ENTRY(
        entry=journal.JournalEntry(body=body, phase=journal.Phase.INTEGRATION, **fields))


def phq9(*answers):
    return journal.Assessment(instrument=journal.Instrument.PHQ9, taken_at=now(), answers=list(answers))


def test_every_kind_round_trips(phones):
    phone = phones()
    session = phone.create(journal.RecordContent.DOSING_SESSION(session=journal.DosingSession(
        scheduled_at=now(), route=journal.Route.NASAL_SPRAY, status=journal.SessionStatus.COMPLETED))).record
    contents = [
        entry("Words.", title="Title", tags=["a", "b"], dosing_session_id=session.id),
        journal.RecordContent.INTENTION(intention=journal.Intention(
            text="Be gentle", dosing_session_id=session.id, status=journal.IntentionStatus.RELEASED,
            reflection=journal.Reflection(how_it_went="Gently."))),
        journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
            recorded_at=now(), mood=4, anxiety=6, energy=3, note="Tired")),
        journal.RecordContent.ASSESSMENT(assessment=journal.Assessment(
            instrument=journal.Instrument.GAD7, taken_at=now(), answers=[1, 2, 3, 0, 1, 2, 3])),
        journal.RecordContent.EXERCISE_PRACTICE(practice=journal.ExercisePractice(
            exercise_id="safe-place", practiced_at=now(), steps_completed=2,
            distress_before=8, distress_after=4)),
        journal.RecordContent.COMMITMENT(commitment=journal.Commitment(
            text="Walk every morning", dosing_session_id=session.id, follow_up_on="2026-01-15",
            status=journal.CommitmentStatus.CHANGED, note="Three mornings a week")),
        journal.RecordContent.SHARE(share=journal.Share(
            therapist_id="0190b1c2-0000-7000-8000-000000000001",
            scope=journal.ShareScope.KINDS(kinds=[journal.RecordKind.ASSESSMENT]))),
    ]
    for content in contents:
        saved = phone.create(content).record
        fetched = phone.get(saved.id)
        assert fetched.content == content, fetched.kind
        assert fetched == saved
    assert len(phone.list(journal.RecordFilter()).records) == 8
    only = phone.list(journal.RecordFilter(kinds=[journal.RecordKind.MOOD_CHECK_IN])).records
    assert [r.kind for r in only] == [journal.RecordKind.MOOD_CHECK_IN]

    # Pages: one record at a time, each once.
    seen, cursor = [], None
    while True:
        page = phone.list(journal.RecordFilter(limit=1, cursor=cursor))
        seen += [r.id for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8

    # Update keeps the id; the same content again changes nothing.
    first = phone.list(journal.RecordFilter(kinds=[journal.RecordKind.JOURNAL_ENTRY])).records[0]
    updated = phone.update(first.id, entry("Other words."))
    assert updated.record.id == first.id
    assert phone.get(first.id).content.entry.body == "Other words."

    # A session that an entry still links to is not deleted.
    with pytest.raises(journal.JournalError.NotPossible):
        phone.delete(session.id)


def test_invalid_input_raises_a_typed_error_naming_the_field(phones):
    phone = phones()
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.create(entry("   ", title="two\nlines", tags=["x", "X"]))
    error = raised.value
    assert {v.field for v in error.violations} >= {"body", "title", "tags"}
    assert "body" in error.detail and "must" in error.detail
    assert "body" in str(error)

    cases = [
        (lambda: phone.create(journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
            recorded_at=now(), mood=11, anxiety=-1, energy=5, sleep_hours=30.0))),
         {"mood", "anxiety", "sleepHours"}),
        (lambda: phone.create(journal.RecordContent.ASSESSMENT(assessment=phq9(0, 0, 4))),
         {"answers", "answers[2]"}),
        (lambda: phone.create(entry("Fine.", prompt_id="no-such-prompt")), {"promptId"}),
        (lambda: phone.create(entry("Fine.", dosing_session_id="not-an-id")), {"dosingSessionId"}),
        (lambda: phone.create(entry("Fine.", dosing_session_id="0190b1c2-0000-7000-8000-000000000009")),
         {"dosingSessionId"}),
        (lambda: phone.create(journal.RecordContent.COMMITMENT(commitment=journal.Commitment(
            text=" ", dosing_session_id="0190b1c2-0000-7000-8000-000000000009",
            follow_up_on="2026-02-30", status=journal.CommitmentStatus.OPEN))), {"followUpOn"}),
        (lambda: phone.get("42"), {"id"}),
        (lambda: phone.list(journal.RecordFilter(limit=0)), {"limit"}),
        (lambda: phone.list(journal.RecordFilter(cursor="somewhere")), {"cursor"}),
        (lambda: phone.search("sea", 0), {"limit"}),
        (lambda: phone.start_practice("juggling"), {"exerciseId"}),
        (lambda: phone.restore_revision("nope"), {"revisionId"}),
    ]
    for call, fields in cases:
        with pytest.raises(journal.JournalError.Invalid) as raised:
            call()
        assert {v.field for v in raised.value.violations} == fields, raised.value.detail
        assert all(v.message for v in raised.value.violations)

    saved = phone.create(entry("Kept.")).record
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.update(saved.id, journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
            recorded_at=now(), mood=1, anxiety=1, energy=1)))
    assert raised.value.violations[0].field == "content"
    with pytest.raises(journal.JournalError.NotFound):
        phone.get("0190b1c2-0000-7000-8000-000000000009")
    assert phone.list(journal.RecordFilter()).records == [saved], "nothing invalid was written"


def test_a_phq9_risk_answer_returns_the_safety_notice(phones):
    phone = phones()
    result = phone.record_assessment(phq9(0, 0, 0, 0, 0, 0, 0, 0, 1))
    assert result.score.risk_flag
    assert (result.score.total, result.score.max_total) == (1, 27)
    assert result.score.severity == journal.Severity.MINIMAL
    notice = result.safety_notice
    assert notice is not None and notice.reason == journal.RiskReason.PHQ9_ITEM9
    assert notice.resources.contacts and notice.resources.headline

    # Through plain create too, and with the deployment's own resources.
    clinic = journal.CrisisResources(
        headline="Call us", message="The clinic answers day and night.",
        contacts=[journal.CrisisContact(name="Clinic line", phone="+1 555 0100")])
    phone.set_crisis_resources(clinic)
    assert phone.crisis_resources() == clinic
    saved = phone.create(journal.RecordContent.ASSESSMENT(assessment=phq9(3, 3, 3, 3, 3, 3, 3, 3, 2)))
    assert saved.safety_notice.resources == clinic

    # No notice without a risk answer, however severe.
    severe = phone.record_assessment(phq9(3, 3, 3, 3, 3, 3, 3, 3, 0))
    assert severe.safety_notice is None and not severe.score.risk_flag
    assert severe.score.severity == journal.Severity.SEVERE
    assert journal.score_assessment(phq9(1, 1, 1, 1, 1, 0, 0, 0, 0)).severity == journal.Severity.MILD
    with pytest.raises(journal.JournalError.Invalid):
        journal.score_assessment(phq9(1, 1))


def test_the_catalogs(phones):
    everything = journal.prompts(None)
    preparation = journal.prompts(journal.Phase.PREPARATION)
    assert preparation and set(p.id for p in preparation) < set(p.id for p in everything)
    assert journal.find_prompt("prep-01").phase == journal.Phase.PREPARATION
    assert journal.find_prompt("no-such-prompt") is None
    exercises = journal.grounding_exercises()
    assert "box-breathing" in [e.id for e in exercises]
    box = journal.find_grounding_exercise("box-breathing")
    assert box.total_steps == box.rounds * len(box.steps)
    assert box.total_duration == sum((s.duration for s in box.steps), datetime.timedelta()) * box.rounds
    assert journal.library_version()


def test_a_guided_practice_is_saved_with_distress_before_and_after(phones):
    phone = phones()
    practice = phone.start_practice("feet-on-the-floor")
    exercise = practice.exercise()
    step = practice.current_step()
    assert step.number == 1 and step.total_steps == exercise.total_steps
    assert step.instruction == exercise.steps[0].instruction
    assert datetime.timedelta(0) < step.time_left <= step.duration
    assert step.total_time_left <= exercise.total_duration
    numbers = [step.number]
    while (step := practice.next_step()) is not None:
        numbers.append(step.number)
    assert numbers == list(range(1, exercise.total_steps + 1))
    assert practice.is_complete() and practice.steps_completed() == exercise.total_steps

    saved = practice.finish(7, 3)
    logged = saved.record.content.practice
    assert (logged.exercise_id, logged.steps_completed) == ("feet-on-the-floor", exercise.total_steps)
    assert (logged.distress_before, logged.distress_after) == (7, 3)
    assert phone.get(saved.record.id).kind == journal.RecordKind.EXERCISE_PRACTICE
    with pytest.raises(journal.JournalError.NotPossible):
        practice.finish(7, 3)

    early = phone.start_practice("body-scan")
    early.next_step()
    assert early.finish(5, 5).record.content.practice.steps_completed == 1


def test_calls_from_several_threads(phones):
    phone = phones()
    errors = []

    def write(n):
        try:
            for i in range(10):
                phone.create(entry(f"thread {n} entry {i}"))
                phone.list(journal.RecordFilter(limit=5))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert phone.pending_change_count() == 40
    assert len(phone.search("thread entry", 100)) == 40


def test_a_file_that_is_not_a_journal_is_refused_and_left_alone(tmp_path):
    from conftest import DictSecrets
    other = tmp_path / "notes.txt"
    other.write_text("my shopping list")
    with pytest.raises(journal.JournalError.Storage):
        journal.Journal.open(str(other), DictSecrets())
    assert other.read_text() == "my shopping list"


def test_a_care_plan_makes_an_agenda_reminders_and_insights_offline(phones):
    phone = phones()
    assert phone.agenda(now()) == []
    assert phone.care_plan() is None
    plan = journal.CarePlan(
        measures=[journal.MeasurePlan(instrument=journal.Instrument.PHQ9, every_days=14)],
        check_ins=journal.CheckInCadence.DAILY)
    phone.create(journal.RecordContent.CARE_PLAN(plan=plan))
    in_force = phone.care_plan()
    assert in_force.plan == plan and in_force.author is None and in_force.therapist_id is None
    assert phone.own_care_plan() == plan
    due = phone.agenda(now())
    tasks = [item.task for item in due]
    assert journal.AgendaTask.CHECK_IN() in tasks
    questionnaire = [t for t in tasks if isinstance(t, journal.AgendaTask.QUESTIONNAIRE)][0]
    assert questionnaire.instrument == journal.Instrument.PHQ9
    assert questionnaire.reason == journal.MeasureReason.EVERY(days=14)
    assert all(not item.overdue and item.key for item in due)

    # Reminders: none until the patient chooses times; then at one of them.
    assert phone.next_reminder_at(now()) is None
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.set_reminder_settings(journal.ReminderSettings(
            times=["25:00"], time_zone="Mars/Olympus", quiet_from="22:00"))
    assert {v.field for v in raised.value.violations} == {"quietHours"}
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.set_reminder_settings(journal.ReminderSettings(times=["25:00"], time_zone="Mars/Olympus"))
    assert {v.field for v in raised.value.violations} == {"times[0]", "timeZone"}
    settings = journal.ReminderSettings(times=["08:30", "19:00"], time_zone="Europe/Berlin",
                                        quiet_from="22:00", quiet_until="07:00")
    phone.set_reminder_settings(settings)
    assert phone.reminder_settings() == settings
    reminder = phone.next_reminder_at(now())
    assert reminder is not None and now() < reminder < now() + datetime.timedelta(days=2)

    # Doing the questionnaire and the check-in clears the agenda.
    phone.create(journal.RecordContent.ASSESSMENT(assessment=phq9(1, 1, 0, 1, 0, 0, 1, 0, 0)))
    phone.create(journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
        recorded_at=now(), mood=6, anxiety=3, energy=5, sleep_hours=7.0)))
    assert phone.agenda(now()) == []

    found = phone.insights(now() - datetime.timedelta(days=30), now() + datetime.timedelta(minutes=1))
    assert found.mood.count == 1 and found.mood.mean == 6.0
    assert found.mood.trend_per_week is None, "one check-in makes no trend"
    assert found.phq9.latest == 4 and found.phq9.count == 1
    assert found.sleep_mood_correlation is None and "does not show" in found.sleep_mood_caveat
    with pytest.raises(journal.JournalError.Invalid):
        phone.insights(now(), now() - datetime.timedelta(days=1))
