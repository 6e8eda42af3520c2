#!/usr/bin/env bash
# Everything CI runs: build, unit tests, layering and format checks, interop
# tests against real peers, the same under ASan+UBSan, and a fuzz smoke run.
# Ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# every test: a name filter left in the environment would pick a few
unset FLUO_TEST
passed=0
failed=0
failures=()
FUZZ_SECONDS=${FUZZ_SECONDS:-15}

# report NAME RC LOG T0: one step's line (and the end of its log when it
# failed); the log is removed
report() {
    local name=$1 rc=$2 log=$3 t0=$4
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $name ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL $name ($((SECONDS - t0)) s)"
        reasons "$log"
        tail -n 60 "$log" | sed 's/^/    /'
    fi
    rm -f "$log"
}

# reasons LOG: the failed tests and their assertion messages from a node
# spec log, first (a log's end is mostly stack traces)
reasons() {
    awk '/failing tests:/ { on = 1 } on && /✖|Error|error|expected|actual/ && !/^ *at / { print; if (++n >= 30) exit }' "$1" |
        sed 's/^ */    why: /'
}

# run_step NAME TRIES CMD...: runs CMD, again after a failure while tries
# are left (the first failures' reasons printed), and reports the last run
run_step() {
    local name=$1 tries=$2
    shift 2
    local log rc t0=$SECONDS
    log=$(mktemp)
    while :; do
        rc=0
        "$@" >"$log" 2>&1 || rc=$?
        tries=$((tries - 1))
        [ "$rc" -eq 0 ] || [ "$tries" -le 0 ] && break
        echo "RETRY $name: its first run failed ($((SECONDS - t0)) s)"
        reasons "$log"
    done
    report "$name" "$rc" "$log" "$t0"
}

step() {
    run_step "$1" 1 "${@:2}"
}

# step_retry NAME CMD...: a step run a second time when its first run
# fails, for the browser tests on a shared, noisy machine; the first run's
# reasons are printed either way, so a flaky test shows in the output
step_retry() {
    run_step "$1" 2 "${@:2}"
}

finish() {
    echo
    if [ ${#failures[@]} -gt 0 ]; then
        echo "failed: ${failures[*]}"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

unit_tests() {
    local b=$1
    for t in $(find "$b/tests/unit" -type f -perm -u+x | sort); do
        step "unit${b#build}:${t#$b/tests/unit/}" "$t"
    done
}

interop_tests() {
    local bin=$1 tag=$2
    for t in tests/interop/*.test.js; do
        step "interop$tag:$(basename "$t" .test.js)" env FLUO_BIN="$PWD/$bin" \
            node --test --test-reporter=spec "$t"
    done
}

# WebRTC with headless Chromium (tests/interop/browser): the Kurento
# tutorials against the server, one at a time (2 cores).
browser_tests() {
    local bin=$1 tag=$2
    shift 2
    for name in "$@"; do
        step_retry "browser$tag:$name" env FLUO_BIN="$PWD/$bin" \
            node --test --test-reporter=spec "tests/interop/browser/$name.test.js"
    done
}
BROWSER_TESTS=$(cd tests/interop/browser && ls *.test.js | sed 's/\.test\.js$//')
BROWSER_TESTS_ASAN="hello_world one2many generate_offer whip http_post rtp datachannel"

fuzz_smoke() {
    local t=$1 name
    name=$(basename "$t")
    name=${name#fuzz_}
    local work
    work=$(mktemp -d)
    "$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 "$work" \
        "tests/fuzz/corpus/$name"
    local rc=$?
    rm -rf "$work"
    return $rc
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

step build make -j2 all
[ "$failed" -eq 0 ] || finish
unit_tests build
step layers sh tests/tools/check_layers.sh
step format make -s format-check
# make install into a scratch DESTDIR: the layout and soname, fluo.h alone
# as C11 and C++, exports, and docs/examples/embed_loopback.c built through
# pkg-config against the shared and the static library (browser/embed runs
# that build against Chromium)
FLUO_EMBED_DIR=$(mktemp -d)
export FLUO_EMBED_DIR
trap 'rm -rf "$FLUO_EMBED_DIR"' EXIT
step install sh tests/tools/install_check.sh "$FLUO_EMBED_DIR"
interop_tests build/fluo ""
browser_tests build/fluo "" $BROWSER_TESTS
# WebRTC load smoke: a few sessions for a few seconds, every scenario against
# fluo and the floor. fluo-bench exits 1, failing the step, when a peer does
# not connect, a receiver lacks a stream or a stream stalls (no packet for
# 2 s), each named on stderr (interop/bench_fail proves it against a server
# stopped with SIGSTOP); a step merely not passed (loss, p99) on a busy CI
# machine does not fail it. `make bench` is the real measurement.
for sc in echo one2many room; do
    for srv in fluo floor; do
        step "bench-smoke:$sc-$srv" build/fluo-bench "$sc" --server "$srv" --sessions 3 --seconds 2
    done
done
# Simulcast (the publisher's three layers in the SSRC form): fails unless the viewers split
# across the layers by their caps, each thirds' layer named by fluo's getStats too.
step "bench-smoke:simulcast-fluo" build/fluo-bench one2many --simulcast 1 --server fluo --sessions 6 --seconds 3
# Viewers joining a broadcast: fails unless each gets a complete key frame within 5 s.
step "bench-smoke:join-fluo" build/fluo-bench join --server fluo --joins 5
# Recording against forwarding: fails unless every WebM file ffprobes as vp8+opus of the right length.
step "bench-smoke:record-fluo" build/fluo-bench record --server fluo --sessions 2 --seconds 3
# Playing a file against forwarding: fails unless every client gets audio and video at the
# file's frame rate and its player's EndOfStream at the file's end.
step "bench-smoke:play-fluo" build/fluo-bench play --server fluo --sessions 2 --seconds 3
# Real networks in namespaces (veth, NAT, loss, coturn): needs root, as CI has.
if [ "$(id -u)" -eq 0 ]; then
    for t in tests/net/test_*.sh; do
        step "net:$(basename "$t" .sh)" bash "$t"
    done
    # Media quality through fluo over a lab of namespaces (tests/interop/net:
    # browsers in their own namespaces, tbf rate limits and random loss in a
    # router; quality about 4 minutes, simulcast about 2).
    for t in tests/interop/net/*.test.js; do
        step "net:$(basename "$t" .test.js)" env FLUO_BIN="$PWD/build/fluo" \
            tests/interop/net/run.sh "$t"
    done
fi

step build-asan make -j2 SAN=1 all
if [ -x build/asan/fluo ]; then
    unit_tests build/asan
    interop_tests build/asan/fluo "-asan"
    browser_tests build/asan/fluo "-asan" $BROWSER_TESTS_ASAN
fi

# TSan over the multi-worker tests (the engine's workers, the RPC thread
# talking to them, and the transcoders' codec threads)
TSAN_TESTS="engine/test_engine rpc/test_protocol engine/test_transcode engine/test_spread engine/test_mix engine/test_filter"
step build-tsan make -j2 SAN=thread $(for t in $TSAN_TESTS; do echo "build/tsan/tests/unit/$t"; done)
for t in $TSAN_TESTS; do
    [ -x "build/tsan/tests/unit/$t" ] && step "unit-tsan:$t" env TSAN_OPTIONS=halt_on_error=1 \
        "build/tsan/tests/unit/$t"
done

step build-fuzz make -j2 fuzz
# two at a time (one per core: they only burn CPU, nothing is timed)
fuzzers=()
for t in build/fuzz/fuzz_*; do
    [ -f "$t" ] && [ -x "$t" ] && fuzzers+=("$t")
done
for ((i = 0; i < ${#fuzzers[@]}; i += 2)); do
    second=${fuzzers[i + 1]:-}
    if [ -n "$second" ]; then
        log2=$(mktemp)
        t2=$SECONDS
        (
            rc=0
            fuzz_smoke "$second" >"$log2" 2>&1 || rc=$?
            echo "$rc" >"$log2.rc"
        ) &
    fi
    step "fuzz:$(basename "${fuzzers[i]}")" fuzz_smoke "${fuzzers[i]}"
    if [ -n "$second" ]; then
        wait
        report "fuzz:$(basename "$second")" "$(cat "$log2.rc" 2>/dev/null || echo 1)" "$log2" "$t2"
        rm -f "$log2.rc"
    fi
done
finish
