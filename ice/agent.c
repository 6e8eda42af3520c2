/* The ICE agent (RFC 8445) with trickle (RFC 8838) and consent freshness
 * (RFC 7675): configuration, candidates, STUN input, timers, events. The
 * check list itself is in checklist.c. */
#include "ice/agent.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "ice/agent_int.h"
#include "ice/stun.h"

FL_LOG_TAG("ice");

static const char ice_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- queues --------------------------------------------------------------- */

/* Doubles a ring of `size`-byte slots (the first: FL__ICE_RING_MIN), up to
 * `max`, its `len` entries from *head moved to the start of the new one.
 * No memory (or at max): the ring stays as it was. */
static int ring_grow(void **ring, int *head, int len, int *cap, int max, size_t size)
{
    if (*cap >= max)
        return FL_ERANGE;
    int ncap = *cap ? *cap * 2 : FL__ICE_RING_MIN;
    if (ncap > max)
        ncap = max;
    uint8_t *n = malloc((size_t)ncap * size);
    if (!n)
        return FL_ENOMEM;
    for (int i = 0; i < len; i++)
        memcpy(n + (size_t)i * size, (uint8_t *)*ring + (size_t)((*head + i) % *cap) * size, size);
    free(*ring);
    *ring = n;
    *head = 0;
    *cap = ncap;
    return 0;
}

int fl__ice_grow(void **arr, int *cap, int need, int max, size_t size)
{
    if (need >= max)
        return FL_ERANGE;
    if (need < *cap)
        return 0;
    int ncap = *cap ? *cap : FL__ICE_RING_MIN;
    while (ncap <= need)
        ncap *= 2;
    if (ncap > max)
        ncap = max;
    uint8_t *n = realloc(*arr, (size_t)ncap * size);
    if (!n)
        return FL_ENOMEM;
    memset(n + (size_t)*cap * size, 0, (size_t)(ncap - *cap) * size);
    *arr = n;
    *cap = ncap;
    return 0;
}

fl_ice_transmit *fl__ice_tx_slot(fl_ice_agent *a)
{
    if (a->tx_len == a->tx_cap && ring_grow((void **)&a->txq, &a->tx_head, a->tx_len, &a->tx_cap,
                                            FL__ICE_TXQ, sizeof(*a->txq)) < 0) {
        a->stats.dropped_tx_full++;
        return NULL;
    }
    fl_ice_transmit *t = &a->txq[(a->tx_head + a->tx_len) % a->tx_cap];
    a->tx_len++;
    return t;
}

fl_ice_event *fl__ice_ev_slot(fl_ice_agent *a, fl_ice_event_type type, uint16_t comp)
{
    if (a->ev_len == a->ev_cap && ring_grow((void **)&a->evq, &a->ev_head, a->ev_len, &a->ev_cap,
                                            FL__ICE_EVQ, sizeof(*a->evq)) < 0) {
        fl_log(FL_LOG_WARN, "event queue full, event dropped");
        return NULL;
    }
    fl_ice_event *e = &a->evq[(a->ev_head + a->ev_len) % a->ev_cap];
    a->ev_len++;
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->component = comp;
    e->role = a->role;
    e->socket_id = -1;
    return e;
}

int fl_ice_agent_poll_transmit(fl_ice_agent *a, fl_ice_transmit *out)
{
    if (a->tx_len == 0)
        return FL_EAGAIN;
    const fl_ice_transmit *t = &a->txq[a->tx_head];
    out->socket_id = t->socket_id;
    out->dst = t->dst;
    out->len = t->len;
    memcpy(out->data, t->data, t->len);
    a->tx_head = --a->tx_len ? (a->tx_head + 1) % a->tx_cap : 0;
    return 0;
}

int fl_ice_agent_poll_event(fl_ice_agent *a, fl_ice_event *out)
{
    if (a->ev_len == 0)
        return FL_EAGAIN;
    *out = a->evq[a->ev_head];
    a->ev_head = --a->ev_len ? (a->ev_head + 1) % a->ev_cap : 0;
    return 0;
}

/* ---- creation ------------------------------------------------------------- */

static void random_string(fl_rand *r, char *out, size_t n)
{
    uint8_t b[64];
    fl_rand_fill(r, b, n);
    for (size_t i = 0; i < n; i++)
        out[i] = ice_chars[b[i] & 63];
    out[n] = '\0';
}

static int valid_cred(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n >= max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!fl__ice_is_ice_char((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

static int set_local_creds(fl_ice_agent *a, const char *ufrag, const char *pwd)
{
    if (ufrag) {
        if (!valid_cred(ufrag, 4, FL_ICE_UFRAG_MAX))
            return FL_EINVAL;
        strcpy(a->ufrag, ufrag);
    } else {
        random_string(a->rand, a->ufrag, 8);
    }
    if (pwd) {
        if (!valid_cred(pwd, 22, FL_ICE_PWD_MAX))
            return FL_EINVAL;
        strcpy(a->pwd, pwd);
    } else {
        random_string(a->rand, a->pwd, 24);
    }
    return 0;
}

static void apply_defaults(fl_ice_agent_config *c)
{
    if (c->ta <= 0)
        c->ta = 50 * FL_TIME_MS;
    if (c->rto <= 0)
        c->rto = FL_STUN_RTO_DEFAULT;
    if (c->max_check_retransmits <= 0)
        c->max_check_retransmits = FL_STUN_RC_DEFAULT;
    if (c->max_check_interval == 0)
        c->max_check_interval = 500 * FL_TIME_MS;
    if (c->nomination_delay <= 0)
        c->nomination_delay = FL_TIME_SEC;
    if (c->consent_interval <= 0)
        c->consent_interval = 5 * FL_TIME_SEC;
    if (c->consent_timeout <= 0)
        c->consent_timeout = 30 * FL_TIME_SEC;
    if (c->keepalive_interval <= 0)
        c->keepalive_interval = 15 * FL_TIME_SEC;
}

int fl_ice_agent_create(fl_ice_agent **out, const fl_ice_agent_config *cfg)
{
    if (!out || !cfg || !cfg->rand)
        return FL_EINVAL;
    fl_ice_agent *a = calloc(1, sizeof(*a));
    if (!a)
        return FL_ENOMEM;
    a->cfg = *cfg;
    apply_defaults(&a->cfg);
    a->rand = cfg->rand;
    a->role = cfg->lite ? FL_ICE_ROLE_CONTROLLED : cfg->role;
    int rc = set_local_creds(a, cfg->ufrag, cfg->pwd);
    if (rc) {
        free(a);
        return rc;
    }
    fl_rand_fill(a->rand, &a->tiebreaker, sizeof(a->tiebreaker));
    for (int i = 0; i <= FL_ICE_MAX_COMPONENTS; i++) {
        a->comps[i].selected = -1;
        a->comps[i].nominating = -1;
    }
    for (int i = 0; i < FL__ICE_CONSENT_IDS; i++)
        a->consent_pair[i] = -1;
    *out = a;
    return 0;
}

void fl_ice_agent_destroy(fl_ice_agent *a)
{
    if (!a)
        return;
    free(a->txq);
    free(a->evq);
    free(a->locals);
    free(a->remotes);
    free(a->pairs);
    free(a);
}

const char *fl_ice_agent_local_ufrag(const fl_ice_agent *a)
{
    return a->ufrag;
}

const char *fl_ice_agent_remote_ufrag(const fl_ice_agent *a)
{
    return a->rufrag;
}

const char *fl_ice_agent_local_pwd(const fl_ice_agent *a)
{
    return a->pwd;
}

fl_ice_role fl_ice_agent_role(const fl_ice_agent *a)
{
    return a->role;
}

void fl__ice_set_role(fl_ice_agent *a, fl_ice_role role)
{
    if (a->role == role)
        return;
    fl_log(FL_LOG_DEBUG, "role conflict: now %s",
           role == FL_ICE_ROLE_CONTROLLING ? "controlling" : "controlled");
    a->role = role;
    fl__ice_pairs_reprioritise(a);
    for (int i = 1; i <= FL_ICE_MAX_COMPONENTS; i++) {
        if (a->comps[i].nominating >= 0)
            a->pairs[a->comps[i].nominating].use_cand = 0;
        a->comps[i].nominating = -1;
    }
    fl_ice_event *ev = fl__ice_ev_slot(a, FL_ICE_EVENT_ROLE, 0);
    if (ev)
        ev->role = role;
}

int fl_ice_agent_set_role(fl_ice_agent *a, fl_ice_role role)
{
    if (a->cfg.lite && role == FL_ICE_ROLE_CONTROLLING)
        return FL_ENOTSUP;
    a->role = role;
    fl__ice_pairs_reprioritise(a);
    return 0;
}

/* ---- local candidates ----------------------------------------------------- */

void fl__ice_announce(fl_ice_agent *a, int i)
{
    fl_ice_event *ev = fl__ice_ev_slot(a, FL_ICE_EVENT_LOCAL_CANDIDATE, a->locals[i].c.component);
    if (ev) {
        ev->candidate = a->locals[i].c;
        ev->socket_id = a->locals[i].socket_id;
    }
}

int fl__ice_local_add(fl_ice_agent *a, const fl__ice_local *l)
{
    int i = 0;
    while (i < a->n_locals && a->locals[i].in_use)
        i++; /* a slot freed by a closed TCP connection, else a new one */
    int rc = fl__ice_grow((void **)&a->locals, &a->cap_locals, i, FL__ICE_MAX_LOCAL,
                          sizeof(*a->locals));
    if (rc < 0)
        return rc;
    if (i == a->n_locals)
        a->n_locals++;
    a->locals[i] = *l;
    a->locals[i].in_use = 1;
    fl__ice_pair_with_local(a, i);
    return i;
}

/* RFC 8421 flavour: IPv6 first, families interleaved, one value per base. */
static uint16_t auto_local_pref(const fl_ice_agent *a, const fl_addr *addr, int type)
{
    int same = 0;
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && l->c.type == type && l->c.transport == FL_ICE_UDP &&
            l->base.family == addr->family)
            same++;
    }
    int pref = 65535 - 2 * same - (addr->family == 4 ? 1 : 0);
    return (uint16_t)(pref > 0 ? pref : 1);
}

static int find_local(const fl_ice_agent *a, int socket_id, const fl_addr *addr, int type)
{
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && l->c.type == type && l->socket_id == socket_id &&
            fl_addr_equal(&l->c.addr, addr))
            return i;
    }
    return -1;
}

static int add_local(fl_ice_agent *a, fl__ice_local *l, const fl_addr *server)
{
    if (l->c.component < 1 || l->c.component > FL_ICE_MAX_COMPONENTS || l->socket_id < 0 ||
        (l->c.addr.family != 4 && l->c.addr.family != 6) || l->c.addr.port == 0)
        return FL_EINVAL;
    if (find_local(a, l->socket_id, &l->c.addr, l->c.type) >= 0 ||
        fl__ice_tcp_socket_used(a, l->socket_id))
        return FL_EEXIST;
    if (!l->local_pref)
        l->local_pref = auto_local_pref(a, &l->base, l->c.type);
    l->c.transport = FL_ICE_UDP;
    l->c.generation = l->c.network_id = l->c.network_cost = -1;
    l->c.priority = fl_ice_candidate_priority(fl_ice_candidate_type_pref(l->c.type), l->local_pref,
                                              l->c.component);
    fl_ice_candidate_foundation(l->c.foundation, l->c.type, &l->base, server, FL_ICE_UDP);
    int i = fl__ice_local_add(a, l);
    if (i >= 0 && a->gather_started)
        fl__ice_announce(a, i);
    return i < 0 ? i : 0;
}

fl_addr fl_ice_host_announced(const fl_ice_host *h)
{
    if (!h->advertised.family)
        return h->addr;
    fl_addr a = h->advertised;
    if (!a.port)
        a.port = h->addr.port;
    return a;
}

int fl_ice_agent_add_host(fl_ice_agent *a, const fl_ice_host *h)
{
    fl__ice_local l;
    if (!a || !h)
        return FL_EINVAL;
    memset(&l, 0, sizeof(l));
    l.c.type = FL_ICE_CAND_HOST;
    l.c.component = h->component;
    l.c.addr = fl_ice_host_announced(h);
    l.base = h->addr;
    l.socket_id = h->socket_id;
    l.local_pref = h->local_pref;
    return add_local(a, &l, NULL);
}

int fl_ice_agent_add_relayed(fl_ice_agent *a,
                             uint16_t component,
                             int socket_id,
                             const fl_addr *relayed,
                             const fl_addr *mapped,
                             const fl_addr *server)
{
    fl__ice_local l;
    if (!a || !relayed || a->cfg.lite)
        return FL_EINVAL;
    memset(&l, 0, sizeof(l));
    l.c.type = FL_ICE_CAND_RELAY;
    l.c.component = component;
    l.c.addr = *relayed;
    if (mapped)
        l.c.related = *mapped;
    l.base = *relayed; /* a relayed candidate is its own base */
    l.socket_id = socket_id;
    return add_local(a, &l, server);
}

int fl_ice_agent_add_stun_server(fl_ice_agent *a, const fl_addr *server)
{
    if (!a || !server || (server->family != 4 && server->family != 6) || !server->port)
        return FL_EINVAL;
    if (a->n_servers == FL__ICE_MAX_SERVERS)
        return FL_ERANGE;
    a->servers[a->n_servers++] = *server;
    return 0;
}

/* ---- gathering (server-reflexive) ------------------------------------------ */

static void send_gather(fl_ice_agent *a, fl__ice_gather *g)
{
    fl_ice_transmit *tx = fl__ice_tx_slot(a);
    fl_stun_writer w;
    if (!tx)
        return;
    fl_stun_writer_init(&w, tx->data, sizeof(tx->data), FL_STUN_BINDING, FL_STUN_REQUEST,
                        g->txn.id);
    fl_stun_writer_add_fingerprint(&w);
    if (fl_stun_writer_finish(&w, &tx->len) != 0) {
        a->tx_len--;
        return;
    }
    tx->socket_id = a->locals[g->local].socket_id;
    tx->dst = a->servers[g->server];
}

static void gather_check_done(fl_ice_agent *a, fl_time now)
{
    if (a->gather_done)
        return;
    for (int i = 0; i < a->n_gathers; i++) {
        if (!a->gathers[i].done)
            return;
    }
    a->gather_done = 1;
    fl__ice_ev_slot(a, FL_ICE_EVENT_GATHERING_DONE, 0);
    fl_log(FL_LOG_DEBUG, "gathering done");
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        fl__ice_update_state(a, c, now);
}

static void gather_plan(fl_ice_agent *a)
{
    a->n_gathers = 0;
    if (a->cfg.lite)
        return;
    for (int s = 0; s < a->n_servers; s++) {
        for (int l = 0; l < a->n_locals; l++) {
            const fl__ice_local *lc = &a->locals[l];
            if (!lc->in_use || lc->c.type != FL_ICE_CAND_HOST || lc->c.transport != FL_ICE_UDP ||
                lc->c.addr.family != a->servers[s].family || a->n_gathers == FL__ICE_MAX_GATHER)
                continue;
            fl__ice_gather *g = &a->gathers[a->n_gathers++];
            memset(g, 0, sizeof(*g));
            g->local = l;
            g->server = s;
            fl_stun_txn_init(&g->txn, a->rand);
        }
    }
}

int fl_ice_agent_gather(fl_ice_agent *a, fl_time now)
{
    if (!a)
        return FL_EINVAL;
    a->gather_started = 1;
    a->gather_done = 0;
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && !l->tcp_conn &&
            (l->c.type == FL_ICE_CAND_HOST || l->c.type == FL_ICE_CAND_RELAY))
            fl__ice_announce(a, i);
    }
    gather_plan(a);
    if (a->next_pace < now)
        a->next_pace = now;
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        fl__ice_update_state(a, c, now);
    gather_check_done(a, now);
    return 0;
}

/* Paced like checks (§5.1.1.1): one new request per Ta. */
static int gather_tick(fl_ice_agent *a, fl_time now)
{
    int sent = 0;
    for (int i = 0; i < a->n_gathers; i++) {
        fl__ice_gather *g = &a->gathers[i];
        if (g->done)
            continue;
        if (!g->started) {
            if (sent || now < a->next_pace)
                continue;
            g->started = 1;
            fl_stun_txn_start_ex(&g->txn, now, a->cfg.rto, 4, 4, 0);
            send_gather(a, g);
            a->next_pace = now + a->cfg.ta;
            sent = 1;
            continue;
        }
        int act;
        while ((act = fl_stun_txn_handle_timeout(&g->txn, now)) == FL_STUN_TXN_RETRANSMIT)
            send_gather(a, g);
        if (act == FL_STUN_TXN_TIMED_OUT) {
            fl_log(FL_LOG_DEBUG, "STUN server did not answer");
            g->done = 1;
        }
    }
    gather_check_done(a, now);
    return sent;
}

static fl_time gather_timeout(const fl_ice_agent *a)
{
    fl_time t = FL_TIME_NEVER;
    for (int i = 0; i < a->n_gathers; i++) {
        const fl__ice_gather *g = &a->gathers[i];
        fl_time d = g->done ? FL_TIME_NEVER
                            : (g->started ? fl_stun_txn_poll_timeout(&g->txn) : a->next_pace);
        if (d < t)
            t = d;
    }
    return t;
}

static int gather_response(fl_ice_agent *a, const fl_stun_msg *m, fl_time now)
{
    for (int i = 0; i < a->n_gathers; i++) {
        fl__ice_gather *g = &a->gathers[i];
        if (g->done || !g->started || !fl_stun_txn_matches(&g->txn, m))
            continue;
        fl_stun_txn_finish(&g->txn);
        g->done = 1;
        fl_addr mapped;
        const fl__ice_local *base = &a->locals[g->local];
        if (m->cls == FL_STUN_SUCCESS &&
            fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped) == 0 &&
            !fl_addr_equal(&mapped, &base->c.addr)) {
            fl__ice_local l = *base;
            l.c.type = FL_ICE_CAND_SRFLX;
            l.c.addr = mapped;
            l.c.related = base->c.addr;
            l.local_pref = base->local_pref;
            int rc = add_local(a, &l, &a->servers[g->server]);
            if (rc && rc != FL_EEXIST)
                fl_log(FL_LOG_DEBUG, "srflx candidate not added: %s", fl_strerror(rc));
        }
        gather_check_done(a, now);
        return 1;
    }
    return 0;
}

/* ---- remote side ---------------------------------------------------------- */

static void forget_remote(fl_ice_agent *a)
{
    for (int i = 0; i < a->n_pairs; i++) {
        fl__ice_pair *p = &a->pairs[i];
        uint16_t comp = a->locals[p->local].c.component;
        if (!p->in_use)
            continue;
        if (a->comps[comp].selected == i) {
            p->stale = 1; /* keep using it until a new pair is selected */
            p->state = FL__PAIR_SUCCEEDED;
            p->triggered = 0;
            a->remotes[p->remote].stale = 1;
            continue;
        }
        p->in_use = 0;
    }
    for (int i = 0; i < a->n_remotes; i++) {
        if (!a->remotes[i].stale)
            a->remotes[i].in_use = 0;
    }
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++) {
        a->comps[c].nominating = -1;
        a->comps[c].first_valid = 0;
    }
    a->remote_eoc = 0;
}

int fl_ice_agent_set_remote_credentials(fl_ice_agent *a, const char *ufrag, const char *pwd)
{
    if (!a || !ufrag || !pwd || strlen(ufrag) < 1 || strlen(ufrag) >= FL_ICE_UFRAG_MAX ||
        strlen(pwd) < 1 || strlen(pwd) >= FL_ICE_PWD_MAX)
        return FL_EINVAL;
    if (a->rufrag[0] && (strcmp(a->rufrag, ufrag) != 0 || strcmp(a->rpwd, pwd) != 0)) {
        fl_log(FL_LOG_INFO, "remote ICE restart");
        strcpy(a->prev_rufrag, a->rufrag);
        strcpy(a->prev_rpwd, a->rpwd);
        forget_remote(a);
    }
    strcpy(a->rufrag, ufrag);
    strcpy(a->rpwd, pwd);
    return 0;
}

static int find_remote(const fl_ice_agent *a, uint16_t comp, int transport, const fl_addr *addr)
{
    for (int i = 0; i < a->n_remotes; i++) {
        const fl__ice_remote *r = &a->remotes[i];
        if (r->in_use && !r->stale && r->c.component == comp && r->c.transport == transport &&
            fl_addr_equal(&r->c.addr, addr))
            return i;
    }
    return -1;
}

static int remote_slot(fl_ice_agent *a)
{
    for (int i = 0; i < a->n_remotes; i++) {
        if (!a->remotes[i].in_use)
            return i;
    }
    if (fl__ice_grow((void **)&a->remotes, &a->cap_remotes, a->n_remotes, FL__ICE_MAX_REMOTE,
                     sizeof(*a->remotes)) < 0)
        return -1;
    return a->n_remotes++;
}

int fl_ice_agent_add_remote(fl_ice_agent *a, fl_time now, const fl_ice_candidate *c)
{
    if (!a || !c)
        return FL_EINVAL;
    if (c->ufrag[0] && a->rufrag[0] && strcmp(c->ufrag, a->rufrag) != 0) {
        fl_log(FL_LOG_DEBUG, "remote candidate of another generation ignored");
        return 0;
    }
    int i = find_remote(a, c->component, c->transport, &c->addr);
    if (i >= 0 && a->remotes[i].c.type != FL_ICE_CAND_PRFLX)
        return FL_EEXIST;
    if (i >= 0) { /* learnt as prflx, now signalled (RFC 8838 §11.4) */
        a->remotes[i].c = *c;
        fl__ice_pairs_reprioritise(a);
        return 0;
    }
    if ((i = remote_slot(a)) < 0)
        return FL_ERANGE;
    a->remotes[i].c = *c;
    a->remotes[i].in_use = 1;
    a->remotes[i].stale = 0;
    fl__ice_pair_with_remote(a, i);
    if (a->next_pace < now)
        a->next_pace = now;
    fl__ice_update_state(a, c->component, now);
    return 0;
}

int fl_ice_agent_add_remote_candidate(fl_ice_agent *a, fl_time now, const char *line)
{
    fl_ice_candidate c;
    if (!a || !line)
        return FL_EINVAL;
    const char *s = line;
    if (strncmp(s, "a=", 2) == 0)
        s += 2;
    if (s[0] == '\0' || strncmp(s, "end-of-candidates", 17) == 0)
        return fl_ice_agent_remote_end_of_candidates(a, now);
    const char *why;
    int rc = fl_ice_candidate_parse_why(&c, line, strlen(line), &why);
    if (rc) {
        fl_log(FL_LOG_DEBUG, "remote candidate rejected: %s", why);
        return rc;
    }
    return fl_ice_agent_add_remote(a, now, &c);
}

int fl_ice_agent_remote_end_of_candidates(fl_ice_agent *a, fl_time now)
{
    if (!a)
        return FL_EINVAL;
    a->remote_eoc = 1;
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        fl__ice_update_state(a, c, now);
    return 0;
}

/* ---- STUN requests (§7.3) ------------------------------------------------- */

typedef struct req_ctx {
    const fl_stun_msg *m;
    int socket_id;
    const fl_addr *from;
    const char *pwd; /* the local password that authenticated it */
    uint32_t priority;
    int use_cand;
} req_ctx;

static void respond(fl_ice_agent *a, const req_ctx *r, int error)
{
    fl_ice_transmit *tx = fl__ice_tx_slot(a);
    fl_stun_writer w;
    if (!tx)
        return;
    uint8_t cls = error ? FL_STUN_ERROR : FL_STUN_SUCCESS;
    fl_stun_writer_init(&w, tx->data, sizeof(tx->data), FL_STUN_BINDING, cls, r->m->txn_id);
    if (error)
        fl_stun_writer_add_error(&w, error, "Role Conflict");
    else
        fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, r->from);
    fl_stun_writer_add_integrity(&w, (const uint8_t *)r->pwd, strlen(r->pwd));
    fl_stun_writer_add_fingerprint(&w);
    if (fl_stun_writer_finish(&w, &tx->len) != 0) {
        a->tx_len--;
        return;
    }
    tx->socket_id = r->socket_id;
    tx->dst = *r->from;
}

/* USERNAME "ours:theirs" and MESSAGE-INTEGRITY with our password (or the
 * previous one during a restart). Returns the password or NULL. */
const char *fl__ice_authenticate(const fl_ice_agent *a, const fl_stun_msg *m)
{
    const char *user;
    size_t n;
    if (fl_stun_msg_get_string(m, FL_STUN_ATTR_USERNAME, &user, &n) != 0)
        return NULL;
    const char *cands[2][2] = { { a->ufrag, a->pwd }, { a->prev_ufrag, a->prev_pwd } };
    for (int i = 0; i < 2; i++) {
        size_t u = strlen(cands[i][0]);
        if (u == 0 || n <= u || user[u] != ':' || memcmp(user, cands[i][0], u) != 0)
            continue;
        const char *pwd = cands[i][1];
        if (fl_stun_msg_check_integrity(m, (const uint8_t *)pwd, strlen(pwd)) == 0)
            return pwd;
    }
    return NULL;
}

/* §7.3.1.1. Returns 1 when the request was answered with 487. */
static int role_conflict(fl_ice_agent *a, const req_ctx *r)
{
    uint64_t tb;
    if (a->cfg.lite)
        return 0;
    if (a->role == FL_ICE_ROLE_CONTROLLING &&
        fl_stun_msg_get_u64(r->m, FL_STUN_ATTR_ICE_CONTROLLING, &tb) == 0) {
        a->stats.role_conflicts++;
        if (a->tiebreaker >= tb) {
            respond(a, r, FL_STUN_ERR_ROLE_CONFLICT);
            return 1;
        }
        fl__ice_set_role(a, FL_ICE_ROLE_CONTROLLED);
    } else if (a->role == FL_ICE_ROLE_CONTROLLED &&
               fl_stun_msg_get_u64(r->m, FL_STUN_ATTR_ICE_CONTROLLED, &tb) == 0) {
        a->stats.role_conflicts++;
        if (a->tiebreaker < tb) {
            respond(a, r, FL_STUN_ERR_ROLE_CONFLICT);
            return 1;
        }
        fl__ice_set_role(a, FL_ICE_ROLE_CONTROLLING);
    }
    return 0;
}

/* The base the request arrived on: a host or relayed candidate. */
static int local_for_socket(const fl_ice_agent *a, int socket_id, int family)
{
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *l = &a->locals[i];
        if (l->in_use && !l->tcp_closed && l->socket_id == socket_id &&
            l->c.addr.family == family &&
            (l->c.type == FL_ICE_CAND_HOST || l->c.type == FL_ICE_CAND_RELAY))
            return i;
    }
    return -1;
}

/* §7.3.1.3: a request from an unknown address is a peer-reflexive candidate.
 * On a TCP connection accepted by a passive candidate, it is an active one
 * (RFC 6544 §7.2.1). */
static int learn_prflx(fl_ice_agent *a, const fl__ice_local *l, const req_ctx *r)
{
    int i = remote_slot(a);
    if (i < 0)
        return -1;
    fl__ice_remote *rc = &a->remotes[i];
    memset(rc, 0, sizeof(*rc));
    rc->in_use = 1;
    rc->c.component = l->c.component;
    rc->c.transport = l->c.transport;
    if (l->c.transport == FL_ICE_TCP)
        rc->c.tcptype = FL_ICE_TCPTYPE_ACTIVE;
    rc->c.type = FL_ICE_CAND_PRFLX;
    rc->c.priority = r->priority;
    rc->c.addr = *r->from;
    rc->c.generation = rc->c.network_id = rc->c.network_cost = -1;
    fl_ice_candidate_foundation(rc->c.foundation, FL_ICE_CAND_PRFLX, r->from, NULL,
                                (fl_ice_transport)l->c.transport);
    a->stats.prflx_remote++;
    char s[FL_ADDR_STRLEN];
    fl_log(FL_LOG_DEBUG, "peer-reflexive remote candidate %s", fl_addr_str(r->from, s));
    return i;
}

/* §7.3.1.4 triggered check and §7.3.1.5 nomination for the pair. */
static void request_pair(fl_ice_agent *a, int local, int remote, const req_ctx *r, fl_time now)
{
    int p = fl__ice_pair_find(a, local, remote);
    if (p < 0 && (p = fl__ice_pair_add(a, local, remote, FL__PAIR_WAITING)) < 0)
        return;
    fl__ice_pair *pr = &a->pairs[p];
    pr->peer_checked = 1;
    uint16_t comp = a->locals[local].c.component;
    if (a->cfg.lite) { /* a lite agent's pairs are valid once checked by the peer */
        pr->state = FL__PAIR_SUCCEEDED;
        pr->vpair = p;
        pr->valid = 1;
    } else if (pr->state != FL__PAIR_SUCCEEDED) {
        fl__ice_trigger(a, p);
        if (a->next_pace < now)
            a->next_pace = now;
    }
    int sel = a->comps[comp].selected;
    if (a->cfg.lite && sel >= 0 && a->pairs[sel].remote == remote)
        a->comps[comp].consent_ok = now; /* lite: the peer's checks are the consent */
    if (!r->use_cand || a->role != FL_ICE_ROLE_CONTROLLED)
        return;
    if (pr->state == FL__PAIR_SUCCEEDED && pr->vpair >= 0) {
        a->pairs[pr->vpair].nominated = 1;
        fl__ice_select(a, pr->vpair, now);
    } else {
        pr->nominate_on_success = 1;
    }
}

static int handle_request(fl_ice_agent *a, fl_time now, req_ctx *r)
{
    r->pwd = fl__ice_authenticate(a, r->m);
    if (!r->pwd) {
        a->stats.dropped_unauth++;
        fl_log(FL_LOG_DEBUG, "unauthenticated Binding request dropped");
        return FL_EAUTH;
    }
    if (fl_stun_msg_get_u32(r->m, FL_STUN_ATTR_PRIORITY, &r->priority) != 0) {
        a->stats.dropped_malformed++;
        return FL_EBADMSG;
    }
    int local = local_for_socket(a, r->socket_id, r->from->family);
    if (local < 0) {
        a->stats.dropped_unknown++;
        return FL_ENOENT;
    }
    a->stats.requests_received++;
    if (role_conflict(a, r))
        return 0;
    r->use_cand = fl_stun_msg_find(r->m, FL_STUN_ATTR_USE_CANDIDATE) != NULL;
    respond(a, r, 0);
    uint16_t comp = a->locals[local].c.component;
    int remote = find_remote(a, comp, a->locals[local].c.transport, r->from);
    if (remote < 0 && r->pwd == a->prev_pwd)
        return 0; /* an old-generation check on the kept pair: answered only */
    if (remote < 0 && (remote = learn_prflx(a, &a->locals[local], r)) < 0)
        return 0;
    request_pair(a, local, remote, r, now);
    fl__ice_update_state(a, comp, now);
    return 0;
}

/* ---- STUN responses (§7.2.5) ---------------------------------------------- */

static int match_pair(const fl_ice_agent *a, const fl_stun_msg *m)
{
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use)
            continue;
        if (p->state == FL__PAIR_IN_PROGRESS && fl_stun_txn_matches(&p->txn, m))
            return i;
        if (p->has_old_txn && memcmp(p->old_txn, m->txn_id, FL_STUN_TXN_ID_SIZE) == 0)
            return i;
    }
    return -1;
}

static int match_consent(const fl_ice_agent *a, const fl_stun_msg *m)
{
    for (int i = 0; i < FL__ICE_CONSENT_IDS; i++) {
        if (a->consent_pair[i] >= 0 &&
            memcmp(a->consent_ids[i], m->txn_id, FL_STUN_TXN_ID_SIZE) == 0)
            return i;
    }
    return -1;
}

static int response_auth(fl_ice_agent *a, const fl__ice_pair *p, const fl_stun_msg *m)
{
    const char *pwd = p->stale ? a->prev_rpwd : a->rpwd;
    if (fl_stun_msg_check_integrity(m, (const uint8_t *)pwd, strlen(pwd)) != 0) {
        a->stats.dropped_unauth++;
        fl_log(FL_LOG_DEBUG, "unauthenticated Binding response dropped");
        return FL_EAUTH;
    }
    return 0;
}

static int consent_response(fl_ice_agent *a, int slot, const fl_stun_msg *m, fl_time now)
{
    int pi = a->consent_pair[slot];
    const fl__ice_pair *p = &a->pairs[pi];
    if (!p->in_use || response_auth(a, p, m))
        return p->in_use ? FL_EAUTH : FL_ENOENT;
    a->stats.responses_received++;
    a->consent_pair[slot] = -1;
    uint16_t comp = a->locals[p->local].c.component;
    if (m->cls == FL_STUN_SUCCESS && a->comps[comp].selected == pi)
        a->comps[comp].consent_ok = now;
    return 0;
}

static int handle_response(fl_ice_agent *a,
                           fl_time now,
                           int socket_id,
                           const fl_addr *from,
                           const fl_stun_msg *m)
{
    if (gather_response(a, m, now))
        return 0;
    int slot = match_consent(a, m);
    if (slot >= 0)
        return consent_response(a, slot, m, now);
    int i = match_pair(a, m);
    if (i < 0) {
        a->stats.dropped_unknown++;
        return FL_ENOENT;
    }
    fl__ice_pair *p = &a->pairs[i];
    int rc = response_auth(a, p, m);
    if (rc)
        return rc;
    a->stats.responses_received++;
    if (socket_id != a->locals[p->local].socket_id ||
        !fl_addr_equal(from, &a->remotes[p->remote].c.addr)) {
        fl_log(FL_LOG_DEBUG, "pair %d: non-symmetric response, failed", i);
        fl_stun_txn_finish(&p->txn);
        p->state = FL__PAIR_FAILED;
        return 0;
    }
    if (m->cls == FL_STUN_SUCCESS)
        fl__ice_on_check_success(a, i, m, now);
    else
        fl__ice_on_check_error(a, i, m, now);
    return 0;
}

int fl_ice_agent_handle_input(fl_ice_agent *a,
                              fl_time now,
                              int socket_id,
                              const fl_addr *from,
                              const uint8_t *buf,
                              size_t len)
{
    fl_stun_msg m;
    if (!a || !from || !buf)
        return FL_EINVAL;
    if (fl_stun_msg_parse(&m, buf, len) != 0 || m.method != FL_STUN_BINDING) {
        a->stats.dropped_malformed++;
        return FL_EBADMSG;
    }
    int rc;
    if (m.cls == FL_STUN_REQUEST) {
        req_ctx r = { .m = &m, .socket_id = socket_id, .from = from };
        rc = handle_request(a, now, &r);
    } else if (m.cls == FL_STUN_SUCCESS || m.cls == FL_STUN_ERROR) {
        rc = handle_response(a, now, socket_id, from, &m);
    } else {
        rc = 0; /* Binding indications are keepalives: nothing to do */
    }
    if (!a->cfg.lite)
        fl__ice_checklist_tick(a, now);
    return rc;
}

/* ---- consent freshness (RFC 7675) and keepalives ----------------------------- */

static fl_time jitter(fl_ice_agent *a, fl_time interval)
{
    uint32_t u = fl_rand_u32(a->rand) % 1000; /* ±20% */
    return interval * (800 + (fl_time)u * 400 / 1000) / 1000;
}

static void send_consent(fl_ice_agent *a, int pi)
{
    int slot = a->consent_head;
    a->consent_head = (a->consent_head + 1) % FL__ICE_CONSENT_IDS;
    fl_stun_txn_id_generate(a->rand, a->consent_ids[slot]);
    a->consent_pair[slot] = pi;
    if (fl__ice_build_check(a, &a->pairs[pi], a->consent_ids[slot], 1) == 0)
        a->stats.consent_sent++;
}

static void send_keepalive(fl_ice_agent *a, int pi)
{
    const fl__ice_pair *p = &a->pairs[pi];
    uint8_t id[FL_STUN_TXN_ID_SIZE];
    fl_stun_writer w;
    fl_ice_transmit *tx = fl__ice_tx_slot(a);
    if (!tx)
        return;
    fl_stun_txn_id_generate(a->rand, id);
    fl_stun_writer_init(&w, tx->data, sizeof(tx->data), FL_STUN_BINDING, FL_STUN_INDICATION, id);
    fl_stun_writer_add_fingerprint(&w);
    if (fl_stun_writer_finish(&w, &tx->len) != 0) {
        a->tx_len--;
        return;
    }
    tx->socket_id = a->locals[p->local].socket_id;
    tx->dst = a->remotes[p->remote].c.addr;
}

void fl__ice_consent_lost(fl_ice_agent *a, uint16_t comp, fl_time now)
{
    fl__ice_comp *c = &a->comps[comp];
    fl_log(FL_LOG_INFO, "component %u: consent lost", (unsigned)comp);
    c->consent_lost = 1;
    c->selected = -1;
    fl__ice_update_state(a, comp, now);
}

static void consent_tick(fl_ice_agent *a, fl_time now)
{
    for (uint16_t comp = 1; comp <= FL_ICE_MAX_COMPONENTS; comp++) {
        fl__ice_comp *c = &a->comps[comp];
        if (c->selected < 0 || c->consent_lost)
            continue;
        if (now >= c->consent_ok + a->cfg.consent_timeout) {
            fl__ice_consent_lost(a, comp, now);
            continue;
        }
        if (a->cfg.lite) {
            if (now >= c->keepalive_next) {
                send_keepalive(a, c->selected);
                c->keepalive_next = now + a->cfg.keepalive_interval;
            }
        } else if (now >= c->consent_next) {
            send_consent(a, c->selected);
            c->consent_next = now + jitter(a, a->cfg.consent_interval);
        }
    }
}

static fl_time consent_timeout(const fl_ice_agent *a)
{
    fl_time t = FL_TIME_NEVER;
    for (uint16_t comp = 1; comp <= FL_ICE_MAX_COMPONENTS; comp++) {
        const fl__ice_comp *c = &a->comps[comp];
        if (c->selected < 0 || c->consent_lost)
            continue;
        fl_time d = c->consent_ok + a->cfg.consent_timeout;
        fl_time n = a->cfg.lite ? c->keepalive_next : c->consent_next;
        if (n < d)
            d = n;
        if (d < t)
            t = d;
    }
    return t;
}

/* ---- timers, state -------------------------------------------------------- */

int fl_ice_agent_handle_timeout(fl_ice_agent *a, fl_time now)
{
    if (!a)
        return FL_EINVAL;
    int gathered = gather_tick(a, now);
    if (!a->cfg.lite) {
        fl__ice_checklist_timers(a, now);
        if (!gathered)
            fl__ice_checklist_tick(a, now);
    }
    consent_tick(a, now);
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        fl__ice_update_state(a, c, now);
    return 0;
}

fl_time fl_ice_agent_poll_timeout(const fl_ice_agent *a)
{
    fl_time t = gather_timeout(a);
    fl_time c = fl__ice_checklist_timeout(a);
    if (c < t)
        t = c;
    c = consent_timeout(a);
    return c < t ? c : t;
}

static int comp_in_use(const fl_ice_agent *a, uint16_t comp)
{
    for (int i = 0; i < a->n_locals; i++) {
        if (a->locals[i].in_use && a->locals[i].c.component == comp)
            return 1;
    }
    return 0;
}

static int comp_has(const fl_ice_agent *a, uint16_t comp, int valid_only)
{
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && !p->stale && a->locals[p->local].c.component == comp &&
            (!valid_only || p->valid))
            return 1;
    }
    return 0;
}

static fl_ice_state compute_state(const fl_ice_agent *a, uint16_t comp)
{
    const fl__ice_comp *c = &a->comps[comp];
    if (c->consent_lost)
        return FL_ICE_STATE_FAILED;
    if (c->selected >= 0)
        return FL_ICE_STATE_READY;
    if (comp_has(a, comp, 1))
        return FL_ICE_STATE_CONNECTED;
    if (fl__ice_comp_all_failed(a, comp))
        return FL_ICE_STATE_FAILED;
    if (comp_has(a, comp, 0) || fl__ice_tcp_waiting(a, comp))
        return FL_ICE_STATE_CONNECTING;
    if (a->gather_started)
        return FL_ICE_STATE_GATHERING;
    return FL_ICE_STATE_DISCONNECTED;
}

void fl__ice_update_state(fl_ice_agent *a, uint16_t comp, fl_time now)
{
    (void)now;
    if (comp < 1 || comp > FL_ICE_MAX_COMPONENTS || !comp_in_use(a, comp))
        return;
    fl_ice_state s = compute_state(a, comp);
    if (s == a->comps[comp].state)
        return;
    fl_ice_event *ev = fl__ice_ev_slot(a, FL_ICE_EVENT_STATE, comp);
    if (!ev)
        return; /* no room for the event (out of memory): the next update tries again */
    fl_log(FL_LOG_DEBUG, "component %u: state %d -> %d", (unsigned)comp, (int)a->comps[comp].state,
           (int)s);
    a->comps[comp].state = s;
    ev->state = s;
}

fl_ice_state fl_ice_agent_state(const fl_ice_agent *a, uint16_t comp)
{
    if (!a || comp < 1 || comp > FL_ICE_MAX_COMPONENTS)
        return FL_ICE_STATE_DISCONNECTED;
    return a->comps[comp].state;
}

int fl_ice_agent_selected_pair(const fl_ice_agent *a,
                               uint16_t comp,
                               fl_ice_candidate *local,
                               fl_ice_candidate *remote,
                               int *socket_id)
{
    if (!a || comp < 1 || comp > FL_ICE_MAX_COMPONENTS || a->comps[comp].selected < 0)
        return FL_ENOENT;
    const fl__ice_pair *p = &a->pairs[a->comps[comp].selected];
    if (local)
        *local = a->locals[p->local].c;
    if (remote)
        *remote = a->remotes[p->remote].c;
    if (socket_id)
        *socket_id = a->locals[p->local].socket_id;
    return 0;
}

int fl_ice_agent_peer_validated(const fl_ice_agent *a, int socket_id, const fl_addr *from)
{
    for (int i = 0; a && from && i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use || !(p->valid || p->state == FL__PAIR_SUCCEEDED || p->peer_checked))
            continue;
        const fl__ice_local *l = &a->locals[p->local];
        if (l->socket_id == socket_id && !l->tcp_closed &&
            fl_addr_equal(&a->remotes[p->remote].c.addr, from))
            return 1;
    }
    return 0;
}

int fl_ice_agent_restart(fl_ice_agent *a, fl_time now)
{
    if (!a)
        return FL_EINVAL;
    strcpy(a->prev_ufrag, a->ufrag);
    strcpy(a->prev_pwd, a->pwd);
    random_string(a->rand, a->ufrag, 8);
    random_string(a->rand, a->pwd, 24);
    if (a->rufrag[0]) {
        strcpy(a->prev_rufrag, a->rufrag);
        strcpy(a->prev_rpwd, a->rpwd);
    }
    forget_remote(a);
    a->rufrag[0] = a->rpwd[0] = '\0';
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        a->comps[c].consent_lost = 0;
    a->gather_started = 0;
    a->gather_done = 0;
    a->n_gathers = 0;
    fl_log(FL_LOG_INFO, "ICE restart");
    for (uint16_t c = 1; c <= FL_ICE_MAX_COMPONENTS; c++)
        fl__ice_update_state(a, c, now);
    return 0;
}

void fl_ice_agent_get_stats(const fl_ice_agent *a, fl_ice_stats *out)
{
    *out = a->stats;
    out->pairs = out->local_candidates = out->remote_candidates = 0;
    for (int i = 0; i < a->n_pairs; i++)
        out->pairs += a->pairs[i].in_use;
    for (int i = 0; i < a->n_locals; i++) /* a TCP connection is no candidate */
        out->local_candidates += a->locals[i].in_use && !(a->locals[i].tcp_conn &&
                                                          a->locals[i].c.type == FL_ICE_CAND_HOST);
    for (int i = 0; i < a->n_remotes; i++)
        out->remote_candidates += a->remotes[i].in_use;
}
