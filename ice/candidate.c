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

/* Refuses with `rc`, saying why in *why (a static phrase). */
static int refuse(const char **why, int rc, const char *text)
{
    *why = text;
    return rc;
}

static int tokenize(const char *s, size_t len, token *toks, int max, const char **why)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= len)
            break;
        if (n == max)
            return refuse(why, FL_ERANGE,
                          "it has more than 48 fields (8, then at most 20 name/value pairs)");
        toks[n].p = s + i;
        while (i < len && s[i] != ' ' && s[i] != '\t') {
            if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
                return refuse(why, FL_EINVAL,
                              "it has a control character or a byte outside printable ASCII");
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

/* 1 when every byte of t is one of `set`. */
static int tok_all_of(const token *t, const char *set)
{
    for (size_t i = 0; i < t->n; i++) {
        if (!strchr(set, t->p[i]))
            return 0;
    }
    return 1;
}

/* What is wrong with an address that is neither an IP literal nor an mDNS
 * name. */
static const char *name_problem(const token *t)
{
    if (t->n >= 6 && strncasecmp(t->p + t->n - 6, ".local", 6) == 0)
        return "the address is not a valid mDNS .local name";
    if (memchr(t->p, '%', t->n))
        return "a scoped IPv6 address is usable on its host only";
    if (memchr(t->p, ':', t->n) || tok_all_of(t, "0123456789."))
        return "the address is not a valid IP address";
    if (tok_all_of(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."))
        return "the address is a host name, which fluo does not resolve (only IP addresses "
               "and mDNS .local names are taken)";
    return "the address is neither an IP address nor a host name";
}

static const char mdns_why[] = "the address is an mDNS .local name, which fluo does not resolve";

/* An IP literal; FL_ENOTSUP for an mDNS name (resolving it is the caller's
 * business: the agent has no resolver), FL_EINVAL for anything else. Other
 * host names are refused rather than resolved (RFC 8839 §5.1 lets an agent
 * ignore them; no browser sends one), and so are scoped IPv6 literals,
 * usable on their host only. */
static int tok_addr(const token *t, fl_addr *out, const char **why)
{
    char ip[FL_ADDR_STRLEN];
    if (t->n == 0)
        return refuse(why, FL_EINVAL, "the address is missing");
    if (t->n < sizeof(ip)) {
        memcpy(ip, t->p, t->n);
        ip[t->n] = '\0';
        if (fl_addr_parse(out, ip, 0) == 0)
            return 0;
    }
    if (is_mdns_name(t))
        return refuse(why, FL_ENOTSUP, mdns_why);
    return refuse(why, FL_EINVAL, name_problem(t));
}

/* A candidate's own address must be one a check can be sent to: not the
 * unspecified address, multicast or the IPv4 broadcast address (a related
 * address may be 0.0.0.0: browsers hide the base so). NULL when it can be,
 * else why not. */
static const char *unicast_problem(const fl_addr *a)
{
    static const uint8_t zero[16];
    if (memcmp(a->ip, zero, a->family == 4 ? 4 : 16) == 0)
        return "the address is the unspecified address";
    if ((a->family == 4 && (a->ip[0] & 0xf0) == 0xe0) || (a->family == 6 && a->ip[0] == 0xff))
        return "the address is a multicast address";
    if (a->family == 4 && memcmp(a->ip, "\xff\xff\xff\xff", 4) == 0)
        return "the address is the broadcast address";
    return NULL;
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
static int parse_ext(fl_ice_candidate *c,
                     const token *name,
                     const token *v,
                     int32_t *rport,
                     const char **why)
{
    const char *ignored;
    int rc;
    if (tok_eq(name, "raddr")) {
        if (tok_addr(v, &c->related, &ignored) != 0)
            return refuse(why, FL_EINVAL, "raddr is not an IP address");
    } else if (tok_eq(name, "rport")) {
        uint16_t port;
        if ((rc = tok_port(v, &port)))
            return refuse(why, rc, "rport is not 0 to 65535");
        *rport = port;
    } else if (tok_eq(name, "tcptype")) {
        if ((rc = parse_tcptype(v, &c->tcptype)))
            return refuse(why, rc, "tcptype is not active, passive or so");
    } else if (tok_eq(name, "generation")) {
        if ((rc = parse_int_ext(v, &c->generation)))
            return refuse(why, rc, "generation is not 0 to 2^63-1");
    } else if (tok_eq(name, "network-id")) {
        if ((rc = parse_int_ext(v, &c->network_id)))
            return refuse(why, rc, "network-id is not 0 to 2^63-1");
    } else if (tok_eq(name, "network-cost")) {
        if ((rc = parse_int_ext(v, &c->network_cost)))
            return refuse(why, rc, "network-cost is not 0 to 2^63-1");
    } else if (tok_eq(name, "ufrag")) {
        if ((rc = copy_tok(c->ufrag, sizeof(c->ufrag), v, 0)))
            return refuse(why, rc, "ufrag is longer than 63 characters");
    } else {
        return append_ext(c, name, v);
    }
    return 0;
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

static int parse_foundation(fl_ice_candidate *c, const token *t, const char **why)
{
    int rc = copy_tok(c->foundation, sizeof(c->foundation), t, 1);
    if (rc == FL_ERANGE)
        return refuse(why, rc, "the foundation is longer than 32 characters");
    if (rc)
        return refuse(why, rc,
                      "the foundation has a character other than letters, digits, '+' "
                      "and '/'");
    return 0;
}

/* The address field: *mdns set for an mDNS name (c->addr left unset), which
 * is refused only once the rest of the line is known good. */
static int parse_address(fl_ice_candidate *c, const token *t, int *mdns, const char **why)
{
    int rc = tok_addr(t, &c->addr, why);
    if (rc == FL_ENOTSUP) {
        *mdns = 1;
        return 0;
    }
    if (rc)
        return rc;
    const char *problem = unicast_problem(&c->addr);
    return problem ? refuse(why, FL_EINVAL, problem) : 0;
}

/* Field i of: foundation component transport priority address port "typ"
 * type. */
static int parse_field(fl_ice_candidate *c, int i, const token *t, int *mdns, const char **why)
{
    uint64_t v;
    int rc;
    switch (i) {
    case 0:
        return parse_foundation(c, t, why);
    case 1:
        if (tok_eq(t, "udp") || tok_eq(t, "tcp"))
            return refuse(why, FL_EINVAL, "the foundation or the component is missing");
        if ((rc = tok_uint(t, 256, &v)) || v == 0)
            return refuse(why, rc ? rc : FL_ERANGE, "the component is not 1 to 256");
        c->component = (uint16_t)v;
        return 0;
    case 2:
        if (tok_eq(t, "udp") || tok_eq(t, "tcp")) {
            c->transport = tok_eq(t, "udp") ? FL_ICE_UDP : FL_ICE_TCP;
            return 0;
        } /* no other transport is defined for ICE in WebRTC */
        return refuse(why, FL_EINVAL, "the transport is not UDP or TCP");
    case 3:
        if ((rc = tok_uint(t, 0x7fffffff, &v)) || v == 0)
            return refuse(why, rc ? rc : FL_ERANGE, "the priority is not 1 to 2^31-1");
        c->priority = (uint32_t)v;
        return 0;
    case 4:
        return parse_address(c, t, mdns, why);
    case 5:
        rc = tok_port(t, &c->addr.port);
        return rc ? refuse(why, rc, "the port is not 0 to 65535") : 0;
    case 6:
        return tok_eq(t, "typ") ? 0 : refuse(why, FL_EINVAL, "'typ' is missing");
    default:
        rc = parse_type(t, &c->type);
        return rc ? refuse(why, rc, "the type is not host, srflx, prflx or relay") : 0;
    }
}

/* The eight fixed fields, in order; a missing one is an empty token. */
static int parse_fixed(fl_ice_candidate *c, const token *t, int *mdns, const char **why)
{
    static const char *const missing[8] = {
        "the foundation is missing", "the component is missing", "the transport is missing",
        "the priority is missing",   "the address is missing",   "the port is missing",
        "'typ' is missing",          "the type is missing",
    };
    for (int i = 0; i < 8; i++) {
        if (t[i].n == 0)
            return refuse(why, FL_EINVAL, missing[i]);
        int rc = parse_field(c, i, &t[i], mdns, why);
        if (rc)
            return rc;
    }
    return 0;
}

/* What the fields say together, once each is good alone. `ntok` fields
 * were read; `rport_given` 0 when raddr came alone. */
static int check_whole(fl_ice_candidate *c, int ntok, int rport_given, const char **why)
{
    if (c->transport == FL_ICE_UDP && c->addr.port == 0)
        return refuse(why, FL_EINVAL, "the port is 0: a UDP candidate's is 1 to 65535");
    if (c->transport == FL_ICE_UDP && c->tcptype)
        return refuse(why, FL_EINVAL, "tcptype is for TCP candidates only");
    /* Written back, the line has every field read (fewer when one came
     * twice) plus the rport of a lone raddr and the tcptype RFC 6544
     * requires, which is passive when missing (lenient): it must parse. */
    int added = (c->related.family && !rport_given ? 2 : 0) +
                (c->transport == FL_ICE_TCP && !c->tcptype ? 2 : 0);
    if (ntok + added > MAX_TOKENS)
        return refuse(why, FL_ERANGE,
                      "with the rport or tcptype it lacks added, it would have more than 48 "
                      "fields");
    if (c->transport == FL_ICE_TCP && !c->tcptype)
        c->tcptype = FL_ICE_TCPTYPE_PASSIVE;
    return 0;
}

int fl_ice_candidate_parse_why(fl_ice_candidate *out, const char *s, size_t len, const char **why)
{
    token t[MAX_TOKENS];
    fl_ice_candidate c;
    int32_t rport = -1; /* not given */
    const char *ignored;
    int mdns = 0;
    if (!why)
        why = &ignored;
    *why = NULL;
    if (!out || !s)
        return refuse(why, FL_EINVAL, "no candidate was given");
    if (parse_prefix(&s, &len))
        return refuse(why, FL_EINVAL, "it does not start with 'candidate:'");
    int n = tokenize(s, len, t, MAX_TOKENS, why);
    if (n < 0)
        return n;
    for (int i = n; i < 8; i++)
        t[i] = (token){ s + len, 0 }; /* each fixed field refuses an empty one */
    memset(&c, 0, sizeof(c));
    c.generation = c.network_id = c.network_cost = -1;
    int rc = parse_fixed(&c, t, &mdns, why);
    if (rc)
        return rc;
    if ((n - 8) % 2 != 0) /* n >= 8: parse_fixed refused a missing type */
        return refuse(why, FL_EINVAL,
                      "an attribute after the type has no value (they come as name/value pairs)");
    for (int i = 8; i < n; i += 2) {
        if ((rc = parse_ext(&c, &t[i], &t[i + 1], &rport, why)))
            return rc;
    }
    if (c.related.family && rport >= 0)
        c.related.port = (uint16_t)rport;
    if ((rc = check_whole(&c, n, rport >= 0, why)))
        return rc;
    if (mdns)
        return refuse(why, FL_ENOTSUP, mdns_why);
    *out = c;
    return 0;
}

int fl_ice_candidate_parse(fl_ice_candidate *out, const char *s, size_t len)
{
    return fl_ice_candidate_parse_why(out, s, len, NULL);
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
