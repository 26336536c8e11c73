#!/usr/bin/env bash
# Supply-chain check: cargo-deny (configuration in deny.toml) over the whole
# workspace — advisories (RustSec), licenses, bans, sources.
#
#   scripts/deny.sh                       # the check (offline)
#   scripts/deny.sh --refresh <checkout>  # refresh the advisory snapshot
#
# The RustSec advisory database lives on github.com, which this machine and
# CI cannot reach. The check therefore reads a snapshot committed under
# supply-chain/advisory-db: the advisories of every crate named in
# Cargo.lock, in the database's own format, and the date it was taken
# (supply-chain/advisory-db/SNAPSHOT). cargo-deny runs with --offline and
# refuses a snapshot older than deny.toml's maximum-db-staleness.
#
# Refreshing (needs github.com, any machine):
#   git clone --depth 1 https://github.com/rustsec/advisory-db /tmp/advisory-db
#   scripts/deny.sh --refresh /tmp/advisory-db
# copies the current advisories of every crate in Cargo.lock from the
# checkout and records its last commit's date; commit supply-chain/ then.
# Run it again after Cargo.lock gains a crate.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

deny_version=0.20.2
snapshot=supply-chain/advisory-db

# The crates named in Cargo.lock, one per line.
locked_crates() {
  sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u
}

if [ "${1:-}" = "--refresh" ]; then
  checkout="${2:?usage: scripts/deny.sh --refresh <advisory-db checkout>}"
  [ -d "$checkout/crates" ] || { echo "$checkout has no crates/ directory" >&2; exit 2; }
  date=$(git -C "$checkout" show -s --format=%cs HEAD)
  commit=$(git -C "$checkout" rev-parse HEAD)
  rm -rf "$snapshot/crates"
  mkdir -p "$snapshot/crates"
  count=0
  while read -r name; do
    if [ -d "$checkout/crates/$name" ]; then
      mkdir -p "$snapshot/crates/$name"
      for advisory in "$checkout/crates/$name"/*.md; do
        [ -e "$advisory" ] || continue
        cp "$advisory" "$snapshot/crates/$name/"
        count=$((count + 1))
      done
    fi
  done < <(locked_crates)
  printf 'date=%s\nsource=https://github.com/rustsec/advisory-db commit %s\n' "$date" "$commit" >"$snapshot/SNAPSHOT"
  echo "snapshot of $date ($commit): $count advisories for the crates in Cargo.lock"
  exit 0
fi

# --- cargo-deny: the pinned version from PATH, else installed once under the
# target dir (a first build takes several minutes) ------------------------------
tools=$target/tools
deny=$tools/bin/cargo-deny
if command -v cargo-deny >/dev/null 2>&1 \
  && cargo-deny --version 2>/dev/null | grep -q " $deny_version\$"; then
  deny=$(command -v cargo-deny)
elif [ ! -x "$deny" ] || ! "$deny" --version 2>/dev/null | grep -q " $deny_version\$"; then
  echo "installing cargo-deny $deny_version into $tools"
  cargo install --locked "cargo-deny@$deny_version" --root "$tools"
fi

# --- the advisory snapshot, where cargo-deny expects its checkout -------------
# deny.toml: db-path = "target/tools/advisory-dbs" and the default database
# URL, which cargo-deny maps to this directory name (a hash of the URL).
snapshot_date=$(sed -n 's/^date=//p' "$snapshot/SNAPSHOT")
mkdir -p "$target/tools"
db_root=$(cd "$target/tools" && pwd)/advisory-dbs
db=$db_root/advisory-db-3157b0e258782691
rm -rf "$db"
mkdir -p "$db/.git"
cp -R "$snapshot/crates" "$db/crates"
# cargo-deny dates a database by the time of its last fetch (the mtime of
# .git/FETCH_HEAD): the snapshot's date, so that an old snapshot is refused.
: >"$db/.git/FETCH_HEAD"
touch -d "$snapshot_date" "$db/.git/FETCH_HEAD"
if [ "$db_root" != "$PWD/target/tools/advisory-dbs" ]; then
  # deny.toml names target/tools/advisory-dbs; point it at this one.
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  sed "s|^db-path = .*|db-path = \"$db_root\"|" deny.toml >"$config"
  set -- --config "$config"
else
  set --
fi

echo "cargo-deny $deny_version: advisories (snapshot of $snapshot_date, $(find "$db/crates" -name '*.md' | wc -l) advisories), licenses, bans, sources"
# cargo-deny reads the metadata of every platform's dependencies: fetch the
# crates first (from the registry; the advisories stay offline).
cargo fetch --locked --quiet
status=0
"$deny" --offline --locked "$@" check --show-stats advisories licenses bans sources || status=$?
if [ "$status" -ne 0 ]; then
  echo "deny: FAILED (see above; a stale snapshot is refreshed with scripts/deny.sh --refresh)" >&2
  exit "$status"
fi
echo "deny: passed"
