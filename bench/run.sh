#!/bin/bash
# make bench: every scenario against fluo, janus and the floor, raising the
# number of sessions step by step, and bench/results.md.
#
# Each run is one `fluo-bench SCENARIO --server S --sessions N --seconds T
# --net veth --server-cpu 1` under `taskset -c 0`: every server behind the
# same veth pair (Janus needs one: libnice never uses loopback), the client
# on core 0 and the server on core 1, that core's irq+softirq time counted
# as the server's (fluo-bench's comment says why). Its last line is the
# record kept here. Each step runs every server BENCH_REPS (3) times,
# interleaved (fluo, janus, floor, fluo, janus, floor, ...), so that a
# drift of the machine falls on all of them alike.
#
# A step passes for a server when every one of its runs passed (pass=1:
# loss <= 1% counted from the senders' side, p99 <= 50 ms, delivered <=
# offered); a server's step loop stops at its first step not passed. A run
# that FAILED (a peer did not connect, a stream stalled: fluo-bench's exit
# status 1, or no record at all) stops that server's steps too, and makes
# this script exit 1 after writing what it has.
#
# The fanout step (fluo only): one broadcast to BENCH_FANOUT_VIEWERS
# viewers with `--workers 1` and `--workers 2`, BENCH_REPS runs each,
# interleaved (1, 2, 1, 2, ...), fluo allowed on BENCH_FANOUT_SERVER_CPU
# (0-1: both cores, beside the client) in both modes so that they compare
# like with like; its section gives each run's CPU per packet and each
# worker's share of the workers' CPU, and the median ratio of workers 2 to
# workers 1. BENCH_SCENARIOS=fanout runs it alone (about 3 minutes, no join
# run) and puts its section and summary line in place in BENCH_OUT, the
# rest of the file kept.
#
# Environment: BENCH_SERVERS ("fluo janus floor"), BENCH_SCENARIOS ("echo
# one2many room fanout"), BENCH_STEPS_<scenario> (the session counts),
# BENCH_SECONDS (8), BENCH_REPS (3), BENCH_CLIENT_CPU (0),
# BENCH_SERVER_CPU (1), BENCH_JOINS (50; 0: no join run),
# BENCH_FANOUT_VIEWERS (100), BENCH_FANOUT_SERVER_CPU (0-1), BENCH_OUT
# (bench/results.md).
set -u
cd "$(dirname "$0")/.."
BIN=build/fluo-bench
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
REPS=${BENCH_REPS:-3}
CLIENT_CPU=${BENCH_CLIENT_CPU:-0}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
OUT=${BENCH_OUT:-bench/results.md}
FANOUT_VIEWERS=${BENCH_FANOUT_VIEWERS:-100}
FANOUT_CPU=${BENCH_FANOUT_SERVER_CPU:-0-1}
FANOUT_HEAD="## One broadcast on two workers"
FANOUT_SUM="one broadcast on two workers"
# Where a section ends: the next heading or the summary lines at the end.
SECTION_END='/^## / || /^fluo\/(floor|janus) CPU per packet/ || /^one2many: fluo / || /^one broadcast on two workers/'
# sections measured by other tools (fluo-bench idle) are kept as they are
KEPT=$(awk "/^## Memory per idle WebRtcEndpoint/ { on = 1; print; next }
    on && ($SECTION_END) { exit }
    on { print }" "$OUT" 2>/dev/null || true)
LOG=build/bench.log
SCENARIOS=${BENCH_SCENARIOS:-"echo one2many room fanout"}
SERVERS=${BENCH_SERVERS:-"fluo janus floor"}
# the fluo-bench scenarios raised step by step; fanout apart (fluo only)
WR_SCENARIOS=$(for sc in $SCENARIOS; do [ "$sc" = fanout ] || printf '%s ' "$sc"; done)
WR_SCENARIOS=${WR_SCENARIOS% }
FANOUT=0
case " $SCENARIOS " in *" fanout "*) case " $SERVERS " in *" fluo "*) FANOUT=1 ;; esac ;; esac
# Chosen for about 40 minutes on a 2-core machine when all pass; one2many
# goes past 1,000 viewers so that 1,000 streams per core can be shown.
declare -A STEPS=(
    [echo]=${BENCH_STEPS_echo:-"50 100 200 400"}
    [one2many]=${BENCH_STEPS_one2many:-"100 250 500 1000 1400"}
    [room]=${BENCH_STEPS_room:-"6 10 14"}
)
mkdir -p build
: >"$LOG"
records=()
failures=()

field() { echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }

# The first line fluo-bench wrote with FAILED after line $1 of the log
# (not an earlier run's); "no record" when there is none.
failure_since() {
    local f
    f=$(tail -n +"$(($1 + 1))" "$LOG" | grep 'FAILED' | grep -v '^RUN FAILED' | head -1)
    echo "${f:-no record}"
}

# One run; its record (with rep=R) appended to records. 0: it ran and its
# step passed; 1: it ran, not passed; 2: it failed.
run_one() {
    local sc=$1 srv=$2 n=$3 rep=$4 line rc out=build/bench.run.out start
    start=$(wc -l <"$LOG")
    # one core for the server: fluo with one worker (two on one core would
    # spread a large pipeline for nothing; the fanout step measures that)
    timeout 900 taskset -c "$CLIENT_CPU" "$BIN" "$sc" --server "$srv" --sessions "$n" \
        --seconds "$SECONDS_PER_RUN" --net veth --server-cpu "$SERVER_CPU" --workers 1 \
        >"$out" 2>>"$LOG"
    rc=$?
    line=$(tail -1 "$out")
    echo "$line rep=$rep" | tee -a "$LOG"
    case $line in
    "$sc server="*) records+=("$line rep=$rep") ;;
    *) rc=1 ;;
    esac
    if [ "$rc" -ne 0 ]; then
        failures+=("$sc $srv N=$n run $rep: $(failure_since "$start")")
        echo "RUN FAILED: ${failures[-1]}" | tee -a "$LOG"
        return 2
    fi
    [ "$(field "$line" pass)" = 1 ] && return 0
    return 1
}

declare -A best # "sc srv" -> largest N passed
for sc in $WR_SCENARIOS; do
    alive=" $SERVERS "
    for n in ${STEPS[$sc]}; do
        [ -n "${alive// /}" ] || break
        declare -A ok=()
        for srv in $alive; do ok[$srv]=1; done
        for rep in $(seq 1 "$REPS"); do
            for srv in $alive; do
                [ "${ok[$srv]}" = 1 ] || continue # failed this step: no more of its runs
                run_one "$sc" "$srv" "$n" "$rep"
                case $? in
                0) ;;
                1) ok[$srv]=0 ;;
                2) ok[$srv]=0 ;;
                esac
            done
        done
        for srv in $alive; do
            if [ "${ok[$srv]}" = 1 ]; then
                best["$sc $srv"]=$n
            else
                echo "$sc $srv: step N=$n not passed; its steps stop here" | tee -a "$LOG"
                alive=${alive/ $srv / }
            fi
        done
        unset ok
    done
done

# One fanout run with --workers w; its record (rep=R step_workers=w,
# failed=1 before them when the run failed: kept out of the ratios)
# appended to fanout_recs, a failed run to fanout_failures.
fanout_recs=()
fanout_failures=()
run_fanout() {
    local w=$1 rep=$2 line rc out=build/bench.run.out start
    start=$(wc -l <"$LOG")
    timeout 900 taskset -c "$CLIENT_CPU" "$BIN" one2many --server fluo --sessions "$FANOUT_VIEWERS" \
        --seconds "$SECONDS_PER_RUN" --net veth --server-cpu "$FANOUT_CPU" --workers "$w" \
        >"$out" 2>>"$LOG"
    rc=$?
    line=$(tail -1 "$out")
    case $line in
    "one2many server=fluo "*" worker_share="*) ;;
    *) rc=1 ;;
    esac
    [ "$rc" -eq 0 ] || line="$line failed=1"
    echo "$line rep=$rep step_workers=$w" | tee -a "$LOG"
    case $line in
    "one2many server=fluo "*) fanout_recs+=("$line rep=$rep step_workers=$w") ;;
    esac
    if [ "$rc" -ne 0 ]; then
        fanout_failures+=("fanout --workers $w run $rep: $(failure_since "$start")")
        echo "RUN FAILED: ${fanout_failures[-1]}" | tee -a "$LOG"
    fi
}

if [ "$FANOUT" = 1 ]; then
    for rep in $(seq 1 "$REPS"); do
        for w in 1 2; do run_fanout "$w" "$rep"; done
    done
fi

join_out=""
join_rec=""
case " $SERVERS " in
*" fluo "*)
    # not when the fanout step runs alone
    if [ -n "$WR_SCENARIOS" ] && [ "${BENCH_JOINS:-50}" -gt 0 ]; then
        join_out=$(timeout 300 taskset -c "$CLIENT_CPU" "$BIN" join --server fluo \
            --joins "${BENCH_JOINS:-50}" 2>>"$LOG")
        echo "$join_out" | tee -a "$LOG"
        join_rec=$(echo "$join_out" | tail -1)
        case $join_rec in
        "join server="*) ;;
        *)
            failures+=("join fluo: no record")
            join_rec=""
            ;;
        esac
    fi
    ;;
esac

# The records of one scenario, server and N.
recs_of() {
    local r
    for r in "${records[@]}"; do
        case $r in "$1 server=$2 sessions=$3 "*) echo "$r" ;; esac
    done
}

# "median [min-max]" of the numbers on stdin.
spread() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f [%.2f-%.2f]", m, v[1], v[NR] }'
}

# fluo/ref CPU per packet at the largest N both passed: run i of fluo over
# run i of ref (neighbours in the interleaving), median and spread.
ratio() {
    local sc=$1 ref=$2 n=${best["$1 fluo"]:-} m=${best["$1 $2"]:-}
    [ -n "$n" ] && [ -n "$m" ] || { echo "n/a"; return; }
    [ "$m" -lt "$n" ] && n=$m
    paste <(recs_of "$sc" fluo "$n" | sed 's/.* cpu_us_per_pkt=\([^ ]*\).*/\1/') \
        <(recs_of "$sc" "$ref" "$n" | sed 's/.* cpu_us_per_pkt=\([^ ]*\).*/\1/') |
        awk '$2 > 0 { print $1 / $2 }' | spread | tr -d '\n'
    echo " (N=$n)"
}

# The records of the --workers $1 runs that did not fail, in run order.
fanout_of() {
    local r
    for r in "${fanout_recs[@]}"; do
        case $r in *" failed=1 "*) ;; *" step_workers=$1") echo "$r" ;; esac
    done
}

# "REP VALUE" of field $2 in each --workers $1 run, sorted for join.
fanout_field() {
    fanout_of "$1" | sed -n "s/.* $2=\([^ ]*\) .* rep=\([0-9]*\) .*/\2 \1/p" | LC_ALL=C sort
}

# Field $1 of the --workers 2 runs over that of the --workers 1 runs, run i
# over run i (neighbours in the interleaving): "median [min-max] of K pairs".
fanout_ratio() {
    local v
    v=$(LC_ALL=C join <(fanout_field 1 "$1") <(fanout_field 2 "$1") | awk '$2 > 0 { print $3 / $2 }')
    [ -n "$v" ] || { echo "n/a"; return; }
    echo "$(echo "$v" | spread) of $(echo "$v" | wc -l) pairs"
}

# The busiest worker's share in each --workers 2 run: "median [min-max]".
fanout_busiest() {
    fanout_of 2 | sed -n 's/.* worker_share=\([^ ]*\).*/\1/p' |
        awk -F, '{ m = 0; for (i = 1; i <= NF; i++) if ($i + 0 > m) m = $i + 0; print m }' | spread
}

fanout_section() {
    local r
    echo "$FANOUT_HEAD"
    echo
    echo "\`fluo-bench one2many --server fluo --sessions $FANOUT_VIEWERS --workers 1|2"
    echo "--server-cpu $FANOUT_CPU --net veth\`, $REPS runs of each, interleaved (1, 2, 1, 2, ...),"
    echo "$SECONDS_PER_RUN s each, $(date -u +%Y-%m-%d), fluo built from $(git describe --always --dirty 2>/dev/null || echo "?")."
    echo "The client is pinned to core $CLIENT_CPU and fluo"
    echo "may run on cores $FANOUT_CPU in both modes alike, so that they compare like with"
    echo "like (the client needs a core too, so the viewer count stays the same)."
    echo "Worker shares: each fluo-worker-N thread's user+sys time over the window"
    echo "(/proc/PID/task/TID/stat) over the workers' total, by worker index;"
    echo "other: the rest of the process (its main thread). CPU per packet is given"
    echo "twice: the process alone (its threads' user+sys; on this machine's"
    echo "tick-accounted kernel that already holds the softirq run in fluo's own"
    echo "context, much of a veth send's delivery), and the process plus the"
    echo "irq+softirq time of cores $FANOUT_CPU, which also counts the delivery of the"
    echo "client's own sends and any other process's network work there, and counts"
    echo "twice the softirq run in fluo's context (bench/bench_webrtc.c says why)."
    echo "The machine is shared: only the ratios of neighbouring runs mean much."
    echo
    echo "| workers | run | fwd pps | CPU µs/pkt, process | CPU µs/pkt, + softirq | cores used | worker shares | other ms | loss % | p99 ms | pass |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for r in "${fanout_recs[@]}"; do
        local share other
        share=$(field "$r" worker_share)
        other=$(field "$r" other_cpu_us)
        echo "| $(field "$r" step_workers) | $(field "$r" rep) | $(field "$r" fwd_pps) |" \
            "$(field "$r" proc_us_per_pkt) | $(field "$r" cpu_us_per_pkt) | $(field "$r" cores_used) |" \
            "${share//,/ \/ } | $((${other:-0} / 1000)) | $(field "$r" loss_pct) |" \
            "$(field "$r" p99_ms) | $(case $r in *" failed=1 "*) echo failed ;; *) field "$r" pass ;; esac) |"
    done
    echo
    echo "CPU per packet, workers 2 over workers 1 (failed runs left out), median [min-max]: process"
    echo "$(fanout_ratio proc_us_per_pkt); process + softirq $(fanout_ratio cpu_us_per_pkt)."
    echo "With --workers 2 the busiest worker carried $(fanout_busiest) of the workers' CPU."
    if [ ${#fanout_failures[@]} -gt 0 ]; then
        echo
        echo "Failed runs:"
        echo
        for r in "${fanout_failures[@]}"; do echo "- $r"; done
    fi
}

fanout_summary() {
    echo "$FANOUT_SUM ($FANOUT_VIEWERS viewers, fluo on cores $FANOUT_CPU):" \
        "CPU per packet workers 2/workers 1 $(fanout_ratio proc_us_per_pkt) (process)," \
        "$(fanout_ratio cpu_us_per_pkt | sed 's/ of .*//') (process + softirq);" \
        "busiest worker's share with --workers 2: $(fanout_busiest)"
}

# BENCH_SCENARIOS=fanout: its section replaces the one in $OUT (or goes
# before the kept sections, or at the end) and its summary line goes just
# before the headline line (or at the end), the old one dropped; the rest
# is kept.
fanout_splice() {
    local tmp=$OUT.tmp
    if [ ! -f "$OUT" ]; then
        { echo "# fluo-bench results"; } >"$OUT"
    fi
    FANOUT_SECTION=$(fanout_section) FANOUT_LINE=$(fanout_summary) awk "
        function section() { print ENVIRON[\"FANOUT_SECTION\"]; print \"\"; done_sec = 1; last = \"\" }
        skip && ($SECTION_END) { skip = 0 }
        skip { next }
        \$0 == \"$FANOUT_HEAD\" { section(); skip = 1; next }
        !done_sec && /^## Memory per idle WebRtcEndpoint/ { section() }
        index(\$0, \"$FANOUT_SUM \") == 1 { drop = 1; next }
        drop && /^\$/ { drop = 0; next }
        { drop = 0 }
        !done_sum && /^one2many: fluo / { print ENVIRON[\"FANOUT_LINE\"]; print \"\"; done_sum = 1 }
        { print; last = \$0 }
        END {
            if (!done_sec) { print \"\"; section() }
            if (!done_sum) { if (last != \"\") print \"\"; print ENVIRON[\"FANOUT_LINE\"] }
        }" "$OUT" >"$tmp" && mv "$tmp" "$OUT"
}

if [ -z "$WR_SCENARIOS" ]; then
    [ "$FANOUT" = 1 ] && fanout_splice
else {
    echo "# fluo-bench results"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, ${SECONDS_PER_RUN} s per run, ${REPS} runs per step"
    echo "interleaved across servers; generated by \`make bench\` (bench/run.sh)."
    echo
    echo "Method. Every publisher sends VP8 640x480 30 fps at 1 Mbit/s on average (a"
    echo "40 kB key frame every 3 s and on PLI/FIR, each frame's packets in one burst)"
    echo "and Opus. Every server is reached over the same veth pair into a namespace"
    echo "(fluo and the floor too, not loopback), the client pinned to core"
    echo "$CLIENT_CPU and the server to core $SERVER_CPU (taskset). CPU per packet is the server"
    echo "process's user+sys time plus core $SERVER_CPU's irq+softirq time (/proc/stat), over the"
    echo "packets delivered: the kernel charges a packet's delivery (loopback or veth)"
    echo "to the softirq of the sending core, outside any process (on a tick-accounted"
    echo "kernel, as here, the part run in the server's own context is in its own time"
    echo "as well, so this is an upper bound: see bench/bench_webrtc.c). Loss is counted"
    echo "from the senders' side: packets sent in the window times the peers that"
    echo "should receive them, against those that came (by the send time each"
    echo "carries). A step passes only with loss <= 1%, p99 <= 50 ms and delivered <="
    echo "offered in every run; a peer that does not connect or a stream silent for"
    echo "2 s fails the run. The floor is the best any server could do here: SRTP"
    echo "on OpenSSL, one UDP socket for all sessions with fluo's 4 MiB buffers,"
    echo "batched recvmmsg/sendmmsg, no graph. Streams per core: the streams"
    echo "forwarded (one2many: viewers) over the server's cores used (CPU time over"
    echo "wall time)."
    for sc in $WR_SCENARIOS; do
        echo
        echo "## $sc"
        echo
        echo "| server | N | run | fwd pps | CPU µs/pkt | cores used | streams/core | loss % | p50 ms | p99 ms | RSS kB/session | pass |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        for r in "${records[@]}"; do
            case $r in "$sc "*) ;; *) continue ;; esac
            echo "| $(field "$r" server) | $(field "$r" sessions) | $(field "$r" rep) |" \
                "$(field "$r" fwd_pps) | $(field "$r" cpu_us_per_pkt) | $(field "$r" cores_used) |" \
                "$(field "$r" streams_per_core) | $(field "$r" loss_pct) | $(field "$r" p50_ms) |" \
                "$(field "$r" p99_ms) | $(field "$r" rss_kb_per_session) | $(field "$r" pass) |"
        done
    done
    if [ -n "$join_rec" ]; then
        echo
        echo "## join"
        echo
        echo "Viewers joining a running broadcast one after another (every 200-300 ms, kept),"
        echo "each measured from its processOffer to the first complete VP8 key frame its"
        echo "client decrypted; the publisher sends a key frame every 4 s and on PLI/FIR."
        echo
        echo "| server | joins | ok | p50 ms | p95 ms | DTLS p50 ms | key frame after DTLS p50 ms | p95 ms |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
        echo "| $(field "$join_rec" server) | $(field "$join_rec" joins) | $(field "$join_rec" ok) |" \
            "$(field "$join_rec" p50_ms) | $(field "$join_rec" p95_ms) | $(field "$join_rec" dtls_p50_ms) |" \
            "$(field "$join_rec" key_after_dtls_p50_ms) | $(field "$join_rec" key_after_dtls_p95_ms) |"
        echo
        echo '```'
        echo "$join_out"
        echo '```'
    fi
    if [ "$FANOUT" = 1 ]; then
        echo
        fanout_section
    fi
    if [ -n "$KEPT" ]; then
        echo
        echo "$KEPT"
    fi
    if [ ${#failures[@]} -gt 0 ]; then
        echo
        echo "## failed runs"
        echo
        for f in "${failures[@]}"; do echo "- $f"; done
    fi
    echo
    for ref in floor janus; do
        line="fluo/$ref CPU per packet, median [min-max] of $REPS runs:"
        sep=""
        for sc in $WR_SCENARIOS; do
            line="$line$sep $sc $(ratio "$sc" "$ref")"
            sep=","
        done
        echo "$line"
        echo
    done
    if [ "$FANOUT" = 1 ]; then
        fanout_summary
        echo
    fi
    # The headline: one2many's streams per core at fluo's largest passing step.
    n=${best["one2many fluo"]:-}
    if [ -n "$n" ]; then
        spc=$(recs_of one2many fluo "$n" | sed 's/.* streams_per_core=\([^ ]*\).*/\1/' | spread)
        head="one2many: fluo forwards ${spc%% *} A/V streams per core (median of $REPS runs, ${spc#* } spread) at $n viewers, the largest step passed"
    else
        head="one2many: fluo passed no step"
    fi
    echo "$head; fluo/floor: $(for sc in $WR_SCENARIOS; do printf '%s %s; ' "$sc" "$(ratio "$sc" floor)"; done)fluo/janus: $(for sc in $WR_SCENARIOS; do printf '%s %s; ' "$sc" "$(ratio "$sc" janus)"; done)" | sed 's/; $//'
} >"$OUT"; fi
cat "$OUT"
nfailed=$((${#failures[@]} + ${#fanout_failures[@]}))
if [ "$nfailed" -gt 0 ]; then
    echo "make bench: $nfailed run(s) FAILED (see above and $LOG)" >&2
    exit 1
fi
