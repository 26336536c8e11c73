#!/usr/bin/env bash
# Builds journal-mobile for this machine and generates its Kotlin, Swift and
# Python bindings with the workspace's own uniffi-bindgen (the same pinned
# uniffi as the library, so the two always match).
#
#   scripts/build-bindings.sh [--debug] [--out DIR]
#
#   --debug    build the library unoptimised (fast; what the tests use)
#              instead of release
#   --out DIR  where to write (default: bindings-out/, git-ignored)
#
# Writes:
#   DIR/lib/libjournal_mobile.so        the library (.dylib on macOS)
#   DIR/kotlin/uniffi/journal/journal.kt  Kotlin (JNA); load with jna.library.path
#   DIR/swift/journal.swift, journalFFI.h, journalFFI.modulemap
#                                       Swift (generated only: no Swift
#                                       compiler on these machines)
#   DIR/python/journal.py + the library beside it: `import journal`
#
# Android and iOS builds (cargo-ndk, xcframework): docs/mobile.md.
set -euo pipefail
# Where cargo builds (CARGO_TARGET_DIR when set, as cargo itself does).
target="${CARGO_TARGET_DIR:-target}"
cd "$(dirname "$0")/.."

# Release builds use the `mobile` profile (whole-program LTO: what ships).
profile=mobile
out=bindings-out
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --release) profile=mobile ;;
    --out)
      [ $# -ge 2 ] || { echo "--out needs a folder" >&2; exit 2; }
      out="$2"; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case "$(uname -s)" in
  Darwin) lib=libjournal_mobile.dylib ;;
  *) lib=libjournal_mobile.so ;;
esac

cargo_profile=()
[ "$profile" = mobile ] && cargo_profile=(--profile mobile)

echo "==> building journal-mobile ($profile)"
cargo build -p journal-mobile "${cargo_profile[@]}"
# The generator only reads the library's metadata: a debug build of it is
# as good as any, and quick.
echo "==> building uniffi-bindgen"
cargo build -p uniffi-bindgen

library="$target/$profile/$lib"
[ -f "$library" ] || { echo "$library was not built" >&2; exit 1; }

rm -rf "$out/lib" "$out/kotlin" "$out/swift" "$out/python"
mkdir -p "$out/lib" "$out/kotlin" "$out/swift" "$out/python"
cp "$library" "$out/lib/"

generate() {
  language="$1"
  echo "==> generating $language bindings"
  $target/debug/uniffi-bindgen generate "$library" \
    --language "$language" --out-dir "$out/$language" --no-format --metadata-no-deps
}
generate kotlin
generate swift
generate python
# Python's module loads the library from its own folder.
cp "$library" "$out/python/"

echo "==> bindings in $out/"
find "$out" -type f | sort
