#!/usr/bin/env bash
# Coverage-guided fuzzing of the sync push and of the export import, with
# libFuzzer (crate libfuzzer-sys) on the stable toolchain: no nightly, no
# cargo-fuzz. See fuzz/README.md.
#
#   scripts/fuzz.sh --build              build the targets only
#   scripts/fuzz.sh --smoke              each target for 45 s (CI)
#   scripts/fuzz.sh --minutes 30         each target for 30 minutes
#   scripts/fuzz.sh --minutes 30 push    one target
#   scripts/fuzz.sh --merge              minimise the corpora runs collected
#
# A crash (panic, failed check, overflow, out-of-memory, timeout) fails the
# run; its input is saved under $target/fuzz/artifacts/<target>/ and printed.
# Runs start from the committed seeds in fuzz/corpus/<target>/ and collect
# what they find in $target/fuzz/corpus/<target>/ (kept between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# Where cargo builds (CARGO_TARGET_DIR when set, as cargo itself does).
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
fuzz_dir="$target/fuzz"

all_targets=(push push_structured import import_structured)
mode=build
seconds=0
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) mode=build ;;
    --smoke) mode=run; seconds="${FUZZ_SMOKE_SECONDS:-45}" ;;
    --minutes) mode=run; seconds=$(( ${2:?--minutes needs a number} * 60 )); shift ;;
    --seconds) mode=run; seconds="${2:?--seconds needs a number}"; shift ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift ;;
    --merge) mode=merge ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

host="$(rustc -vV | sed -n 's/^host: //p')"
# What `cargo fuzz build --sanitizer none` passes, all stable codegen
# options: SanitizerCoverage's 8-bit counters, PC table, comparison tracing
# and stack depth for libFuzzer, and the `fuzzing` cfg. `--target` keeps
# them off build scripts and proc macros.
flags="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"

echo "==> building the fuzz targets (stable $(rustc -V | cut -d' ' -f2), $host)"
RUSTFLAGS="$flags" cargo build --manifest-path fuzz/Cargo.toml --release --locked \
  --target "$host" --target-dir "$fuzz_dir/build" --bins
bin="$fuzz_dir/build/$host/release"

[ "$mode" = build ] && exit 0

status=0
for name in "${targets[@]}"; do
  [ -x "$bin/$name" ] || { echo "no fuzz target $name (${all_targets[*]})" >&2; exit 2; }
  seeds="$root/fuzz/corpus/$name"
  dict=()
  case "$name" in
    push*) dict=(-dict="$root/fuzz/push.dict") ;;
    import*) dict=(-dict="$root/fuzz/import.dict") ;;
  esac
  if [ "$mode" = merge ]; then
    # The committed seeds stay small and readable: pick inputs from the
    # minimised set by hand to commit them.
    echo "==> minimising $fuzz_dir/corpus/$name"
    scratch="$(mktemp -d)"
    "$bin/$name" -set_cover_merge=1 -rss_limit_mb=2048 "$scratch" "$fuzz_dir/corpus/$name" \
      2>&1 | tail -n 1
    rm -rf "$fuzz_dir/corpus/$name" && mv "$scratch" "$fuzz_dir/corpus/$name"
    continue
  fi
  work="$fuzz_dir/corpus/$name"
  artifacts="$fuzz_dir/artifacts/$name"
  mkdir -p "$work" "$artifacts"
  echo "==> fuzzing $name for ${seconds}s"
  log="$fuzz_dir/$name.log"
  set +e
  # Found inputs go to the scratch corpus (first directory); the committed
  # seeds are only read.
  parallel=()
  # Several processes share the scratch corpus; each logs to
  # $fuzz_dir/fuzz-<n>.log.
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  (cd "$fuzz_dir" && "$bin/$name" "$work" "$seeds" "${dict[@]}" "${parallel[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/") >"$log" 2>&1
  code=$?
  set -e
  grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tail -n 3 || true
  if [ $code -ne 0 ]; then
    status=1
    echo "!! $name failed (exit $code); log: $log" >&2
    grep -E -A 30 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 60 >&2 || true
    for crash in "$artifacts"/*; do
      [ -f "$crash" ] || continue
      echo "!! input: $crash" >&2
      head -c 2000 "$crash" | od -c | head -n 20 >&2
      echo "   replay: $bin/$name $crash" >&2
    done
  fi
done
exit $status
