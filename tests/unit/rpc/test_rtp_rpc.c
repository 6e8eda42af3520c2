/* RtpEndpoint's row through the real service and engine: created with and
 * without SDES, the key checked for the suite's length (key and
 * keyBase64), a CryptoSuite that is none refused, the key given reaching
 * the offer's a=crypto line, useIpv6, SDP errors with Kurento's codes, and
 * the WebRtcEndpoint's own calls not answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "rpc/rpc_int.h"
#include "tests/unit/rpc/harness.h"

#include <cmocka.h>

static int setup(void **state)
{
    (void)state;
    return harness_start(1, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(0);
}

/* crypto: NULL for none; key/b64 NULL for none */
static json_t *create_rtp(client *cl,
                          struct out *o,
                          const char *pipe,
                          const char *suite,
                          const char *key,
                          const char *b64,
                          int ipv6)
{
    json_t *cp = json_pack("{s:s}", "mediaPipeline", pipe);
    if (suite || key || b64) {
        json_t *sdes = json_object();
        if (suite)
            json_object_set_new(sdes, "crypto", json_string(suite));
        if (key)
            json_object_set_new(sdes, "key", json_string(key));
        if (b64)
            json_object_set_new(sdes, "keyBase64", json_string(b64));
        json_object_set_new(cp, "crypto", sdes);
    }
    if (ipv6)
        json_object_set_new(cp, "useIpv6", json_true());
    return rpc_call(cl, o, "create",
                    json_pack("{s:s, s:o}", "type", "RtpEndpoint", "constructorParams", cp));
}

static const char *const key30 = "0123456789abcdefghijklmnopqrst";

static void test_create_and_keys(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline"));
    char *pipe = strdup(json_string_value(value_of(r)));

    /* no crypto: plain RTP/AVPF */
    r = create_rtp(cl, &o, pipe, NULL, NULL, NULL, 0);
    assert_int_equal(error_code(r), 0);
    char *plain = strdup(json_string_value(value_of(r)));
    r = invoke(cl, &o, plain, "generateOffer", NULL);
    assert_int_equal(error_code(r), 0);
    const char *sdp = json_string_value(value_of(r));
    assert_non_null(strstr(sdp, "RTP/AVPF"));
    assert_null(strstr(sdp, "a=crypto"));
    assert_null(strstr(sdp, "a=ice-ufrag"));
    assert_non_null(strstr(sdp, "c=IN IP4 "));

    /* the key given is the one offered */
    r = create_rtp(cl, &o, pipe, "AES_128_CM_HMAC_SHA1_80", key30, NULL, 0);
    assert_int_equal(error_code(r), 0);
    char *sec = strdup(json_string_value(value_of(r)));
    r = invoke(cl, &o, sec, "generateOffer", NULL);
    assert_int_equal(error_code(r), 0);
    char line[128], b64[80];
    fl_base64_encode((const uint8_t *)key30, 30, b64, sizeof(b64));
    snprintf(line, sizeof(line), "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s", b64);
    assert_non_null(strstr(json_string_value(value_of(r)), line));
    assert_non_null(strstr(json_string_value(value_of(r)), "RTP/SAVPF"));

    /* AES-256 with a 46-byte keyBase64; a random key without one */
    uint8_t k46[46];
    for (size_t i = 0; i < sizeof(k46); i++)
        k46[i] = (uint8_t)(i * 7 + 1);
    fl_base64_encode(k46, sizeof(k46), b64, sizeof(b64));
    assert_int_equal(error_code(create_rtp(cl, &o, pipe, "AES_256_CM_HMAC_SHA1_32", NULL, b64, 0)),
                     0);
    r = create_rtp(cl, &o, pipe, "AES_256_CM_HMAC_SHA1_80", NULL, NULL, 0);
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, json_string_value(value_of(r)), "generateOffer", NULL);
    assert_non_null(strstr(json_string_value(value_of(r)), "AES_256_CM_HMAC_SHA1_80 inline:"));

    /* lengths as Kurento checks them */
    r = create_rtp(cl, &o, pipe, "AES_128_CM_HMAC_SHA1_80", "short", NULL, 0);
    assert_int_equal(error_code(r), 40107);
    assert_non_null(strstr(error_message(r), "Master key size"));
    assert_int_equal(
            error_code(create_rtp(cl, &o, pipe, "AES_256_CM_HMAC_SHA1_80", key30, NULL, 0)),
            40107); /* 30 characters for a 46-byte suite */
    fl_base64_encode(k46, 30, b64, sizeof(b64));
    assert_int_equal(error_code(create_rtp(cl, &o, pipe, "AES_256_CM_HMAC_SHA1_32", NULL, b64, 0)),
                     40107);
    assert_int_equal(
            error_code(create_rtp(cl, &o, pipe, "AES_128_CM_HMAC_SHA1_32", NULL, "@@@@", 0)),
            40107);
    assert_int_equal(error_code(create_rtp(cl, &o, pipe, "AES_128_CM_HMAC_SHA1_32", key30, b64, 0)),
                     40107);
    /* a CryptoSuite that is none */
    r = create_rtp(cl, &o, pipe, "AES_999_CM", key30, NULL, 0);
    assert_true(error_code(r) == 40001 || error_code(r) == 40107);

    /* useIpv6: an IPv6 address in the SDP (the loopback ::1 at least) */
    r = create_rtp(cl, &o, pipe, NULL, NULL, NULL, 1);
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, json_string_value(value_of(r)), "generateOffer", NULL);
    assert_int_equal(error_code(r), 0);
    assert_non_null(strstr(json_string_value(value_of(r)), "c=IN IP6 "));

    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    settle();
    free(plain);
    free(sec);
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

static void test_sdp_errors(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    json_t *r = rpc_call(cl, &o, "create", json_pack("{s:s}", "type", "MediaPipeline"));
    char *pipe = strdup(json_string_value(value_of(r)));
    r = create_rtp(cl, &o, pipe, NULL, NULL, NULL, 0);
    char *ep = strdup(json_string_value(value_of(r)));

    r = invoke(cl, &o, ep, "processOffer", json_pack("{s:s}", "offer", "garbage"));
    assert_int_equal(error_code(r), 40201);
    r = invoke(cl, &o, ep, "processAnswer", json_pack("{s:s}", "answer", "v=0\r\n"));
    assert_int_equal(error_code(r), KE_SDP_END_POINT_NOT_OFFER_GENERATED);
    /* only SRTP offered to an endpoint without crypto: nothing accepted */
    const char *savp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       "m=video 5000 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\n"
                       "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                       "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZG1zZy\r\n";
    r = invoke(cl, &o, ep, "processOffer", json_pack("{s:s}", "offer", savp));
    assert_true(error_code(r) == KE_SDP_END_POINT_PROCESS_OFFER_ERROR ||
                error_code(r) == KE_SDP_PARSE_ERROR);
    /* a WebRtcEndpoint's calls are not RtpEndpoint's */
    r = invoke(cl, &o, ep, "gatherCandidates", NULL);
    assert_int_not_equal(error_code(r), 0);
    assert_non_null(strstr(error_message(r), "gatherCandidates"));
    /* BaseRtpEndpoint's properties are */
    r = invoke(cl, &o, ep, "getMediaState", NULL);
    assert_string_equal(json_string_value(value_of(r)), "DISCONNECTED");
    r = invoke(cl, &o, ep, "setMaxVideoSendBandwidth",
               json_pack("{s:i}", "maxVideoSendBandwidth", 800));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, ep, "getMaxVideoSendBandwidth", NULL);
    assert_int_equal(json_integer_value(value_of(r)), 800);

    rpc_call(cl, &o, "release", json_pack("{s:s}", "object", pipe));
    settle();
    free(ep);
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_keys),
        cmocka_unit_test(test_sdp_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
