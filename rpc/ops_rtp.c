/* RtpEndpoint's row: its constructor (SDES `crypto` with `crypto`, `key` or
 * `keyBase64`; `useIpv6`) and its event OnKeySoftLimit. Its calls and
 * properties are SdpEndpoint's and BaseRtpEndpoint's (rpc/ops_sdp.c); the
 * engine side is engine/rtp_endpoint.c. */
#include <stdio.h>
#include <string.h>

#include "base/base64.h"
#include "base/err.h"
#include "rpc/rpc_int.h"

/* Master key + salt of a Kurento CryptoSuite: 30 bytes for AES_128, 46
 * for AES_256; 0 for a name that is none. */
static size_t suite_key_len(const char *suite)
{
    static const char *const names[] = { "AES_128_CM_HMAC_SHA1_32", "AES_128_CM_HMAC_SHA1_80",
                                         "AES_256_CM_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_80" };
    for (size_t i = 0; suite && i < sizeof(names) / sizeof(*names); i++) {
        if (strcmp(names[i], suite) == 0)
            return i < 2 ? 30 : 46;
    }
    return 0;
}

/* The SDES parameter as the engine takes it: "<CryptoSuite>[ <base64
 * key||salt>]" into out ("" without crypto: no encryption, as Kurento).
 * With c: a refusal answered there. */
static int sdes_value(call *c, json_t *sdes, char *out, size_t cap)
{
    const char *suite = json_string_value(json_object_get(sdes, "crypto"));
    const char *key = json_string_value(json_object_get(sdes, "key"));
    const char *b64 = json_string_value(json_object_get(sdes, "keyBase64"));
    out[0] = '\0';
    if (!suite)
        return 0;
    size_t want = suite_key_len(suite);
    if (!want) {
        if (c)
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "'crypto' CryptoSuite '%.64s' is not one of AES_128_CM_HMAC_SHA1_32, "
                         "AES_128_CM_HMAC_SHA1_80, AES_256_CM_HMAC_SHA1_32, "
                         "AES_256_CM_HMAC_SHA1_80",
                         suite);
        return FL_EINVAL;
    }
    if (key && b64) {
        if (c)
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "SDES takes 'key' or 'keyBase64', not both");
        return FL_EINVAL;
    }
    uint8_t raw[64];
    size_t len = 0;
    if (key) {
        len = strlen(key);
        if (len == want)
            memcpy(raw, key, len);
    } else if (b64) {
        int n = fl_base64_decode(b64, strlen(b64), raw, sizeof(raw));
        len = n < 0 ? 0 : (size_t)n;
    }
    if ((key || b64) && len != want) {
        if (c)
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "Master key size out of range: %s takes a key and salt of %zu %s, "
                         "'%s' has %zu",
                         suite, want, key ? "characters" : "bytes", key ? "key" : "keyBase64", len);
        explicit_bzero(raw, sizeof(raw));
        return FL_EINVAL;
    }
    int n = snprintf(out, cap, "%s", suite);
    if (len && fl_base64_encode(raw, len, out + n + 1, cap - (size_t)n - 1) > 0)
        out[n] = ' ';
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

static int check_ctor(call *c, json_t *ctor)
{
    char v[128];
    int rc = sdes_value(c, json_object_get(ctor, "crypto"), v, sizeof(v));
    explicit_bzero(v, sizeof(v));
    return rc;
}

/* The server's port range and interfaces, the constructor's parameters. */
static int configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    const fl_rpc_config *cfg = &rpc->cfg;
    char min_port[16], max_port[16], sdes[128];
    snprintf(min_port, sizeof(min_port), "%d", cfg->min_port);
    snprintf(max_port, sizeof(max_port), "%d", cfg->max_port);
    int rc = sdes_value(NULL, json_object_get(ctor, "crypto"), sdes, sizeof(sdes));
    const char *const settings[][2] = {
        { "networkInterfaces", cfg->network_interfaces },
        { "minPort", cfg->min_port > 0 ? min_port : NULL },
        { "maxPort", cfg->max_port > 0 ? max_port : NULL },
        { "useIpv6", json_is_true(json_object_get(ctor, "useIpv6")) ? "true" : NULL },
        { "sdes", sdes },
    };
    for (size_t i = 0; rc == 0 && i < sizeof(settings) / sizeof(settings[0]); i++) {
        const char *value = settings[i][1];
        if (value && value[0])
            rc = fl_element_set_property(e, settings[i][0], value, NULL, NULL);
    }
    explicit_bzero(sdes, sizeof(sdes));
    return rc;
}

static json_t *event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    if (ev->type != FL_EVENT_KEY_SOFT_LIMIT)
        return fl__sdp_event(o, ev, type);
    *type = "OnKeySoftLimit";
    json_t *data = fl__event_base(o, *type);
    json_object_set_new(data, "mediaType",
                        json_string(fl_media_type_name(ev->key_soft_limit.media)));
    return data;
}

const rpc_class fl__class_rtp = {
    .name = "RtpEndpoint",
    .engine_type = FL_ELEMENT_RTP,
    .check_ctor = check_ctor,
    .configure = configure,
    .event = event,
};
