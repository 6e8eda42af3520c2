/* bench/: the load harness's simulcast publisher. Its offer, read back by
 * fluo's own SDP reader, names the three layers in a=ssrc-group:SIM,
 * lowest first, each SSRC with the cname and msid of the first; the other
 * sections are as without simulcast. And the layer a viewer is on, from
 * the counts of what it got. */
/* cmocka.h needs these headers first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/wr.h"
#include "sdp/sdp.h"

typedef struct fixture {
    wr_bench b;
    fl_clip clips[WR_LAYERS];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    fl_rand_seeded_init(&f->b.rand, 22);
    assert_int_equal(fl_addr_parse(&f->b.local, "0.0.0.0", 40000), 0);
    f->b.peer_base = 0x7f010000u;
    assert_int_equal(fl_buf_pool_create(&f->b.pool, 1600, 64, 16, 0), 0);
    assert_int_equal(fl_cert_generate(&f->b.cert, "test", 1700000000, 3600, &f->b.rand), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    while (f->b.npeers)
        wr_peer_remove(&f->b, f->b.peers[0]);
    free(f->b.peers);
    free(f->b.slots);
    fl_cert_destroy(f->b.cert);
    fl_buf_pool_destroy(f->b.pool);
    free(f);
    return 0;
}

static fl_sdp_desc *describe(const char *text)
{
    fl_sdp *s;
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    char err[200] = "";
    assert_non_null(d);
    assert_int_equal(fl_sdp_parse(&s, text, strlen(text), err, sizeof(err)), 0);
    int rc = fl_sdp_describe(s, d, err, sizeof(err));
    fl_sdp_destroy(s);
    if (rc < 0)
        fail_msg("%s", err);
    return d;
}

static const fl_sdp_media *video_of(const fl_sdp_desc *d)
{
    for (size_t i = 0; i < d->nmedia; i++) {
        if (d->media[i].kind == FL_SDP_KIND_VIDEO)
            return &d->media[i];
    }
    fail_msg("no video section");
    return NULL;
}

static void offer_names_the_layers_lowest_first(void **state)
{
    fixture *f = *state;
    wr_peer *p;
    assert_int_equal(wr_peer_create(&f->b, 1, &p), 0);
    fl_clip *clips[WR_LAYERS] = { &f->clips[0], &f->clips[1], &f->clips[2] };
    wr_peer_simulcast(p, clips);
    assert_int_equal(p->nlayers, WR_LAYERS);
    assert_int_equal(p->layers[0].ssrc, p->tx[1].ssrc);
    for (int k = 0; k < WR_LAYERS; k++) {
        assert_ptr_equal(p->layers[k].clip, clips[k]);
        assert_int_equal(p->layers[k].layer, k + 1);
        assert_int_not_equal(p->layers[k].ssrc, p->tx[0].ssrc);
        for (int j = 0; j < k; j++)
            assert_int_not_equal(p->layers[k].ssrc, p->layers[j].ssrc);
    }
    char *text = wr_peer_offer(p, FL_SDP_DIR_SENDONLY);
    assert_non_null(text);
    assert_non_null(strstr(text, "a=ssrc-group:SIM "));
    fl_sdp_desc *d = describe(text);
    const fl_sdp_media *v = video_of(d);
    assert_int_equal(v->nsim, WR_LAYERS);
    for (int k = 0; k < WR_LAYERS; k++) {
        assert_int_equal(v->sim_ssrc[k], p->layers[k].ssrc);
        assert_int_equal(v->sim_rtx[k], 0);
        int rtx = -1;
        assert_int_equal(fl_sdp_media_ssrc_layer(v, p->layers[k].ssrc, &rtx), k);
        assert_int_equal(rtx, 0);
    }
    assert_int_equal(v->nssrcs, WR_LAYERS);
    for (size_t i = 0; i < v->nssrcs; i++) {
        assert_string_equal(v->ssrcs[i].cname, "fluobench");
        assert_string_equal(v->ssrcs[i].msid, v->ssrcs[0].msid);
    }
    assert_true(v->ssrcs[0].msid[0] != '\0');
    for (size_t i = 0; i < d->nmedia; i++) {
        if (d->media[i].kind == FL_SDP_KIND_AUDIO) {
            assert_int_equal(d->media[i].nsim, 0);
            assert_int_equal(d->media[i].nssrcs, 1);
        }
    }
    free(d);
    free(text);
}

static void offer_without_layers_has_no_group(void **state)
{
    fixture *f = *state;
    wr_peer *p;
    assert_int_equal(wr_peer_create(&f->b, 1, &p), 0);
    char *text = wr_peer_offer(p, FL_SDP_DIR_SENDONLY);
    assert_non_null(text);
    assert_null(strstr(text, "ssrc-group:SIM"));
    fl_sdp_desc *d = describe(text);
    assert_int_equal(video_of(d)->nsim, 0);
    assert_int_equal(video_of(d)->nssrcs, 1);
    free(d);
    free(text);
}

static void viewer_layer_is_the_one_it_got_most_of(void **state)
{
    fixture *f = *state;
    wr_peer *p;
    assert_int_equal(wr_peer_create(&f->b, 0, &p), 0);
    double share = 1;
    assert_int_equal(wr_viewer_layer(p, NULL, &share), -1);
    assert_true(share == 0);
    p->rx_layer[0] = 10;
    p->rx_layer[1] = 990;
    assert_int_equal(wr_viewer_layer(p, NULL, &share), 1);
    assert_true(share > 0.989 && share < 0.991);
    /* since a snapshot: only what came after it */
    uint64_t since[WR_LAYERS] = { 10, 990, 0 };
    p->rx_layer[2] = 300;
    assert_int_equal(wr_viewer_layer(p, since, &share), 2);
    assert_true(share == 1);
    p->rx_layer[0] = 110;
    assert_int_equal(wr_viewer_layer(p, since, &share), 2);
    assert_true(share > 0.74 && share < 0.76);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(offer_names_the_layers_lowest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(offer_without_layers_has_no_group, setup, teardown),
        cmocka_unit_test_setup_teardown(viewer_layer_is_the_one_it_got_most_of, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
