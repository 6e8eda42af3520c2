/* Network addresses (IPv4 or IPv6 with a port) as plain values, for sans-IO
 * code that must not depend on socket headers beyond the address layout. */
#ifndef FL_BASE_ADDR_H
#define FL_BASE_ADDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

typedef struct fl_addr {
    uint8_t family; /* 4 or 6; 0: none */
    uint16_t port;  /* host order */
    uint8_t ip[16]; /* network order; IPv4 uses the first 4 bytes */
} fl_addr;

#define FL_ADDR_STRLEN 64 /* "[ffff:...:ffff]:65535" and a NUL fit */

/* Parses "1.2.3.4", "::1" or "fe80::1%2"-less forms; port set separately. */
int fl_addr_parse(fl_addr *out, const char *ip, uint16_t port);

/* From/to a struct sockaddr (sockaddr_in or sockaddr_in6). to_sockaddr
 * returns the length written (0 when `cap` is too small or family unset). */
int fl_addr_from_sockaddr(fl_addr *out, const struct sockaddr *sa);
size_t fl_addr_to_sockaddr(const fl_addr *a, struct sockaddr *sa, size_t cap);

/* "1.2.3.4:5" or "[::1]:5"; the IP alone with fl_addr_ip_str. */
const char *fl_addr_str(const fl_addr *a, char out[FL_ADDR_STRLEN]);
const char *fl_addr_ip_str(const fl_addr *a, char out[FL_ADDR_STRLEN]);

/* Same family, IP and port. */
int fl_addr_equal(const fl_addr *a, const fl_addr *b);

/* Same family and IP, any port. */
int fl_addr_ip_equal(const fl_addr *a, const fl_addr *b);

int fl_addr_is_loopback(const fl_addr *a);
int fl_addr_is_link_local(const fl_addr *a);

#endif
