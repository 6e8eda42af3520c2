#include "base/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"

int fl_addr_parse(fl_addr *out, const char *ip, uint16_t port)
{
    memset(out, 0, sizeof(*out));
    if (!ip)
        return FL_EINVAL;
    if (inet_pton(AF_INET, ip, out->ip) == 1) {
        out->family = 4;
    } else if (inet_pton(AF_INET6, ip, out->ip) == 1) {
        out->family = 6;
    } else {
        return FL_EINVAL;
    }
    out->port = port;
    return 0;
}

int fl_addr_from_sockaddr(fl_addr *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = 4;
        out->port = ntohs(in->sin_port);
        memcpy(out->ip, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->family = 6;
        out->port = ntohs(in6->sin6_port);
        memcpy(out->ip, &in6->sin6_addr, 16);
        return 0;
    }
    return FL_EINVAL;
}

size_t fl_addr_to_sockaddr(const fl_addr *a, struct sockaddr *sa, size_t cap)
{
    if (a->family == 4 && cap >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        memset(in, 0, sizeof(*in));
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return sizeof(*in);
    }
    if (a->family == 6 && cap >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        memset(in6, 0, sizeof(*in6));
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        return sizeof(*in6);
    }
    return 0;
}

const char *fl_addr_ip_str(const fl_addr *a, char out[FL_ADDR_STRLEN])
{
    if (!a->family || !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, out, FL_ADDR_STRLEN))
        snprintf(out, FL_ADDR_STRLEN, "(none)");
    return out;
}

const char *fl_addr_str(const fl_addr *a, char out[FL_ADDR_STRLEN])
{
    char ip[FL_ADDR_STRLEN];
    fl_addr_ip_str(a, ip);
    if (a->family == 6)
        snprintf(out, FL_ADDR_STRLEN, "[%.46s]:%u", ip, a->port);
    else
        snprintf(out, FL_ADDR_STRLEN, "%.46s:%u", ip, a->port);
    return out;
}

int fl_addr_ip_equal(const fl_addr *a, const fl_addr *b)
{
    size_t n = a->family == 4 ? 4 : 16;
    return a->family == b->family && memcmp(a->ip, b->ip, n) == 0;
}

int fl_addr_equal(const fl_addr *a, const fl_addr *b)
{
    return fl_addr_ip_equal(a, b) && a->port == b->port;
}

int fl_addr_is_loopback(const fl_addr *a)
{
    static const uint8_t v6_loop[16] = { [15] = 1 };
    if (a->family == 4)
        return a->ip[0] == 127;
    return a->family == 6 && memcmp(a->ip, v6_loop, 16) == 0;
}

int fl_addr_is_link_local(const fl_addr *a)
{
    if (a->family == 4)
        return a->ip[0] == 169 && a->ip[1] == 254;
    return a->family == 6 && a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80;
}
