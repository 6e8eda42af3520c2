#!/usr/bin/env bash
# A fuzz campaign (make fuzz-run): every libFuzzer target in build/fuzz runs
# for FUZZ_SECONDS (default 60; or until FUZZ_RUNS executions if that comes
# first) on one core, starting from its corpus in
# tests/fuzz/corpus/<name> plus what earlier campaigns found, then prints
# one line per target: executions, executions per second, corpus size,
# coverage and findings (crash, leak, timeout, oom files). Exits 1 when any
# target found something.
#
#   make fuzz-run FUZZ_SECONDS=120               every target, 120 s each
#   make fuzz-run FUZZ_SECONDS=60 FUZZ_TARGETS="sdp rpc"
#   make fuzz-run FUZZ_RUNS=10000000 FUZZ_SECONDS=3600
#                                                each target until 10 million
#                                                executions, at most an hour
#   FUZZ_MERGE=1 make fuzz-run ...               then merge into the repo corpus
#                                                 only the inputs that add coverage
#
# New inputs go to build/fuzz-campaign/<name>/corpus (kept between runs, so
# campaigns add up); findings to build/fuzz-campaign/<name>/artifacts; each
# run's log to build/fuzz-campaign/<name>/log; the table also to
# build/fuzz-campaign/results.md.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:--1}
TARGETS=${FUZZ_TARGETS:-}
MERGE=${FUZZ_MERGE:-0}
OUT=build/fuzz-campaign
mkdir -p "$OUT"

if [ -z "$TARGETS" ]; then
    TARGETS=$(cd build/fuzz && ls fuzz_* | sed 's/^fuzz_//')
fi

# stat::name: value from libFuzzer's -print_final_stats=1 output
stat() {
    sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

# the last "cov: N ft: M" a run printed
cov() {
    grep -o 'cov: [0-9]* ft: [0-9]*' "$1" | tail -n 1 | awk '{ print $2 "/" $4 }'
}

count() {
    find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

table="$OUT/results.md"
{
    echo "| target | s | executions | all campaigns | exec/s | corpus (repo + new) | cov/ft | findings |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
} > "$table"
printf '%-12s %5s %11s %11s %8s %16s %12s  %s\n' target s executions "all runs" exec/s \
    "corpus(repo+new)" cov/ft findings
found=0
total_execs=0
for name in $TARGETS; do
    bin=build/fuzz/fuzz_$name
    repo_corpus=tests/fuzz/corpus/$name
    dir=$OUT/$name
    if [ ! -x "$bin" ]; then
        echo "$name: $bin not built (make fuzz)" >&2
        found=1
        continue
    fi
    mkdir -p "$dir/corpus" "$dir/artifacts" "$repo_corpus"
    touch "$dir/.started"
    t0=$SECONDS
    # New inputs are written to the first corpus directory only.
    "$bin" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "$dir/corpus" "$repo_corpus" > "$dir/log" 2>&1
    rc=$?
    elapsed=$((SECONDS - t0))
    execs=$(stat number_of_executed_units "$dir/log")
    rate=$(stat average_exec_per_sec "$dir/log")
    execs=${execs:-0}
    rate=${rate:-0}
    total_execs=$((total_execs + execs))
    echo "$execs" >> "$dir/executions" # one line per run: what the campaigns add up to
    all=$(awk '{ n += $1 } END { print n }' "$dir/executions")
    # what this run wrote (slow-unit files are not findings)
    findings=$(find "$dir/artifacts" -maxdepth 1 -type f -newer "$dir/.started" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
        -printf '%f ')
    if [ "$rc" -ne 0 ] && [ -z "$findings" ]; then
        findings="exit $rc (see $dir/log)"
    fi
    if [ -n "$findings" ]; then
        found=1
    else
        findings="none"
    fi
    corpus="$(count "$repo_corpus") + $(count "$dir/corpus")"
    printf '%-12s %5s %11s %11s %8s %16s %12s  %s\n' "$name" "$elapsed" "$execs" "$all" "$rate" \
        "$corpus" "$(cov "$dir/log")" "$findings"
    echo "| $name | $elapsed | $execs | $all | $rate | $corpus | $(cov "$dir/log") | $findings |" \
        >> "$table"
    if [ "$MERGE" = 1 ] && [ "$findings" = none ]; then
        # only what adds coverage to the repo corpus is copied into it
        "$bin" -merge=1 "$repo_corpus" "$dir/corpus" > "$dir/merge.log" 2>&1 &&
            echo "    merged: $repo_corpus now $(count "$repo_corpus") files"
    fi
done
echo "total executions: $total_execs; table in $table"
exit $found
