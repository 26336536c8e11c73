"""Fixtures for the bindings' tests: the generated Python module, a real
journal server on a loopback port, patients and therapists made over its
REST API, and phones (a journal file each, signed in through the bindings).

Environment (scripts/test.sh sets both):
  JOURNAL_BINDINGS_DIR  folder holding journal.py and the library beside it
                        (default: bindings-out/python)
  JOURNAL_SERVER_BIN    the server binary (default: target/debug/journal-server)
"""

import base64
import json
import os
import secrets as random_secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINDINGS = Path(os.environ.get("JOURNAL_BINDINGS_DIR", REPO / "bindings-out" / "python"))
SERVER_BIN = Path(os.environ.get("JOURNAL_SERVER_BIN", REPO / "target" / "debug" / "journal-server"))

if not (BINDINGS / "journal.py").exists():
    raise RuntimeError(
        f"no generated bindings in {BINDINGS}: run scripts/build-bindings.sh --debug "
        "(or set JOURNAL_BINDINGS_DIR)"
    )
sys.path.insert(0, str(BINDINGS))

import journal  # noqa: E402  (the generated module, found through the path above)

PASSWORD = "a long passphrase for tests"


class DictSecrets(journal.SecretStore):
    """The app's Keychain / Keystore, played by a dict."""

    def __init__(self):
        self.values = {}
        self.calls = 0

    def get(self, key):
        self.calls += 1
        return self.values.get(key)

    def set(self, key, value):
        self.calls += 1
        self.values[key] = value

    def remove(self, key):
        self.calls += 1
        self.values.pop(key, None)


class ApiError(Exception):
    """A REST call answered with an error status."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Server:
    """The real journal-server binary on a free loopback port, SQLite in a
    temporary folder."""

    def __init__(self, folder):
        self.folder = folder
        self.database_url = f"sqlite://{folder / 'server.db'}"
        self.jwt_secret = base64.b64encode(random_secrets.token_bytes(32)).decode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "server.log", "wb")
        self.process = subprocess.Popen(
            [str(SERVER_BIN), *self.settings(), "--bind", f"127.0.0.1:{self.port}",
             "--auth-attempts-per-minute", "100000", "--log", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, env=clean_env(),
        )
        self.wait_until_healthy()

    def settings(self):
        return ["--database-url", self.database_url, "--jwt-secret", self.jwt_secret]

    def wait_until_healthy(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {(self.folder / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not become healthy within 30 s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def api(self, method, path, token=None, body=None):
        """Calls the REST API; returns the decoded JSON answer (None for 204)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                text = answer.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode(errors="replace")) from None

    def login(self, email, password=PASSWORD):
        return self.api("POST", "/auth/login", body={"email": email, "password": password})["accessToken"]

    def create_therapist(self, email, name):
        """An operator's `journal-server create-therapist`, on the server's database."""
        subprocess.run(
            [str(SERVER_BIN), *self.settings(), "--log", "warn", "create-therapist",
             "--email", email, "--display-name", name, "--password-stdin"],
            input=PASSWORD.encode(), check=True, capture_output=True, env=clean_env(), timeout=60,
        )


def clean_env():
    """The environment without settings the server would read instead of
    the flags' defaults."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("JOURNAL_") or k == "DATABASE_URL")}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    if not SERVER_BIN.exists():
        raise RuntimeError(f"no server binary at {SERVER_BIN}: run cargo build -p journal-server")
    running = Server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


class Account:
    def __init__(self, server, email, account_id, token):
        self.server = server
        self.email = email
        self.id = account_id
        self.token = token


@pytest.fixture
def patient(server):
    """A new patient, registered over REST."""
    email = f"patient-{uuid.uuid4().hex[:12]}@example.org"
    answer = server.api("POST", "/auth/register", body={"email": email, "password": PASSWORD})
    return Account(server, email, answer["account"]["id"], answer["accessToken"])


@pytest.fixture
def therapist(server, patient):
    """A therapist made with the server's command, linked to `patient` through
    the care routes (invitation code, accepted by the patient)."""
    email = f"therapist-{uuid.uuid4().hex[:12]}@clinic.example"
    server.create_therapist(email, "Dr. Lee")
    token = server.login(email)
    account_id = server.api("GET", "/me", token=token)["id"]
    invitation = server.api("POST", "/care/invitations", token=token)
    server.api("POST", "/care/links", token=patient.token, body={"code": invitation["code"]})
    return Account(server, email, account_id, token)


@pytest.fixture
def phones(tmp_path, request):
    """Opens phones: `phones()` is a new journal file with its own secret
    store, not signed in; `phones(signed_in=True)` signs it in as `patient`
    (starting the server only for tests that sign in)."""
    opened = []

    def open_phone(signed_in=False):
        secrets = DictSecrets()
        phone = journal.Journal.open(str(tmp_path / f"phone{len(opened)}.db"), secrets)
        phone.secrets = secrets
        opened.append(phone)
        if signed_in:
            server = request.getfixturevalue("server")
            patient = request.getfixturevalue("patient")
            phone.sign_in(server.url, patient.email, PASSWORD)
        return phone

    return open_phone
