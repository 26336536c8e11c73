"""Real calls through the client openapi-python-client generated from the
served document: register a patient, create a journal entry, list it back.

Usage: call.py http://127.0.0.1:PORT
"""

import sys
import uuid

from journal_api_client import AuthenticatedClient, Client
from journal_api_client.api.accounts import register
from journal_api_client.api.records import create_record, list_records
from journal_api_client.models import (
    JournalEntry,
    NewRecordType0,
    NewRecordType0Kind,
    Phase,
    RecordPage,
    RecordType0,
    Registration,
    TokenResponse,
)


def main() -> int:
    base = sys.argv[1]
    email = f"generated-{uuid.uuid4().hex[:12]}@example.org"
    signed_up = register.sync_detailed(
        client=Client(base_url=base),
        body=Registration(email=email, password="a long passphrase for a generated client"),
    )
    assert signed_up.status_code == 201, signed_up.content
    assert isinstance(signed_up.parsed, TokenResponse), signed_up.content
    client = AuthenticatedClient(base_url=base, token=signed_up.parsed.access_token)

    text = "Written through the generated Python client, read back through it."
    created = create_record.sync_detailed(
        client=client,
        body=NewRecordType0(
            kind=NewRecordType0Kind.JOURNALENTRY,
            body=JournalEntry(body=text, phase=Phase.INTEGRATION),
        ),
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, RecordType0), created.content

    page = list_records.sync_detailed(client=client, kinds="journalEntry")
    assert page.status_code == 200, page.content
    assert isinstance(page.parsed, RecordPage), page.content
    assert [r.id for r in page.parsed.records] == [created.parsed.id], page.content
    entry = page.parsed.records[0]
    assert isinstance(entry, RecordType0) and entry.body.body == text, page.content
    print(f"generated Python client: registered, created {entry.id}, listed it back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
