/* One recvmmsg into pool buffers, for the harness's client socket and the
 * floor's session sockets alike. See wr.h. */
#include <netinet/in.h>
#include <string.h>

#include "bench/wr.h"

size_t wr_dgrams_read(wr_dgrams *d, int fd, fl_buf_pool *pool, size_t want)
{
    if (want > WR_DGRAM_BATCH)
        want = WR_DGRAM_BATCH;
    size_t n = 0;
    for (; n < want; n++) {
        if (!(d->bufs[n] = fl_buf_pool_get(pool)))
            break;
        d->iov[n].iov_base = fl_buf_data(d->bufs[n]);
        d->iov[n].iov_len = fl_buf_tailroom(d->bufs[n]);
        memset(&d->msgs[n], 0, sizeof(d->msgs[n]));
        d->msgs[n].msg_hdr.msg_name = &d->from[n];
        d->msgs[n].msg_hdr.msg_namelen = sizeof(d->from[n]);
        d->msgs[n].msg_hdr.msg_iov = &d->iov[n];
        d->msgs[n].msg_hdr.msg_iovlen = 1;
        d->msgs[n].msg_hdr.msg_control = d->ctl[n];
        d->msgs[n].msg_hdr.msg_controllen = WR_CTL_LEN;
    }
    int got = n ? recvmmsg(fd, d->msgs, (unsigned)n, MSG_DONTWAIT, NULL) : 0;
    size_t m = got > 0 ? (size_t)got : 0;
    for (size_t i = 0; i < n; i++) {
        if (i < m) {
            fl_buf_set_len(d->bufs[i], d->msgs[i].msg_len);
            d->to[i] = 0;
            struct msghdr *h = &d->msgs[i].msg_hdr;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                    struct in_pktinfo pi;
                    memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                    d->to[i] = pi.ipi_addr.s_addr;
                }
            }
        } else
            fl_buf_unref(d->bufs[i]);
    }
    return m;
}

size_t wr_dgrams_next_want(size_t got, size_t want)
{
    if (got == want)
        return WR_DGRAM_BATCH;
    size_t w = 2 * got;
    return w < WR_DGRAM_MIN ? WR_DGRAM_MIN : w > WR_DGRAM_BATCH ? WR_DGRAM_BATCH : w;
}
