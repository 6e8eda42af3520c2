/* The ICE agent (RFC 8445), full or lite, with trickle ICE (RFC 8838) and
 * consent freshness (RFC 7675). Sans-IO: the agent owns no socket, no timer
 * and no clock.
 *
 * The glue (engine/) opens the sockets and hands the agent its host bases
 * (fl_ice_agent_add_host), each with an opaque socket id. Relayed candidates
 * come from the glue's TURN client (fl_ice_agent_add_relayed); the agent
 * treats their socket id like any other and never speaks TURN itself. The
 * glue then loops:
 *
 *     fl_ice_agent_handle_input(a, now, socket_id, &from, buf, len); // STUN only
 *     fl_ice_agent_handle_timeout(a, now);            // when the deadline passes
 *     while (fl_ice_agent_poll_transmit(a, &tx) == 0) send tx.data to tx.dst on tx.socket_id
 *     while (fl_ice_agent_poll_event(a, &ev) == 0)   ...
 *     deadline = fl_ice_agent_poll_timeout(a);
 *
 * Non-STUN traffic (DTLS, RTP) is demultiplexed by the glue (RFC 7983) and
 * never given to the agent. An agent belongs to one thread. */
#ifndef FL_ICE_AGENT_H
#define FL_ICE_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/rand.h"
#include "base/time.h"

typedef struct fl_ice_agent fl_ice_agent;

#define FL_ICE_UFRAG_MAX      64  /* bytes with the NUL; RFC 8839 allows 4..256 */
#define FL_ICE_PWD_MAX        128 /* bytes with the NUL; RFC 8839 allows 22..256 */
#define FL_ICE_FOUNDATION_MAX 33  /* 1..32 ice-chars and a NUL */
#define FL_ICE_CAND_EXT_MAX   128 /* unknown extension attributes kept verbatim */
#define FL_ICE_CAND_STRLEN    512 /* room for any candidate fl_ice_candidate_write makes */
#define FL_ICE_MAX_COMPONENTS 2
#define FL_ICE_MSG_MAX        576 /* largest STUN message the agent sends */

typedef enum fl_ice_role {
    FL_ICE_ROLE_CONTROLLING = 0,
    FL_ICE_ROLE_CONTROLLED = 1,
} fl_ice_role;

typedef enum fl_ice_cand_type {
    FL_ICE_CAND_HOST = 0,
    FL_ICE_CAND_SRFLX = 1,
    FL_ICE_CAND_PRFLX = 2,
    FL_ICE_CAND_RELAY = 3,
} fl_ice_cand_type;

typedef enum fl_ice_transport {
    FL_ICE_UDP = 0,
    FL_ICE_TCP = 1,
} fl_ice_transport;

typedef enum fl_ice_tcptype {
    FL_ICE_TCPTYPE_NONE = 0,
    FL_ICE_TCPTYPE_ACTIVE = 1,
    FL_ICE_TCPTYPE_PASSIVE = 2,
    FL_ICE_TCPTYPE_SO = 3,
} fl_ice_tcptype;

/* Component states, the values of Kurento's IceComponentState. */
typedef enum fl_ice_state {
    FL_ICE_STATE_DISCONNECTED = 0, /* nothing started */
    FL_ICE_STATE_GATHERING = 1,    /* gathering, no check yet */
    FL_ICE_STATE_CONNECTING = 2,   /* checks running, nothing valid */
    FL_ICE_STATE_CONNECTED = 3,    /* a valid pair, none selected yet */
    FL_ICE_STATE_READY = 4,        /* a pair is selected */
    FL_ICE_STATE_FAILED = 5,       /* every pair failed, or consent lost */
} fl_ice_state;

/* A candidate as in an SDP a=candidate line (RFC 8839). */
typedef struct fl_ice_candidate {
    char foundation[FL_ICE_FOUNDATION_MAX];
    uint16_t component;            /* 1..256 */
    uint8_t transport;             /* fl_ice_transport */
    uint8_t type;                  /* fl_ice_cand_type */
    uint8_t tcptype;               /* fl_ice_tcptype, TCP only */
    uint32_t priority;             /* 1..2^31-1 */
    fl_addr addr;                  /* the transport address */
    fl_addr related;               /* raddr/rport; family 0 when absent */
    int64_t generation;            /* -1 when absent */
    int64_t network_id;            /* -1 when absent */
    int64_t network_cost;          /* -1 when absent */
    char ufrag[FL_ICE_UFRAG_MAX];  /* "" when absent */
    char ext[FL_ICE_CAND_EXT_MAX]; /* other "name value" pairs, space separated */
} fl_ice_candidate;

/* Parses one candidate attribute: "candidate:..." with or without a leading
 * "a=" (a trailing CRLF is ignored). Not NUL-terminated input is fine.
 * FL_ENOTSUP for an mDNS name ("<uuid>.local", which the agent cannot
 * resolve) in a line otherwise good; FL_EINVAL / FL_ERANGE for malformed
 * fields and for what no check can use: another host name, a transport
 * other than UDP or TCP, an unspecified, multicast or broadcast address.
 * `out` is fully written on success only. */
int fl_ice_candidate_parse(fl_ice_candidate *out, const char *s, size_t len);

/* The same, saying why a line is refused: on failure *why is the first
 * problem found as a static English phrase ("the port is not 0 to 65535",
 * "'typ' is missing"; for FL_ENOTSUP, that the address is an mDNS name); NULL
 * on success. `why` may be NULL. */
int fl_ice_candidate_parse_why(fl_ice_candidate *out, const char *s, size_t len, const char **why);

/* Writes "candidate:..." (no "a=", no CRLF) NUL-terminated. Returns the length
 * or FL_EMSGSIZE when `cap` is too small. */
int fl_ice_candidate_write(const fl_ice_candidate *c, char *out, size_t cap);

/* RFC 8445 §5.1.2.1: (2^24)*type_pref + (2^8)*local_pref + (256 - component). */
uint32_t fl_ice_candidate_priority(uint32_t type_pref, uint32_t local_pref, uint16_t component);

/* Recommended type preferences: host 126, prflx 110, srflx 100, relay 0. */
uint32_t fl_ice_candidate_type_pref(fl_ice_cand_type type);

/* RFC 8445 §6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0); G is the
 * controlling agent's candidate priority. */
uint64_t fl_ice_candidate_pair_priority(uint32_t g, uint32_t d);

/* RFC 8445 §5.1.1.3: equal for the same type, base IP, server IP and
 * transport. `server` may be NULL (host, prflx). Writes up to
 * FL_ICE_FOUNDATION_MAX bytes. */
void fl_ice_candidate_foundation(char out[FL_ICE_FOUNDATION_MAX],
                                 fl_ice_cand_type type,
                                 const fl_addr *base,
                                 const fl_addr *server,
                                 fl_ice_transport transport);

/* RFC 6544 §4.2 local preference of a TCP candidate:
 * (2^13)*direction-pref + other-pref, with the recommended direction-pref
 * (host and relayed: active 6, passive 4, so 2; srflx and prflx: so 6,
 * active 4, passive 2). other_pref is clamped to 0..8191. A host TCP
 * candidate's local preference is thus at most 57343, below the ~65535 of a
 * UDP host candidate (RFC 8421), so UDP pairs outrank TCP pairs. */
uint32_t fl_ice_candidate_tcp_local_pref(fl_ice_cand_type type,
                                         fl_ice_tcptype tcptype,
                                         uint32_t other_pref);

/* "host", "srflx", "prflx", "relay". */
const char *fl_ice_candidate_type_name(fl_ice_cand_type type);

typedef struct fl_ice_agent_config {
    fl_ice_role role;
    int lite;                  /* 1: ICE lite (host candidates, answers checks, controlled) */
    fl_rand *rand;             /* required; borrowed for the agent's life */
    const char *ufrag;         /* NULL: 8 random ice-chars */
    const char *pwd;           /* NULL: 24 random ice-chars */
    fl_time ta;                /* pacing; 0: 50 ms */
    fl_time rto;               /* initial check RTO; 0: 500 ms */
    int max_check_retransmits; /* 0: 7 (RFC 8489 Rc) */
    /* Cap on a check's doubling retransmission interval, so a lossy path
     * still gets a try every half second while connecting (20% loss each
     * way connects within 5 s); 0: 500 ms; < 0: no cap (RFC 8489's plain doubling,
     * which waits 4 s and then 8 s between the last tries). */
    fl_time max_check_interval;
    fl_time nomination_delay;   /* controlling: wait this long for a better pair; 0: 1 s */
    fl_time consent_interval;   /* 0: 5 s, randomised ±20% */
    fl_time consent_timeout;    /* 0: 30 s */
    fl_time keepalive_interval; /* lite: Binding indication period; 0: 15 s */
} fl_ice_agent_config;

/* A host base: a socket the glue opened and bound. */
typedef struct fl_ice_host {
    uint16_t component;  /* 1.. FL_ICE_MAX_COMPONENTS */
    int socket_id;       /* opaque to the agent, >= 0 */
    fl_addr addr;        /* bound address (not a wildcard) */
    uint16_t local_pref; /* 0: computed (RFC 8421: IPv6 first, interleaved) */
    /* What the host candidate announces instead of `addr`, for a host behind
     * a 1:1 NAT (Kurento's externalIPv4/externalIPv6). family 0: addr itself;
     * port 0: addr's port. Checks still come in on the bound socket. */
    fl_addr advertised;
} fl_ice_host;

/* The address a host candidate announces for h (see fl_ice_host.advertised). */
fl_addr fl_ice_host_announced(const fl_ice_host *h);

typedef struct fl_ice_transmit {
    int socket_id;
    fl_addr dst;
    size_t len;
    uint8_t data[FL_ICE_MSG_MAX];
} fl_ice_transmit;

typedef enum fl_ice_event_type {
    FL_ICE_EVENT_LOCAL_CANDIDATE = 1, /* .candidate: announce it (trickle) */
    FL_ICE_EVENT_GATHERING_DONE = 2,  /* announce end-of-candidates */
    FL_ICE_EVENT_STATE = 3,           /* .component changed to .state */
    FL_ICE_EVENT_SELECTED_PAIR = 4,   /* .local/.remote/.socket_id for .component */
    FL_ICE_EVENT_ROLE = 5,            /* .role: changed by a role conflict */
} fl_ice_event_type;

typedef struct fl_ice_event {
    fl_ice_event_type type;
    uint16_t component;
    fl_ice_state state;
    fl_ice_role role;
    int socket_id;
    fl_ice_candidate candidate; /* LOCAL_CANDIDATE; SELECTED_PAIR: the local one */
    fl_ice_candidate remote;    /* SELECTED_PAIR */
} fl_ice_event;

typedef struct fl_ice_stats {
    uint64_t checks_sent; /* requests, retransmissions included */
    uint64_t retransmits;
    uint64_t requests_received;  /* authenticated */
    uint64_t responses_received; /* authenticated */
    uint64_t dropped_malformed;  /* not parseable STUN */
    uint64_t dropped_unauth;     /* integrity or username failed */
    uint64_t dropped_unknown;    /* no matching transaction, method or state */
    uint64_t dropped_tx_full;    /* transmit queue overflow */
    uint64_t role_conflicts;
    uint64_t prflx_remote;
    uint64_t prflx_local;
    uint64_t consent_sent;
    uint32_t pairs;
    uint32_t local_candidates;
    uint32_t remote_candidates;
    uint64_t tcp_conns; /* ICE-TCP connections taken on (authenticated check) */
} fl_ice_stats;

/* Creates an agent. FL_EINVAL for a bad config (no rand, short or non-ice-char
 * credentials), FL_ENOMEM. Free with fl_ice_agent_destroy. */
int fl_ice_agent_create(fl_ice_agent **out, const fl_ice_agent_config *cfg);

void fl_ice_agent_destroy(fl_ice_agent *a);

/* Local credentials, valid until the next restart. */
const char *fl_ice_agent_local_ufrag(const fl_ice_agent *a);

/* The remote ufrag set last ("" before fl_ice_agent_set_remote_credentials). */
const char *fl_ice_agent_remote_ufrag(const fl_ice_agent *a);
const char *fl_ice_agent_local_pwd(const fl_ice_agent *a);

fl_ice_role fl_ice_agent_role(const fl_ice_agent *a);

/* Sets the role before checks start (offerer full agent: controlling). */
int fl_ice_agent_set_role(fl_ice_agent *a, fl_ice_role role);

/* Adds a host base and its host candidate (announced by gather). FL_EEXIST for
 * a duplicate address, FL_ERANGE when full. */
int fl_ice_agent_add_host(fl_ice_agent *a, const fl_ice_host *h);

/* The glue's TURN client allocated `relayed` on socket `socket_id` (the id the
 * glue uses for its TURN send path); `mapped` is the server-reflexive address
 * the allocation reported (related address), `server` the TURN server. */
int fl_ice_agent_add_relayed(fl_ice_agent *a,
                             uint16_t component,
                             int socket_id,
                             const fl_addr *relayed,
                             const fl_addr *mapped,
                             const fl_addr *server);

/* A STUN server for server-reflexive candidates, used by gather. */
int fl_ice_agent_add_stun_server(fl_ice_agent *a, const fl_addr *server);

/* Announces host (and relayed) candidates as events, starts srflx gathering.
 * GATHERING_DONE follows when every STUN transaction ended. Lite agents
 * announce host candidates only. */
int fl_ice_agent_gather(fl_ice_agent *a, fl_time now);

/* Remote ice-ufrag/ice-pwd. Different credentials after checks started mean
 * the peer restarted: remote candidates and pairs are dropped (the selected
 * pair is kept until a new one is chosen). */
int fl_ice_agent_set_remote_credentials(fl_ice_agent *a, const char *ufrag, const char *pwd);

/* One remote candidate line (see fl_ice_candidate_parse); an empty string or
 * "end-of-candidates" means fl_ice_agent_remote_end_of_candidates. A
 * candidate whose ufrag is not the current remote one is ignored (0).
 * Candidates that cannot be paired (TCP, unknown component) are stored only. */
int fl_ice_agent_add_remote_candidate(fl_ice_agent *a, fl_time now, const char *line);

/* The same with an already parsed candidate. */
int fl_ice_agent_add_remote(fl_ice_agent *a, fl_time now, const fl_ice_candidate *c);

int fl_ice_agent_remote_end_of_candidates(fl_ice_agent *a, fl_time now);

/* One STUN message received on `socket_id` from `from`. Bad or
 * unauthenticated input is dropped and counted; returns FL_EBADMSG,
 * FL_EAUTH or FL_ENOENT then, 0 when the message was used. */
int fl_ice_agent_handle_input(fl_ice_agent *a,
                              fl_time now,
                              int socket_id,
                              const fl_addr *from,
                              const uint8_t *buf,
                              size_t len);

/* Runs timers due at `now`. */
int fl_ice_agent_handle_timeout(fl_ice_agent *a, fl_time now);

/* The next datagram to send, copied into `out`; FL_EAGAIN when none. */
int fl_ice_agent_poll_transmit(fl_ice_agent *a, fl_ice_transmit *out);

/* The next event; FL_EAGAIN when none. */
int fl_ice_agent_poll_event(fl_ice_agent *a, fl_ice_event *out);

/* Earliest deadline, or FL_TIME_NEVER. */
fl_time fl_ice_agent_poll_timeout(const fl_ice_agent *a);

/* ICE restart: new local credentials, remote credentials and candidates
 * forgotten, gathering runs again (call gather). The selected pair stays in
 * use until a new one is selected. */
int fl_ice_agent_restart(fl_ice_agent *a, fl_time now);

fl_ice_state fl_ice_agent_state(const fl_ice_agent *a, uint16_t component);

/* The selected pair of a component; FL_ENOENT when none. */
int fl_ice_agent_selected_pair(const fl_ice_agent *a,
                               uint16_t component,
                               fl_ice_candidate *local,
                               fl_ice_candidate *remote,
                               int *socket_id);

/* Whether `from`, on socket `socket_id`, has passed a connectivity check:
 * a pair with that remote address on that base either succeeded (our check
 * was answered) or carried an authenticated check from the peer (it holds
 * the credentials and receives at that address). Only such a peer may feed
 * DTLS, RTP or RTCP into the endpoint (RFC 8445 §7.3 asks for the checks;
 * anything else on a candidate's port is an attacker's or a stray). A scan
 * of the pairs: call it when the address is not the selected pair's. */
int fl_ice_agent_peer_validated(const fl_ice_agent *a, int socket_id, const fl_addr *from);

void fl_ice_agent_get_stats(const fl_ice_agent *a, fl_ice_stats *out);

/* ---- ICE-TCP (RFC 6544), passive side ---------------------------------------
 *
 * The agent offers passive host TCP candidates and answers the connections
 * the peer (an active agent, e.g. a browser) opens to them. It never opens a
 * connection: remote candidates with tcptype active are never checked by it
 * (it waits for their connections), and remote passive or so candidates are
 * stored but ignored. UDP and TCP candidates are never paired together.
 *
 * Socket ids. A listener has a socket id like a UDP host base. Each accepted
 * connection needs an id of its own, chosen by the glue, >= 0, distinct from
 * every other open connection's and from the ids of hosts, relayed bases and
 * listeners (FL_EEXIST otherwise). FL_ICE_TCP_CONN_ID(n) is a convention for
 * that: the glue's connection counter with a flag bit that host ids never
 * use. Transmits for a connection (checks, answers, consent) carry its id
 * and the peer's address; the glue frames them (RFC 4571) and writes them on
 * that connection. A selected pair on a connection reports its id in
 * FL_ICE_EVENT_SELECTED_PAIR: media goes on that connection, framed too.
 *
 * The glue calls, on the agent's thread:
 *   on a STUN frame:   fl_ice_agent_handle_tcp_input(a, now, listener, conn, &peer, buf, len)
 *   on close/error:    fl_ice_agent_tcp_closed(a, now, conn)
 * The first authenticated Binding request on a connection registers it with
 * the agent (so a shared listener may route by USERNAME before that); other
 * input on an unknown connection is dropped. */

#define FL_ICE_TCP_CONN_FLAG  0x40000000
#define FL_ICE_TCP_CONN_ID(n) ((int)(FL_ICE_TCP_CONN_FLAG | ((unsigned)(n)&0x3fffffffu)))

/* Adds a passive TCP host candidate for a listening socket: `listener`'s
 * component, socket_id (the listener's, >= 0), addr (bound, not a wildcard)
 * and local_pref, here the RFC 6544 other-pref (1..8191; 0: computed, IPv6
 * first). Priority: fl_ice_candidate_priority(126, tcp_local_pref, comp).
 * Announced by gather (or at once after it) like a UDP host candidate, as
 * "candidate:F C tcp PRIO IP PORT typ host tcptype passive". FL_EINVAL for
 * bad arguments (other-pref over 8191 included), FL_EEXIST for a socket id
 * or address in use, FL_ERANGE when full. Lite agents may offer it too. */
int fl_ice_agent_add_tcp_passive(fl_ice_agent *a, const fl_ice_host *listener);

/* One STUN message (one RFC 4571 frame, header removed) received on
 * connection `conn_socket_id`, accepted by listener `listener_socket_id`,
 * from the peer `from`. A valid check is handled as on UDP: an unknown
 * source becomes a peer-reflexive remote candidate (tcp, tcptype active),
 * the pair (local passive, remote active) is bound to the connection, the
 * answer and the triggered check go back on it, and USE-CANDIDATE
 * nominates as usual. Returns as fl_ice_agent_handle_input; FL_ENOENT for an
 * unknown listener, or input other than a Binding request on an unknown
 * connection; FL_EEXIST when conn_socket_id is taken (see above); FL_ERANGE
 * when the agent has no room for another connection. Once registered, the
 * connection's input may equally go through fl_ice_agent_handle_input. */
int fl_ice_agent_handle_tcp_input(fl_ice_agent *a,
                                  fl_time now,
                                  int listener_socket_id,
                                  int conn_socket_id,
                                  const fl_addr *from,
                                  const uint8_t *buf,
                                  size_t len);

/* The connection closed (by the peer, an error or an idle timer). Its pairs
 * fail; when it carried a component's selected pair, that component goes
 * FAILED as on consent loss (RFC 7675) until an ICE restart. The socket id
 * may then be reused. FL_ENOENT when the connection is unknown. */
int fl_ice_agent_tcp_closed(fl_ice_agent *a, fl_time now, int conn_socket_id);

#endif
