#!/usr/bin/env bash
# Fuzzing in CI (called from .ci/run).
#
# 1. Always: replays every committed seed and regression input through the targets' bodies
#    on the stable toolchain (`cargo test` in this workspace).
# 2. When a nightly toolchain and cargo-fuzz are installed: runs each target for
#    FUZZ_SECONDS (default 20) seconds from the committed seeds. A crash fails the script;
#    libFuzzer leaves the input in fuzz/artifacts/<target>/ (copy it to
#    fuzz/regressions/<target>/ once fixed, so the replay keeps checking it).
#    Without nightly or cargo-fuzz it says so and skips this step.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-20}"

echo "== fuzz: replaying the committed corpora (stable)"
# Shares the main build directory, so CI compiles sgeval and its dependencies once.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}" cargo test --quiet

# FUZZ_TARGETS (space-separated) runs a subset; default: every target of Cargo.toml.
TARGETS="${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^sgeval-fuzz$')}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "== fuzz: no nightly toolchain: timed fuzz runs skipped (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== fuzz: cargo-fuzz is not installed: timed fuzz runs skipped (cargo install cargo-fuzz; slow to build)"
  exit 0
fi

for target in $TARGETS; do
  echo "== fuzz: $target for ${SECONDS_PER_TARGET}s"
  work=$(mktemp -d)
  # New inputs go to the scratch directory; the committed seeds are only read.
  mkdir -p "corpus/$target"
  log="$work.log"
  status=0
  cargo +nightly fuzz run --sanitizer none "$target" "$work" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+== ERROR|thread .* panicked|SUMMARY|Test unit written)' "$log" || true
  if [ "$status" -ne 0 ]; then tail -40 "$log"; fi
  rm -rf "$work" "$log"
  if [ "$status" -ne 0 ]; then
    echo "== fuzz: $target FOUND A FAILURE (see fuzz/artifacts/$target/)" >&2
    exit 1
  fi
done
echo "== fuzz: every target ran ${SECONDS_PER_TARGET}s without a finding"
