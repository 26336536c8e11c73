"""Two phones and a real server: offline writes, sync, concurrent edits,
the sign-in kept in the app's secret store, export and import."""

import datetime
import uuid
import json

import pytest

import journal
from conftest import PASSWORD, DictSecrets


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def entry(body, phase=journal.Phase.INTEGRATION, **fields):
    return journal.RecordContent.JOURNAL_ENTRY(entry=journal.JournalEntry(body=body, phase=phase, **fields))


def all_records(phone, **filters):
    records, cursor = [], None
    while True:
        page = phone.list(journal.RecordFilter(cursor=cursor, **filters))
        records.extend(page.records)
        cursor = page.next_cursor
        if cursor is None:
            return records


def by_id(phone):
    return {r.id: r for r in all_records(phone)}


def test_offline_writes_reach_the_second_phone(server, patient, phones):
    phone_a = phones()
    # Offline, before any sign-in: a dosing session, an intention for it,
    # two entries (one answering a prompt, about the session) and a check-in.
    session = phone_a.create(journal.RecordContent.DOSING_SESSION(session=journal.DosingSession(
        scheduled_at=now() + datetime.timedelta(days=2), route=journal.Route.INTRAMUSCULAR,
        status=journal.SessionStatus.PLANNED, notes="Bring the playlist"))).record
    intention = phone_a.create(journal.RecordContent.INTENTION(intention=journal.Intention(
        text="Meet the fear with curiosity", dosing_session_id=session.id,
        status=journal.IntentionStatus.OPEN))).record
    first = phone_a.create(entry("I am nervous and hopeful.", journal.Phase.PREPARATION,
                                 title="Before", prompt_id="prep-04", tags=["hope"],
                                 dosing_session_id=session.id)).record
    phone_a.create(entry("A walk by the river helped."))
    phone_a.create(journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
        recorded_at=now(), mood=6, anxiety=4, energy=5, sleep_hours=7.5, emotions=["calm"])))
    assert phone_a.pending_change_count() == 5
    with pytest.raises(journal.JournalError.NotSignedIn):
        phone_a.sync()

    phone_a.sign_in(server.url, patient.email, PASSWORD)
    report = phone_a.sync()
    assert report.pushed == 5 and report.rejected == 0
    assert phone_a.pending_change_count() == 0

    phone_b = phones(signed_in=True)
    report = phone_b.sync()
    assert report.pulled == 5
    on_a, on_b = by_id(phone_a), by_id(phone_b)
    assert on_a.keys() == on_b.keys()
    for record_id, record in on_a.items():
        assert on_b[record_id].content == record.content, record.kind
    assert on_b[intention.id].content.intention.dosing_session_id == session.id
    assert on_b[first.id].content.entry.prompt_id == "prep-04"

    # What was written about the session, found by its id on the other phone.
    about_session = all_records(phone_b, dosing_session_id=session.id)
    assert {r.id for r in about_session} == {session.id, intention.id, first.id}
    # After the session, the reflection on the intention syncs back.
    phone_b.reflect_on_intention(intention.id, journal.Reflection(
        how_it_went="I stayed with it.", carry_forward="Curiosity over fear."),
        journal.IntentionStatus.FULFILLED)
    phone_b.sync()
    phone_a.sync()
    reflected = phone_a.get(intention.id).content.intention
    assert reflected.status == journal.IntentionStatus.FULFILLED
    assert reflected.reflection.carry_forward == "Curiosity over fear."
    # Search finds the reflection on the first phone.
    hits = phone_a.search("curiosity", 10)
    assert intention.id in {h.record.id for h in hits}
    assert any(part.highlighted for hit in hits for part in hit.snippet_parts)


def test_concurrent_edits_keep_both_texts(phones):
    phone_a, phone_b = phones(signed_in=True), phones(signed_in=True)
    original = phone_a.create(entry("The first draft.")).record
    phone_a.sync()
    phone_b.sync()

    # Both phones edit the same entry without syncing in between.
    phone_a.update(original.id, entry("Written on the phone."))
    phone_b.update(original.id, entry("Written on the tablet."))
    phone_a.sync()
    report = phone_b.sync()
    assert report.conflicts == 1
    phone_a.sync()

    texts = {"Written on the phone.", "Written on the tablet."}
    currents = set()
    for phone in (phone_a, phone_b):
        current = phone.get(original.id).content.entry.body
        kept = [r.content.entry.body for r in phone.revisions(original.id)]
        assert current in texts
        assert texts - {current} <= set(kept), (current, kept)
        currents.add(current)
    assert len(currents) == 1, "both phones agree on the current text"

    # The losing text comes back when restored, and the restore syncs.
    (current,) = currents
    lost = next(r for r in phone_a.revisions(original.id) if r.content.entry.body != current)
    assert lost.reason == journal.RevisionReason.CONFLICT
    restored = phone_a.restore_revision(lost.id)
    assert restored.content.entry.body == lost.content.entry.body
    phone_a.sync()
    phone_b.sync()
    assert phone_b.get(original.id).content.entry.body == lost.content.entry.body


def test_deletes_sync_and_the_sign_in_lives_in_the_secret_store(tmp_path, server, patient, phones):
    phone_a = phones(signed_in=True)
    assert phone_a.is_signed_in()
    assert phone_a.server_url() == server.url
    kept = phone_a.secrets.values
    assert server.url in kept.values() and "journal.sync.refresh-token" in kept
    gone = phone_a.create(entry("Soon gone.")).record
    phone_a.sync()

    # A relaunch: a new Journal on the same file and the same secret store
    # syncs without signing in again.
    relaunched = journal.Journal.open(phone_a.path(), phone_a.secrets)
    relaunched.delete(gone.id)
    assert relaunched.sync().pushed == 1
    with pytest.raises(journal.JournalError.NotFound) as raised:
        relaunched.get(gone.id)
    assert raised.value.id == gone.id

    phone_b = phones(signed_in=True)
    phone_b.sync()
    assert gone.id not in by_id(phone_b)

    relaunched.sign_out()
    assert not relaunched.is_signed_in()
    assert "journal.sync.refresh-token" not in phone_a.secrets.values
    with pytest.raises(journal.JournalError.NotSignedIn):
        relaunched.sync()


def test_sign_in_failures_are_typed(server, patient, phones):
    phone = phones()
    with pytest.raises(journal.JournalError.WrongCredentials):
        phone.sign_in(server.url, patient.email, "not the password at all")
    with pytest.raises(journal.JournalError.Invalid) as raised:
        phone.sign_in("ftp://example.org", "", PASSWORD)
    assert {v.field for v in raised.value.violations} == {"serverUrl", "email"}
    with pytest.raises(journal.JournalError.Network):
        phone.sign_in("http://127.0.0.1:9", patient.email, PASSWORD)
    assert not phone.is_signed_in()


class BrokenKeychain(DictSecrets):
    """A Keychain that cannot be written (a locked device)."""

    def set(self, key, value):
        raise journal.JournalError.SecretStoreFailed("the device is locked")


class PlainlyBroken(DictSecrets):
    """A store whose implementation raises an ordinary exception."""

    def get(self, key):
        raise KeyError(key)


def test_a_failing_secret_store_is_reported(tmp_path, server, patient):
    # The journal's key lives in the secret store: a locked one stops the
    # open itself, and no journal is made without a key kept.
    with pytest.raises(journal.JournalError.SecretStoreFailed) as raised:
        journal.Journal.open(str(tmp_path / "locked.db"), BrokenKeychain())
    assert "the device is locked" in raised.value.detail
    assert not (tmp_path / "locked.db").exists()
    with pytest.raises(journal.JournalError.SecretStoreFailed):
        journal.Journal.open(str(tmp_path / "broken.db"), PlainlyBroken())

    # A store that breaks after the journal is open: sign-in and sync say so.
    flaky = FailsLater()
    opened = journal.Journal.open(str(tmp_path / "flaky.db"), flaky)
    flaky.broken = True
    with pytest.raises(journal.JournalError.SecretStoreFailed) as raised:
        opened.sign_in(server.url, patient.email, PASSWORD)
    assert "the device is locked" in raised.value.detail
    with pytest.raises(journal.JournalError.SecretStoreFailed):
        opened.is_signed_in()
    with pytest.raises(journal.JournalError.SecretStoreFailed):
        opened.sync()


class FailsLater(journal.SecretStore):
    """A Keychain that works until the device locks."""

    def __init__(self):
        self.values = {}
        self.broken = False

    def get(self, key):
        if self.broken:
            raise journal.JournalError.SecretStoreFailed("the device is locked")
        return self.values.get(key)

    def set(self, key, value):
        if self.broken:
            raise journal.JournalError.SecretStoreFailed("the device is locked")
        self.values[key] = value

    def remove(self, key):
        if self.broken:
            raise journal.JournalError.SecretStoreFailed("the device is locked")
        self.values.pop(key, None)


def test_export_and_import(server, patient, phones):
    phone = phones(signed_in=True)
    written = phone.create(entry("Everything I wrote stays mine.", title="Mine")).record
    phone.create(journal.RecordContent.MOOD_CHECK_IN(check_in=journal.MoodCheckIn(
        recorded_at=now(), mood=7, anxiety=2, energy=6)))
    phone.sync()

    # The device's own export, into a new journal.
    document = phone.export_json()
    parsed = json.loads(document)
    assert parsed["format"] == "kap-journal-export" and len(parsed["records"]) == 2
    assert parsed["account"]["email"] == patient.email
    fresh = phones()
    report = fresh.import_json(document, False)
    assert report.records == 2 and report.queued == 0
    assert fresh.get(written.id).content == written.content
    with pytest.raises(journal.JournalError.NotPossible):
        fresh.import_json(document, False)

    # The server's export of the account imports the same way.
    server_export = server.api("GET", "/me/export", token=patient.token)
    another = phones()
    assert another.import_json(json.dumps(server_export), True).records == 2
    assert another.pending_change_count() == 2

    with pytest.raises(journal.JournalError.Invalid) as raised:
        phones().import_json("{not json", False)
    assert raised.value.violations[0].field == "document"


def test_conflicts_and_recently_deleted_can_be_found_and_dealt_with(phones):
    phone_a, phone_b = phones(signed_in=True), phones(signed_in=True)
    clash = phone_a.create(entry("The first draft.")).record
    doomed = phone_a.create(entry("An entry about to go.")).record
    phone_a.sync()
    phone_b.sync()
    assert phone_a.conflicts() == [] and phone_a.recently_deleted() == []

    # Both edit one entry; the tablet deletes the other while the phone
    # edits it.
    phone_a.update(clash.id, entry("Written on the phone."))
    phone_a.update(doomed.id, entry("An edit nobody will see at first."))
    phone_b.update(clash.id, entry("Written on the tablet."))
    phone_b.delete(doomed.id)
    phone_b.sync()
    report = phone_a.sync()
    assert report.deleted_elsewhere == [doomed.id] or report.revisions >= 1
    phone_b.sync()
    phone_a.sync()

    for phone in (phone_a, phone_b):
        (conflict,) = phone.conflicts()
        assert conflict.lost.record_id == clash.id
        assert conflict.lost.reason == journal.RevisionReason.CONFLICT
        assert conflict.current is not None
        assert {conflict.lost.content.entry.body, conflict.current.content.entry.body} == {
            "Written on the phone.", "Written on the tablet."}
    (kept,) = phone_a.recently_deleted()
    assert kept.record_id == doomed.id and kept.reason == journal.RevisionReason.DELETED
    assert kept.content.entry.body == "An edit nobody will see at first."

    # The phone keeps the current text; the tablet takes the lost one.
    phone_a.dismiss_revision(phone_a.conflicts()[0].lost.id)
    assert phone_a.conflicts() == []
    lost = phone_b.conflicts()[0].lost
    assert phone_b.restore_revision(lost.id).content.entry.body == lost.content.entry.body
    assert phone_b.conflicts() == []
    # Brought back from the recently deleted, under its own id.
    assert phone_a.restore_revision(kept.id).id == doomed.id
    assert phone_a.recently_deleted() == []
    phone_a.sync()
    phone_b.sync()
    assert phone_b.get(doomed.id).content.entry.body == "An edit nobody will see at first."
    assert phone_b.get(clash.id).content.entry.body == lost.content.entry.body
    with pytest.raises(journal.JournalError.NotFound):
        phone_a.dismiss_revision(str(uuid.uuid4()))
