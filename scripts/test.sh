#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting,
# lints, the whole test suite (with the benchmarks once each, as a smoke
# test), the mobile bindings from Python and Kotlin, the load harness in its
# smoke mode, the contract test (schemathesis), the clients generated from
# the OpenAPI document, the supply-chain check (cargo-deny) and a short
# fuzzing run. The one command CI runs (.ci/run)
# and the one in the README. Tools it needs are installed under the target
# dir (pytest, schemathesis, kotlinc, axe-core, cargo-deny when not on PATH,
# openapi-python-client, openapi-typescript);
# Chromium and ChromeDriver, for the portal's browser tests, and HAProxy,
# for the scale-out test, with apt-get.
#
# PostgreSQL: the server's database tests run against it. This script starts
# a local cluster if one is installed, installs one with apt-get if none is
# (Debian/Ubuntu, as root), and exports TEST_DATABASE_URL. Under CI=true an
# unreachable PostgreSQL fails the run: those tests must run there, not skip.
set -euo pipefail
# Where cargo builds (CARGO_TARGET_DIR when set, as cargo itself does).
target="${CARGO_TARGET_DIR:-target}"
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust (https://rustup.rs), then run this again." >&2
  exit 1
fi

pg_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

pg_reachable() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$pg_url" 2>/dev/null
}

start_postgres() {
  if pg_reachable; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 30); do pg_reachable && break; sleep 1; done
  fi
  if pg_reachable; then
    # A fresh install has trust auth on the socket only: make sure the role
    # and database the tests use exist.
    if command -v psql >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
      su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" 2>/dev/null | grep -q 1 \
        || su postgres -c "createdb test" >/dev/null 2>&1 || true
    fi
  fi
  pg_reachable
}

say "PostgreSQL for the database tests"
if start_postgres; then
  export TEST_DATABASE_URL="$pg_url"
  echo "using $TEST_DATABASE_URL"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is unreachable at $pg_url and CI=true: the PostgreSQL tests must run in CI." >&2
  exit 1
else
  echo "PostgreSQL is unreachable at $pg_url: its tests will be skipped on this machine." >&2
  export JOURNAL_SKIP_POSTGRES=1
fi

say "formatting"
cargo fmt --all -- --check

say "lints"
cargo clippy --workspace --all-targets --all-features -- -D warnings

# The portal's browser tests (tests/tests/portal_browser.rs) drive Debian's
# headless Chromium through ChromeDriver and run axe-core in it: install
# what is missing. Under CI=true the tests fail when either is absent.
say "browser tests: Chromium, ChromeDriver and axe-core"
if { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing chromium chromium-driver"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
axe_version=4.11.0
# An absolute path: the tests run from their crate's folder.
case "$target" in /*) axe_dir="$target/axe-core" ;; *) axe_dir="$PWD/$target/axe-core" ;; esac
export AXE_CORE_JS="$axe_dir/node_modules/axe-core/axe.min.js"
if ! grep -qs "\"version\": \"$axe_version\"" "$axe_dir/node_modules/axe-core/package.json"; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  mkdir -p "$axe_dir"
  npm install --prefix "$axe_dir" --no-save --no-audit --no-fund "axe-core@$axe_version" >/dev/null \
    || echo "could not install axe-core@$axe_version from npm" >&2
fi
command -v chromium >/dev/null 2>&1 && chromium --version || echo "chromium is not installed" >&2

# The scale-out test (tests/tests/scale_out.rs) puts three servers behind
# Debian's HAProxy: install it when missing. Under CI=true the test fails
# without it.
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ] \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing haproxy"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi

say "tests (benchmarks run once each as a smoke test)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-features --all-targets 2>&1 | tee "$log"
cargo test --workspace --all-features --doc 2>&1 | tee -a "$log"

# ---------------------------------------------------------------------------
# Mobile bindings (journal-mobile): the generated code, called as apps call
# it. Builds the debug library and its bindings (scripts/build-bindings.sh),
# runs the Python suite (tests/python: two phones and a real server) with
# pytest from a virtualenv under target/, then compiles the generated Kotlin
# with a tiny program (tests/kotlin/Main.kt) and runs it on the JVM. Swift is
# generated but not compiled: no Swift compiler can be installed here. Counts
# join the closing line; any failure fails the run after it.
mobile_passed=0
mobile_failed=0
as_root_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  say "installing $*"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

say "mobile bindings: build the library, the bindings and the server"
bindings=$target/bindings-debug
./scripts/build-bindings.sh --debug --out "$bindings"
cargo build -p journal-server

say "mobile bindings: Python (pytest, through the generated module)"
pytest_version=8.4.2
venv=$target/pytest-venv
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/pytest" --version 2>&1 | grep -q "$pytest_version"; then
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1 && as_root_apt; then apt_install python3-venv; fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pytest==$pytest_version"
fi
pytest_log="$(mktemp)"
trap 'rm -f "$log" "$pytest_log"' EXIT
pytest_status=0
JOURNAL_BINDINGS_DIR="$bindings/python" JOURNAL_SERVER_BIN=$target/debug/journal-server \
  "$venv/bin/pytest" -p no:cacheprovider tests/python 2>&1 | tee "$pytest_log" || pytest_status=$?
# pytest's closing line, e.g. "==== 15 passed, 1 failed in 3.2s ====".
summary=$(grep -E '^=+ .* in [0-9.]+s' "$pytest_log" | tail -1 || true)
pytest_count() { echo "$summary" | grep -oE "[0-9]+ ($1)" | awk '{s += $1} END {print s + 0}' || true; }
py_passed=$(pytest_count 'passed')
py_failed=$(pytest_count 'failed|errors?')
if [ "$pytest_status" -ne 0 ] && [ "$py_failed" -eq 0 ]; then py_failed=1; fi
mobile_passed=$((mobile_passed + py_passed))
mobile_failed=$((mobile_failed + py_failed))

say "mobile bindings: Kotlin (compile the generated code and a small program, run it)"
kotlin_version=2.3.21
kotlin_home="$target/kotlin-compiler-$kotlin_version/node_modules/kotlin-compiler"
jna=/usr/share/java/jna.jar
kotlin_ok=true
if ! command -v java >/dev/null 2>&1 && as_root_apt; then apt_install default-jre-headless; fi
if [ ! -f "$jna" ] && as_root_apt; then apt_install libjna-java; fi
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
  if ! command -v npm >/dev/null 2>&1 && as_root_apt; then apt_install npm; fi
  npm install --prefix "$target/kotlin-compiler-$kotlin_version" --no-save --no-audit --no-fund \
    "kotlin-compiler@$kotlin_version" >/dev/null || kotlin_ok=false
fi
if [ "$kotlin_ok" = true ] && [ -x "$kotlin_home/bin/kotlinc" ] && [ -f "$jna" ] && command -v java >/dev/null 2>&1; then
  kotlin_out=$target/kotlin-test
  mkdir -p "$kotlin_out"
  # Compiling takes about a minute: reuse the jar while its sources are the same.
  sources_hash=$(cat "$bindings/kotlin/uniffi/journal/journal.kt" tests/kotlin/Main.kt \
    | sha256sum | cut -c1-16)-$kotlin_version
  if [ ! -f "$kotlin_out/app-$sources_hash.jar" ]; then
    rm -f "$kotlin_out"/app-*.jar
    "$kotlin_home/bin/kotlinc" -nowarn "$bindings/kotlin/uniffi/journal/journal.kt" tests/kotlin/Main.kt \
      -cp "$jna" -d "$kotlin_out/app-$sources_hash.jar" || kotlin_ok=false
  fi
  if [ "$kotlin_ok" = true ]; then
    kotlin_log="$kotlin_out/run.log"
    # A server of its own for the program's account walk (registration, a
    # therapist's invitation, sync), on SQLite in a temporary folder.
    kotlin_server_dir=$(mktemp -d)
    kotlin_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    kotlin_secret=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
    kotlin_db="sqlite://$kotlin_server_dir/server.db"
    "$target/debug/journal-server" --database-url "$kotlin_db" --jwt-secret "$kotlin_secret" \
      --bind "127.0.0.1:$kotlin_port" --log warn >"$kotlin_server_dir/server.log" 2>&1 &
    kotlin_server=$!
    kotlin_prepared=$(python3 tests/kotlin/prepare_server.py "http://127.0.0.1:$kotlin_port" \
      "$target/debug/journal-server" "$kotlin_db" "$kotlin_secret") || kotlin_ok=false
    kotlin_code=${kotlin_prepared%% *}
    kotlin_therapist=${kotlin_prepared#* }
    JOURNAL_KOTLIN_SERVER="http://127.0.0.1:$kotlin_port" JOURNAL_KOTLIN_INVITATION="$kotlin_code" \
      JOURNAL_KOTLIN_THERAPIST_TOKEN="$kotlin_therapist" \
      java -Djna.library.path="$bindings/lib" \
      -cp "$kotlin_out/app-$sources_hash.jar:$jna:$kotlin_home/lib/kotlin-stdlib.jar" MainKt \
      2>&1 | tee "$kotlin_log" || kotlin_ok=false
    kill "$kotlin_server" 2>/dev/null || true
    wait "$kotlin_server" 2>/dev/null || true
    rm -rf "$kotlin_server_dir"
    grep -q '^kotlin: ok$' "$kotlin_log" || kotlin_ok=false
  fi
else
  echo "cannot run the Kotlin check: it needs java, $jna (libjna-java) and npm (for kotlin-compiler@$kotlin_version)" >&2
  kotlin_ok=false
fi
if [ "$kotlin_ok" = true ]; then
  echo "kotlin: 1 passed"
  mobile_passed=$((mobile_passed + 1))
else
  echo "kotlin: 1 failed" >&2
  mobile_failed=$((mobile_failed + 1))
fi
echo "swift: bindings generated in $bindings/swift (not compiled: no Swift compiler on this machine)"
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Hardening and load, each a script of its own that can also run alone with
# longer settings (docs/security.md, docs/benchmarks.md): the load harness in
# its smoke mode (a few seconds on each backend, 0 errors required, speed not
# judged; on PostgreSQL also two instances behind HAProxy), the contract test
# (schemathesis against the served OpenAPI document), the clients two
# generators make from that document, the supply-chain check (cargo-deny)
# and a short fuzzing run.
# Each counts as one check in the closing line; any failure fails the run.
extra_passed=0
extra_failed=0
failed_checks=""
check() {
  local name=$1
  shift
  say "$name"
  if "$@"; then
    extra_passed=$((extra_passed + 1))
    echo "$name: passed"
  else
    extra_failed=$((extra_failed + 1))
    failed_checks="$failed_checks, $name"
    echo "$name: FAILED" >&2
  fi
}
# The harness's debug build (built with the tests above) is enough to show
# it runs without errors; its figures come from release builds.
cargo build --quiet -p journal-e2e --bins
check "load harness (smoke, SQLite)" "$target/debug/loadtest" --smoke --quiet --backend sqlite
check "load harness (smoke, PostgreSQL)" "$target/debug/loadtest" --smoke --quiet --backend postgres
check "load harness (smoke, two instances behind HAProxy on PostgreSQL)" \
  "$target/debug/loadtest" --smoke --quiet --backend postgres --instances 2
check "contract test (schemathesis, SQLite and PostgreSQL)" \
  env CONTRACT_PG_URL="${pg_url%/*}" ./scripts/contract.sh
check "generated clients (openapi-python-client, openapi-typescript)" ./scripts/clients.sh
check "supply chain (cargo-deny)" ./scripts/deny.sh
check "fuzzing (smoke)" env FUZZ_SMOKE_SECONDS="${FUZZ_SMOKE_SECONDS:-20}" ./scripts/fuzz.sh --smoke
# ---------------------------------------------------------------------------

# One closing line for the whole run: cargo prints one per test binary, and
# the last of those may belong to a crate with no tests of its own.
passed=$(grep -o '[0-9]* passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -o '[0-9]* failed' "$log" | awk '{s += $1} END {print s + 0}')
if [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
passed=$((passed + mobile_passed + extra_passed))
failed=$((failed + mobile_failed + extra_failed))
echo
echo "all: $passed passed, $failed failed"
if [ "$mobile_failed" -ne 0 ]; then
  echo "the mobile bindings' checks failed (see above)" >&2
  exit 1
fi
if [ "$extra_failed" -ne 0 ]; then
  echo "failed: ${failed_checks#, } (see above)" >&2
  exit 1
fi
