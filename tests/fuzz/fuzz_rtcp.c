/* Fuzzes net/rtcp: walk the compound packet, parse every block by type,
 * write back what parsed, and require the copy to parse to the same
 * fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[1 << 18];
static uint8_t again[1 << 18];
static fl_rtcp_twcc_packet pk[65536];
static fl_rtcp_twcc_packet pk2[65536];
static uint16_t seqs[1 << 18];

static void reparse(const uint8_t *b, size_t n, fl_rtcp_pkt *p)
{
    if (fl_rtcp_pkt_parse(p, b, n) != 0 || p->len != n)
        abort();
}

static void check_sr_rr(const fl_rtcp_pkt *p)
{
    size_t n;
    fl_rtcp_pkt q;
    if (p->type == FL_RTCP_SR) {
        static fl_rtcp_sr a, b;
        if (fl_rtcp_sr_parse(p, &a) != 0 || a.ext_len % 4)
            return;
        if (fl_rtcp_sr_write(out, sizeof(out), &a, &n) != 0)
            abort();
        reparse(out, n, &q);
        if (fl_rtcp_sr_parse(&q, &b) != 0 || b.ntp != a.ntp || b.num_reports != a.num_reports ||
            memcmp(b.reports, a.reports, a.num_reports * sizeof(a.reports[0])) != 0)
            abort();
    } else {
        static fl_rtcp_rr a, b;
        if (fl_rtcp_rr_parse(p, &a) != 0 || a.ext_len % 4)
            return;
        if (fl_rtcp_rr_write(out, sizeof(out), &a, &n) != 0)
            abort();
        reparse(out, n, &q);
        if (fl_rtcp_rr_parse(&q, &b) != 0 || b.num_reports != a.num_reports ||
            memcmp(b.reports, a.reports, a.num_reports * sizeof(a.reports[0])) != 0)
            abort();
    }
}

static void check_sdes_bye_app(const fl_rtcp_pkt *p)
{
    size_t n;
    fl_rtcp_pkt q;
    if (p->type == FL_RTCP_SDES) {
        static fl_rtcp_sdes a, b;
        if (fl_rtcp_sdes_parse(p, &a) != 0)
            return;
        const char *s;
        size_t sl;
        for (size_t i = 0; i < a.num_chunks; i++)
            (void)fl_rtcp_sdes_cname(&a.chunks[i], &s, &sl);
        if (fl_rtcp_sdes_write(out, sizeof(out), &a, &n) != 0)
            abort();
        reparse(out, n, &q);
        if (fl_rtcp_sdes_parse(&q, &b) != 0 || b.num_chunks != a.num_chunks)
            abort();
    } else if (p->type == FL_RTCP_BYE) {
        fl_rtcp_bye a, b;
        if (fl_rtcp_bye_parse(p, &a) != 0)
            return;
        if (fl_rtcp_bye_write(out, sizeof(out), &a, &n) != 0)
            abort();
        reparse(out, n, &q);
        if (fl_rtcp_bye_parse(&q, &b) != 0 || b.num_ssrcs != a.num_ssrcs ||
            b.reason_len != a.reason_len)
            abort();
    } else if (p->type == FL_RTCP_APP) {
        fl_rtcp_app a, b;
        if (fl_rtcp_app_parse(p, &a) != 0)
            return;
        if (fl_rtcp_app_write(out, sizeof(out), &a, &n) != 0)
            abort();
        reparse(out, n, &q);
        if (fl_rtcp_app_parse(&q, &b) != 0 || b.len != a.len || memcmp(b.data, a.data, a.len))
            abort();
    }
}

static void check_twcc(const fl_rtcp_fb *fb)
{
    fl_rtcp_twcc t, t2;
    size_t n, n2, a, b;
    fl_rtcp_pkt q;
    fl_rtcp_fb fb2;
    if (fl_rtcp_twcc_parse(fb, &t, pk, 65536, &n) != 0)
        return;
    if (fl_rtcp_twcc_write(out, sizeof(out), &t, pk, n, &a) != 0)
        abort();
    reparse(out, a, &q);
    if (fl_rtcp_fb_parse(&q, &fb2) != 0 || fl_rtcp_twcc_parse(&fb2, &t2, pk2, 65536, &n2) != 0 ||
        n2 != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (pk2[i].symbol != pk[i].symbol || pk2[i].delta != pk[i].delta ||
            pk2[i].arrival_us != pk[i].arrival_us)
            abort();
    }
    if (fl_rtcp_twcc_write(again, sizeof(again), &t2, pk2, n2, &b) != 0 || a != b ||
        memcmp(out, again, a) != 0)
        abort();
}

static void check_fb(const fl_rtcp_pkt *p)
{
    fl_rtcp_fb fb, fb2;
    size_t n;
    fl_rtcp_pkt q;
    if (fl_rtcp_fb_parse(p, &fb) != 0)
        return;
    if (fb.fci_len % 4 == 0) {
        if (fl_rtcp_fb_write(out, sizeof(out), &fb, &n) != 0)
            abort();
        reparse(out, n, &q);
    }
    if (fb.type == FL_RTCP_RTPFB && fb.fmt == FL_RTCP_FMT_NACK) {
        size_t k = fl_rtcp_nack_expand(&fb, seqs, sizeof(seqs) / sizeof(seqs[0]));
        if (k <= sizeof(seqs) / sizeof(seqs[0]) &&
            fl_rtcp_nack_write(out, sizeof(out), 1, 2, seqs, k, &n) == 0) {
            reparse(out, n, &q);
            if (fl_rtcp_fb_parse(&q, &fb2) != 0)
                abort();
            /* Compression never needs more items than the input had. */
            if (fl_rtcp_nack_count(&fb2) > fl_rtcp_nack_count(&fb))
                abort();
        }
    } else if (fb.type == FL_RTCP_RTPFB && fb.fmt == FL_RTCP_FMT_TWCC) {
        check_twcc(&fb);
    } else if (fb.type == FL_RTCP_PSFB && fb.fmt == FL_RTCP_FMT_FIR) {
        fl_rtcp_fir_entry e;
        for (size_t i = 0; i < fl_rtcp_fir_count(&fb); i++)
            fl_rtcp_fir_get(&fb, i, &e);
    } else if (fb.type == FL_RTCP_PSFB && fb.fmt == FL_RTCP_FMT_AFB) {
        static fl_rtcp_remb r, r2;
        if (fl_rtcp_remb_parse(&fb, &r) != 0)
            return;
        (void)fl_rtcp_remb_bitrate(&r);
        if (fl_rtcp_remb_write(out, sizeof(out), &r, &n) != 0)
            abort();
        reparse(out, n, &q);
        if (fl_rtcp_fb_parse(&q, &fb2) != 0 || fl_rtcp_remb_parse(&fb2, &r2) != 0 ||
            r2.exp != r.exp || r2.mantissa != r.mantissa || r2.num_ssrcs != r.num_ssrcs)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int reduced;
    (void)fl_rtcp_compound_check(data, size, &reduced);
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    fl_rtcp_iter_init(&it, data, size);
    while (fl_rtcp_iter_next(&it, &p) == 1) {
        if (p.type == FL_RTCP_SR || p.type == FL_RTCP_RR)
            check_sr_rr(&p);
        else if (p.type == FL_RTCP_RTPFB || p.type == FL_RTCP_PSFB)
            check_fb(&p);
        else
            check_sdes_bye_app(&p);
    }
    if (size >= 12)
        (void)fl_rtcp_rtt_us((uint32_t)data[0] << 24 | data[1], (uint32_t)data[4] << 8 | data[5],
                             data[8]);
    return 0;
}
