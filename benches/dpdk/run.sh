#!/bin/sh
# Side-by-side ClassBench throughput: `sgeval bench classbench` next to DPDK's
# `dpdk-test-acl` (Debian package `dpdk-dev`), on the same files, in the same run.
#
# usage: benches/dpdk/run.sh [SET...]        (default: the nine acl1/fw1/ipc1 sets)
#   SGEVAL_CLASSBENCH_DIR  data directory (default: ../shared/data/classbench from the repo root)
#   CLOCK=cpu              pass `--clock cpu` to sgeval (DPDK always reports wall-clock rates)
#   DPDK_LOOKUPS=N         lookups per timed DPDK run (default 20000000)
#
# DPDK reads ClassBench filter and trace files as they are, but not gzip: the .gz files
# are decompressed into a temporary directory that is removed on exit. No data is kept.
# Output, one line per set and engine, lookups in millions per second:
#   set  engine  build_ms  memory_bytes  one_at_a_time  batch64  mismatches
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
data=${SGEVAL_CLASSBENCH_DIR:-$root/../shared/data/classbench}
lookups=${DPDK_LOOKUPS:-20000000}
sets=${*:-acl1_1k fw1_1k ipc1_1k acl1_10k fw1_10k ipc1_10k acl1_100k fw1_100k ipc1_100k}
clock=${CLOCK:-wall}

command -v dpdk-test-acl >/dev/null || { echo "dpdk-test-acl not found (apt-get install dpdk-dev)" >&2; exit 2; }
(cd "$root" && cargo build --release --quiet 2>/dev/null || cargo build --release)
sgeval=$root/target/release/sgeval
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# plain FILE: the path of an uncompressed copy of FILE or FILE.gz.
plain() {
    if [ -f "$data/$1" ]; then echo "$data/$1"; else zcat "$data/$1.gz" > "$tmp/$1"; echo "$tmp/$1"; fi
}

# dpdk RULES TRACE STEP ITER VERBOSE
dpdk() {
    n_rules=$(wc -l < "$1"); n_trace=$(wc -l < "$2")
    # --no-shconf: no shared runtime directory, so several runs may coexist.
    dpdk-test-acl --no-huge --no-shconf -m 4096 -l 0 -- --rulesf="$1" --tracef="$2" \
        --rulenum=$((n_rules + 1)) --tracenum=$((n_trace + 1)) --tracestep="$3" \
        --bldcat=1 --runcat=1 --iter="$4" --verbose="$5" 2>/dev/null
}

printf '%-10s %-9s %10s %13s %8s %8s %10s\n' set engine build_ms memory_bytes one batch64 mismatches
for set in $sets; do
    rules=$(plain "$set"); trace=$(plain "${set}_trace"); truth=$(plain "${set}_trace.truth")
    # sgeval: one line per batch size.
    one=$("$sgeval" bench classbench "$rules" "$trace" --truth "$truth" --batch 1 --clock "$clock" || true)
    b64=$("$sgeval" bench classbench "$rules" "$trace" --truth "$truth" --batch 64 --clock "$clock" || true)
    field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
    printf '%-10s %-9s %10s %13s %8.2f %8.2f %10s\n' "$set" sgeval "$(field "$b64" build_ms)" \
        "$(field "$b64" memory_bytes)" "$(echo "$(field "$one" lookups_per_s)/1000000" | bc -l)" \
        "$(echo "$(field "$b64" lookups_per_s)/1000000" | bc -l)" \
        "$(( $(field "$one" mismatches) + $(field "$b64" mismatches) ))"
    # DPDK: one verbose pass for the answers, then timed runs at steps 1 and 64.
    n=$(wc -l < "$trace"); iter=$(( (lookups + n - 1) / n ))
    mism=$(dpdk "$rules" "$trace" 64 1 3 | sed -n 's/^ipv4_5tuple: .*result: //p' \
        | paste -d' ' - "$truth" | awk '$1 != $2 { m++ } END { print m + 0 }')
    rate() {
        r=$(dpdk "$rules" "$trace" "$1" "$iter" 0 | sed -n 's/.* \([0-9.]*\) pkt\/sec$/\1/p')
        if [ -n "$r" ]; then echo "$r/1000000" | bc -l; else echo failed; fi
    }
    d1=$(rate 1); d64=$(rate 64)
    printf '%-10s %-9s %10s %13s %8s %8s %10s\n' "$set" dpdk - - "$(printf %.2f "$d1" 2>/dev/null || echo "$d1")" \
        "$(printf %.2f "$d64" 2>/dev/null || echo "$d64")" "$mism"
    rm -f "$tmp"/*
done
