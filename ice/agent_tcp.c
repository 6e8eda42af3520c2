/* ICE-TCP (RFC 6544), passive side: passive host candidates, the
 * connections peers open to them, and their closing. See agent.h.
 *
 * A connection is a hidden local candidate (tcp_conn): a copy of the passive
 * candidate on the connection's socket id. Its pairs are made by the checks
 * that arrive on it (agent.c, handle_request), so the rest of the agent
 * (answers, triggered checks, nomination, consent) runs unchanged over it.
 * A closed connection's local and pairs stay, failed, until their slots are
 * needed for a new connection. */
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "ice/agent.h"
#include "ice/agent_int.h"
#include "ice/stun.h"

FL_LOG_TAG("ice");

#define OTHER_PREF_MAX 8191

static int is_listener(const fl__ice_local *l)
{
    return l->in_use && !l->tcp_conn && l->c.transport == FL_ICE_TCP;
}

/* Any open base (host, relayed, listener, connection) on socket_id. */
static int socket_used(const fl_ice_agent *a, int socket_id)
{
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && !l->tcp_closed && l->socket_id == socket_id)
            return 1;
    }
    return 0;
}

int fl__ice_tcp_socket_used(const fl_ice_agent *a, int socket_id)
{
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && !l->tcp_closed && l->c.transport == FL_ICE_TCP &&
            l->socket_id == socket_id)
            return 1;
    }
    return 0;
}

/* A signalled remote active candidate that can connect to one of our
 * passive candidates: the component is not failed while it may still come. */
int fl__ice_tcp_waiting(const fl_ice_agent *a, uint16_t comp)
{
    for (int r = 0; r < a->n_remotes; r++) {
        const fl__ice_remote *rc = &a->remotes[r];
        if (!rc->in_use || rc->stale || rc->c.component != comp || rc->c.transport != FL_ICE_TCP ||
            rc->c.tcptype != FL_ICE_TCPTYPE_ACTIVE || rc->c.type == FL_ICE_CAND_PRFLX)
            continue;
        for (int l = 0; l < a->n_locals; l++) {
            const fl__ice_local *lc = &a->locals[l];
            if (is_listener(lc) && lc->c.component == comp &&
                lc->c.addr.family == rc->c.addr.family)
                return 1;
        }
    }
    return 0;
}

/* ---- passive candidates ---------------------------------------------------- */

/* Like RFC 8421 for UDP: IPv6 first, families interleaved, unique. */
static uint16_t auto_other_pref(const fl_ice_agent *a, int family)
{
    int same = 0;
    for (int i = 0; i < a->n_locals; i++) {
        if (is_listener(&a->locals[i]) && a->locals[i].base.family == family)
            same++;
    }
    int pref = OTHER_PREF_MAX - 2 * same - (family == 4 ? 1 : 0);
    return (uint16_t)(pref > 0 ? pref : 1);
}

static int listener_exists(const fl_ice_agent *a, const fl_ice_host *h)
{
    if (socket_used(a, h->socket_id))
        return 1;
    for (int i = 0; i < a->n_locals; i++) {
        if (is_listener(&a->locals[i]) && fl_addr_equal(&a->locals[i].base, &h->addr))
            return 1;
    }
    return 0;
}

int fl_ice_agent_add_tcp_passive(fl_ice_agent *a, const fl_ice_host *h)
{
    fl__ice_local l;
    if (!a || !h || h->component < 1 || h->component > FL_ICE_MAX_COMPONENTS || h->socket_id < 0 ||
        (h->addr.family != 4 && h->addr.family != 6) || h->addr.port == 0 ||
        h->local_pref > OTHER_PREF_MAX)
        return FL_EINVAL;
    if (listener_exists(a, h))
        return FL_EEXIST;
    memset(&l, 0, sizeof(l));
    l.c.component = h->component;
    l.c.transport = FL_ICE_TCP;
    l.c.tcptype = FL_ICE_TCPTYPE_PASSIVE;
    l.c.type = FL_ICE_CAND_HOST;
    l.c.addr = fl_ice_host_announced(h);
    l.c.generation = l.c.network_id = l.c.network_cost = -1;
    l.base = h->addr;
    l.socket_id = h->socket_id;
    uint16_t other = h->local_pref ? h->local_pref : auto_other_pref(a, h->addr.family);
    l.local_pref = (uint16_t)fl_ice_candidate_tcp_local_pref(FL_ICE_CAND_HOST,
                                                             FL_ICE_TCPTYPE_PASSIVE, other);
    l.c.priority = fl_ice_candidate_priority(fl_ice_candidate_type_pref(FL_ICE_CAND_HOST),
                                             l.local_pref, h->component);
    fl_ice_candidate_foundation(l.c.foundation, FL_ICE_CAND_HOST, &l.base, NULL, FL_ICE_TCP);
    int i = fl__ice_local_add(a, &l);
    if (i < 0)
        return i;
    if (a->gather_started)
        fl__ice_announce(a, i);
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "passive TCP candidate %s", fl_addr_str(&h->addr, s));
    return 0;
}

/* ---- connections ------------------------------------------------------------ */

static int find_conn(const fl_ice_agent *a, int socket_id)
{
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && l->tcp_conn && !l->tcp_closed && l->c.type == FL_ICE_CAND_HOST &&
            l->socket_id == socket_id)
            return i;
    }
    return -1;
}

static int find_listener(const fl_ice_agent *a, int socket_id, int family)
{
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (is_listener(l) && l->socket_id == socket_id && l->c.addr.family == family)
            return i;
    }
    return -1;
}

static int remote_used(const fl_ice_agent *a, int remote)
{
    for (int i = 0; i < a->n_pairs; i++) {
        if (a->pairs[i].in_use && a->pairs[i].remote == remote)
            return 1;
    }
    return 0;
}

/* Frees every closed connection's locals and failed pairs, and the
 * peer-reflexive remotes nothing else uses. 1 when something was freed. */
static int recycle_closed(fl_ice_agent *a)
{
    int freed = 0;
    for (int i = 0; i < a->n_pairs; i++) {
        fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && a->locals[p->local].tcp_closed)
            p->in_use = 0;
    }
    for (int i = 0; i < a->n_locals; i++) {
        if (a->locals[i].in_use && a->locals[i].tcp_closed) {
            a->locals[i].in_use = 0;
            freed = 1;
        }
    }
    for (int r = 0; freed && r < a->n_remotes; r++) {
        fl__ice_remote *rc = &a->remotes[r];
        if (rc->in_use && !rc->stale && rc->c.transport == FL_ICE_TCP &&
            rc->c.type == FL_ICE_CAND_PRFLX && !remote_used(a, r))
            rc->in_use = 0;
    }
    return freed;
}

static int conn_add(fl_ice_agent *a, int listener, int socket_id, const fl_addr *from)
{
    fl__ice_local l = a->locals[listener];
    l.socket_id = socket_id;
    l.tcp_conn = 1;
    l.tcp_closed = 0;
    int i = fl__ice_local_add(a, &l);
    if (i == FL_ERANGE && recycle_closed(a))
        i = fl__ice_local_add(a, &l);
    if (i < 0) {
        fl_log(FL_LOG_DEBUG, "no room for another TCP connection");
        return i;
    }
    a->stats.tcp_conns++;
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "TCP connection %d from %s", socket_id, fl_addr_str(from, s));
    return i;
}

/* The first message on an unknown connection: only an authenticated Binding
 * request makes the agent take it on. */
static int conn_accept(fl_ice_agent *a,
                       int listener,
                       int socket_id,
                       const fl_addr *from,
                       const uint8_t *buf,
                       size_t len)
{
    fl_stun_msg m;
    if (fl_stun_msg_parse(&m, buf, len) != 0 || m.method != FL_STUN_BINDING) {
        a->stats.dropped_malformed++;
        return FL_EBADMSG;
    }
    if (m.cls != FL_STUN_REQUEST) {
        a->stats.dropped_unknown++;
        return FL_ENOENT;
    }
    if (!fl__ice_authenticate(a, &m)) {
        a->stats.dropped_unauth++;
        fl_log(FL_LOG_DEBUG, "unauthenticated Binding request on a new TCP connection dropped");
        return FL_EAUTH;
    }
    if (socket_used(a, socket_id)) {
        a->stats.dropped_unknown++;
        fl_log(FL_LOG_WARN, "TCP connection socket id %d already in use", socket_id);
        return FL_EEXIST;
    }
    int rc = conn_add(a, listener, socket_id, from);
    return rc < 0 ? rc : 0;
}

int fl_ice_agent_handle_tcp_input(fl_ice_agent *a,
                                  fl_time now,
                                  int listener_socket_id,
                                  int conn_socket_id,
                                  const fl_addr *from,
                                  const uint8_t *buf,
                                  size_t len)
{
    if (!a || !from || !buf || conn_socket_id < 0)
        return FL_EINVAL;
    if (find_conn(a, conn_socket_id) < 0) {
        int lis = find_listener(a, listener_socket_id, from->family);
        if (lis < 0) {
            a->stats.dropped_unknown++;
            return FL_ENOENT;
        }
        int rc = conn_accept(a, lis, conn_socket_id, from, buf, len);
        if (rc)
            return rc;
    }
    return fl_ice_agent_handle_input(a, now, conn_socket_id, from, buf, len);
}

/* A pair on a closed connection: failed, out of every timer and of the
 * valid list; the selected one goes as on consent loss. */
static void conn_pair_fail(fl_ice_agent *a, int idx, fl_time now)
{
    fl__ice_pair *p = &a->pairs[idx];
    uint16_t comp = a->locals[p->local].c.component;
    fl_stun_txn_finish(&p->txn);
    p->has_old_txn = 0;
    p->valid = 0;
    p->nominated = 0;
    p->nominate_on_success = 0;
    fl__ice_pair_failed(a, idx);
    for (int k = 0; k < FL__ICE_CONSENT_IDS; k++) {
        if (a->consent_pair[k] == idx)
            a->consent_pair[k] = -1;
    }
    if (a->comps[comp].selected == idx)
        fl__ice_consent_lost(a, comp, now);
}

/* Drops the transmits still queued for a closed connection. */
static void purge_tx(fl_ice_agent *a, int socket_id)
{
    int kept = 0;
    for (int i = 0; i < a->tx_len; i++) {
        const fl_ice_transmit *t = &a->txq[(a->tx_head + i) % a->tx_cap];
        if (t->socket_id == socket_id)
            continue;
        fl_ice_transmit *d = &a->txq[(a->tx_head + kept) % a->tx_cap];
        if (d != t)
            *d = *t;
        kept++;
    }
    a->tx_len = kept;
}

int fl_ice_agent_tcp_closed(fl_ice_agent *a, fl_time now, int conn_socket_id)
{
    if (!a)
        return FL_EINVAL;
    int found = 0;
    for (int i = 0; i < a->n_locals; i++) {
        fl__ice_local *l = &a->locals[i];
        if (l->in_use && l->tcp_conn && !l->tcp_closed && l->socket_id == conn_socket_id) {
            l->tcp_closed = 1; /* with a peer-reflexive local learnt on it */
            found = 1;
        }
    }
    if (!found)
        return FL_ENOENT;
    fl_log(FL_LOG_DEBUG, "TCP connection %d closed", conn_socket_id);
    purge_tx(a, conn_socket_id);
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        const fl__ice_local *l = &a->locals[p->local];
        if (p->in_use && l->tcp_closed && l->socket_id == conn_socket_id)
            conn_pair_fail(a, i, now); /* idempotent for an older connection's */
    }
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        fl__ice_update_state(a, c, now);
    return 0;
}
