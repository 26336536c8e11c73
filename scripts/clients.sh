#!/usr/bin/env bash
# Generated clients: the OpenAPI document a live server serves
# (/api/v1/openapi.json) must be eaten whole by two mainstream generators,
# openapi-python-client and openapi-typescript. Fails when either warns or
# errs, or when any schema of the document is missing from what it
# generated; then makes real calls through the generated Python client
# (register, sign in, create an entry, list it back).
#
# Installs both generators under the target folder (a virtualenv, an npm
# prefix), builds journal-server, starts it on a temporary SQLite file.
#
#   scripts/clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac

python_client_version=0.29.1
typescript_version=7.13.0

say() { printf '\n==> %s\n' "$*"; }
as_root_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

venv=$target/clients-venv
if [ ! -x "$venv/bin/openapi-python-client" ] \
  || ! "$venv/bin/openapi-python-client" --version 2>&1 | grep -q "$python_client_version"; then
  say "installing openapi-python-client $python_client_version into $venv"
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1 && as_root_apt; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "openapi-python-client==$python_client_version"
fi
npm_dir=$target/openapi-typescript
if ! grep -qs "\"version\": \"$typescript_version\"" "$npm_dir/node_modules/openapi-typescript/package.json"; then
  say "installing openapi-typescript $typescript_version into $npm_dir"
  if ! command -v npm >/dev/null 2>&1 && as_root_apt; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-save --no-audit --no-fund \
    "openapi-typescript@$typescript_version" >/dev/null
fi

say "building journal-server"
cargo build --quiet -p journal-server
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
"$target/debug/journal-server" --database-url "sqlite://$work/server.db" --jwt-secret "$secret" \
  --bind "127.0.0.1:$port" --log warn >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/healthz')" "$base" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
python3 -c "import urllib.request, sys; open(sys.argv[2], 'wb').write(urllib.request.urlopen(sys.argv[1] + '/api/v1/openapi.json').read())" \
  "$base" "$work/openapi.json"

status=0

say "openapi-typescript $typescript_version"
if ! "$npm_dir/node_modules/.bin/openapi-typescript" "$work/openapi.json" -o "$work/api.d.ts" \
  >"$work/ts.log" 2>&1; then
  cat "$work/ts.log"
  echo "openapi-typescript failed" >&2
  status=1
fi
cat "$work/ts.log"
if grep -Eiq 'warn|error' "$work/ts.log"; then
  echo "openapi-typescript warned (above)" >&2
  status=1
fi

say "openapi-python-client $python_client_version"
# No post-hooks: they would run formatters that are not installed.
cat >"$work/config.yml" <<'EOF'
project_name_override: journal-api-client
package_name_override: journal_api_client
post_hooks: []
EOF
if ! (cd "$work" && "$venv/bin/openapi-python-client" generate --path openapi.json \
  --config config.yml --meta setup --output-path python-client) >"$work/py.log" 2>&1; then
  echo "openapi-python-client failed" >&2
  status=1
fi
cat "$work/py.log"
# It prints "Warning(s) encountered while generating" and each schema it
# could not read ("Unable to parse schema …", "cannot take allOf …").
if grep -Eiq 'warning|unable to|cannot|error' "$work/py.log"; then
  echo "openapi-python-client warned (above)" >&2
  status=1
fi

say "every schema generated"
"$venv/bin/python" tests/clients/check_generated.py "$work/openapi.json" "$work/api.d.ts" \
  "$work/python-client/journal_api_client/models" || status=1

say "a real call through the generated Python client"
# Its dependencies (httpx, attrs, python-dateutil) are the generator's own.
PYTHONPATH="$work/python-client" "$venv/bin/python" tests/clients/call.py "$base" || status=1

if [ "$status" -ne 0 ]; then
  echo "generated clients: FAILED; server log:" >&2
  tail -20 "$work/server.log" >&2
fi
exit "$status"
