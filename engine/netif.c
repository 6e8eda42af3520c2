#include "engine/netif.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("netif");

/* Whether `name` is one of the comma-separated `names` (all when empty). */
static int wanted(const char *names, const char *name)
{
    if (!names || !*names)
        return 1;
    size_t len = strlen(name);
    for (const char *p = names; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ')) {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == len && strncmp(p, name, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int fl__netif_list(const char *names, int loopback, fl__netif_addr *out, size_t cap, size_t *n)
{
    struct ifaddrs *list;
    *n = 0;
    if (getifaddrs(&list) != 0) {
        fl_log(FL_LOG_ERROR, "cannot list network interfaces");
        return FL_EIO;
    }
    for (struct ifaddrs *it = list; it && *n < cap; it = it->ifa_next) {
        fl__netif_addr a;
        if (!it->ifa_addr || !(it->ifa_flags & IFF_UP) || !wanted(names, it->ifa_name))
            continue;
        if (fl_addr_from_sockaddr(&a.addr, it->ifa_addr) != 0 || fl_addr_is_link_local(&a.addr))
            continue;
        a.loopback = (it->ifa_flags & IFF_LOOPBACK) != 0 || fl_addr_is_loopback(&a.addr);
        if (a.loopback && !loopback)
            continue;
        snprintf(a.name, sizeof(a.name), "%s", it->ifa_name);
        out[(*n)++] = a;
    }
    freeifaddrs(list);
    return 0;
}
