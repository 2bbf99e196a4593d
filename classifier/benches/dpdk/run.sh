#!/bin/sh
# Side-by-side ClassBench throughput: `sgeval bench classbench` next to DPDK's
# `dpdk-test-acl` (Debian package `dpdk-dev`), on the same files, in the same run.
#
# usage: benches/dpdk/run.sh [SET...]        (default: the nine acl1/fw1/ipc1 sets)
#   SGEVAL_CLASSBENCH_DIR  data directory (default: ../shared/data/classbench from the repo root)
#   ROUNDS=N               timed runs per engine and batch size (default 5), taken in turns
#                          (sgeval, DPDK, sgeval, ...) so both see the same machine
#   CLOCK=cpu              pass `--clock cpu` to sgeval (DPDK always reports wall-clock rates)
#   DPDK_LOOKUPS=N         lookups per timed DPDK run (default 10000000)
#   DPDK_ALGS="sse avx2"   DPDK classify methods tried in each round, best kept (default: both;
#                          on this machine's Zen 1 cores `sse` beats DPDK's default `avx2`)
#
# DPDK reads ClassBench filter and trace files as they are, but not gzip: the .gz files
# are decompressed into a temporary directory that is removed on exit. No data is kept.
# Output, one line per set and engine, lookups in millions per second, best and median of
# the rounds (a shared 2-core machine moves single runs by about 10%):
#   set  engine  build_ms  memory_bytes  one_best  one_median  b64_best  b64_median  mismatches
set -eu

# The workspace root: this script lives in classifier/benches/dpdk.
root=$(cd "$(dirname "$0")/../../.." && pwd)
data=${SGEVAL_CLASSBENCH_DIR:-$root/../shared/data/classbench}
lookups=${DPDK_LOOKUPS:-10000000}
rounds=${ROUNDS:-5}
algs=${DPDK_ALGS:-sse avx2}
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

# dpdk RULES TRACE STEP ITER VERBOSE [ALG]
dpdk() {
    n_rules=$(wc -l < "$1"); n_trace=$(wc -l < "$2")
    # --no-shconf: no shared runtime directory, so several runs may coexist. Hugepages
    # were measured to make no difference here (ipc1_1k batch 64: 17.33 with, 17.18 without).
    dpdk-test-acl --no-huge --no-shconf -m 4096 -l 0 -- --rulesf="$1" --tracef="$2" \
        --rulenum=$((n_rules + 1)) --tracenum=$((n_trace + 1)) --tracestep="$3" \
        --bldcat=1 --runcat=1 --iter="$4" --verbose="$5" ${6:+--alg="$6"} 2>/dev/null
}

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# stats FILE: "best median" of the numbers in FILE (one per line), in millions.
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "failed failed"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f\n", v[NR] / 1e6, m / 1e6 }'
}

printf '%-10s %-7s %9s %13s %9s %10s %9s %10s %10s\n' set engine build_ms memory_bytes \
    one_best one_median b64_best b64_median mismatches
for set in $sets; do
    rules=$(plain "$set"); trace=$(plain "${set}_trace"); truth=$(plain "${set}_trace.truth")
    n=$(wc -l < "$trace"); iter=$(( (lookups + n - 1) / n ))
    : > "$tmp/s1"; : > "$tmp/s64"; : > "$tmp/d1"; : > "$tmp/d64"
    mism=0
    i=0
    while [ "$i" -lt "$rounds" ]; do
        i=$((i + 1))
        for b in 1 64; do
            line=$("$sgeval" bench classbench "$rules" "$trace" --truth "$truth" --batch "$b" --clock "$clock" || true)
            field "$line" lookups_per_s >> "$tmp/s$b"
            m=$(field "$line" mismatches)
            mism=$((mism + ${m:-1}))
            [ "$b" = 64 ] && last=$line
            best=
            for alg in $algs; do
                r=$(dpdk "$rules" "$trace" "$b" "$iter" 0 "$alg" | sed -n 's/.* \([0-9.]*\) pkt\/sec$/\1/p')
                [ -n "$r" ] && best=$(printf '%s\n%s\n' "$r" "$best" | sort -g | tail -1)
            done
            [ -n "$best" ] && echo "$best" >> "$tmp/d$b"
        done
    done
    printf '%-10s %-7s %9s %13s %9s %10s %9s %10s %10s\n' "$set" sgeval "$(field "$last" build_ms)" \
        "$(field "$last" memory_bytes)" $(stats "$tmp/s1") $(stats "$tmp/s64") "$mism"
    # DPDK's answers, checked once against the same truth file.
    dmism=$(dpdk "$rules" "$trace" 64 1 3 | sed -n 's/^ipv4_5tuple: .*result: //p' \
        | paste -d' ' - "$truth" | awk '$1 != $2 { m++ } END { print m + 0 }')
    printf '%-10s %-7s %9s %13s %9s %10s %9s %10s %10s\n' "$set" dpdk - - $(stats "$tmp/d1") \
        $(stats "$tmp/d64") "$dmism"
    rm -f "$tmp"/*
done
