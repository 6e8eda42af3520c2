/* TURN client (RFC 8656), sans-IO. See turn.h. */
#include "ice/turn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/log.h"
#include "ice/stun.h"

FL_LOG_TAG("turn");

#define MAX_TXNS    (2 * FL_TURN_MAX_PEERS + 4)
#define MSG_MAX     2048
#define TEXT_MAX    764 /* REALM and NONCE: under 128 characters, 763 bytes */
#define MAX_RETRIES 3   /* 401/438 retries per request */

enum state {
    ST_IDLE,
    ST_ALLOCATING,
    ST_ALLOCATED,
    ST_CLOSING,
    ST_CLOSED,
    ST_FAILED
};

enum peer_state {
    P_NONE,
    P_WAITING,
    P_PENDING,
    P_READY
};

typedef struct txn {
    int in_use;
    uint16_t method;
    int pending;       /* bytes wait for poll_transmit */
    uint64_t seq;      /* transmit order */
    int retries;       /* 401/438 retries */
    int authed;        /* sent with credentials */
    size_t peer;       /* index into perms or chans */
    uint32_t lifetime; /* REFRESH: requested, UINT32_MAX: none */
    fl_stun_txn t;
    uint8_t buf[MSG_MAX];
    size_t len;
} txn;

typedef struct perm {
    int state;
    fl_addr ip; /* port 0 */
    fl_time refresh_at;
    int in_flight;
} perm;

typedef struct chan {
    int state;
    uint16_t number;
    fl_addr peer;
    fl_time refresh_at;
    int in_flight;
} chan;

struct fl_turn_client {
    fl_addr server;
    int tcp;
    fl_rand *rand;
    fl_time rto;
    char username[514];
    char password[256];
    char software[128];
    char realm[TEXT_MAX];
    char nonce[TEXT_MAX];
    uint8_t key[FL_STUN_KEY_MD5_SIZE];
    int have_key;
    int state;
    fl_addr relayed;
    fl_addr mapped;
    fl_time refresh_at;
    int refresh_in_flight;
    uint64_t next_seq;
    txn txns[MAX_TXNS];
    perm perms[FL_TURN_MAX_PEERS];
    chan chans[FL_TURN_MAX_PEERS];
    uint16_t next_channel;
    fl_bytes rx;   /* TCP stream */
    size_t rx_off; /* consumed, dropped at the next handle_input */
    fl_turn_event *events;
    size_t ev_head, ev_len, ev_cap;
};

/* ---- Small helpers ------------------------------------------------------- */

static int copy_str(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) {
        return FL_EMSGSIZE;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--) {
        *v++ = 0;
    }
}

static int push_event(fl_turn_client *c, const fl_turn_event *ev)
{
    if (c->ev_head + c->ev_len == c->ev_cap) {
        if (c->ev_head > 0) {
            memmove(c->events, c->events + c->ev_head, c->ev_len * sizeof *c->events);
            c->ev_head = 0;
        } else {
            size_t cap = c->ev_cap ? 2 * c->ev_cap : 16;
            fl_turn_event *e = realloc(c->events, cap * sizeof *e);
            if (!e) {
                return FL_ENOMEM;
            }
            c->events = e;
            c->ev_cap = cap;
        }
    }
    c->events[c->ev_head + c->ev_len++] = *ev;
    return 0;
}

static void emit_error(fl_turn_client *c,
                       uint16_t method,
                       const fl_addr *peer,
                       int err,
                       int code,
                       int fatal)
{
    fl_turn_event ev = {
        .type = FL_TURN_EVENT_ERROR, .err = err, .stun_code = code, .method = method, .fatal = fatal
    };
    if (peer) {
        ev.peer = *peer;
    }
    fl_log(FL_LOG_INFO, "request 0x%03x failed: %s (code %d)%s", (unsigned)method, fl_strerror(err),
           code, fatal ? ", allocation lost" : "");
    push_event(c, &ev);
}

static void fail_allocation(fl_turn_client *c, uint16_t method, int err, int code)
{
    c->state = ST_FAILED;
    for (size_t i = 0; i < MAX_TXNS; i++) {
        c->txns[i].in_use = 0;
    }
    emit_error(c, method, NULL, err, code, 1);
}

/* ---- Requests ------------------------------------------------------------ */

static txn *txn_alloc(fl_turn_client *c, uint16_t method)
{
    for (size_t i = 0; i < MAX_TXNS; i++) {
        if (!c->txns[i].in_use) {
            txn *t = &c->txns[i];
            memset(t, 0, offsetof(txn, buf));
            t->in_use = 1;
            t->method = method;
            t->lifetime = UINT32_MAX;
            return t;
        }
    }
    return NULL;
}

static void add_method_attrs(fl_turn_client *c, const txn *t, fl_stun_writer *w)
{
    switch (t->method) {
    case FL_STUN_ALLOCATE:
        fl_stun_writer_add_u32(w, FL_STUN_ATTR_REQUESTED_TRANSPORT,
                               (uint32_t)FL_STUN_TRANSPORT_UDP << 24);
        break;
    case FL_STUN_REFRESH:
        if (t->lifetime != UINT32_MAX) {
            fl_stun_writer_add_u32(w, FL_STUN_ATTR_LIFETIME, t->lifetime);
        }
        break;
    case FL_STUN_CREATE_PERMISSION:
        fl_stun_writer_add_xor_addr(w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &c->perms[t->peer].ip);
        break;
    case FL_STUN_CHANNEL_BIND:
        fl_stun_writer_add_u32(w, FL_STUN_ATTR_CHANNEL_NUMBER,
                               (uint32_t)c->chans[t->peer].number << 16);
        fl_stun_writer_add_xor_addr(w, FL_STUN_ATTR_XOR_PEER_ADDRESS, &c->chans[t->peer].peer);
        break;
    default:
        break;
    }
}

/* (Re)builds t's request with a fresh transaction id and queues it. */
static int send_request(fl_turn_client *c, txn *t, fl_time now)
{
    fl_stun_writer w;
    fl_stun_txn_init(&t->t, c->rand);
    fl_stun_writer_init(&w, t->buf, sizeof t->buf, t->method, FL_STUN_REQUEST, t->t.id);
    add_method_attrs(c, t, &w);
    if (c->software[0] != '\0') {
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_SOFTWARE, c->software);
    }
    t->authed = c->have_key;
    if (c->have_key) {
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_USERNAME, c->username);
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_REALM, c->realm);
        fl_stun_writer_add_string(&w, FL_STUN_ATTR_NONCE, c->nonce);
        fl_stun_writer_add_integrity(&w, c->key, sizeof c->key);
    }
    fl_stun_writer_add_fingerprint(&w);
    int err = fl_stun_writer_finish(&w, &t->len);
    if (err < 0) {
        t->in_use = 0;
        return err;
    }
    fl_stun_txn_start(&t->t, now, c->rto, c->tcp);
    t->pending = 1;
    t->seq = c->next_seq++;
    return 0;
}

static int start_request(fl_turn_client *c,
                         fl_time now,
                         uint16_t method,
                         size_t peer,
                         uint32_t lifetime)
{
    txn *t = txn_alloc(c, method);
    if (!t) {
        return FL_ENOMEM;
    }
    t->peer = peer;
    t->lifetime = lifetime;
    return send_request(c, t, now);
}

static void send_permission(fl_turn_client *c, fl_time now, size_t i)
{
    if (start_request(c, now, FL_STUN_CREATE_PERMISSION, i, 0) == 0) {
        c->perms[i].in_flight = 1;
        if (c->perms[i].state == P_WAITING) {
            c->perms[i].state = P_PENDING;
        }
    }
}

static void send_channel_bind(fl_turn_client *c, fl_time now, size_t i)
{
    if (start_request(c, now, FL_STUN_CHANNEL_BIND, i, 0) == 0) {
        c->chans[i].in_flight = 1;
        if (c->chans[i].state == P_WAITING) {
            c->chans[i].state = P_PENDING;
        }
    }
}

/* Requests that waited for the allocation go out now. */
static void flush_waiting(fl_turn_client *c, fl_time now)
{
    for (size_t i = 0; i < FL_TURN_MAX_PEERS; i++) {
        if (c->perms[i].state == P_WAITING) {
            send_permission(c, now, i);
        }
        if (c->chans[i].state == P_WAITING) {
            send_channel_bind(c, now, i);
        }
    }
}

/* ---- Responses ------------------------------------------------------------ */

static fl_time refresh_delay(uint32_t lifetime)
{
    fl_time life = (fl_time)lifetime * FL_TIME_SEC;
    return life >= 120 * FL_TIME_SEC ? life - 60 * FL_TIME_SEC : life / 2;
}

static void on_allocate_ok(fl_turn_client *c, fl_time now, const fl_stun_msg *m)
{
    uint32_t lifetime = 600;
    fl_turn_event ev = { .type = FL_TURN_EVENT_ALLOCATED };
    if (fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_RELAYED_ADDRESS, &c->relayed) < 0) {
        fail_allocation(c, FL_STUN_ALLOCATE, FL_EBADMSG, 0);
        return;
    }
    fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_MAPPED_ADDRESS, &c->mapped);
    fl_stun_msg_get_u32(m, FL_STUN_ATTR_LIFETIME, &lifetime);
    c->state = ST_ALLOCATED;
    c->refresh_at = now + refresh_delay(lifetime);
    ev.relayed = c->relayed;
    ev.mapped = c->mapped;
    ev.lifetime = lifetime;
    char a[FL_ADDR_STRLEN];
    fl_log(FL_LOG_INFO, "allocated %s for %u s", fl_addr_str(&c->relayed, a), lifetime);
    push_event(c, &ev);
    flush_waiting(c, now);
}

static void on_refresh_ok(fl_turn_client *c, fl_time now, const txn *t, const fl_stun_msg *m)
{
    uint32_t lifetime = 600;
    c->refresh_in_flight = 0;
    fl_stun_msg_get_u32(m, FL_STUN_ATTR_LIFETIME, &lifetime);
    if (t->lifetime == 0 || lifetime == 0) {
        fl_turn_event ev = { .type = FL_TURN_EVENT_DEALLOCATED };
        c->state = ST_CLOSED;
        push_event(c, &ev);
        return;
    }
    c->refresh_at = now + refresh_delay(lifetime);
}

static void on_peer_ok(fl_turn_client *c, fl_time now, const txn *t)
{
    fl_turn_event ev = { 0 };
    if (t->method == FL_STUN_CREATE_PERMISSION) {
        perm *p = &c->perms[t->peer];
        p->in_flight = 0;
        p->refresh_at = now + FL_TURN_PERMISSION_REFRESH;
        if (p->state != P_READY) {
            p->state = P_READY;
            ev.type = FL_TURN_EVENT_PERMISSION;
            ev.peer = p->ip;
            push_event(c, &ev);
        }
        return;
    }
    chan *ch = &c->chans[t->peer];
    ch->in_flight = 0;
    ch->refresh_at = now + FL_TURN_CHANNEL_REFRESH;
    if (ch->state != P_READY) {
        ch->state = P_READY;
        ev.type = FL_TURN_EVENT_CHANNEL_BOUND;
        ev.peer = ch->peer;
        ev.channel = ch->number;
        push_event(c, &ev);
    }
}

static void on_success(fl_turn_client *c, fl_time now, txn *t, const fl_stun_msg *m)
{
    switch (t->method) {
    case FL_STUN_ALLOCATE:
        on_allocate_ok(c, now, m);
        break;
    case FL_STUN_REFRESH:
        on_refresh_ok(c, now, t, m);
        break;
    default:
        on_peer_ok(c, now, t);
        break;
    }
}

/* A request is over for good: clear what waits on it and report. */
static void request_failed(fl_turn_client *c, const txn *t, int err, int code)
{
    const fl_addr *peer = NULL;
    switch (t->method) {
    case FL_STUN_ALLOCATE:
        fail_allocation(c, t->method, err, code);
        return;
    case FL_STUN_REFRESH:
        c->refresh_in_flight = 0;
        if (t->lifetime == 0 || code == FL_STUN_ERR_ALLOCATION_MISMATCH) {
            fl_turn_event ev = { .type = FL_TURN_EVENT_DEALLOCATED };
            c->state = ST_CLOSED;
            push_event(c, &ev);
            return;
        }
        fail_allocation(c, t->method, err, code); /* the allocation will expire */
        return;
    case FL_STUN_CREATE_PERMISSION:
        /* dropped: the caller sees the error and may ask again */
        c->perms[t->peer].in_flight = 0;
        c->perms[t->peer].state = P_NONE;
        peer = &c->perms[t->peer].ip;
        break;
    default:
        c->chans[t->peer].in_flight = 0;
        c->chans[t->peer].state = P_NONE;
        peer = &c->chans[t->peer].peer;
        break;
    }
    emit_error(c, t->method, peer, err, code, 0);
}

/* 401 or 438: take REALM/NONCE and retry once more with credentials. */
static int retry_auth(fl_turn_client *c, fl_time now, txn *t, const fl_stun_msg *m, int code)
{
    const char *s;
    size_t n;
    if (!c->username[0] || t->retries >= MAX_RETRIES || (code == 401 && t->authed)) {
        return FL_EAUTH;
    }
    if (fl_stun_msg_get_string(m, FL_STUN_ATTR_NONCE, &s, &n) < 0 ||
        copy_str(c->nonce, sizeof c->nonce, s, n) < 0) {
        return FL_EPROTO;
    }
    if (fl_stun_msg_get_string(m, FL_STUN_ATTR_REALM, &s, &n) == 0) {
        if (copy_str(c->realm, sizeof c->realm, s, n) < 0) {
            return FL_EPROTO;
        }
        fl_stun_long_term_key_md5(c->key, c->username, c->realm, c->password);
        c->have_key = 1;
    }
    if (!c->have_key) {
        return FL_EPROTO;
    }
    t->retries++;
    fl_log(FL_LOG_DEBUG, "retrying 0x%03x after %d", (unsigned)t->method, code);
    return send_request(c, t, now);
}

static void on_error(fl_turn_client *c, fl_time now, txn *t, const fl_stun_msg *m)
{
    int code = 0;
    if (fl_stun_msg_get_error(m, &code, NULL, NULL) < 0) {
        code = 0;
    }
    if (code == FL_STUN_ERR_UNAUTHORIZED || code == FL_STUN_ERR_STALE_NONCE) {
        int err = retry_auth(c, now, t, m, code);
        if (err == 0) {
            return;
        }
        t->in_use = 0;
        request_failed(c, t, err, code);
        return;
    }
    t->in_use = 0;
    request_failed(c, t, FL_EPROTO, code);
}

/* Responses to authenticated requests must carry a valid MESSAGE-INTEGRITY
 * (401 and 438 challenges excepted). */
static int response_trusted(const fl_turn_client *c, const txn *t, const fl_stun_msg *m)
{
    if (!t->authed) {
        return 1;
    }
    if (m->cls == FL_STUN_ERROR) {
        int code = 0;
        fl_stun_msg_get_error(m, &code, NULL, NULL);
        if (code == FL_STUN_ERR_UNAUTHORIZED || code == FL_STUN_ERR_STALE_NONCE) {
            return 1;
        }
        if (m->integrity_off == 0 && m->integrity_sha256_off == 0) {
            return 1;
        }
    }
    return fl_stun_msg_check_integrity(m, c->key, sizeof c->key) == 0;
}

static int on_response(fl_turn_client *c, fl_time now, const fl_stun_msg *m)
{
    for (size_t i = 0; i < MAX_TXNS; i++) {
        txn *t = &c->txns[i];
        if (!t->in_use || !fl_stun_txn_matches(&t->t, m)) {
            continue;
        }
        if (m->method != t->method || !response_trusted(c, t, m)) {
            fl_log(FL_LOG_DEBUG, "response to 0x%03x dropped: method or integrity",
                   (unsigned)t->method);
            return FL_EAUTH;
        }
        if (m->cls == FL_STUN_SUCCESS) {
            t->in_use = 0;
            on_success(c, now, t, m);
        } else {
            on_error(c, now, t, m);
        }
        return 0;
    }
    return FL_ENOENT;
}

static int on_data_indication(fl_turn_client *c, const fl_stun_msg *m)
{
    fl_turn_event ev = { .type = FL_TURN_EVENT_DATA };
    const fl_stun_attr *d = fl_stun_msg_find(m, FL_STUN_ATTR_DATA);
    if (!d || fl_stun_msg_get_xor_addr(m, FL_STUN_ATTR_XOR_PEER_ADDRESS, &ev.peer) < 0) {
        return FL_EBADMSG;
    }
    ev.data = d->value;
    ev.len = d->len;
    return push_event(c, &ev);
}

static int on_stun(fl_turn_client *c, fl_time now, const uint8_t *buf, size_t len)
{
    fl_stun_msg m;
    int err = fl_stun_msg_parse(&m, buf, len);
    if (err < 0) {
        return err;
    }
    if (m.cls == FL_STUN_SUCCESS || m.cls == FL_STUN_ERROR) {
        return on_response(c, now, &m);
    }
    if (m.cls == FL_STUN_INDICATION && m.method == FL_STUN_DATA) {
        return on_data_indication(c, &m);
    }
    return FL_ENOENT;
}

static int on_channel_data(fl_turn_client *c, const uint8_t *buf, size_t len)
{
    uint16_t number = (uint16_t)(buf[0] << 8 | buf[1]);
    size_t n = (size_t)(buf[2] << 8 | buf[3]);
    if (n > len - 4) {
        return FL_EBADMSG;
    }
    for (size_t i = 0; i < FL_TURN_MAX_PEERS; i++) {
        const chan *ch = &c->chans[i];
        if (ch->state != P_NONE && ch->number == number) {
            fl_turn_event ev = { .type = FL_TURN_EVENT_DATA,
                                 .peer = ch->peer,
                                 .channel = number,
                                 .data = buf + 4,
                                 .len = n };
            return push_event(c, &ev);
        }
    }
    return FL_ENOENT;
}

/* One datagram or one framed message. */
static int on_frame(fl_turn_client *c, fl_time now, const uint8_t *buf, size_t len)
{
    if (len < 4) {
        return FL_EBADMSG;
    }
    if ((buf[0] & 0xC0) == 0x40) {
        return on_channel_data(c, buf, len);
    }
    if ((buf[0] & 0xC0) == 0) {
        return on_stun(c, now, buf, len);
    }
    return FL_EBADMSG;
}

size_t fl_turn_frame_size(const uint8_t *buf, size_t len, int tcp)
{
    if (len < 4) {
        return 0;
    }
    size_t n = (size_t)(buf[2] << 8 | buf[3]);
    if ((buf[0] & 0xC0) == 0) {
        return FL_STUN_HEADER_SIZE + n;
    }
    if ((buf[0] & 0xC0) == 0x40) {
        return tcp ? (4 + n + 3) & ~(size_t)3 : 4 + n;
    }
    return SIZE_MAX;
}

static int on_stream(fl_turn_client *c, fl_time now, const uint8_t *buf, size_t len)
{
    fl_bytes_consume(&c->rx, c->rx_off);
    c->rx_off = 0;
    if (fl_bytes_append(&c->rx, buf, len) < 0) {
        return FL_ENOMEM;
    }
    for (;;) {
        const uint8_t *p = c->rx.data + c->rx_off;
        size_t avail = c->rx.len - c->rx_off;
        size_t size = fl_turn_frame_size(p, avail, 1);
        if (size == SIZE_MAX) {
            fl_log(FL_LOG_WARN, "TCP stream from the server is corrupt");
            fl_bytes_clear(&c->rx);
            c->rx_off = 0;
            fail_allocation(c, 0, FL_EPROTO, 0);
            return FL_EPROTO;
        }
        if (size == 0 || size > avail) {
            return 0;
        }
        c->rx_off += size;
        int err = on_frame(c, now, p, size);
        if (err < 0) {
            fl_log(FL_LOG_DEBUG, "frame dropped: %s", fl_strerror(err));
        }
    }
}

int fl_turn_client_handle_input(fl_turn_client *c,
                                fl_time now,
                                const fl_addr *from,
                                const uint8_t *buf,
                                size_t len)
{
    if (!c || (!buf && len > 0)) {
        return FL_EINVAL;
    }
    if (c->tcp) {
        return on_stream(c, now, buf, len);
    }
    if (from && !fl_addr_equal(from, &c->server)) {
        return FL_EINVAL;
    }
    int err = on_frame(c, now, buf, len);
    if (err < 0) {
        fl_log(FL_LOG_DEBUG, "datagram dropped: %s", fl_strerror(err));
    }
    return err;
}

/* ---- Public operations ------------------------------------------------------ */

int fl_turn_client_create(fl_turn_client **out, const fl_turn_config *cfg)
{
    if (!out || !cfg || !cfg->rand || (cfg->server.family != 4 && cfg->server.family != 6) ||
        (cfg->transport != FL_TURN_UDP && cfg->transport != FL_TURN_TCP)) {
        return FL_EINVAL;
    }
    fl_turn_client *c = calloc(1, sizeof *c);
    if (!c) {
        return FL_ENOMEM;
    }
    const char *u = cfg->username ? cfg->username : "";
    const char *p = cfg->password ? cfg->password : "";
    const char *s = cfg->software ? cfg->software : "";
    if (copy_str(c->username, sizeof c->username, u, strlen(u)) < 0 ||
        copy_str(c->password, sizeof c->password, p, strlen(p)) < 0 ||
        copy_str(c->software, sizeof c->software, s, strlen(s)) < 0) {
        free(c);
        return FL_EINVAL;
    }
    c->server = cfg->server;
    c->tcp = cfg->transport == FL_TURN_TCP;
    c->rand = cfg->rand;
    c->rto = cfg->rto > 0 ? cfg->rto : FL_STUN_RTO_DEFAULT;
    c->next_channel = FL_TURN_CHANNEL_MIN;
    c->refresh_at = FL_TIME_NEVER;
    fl_bytes_init(&c->rx);
    *out = c;
    return 0;
}

void fl_turn_client_destroy(fl_turn_client *c)
{
    if (!c) {
        return;
    }
    fl_bytes_deinit(&c->rx);
    free(c->events);
    wipe(c, sizeof *c);
    free(c);
}

int fl_turn_client_allocate(fl_turn_client *c, fl_time now)
{
    if (!c) {
        return FL_EINVAL;
    }
    if (c->state != ST_IDLE) {
        return FL_ESTATE;
    }
    c->state = ST_ALLOCATING;
    return start_request(c, now, FL_STUN_ALLOCATE, 0, 0);
}

static int usable(const fl_turn_client *c, const fl_addr *peer)
{
    if (!peer || (peer->family != 4 && peer->family != 6)) {
        return FL_EINVAL;
    }
    return c->state == ST_ALLOCATING || c->state == ST_ALLOCATED ? 0 : FL_ESTATE;
}

static int find_perm(fl_turn_client *c, const fl_addr *peer, int create)
{
    int free_slot = -1;
    for (int i = 0; i < FL_TURN_MAX_PEERS; i++) {
        if (c->perms[i].state == P_NONE) {
            free_slot = free_slot < 0 ? i : free_slot;
        } else if (fl_addr_ip_equal(&c->perms[i].ip, peer)) {
            return i;
        }
    }
    if (!create || free_slot < 0) {
        return create ? FL_ENOMEM : FL_ENOENT;
    }
    perm *p = &c->perms[free_slot];
    memset(p, 0, sizeof *p);
    p->ip = *peer;
    p->ip.port = 0;
    p->state = P_WAITING;
    p->refresh_at = FL_TIME_NEVER;
    return free_slot;
}

int fl_turn_client_create_permission(fl_turn_client *c, fl_time now, const fl_addr *peer)
{
    int err = c ? usable(c, peer) : FL_EINVAL;
    if (err < 0) {
        return err;
    }
    int i = find_perm(c, peer, 1);
    if (i < 0) {
        return i;
    }
    if (c->perms[i].state == P_WAITING && c->state == ST_ALLOCATED) {
        send_permission(c, now, (size_t)i);
    }
    return 0;
}

static int find_chan(const fl_turn_client *c, const fl_addr *peer)
{
    for (int i = 0; i < FL_TURN_MAX_PEERS; i++) {
        if (c->chans[i].state != P_NONE && fl_addr_equal(&c->chans[i].peer, peer)) {
            return i;
        }
    }
    return FL_ENOENT;
}

int fl_turn_client_bind_channel(fl_turn_client *c,
                                fl_time now,
                                const fl_addr *peer,
                                uint16_t *channel)
{
    int err = c ? usable(c, peer) : FL_EINVAL;
    if (err < 0) {
        return err;
    }
    int i = find_chan(c, peer);
    if (i < 0) {
        for (i = 0; i < FL_TURN_MAX_PEERS && c->chans[i].state != P_NONE; i++) {
        }
        if (i == FL_TURN_MAX_PEERS || c->next_channel > FL_TURN_CHANNEL_MAX) {
            return FL_ENOMEM;
        }
        chan *ch = &c->chans[i];
        memset(ch, 0, sizeof *ch);
        ch->peer = *peer;
        ch->number = c->next_channel++;
        ch->state = P_WAITING;
        ch->refresh_at = FL_TIME_NEVER;
        if (c->state == ST_ALLOCATED) {
            send_channel_bind(c, now, (size_t)i);
        }
    }
    if (channel) {
        *channel = c->chans[i].number;
    }
    return 0;
}

int fl_turn_client_deallocate(fl_turn_client *c, fl_time now)
{
    if (!c) {
        return FL_EINVAL;
    }
    if (c->state != ST_ALLOCATED) {
        return FL_ESTATE;
    }
    for (size_t i = 0; i < MAX_TXNS; i++) {
        c->txns[i].in_use = 0;
    }
    c->state = ST_CLOSING;
    return start_request(c, now, FL_STUN_REFRESH, 0, 0);
}

static int wrap_channel(const chan *ch,
                        const uint8_t *data,
                        size_t len,
                        int tcp,
                        uint8_t *out,
                        size_t cap,
                        size_t *out_len)
{
    size_t total = tcp ? (4 + len + 3) & ~(size_t)3 : 4 + len;
    if (total > cap) {
        return FL_EMSGSIZE;
    }
    out[0] = (uint8_t)(ch->number >> 8);
    out[1] = (uint8_t)ch->number;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    memcpy(out + 4, data, len);
    memset(out + 4 + len, 0, total - 4 - len);
    *out_len = total;
    return 0;
}

int fl_turn_client_wrap(fl_turn_client *c,
                        const fl_addr *peer,
                        const uint8_t *data,
                        size_t len,
                        uint8_t *out,
                        size_t cap,
                        size_t *out_len)
{
    if (!c || !peer || (!data && len > 0) || !out || !out_len || len > 0xFFFF) {
        return FL_EINVAL;
    }
    if (c->state != ST_ALLOCATED) {
        return FL_ESTATE;
    }
    int i = find_chan(c, peer);
    if (i >= 0 && c->chans[i].state == P_READY) {
        return wrap_channel(&c->chans[i], data, len, c->tcp, out, cap, out_len);
    }
    uint8_t id[FL_STUN_TXN_ID_SIZE];
    fl_stun_writer w;
    fl_stun_txn_id_generate(c->rand, id);
    fl_stun_writer_init(&w, out, cap, FL_STUN_SEND, FL_STUN_INDICATION, id);
    fl_stun_writer_add_xor_addr(&w, FL_STUN_ATTR_XOR_PEER_ADDRESS, peer);
    fl_stun_writer_add(&w, FL_STUN_ATTR_DATA, data, len);
    return fl_stun_writer_finish(&w, out_len);
}

/* ---- Timers ------------------------------------------------------------------ */

static void txn_timers(fl_turn_client *c, fl_time now)
{
    for (size_t i = 0; i < MAX_TXNS; i++) {
        txn *t = &c->txns[i];
        if (!t->in_use) {
            continue;
        }
        int action;
        while ((action = fl_stun_txn_handle_timeout(&t->t, now)) == FL_STUN_TXN_RETRANSMIT) {
            t->pending = 1;
            t->seq = c->next_seq++;
        }
        if (action == FL_STUN_TXN_TIMED_OUT) {
            t->in_use = 0;
            request_failed(c, t, FL_ETIMEDOUT, 0);
        }
    }
}

static void refresh_timers(fl_turn_client *c, fl_time now)
{
    if (c->state != ST_ALLOCATED) {
        return;
    }
    if (!c->refresh_in_flight && now >= c->refresh_at) {
        if (start_request(c, now, FL_STUN_REFRESH, 0, UINT32_MAX) == 0) {
            c->refresh_in_flight = 1;
        }
    }
    for (size_t i = 0; i < FL_TURN_MAX_PEERS; i++) {
        if (c->perms[i].state == P_READY && !c->perms[i].in_flight &&
            now >= c->perms[i].refresh_at) {
            send_permission(c, now, i);
        }
        if (c->chans[i].state == P_READY && !c->chans[i].in_flight &&
            now >= c->chans[i].refresh_at) {
            send_channel_bind(c, now, i);
        }
    }
}

int fl_turn_client_handle_timeout(fl_turn_client *c, fl_time now)
{
    if (!c) {
        return FL_EINVAL;
    }
    txn_timers(c, now);
    refresh_timers(c, now);
    return 0;
}

fl_time fl_turn_client_poll_timeout(const fl_turn_client *c)
{
    fl_time t = FL_TIME_NEVER;
    for (size_t i = 0; i < MAX_TXNS; i++) {
        if (c->txns[i].in_use) {
            fl_time d = fl_stun_txn_poll_timeout(&c->txns[i].t);
            t = d < t ? d : t;
        }
    }
    if (c->state != ST_ALLOCATED) {
        return t;
    }
    if (!c->refresh_in_flight && c->refresh_at < t) {
        t = c->refresh_at;
    }
    for (size_t i = 0; i < FL_TURN_MAX_PEERS; i++) {
        if (c->perms[i].state == P_READY && !c->perms[i].in_flight && c->perms[i].refresh_at < t) {
            t = c->perms[i].refresh_at;
        }
        if (c->chans[i].state == P_READY && !c->chans[i].in_flight && c->chans[i].refresh_at < t) {
            t = c->chans[i].refresh_at;
        }
    }
    return t;
}

int fl_turn_client_poll_transmit(fl_turn_client *c, fl_turn_transmit *out)
{
    txn *best = NULL;
    for (size_t i = 0; i < MAX_TXNS; i++) {
        txn *t = &c->txns[i];
        if (t->in_use && t->pending && (!best || t->seq < best->seq)) {
            best = t;
        }
    }
    if (!best) {
        return FL_EAGAIN;
    }
    best->pending = 0;
    out->to = c->server;
    out->data = best->buf;
    out->len = best->len;
    return 0;
}

int fl_turn_client_poll_event(fl_turn_client *c, fl_turn_event *ev)
{
    if (c->ev_len == 0) {
        return FL_EAGAIN;
    }
    *ev = c->events[c->ev_head++];
    if (--c->ev_len == 0) {
        c->ev_head = 0;
    }
    return 0;
}

int fl_turn_client_get_relayed(const fl_turn_client *c, fl_addr *out)
{
    if (c->state != ST_ALLOCATED) {
        return FL_ESTATE;
    }
    *out = c->relayed;
    return 0;
}

/* ---- URLs -------------------------------------------------------------------- */

static int parse_port(const char *p, const char *end, uint16_t *port)
{
    unsigned long v = 0;
    if (p == end || end - p > 5) {
        return FL_EINVAL;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return FL_EINVAL;
        }
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535) {
        return FL_EINVAL;
    }
    *port = (uint16_t)v;
    return 0;
}

static int parse_hostport(fl_turn_url *u, const char *p, const char *end)
{
    const char *host = p, *host_end, *colon;
    if (p < end && *p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) {
            return FL_EINVAL;
        }
        colon = host_end + 1 < end ? host_end + 1 : NULL;
        if (colon && *colon != ':') {
            return FL_EINVAL;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
        if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
            return FL_EINVAL; /* IPv6 without brackets */
        }
    }
    if (host_end == host) {
        return FL_EINVAL;
    }
    int err = copy_str(u->host, sizeof u->host, host, (size_t)(host_end - host));
    if (err < 0) {
        return err;
    }
    return colon ? parse_port(colon + 1, end, &u->port) : 0;
}

static int parse_query(fl_turn_url *u, const char *q)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 10 && strncmp(q, "transport=", 10) == 0) {
            const char *v = q + 10;
            size_t vn = n - 10;
            if (vn == 3 && strncasecmp(v, "udp", 3) == 0) {
                u->transport = FL_TURN_UDP;
            } else if (vn == 3 && strncasecmp(v, "tcp", 3) == 0) {
                u->transport = FL_TURN_TCP;
            } else if (vn == 3 && strncasecmp(v, "tls", 3) == 0) {
                u->transport = FL_TURN_TCP;
                u->secure = 1;
            } else {
                return FL_ENOTSUP;
            }
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int parse_credentials(fl_turn_url *u, const char *p, const char *at)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon || colon == p) {
        return FL_EINVAL;
    }
    int err = copy_str(u->username, sizeof u->username, p, (size_t)(colon - p));
    if (err == 0) {
        err = copy_str(u->password, sizeof u->password, colon + 1, (size_t)(at - colon - 1));
    }
    return err;
}

int fl_turn_url_parse(fl_turn_url *out, const char *s)
{
    if (!out || !s) {
        return FL_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->port = FL_TURN_DEFAULT_PORT;
    const char *p = s;
    if (strncasecmp(p, "turns:", 6) == 0) {
        p += 6;
        out->secure = 1;
        out->transport = FL_TURN_TCP;
        out->port = FL_TURN_TLS_DEFAULT_PORT;
    } else if (strncasecmp(p, "turn:", 5) == 0) {
        p += 5;
    } else if (strstr(p, "://") || strncasecmp(p, "stun:", 5) == 0) {
        return FL_EINVAL;
    }
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + strlen(p);
    const char *at = NULL;
    for (const char *x = p; x < end; x++) {
        at = *x == '@' ? x : at;
    }
    int err = 0;
    if (at) {
        err = parse_credentials(out, p, at);
        p = at + 1;
    }
    if (err == 0) {
        err = parse_hostport(out, p, end);
    }
    if (err == 0 && q) {
        err = parse_query(out, q + 1);
    }
    if (err < 0) {
        wipe(out->password, sizeof out->password);
    }
    return err;
}
