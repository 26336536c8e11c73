"""What the patient shares, as the therapist sees it through the REST API,
the therapist's comment and care plan arriving on the phone, and adherence
to the plan as the therapist sees it."""

import datetime
import urllib.parse

import pytest

import journal
from conftest import ApiError


def entry(body):
    return journal.RecordContent.JOURNAL_ENTRY(
        entry=journal.JournalEntry(body=body, phase=journal.Phase.INTEGRATION))


def feed(server, therapist, patient, **params):
    """Every item of the therapist's feed of this patient (all pages)."""
    items, cursor = [], None
    while True:
        query = dict(params, limit=200)
        if cursor:
            query["cursor"] = cursor
        page = server.api(
            "GET", f"/therapist/patients/{patient.id}/feed?{urllib.parse.urlencode(query)}",
            token=therapist.token)
        items.extend(page["items"])
        cursor = page.get("nextCursor")
        if not cursor:
            return items


def test_the_therapist_sees_the_shared_entry_and_nothing_else(server, patient, therapist, phones):
    phone = phones(signed_in=True)
    shared = phone.create(entry("This one is for my therapist.")).record
    phone.create(entry("This one is only mine."))
    phone.create(journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
        recorded_at=shared.created_at, mood=3, anxiety=7, energy=2)))
    share = phone.share_record(therapist.id, shared.id)
    assert share.content.share.scope == journal.ShareScope.ITEM(record_id=shared.id)
    phone.sync()

    items = feed(server, therapist, patient)
    assert [item["record"]["id"] for item in items] == [shared.id]
    assert items[0]["record"]["body"]["body"] == "This one is for my therapist."
    assert items[0]["sharedBy"] == share.id
    # The other entry is not readable by id either.
    for record in phone.list(journal.RecordFilter()).records:
        if record.id in (shared.id, share.id):
            continue
        with pytest.raises(ApiError) as refused:
            server.api("GET", f"/therapist/patients/{patient.id}/records/{record.id}",
                       token=therapist.token)
        assert refused.value.status == 404

    # Revoked on the phone, gone from the feed once synced.
    revoked = phone.revoke_share(share.id)
    assert revoked.content.share.revoked
    phone.sync()
    assert feed(server, therapist, patient) == []


def test_a_standing_share_of_check_ins(server, patient, therapist, phones):
    phone = phones(signed_in=True)
    phone.share_kinds(therapist.id, [journal.RecordKind.MOOD_CHECK_IN])
    phone.create(entry("Private."))
    check_in = phone.create(journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
        recorded_at=phone.list(journal.RecordFilter()).records[0].created_at,
        mood=5, anxiety=5, energy=5))).record
    phone.sync()
    assert [i["record"]["id"] for i in feed(server, therapist, patient)] == [check_in.id]
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.share_kinds(therapist.id, [journal.RecordKind.SHARE])
    assert raised.value.violations[0].field == "scope.kinds"


def test_a_therapist_comment_arrives_on_the_phone(server, patient, therapist, phones):
    phone = phones(signed_in=True)
    shared = phone.create(entry("I finally slept through the night.")).record
    phone.share_record(therapist.id, shared.id)
    phone.sync()
    assert phone.comments(shared.id) == []

    server.api("POST", f"/therapist/patients/{patient.id}/records/{shared.id}/comments",
               token=therapist.token, body={"text": "That is wonderful to hear."})
    phone.sync()
    comments = phone.comments(shared.id)
    assert [c.text for c in comments] == ["That is wonderful to hear."]
    assert comments[0].therapist_id == therapist.id
    assert comments[0].author == "Dr. Lee"
    assert comments[0].record_id == shared.id

    # The patient's other phone gets it too.
    tablet = phones(signed_in=True)
    tablet.sync()
    assert [c.text for c in tablet.comments(shared.id)] == ["That is wonderful to hear."]

    # The patient replies from the phone: kept at once, sent by the sync,
    # seen by the therapist and by the tablet.
    reply = phone.reply_to_comment(comments[0].id, "Thank you. It felt like a gift.")
    assert reply.from_patient and reply.reply_to == comments[0].id
    assert reply.delivery == journal.CommentDelivery.PENDING
    report = phone.sync()
    assert report.replies_sent == 1 and report.replies_refused == []
    seen = server.api("GET", f"/therapist/patients/{patient.id}/records/{shared.id}/comments",
                      token=therapist.token)
    assert [(c["text"], c["fromPatient"]) for c in seen] == [
        ("That is wonderful to hear.", False), ("Thank you. It felt like a gift.", True)]
    assert phone.comments(shared.id)[1].delivery == journal.CommentDelivery.DELIVERED
    assert tablet.sync().comments_new == 0, "the patient's own reply is not a therapist's news"
    assert [c.text for c in tablet.comments(shared.id)][1] == "Thank you. It felt like a gift."
    tablet.edit_reply(reply.id, "Thank you.")
    tablet.sync()
    phone.sync()
    assert phone.comments(shared.id)[1].text == "Thank you."
    # Typed failures: the therapist's comment is not the patient's to edit,
    # an unknown comment takes no reply, blank text is refused.
    with pytest.raises(journal.JournalError.NotFound):
        phone.edit_reply(comments[0].id, "Not mine to edit")
    with pytest.raises(journal.JournalError.NotFound):
        phone.reply_to_comment(reply.id, "A reply to a reply")
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.reply_to_comment(comments[0].id, "   ")
    assert raised.value.violations[0].field == "text"
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.reply_to_comment("not-an-id", "Hello")
    assert raised.value.violations[0].field == "commentId"
    phone.delete_reply(reply.id)
    assert [c.text for c in phone.comments(shared.id)] == ["That is wonderful to hear."]
    phone.sync()
    seen = server.api("GET", f"/therapist/patients/{patient.id}/records/{shared.id}/comments",
                      token=therapist.token)
    assert [c["text"] for c in seen] == ["That is wonderful to hear."]


def test_a_therapists_care_plan_arrives_and_adherence_follows(server, patient, therapist, phones):
    phone = phones(signed_in=True)
    phone.share_kinds(therapist.id, [journal.RecordKind.ASSESSMENT])
    own = journal.CarePlan(check_ins=journal.CheckInCadence.WEEKLY)
    phone.create(journal.RecordContent.CARE_PLAN(plan=own))
    phone.sync()

    plan_uri = f"/care-plans/{patient.id}"
    server.api("PUT", plan_uri, token=therapist.token,
               body={"measures": [{"instrument": "gad7", "everyDays": 7}]})
    report = phone.sync()
    assert report.care_plans == 1
    in_force = phone.care_plan()
    assert in_force.author == "Dr. Lee" and in_force.therapist_id == therapist.id
    assert in_force.plan.measures == [journal.MeasurePlan(instrument=journal.Instrument.GAD7, every_days=7)]
    assert phone.own_care_plan() == own, "the patient's own plan is kept"
    tasks = [item.task for item in phone.agenda(datetime.datetime.now(datetime.timezone.utc))]
    assert tasks == [journal.AgendaTask.QUESTIONNAIRE(
        instrument=journal.Instrument.GAD7, reason=journal.MeasureReason.EVERY(days=7))]

    # Done offline: the agenda clears; once synced, the therapist sees it.
    phone.create(journal.RecordContent.ASSESSMENT(assessment=journal.Assessment(
        instrument=journal.Instrument.GAD7, taken_at=datetime.datetime.now(datetime.timezone.utc),
        answers=[1, 0, 1, 0, 1, 0, 0])))
    assert phone.agenda(datetime.datetime.now(datetime.timezone.utc)) == []
    phone.sync()
    adherence = server.api("GET", f"{plan_uri}/adherence", token=therapist.token)
    assert adherence["questionnaires"]["done"] == 1 and adherence["questionnaires"]["due"] == 1

    # Withdrawn: the patient's own plan is in force again.
    server.api("DELETE", plan_uri, token=therapist.token)
    phone.sync()
    assert phone.care_plan().author is None
    assert phone.care_plan().plan == own


def test_a_share_of_the_phq9s_only(server, patient, therapist, phones):
    phone = phones(signed_in=True)
    taken = datetime.datetime.now(datetime.timezone.utc)
    phq9 = phone.record_assessment(journal.Assessment(
        instrument=journal.Instrument.PHQ9, taken_at=taken, answers=[1, 0, 1, 0, 1, 0, 0, 0, 0])).record
    phone.record_assessment(journal.Assessment(
        instrument=journal.Instrument.GAD7, taken_at=taken, answers=[1, 1, 1, 1, 1, 1, 1]))
    with pytest.raises(journal.JournalError.Invalid) as refused:
        phone.share_instruments(therapist.id, [])
    assert refused.value.violations[0].field == "scope.instruments"
    share = phone.share_instruments(therapist.id, [journal.Instrument.PHQ9])
    assert share.content.share.scope == journal.ShareScope.INSTRUMENTS(
        instruments=[journal.Instrument.PHQ9])
    phone.sync()
    assert [i["record"]["id"] for i in feed(server, therapist, patient)] == [phq9.id]
    phone.revoke_share(share.id)
    phone.sync()
    assert feed(server, therapist, patient) == []
