"""A whole app's account through the library alone, against the real
server: register, the display name, the clinic's policy, accepting a
therapist's invitation, care links, changing the password, signing out
everywhere it matters, resetting and erasing — each failure a typed
JournalError, and no token ever handed to the app."""

import uuid

import pytest

import journal
from conftest import PASSWORD, ApiError


def new_email():
    return f"app-{uuid.uuid4().hex[:12]}@example.org"


def invitation(server):
    """A therapist made with the server's command, and a fresh code of theirs."""
    email = f"therapist-{uuid.uuid4().hex[:12]}@clinic.example"
    server.create_therapist(email, "Dr. Rivera")
    token = server.login(email)
    return server.api("POST", "/care/invitations", token=token)["code"], token


def test_register_name_and_policy(server, phones):
    phone = phones()
    email = new_email()
    # The clinic's policy before anything else, kept for offline use.
    assert phone.policy() is None
    policy = phone.refresh_policy(server.url)
    assert policy.monitoring_statement and policy.crisis_resources.contacts
    assert phone.policy() == policy
    assert phone.crisis_resources() == policy.crisis_resources

    with pytest.raises(journal.JournalError.Invalid) as refused:
        phone.register(server.url, "not-an-email", "short", None)
    assert {v.field for v in refused.value.violations} == {"email", "password"}
    assert not phone.is_signed_in()
    phone.register(server.url, email, PASSWORD, "Sam")
    assert phone.is_signed_in()
    account = phone.account()
    assert (account.email, account.display_name) == (email, "Sam")
    assert phone.set_display_name("Sam R.").display_name == "Sam R."
    with pytest.raises(journal.JournalError.Invalid) as refused:
        phone.set_display_name("two\nlines")
    assert refused.value.violations[0].field == "displayName"
    assert phone.account().display_name == "Sam R."
    assert phone.set_display_name(None).display_name is None

    other = phones()
    with pytest.raises(journal.JournalError.EmailTaken):
        other.register(server.url, email.upper(), PASSWORD, None)
    assert not other.is_signed_in()


def test_invitations_and_care_links(server, phones):
    phone = phones()
    phone.register(server.url, new_email(), PASSWORD, None)
    with pytest.raises(journal.JournalError.InvitationUnusable):
        phone.accept_invitation("AAAAA-BBBBB")
    with pytest.raises(journal.JournalError.Invalid):
        phone.accept_invitation("  ")
    code, therapist_token = invitation(server)
    link = phone.accept_invitation(code.lower())
    assert link.therapist_name == "Dr. Rivera"
    assert [l.id for l in phone.care_links()] == [link.id]
    # Entering it again (a retry after a lost answer) lands on the same
    # link; another patient cannot use it.
    assert phone.accept_invitation(code).id == link.id
    other = phones()
    other.register(server.url, new_email(), PASSWORD, None)
    with pytest.raises(journal.JournalError.InvitationUnusable):
        other.accept_invitation(code)
    # The therapist's id is what sharing takes.
    phone.share_kinds(link.therapist_id, [journal.RecordKind.MOOD_CHECK_IN])
    phone.sync()
    patients = server.api("GET", "/therapist/patients", token=therapist_token)
    assert len(patients) == 1
    phone.end_care_link(link.id)
    assert phone.care_links() == []
    assert server.api("GET", "/therapist/patients", token=therapist_token) == []
    with pytest.raises(journal.JournalError.NotFound):
        phone.end_care_link(link.id)
    with pytest.raises(journal.JournalError.Invalid):
        phone.end_care_link("not-an-id")


def test_password_change_sign_out_and_throttling(server, phones):
    email = new_email()
    phone, tablet = phones(), phones()
    phone.register(server.url, email, PASSWORD, None)
    tablet.sign_in(server.url, email, PASSWORD)
    with pytest.raises(journal.JournalError.WrongCredentials):
        phone.change_password("not the password", "a new long passphrase")
    with pytest.raises(journal.JournalError.Invalid) as refused:
        phone.change_password(PASSWORD, "short")
    assert refused.value.violations[0].field == "newPassword"
    phone.sync()
    phone.change_password(PASSWORD, "a new long passphrase")
    phone.sync()  # this phone stays signed in
    with pytest.raises(journal.JournalError.NotSignedIn):
        tablet.sync()  # the other one is signed out

    # Signing out ends the session on the server: the refresh token the
    # phone kept no longer works anywhere.
    kept = dict(phone.secrets.values)
    refresh = [v for k, v in kept.items() if "refresh" in k][0]
    assert phone.sign_out() is True
    assert not phone.is_signed_in()
    with pytest.raises(ApiError) as refused:
        server.api("POST", "/auth/refresh", body={"refreshToken": refresh})
    assert refused.value.status == 401
    with pytest.raises(journal.JournalError.NotSignedIn):
        phone.sync()

    # Wrong passwords lock the email (the wrong one confirming the change
    # above counts too): a typed error saying how long to wait.
    for _ in range(4):
        with pytest.raises(journal.JournalError.WrongCredentials):
            phone.sign_in(server.url, email, "a wrong guess!")
    with pytest.raises(journal.JournalError.Throttled) as throttled:
        phone.sign_in(server.url, email, "a new long passphrase")
    assert 0 < throttled.value.retry_after_seconds <= 900


def test_reset_without_email_and_with_a_wrong_code(server, phones):
    phone = phones()
    with pytest.raises(journal.JournalError.ServerRefused) as refused:
        phone.request_password_reset(server.url, new_email())
    assert refused.value.status == 503  # this test server sends no email
    with pytest.raises(journal.JournalError.Invalid) as refused:
        phone.reset_password(server.url, new_email(), "ABCD-EFGH", "a new long passphrase")
    assert refused.value.violations[0].field == "code"
    with pytest.raises(journal.JournalError.Invalid) as refused:
        phone.reset_password("journal.example", "", "", "x")
    assert {v.field for v in refused.value.violations} == {"email", "code"}


def test_erasing_the_account_empties_the_journal(server, phones):
    email = new_email()
    phone = phones()
    phone.register(server.url, email, PASSWORD, None)
    phone.create(journal.RecordContent.JOURNAL_ENTRY(entry=journal.JournalEntry(
        body="Mine alone.", phase=journal.Phase.INTEGRATION)))
    phone.sync()
    with pytest.raises(journal.JournalError.WrongCredentials):
        phone.delete_account("not the password")
    assert len(phone.list(journal.RecordFilter()).records) == 1
    phone.delete_account(PASSWORD)
    assert phone.list(journal.RecordFilter()).records == []
    assert phone.pending_change_count() == 0
    assert not phone.is_signed_in()
    with pytest.raises(ApiError) as refused:
        server.login(email)
    assert refused.value.status == 401
    # The emptied journal takes a new account.
    phone.register(server.url, new_email(), PASSWORD, None)
    assert phone.sync().pushed == 0


def test_no_call_hands_a_token_to_the_app(server, phones):
    assert [name for name in dir(journal.Journal) if "token" in name.lower()] == []
    phone = phones()
    phone.register(server.url, new_email(), PASSWORD, "Tok")
    code, _ = invitation(server)
    answers = [
        phone.account(), phone.accept_invitation(code), phone.care_links(),
        phone.refresh_policy(server.url), phone.sync(), phone.server_url(),
        phone.is_signed_in(), phone.export_json(),
    ]
    refresh = [v for k, v in phone.secrets.values.items() if "refresh" in k][0]
    text = " ".join(repr(a) for a in answers)
    assert refresh not in text
    assert "eyJ" not in text, "no JSON Web Token in any answer"
