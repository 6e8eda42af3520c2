/* The ICE agent on real sockets, on one worker loop: a UDP socket per local
 * address (and a passive ICE-TCP listener per address when asked), the
 * agent's timer, STUN routed to the agent and everything else (DTLS, RTP,
 * RTCP, RFC 7983) handed up, and sending on the selected pair. Private to
 * engine/; the WebRtcEndpoint builds on it. Runs on its loop's thread. */
#ifndef FL_ENGINE_ICE_TRANSPORT_H
#define FL_ENGINE_ICE_TRANSPORT_H

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "ice/agent.h"

typedef struct fl__ice_transport fl__ice_transport;

typedef struct fl__ice_transport_config {
    fl_ice_role role;
    int lite;
    const char *network_interfaces; /* "eth0,eth1"; NULL or "": every interface */
    int loopback;                   /* also loopback addresses */
    uint16_t min_port;              /* media port range; both 0: 40000-65535 */
    uint16_t max_port;
    fl_addr external_v4; /* announced instead of IPv4 host addresses; family 0: none */
    fl_addr external_v6;
    fl_addr stun_server; /* family 0: none */
    int ice_tcp;         /* passive ICE-TCP candidates too */
    /* Kurento's turnUrl "user:password@IP:port?transport=udp" (see
     * fl_turn_url_parse): a relayed candidate is allocated there over the
     * first UDP socket of the server's family. NULL or "": none. The host
     * must be an IP address; transport=tcp is not supported yet (logged). */
    const char *turn_url;
    /* The worker's shared sockets (engine/udp_mux.h): the host candidates
     * are on them, and a socket of the transport's own is opened only for
     * a TURN server. NULL: a UDP socket of its own per address, on a port
     * of [min_port, max_port]. */
    struct fl__udp_mux *mux;
} fl__ice_transport_config;

typedef struct fl__ice_transport_callbacks {
    /* The agent's events: local candidates to signal, gathering done, state
     * changes, the selected pair. */
    void (*on_event)(void *arg, const fl_ice_event *ev);
    /* A non-STUN datagram (or ICE-TCP frame) from the peer; the callback
     * owns the buffer's reference. */
    void (*on_data)(void *arg, fl_buf *buf, const fl_addr *from);
} fl__ice_transport_callbacks;

/* Opens the sockets on every selected address (FL_ENOENT when there is
 * none, FL_EBUSY when the port range is exhausted) and adds them to a new
 * agent. Nothing is announced before fl__ice_transport_gather. */
int fl__ice_transport_create(fl__ice_transport **out,
                             uv_loop_t *loop,
                             fl_buf_pool *pool,
                             const fl__ice_transport_config *cfg,
                             const fl__ice_transport_callbacks *cbs,
                             void *arg);

fl_ice_agent *fl__ice_transport_agent(fl__ice_transport *t);

/* Starts gathering: host candidates come out as events, then server-
 * reflexive ones and the relayed one (when a TURN server is configured),
 * then gathering done (after the relayed candidate, or after the TURN
 * allocation failed). */
int fl__ice_transport_gather(fl__ice_transport *t);

int fl__ice_transport_set_remote_credentials(fl__ice_transport *t,
                                             const char *ufrag,
                                             const char *pwd);

/* One remote candidate line; "" means end of candidates. */
int fl__ice_transport_add_remote_candidate(fl__ice_transport *t, const char *line);

/* Sends on the selected pair, taking the caller's reference in every case.
 * FL_ESTATE when no pair is selected yet. */
int fl__ice_transport_send(fl__ice_transport *t, fl_buf *buf);

/* Datagrams (DTLS, RTP, RTCP) dropped because their source had passed no
 * ICE connectivity check (fl_ice_agent_peer_validated). */
uint64_t fl__ice_transport_dropped_unvalidated(const fl__ice_transport *t);

/* Datagrams its shared sockets' mux dropped as nobody's
 * (fl__udp_mux_stats.unclaimed); -1 when it has sockets of its own. */
int64_t fl__ice_transport_shared_unclaimed(const fl__ice_transport *t);

/* Number of sockets the transport opened (UDP and TCP listeners; the
 * shared ones are not its own). */
size_t fl__ice_transport_sockets(const fl__ice_transport *t);

/* Releases the TURN allocation (best effort, not waited for), closes
 * every socket and the timer; no callback runs after this call;
 * on_closed (may be NULL) runs once everything is freed. */
void fl__ice_transport_close(fl__ice_transport *t, void (*on_closed)(void *arg), void *arg);

#endif
