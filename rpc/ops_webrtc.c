/* WebRtcEndpoint: ICE candidates, its ICE and DTLS properties, creation,
 * and the Kurento shape of its ICE events. What it shares with RtpEndpoint
 * (SdpEndpoint, BaseRtpEndpoint) is rpc/ops_sdp.c's. */
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

/* ---- data channels ---- */

static void data_channel_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0) {
        fl__call_ok(c, NULL);
        return;
    }
    int code = status == FL_EINVAL   ? KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR
               : status == FL_ESTATE ? KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED
                                     : KE_UNEXPECTED_ERROR;
    fl__call_err(c, code, "%s", text && text[0] ? text : fl_strerror(status));
}

/* An int parameter as text; def when absent. */
static void int_arg(json_t *p, const char *key, int def, char *out, size_t cap)
{
    json_t *v = json_object_get(p, key);
    snprintf(out, cap, "%lld",
             json_is_integer(v) ? (long long)json_integer_value(v) : (long long)def);
}

static void create_data_channel(call *c, obj *o, json_t *p)
{
    char life[24], rexmit[24];
    int_arg(p, "maxPacketLifeTime", -1, life, sizeof(life));
    int_arg(p, "maxRetransmits", -1, rexmit, sizeof(rexmit));
    json_t *ordered = json_object_get(p, "ordered");
    const char *label = pstr(p, "label"), *protocol = pstr(p, "protocol");
    const char *args[] = { label ? label : "", json_is_false(ordered) ? "false" : "true", life,
                           rexmit, protocol ? protocol : "" };
    int rc = fl_element_invoke(o->element, "createDataChannel", args, 5, data_channel_done, c);
    if (rc < 0)
        data_channel_done(c, rc, NULL);
}

static void close_data_channel(call *c, obj *o, json_t *p)
{
    char id[24];
    int_arg(p, "channelId", -1, id, sizeof(id));
    const char *args[] = { id };
    int rc = fl_element_invoke(o->element, "closeDataChannel", args, 1, data_channel_done, c);
    if (rc < 0)
        data_channel_done(c, rc, NULL);
}

static const struct op ops[] = {
    { "WebRtcEndpoint", "createDataChannel", create_data_channel },
    { "WebRtcEndpoint", "closeDataChannel", close_data_channel },
    { "WebRtcEndpoint", "gatherCandidates", gather_candidates },
    { "WebRtcEndpoint", "addIceCandidate", add_ice_candidate },
    { "WebRtcEndpoint", "getNetworkInterfaces", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setNetworkInterfaces", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getIceTcp", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setIceTcp", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getStunServerAddress", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setStunServerAddress", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getStunServerPort", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setStunServerPort", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getTurnUrl", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setTurnUrl", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getExternalIPv4", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setExternalIPv4", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getExternalIPv6", fl__sdp_get_prop },
    { "WebRtcEndpoint", "setExternalIPv6", fl__sdp_set_prop },
    { "WebRtcEndpoint", "getICECandidatePairs", fl__sdp_get_prop },
    { "WebRtcEndpoint", "getIceConnectionState", fl__sdp_get_prop },
    { "WebRtcEndpoint", "getDtlsConnectionState", fl__sdp_get_prop },
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
        { "useDataChannels",
          json_is_true(json_object_get(ctor, "useDataChannels")) ? "true" : NULL },
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
    case FL_EVENT_DATA_CHANNEL_OPENED:
    case FL_EVENT_DATA_CHANNEL_CLOSED:
        *type = ev->type == FL_EVENT_DATA_CHANNEL_OPENED ? "DataChannelOpened"
                                                         : "DataChannelClosed";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "channelId", json_integer(ev->data_channel.channel_id));
        break;
    default:
        data = fl__sdp_event(o, ev, type);
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
