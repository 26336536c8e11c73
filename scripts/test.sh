#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting,
# lints, and the whole test suite (with the benchmarks once each, as a smoke
# test). The one command CI runs (.ci/run) and the one in the README.
#
# PostgreSQL: the server's database tests run against it. This script starts
# a local cluster if one is installed, installs one with apt-get if none is
# (Debian/Ubuntu, as root), and exports TEST_DATABASE_URL. Under CI=true an
# unreachable PostgreSQL fails the run: those tests must run there, not skip.
set -euo pipefail
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

say "tests (benchmarks run once each as a smoke test)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-features --all-targets 2>&1 | tee "$log"
cargo test --workspace --all-features --doc 2>&1 | tee -a "$log"

# One closing line for the whole run: cargo prints one per test binary, and
# the last of those may belong to a crate with no tests of its own.
passed=$(grep -o '[0-9]* passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -o '[0-9]* failed' "$log" | awk '{s += $1} END {print s + 0}')
if [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
echo
echo "all: $passed passed, $failed failed"
