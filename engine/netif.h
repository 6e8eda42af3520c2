/* The machine's addresses for host candidates: every interface that is up,
 * filtered by Kurento's networkInterfaces setting. Private to engine/. */
#ifndef FL_ENGINE_NETIF_H
#define FL_ENGINE_NETIF_H

#include <stddef.h>

#include "base/addr.h"

#define FL__NETIF_NAME_MAX 16

typedef struct fl__netif_addr {
    char name[FL__NETIF_NAME_MAX]; /* interface name, e.g. "eth0" */
    fl_addr addr;                  /* port 0 */
    int loopback;
} fl__netif_addr;

/* Fills `out` (up to `cap`) with the IPv4 and IPv6 addresses of the
 * interfaces that are up, in the system's order; IPv6 link-local addresses
 * are left out (they need a scope no candidate can carry). `names` is a
 * comma-separated list of interface names to keep ("eth0,eth1"; NULL or ""
 * keeps all). Loopback addresses are kept only with `loopback` set. *n is
 * the number written. FL_EIO when the system cannot list interfaces. */
int fl__netif_list(const char *names, int loopback, fl__netif_addr *out, size_t cap, size_t *n);

#endif
