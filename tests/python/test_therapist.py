"""What the patient shares, as the therapist sees it through the REST API,
and the therapist's comment arriving on the phone."""

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
