"""Readies a running journal server for the Kotlin program's account walk:
waits until it answers, makes a therapist with the operator's command,
and prints a fresh invitation code of theirs and their access token (to
comment on what the program shares), separated by a space.

    python3 prepare_server.py URL SERVER_BIN DATABASE_URL JWT_SECRET
"""

import json
import subprocess
import sys
import time
import urllib.request

PASSWORD = "a long passphrase for kotlin"


def api(url, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/api/v1{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def main():
    url, server_bin, database_url, secret = sys.argv[1:5]
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer within 60 s")
            time.sleep(0.2)
    email = "kotlin.therapist@clinic.example"
    subprocess.run(
        [server_bin, "--database-url", database_url, "--jwt-secret", secret, "--log", "warn",
         "create-therapist", "--email", email, "--display-name", "Dr. Kim", "--password-stdin"],
        input=PASSWORD.encode(), check=True, capture_output=True, timeout=60,
    )
    token = api(url, "POST", "/auth/login", body={"email": email, "password": PASSWORD})["accessToken"]
    code = api(url, "POST", "/care/invitations", token=token)["code"]
    print(f"{code} {token}")


if __name__ == "__main__":
    main()
