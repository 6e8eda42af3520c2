/* The check list (RFC 8445 §6.1.2-§6.1.4, §7.2): candidate pairs, their
 * states, pacing, triggered checks, regular nomination and the valid list. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "ice/agent.h"
#include "ice/agent_int.h"
#include "ice/stun.h"

FL_LOG_TAG("ice");

static uint16_t pair_comp(const fl_ice_agent *a, const fl__ice_pair *p)
{
    return a->locals[p->local].c.component;
}

static uint64_t pair_prio(const fl_ice_agent *a, int local, int remote)
{
    uint32_t l = a->locals[local].c.priority;
    uint32_t r = a->remotes[remote].c.priority;
    if (a->role == FL_ICE_ROLE_CONTROLLING)
        return fl_ice_candidate_pair_priority(l, r);
    return fl_ice_candidate_pair_priority(r, l);
}

static int same_foundation(const fl_ice_agent *a, const fl__ice_pair *p, const fl__ice_pair *q)
{
    return strcmp(a->locals[p->local].c.foundation, a->locals[q->local].c.foundation) == 0 &&
           strcmp(a->remotes[p->remote].c.foundation, a->remotes[q->remote].c.foundation) == 0;
}

static int pairable(const fl_ice_agent *a, int local, int remote)
{
    const fl__ice_local *l = &a->locals[local];
    const fl__ice_remote *r = &a->remotes[remote];
    if (!l->in_use || !r->in_use || r->stale)
        return 0;
    if (l->c.type != FL_ICE_CAND_HOST && l->c.type != FL_ICE_CAND_RELAY)
        return 0; /* srflx pairs are pruned to their base (§6.1.2.4) */
    /* UDP only: TCP pairs exist only on a connection the peer opened to a
     * passive candidate, made when its first check arrives (agent_tcp.c). */
    return l->c.component == r->c.component && l->c.addr.family == r->c.addr.family &&
           r->c.transport == FL_ICE_UDP && l->c.transport == FL_ICE_UDP && r->c.addr.port != 0;
}

int fl__ice_pair_find(const fl_ice_agent *a, int local, int remote)
{
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && p->local == local && p->remote == remote)
            return i;
    }
    return -1;
}

/* A free slot, else the lowest-priority pair not yet checked (§6.1.2.5). */
static int pair_slot(fl_ice_agent *a, uint64_t prio)
{
    int worst = -1;
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use)
            return i;
        if (p->state > FL__PAIR_WAITING || p->triggered || p->valid || p->stale)
            continue;
        if (worst < 0 || p->prio < a->pairs[worst].prio)
            worst = i;
    }
    if (fl__ice_grow((void **)&a->pairs, &a->cap_pairs, a->n_pairs, FL__ICE_MAX_PAIRS,
                     sizeof(*a->pairs)) == 0)
        return a->n_pairs++;
    if (worst >= 0 && a->pairs[worst].prio < prio)
        return worst;
    return -1;
}

int fl__ice_pair_add(fl_ice_agent *a, int local, int remote, uint8_t state)
{
    uint64_t prio = pair_prio(a, local, remote);
    int i = pair_slot(a, prio);
    if (i < 0) {
        fl_log(FL_LOG_DEBUG, "check list full, pair dropped");
        return -1;
    }
    fl__ice_pair *p = &a->pairs[i];
    memset(p, 0, sizeof(*p));
    p->in_use = 1;
    p->local = local;
    p->remote = remote;
    p->vpair = -1;
    p->prio = prio;
    p->state = state;
    return i;
}

/* Trickle (RFC 8838 §11): Waiting unless a pair of the same foundation is
 * already being checked. */
static uint8_t initial_state(const fl_ice_agent *a, int idx)
{
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *q = &a->pairs[i];
        if (i == idx || !q->in_use || q->stale)
            continue;
        if ((q->state == FL__PAIR_WAITING || q->state == FL__PAIR_IN_PROGRESS) &&
            same_foundation(a, &a->pairs[idx], q))
            return FL__PAIR_FROZEN;
    }
    return FL__PAIR_WAITING;
}

static void pair_new(fl_ice_agent *a, int local, int remote)
{
    if (!pairable(a, local, remote) || fl__ice_pair_find(a, local, remote) >= 0)
        return;
    int i = fl__ice_pair_add(a, local, remote, FL__PAIR_FROZEN);
    if (i >= 0)
        a->pairs[i].state = initial_state(a, i);
}

void fl__ice_pair_with_remote(fl_ice_agent *a, int remote)
{
    for (int l = 0; l < a->n_locals; l++)
        pair_new(a, l, remote);
}

void fl__ice_pair_with_local(fl_ice_agent *a, int local)
{
    for (int r = 0; r < a->n_remotes; r++)
        pair_new(a, local, r);
}

void fl__ice_pairs_reprioritise(fl_ice_agent *a)
{
    for (int i = 0; i < a->n_pairs; i++) {
        if (a->pairs[i].in_use)
            a->pairs[i].prio = pair_prio(a, a->pairs[i].local, a->pairs[i].remote);
    }
}

void fl__ice_trigger(fl_ice_agent *a, int idx)
{
    fl__ice_pair *p = &a->pairs[idx];
    if (p->state == FL__PAIR_IN_PROGRESS) {
        /* §7.3.1.4: cancel, but still accept its response */
        memcpy(p->old_txn, p->txn.id, sizeof(p->old_txn));
        p->has_old_txn = 1;
        fl_stun_txn_finish(&p->txn);
    }
    p->state = FL__PAIR_WAITING;
    if (!p->triggered) {
        p->triggered = 1;
        p->trigger_seq = ++a->trigger_seq;
    }
}

int fl__ice_build_check(fl_ice_agent *a, const fl__ice_pair *p, const uint8_t *txid, int consent)
{
    const fl__ice_local *l = &a->locals[p->local];
    const char *rufrag = p->stale ? a->prev_rufrag : a->rufrag;
    const char *rpwd = p->stale ? a->prev_rpwd : a->rpwd;
    const char *ufrag = p->stale && a->prev_ufrag[0] ? a->prev_ufrag : a->ufrag;
    char user[2 * FL_ICE_UFRAG_MAX];
    fl_stun_writer w;
    fl_ice_transmit *tx = fl__ice_tx_slot(a);
    if (!tx)
        return FL_ENOMEM;
    snprintf(user, sizeof(user), "%s:%s", rufrag, ufrag);
    uint32_t prflx = fl_ice_candidate_priority(fl_ice_candidate_type_pref(FL_ICE_CAND_PRFLX),
                                               l->local_pref, l->c.component);
    fl_stun_writer_init(&w, tx->data, sizeof(tx->data), FL_STUN_BINDING, FL_STUN_REQUEST, txid);
    fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, user);
    fl_stun_writer_add_u32(&w, FL_STUN_ATTR_PRIORITY, prflx);
    if (a->role == FL_ICE_ROLE_CONTROLLING) {
        fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLING, a->tiebreaker);
        if (p->use_cand && !consent)
            fl_stun_writer_add(&w, FL_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    } else {
        fl_stun_writer_add_u64(&w, FL_STUN_ATTR_ICE_CONTROLLED, a->tiebreaker);
    }
    fl_stun_writer_add_integrity(&w, (const uint8_t *)rpwd, strlen(rpwd));
    fl_stun_writer_add_fingerprint(&w);
    int rc = fl_stun_writer_finish(&w, &tx->len);
    if (rc) {
        a->tx_len--; /* give the slot back */
        return rc;
    }
    tx->socket_id = l->socket_id;
    tx->dst = a->remotes[p->remote].c.addr;
    a->stats.checks_sent++;
    return 0;
}

static fl_time check_rto(const fl_ice_agent *a)
{
    int n = 0;
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && (p->state == FL__PAIR_WAITING || p->state == FL__PAIR_IN_PROGRESS))
            n++;
    }
    fl_time rto = a->cfg.ta * n; /* §14.3 */
    return rto > a->cfg.rto ? rto : a->cfg.rto;
}

static void send_check(fl_ice_agent *a, int idx, fl_time now)
{
    fl__ice_pair *p = &a->pairs[idx];
    fl_time rto = check_rto(a);
    int reliable = a->locals[p->local].c.transport == FL_ICE_TCP; /* Ti, no retransmits */
    fl_stun_txn_init(&p->txn, a->rand);
    fl_stun_txn_start_ex(&p->txn, now, rto, (unsigned)a->cfg.max_check_retransmits, 0, reliable);
    if (a->cfg.max_check_interval > 0)
        p->txn.max_interval = a->cfg.max_check_interval;
    p->state = FL__PAIR_IN_PROGRESS;
    p->triggered = 0;
    p->sent_role = (uint8_t)a->role;
    if (fl__ice_build_check(a, p, p->txn.id, 0) == 0) {
        char s[FL_ADDR_STRLEN];
        fl_log(FL_LOG_TRACE, "check pair %d to %s%s", idx,
               fl_addr_str(&a->remotes[p->remote].c.addr, s), p->use_cand ? " nominating" : "");
    }
}

/* Triggered queue first, then the highest-priority Waiting pair, then the
 * highest-priority Frozen one (§6.1.4.2). */
static int pick_next(const fl_ice_agent *a)
{
    int trig = -1, wait = -1, frozen = -1;
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use || p->stale)
            continue;
        if (p->triggered && p->state == FL__PAIR_WAITING) {
            if (trig < 0 || p->trigger_seq < a->pairs[trig].trigger_seq)
                trig = i;
        } else if (p->state == FL__PAIR_WAITING) {
            if (wait < 0 || p->prio > a->pairs[wait].prio)
                wait = i;
        } else if (p->state == FL__PAIR_FROZEN) {
            if (frozen < 0 || p->prio > a->pairs[frozen].prio)
                frozen = i;
        }
    }
    return trig >= 0 ? trig : wait >= 0 ? wait : frozen;
}

static int best_valid(const fl_ice_agent *a, uint16_t comp)
{
    int best = -1;
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && p->valid && !p->stale && pair_comp(a, p) == comp &&
            (best < 0 || p->prio > a->pairs[best].prio))
            best = i;
    }
    return best;
}

/* True while a pair better than `best` may still succeed. */
static int better_pending(const fl_ice_agent *a, uint16_t comp, int best)
{
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && !p->stale && pair_comp(a, p) == comp && p->state < FL__PAIR_SUCCEEDED &&
            p->prio > a->pairs[best].prio)
            return 1;
    }
    return 0;
}

static int needs_nomination(const fl_ice_agent *a, uint16_t comp)
{
    const fl__ice_comp *c = &a->comps[comp];
    if (a->role != FL_ICE_ROLE_CONTROLLING || a->cfg.lite || c->nominating >= 0 || c->consent_lost)
        return 0;
    return c->selected < 0 || a->pairs[c->selected].stale;
}

/* Regular nomination (§8.1.1): the best valid pair, once nothing better is
 * pending or the nomination delay has passed. */
static void nominate(fl_ice_agent *a, fl_time now)
{
    for (uint16_t comp = 1; comp <= FL_ICE_MAX_COMPONENTS; comp++) {
        fl__ice_comp *c = &a->comps[comp];
        if (!needs_nomination(a, comp))
            continue;
        int best = best_valid(a, comp);
        if (best < 0)
            continue;
        if (better_pending(a, comp, best) && now < c->first_valid + a->cfg.nomination_delay)
            continue;
        fl_log(FL_LOG_DEBUG, "component %u: nominating pair %d", (unsigned)comp, best);
        a->pairs[best].use_cand = 1;
        c->nominating = best;
        fl__ice_trigger(a, best);
    }
}

void fl__ice_checklist_tick(fl_ice_agent *a, fl_time now)
{
    if (a->cfg.lite || !a->rufrag[0])
        return;
    nominate(a, now);
    if (now < a->next_pace)
        return;
    int i = pick_next(a);
    if (i < 0)
        return;
    send_check(a, i, now);
    a->next_pace = now + a->cfg.ta;
}

void fl__ice_pair_failed(fl_ice_agent *a, int idx)
{
    fl__ice_pair *p = &a->pairs[idx];
    fl__ice_comp *c = &a->comps[pair_comp(a, p)];
    p->state = FL__PAIR_FAILED;
    p->triggered = 0;
    if (c->nominating == idx) {
        c->nominating = -1;
        p->use_cand = 0;
    }
}

void fl__ice_checklist_timers(fl_ice_agent *a, fl_time now)
{
    for (int i = 0; i < a->n_pairs; i++) {
        fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use || p->state != FL__PAIR_IN_PROGRESS)
            continue;
        int act;
        while ((act = fl_stun_txn_handle_timeout(&p->txn, now)) != FL_STUN_TXN_WAIT) {
            if (act == FL_STUN_TXN_TIMED_OUT) {
                fl_log(FL_LOG_DEBUG, "pair %d: check timed out", i);
                fl__ice_pair_failed(a, i);
                break;
            }
            a->stats.retransmits++;
            fl__ice_build_check(a, p, p->txn.id, 0);
        }
    }
}

static int has_pending_work(const fl_ice_agent *a)
{
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && !p->stale && p->state <= FL__PAIR_WAITING)
            return 1;
    }
    return 0;
}

static fl_time nomination_deadline(const fl_ice_agent *a)
{
    fl_time t = FL_TIME_NEVER;
    for (uint16_t comp = 1; comp <= FL_ICE_MAX_COMPONENTS; comp++) {
        const fl__ice_comp *c = &a->comps[comp];
        if (needs_nomination(a, comp) && best_valid(a, comp) >= 0 &&
            c->first_valid + a->cfg.nomination_delay < t)
            t = c->first_valid + a->cfg.nomination_delay;
    }
    return t;
}

fl_time fl__ice_checklist_timeout(const fl_ice_agent *a)
{
    fl_time t = FL_TIME_NEVER;
    if (a->cfg.lite)
        return t;
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (p->in_use && p->state == FL__PAIR_IN_PROGRESS) {
            fl_time d = fl_stun_txn_poll_timeout(&p->txn);
            if (d < t)
                t = d;
        }
    }
    if (a->rufrag[0] && has_pending_work(a) && a->next_pace < t)
        t = a->next_pace;
    fl_time n = a->rufrag[0] ? nomination_deadline(a) : FL_TIME_NEVER;
    return n < t ? n : t;
}

/* The local candidate a success response maps to: known, or a new
 * peer-reflexive one on the same base (§7.2.5.3.1). */
static int mapped_local(fl_ice_agent *a, int local, const fl_addr *mapped)
{
    const fl__ice_local *l = &a->locals[local];
    for (int i = 0; i < a->n_locals; i++) {
        const fl__ice_local *o = &a->locals[i];
        if (o->in_use && !o->tcp_closed && o->socket_id == l->socket_id &&
            fl_addr_equal(&o->c.addr, mapped))
            return i;
    }
    fl__ice_local n = *l;
    n.c.type = FL_ICE_CAND_PRFLX;
    n.c.addr = *mapped;
    n.c.related = l->c.addr;
    n.c.priority = fl_ice_candidate_priority(fl_ice_candidate_type_pref(FL_ICE_CAND_PRFLX),
                                             l->local_pref, l->c.component);
    fl_ice_candidate_foundation(n.c.foundation, FL_ICE_CAND_PRFLX, &l->base, NULL,
                                (fl_ice_transport)l->c.transport);
    int i = fl__ice_local_add(a, &n);
    if (i >= 0)
        a->stats.prflx_local++;
    return i < 0 ? local : i;
}

static void unfreeze_foundation(fl_ice_agent *a, int idx)
{
    for (int i = 0; i < a->n_pairs; i++) {
        fl__ice_pair *q = &a->pairs[i];
        if (q->in_use && q->state == FL__PAIR_FROZEN && same_foundation(a, &a->pairs[idx], q))
            q->state = FL__PAIR_WAITING;
    }
}

void fl__ice_on_check_success(fl_ice_agent *a, int idx, const fl_stun_msg *m, fl_time now)
{
    fl__ice_pair *p = &a->pairs[idx];
    fl_addr mapped;
    if (fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped) != 0) {
        fl__ice_pair_failed(a, idx);
        return;
    }
    fl_stun_txn_finish(&p->txn);
    p->has_old_txn = 0;
    p->state = FL__PAIR_SUCCEEDED;
    int remote = p->remote;
    int l = mapped_local(a, p->local, &mapped); /* pairs may move: p is stale after */
    int v = fl__ice_pair_find(a, l, remote);
    if (v < 0)
        v = fl__ice_pair_add(a, l, remote, FL__PAIR_SUCCEEDED);
    if (v < 0)
        v = idx;
    p = &a->pairs[idx];
    p->vpair = v;
    fl__ice_pair *vp = &a->pairs[v];
    uint16_t comp = pair_comp(a, p);
    if (!vp->valid && best_valid(a, comp) < 0)
        a->comps[comp].first_valid = now;
    vp->valid = 1;
    unfreeze_foundation(a, idx);
    if (a->comps[comp].selected == v)
        a->comps[comp].consent_ok = now;
    int nominate_now = (p->use_cand && a->role == FL_ICE_ROLE_CONTROLLING) ||
                       (p->nominate_on_success && a->role == FL_ICE_ROLE_CONTROLLED);
    if (nominate_now) {
        vp->nominated = 1;
        if (a->comps[comp].nominating == idx)
            a->comps[comp].nominating = -1;
        fl__ice_select(a, v, now);
    }
    fl__ice_update_state(a, comp, now);
}

void fl__ice_on_check_error(fl_ice_agent *a, int idx, const fl_stun_msg *m, fl_time now)
{
    fl__ice_pair *p = &a->pairs[idx];
    int code = 0;
    const char *reason;
    size_t rlen;
    fl_stun_txn_finish(&p->txn);
    p->has_old_txn = 0;
    if (fl_stun_msg_get_error(m, &code, &reason, &rlen) == 0 && code == FL_STUN_ERR_ROLE_CONFLICT) {
        a->stats.role_conflicts++;
        if (p->sent_role == a->role) /* §7.2.5.1 */
            fl__ice_set_role(a, a->role == FL_ICE_ROLE_CONTROLLING ? FL_ICE_ROLE_CONTROLLED
                                                                   : FL_ICE_ROLE_CONTROLLING);
        p->state = FL__PAIR_WAITING;
        fl__ice_trigger(a, idx);
        return;
    }
    fl_log(FL_LOG_DEBUG, "pair %d: error response %d", idx, code);
    fl__ice_pair_failed(a, idx);
    fl__ice_update_state(a, pair_comp(a, p), now);
}

static void prune_after_selection(fl_ice_agent *a, uint16_t comp, int sel)
{
    for (int i = 0; i < a->n_pairs; i++) {
        fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use || pair_comp(a, p) != comp)
            continue;
        if (p->stale && i != sel) {
            p->in_use = 0;
            a->remotes[p->remote].in_use = 0;
            continue;
        }
        if (p->state <= FL__PAIR_WAITING && !p->triggered &&
            (a->role == FL_ICE_ROLE_CONTROLLING || p->prio < a->pairs[sel].prio))
            p->state = FL__PAIR_FAILED; /* §8.1.2: no longer checked */
    }
    a->prev_ufrag[0] = a->prev_pwd[0] = '\0';
    a->prev_rufrag[0] = a->prev_rpwd[0] = '\0';
}

void fl__ice_select(fl_ice_agent *a, int idx, fl_time now)
{
    fl__ice_pair *p = &a->pairs[idx];
    uint16_t comp = pair_comp(a, p);
    fl__ice_comp *c = &a->comps[comp];
    if (c->selected == idx || c->consent_lost)
        return;
    if (c->selected >= 0 && !a->pairs[c->selected].stale && a->pairs[c->selected].prio >= p->prio)
        return; /* a higher-priority nominated pair is already selected */
    c->selected = idx;
    c->consent_ok = now;
    c->consent_next = now;
    c->keepalive_next = now + a->cfg.keepalive_interval;
    prune_after_selection(a, comp, idx);
    fl_ice_event *ev = fl__ice_ev_slot(a, FL_ICE_EVENT_SELECTED_PAIR, comp);
    if (ev) {
        ev->candidate = a->locals[p->local].c;
        ev->remote = a->remotes[p->remote].c;
        ev->socket_id = a->locals[p->local].socket_id;
    }
    char ls[FL_ADDR_STRLEN], rs[FL_ADDR_STRLEN];
    fl_log(FL_LOG_INFO, "component %u: selected %s %s -> %s %s", (unsigned)comp,
           fl_ice_candidate_type_name(a->locals[p->local].c.type),
           fl_addr_str(&a->locals[p->local].c.addr, ls),
           fl_ice_candidate_type_name(a->remotes[p->remote].c.type),
           fl_addr_str(&a->remotes[p->remote].c.addr, rs));
    fl__ice_update_state(a, comp, now);
}

int fl__ice_comp_all_failed(const fl_ice_agent *a, uint16_t comp)
{
    int any = 0;
    if (fl__ice_tcp_waiting(a, comp))
        return 0; /* the peer may still connect to a passive candidate */
    for (int i = 0; i < a->n_pairs; i++) {
        const fl__ice_pair *p = &a->pairs[i];
        if (!p->in_use || pair_comp(a, p) != comp)
            continue;
        any = 1;
        if (p->state != FL__PAIR_FAILED || p->valid)
            return 0;
    }
    return a->remote_eoc && (a->gather_done || a->cfg.lite) && (any || a->rufrag[0]);
}
