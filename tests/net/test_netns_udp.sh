#!/usr/bin/env bash
# Proves tests/net/netns.sh with real UDP traffic in network namespaces:
# the NAT (b) shows its address and keeps one mapping per socket, the
# symmetric NAT (c) maps two destinations to two ports and lets the client
# reach only the relay once direct paths are blocked, 20% loss drops about
# 20% of 1000 datagrams, tbf limits a burst, and coturn answers a STUN
# Binding request with the NAT's address. Run as root:
#     bash tests/net/test_netns_udp.sh
# Prints one line per check and "N passed, N failed"; exits non-zero on a
# failure. About 10 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/net/netns.sh

PEER="$PWD/tests/net/udp_peer.py"
ECHO_PORT=5000
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

for tool in ip iptables tc python3 turnserver ss; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL missing $tool (tests/tools/deps.sh installs it)"
        exit 1
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL needs root (network namespaces)"
    exit 1
fi

start_echo() {
    netns_spawn server python3 "$PEER" echo "$ECHO_PORT" "$NETNS_SERVER_IP" "$NETNS_RELAY_IP"
    local _
    for _ in $(seq 50); do
        netns__udp_listening "$ECHO_PORT" && return 0
        sleep 0.1
    done
    return 1
}

ip_of() { echo "${1%:*}"; }
port_of() { echo "${1##*:}"; }
# True when every argument looks like "a.b.c.d:port".
is_addr() {
    local a
    for a in "$@"; do
        [[ $a =~ ^[0-9.]+:[0-9]+$ ]] || return 1
    done
}
# True when both are addresses with the same port.
same_port() {
    is_addr "$1" "$2" && [ "$(port_of "$1")" = "$(port_of "$2")" ]
}
# True when both are addresses with different ports.
other_port() {
    is_addr "$1" "$2" && [ "$(port_of "$1")" != "$(port_of "$2")" ]
}
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# ---- (a) one link ----
netns_init
check "direct (a): namespaces and link up" netns_topo_direct
check "direct (a): echo server starts" start_echo
seen=$(netns_exec client python3 "$PEER" probe "$ECHO_PORT" "$NETNS_SERVER_IP")
check "direct (a): server sees the client's own address ($seen)" \
    test "$(ip_of "$seen")" = "$NETNS_CLIENT_IP"
netns_teardown

# ---- (b) NAT with endpoint-independent mapping, loss, rate, coturn ----
netns_init
check "nat (b): namespaces, links and MASQUERADE" netns_topo_nat
check "nat (b): echo server starts" start_echo
mapfile -t seen < <(netns_exec client python3 "$PEER" probe "$ECHO_PORT" \
    "$NETNS_SERVER_IP" "$NETNS_RELAY_IP")
check "nat (b): server sees the NAT's address, not the client's (${seen[0]:-none})" \
    test "$(ip_of "${seen[0]:-}")" = "$NETNS_NAT_IP"
check "nat (b): one public port for two destinations (${seen[0]:-} ${seen[1]:-})" \
    same_port "${seen[0]:-}" "${seen[1]:-}"

netns_loss server veth-s 0.2
got=$(netns_exec client python3 "$PEER" blast "$NETNS_SERVER_IP" "$ECHO_PORT" 1000 100)
check "loss (d): 20% on the server's link: $got of 1000 answered (720..880)" \
    in_range "${got:-0}" 720 880
netns_loss_clear server veth-s 0.2
got=$(netns_exec client python3 "$PEER" blast "$NETNS_SERVER_IP" "$ECHO_PORT" 1000 100)
check "loss (d): rule removed: $got of 1000 answered" test "${got:-0}" -eq 1000

netns_rate client veth-c 1mbit
got=$(netns_exec client python3 "$PEER" blast "$NETNS_SERVER_IP" "$ECHO_PORT" 500 1000)
check "rate (e): tbf 1mbit: $got of a 500 kB burst answered (1..150)" in_range "${got:-0}" 1 150
netns_rate_clear client veth-c

check "coturn (f): turnserver listens on $NETNS_RELAY_IP:3478" netns_turn_start
resp=$(netns_exec client python3 "$PEER" stun "$NETNS_RELAY_IP" 3478)
check "coturn (f): Binding success response ($resp)" \
    test "${resp%% *}" = "type=0x0101"
mapped=${resp##*mapped=}
check "coturn (f): XOR-MAPPED-ADDRESS is the NAT's ($mapped)" \
    test "$(ip_of "$mapped")" = "$NETNS_NAT_IP"
netns_turn_stop
netns_teardown

# ---- (c) symmetric NAT, direct paths blocked ----
netns_init
check "symmetric (c): namespaces, links and MASQUERADE --random-fully" netns_topo_nat symmetric
check "symmetric (c): echo server starts" start_echo
mapfile -t seen < <(netns_exec client python3 "$PEER" probe "$ECHO_PORT" \
    "$NETNS_SERVER_IP" "$NETNS_RELAY_IP")
check "symmetric (c): two destinations, two public ports (${seen[0]:-} ${seen[1]:-})" \
    other_port "${seen[0]:-}" "${seen[1]:-}"
check "symmetric (c): direct paths blocked except the relay's" netns_block_direct
mapfile -t seen < <(netns_exec client python3 "$PEER" probe "$ECHO_PORT" \
    "$NETNS_SERVER_IP" "$NETNS_RELAY_IP")
check "symmetric (c): server unreachable (${seen[0]:-}), relay reachable (${seen[1]:-})" \
    test "${seen[0]:-}" = timeout -a "$(ip_of "${seen[1]:-timeout}")" = "$NETNS_NAT_IP"
finish
