#!/usr/bin/env bash
# fluo's ICE agent across real networks: two build/tests/tools/ice_peer
# processes, the server's (controlled, name B) and the client's
# (controlling, name A, like a browser), each in its own network namespace
# built by tests/net/netns.sh, signalling through files. Cases:
#   (a)  direct link: host candidates; again with a lite server
#   (b)  client behind a MASQUERADE NAT, coturn as STUN server: the client
#        gathers srflx and the server sees the NAT's address
#   (c)  symmetric NAT (--random-fully) with every direct client->server path
#        blocked: only a relay allocated on coturn works (TURN over UDP with
#        every candidate type, then TURN over TCP with relay only)
#   (d)  20% loss both ways: connected within 5 s, five runs out of five
#   (e)  IPv6 on a direct link (addresses added here: netns.sh is IPv4)
# Each peer exchanges 100 datagrams over the selected pair once READY.
# Run as root, after `make build/tests/tools/ice_peer`:
#     bash tests/net/test_ice_nat.sh
#     ICE_PEER=build/asan/tests/tools/ice_peer bash tests/net/test_ice_nat.sh
# Prints one line per check and "N passed, N failed"; exits non-zero on a
# failure. About 15 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/net/netns.sh

ICE_PEER=${ICE_PEER:-$PWD/build/tests/tools/ice_peer}
PEER_TIMEOUT=${PEER_TIMEOUT:-8} # seconds each peer may take before it reports FAILED
LOSS_RUNS=${LOSS_RUNS:-5}
CLIENT6=fd00:200:1::2
SERVER6=fd00:200:1::1
passed=0
failed=0

report() {
    if [ "$1" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $2"
    else
        failed=$((failed + 1))
        echo "FAIL $2"
    fi
}

# check "description" command...: the command's status decides.
check() {
    local what=$1
    shift
    "$@"
    report $? "$what"
}

finish() {
    netns_teardown
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

for tool in ip iptables turnserver ss timeout; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL missing $tool (tests/tools/deps.sh installs it)"
        exit 1
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL needs root (network namespaces)"
    exit 1
fi
if [ ! -x "$ICE_PEER" ]; then
    echo "FAIL $ICE_PEER is not built (make build/tests/tools/ice_peer)"
    exit 1
fi

# ---- running a pair ----------------------------------------------------------

# The value of KEY in a result line ("" when absent).
field() {
    local re="(^| )$2=([^ ]*)"
    [[ $1 =~ $re ]] && echo "${BASH_REMATCH[2]}"
}
ip_of() {
    local a=${1%:*}
    a=${a#[}
    echo "${a%]}"
}

# run_pair "SERVER ARGS" "CLIENT ARGS": runs B (controlled) in the server
# namespace and A (controlling) in the client namespace with a fresh
# signalling directory, waits for both, and leaves their result lines in RES_A
# and RES_B, their exit codes in RC_A and RC_B, their stderr in ERR_A and
# ERR_B, and the directory in SIG_DIR.
run_pair() {
    local pa pb
    SIG_DIR=$(mktemp -d "$NETNS_DIR/sig.XXXXXX")
    # shellcheck disable=SC2086 # the argument strings are word lists
    netns_spawn server timeout -k 2 $((PEER_TIMEOUT + 5)) "$ICE_PEER" --role controlled \
        --name B --signal "$SIG_DIR" --timeout "$PEER_TIMEOUT" $1 \
        >"$SIG_DIR/B.out" 2>"$SIG_DIR/B.err"
    pb=$NETNS_LAST_PID
    # shellcheck disable=SC2086
    netns_spawn client timeout -k 2 $((PEER_TIMEOUT + 5)) "$ICE_PEER" --role controlling \
        --name A --signal "$SIG_DIR" --timeout "$PEER_TIMEOUT" $2 \
        >"$SIG_DIR/A.out" 2>"$SIG_DIR/A.err"
    pa=$NETNS_LAST_PID
    wait "$pa"
    RC_A=$?
    wait "$pb"
    RC_B=$?
    RES_A=$(grep -m1 '^ice_peer ' "$SIG_DIR/A.out")
    RES_B=$(grep -m1 '^ice_peer ' "$SIG_DIR/B.out")
    ERR_A=$(cat "$SIG_DIR/A.err")
    ERR_B=$(cat "$SIG_DIR/B.err")
    echo "     A: ${RES_A:-no result line}"
    echo "     B: ${RES_B:-no result line}"
}

# Both peers READY and exited 0, no sanitizer report; on failure their
# stderr is shown.
both_ready() {
    local ok=0
    [ "$(field "$RES_A" state)" = READY ] && [ "$(field "$RES_B" state)" = READY ] || ok=1
    [ "$RC_A" -eq 0 ] && [ "$RC_B" -eq 0 ] || ok=1
    if printf '%s\n%s\n' "$ERR_A" "$ERR_B" | grep -Eq 'Sanitizer|runtime error'; then
        ok=1
    fi
    if [ $ok -ne 0 ]; then
        printf '     A stderr: %s\n     B stderr: %s\n' "$(tail -c 2000 <<<"$ERR_A")" \
            "$(tail -c 2000 <<<"$ERR_B")"
    fi
    return $ok
}

# data_ok of a result line is at least $2 of 100.
data_at_least() {
    local d
    d=$(field "$1" data_ok)
    [ -n "$d" ] && [ "${d%/*}" -ge "$2" ]
}
all_data() { data_at_least "$RES_A" 100 && data_at_least "$RES_B" 100; }

# A peer's selected pair in the same words, for check descriptions.
pair_of() {
    echo "$(field "$1" local) $(field "$1" local_addr) -> $(field "$1" remote)" \
        "$(field "$1" remote_addr), $(field "$1" ms) ms, data $(field "$1" data_ok)"
}

# Each side's pair is the other's, mirrored.
mirrored() {
    [ "$(field "$RES_A" local_addr)" = "$(field "$RES_B" remote_addr)" ] &&
        [ "$(field "$RES_B" local_addr)" = "$(field "$RES_A" remote_addr)" ]
}

types_are() { # RESULT LOCAL REMOTE
    [ "$(field "$1" local)" = "$2" ] && [ "$(field "$1" remote)" = "$3" ]
}

# ---- (a) direct link -------------------------------------------------------------

netns_init
check "direct (a): namespaces and link" netns_topo_direct
run_pair "--bind $NETNS_SERVER_IP" "--bind $NETNS_CLIENT_IP"
check "direct (a): both READY" both_ready
check "direct (a): host to host, mirrored ($(pair_of "$RES_A"))" \
    eval 'types_are "$RES_A" host host && types_are "$RES_B" host host && mirrored'
check "direct (a): data both ways (A $(field "$RES_A" data_ok), B $(field "$RES_B" data_ok))" \
    all_data

run_pair "--bind $NETNS_SERVER_IP --lite" "--bind $NETNS_CLIENT_IP"
check "direct (a): lite server, both READY ($(pair_of "$RES_A"))" \
    eval 'both_ready && types_are "$RES_A" host host && mirrored && all_data'
netns_teardown

# ---- (b) MASQUERADE NAT, coturn as STUN server ----------------------------------

netns_init
check "nat (b): namespaces, links and MASQUERADE" netns_topo_nat
check "nat (b): coturn listens on $NETNS_RELAY_IP:3478" netns_turn_start
run_pair "--bind $NETNS_SERVER_IP" \
    "--bind $NETNS_CLIENT_IP --stun $NETNS_RELAY_IP:$NETNS_TURN_PORT"
check "nat (b): both READY" both_ready
srflx=$(grep -m1 'typ srflx' "$SIG_DIR/A.sig")
check "nat (b): the client gathered an srflx candidate at the NAT (${srflx:-none})" \
    grep -q " $NETNS_NAT_IP [0-9]* typ srflx raddr $NETNS_CLIENT_IP " <<<"$srflx"
check "nat (b): the server's remote is the NAT's address, srflx or prflx ($(pair_of "$RES_B"))" \
    eval '[ "$(ip_of "$(field "$RES_B" remote_addr)")" = "$NETNS_NAT_IP" ] &&
          [[ $(field "$RES_B" remote) =~ ^(srflx|prflx)$ ]]'
check "nat (b): the client's pair ends at the server's host ($(pair_of "$RES_A"))" \
    eval '[ "$(field "$RES_A" remote_addr)" = "$(field "$RES_B" local_addr)" ] &&
          [ "$(field "$RES_A" remote)" = host ]'
check "nat (b): data both ways through the NAT (A $(field "$RES_A" data_ok), B $(field "$RES_B" data_ok))" \
    all_data
netns_teardown

# ---- (c) symmetric NAT, direct paths blocked: TURN only ----------------------------

netns_init
check "symmetric (c): namespaces, links, MASQUERADE --random-fully" netns_topo_nat symmetric
check "symmetric (c): direct client paths blocked except to the relay" netns_block_direct
check "symmetric (c): coturn listens on $NETNS_RELAY_IP:3478" netns_turn_start
PEER_TIMEOUT=2 run_pair "--bind $NETNS_SERVER_IP" \
    "--bind $NETNS_CLIENT_IP --stun $NETNS_RELAY_IP:$NETNS_TURN_PORT"
check "symmetric (c): without TURN both sides report FAILED (B: ${RES_B#*reason=}; A: ${RES_A#*reason=})" \
    eval '[ "$(field "$RES_A" state)" = FAILED ] && [ "$(field "$RES_B" state)" = FAILED ]'
turn="$NETNS_TURN_USER:$NETNS_TURN_PASS@$NETNS_RELAY_IP:$NETNS_TURN_PORT"
run_pair "--bind $NETNS_SERVER_IP" \
    "--bind $NETNS_CLIENT_IP --stun $NETNS_RELAY_IP:$NETNS_TURN_PORT --turn $turn?transport=udp"
check "symmetric (c): TURN/UDP, every candidate type: both READY" both_ready
relay=$(grep -m1 'typ relay' "$SIG_DIR/A.sig")
check "symmetric (c): a relayed candidate on coturn (${relay:-none})" \
    grep -q " $NETNS_RELAY_IP [0-9]* typ relay raddr $NETNS_NAT_IP " <<<"$relay"
check "symmetric (c): the pair goes through the relay ($(pair_of "$RES_A"))" \
    eval 'types_are "$RES_A" relay host && types_are "$RES_B" host relay && mirrored &&
          [ "$(ip_of "$(field "$RES_B" remote_addr)")" = "$NETNS_RELAY_IP" ]'
check "symmetric (c): data both ways through the relay (A $(field "$RES_A" data_ok), B $(field "$RES_B" data_ok))" \
    all_data

run_pair "--bind $NETNS_SERVER_IP" "--bind $NETNS_CLIENT_IP --relay-only --turn $turn?transport=tcp"
check "symmetric (c): TURN/TCP, relay only: READY through the relay ($(pair_of "$RES_A"))" \
    eval 'both_ready && types_are "$RES_A" relay host && mirrored'
check "symmetric (c): TURN/TCP: data both ways (A $(field "$RES_A" data_ok), B $(field "$RES_B" data_ok))" \
    all_data
run_pair "--bind $NETNS_SERVER_IP" \
    "--bind $NETNS_CLIENT_IP --relay-only --turn $NETNS_TURN_USER:wrong@$NETNS_RELAY_IP:$NETNS_TURN_PORT"
check "symmetric (c): a wrong TURN password fails the client at once (${RES_A#*reason=})" \
    eval '[ "$(field "$RES_A" state)" = FAILED ] && [ "$RC_A" -eq 1 ] &&
          [[ $RES_A == *"authentication failed"* ]] && [ "$(field "$RES_B" state)" = FAILED ]'
netns_teardown

# ---- (d) 20% loss both ways ------------------------------------------------------

netns_init
check "loss (d): namespaces and link, 20% loss into each side" \
    eval 'netns_topo_direct && netns_loss server veth-s 0.2 && netns_loss client veth-c 0.2'
echoes=0
rtx=0
for i in $(seq "$LOSS_RUNS"); do
    run_pair "--bind $NETNS_SERVER_IP" "--bind $NETNS_CLIENT_IP"
    d=$(field "$RES_A" data_ok)
    d=${d:-0/100}
    ra=$(field "$RES_A" rtx)
    rb=$(field "$RES_B" rtx)
    echoes=$((echoes + ${d%/*}))
    rtx=$((rtx + ${ra:-0} + ${rb:-0}))
    ma=$(field "$RES_A" ms)
    mb=$(field "$RES_B" ms)
    check "loss (d) run $i: READY in A ${ma:-?} ms, B ${mb:-?} ms, both < 5000 (check rtx A ${ra:-?} B ${rb:-?}, data A ${d:-?} B $(field "$RES_B" data_ok))" \
        eval 'both_ready && [ "${ma:-99999}" -lt 5000 ] && [ "${mb:-99999}" -lt 5000 ] &&
              mirrored && data_at_least "$RES_A" 30 && data_at_least "$RES_B" 50'
done
# 0.8 x 0.8 of the pings make it there and back: about 64%
check "loss (d): the rules did drop: $echoes of $((LOSS_RUNS * 100)) echoes back, $rtx check retransmissions in all" \
    eval '[ "$echoes" -ge $((LOSS_RUNS * 40)) ] && [ "$echoes" -le $((LOSS_RUNS * 85)) ]'
netns_teardown

# ---- (e) IPv6 on a direct link ----------------------------------------------------

add_v6() {
    netns_exec client ip -6 addr add "$CLIENT6/64" dev veth-c nodad &&
        netns_exec server ip -6 addr add "$SERVER6/64" dev veth-s nodad
}
netns_init
check "ipv6 (e): link with $CLIENT6 and $SERVER6" eval 'netns_topo_direct && add_v6'
run_pair "--bind $SERVER6" "--bind $CLIENT6"
check "ipv6 (e): both READY" both_ready
check "ipv6 (e): host to host over IPv6, mirrored ($(pair_of "$RES_A"))" \
    eval 'types_are "$RES_A" host host && mirrored &&
          [[ $(field "$RES_A" local_addr) == "[$CLIENT6]:"* ]] &&
          [[ $(field "$RES_A" remote_addr) == "[$SERVER6]:"* ]]'
check "ipv6 (e): data both ways (A $(field "$RES_A" data_ok), B $(field "$RES_B" data_ok))" all_data
finish
