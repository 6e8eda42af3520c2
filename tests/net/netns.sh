# shellcheck shell=bash
# Test networks for the ICE tests: network namespaces joined by veth pairs,
# NAT with iptables, loss with iptables -m statistic, rate with tc tbf, and
# coturn as a relay. Source it from bash, as root:
#
#     . tests/net/netns.sh
#     netns_init                 # names for this run; teardown on EXIT
#     netns_topo_nat             # client -> nat -> server
#     netns_exec client ping -c1 "$NETNS_SERVER_IP"
#
# Every namespace is called "fl<id>-<role>", <id> being per run (NETNS_ID,
# default: the shell's pid and a random number), so parallel runs do not
# collide. Interfaces are created straight inside their namespaces, so their
# names ("veth-*") never touch the host. Nothing is routed to or from the
# host's own networks. This kernel has no netem: loss is iptables
# statistic, rate is tbf.
#
# Addresses (all inside the namespaces):
#   NETNS_CLIENT_IP  10.200.1.2  client, on the link to server (a) or nat (b, c)
#   NETNS_SERVER_IP  10.200.1.1  server in (a); 10.200.2.2 in (b, c)
#   NETNS_NAT_IP     10.200.2.1  the NAT's public address (b, c)
#   NETNS_RELAY_IP   10.200.2.3  a second server address, where coturn listens
#                                (in (a): 10.200.1.3)
#
# Functions:
#   netns_init [ID]          Sets the names for this run and traps EXIT (and
#                            INT/TERM) to netns_teardown. Call first.
#   netns_name ROLE          Prints the namespace name for a role (server,
#                            client, nat).
#   netns_exec ROLE CMD...   Runs CMD inside the role's namespace.
#   netns_spawn ROLE CMD...  Starts CMD in the background inside the role's
#                            namespace; its pid goes in NETNS_LAST_PID and is
#                            killed by netns_teardown.
#   netns_topo_direct        (a) server and client on one link
#                            (veth-c in client, veth-s in server).
#   netns_topo_nat [symmetric]
#                            (b) client behind nat doing MASQUERADE towards
#                            server: endpoint-independent mapping (Linux keeps
#                            the source port when it can, so one client socket
#                            gets one public port for every destination).
#                            (c) with "symmetric": MASQUERADE --random-fully,
#                            so each destination gets a new public port.
#                            Links: client veth-c <-> nat veth-in,
#                            nat veth-out <-> server veth-s.
#   netns_block_direct       (c) In the nat namespace, forwards client traffic
#                            only to NETNS_RELAY_IP: the client can reach the
#                            server only through the relay.
#   netns_loss ROLE IFACE P  (d) Drops packets arriving on IFACE in ROLE's
#                            namespace with probability P (0..1), forwarded
#                            or local (iptables -m statistic --mode random).
#   netns_loss_clear ROLE IFACE P
#                            Removes that rule.
#   netns_rate ROLE IFACE RATE [BURST [LATENCY]]
#                            (e) Limits IFACE's egress in ROLE's namespace
#                            with tc tbf (RATE like "1mbit"; BURST default
#                            10kb, LATENCY default 50ms). netns_rate_clear
#                            ROLE IFACE removes it.
#   netns_turn_start [USER [PASS [REALM [PORT]]]]
#                            (f) Starts coturn (turnserver) in the server
#                            namespace on NETNS_RELAY_IP:PORT (3478) with the
#                            long-term credential USER:PASS (fluo:fluo) in
#                            REALM (fluo); waits until it listens (returns 1
#                            if it does not within 5 s). Sets NETNS_TURN_PORT,
#                            NETNS_TURN_USER, NETNS_TURN_PASS, NETNS_TURN_REALM.
#   netns_turn_stop          Stops it.
#   netns_teardown           Stops what netns_spawn and netns_turn_start
#                            started and deletes this run's namespaces (their
#                            veths, routes and iptables rules go with them).
#                            Safe to call twice.

NETNS_CLIENT_IP=10.200.1.2
NETNS_SERVER_IP=10.200.1.1
NETNS_NAT_IP=10.200.2.1
NETNS_RELAY_IP=10.200.1.3
NETNS_PIDS=()
NETNS_CREATED=()
NETNS_TURN_PID=
NETNS_DIR=

netns_init() {
    NETNS_ID=${1:-${NETNS_ID:-$$$((RANDOM % 1000))}}
    NETNS_PREFIX="fl${NETNS_ID}"
    NETNS_DIR=$(mktemp -d "/tmp/netns-${NETNS_PREFIX}.XXXXXX")
    trap netns_teardown EXIT
    trap 'netns_teardown; exit 130' INT TERM
}

netns_name() {
    echo "${NETNS_PREFIX}-$1"
}

netns_exec() {
    local ns
    ns=$(netns_name "$1")
    shift
    ip netns exec "$ns" "$@"
}

netns_spawn() {
    local ns
    ns=$(netns_name "$1")
    shift
    ip netns exec "$ns" "$@" &
    NETNS_LAST_PID=$!
    NETNS_PIDS+=("$NETNS_LAST_PID")
}

# Creates a namespace with its loopback up.
netns__add() {
    local ns
    ns=$(netns_name "$1")
    ip netns add "$ns" || return 1
    NETNS_CREATED+=("$ns")
    ip -n "$ns" link set lo up
}

# netns__link ROLE_A IF_A ADDR_A ROLE_B IF_B ADDR_B: a veth pair between two
# namespaces, addresses in CIDR form ("" for none).
netns__link() {
    local a b
    a=$(netns_name "$1")
    b=$(netns_name "$4")
    ip link add "$2" netns "$a" type veth peer name "$5" netns "$b" || return 1
    [ -n "$3" ] && ip -n "$a" addr add "$3" dev "$2"
    [ -n "$6" ] && ip -n "$b" addr add "$6" dev "$5"
    ip -n "$a" link set "$2" up && ip -n "$b" link set "$5" up
}

netns_topo_direct() {
    NETNS_SERVER_IP=10.200.1.1
    NETNS_RELAY_IP=10.200.1.3
    netns__add server && netns__add client || return 1
    netns__link client veth-c "$NETNS_CLIENT_IP/24" server veth-s "$NETNS_SERVER_IP/24" ||
        return 1
    ip -n "$(netns_name server)" addr add "$NETNS_RELAY_IP/24" dev veth-s
}

netns_topo_nat() {
    local masq=(-j MASQUERADE)
    [ "${1:-}" = symmetric ] && masq+=(--random-fully)
    NETNS_SERVER_IP=10.200.2.2
    NETNS_RELAY_IP=10.200.2.3
    netns__add server && netns__add client && netns__add nat || return 1
    netns__link client veth-c "$NETNS_CLIENT_IP/24" nat veth-in 10.200.1.1/24 || return 1
    netns__link nat veth-out "$NETNS_NAT_IP/24" server veth-s "$NETNS_SERVER_IP/24" || return 1
    ip -n "$(netns_name server)" addr add "$NETNS_RELAY_IP/24" dev veth-s
    ip -n "$(netns_name client)" route add default via 10.200.1.1
    netns_exec nat sysctl -qw net.ipv4.ip_forward=1
    netns_exec nat iptables -t nat -A POSTROUTING -o veth-out "${masq[@]}"
}

netns_block_direct() {
    netns_exec nat iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
        netns_exec nat iptables -A FORWARD -i veth-in -d "$NETNS_RELAY_IP" -j ACCEPT &&
        netns_exec nat iptables -A FORWARD -i veth-in -j DROP
}

netns__loss_rules() {
    local op=$1 role=$2 dev=$3 p=$4 chain
    for chain in INPUT FORWARD; do
        netns_exec "$role" iptables "$op" "$chain" -i "$dev" -m statistic --mode random \
            --probability "$p" -j DROP || return 1
    done
}

netns_loss() {
    netns__loss_rules -A "$@"
}

netns_loss_clear() {
    netns__loss_rules -D "$@"
}

netns_rate() {
    netns_exec "$1" tc qdisc replace dev "$2" root tbf rate "$3" burst "${4:-10kb}" \
        latency "${5:-50ms}"
}

netns_rate_clear() {
    netns_exec "$1" tc qdisc del dev "$2" root
}

# True when something in the server namespace listens on UDP port $1.
netns__udp_listening() {
    netns_exec server ss -Huln "sport = :$1" 2>/dev/null | grep -q .
}

netns_turn_start() {
    NETNS_TURN_USER=${1:-fluo}
    NETNS_TURN_PASS=${2:-fluo}
    NETNS_TURN_REALM=${3:-fluo}
    NETNS_TURN_PORT=${4:-3478}
    netns_spawn server turnserver -n --listening-ip "$NETNS_RELAY_IP" \
        --relay-ip "$NETNS_RELAY_IP" --listening-port "$NETNS_TURN_PORT" \
        --min-port 49152 --max-port 49999 --lt-cred-mech --fingerprint \
        --user "$NETNS_TURN_USER:$NETNS_TURN_PASS" --realm "$NETNS_TURN_REALM" \
        --no-tls --no-dtls --no-cli --no-tcp-relay --allow-loopback-peers \
        --pidfile "$NETNS_DIR/turnserver.pid" --log-file "$NETNS_DIR/turnserver.log" \
        --simple-log >/dev/null 2>&1
    NETNS_TURN_PID=$NETNS_LAST_PID
    local _
    for _ in $(seq 50); do
        netns__udp_listening "$NETNS_TURN_PORT" && return 0
        kill -0 "$NETNS_TURN_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "netns: turnserver did not start; log in $NETNS_DIR/turnserver.log" >&2
    return 1
}

netns_turn_stop() {
    [ -n "$NETNS_TURN_PID" ] || return 0
    kill "$NETNS_TURN_PID" 2>/dev/null
    wait "$NETNS_TURN_PID" 2>/dev/null
    NETNS_TURN_PID=
}

netns_teardown() {
    local pid ns
    netns_turn_stop
    for pid in "${NETNS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${NETNS_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    NETNS_PIDS=()
    for ns in "${NETNS_CREATED[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    NETNS_CREATED=()
    [ -n "$NETNS_DIR" ] && rm -rf "$NETNS_DIR"
    NETNS_DIR=
}
