#!/usr/bin/env bash
# Contract test: runs schemathesis against the OpenAPI document a live server
# serves (/api/v1/openapi.json), signed in, and fails when a response is a
# 5xx or does not match the document (status code, content type, headers,
# body schema), or when the server accepts data the document forbids or
# refuses data it allows.
#
# Builds journal-server, starts it on a temporary SQLite file and a free
# port, seeds it (a patient with records and shares, a therapist made with
# `create-therapist` and linked through a care invitation), then runs
# schemathesis with the patient's token, and the therapist's on the
# therapist and invitation routes. Then the same on PostgreSQL, in a fresh
# database, when one is reachable.
#
#   scripts/contract.sh                          # CI: bounded, fixed seed
#   CONTRACT_MAX_EXAMPLES=500 scripts/contract.sh  # a longer run
#   CONTRACT_SEED=7 scripts/contract.sh            # another seed
#   CONTRACT_BACKENDS=sqlite scripts/contract.sh   # one backend only
#
# Environment:
#   CONTRACT_MAX_EXAMPLES  test cases per operation and phase (default 50)
#   CONTRACT_SEED          schemathesis seed (default 20261121)
#   CONTRACT_BACKENDS      "sqlite postgres" (default), or either alone
#   CONTRACT_PG_URL        PostgreSQL server to create the database on
#                          (default postgres://postgres@127.0.0.1:5432)
#   CI=true                an unreachable PostgreSQL fails the run
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

schemathesis_version=4.32.5
max_examples="${CONTRACT_MAX_EXAMPLES:-50}"
seed="${CONTRACT_SEED:-20261121}"
backends="${CONTRACT_BACKENDS:-sqlite postgres}"
pg_base="${CONTRACT_PG_URL:-postgres://postgres@127.0.0.1:5432}"

say() { printf '\n==> %s\n' "$*"; }

# --- schemathesis, in a virtualenv under the target dir ----------------------
venv=$target/schemathesis-venv
if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>&1 | grep -q "$schemathesis_version"; then
  say "installing schemathesis $schemathesis_version into $venv"
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

say "building journal-server"
cargo build -p journal-server
server_bin=$target/debug/journal-server

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
pg_db=""
cleanup() {
  stop_server
  if [ -n "$pg_db" ] && command -v psql >/dev/null 2>&1; then
    psql -q "$pg_base/postgres" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the server on $1 (database URL), waits for /readyz.
start_server() {
  local database_url=$1 port
  port=$(free_port)
  base="http://127.0.0.1:$port"
  # Sign-in throttling would answer most generated requests 429 (which the
  # document allows) and hide the handlers behind it: the limit is raised
  # here so the contract of the handlers themselves is what gets tested.
  DATABASE_URL="$database_url" JOURNAL_BIND="127.0.0.1:$port" JOURNAL_JWT_SECRET="$jwt_secret" \
    JOURNAL_AUTH_ATTEMPTS_PER_MINUTE=100000 JOURNAL_LOG=warn \
    "$server_bin" serve >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "the server did not start:" >&2
  cat "$work/server.log" >&2
  return 1
}

jwt_secret=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(48)).decode())')
password="contract test passphrase"

# Seeds the running server; writes shell assignments to $work/seed.env.
seed() {
  local database_url=$1 therapist_email="therapist@contract.example"
  printf '%s' "$password" | DATABASE_URL="$database_url" JOURNAL_JWT_SECRET="$jwt_secret" JOURNAL_LOG=warn \
    "$server_bin" create-therapist --email "$therapist_email" --display-name "Dr. Contract" --password-stdin >/dev/null
  BASE="$base" PASSWORD="$password" THERAPIST_EMAIL="$therapist_email" python3 - >"$work/seed.env" <<'PY'
import json, os, urllib.request

base = os.environ["BASE"] + "/api/v1"
password = os.environ["PASSWORD"]


def api(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as answer:
        text = answer.read()
        return json.loads(text) if text else None


patient = api("POST", "/auth/register",
              body={"email": "patient@contract.example", "password": password})
p_token, patient_id = patient["accessToken"], patient["account"]["id"]
t_token = api("POST", "/auth/login",
              body={"email": os.environ["THERAPIST_EMAIL"], "password": password})["accessToken"]
therapist_id = api("GET", "/me", token=t_token)["id"]
code = api("POST", "/care/invitations", token=t_token)["code"]
link = api("POST", "/care/links", token=p_token, body={"code": code})
api("POST", "/care/invitations", token=t_token)  # one left pending


def record(kind, body):
    return api("POST", "/records", token=p_token, body={"kind": kind, "body": body})["id"]


entry = record("journalEntry", {"title": "After the first session",
                                "body": "I saw the sea.", "phase": "integration"})
record("journalEntry", {"body": "Not shared.", "phase": "preparation"})
record("moodCheckIn", {"recordedAt": "2026-01-05T09:00:00Z", "mood": 6, "anxiety": 4,
                       "energy": 5, "emotions": ["calm"], "note": "slept well"})
record("assessment", {"instrument": "phq9", "takenAt": "2026-01-04T09:00:00Z",
                      "answers": [1, 1, 0, 2, 1, 0, 1, 0, 1]})
record("dosingSession", {"scheduledAt": "2026-01-03T09:00:00Z", "route": "intramuscular",
                         "status": "completed"})
record("share", {"therapistId": therapist_id, "scope": {"type": "item", "recordId": entry}})
record("share", {"therapistId": therapist_id,
                 "scope": {"type": "kinds", "kinds": ["moodCheckIn", "assessment", "dosingSession"]}})
api("POST", f"/therapist/patients/{patient_id}/records/{entry}/comments",
              token=t_token, body={"text": "Thank you for sharing this."})
api("GET", f"/therapist/patients/{patient_id}/records/{entry}", token=t_token)

link_id = link["id"] if isinstance(link, dict) and "id" in link else ""
print(f"export CONTRACT_PATIENT_TOKEN={p_token}")
print(f"export CONTRACT_THERAPIST_TOKEN={t_token}")
print(f"export CONTRACT_PATIENT_ID={patient_id}")
print(f"export CONTRACT_RECORD_ID={entry}")
PY
}

# The schemathesis configuration: who calls what, and which ids reads use.
write_config() {
  cat >"$work/schemathesis.toml" <<'TOML'
# The patient's token by default.
headers = { Authorization = "Bearer ${CONTRACT_PATIENT_TOKEN}" }

# schemathesis keeps failing cases for `st replay` here, not in the tree.
cache = { directory = "${CONTRACT_CACHE_DIR}" }

# What is checked on every answer. positive_data_acceptance is left out: the
# API refuses with 422 content that the JSON Schema cannot express (a range
# whose end is before its start, blank text, a questionnaire with the wrong
# number of answers), so schema-valid requests are rightly refused.
[checks]
enabled = false
not_a_server_error = { enabled = true }
status_code_conformance = { enabled = true }
content_type_conformance = { enabled = true }
response_headers_conformance = { enabled = true }
response_schema_conformance = { enabled = true }
negative_data_rejection = { enabled = true }

# Therapist routes, invitations and a patient's care plan: the therapist's
# token.
[[operations]]
include-path-regex = "^/api/v1/(therapist/|care/invitations|care-plans/)"
headers = { Authorization = "Bearer ${CONTRACT_THERAPIST_TOKEN}" }

# A care plan for the seeded patient, so writes and reads reach a linked
# patient too.
[[operations]]
include-path-regex = "^/api/v1/care-plans/\\{patientId\\}"
parameters = { "path.patientId" = "${CONTRACT_PATIENT_ID}" }

# Reads use ids that exist, so successful answers get checked too. Writes
# use generated ids, or ids seen in earlier answers.
[[operations]]
include-method = "GET"
include-path-regex = "^/api/v1/therapist/patients/\\{patientId\\}"
parameters = { "path.patientId" = "${CONTRACT_PATIENT_ID}", "path.recordId" = "${CONTRACT_RECORD_ID}" }

[[operations]]
include-method = "GET"
include-path-regex = "^/api/v1/records/\\{id\\}"
parameters = { "path.id" = "${CONTRACT_RECORD_ID}" }

# Ids seen in earlier answers are reused in later requests, which would
# let a delete end the care link or remove the shared entry and leave the
# therapist's routes nothing but 404 for the rest of the run: these two
# deletes get an id that names nothing.
[[operations]]
include-method = "DELETE"
include-path-regex = "^/api/v1/(care/links|records)/\\{id\\}$"
parameters = { "path.id" = "00000000-0000-7000-8000-000000000000" }

# The contract's server sends no email (no SMTP settings), so asking for a
# password-reset code answers 503 `not-configured`, as documented.
[[operations]]
include-path = "/api/v1/auth/password-reset"
checks = { not_a_server_error = { enabled = false } }

# A push answers 200 with a status per mutation: a mutation whose content
# breaks the document is refused on its own (its result says why) so that
# one bad change does not hold back the others. The whole request is not
# refused, which is what negative_data_rejection expects.
[[operations]]
include-path = "/api/v1/sync/push"
checks = { negative_data_rejection = { enabled = false } }

# A record's body is a oneOf, one branch per kind. The coverage phase
# drops a required property of one branch and counts the request as
# invalid without checking it against the other branches, which it may
# match (a dosing session has no title): false alarms. Fuzzing still
# checks these operations with negative data.
[[operations]]
include-path-regex = "^/api/v1/records(/\\{id\\})?$"
include-method-regex = "^(POST|PUT)$"
phases = { coverage = { checks = { negative_data_rejection = { enabled = false } } } }
TOML
}

# Runs schemathesis against the running server; returns its status.
run_schemathesis() {
  local name=$1 workers=1
  "$venv/bin/st" --config-file "$work/schemathesis.toml" run "$base/api/v1/openapi.json" \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-database none \
    --workers "$workers" \
    --request-timeout 10 \
    --suppress-health-check all \
    --no-color \
    --report junit,ndjson --report-junit-path "$target/contract/$name.xml" \
    --report-ndjson-path "$target/contract/$name.ndjson"
}

mkdir -p "$target/contract"
CONTRACT_CACHE_DIR="$(cd "$target/contract" && pwd)/schemathesis-cache"
export CONTRACT_CACHE_DIR
failed=()
passed=()
for backend in $backends; do
  case "$backend" in
    sqlite)
      database_url="sqlite://$work/contract.db"
      ;;
    postgres)
      if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -d "$pg_base/postgres" 2>/dev/null; then
        if [ "${CI:-}" = "true" ]; then
          echo "PostgreSQL is unreachable at $pg_base and CI=true" >&2
          failed+=("postgres (unreachable)")
        else
          echo "PostgreSQL is unreachable at $pg_base: skipping it" >&2
        fi
        continue
      fi
      pg_db="contract_$(date +%s)_$$"
      psql -q "$pg_base/postgres" -c "CREATE DATABASE $pg_db" >/dev/null
      database_url="$pg_base/$pg_db"
      ;;
    *)
      echo "unknown backend $backend (sqlite or postgres)" >&2
      exit 2
      ;;
  esac
  say "contract test on $backend: max $max_examples examples per operation, seed $seed"
  start_server "$database_url"
  seed "$database_url"
  # shellcheck disable=SC1091
  . "$work/seed.env"
  write_config
  if run_schemathesis "$backend"; then
    passed+=("$backend")
  else
    failed+=("$backend")
    echo "--- server log ($backend) ---" >&2
    tail -n 50 "$work/server.log" >&2
  fi
  stop_server
  if [ "$backend" = postgres ]; then
    psql -q "$pg_base/postgres" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true
    pg_db=""
  fi
done

echo
if [ "${#failed[@]}" -ne 0 ]; then
  echo "contract: FAILED on ${failed[*]} (passed: ${passed[*]:-none}); replay with CONTRACT_SEED=$seed"
  exit 1
fi
if [ "${#passed[@]}" -eq 0 ]; then
  echo "contract: FAILED, nothing ran"
  exit 1
fi
echo "contract: passed on ${passed[*]} (seed $seed, max $max_examples examples per operation)"
