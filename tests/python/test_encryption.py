"""The journal on the phone is encrypted by default, through the bindings as
an app opens it: nothing readable in any file, a restored phone without its
key gets a typed error and recovers by signing in, and the key can be
changed."""

import os

import pytest

import journal
from conftest import PASSWORD, DictSecrets

CANARY = "Quillon-canary-sentence-9021"


def entry(text):
    return journal.RecordContent.JOURNAL_ENTRY(
        entry=journal.JournalEntry(body=text, phase=journal.Phase.INTEGRATION))


def files_beside(path):
    folder = os.path.dirname(path)
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in os.listdir(folder) if name.startswith(os.path.basename(path))}


def test_nothing_readable_beside_the_journal_and_a_lost_key_is_recovered_by_sync(tmp_path, server, patient):
    path = str(tmp_path / "journal.db")
    secrets = DictSecrets()
    phone = journal.Journal.open(path, secrets)
    saved = phone.create(entry(f"Today: {CANARY}.")).record
    phone.sign_in(server.url, patient.email, PASSWORD)
    phone.sync()
    for name, data in files_beside(path).items():
        assert CANARY.encode() not in data, name
        assert b"SQLite format 3" not in data, name
    assert any(k.startswith("journal.database-key.") for k in secrets.values)

    # The key changes; the journal reads on, and the old key no longer opens it.
    old = dict(secrets.values)
    phone.rekey()
    assert phone.get(saved.id).id == saved.id
    del phone
    with pytest.raises(journal.JournalError.WrongKey):
        journal.Journal.open(path, _with(old))

    # Restored from a backup without the keychain: a typed error, the file
    # untouched; then set aside, a new journal, and sync brings it back.
    before = open(path, "rb").read()
    restored = DictSecrets()
    with pytest.raises(journal.JournalError.KeyMissing):
        journal.Journal.open(path, restored)
    assert open(path, "rb").read() == before
    phone = journal.Journal.open_replacing_unreadable(path, restored)
    phone.sign_in(server.url, patient.email, PASSWORD)
    phone.sync()
    assert CANARY in phone.get(saved.id).content.entry.body


def _with(values):
    secrets = DictSecrets()
    secrets.values = {k: v for k, v in values.items() if k.startswith("journal.database-key.")}
    return secrets
