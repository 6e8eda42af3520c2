#!/bin/bash
# bench/profile.sh SCENARIO [SESSIONS] [SECONDS]: where fluo's CPU goes under
# `fluo-bench SCENARIO --server fluo`. perf samples the server (call graphs
# through DWARF) for SECONDS once the sessions are up; each sample is put in
# one class by its stack: SRTP (libsrtp2 and its crypto), the send, receive
# and epoll syscalls, or fluo's own code (the rest, listed by function).
# Needs perf (Debian's linux-perf) and root or perf_event_paranoid <= 1.
set -eu
cd "$(dirname "$0")/.."
SC=${1:?usage: bench/profile.sh echo|one2many|room [SESSIONS] [SECONDS]}
N=${2:-100}
SECS=${3:-8}
OUT=build/profile-$SC
mkdir -p build
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
# the harness of make bench: client on core 0, fluo (one worker) on core 1
# behind the veth pair
taskset -c 0 build/fluo-bench "$SC" --server fluo --sessions "$N" --seconds $((SECS + 10)) \
    --net veth --server-cpu 1 --workers 1 >"$OUT.bench" 2>&1 &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT
# the harness starts the server, then connects the sessions: sample after
for _ in $(seq 60); do
    pgrep -n -x fluo >/dev/null && break
    sleep 0.5
done
sleep 6
pid=$(pgrep -n -x fluo)
perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$OUT.data" -- sleep "$SECS" >/dev/null 2>&1
wait $bench || true
trap - EXIT
tail -1 "$OUT.bench"
perf script -i "$OUT.data" -F ip,sym 2>/dev/null | awk '
    function flush() {
        if (n == 0) return
        total++
        if (stack ~ /srtp_/) c = "SRTP (libsrtp2 and its crypto)"
        else if (stack ~ /sendmmsg|sendmsg/) c = "syscalls: send"
        else if (stack ~ /recvmmsg|recvmsg/) c = "syscalls: receive"
        else if (stack ~ /epoll_wait/) c = "syscalls: epoll"
        else { c = "fluo and libuv"; own[leaf]++ }
        cls[c]++
        n = 0; stack = ""
    }
    /^$/ { flush(); next }
    {
        sym = $2; sub(/\+0x[0-9a-f]+$/, "", sym)
        if (n == 0) leaf = sym
        stack = stack " " sym; n++
    }
    END {
        flush()
        printf "%d samples\n", total
        for (c in cls) printf "%6.1f%%  %s\n", 100 * cls[c] / total, c | "sort -rn"
        close("sort -rn")
        print "fluo and libuv, by function (top 15):"
        for (f in own) printf "%6.1f%%  %s\n", 100 * own[f] / total, f | "sort -rn | head -15"
    }'
