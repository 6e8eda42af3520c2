/* What SdpEndpoint and BaseRtpEndpoint give every class below them
 * (WebRtcEndpoint, RtpEndpoint): the SDP steps, properties held by the
 * engine element (and the Kurento records made of their plain values),
 * requestKeyframe, and the Kurento shape of the connection and media state
 * events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

static const char *pstr(json_t *p, const char *key)
{
    return json_string_value(json_object_get(p, key));
}

/* ---- SDP: the element's own calls (fl_element_invoke), named as the
 * operations are ---- */

static int sdp_error_code(const char *op, int status)
{
    int answer = strcmp(op, "processAnswer") == 0;
    if (status == FL_ESTATE)
        return answer ? KE_SDP_END_POINT_NOT_OFFER_GENERATED : KE_SDP_END_POINT_ALREADY_NEGOTIATED;
    if (status == FL_EBADMSG)
        return KE_SDP_PARSE_ERROR;
    if (strcmp(op, "generateOffer") == 0)
        return KE_SDP_END_POINT_GENERATE_OFFER_ERROR;
    if (answer)
        return KE_SDP_END_POINT_PROCESS_ANSWER_ERROR;
    return KE_SDP_END_POINT_PROCESS_OFFER_ERROR;
}

/* The operation's name: it is the engine's method too. */
static const char *op_name(call *c)
{
    return json_string_value(json_object_get(c->params, "operation"));
}

static void sdp_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, json_string(text ? text : ""));
    else
        fl__call_err(c, sdp_error_code(op_name(c), status), "%s",
                     text ? text : fl_strerror(status));
}

static void sdp_op(call *c, obj *o, const char *const *args, size_t nargs)
{
    const char *op = op_name(c);
    struct rpc_err err;
    if ((strcmp(op, "generateOffer") == 0 || strcmp(op, "processOffer") == 0) &&
        fl__limits_fd_check(c->rpc, 1, &err) != 0) {
        fl__call_err_obj(c, &err); /* an offer takes the endpoint's sockets */
        return;
    }
    int rc = fl_element_invoke(o->element, op, args, nargs, sdp_done, c);
    if (rc < 0)
        sdp_done(c, rc, NULL);
}

static void process_offer(call *c, obj *o, json_t *p)
{
    const char *args[] = { pstr(p, "offer") };
    sdp_op(c, o, args, 1);
}

static void process_answer(call *c, obj *o, json_t *p)
{
    const char *args[] = { pstr(p, "answer") };
    sdp_op(c, o, args, 1);
}

static void generate_offer(call *c, obj *o, json_t *p)
{
    json_t *opts = json_object_get(p, "options");
    json_t *a = json_object_get(opts, "offerToReceiveAudio");
    json_t *v = json_object_get(opts, "offerToReceiveVideo");
    const char *args[] = { json_is_false(a) ? "false" : "true",
                           json_is_false(v) ? "false" : "true" };
    sdp_op(c, o, args, 2);
}

static void get_sdp(call *c, obj *o, json_t *p)
{
    (void)p;
    sdp_op(c, o, NULL, 0);
}

/* ---- key frames ---- */

static void key_frame_done(void *arg, int status)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else if (status == FL_ENOENT)
        fl__call_err(c, KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED,
                     "requestKeyframe is for video consumers: no video is connected into "
                     "this endpoint");
    else
        fl__call_err(c, KE_UNEXPECTED_ERROR, "requestKeyframe: %s", fl_strerror(status));
}

static void request_key_frame(call *c, obj *o, json_t *p)
{
    (void)p;
    int rc = fl_element_request_key_frame(o->element, key_frame_done, c);
    if (rc < 0)
        key_frame_done(c, rc);
}

/* ---- properties kept by the element ---- */

/* The kmd definition of the property `name` of o's class, or NULL. */
static json_t *prop_def(obj *o, const char *name)
{
    for (const kmd_class *cls = o->cls; cls; cls = cls->parent) {
        json_t *props = json_object_get(cls->def, "properties");
        size_t i;
        json_t *d;
        json_array_foreach(props, i, d)
        {
            if (strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
                return d;
        }
    }
    return NULL;
}

/* "getStunServerAddress" -> "stunServerAddress"; a property whose kmd name
 * starts with a capital keeps it ("getICECandidatePairs" ->
 * "ICECandidatePairs", "getIceConnectionState" -> "IceConnectionState"). */
static const char *prop_name(call *c, obj *o, char *out, size_t cap)
{
    const char *op = json_string_value(json_object_get(c->params, "operation"));
    snprintf(out, cap, "%s", op + 3);
    if (!prop_def(o, out))
        snprintf(out, cap, "%c%s", op[3] - 'A' + 'a', op + 4);
    return out;
}

/* The kmd type of the property ("int", "boolean", "String",
 * "IceCandidatePair[]", ...). */
static const char *prop_type(obj *o, const char *name)
{
    const char *t = json_string_value(json_object_get(prop_def(o, name), "type"));
    return t ? t : "String";
}

/* The engine answers plain values; the records Kurento's types make of
 * them are built here. One ICE stream ("1"), one component (1: RTCP is
 * multiplexed), one DTLS connection. */

/* IceCandidatePair[] of "local\nremote" ("": no pair selected yet). */
static json_t *candidate_pairs(const char *text)
{
    json_t *arr = json_array();
    const char *nl = strchr(text, '\n');
    if (!text[0] || !nl)
        return arr;
    json_array_append_new(arr, json_pack("{s:s, s:i, s:s%, s:s}", "streamId", "1", "componentId", 1,
                                         "localCandidate", text, (size_t)(nl - text),
                                         "remoteCandidate", nl + 1));
    return arr;
}

/* IceConnection[] of the component's state ("": ICE not started). */
static json_t *ice_connections(const char *state)
{
    json_t *arr = json_array();
    if (state[0])
        json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "streamId", "1", "componentId", 1,
                                             "state", state));
    return arr;
}

/* DtlsConnection[] of the DTLS state ("": no DTLS transport yet). */
static json_t *dtls_connections(const char *state)
{
    json_t *arr = json_array();
    if (state[0])
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "streamId", "1", "componentId",
                                             "1", "connectionId", "1", "state", state));
    return arr;
}

/* RembParams of "name=value,..." (set_prop's flatten, the other way): a
 * value written with no fraction or exponent is an integer, as in JSON. */
static json_t *remb_params(const char *text)
{
    json_t *o = json_object();
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '='), *end;
        if (!eq)
            continue;
        *eq = 0;
        long long i = strtoll(eq + 1, &end, 10);
        json_object_set_new(o, kv, *end ? json_real(strtod(eq + 1, NULL)) : json_integer(i));
    }
    return o;
}

typedef struct prop_req {
    call *c;
    char name[64];
    char type[64];
} prop_req;

static json_t *prop_value(const prop_req *r, const char *text)
{
    if (strcmp(r->name, "ICECandidatePairs") == 0)
        return candidate_pairs(text);
    if (strcmp(r->name, "IceConnectionState") == 0)
        return ice_connections(text);
    if (strcmp(r->name, "DtlsConnectionState") == 0)
        return dtls_connections(text);
    if (strcmp(r->type, "RembParams") == 0)
        return remb_params(text);
    if (strcmp(r->type, "int") == 0 || strcmp(r->type, "int64") == 0)
        return json_integer(strtoll(text, NULL, 10));
    if (strcmp(r->type, "boolean") == 0)
        return json_boolean(strcmp(text, "true") == 0);
    return json_string(text);
}

static void get_prop_done(void *arg, int status, const char *text)
{
    prop_req *r = arg;
    call *c = r->c;
    json_t *v = status == 0 && text ? prop_value(r, text) : NULL;
    free(r);
    if (status != 0)
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
    else
        fl__call_ok(c, v);
}

void fl__sdp_get_prop(call *c, obj *o, json_t *p)
{
    (void)p;
    prop_req *r = calloc(1, sizeof(*r));
    if (!r) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    r->c = c;
    prop_name(c, o, r->name, sizeof(r->name));
    snprintf(r->type, sizeof(r->type), "%s", prop_type(o, r->name));
    int rc = fl_element_get_property(o->element, r->name, get_prop_done, r);
    if (rc < 0)
        get_prop_done(r, rc, NULL);
}

static void set_prop_done(void *arg, int status)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else if (status == FL_ESTATE)
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "This setting cannot change once ICE has started (set it before "
                     "processOffer or generateOffer)");
    else if (status == FL_EINVAL)
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "Invalid value for '%s'",
                     json_object_iter_key(
                             json_object_iter(json_object_get(c->params, "operationParams")))
                             ?: "?");
    else if (status == FL_ENOTSUP &&
             json_object_get(json_object_get(c->params, "operationParams"), "rembParams"))
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "Not supported: of RembParams, fluo's rate control (GCC) takes "
                     "rembOnConnect, upLosses and decrementFactor only");
    else
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
}

/* A complex value (RembParams) as "name=value,..." of its numbers; the
 * __module__/__type__ tags kurento-client adds are skipped. 0, or -1 when
 * a member is not a number or it does not fit. */
static int flatten(json_t *v, char *out, size_t cap)
{
    const char *k;
    json_t *m;
    size_t n = 0;
    out[0] = 0;
    json_object_foreach(v, k, m)
    {
        if (k[0] == '_' && k[1] == '_')
            continue;
        if (!json_is_number(m))
            return -1;
        int w = snprintf(out + n, cap - n, "%s%s=%.17g", n ? "," : "", k, json_number_value(m));
        if (w < 0 || (size_t)w >= cap - n)
            return -1;
        n += (size_t)w;
    }
    return 0;
}

void fl__sdp_set_prop(call *c, obj *o, json_t *p)
{
    char name[64], num[32], flat[512];
    prop_name(c, o, name, sizeof(name));
    json_t *v = json_object_get(p, name);
    const char *text = "";
    if (json_is_object(v)) {
        if (flatten(v, flat, sizeof(flat)) < 0) {
            fl__call_err(c, KE_MARSHALL_ERROR, "'%s' takes numbers only", name);
            return;
        }
        text = flat;
    } else if (json_is_string(v)) {
        text = json_string_value(v);
    } else if (json_is_boolean(v)) {
        text = json_is_true(v) ? "true" : "false";
    } else if (json_is_integer(v)) {
        if (strcmp(name, "stunServerPort") == 0 &&
            (json_integer_value(v) < 0 || json_integer_value(v) > 65535)) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "'%s' parameter should be a port number (0 to 65535)", name);
            return;
        }
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        text = num;
    }
    int rc = fl_element_set_property(o->element, name, text, set_prop_done, c);
    if (rc < 0)
        set_prop_done(c, rc);
}

const struct op fl__sdp_ops[] = {
    { "SdpEndpoint", "processOffer", process_offer },
    { "SdpEndpoint", "processAnswer", process_answer },
    { "SdpEndpoint", "generateOffer", generate_offer },
    { "SdpEndpoint", "getLocalSessionDescriptor", get_sdp },
    { "SdpEndpoint", "getRemoteSessionDescriptor", get_sdp },
    { "SdpEndpoint", "getMaxVideoRecvBandwidth", fl__sdp_get_prop },
    { "SdpEndpoint", "setMaxVideoRecvBandwidth", fl__sdp_set_prop },
    { "SdpEndpoint", "getMaxAudioRecvBandwidth", fl__sdp_get_prop },
    { "SdpEndpoint", "setMaxAudioRecvBandwidth", fl__sdp_set_prop },
    { "BaseRtpEndpoint", "getMinVideoRecvBandwidth", fl__sdp_get_prop },
    { "BaseRtpEndpoint", "setMinVideoRecvBandwidth", fl__sdp_set_prop },
    { "BaseRtpEndpoint", "getMinVideoSendBandwidth", fl__sdp_get_prop },
    { "BaseRtpEndpoint", "setMinVideoSendBandwidth", fl__sdp_set_prop },
    { "BaseRtpEndpoint", "getMaxVideoSendBandwidth", fl__sdp_get_prop },
    { "BaseRtpEndpoint", "setMaxVideoSendBandwidth", fl__sdp_set_prop },
    { "BaseRtpEndpoint", "getRembParams", fl__sdp_get_prop },
    { "BaseRtpEndpoint", "setRembParams", fl__sdp_set_prop },
    { "BaseRtpEndpoint", "getMediaState", fl__sdp_get_prop },
    { "BaseRtpEndpoint", "getConnectionState", fl__sdp_get_prop },
    { "BaseRtpEndpoint", "requestKeyframe", request_key_frame },
    { NULL, NULL, NULL },
};

/* ---- events ---- */

static const char *connection_state_name(enum fl_connection_state s)
{
    return s == FL_CONNECTION_CONNECTED ? "CONNECTED" : "DISCONNECTED";
}

static json_t *state_change(obj *o, const char *type, const fl_event_connection_state *c)
{
    json_t *data = fl__event_base(o, type);
    json_object_set_new(data, "oldState", json_string(connection_state_name(c->old_state)));
    json_object_set_new(data, "newState", json_string(connection_state_name(c->new_state)));
    return data;
}

json_t *fl__sdp_event(obj *o, const fl_event *ev, const char **type)
{
    json_t *data = NULL;
    switch (ev->type) {
    case FL_EVENT_CONNECTION_STATE:
        *type = "ConnectionStateChanged";
        data = state_change(o, *type, &ev->connection_state);
        break;
    case FL_EVENT_MEDIA_STATE:
        *type = "MediaStateChanged";
        data = state_change(o, *type, &ev->media_state);
        break;
    case FL_EVENT_MEDIA_TRANSCODING: {
        const fl_event_media_transcoding *t = &ev->media_transcoding;
        *type = "MediaTranscodingStateChanged";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "state",
                            json_string(t->transcoding ? "TRANSCODING" : "NOT_TRANSCODING"));
        json_object_set_new(data, "binName", json_string(t->bin_name ? t->bin_name : ""));
        json_object_set_new(data, "mediaType", json_string(fl_media_type_name(t->media)));
        break;
    }
    default:
        break;
    }
    return data;
}
