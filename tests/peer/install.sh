#!/usr/bin/env sh
# Installs the load harness's peer (pouchdb-server and PouchDB, versions
# pinned in package.json and package-lock.json beside this script) into <target>/pouchdb-peer,
# where `loadtest` looks for it. Needs node (≥ 18) and the npm registry.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../../target}
mkdir -p "$target/pouchdb-peer"
cp "$here/package.json" "$here/package-lock.json" "$target/pouchdb-peer/"
cd "$target/pouchdb-peer"
# The lock pins every transitive version too. leveldown's install script is
# not needed: its package ships prebuilt binaries for linux-x64 and others.
npm ci --no-audit --no-fund
echo "peer installed in $target/pouchdb-peer"
