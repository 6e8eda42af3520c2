/* WebRtcEndpoint and its ancestors (SdpEndpoint, BaseRtpEndpoint): SDP
 * negotiation, ICE candidates, properties held by the engine element (and
 * the Kurento records made of their plain values), and the Kurento shape
 * of the endpoint's events. */
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

/* ---- ICE ---- */

static void gather_done(void *arg, int status, const char *text)
{
    call *c = arg;
    (void)text;
    if (status == 0)
        fl__call_ok(c, NULL);
    else
        fl__call_err(c, KE_ICE_GATHER_CANDIDATES_ERROR, "%s", fl_strerror(status));
}

static void gather_candidates(call *c, obj *o, json_t *p)
{
    (void)p;
    int rc = fl_element_invoke(o->element, "gatherCandidates", NULL, 0, gather_done, c);
    if (rc < 0)
        gather_done(c, rc, NULL);
}

/* Of a session description: how many m-sections, how many carry an a=mid,
 * and the index of the one whose a=mid is `mid` (-1: none). */
typedef struct sdp_sections {
    int count;
    int mids;
    int found;
} sdp_sections;

static sdp_sections sdp_scan(const char *sdp, const char *mid)
{
    sdp_sections r = { 0, 0, -1 };
    size_t ml = strlen(mid);
    for (const char *l = sdp; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "m=", 2) == 0) {
            r.count++;
        } else if (r.count > 0 && strncmp(l, "a=mid:", 6) == 0) {
            r.mids++;
            const char *v = l + 6;
            if (r.found < 0 && strncmp(v, mid, ml) == 0 &&
                (v[ml] == '\r' || v[ml] == '\n' || !v[ml]))
                r.found = r.count - 1;
        }
    }
    return r;
}

typedef struct cand_req {
    call *c;
    obj *o;
    char *line;
    char *mid;
    int index;
} cand_req;

static void cand_req_free(cand_req *r)
{
    free(r->line);
    free(r->mid);
    free(r);
}

/* The engine's text says why a candidate was refused ("Invalid ICE
 * candidate '...': the port is not 0 to 65535"), or notes how one was taken
 * (an mDNS name not resolved: a warning, rate-limited). */
static void add_candidate_done(void *arg, int status, const char *text)
{
    cand_req *r = arg;
    call *c = r->c;
    unsigned long held;
    if (status != 0) {
        fl__call_err(c, KE_ICE_ADD_CANDIDATE_ERROR, "%s",
                     text && text[0] ? text : fl_strerror(status));
    } else {
        if (text && text[0] && fl_log_rate_allow(&c->rpc->mdns_log, uv_now(c->rpc->loop), &held))
            fl_log(FL_LOG_WARN,
                   "%s: ICE candidate '%.200s' %s (%lu more such candidates since the last "
                   "line)",
                   r->o->id, r->line, text, held);
        fl__call_ok(c, NULL);
    }
    cand_req_free(r);
}

/* With the local description known (our offer or answer), the candidate's
 * sdpMid must name one of its m-sections, or (no sdpMid, or a description
 * without mids) its sdpMLineIndex be one: W3C addIceCandidate, the mid
 * first. Before any description there is nothing to check against. */
static void cand_sdp_done(void *arg, int status, const char *sdp)
{
    cand_req *r = arg;
    if (r->o->released) {
        fl__call_err(r->c, KE_ICE_ADD_CANDIDATE_ERROR, "The endpoint was released");
        cand_req_free(r);
        return;
    }
    if (status == 0 && sdp && sdp[0]) {
        sdp_sections m = sdp_scan(sdp, r->mid);
        if (r->mid[0] && m.mids > 0 && m.found < 0) {
            fl__call_err(r->c, KE_ICE_ADD_CANDIDATE_ERROR,
                         "'sdpMid' '%.64s' names no media section of the session", r->mid);
            cand_req_free(r);
            return;
        }
        if ((!r->mid[0] || m.mids == 0) && r->index >= m.count) {
            fl__call_err(r->c, KE_ICE_ADD_CANDIDATE_ERROR,
                         "'sdpMLineIndex' %d names no m-line: the session has %d", r->index,
                         m.count);
            cand_req_free(r);
            return;
        }
    }
    char index[16];
    snprintf(index, sizeof(index), "%d", r->index);
    const char *args[] = { r->line, r->mid, index };
    int rc = fl_element_invoke(r->o->element, "addIceCandidate", args, 3, add_candidate_done, r);
    if (rc < 0)
        add_candidate_done(r, rc, NULL);
}

static void add_ice_candidate(call *c, obj *o, json_t *p)
{
    /* the kmd check made sure of the IceCandidate's members and types */
    json_t *cand = json_object_get(p, "candidate");
    const char *line = pstr(cand, "candidate");
    int index = (int)json_integer_value(json_object_get(cand, "sdpMLineIndex"));
    if (index < 0) {
        fl__call_err(c, KE_ICE_ADD_CANDIDATE_ERROR, "'sdpMLineIndex' %d names no m-line", index);
        return;
    }
    /* RFC 8840's end-of-candidates attribute, as some clients pass it on,
     * means what the empty candidate means */
    if (strcmp(line, "end-of-candidates") == 0 || strcmp(line, "a=end-of-candidates") == 0)
        line = "";
    cand_req *r = calloc(1, sizeof(*r));
    if (!r || !(r->line = strdup(line)) || !(r->mid = strdup(pstr(cand, "sdpMid")))) {
        if (r)
            cand_req_free(r);
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    r->c = c;
    r->o = o;
    r->index = index;
    int rc = 0;
    if (line[0])
        rc = fl_element_invoke(o->element, "getLocalSessionDescriptor", NULL, 0, cand_sdp_done, r);
    if (!line[0] || rc < 0)
        cand_sdp_done(r, rc, NULL);
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

static void get_prop(call *c, obj *o, json_t *p)
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

static void set_prop(call *c, obj *o, json_t *p)
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

static const struct op ops[] = {
    { "SdpEndpoint", "processOffer", process_offer },
    { "SdpEndpoint", "processAnswer", process_answer },
    { "SdpEndpoint", "generateOffer", generate_offer },
    { "SdpEndpoint", "getLocalSessionDescriptor", get_sdp },
    { "SdpEndpoint", "getRemoteSessionDescriptor", get_sdp },
    { "SdpEndpoint", "getMaxVideoRecvBandwidth", get_prop },
    { "SdpEndpoint", "setMaxVideoRecvBandwidth", set_prop },
    { "SdpEndpoint", "getMaxAudioRecvBandwidth", get_prop },
    { "SdpEndpoint", "setMaxAudioRecvBandwidth", set_prop },
    { "BaseRtpEndpoint", "getMinVideoRecvBandwidth", get_prop },
    { "BaseRtpEndpoint", "setMinVideoRecvBandwidth", set_prop },
    { "BaseRtpEndpoint", "getMinVideoSendBandwidth", get_prop },
    { "BaseRtpEndpoint", "setMinVideoSendBandwidth", set_prop },
    { "BaseRtpEndpoint", "getMaxVideoSendBandwidth", get_prop },
    { "BaseRtpEndpoint", "setMaxVideoSendBandwidth", set_prop },
    { "BaseRtpEndpoint", "getRembParams", get_prop },
    { "BaseRtpEndpoint", "setRembParams", set_prop },
    { "BaseRtpEndpoint", "getMediaState", get_prop },
    { "BaseRtpEndpoint", "getConnectionState", get_prop },
    { "BaseRtpEndpoint", "requestKeyframe", request_key_frame },
    { "WebRtcEndpoint", "gatherCandidates", gather_candidates },
    { "WebRtcEndpoint", "addIceCandidate", add_ice_candidate },
    { "WebRtcEndpoint", "getNetworkInterfaces", get_prop },
    { "WebRtcEndpoint", "setNetworkInterfaces", set_prop },
    { "WebRtcEndpoint", "getIceTcp", get_prop },
    { "WebRtcEndpoint", "setIceTcp", set_prop },
    { "WebRtcEndpoint", "getStunServerAddress", get_prop },
    { "WebRtcEndpoint", "setStunServerAddress", set_prop },
    { "WebRtcEndpoint", "getStunServerPort", get_prop },
    { "WebRtcEndpoint", "setStunServerPort", set_prop },
    { "WebRtcEndpoint", "getTurnUrl", get_prop },
    { "WebRtcEndpoint", "setTurnUrl", set_prop },
    { "WebRtcEndpoint", "getExternalIPv4", get_prop },
    { "WebRtcEndpoint", "setExternalIPv4", set_prop },
    { "WebRtcEndpoint", "getExternalIPv6", get_prop },
    { "WebRtcEndpoint", "setExternalIPv6", set_prop },
    { "WebRtcEndpoint", "getICECandidatePairs", get_prop },
    { "WebRtcEndpoint", "getIceConnectionState", get_prop },
    { "WebRtcEndpoint", "getDtlsConnectionState", get_prop },
    { NULL, NULL, NULL },
};

/* ---- creation ---- */

/* A positive setting in decimal; NULL (not set) otherwise. */
static const char *positive(char *buf, size_t cap, int value)
{
    if (value <= 0)
        return NULL;
    snprintf(buf, cap, "%d", value);
    return buf;
}

static int check_ctor(call *c, json_t *ctor)
{
    if (json_is_true(json_object_get(ctor, "recvonly")) &&
        json_is_true(json_object_get(ctor, "sendonly"))) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "'recvonly' and 'sendonly' parameters cannot both be true: the endpoint "
                     "would neither send nor receive");
        return FL_EINVAL;
    }
    return 0;
}

/* The server's settings and the constructor's parameters, as properties
 * of the new element (those not given are left as they are). */
static int configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    const fl_rpc_config *cfg = &rpc->cfg;
    char stun_port[16], min_port[16], max_port[16];
    const char *const settings[][2] = {
        { "stunServerAddress", cfg->stun_address },
        { "stunServerPort", positive(stun_port, sizeof(stun_port), cfg->stun_port) },
        { "turnUrl", cfg->turn_url },
        { "externalIPv4", cfg->external_ipv4 },
        { "externalIPv6", cfg->external_ipv6 },
        { "networkInterfaces", cfg->network_interfaces },
        { "minPort", positive(min_port, sizeof(min_port), cfg->min_port) },
        { "maxPort", positive(max_port, sizeof(max_port), cfg->max_port) },
        { "recvonly", json_is_true(json_object_get(ctor, "recvonly")) ? "true" : NULL },
        { "sendonly", json_is_true(json_object_get(ctor, "sendonly")) ? "true" : NULL },
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const char *value = settings[i][1];
        int rc = value && value[0] ? fl_element_set_property(e, settings[i][0], value, NULL, NULL)
                                   : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- events ---- */

static const char *ice_component_state_name(enum fl_ice_component_state s)
{
    switch (s) {
    case FL_ICE_COMPONENT_DISCONNECTED:
        return "DISCONNECTED";
    case FL_ICE_COMPONENT_GATHERING:
        return "GATHERING";
    case FL_ICE_COMPONENT_CONNECTING:
        return "CONNECTING";
    case FL_ICE_COMPONENT_CONNECTED:
        return "CONNECTED";
    case FL_ICE_COMPONENT_READY:
        return "READY";
    case FL_ICE_COMPONENT_FAILED:
        break;
    }
    return "FAILED";
}

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

static json_t *event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    json_t *data = NULL;
    switch (ev->type) {
    case FL_EVENT_ICE_CANDIDATE: {
        const fl_event_ice_candidate *c = &ev->ice_candidate;
        *type = "IceCandidateFound";
        data = fl__event_base(o, *type);
        json_object_set_new(
                data, "candidate",
                json_pack("{s:s, s:s, s:s, s:s, s:i}", "__module__", "kurento", "__type__",
                          "IceCandidate", "candidate", c->candidate ? c->candidate : "", "sdpMid",
                          c->sdp_mid ? c->sdp_mid : "0", "sdpMLineIndex", c->sdp_mline_index));
        break;
    }
    case FL_EVENT_ICE_GATHERING_DONE:
        *type = "IceGatheringDone";
        data = fl__event_base(o, *type);
        break;
    case FL_EVENT_ICE_COMPONENT_STATE: {
        const fl_event_ice_component_state *c = &ev->ice_component_state;
        *type = "IceComponentStateChanged";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "streamId", json_integer(c->stream_id));
        json_object_set_new(data, "componentId", json_integer(c->component));
        json_object_set_new(data, "state", json_string(ice_component_state_name(c->state)));
        break;
    }
    case FL_EVENT_ICE_PAIR_SELECTED: {
        const fl_event_ice_pair_selected *p = &ev->ice_pair_selected;
        char stream[16]; /* a string in IceCandidatePair */
        snprintf(stream, sizeof(stream), "%d", p->stream_id);
        *type = "NewCandidatePairSelected";
        data = fl__event_base(o, *type);
        json_object_set_new(
                data, "candidatePair",
                json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "__module__", "kurento", "__type__",
                          "IceCandidatePair", "streamId", stream, "componentId", p->component,
                          "localCandidate", p->local_candidate ? p->local_candidate : "",
                          "remoteCandidate", p->remote_candidate ? p->remote_candidate : ""));
        break;
    }
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

const rpc_class fl__class_webrtc = {
    .name = "WebRtcEndpoint",
    .engine_type = FL_ELEMENT_WEBRTC,
    .ops = ops,
    .check_ctor = check_ctor,
    .configure = configure,
    .event = event,
};
