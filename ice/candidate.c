/* ICE candidates: the SDP candidate attribute (RFC 8839 §5.1), priorities and
 * foundations (RFC 8445 §5.1.2, §5.1.1.3). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/log.h"
#include "ice/agent.h"
#include "ice/agent_int.h"

FL_LOG_TAG("ice");

#define MAX_TOKENS 48

typedef struct token {
    const char *p;
    size_t n;
} token;

static const char *const type_names[] = { "host", "srflx", "prflx", "relay" };
static const char *const tcptype_names[] = { "", "active", "passive", "so" };

const char *fl_ice_candidate_type_name(fl_ice_cand_type type)
{
    if ((unsigned)type > FL_ICE_CAND_RELAY)
        return "?";
    return type_names[type];
}

uint32_t fl_ice_candidate_type_pref(fl_ice_cand_type type)
{
    switch (type) {
    case FL_ICE_CAND_HOST:
        return 126;
    case FL_ICE_CAND_PRFLX:
        return 110;
    case FL_ICE_CAND_SRFLX:
        return 100;
    case FL_ICE_CAND_RELAY:
        return 0;
    }
    return 0;
}

uint32_t fl_ice_candidate_priority(uint32_t type_pref, uint32_t local_pref, uint16_t component)
{
    return ((type_pref & 0x7f) << 24) + ((local_pref & 0xffff) << 8) + (256u - component);
}

uint32_t fl_ice_candidate_tcp_local_pref(fl_ice_cand_type type,
                                         fl_ice_tcptype tcptype,
                                         uint32_t other_pref)
{
    /* RFC 6544 §4.2: host, relayed and UDP-tunneled candidates prefer
     * active, then passive, then so; reflexive (NAT-assisted) ones the
     * reverse order, as simultaneous open works best through a NAT. */
    static const uint32_t direct[] = { 0, 6, 4, 2 }; /* by fl_ice_tcptype */
    static const uint32_t natted[] = { 0, 4, 2, 6 };
    uint32_t t = (unsigned)tcptype <= FL_ICE_TCPTYPE_SO ? (uint32_t)tcptype : 0;
    int nat = type == FL_ICE_CAND_SRFLX || type == FL_ICE_CAND_PRFLX;
    uint32_t dir = nat ? natted[t] : direct[t];
    if (other_pref > 8191)
        other_pref = 8191;
    return (dir << 13) + other_pref;
}

uint64_t fl_ice_candidate_pair_priority(uint32_t g, uint32_t d)
{
    uint64_t lo = g < d ? g : d;
    uint64_t hi = g < d ? d : g;
    return (lo << 32) + 2 * hi + (g > d ? 1 : 0);
}

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

void fl_ice_candidate_foundation(char out[FL_ICE_FOUNDATION_MAX],
                                 fl_ice_cand_type type,
                                 const fl_addr *base,
                                 const fl_addr *server,
                                 fl_ice_transport transport)
{
    uint8_t t[2] = { (uint8_t)type, (uint8_t)transport };
    uint32_t h = fnv1a(2166136261u, t, sizeof(t));
    h = fnv1a(h, &base->family, 1);
    h = fnv1a(h, base->ip, base->family == 6 ? 16 : 4);
    if (server && server->family) {
        h = fnv1a(h, &server->family, 1);
        h = fnv1a(h, server->ip, server->family == 6 ? 16 : 4);
    }
    snprintf(out, FL_ICE_FOUNDATION_MAX, "%u", (unsigned)h);
}

int fl__ice_is_ice_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

static int tok_eq(const token *t, const char *s)
{
    size_t n = strlen(s);
    return t->n == n && strncasecmp(t->p, s, n) == 0;
}

static int tokenize(const char *s, size_t len, token *toks, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= len)
            break;
        if (n == max)
            return FL_ERANGE;
        toks[n].p = s + i;
        while (i < len && s[i] != ' ' && s[i] != '\t') {
            if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
                return FL_EINVAL;
            i++;
        }
        toks[n].n = (size_t)(s + i - toks[n].p);
        n++;
    }
    return n;
}

/* Unsigned decimal with at most `max` as value. */
static int tok_uint(const token *t, uint64_t max, uint64_t *out)
{
    if (t->n == 0)
        return FL_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->p[i] < '0' || t->p[i] > '9')
            return FL_EINVAL;
        uint64_t d = (uint64_t)(t->p[i] - '0');
        if (v > (max - d) / 10)
            return FL_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* An mDNS host name as browsers make them (RFC 8828 §5.1: a UUID and
 * ".local"): labels of letters, digits and hyphens. */
static int is_mdns_name(const token *t)
{
    if (t->n <= 6 || strncasecmp(t->p + t->n - 6, ".local", 6) != 0 || t->p[t->n - 7] == '.')
        return 0;
    for (size_t i = 0; i < t->n - 6; i++) {
        char ch = t->p[i];
        int dot = ch == '.';
        if (dot && (i == 0 || t->p[i - 1] == '.'))
            return 0;
        if (!dot && ch != '-' && !(ch >= '0' && ch <= '9') && !(ch >= 'a' && ch <= 'z') &&
            !(ch >= 'A' && ch <= 'Z'))
            return 0;
    }
    return 1;
}

/* An IP literal; FL_ENOTSUP for an mDNS name (resolving it is the caller's
 * business: the agent has no resolver), FL_EINVAL for anything else. Other
 * host names are refused rather than resolved (RFC 8839 §5.1 lets an agent
 * ignore them; no browser sends one), and so are scoped IPv6 literals,
 * usable on their host only. */
static int tok_addr(const token *t, fl_addr *out)
{
    char ip[FL_ADDR_STRLEN];
    if (t->n == 0 || t->n >= sizeof(ip))
        return FL_EINVAL;
    memcpy(ip, t->p, t->n);
    ip[t->n] = '\0';
    if (fl_addr_parse(out, ip, 0) == 0)
        return 0;
    if (is_mdns_name(t)) {
        fl_log(FL_LOG_DEBUG, "mDNS candidate name not resolved: no resolver in the agent");
        return FL_ENOTSUP;
    }
    return FL_EINVAL;
}

/* A candidate's own address must be one a check can be sent to: not the
 * unspecified address, multicast or the IPv4 broadcast address (a related
 * address may be 0.0.0.0: browsers hide the base so). */
static int addr_unicast(const fl_addr *a)
{
    static const uint8_t zero[16];
    size_t n = a->family == 4 ? 4 : 16;
    if (memcmp(a->ip, zero, n) == 0)
        return 0;
    if (a->family == 4)
        return (a->ip[0] & 0xf0) != 0xe0 && memcmp(a->ip, "\xff\xff\xff\xff", 4) != 0;
    return a->ip[0] != 0xff;
}

static int tok_port(const token *t, uint16_t *out)
{
    uint64_t v;
    int rc = tok_uint(t, 65535, &v);
    if (rc == 0)
        *out = (uint16_t)v;
    return rc;
}

static int copy_tok(char *dst, size_t cap, const token *t, int ice_chars)
{
    if (t->n == 0 || t->n >= cap)
        return FL_ERANGE;
    for (size_t i = 0; ice_chars && i < t->n; i++) {
        if (!fl__ice_is_ice_char((unsigned char)t->p[i]))
            return FL_EINVAL;
    }
    memset(dst, 0, cap); /* a repeated attribute leaves no old bytes behind */
    memcpy(dst, t->p, t->n);
    return 0;
}

static int parse_type(const token *t, uint8_t *out)
{
    for (int i = 0; i <= FL_ICE_CAND_RELAY; i++) {
        if (tok_eq(t, type_names[i])) {
            *out = (uint8_t)i;
            return 0;
        }
    }
    return FL_EINVAL;
}

static int parse_tcptype(const token *t, uint8_t *out)
{
    for (int i = FL_ICE_TCPTYPE_ACTIVE; i <= FL_ICE_TCPTYPE_SO; i++) {
        if (tok_eq(t, tcptype_names[i])) {
            *out = (uint8_t)i;
            return 0;
        }
    }
    return FL_EINVAL;
}

static int append_ext(fl_ice_candidate *c, const token *name, const token *value)
{
    size_t used = strlen(c->ext);
    size_t need = (used ? 1 : 0) + name->n + 1 + value->n;
    if (used + need >= sizeof(c->ext))
        return 0; /* unknown extensions beyond the room are dropped */
    int n = snprintf(c->ext + used, sizeof(c->ext) - used, "%s%.*s %.*s", used ? " " : "",
                     (int)name->n, name->p, (int)value->n, value->p);
    (void)n;
    return 0;
}

static int parse_int_ext(const token *v, int64_t *out)
{
    uint64_t x;
    int rc = tok_uint(v, INT64_MAX, &x);
    if (rc == 0)
        *out = (int64_t)x;
    return rc;
}

/* One "name value" pair after the typ field. */
static int parse_ext(fl_ice_candidate *c, const token *name, const token *v, uint16_t *rport)
{
    if (tok_eq(name, "raddr"))
        return tok_addr(v, &c->related) == 0 ? 0 : FL_EINVAL;
    if (tok_eq(name, "rport"))
        return tok_port(v, rport);
    if (tok_eq(name, "tcptype"))
        return parse_tcptype(v, &c->tcptype);
    if (tok_eq(name, "generation"))
        return parse_int_ext(v, &c->generation);
    if (tok_eq(name, "network-id"))
        return parse_int_ext(v, &c->network_id);
    if (tok_eq(name, "network-cost"))
        return parse_int_ext(v, &c->network_cost);
    if (tok_eq(name, "ufrag"))
        return copy_tok(c->ufrag, sizeof(c->ufrag), v, 0);
    return append_ext(c, name, v);
}

static int parse_prefix(const char **s, size_t *len)
{
    if (*len >= 2 && strncmp(*s, "a=", 2) == 0) {
        *s += 2;
        *len -= 2;
    }
    if (*len < 10 || strncasecmp(*s, "candidate:", 10) != 0)
        return FL_EINVAL;
    *s += 10;
    *len -= 10;
    while (*len > 0 && ((*s)[*len - 1] == '\r' || (*s)[*len - 1] == '\n'))
        (*len)--;
    return 0;
}

/* foundation component transport priority address port "typ" type */
static int parse_fixed(fl_ice_candidate *c, const token *t)
{
    uint64_t v;
    int rc = copy_tok(c->foundation, sizeof(c->foundation), &t[0], 1);
    if (rc)
        return rc;
    if ((rc = tok_uint(&t[1], 256, &v)) || v == 0)
        return rc ? rc : FL_ERANGE;
    c->component = (uint16_t)v;
    if (tok_eq(&t[2], "udp"))
        c->transport = FL_ICE_UDP;
    else if (tok_eq(&t[2], "tcp"))
        c->transport = FL_ICE_TCP;
    else
        return FL_EINVAL; /* no other transport is defined for ICE in WebRTC */
    if ((rc = tok_uint(&t[3], 0x7fffffff, &v)) || v == 0)
        return rc ? rc : FL_ERANGE;
    c->priority = (uint32_t)v;
    if ((rc = tok_addr(&t[4], &c->addr)))
        return rc;
    if (!addr_unicast(&c->addr))
        return FL_EINVAL;
    if ((rc = tok_port(&t[5], &c->addr.port)))
        return rc;
    if (!tok_eq(&t[6], "typ"))
        return FL_EINVAL;
    return parse_type(&t[7], &c->type);
}

int fl_ice_candidate_parse(fl_ice_candidate *out, const char *s, size_t len)
{
    token t[MAX_TOKENS];
    fl_ice_candidate c;
    uint16_t rport = 0;
    if (!out || !s || parse_prefix(&s, &len))
        return FL_EINVAL;
    int n = tokenize(s, len, t, MAX_TOKENS);
    if (n < 0)
        return n;
    if (n < 8 || (n - 8) % 2 != 0)
        return FL_EINVAL;
    memset(&c, 0, sizeof(c));
    c.generation = c.network_id = c.network_cost = -1;
    int rc = parse_fixed(&c, t);
    for (int i = 8; rc == 0 && i < n; i += 2)
        rc = parse_ext(&c, &t[i], &t[i + 1], &rport);
    if (rc)
        return rc;
    if (c.related.family)
        c.related.port = rport;
    if (c.transport == FL_ICE_UDP && (c.addr.port == 0 || c.tcptype))
        return FL_EINVAL;
    if (c.transport == FL_ICE_TCP && !c.tcptype) {
        /* RFC 6544 requires it; be lenient, but the line written back with
         * it must still parse */
        if (n + 2 > MAX_TOKENS)
            return FL_ERANGE;
        c.tcptype = FL_ICE_TCPTYPE_PASSIVE;
    }
    *out = c;
    return 0;
}

static int put(char *out, size_t cap, size_t *used, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int put(char *out, size_t cap, size_t *used, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *used)
        return FL_EMSGSIZE;
    *used += (size_t)n;
    return 0;
}

static int write_ext(const fl_ice_candidate *c, char *out, size_t cap, size_t *used)
{
    char ip[FL_ADDR_STRLEN];
    int rc = 0;
    if (c->related.family)
        rc = put(out, cap, used, " raddr %s rport %u", fl_addr_ip_str(&c->related, ip),
                 (unsigned)c->related.port);
    if (!rc && c->transport == FL_ICE_TCP && c->tcptype && c->tcptype <= FL_ICE_TCPTYPE_SO)
        rc = put(out, cap, used, " tcptype %s", tcptype_names[c->tcptype]);
    if (!rc && c->generation >= 0)
        rc = put(out, cap, used, " generation %lld", (long long)c->generation);
    if (!rc && c->ufrag[0])
        rc = put(out, cap, used, " ufrag %s", c->ufrag);
    if (!rc && c->network_id >= 0)
        rc = put(out, cap, used, " network-id %lld", (long long)c->network_id);
    if (!rc && c->network_cost >= 0)
        rc = put(out, cap, used, " network-cost %lld", (long long)c->network_cost);
    if (!rc && c->ext[0])
        rc = put(out, cap, used, " %s", c->ext);
    return rc;
}

int fl_ice_candidate_write(const fl_ice_candidate *c, char *out, size_t cap)
{
    char ip[FL_ADDR_STRLEN];
    size_t used = 0;
    if (!c || !out || cap == 0 || c->type > FL_ICE_CAND_RELAY)
        return FL_EINVAL;
    int rc = put(out, cap, &used, "candidate:%s %u %s %u %s %u typ %s", c->foundation,
                 (unsigned)c->component, c->transport == FL_ICE_TCP ? "tcp" : "udp",
                 (unsigned)c->priority, fl_addr_ip_str(&c->addr, ip), (unsigned)c->addr.port,
                 type_names[c->type]);
    if (!rc)
        rc = write_ext(c, out, cap, &used);
    if (rc) {
        out[0] = '\0';
        return rc;
    }
    return (int)used;
}
