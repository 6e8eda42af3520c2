/* Kurento's shape of an element's statistics (MediaElement.getStats): the
 * engine's typed entries (fl_stats, engine/fluo.h) as the map of
 * ElementStats, EndpointStats, RTCInboundRTPStreamStats,
 * RTCOutboundRTPStreamStats, RTCDataChannelStats and RTCPeerConnectionStats
 * records keyed by stats id that kurento-client
 * reads. The one place that knows those ids, names and constant fields. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"

/* A kmd double as fluo sends it: nine significant digits, and a whole
 * value as an integer ("fractionLost":0, "targetBitrate":300000). */
static json_t *number(double v)
{
    char text[48];
    snprintf(text, sizeof(text), "%.9g", isfinite(v) ? v : 0.0);
    if (strpbrk(text, ".eE"))
        return json_real(strtod(text, NULL));
    return json_integer(strtoll(text, NULL, 10));
}

static void set_str(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, json_string(v));
}

static void set_int(json_t *o, const char *key, int64_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* The fields of Stats: id (stolen), type, timestampMillis. */
static json_t *record(json_t *id, const char *type, const fl_stats *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", id);
    set_str(o, "type", type);
    set_int(o, "timestampMillis", s->timestamp_ms);
    return o;
}

/* RTCRTPStreamStats's fields, those of Stats first. */
static json_t *rtp_record(const char *type, const fl_stats *s, const fl_stats_rtp *r)
{
    char ssrc[16];
    snprintf(ssrc, sizeof(ssrc), "%u", (unsigned)r->ssrc);
    json_t *o = record(json_sprintf("%s_%s",
                                    s->kind == FL_STATS_INBOUND_RTP ? "RTCInboundRTPStreamStats"
                                                                    : "RTCOutboundRTPStreamStats",
                                    ssrc),
                       type, s);
    set_str(o, "ssrc", ssrc);
    set_str(o, "associateStatsId", "");
    json_object_set_new(o, "isRemote", json_false());
    set_str(o, "mediaTrackId", r->mid);
    set_str(o, "transportId", "transport");
    set_str(o, "codecId", r->codec);
    set_int(o, "firCount", r->fir_count);
    set_int(o, "pliCount", r->pli_count);
    set_int(o, "nackCount", r->nack_count);
    set_int(o, "sliCount", 0);
    set_int(o, "remb", r->remb);
    set_int(o, "packetsLost", r->packets_lost);
    json_object_set_new(o, "fractionLost", number(r->fraction_lost));
    return o;
}

static json_t *inbound(const fl_stats *s)
{
    const fl_stats_inbound_rtp *in = &s->inbound_rtp;
    json_t *o = rtp_record("inboundrtp", s, &in->rtp);
    set_int(o, "packetsReceived", in->packets_received);
    set_int(o, "bytesReceived", in->bytes_received);
    json_object_set_new(o, "jitter", number(in->jitter));
    /* beyond Kurento's fields: repair and estimation */
    set_int(o, "nackSeqsSent", in->nack_seqs_sent);
    set_int(o, "retransmittedPacketsReceived", in->retransmitted_packets_received);
    set_int(o, "retransmissionsUnneeded", in->retransmissions_unneeded);
    set_int(o, "keyFramesReceived", in->key_frames_received);
    if (in->receive_estimate >= 0)
        set_int(o, "receiveEstimate", in->receive_estimate);
    return o;
}

static json_t *outbound(const fl_stats *s)
{
    const fl_stats_outbound_rtp *out = &s->outbound_rtp;
    json_t *o = rtp_record("outboundrtp", s, &out->rtp);
    set_int(o, "packetsSent", out->packets_sent);
    set_int(o, "bytesSent", out->bytes_sent);
    json_object_set_new(o, "targetBitrate", number((double)out->target_bitrate));
    json_object_set_new(o, "roundTripTime",
                        number(out->round_trip_time >= 0 ? out->round_trip_time : 0.0));
    /* beyond Kurento's fields */
    set_int(o, "retransmittedPacketsSent", out->retransmitted_packets_sent);
    if (out->nack_unanswered >= 0)
        set_int(o, "nackUnanswered", out->nack_unanswered);
    if (out->nack_held >= 0)
        set_int(o, "nackHeld", out->nack_held);
    if (out->rtp.media == FL_MEDIA_VIDEO) /* -1: not a simulcast source */
        set_int(o, "simulcastLayer", out->simulcast_layer);
    if (out->rtp.media == FL_MEDIA_VIDEO && out->simulcast_switches >= 0) {
        set_int(o, "simulcastTemporalLayer", out->simulcast_temporal_layer);
        set_int(o, "simulcastSwitches", out->simulcast_switches);
        set_int(o, "probePaddingBytesSent", out->probe_padding_bytes);
    }
    if (out->xcode_frames_in >= 0) {
        set_int(o, "transcoderFramesIn", out->xcode_frames_in);
        set_int(o, "transcoderFramesEncoded", out->xcode_frames_encoded);
        set_int(o, "transcoderFramesSkipped", out->xcode_frames_skipped);
        set_int(o, "transcoderFramesDropped", out->xcode_frames_dropped);
        set_int(o, "transcoderTargetBitrate", out->xcode_bitrate);
    }
    return o;
}

/* RTCDataChannelStats. */
static json_t *data_channel(const fl_stats *s)
{
    const fl_stats_data_channel *d = &s->data_channel;
    json_t *o =
            record(json_sprintf("RTCDataChannelStats_%lld", (long long)d->id), "datachannel", s);
    set_str(o, "label", d->label);
    set_str(o, "protocol", d->protocol);
    set_int(o, "datachannelid", d->id);
    set_str(o, "state", d->state ? d->state : "closed");
    set_int(o, "messagesSent", d->messages_sent);
    set_int(o, "bytesSent", d->bytes_sent);
    set_int(o, "messagesReceived", d->messages_received);
    set_int(o, "bytesReceived", d->bytes_received);
    return o;
}

/* RTCPeerConnectionStats. */
static json_t *peer_connection(const fl_stats *s)
{
    json_t *o = record(json_string("RTCPeerConnectionStats"), "session", s);
    set_int(o, "dataChannelsOpened", s->peer_connection.data_channels_opened);
    set_int(o, "dataChannelsClosed", s->peer_connection.data_channels_closed);
    return o;
}

/* ElementStats, or EndpointStats with `endpoint`. */
static json_t *element(const char *name, const fl_stats *s, int endpoint)
{
    const char *type = endpoint ? "endpoint" : "element";
    json_t *o = record(json_sprintf("%s_%s", name, type), type, s);
    json_object_set_new(o, "inputLatency", json_array());
    if (!endpoint)
        return o;
    json_object_set_new(o, "E2ELatency", json_array());
    /* beyond Kurento's fields */
    if (s->endpoint.unvalidated_packets_dropped >= 0)
        set_int(o, "unvalidatedPacketsDropped", s->endpoint.unvalidated_packets_dropped);
    if (s->endpoint.srtp_auth_failed >= 0)
        set_int(o, "srtpAuthFailed", s->endpoint.srtp_auth_failed);
    if (s->endpoint.shared_port_unclaimed >= 0)
        set_int(o, "sharedPortUnclaimedPackets", s->endpoint.shared_port_unclaimed);
    return o;
}

/* ElementStats of a mixing hub, with its figures (beyond Kurento's). */
static json_t *mixer(const char *name, const fl_stats *s)
{
    json_t *o = element(name, s, 0);
    const fl_stats_mixer *m = &s->mixer;
    set_int(o, "ports", m->ports);
    set_int(o, "framesIn", m->frames_in);
    set_int(o, "framesDecoded", m->frames_decoded);
    set_int(o, "decodeErrors", m->decode_errors);
    set_int(o, "framesDropped", m->frames_dropped);
    set_int(o, "picturesComposed", m->pictures_composed);
    set_int(o, "framesEncoded", m->frames_encoded);
    set_int(o, "lateTicks", m->late_ticks);
    set_int(o, "cpuMicroseconds", m->cpu_us);
    return o;
}

/* ElementStats of a filter, with its figures (beyond Kurento's). */
static json_t *filter(const char *name, const fl_stats *s)
{
    json_t *o = element(name, s, 0);
    const fl_stats_filter *f = &s->filter;
    set_int(o, "framesIn", f->frames_in);
    set_int(o, "framesDropped", f->frames_dropped);
    set_int(o, "packetsForwarded", f->forwarded);
    set_int(o, "framesDecoded", f->frames_decoded);
    set_int(o, "decodeErrors", f->decode_errors);
    set_int(o, "picturesProcessed", f->processed);
    set_int(o, "picturesSkipped", f->skipped);
    set_int(o, "picturesDrawn", f->drawn);
    set_int(o, "framesEncoded", f->frames_encoded);
    set_int(o, "encoding", f->encoding);
    return o;
}

json_t *fl__stats_json(const char *name, const fl_stats *entries, size_t n)
{
    json_t *map = json_object();
    if (!map)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const fl_stats *s = &entries[i];
        json_t *o;
        const char *cls;
        switch (s->kind) {
        case FL_STATS_ENDPOINT:
            o = element(name, s, 1);
            cls = "EndpointStats";
            break;
        case FL_STATS_INBOUND_RTP:
            o = inbound(s);
            cls = "RTCInboundRTPStreamStats";
            break;
        case FL_STATS_OUTBOUND_RTP:
            o = outbound(s);
            cls = "RTCOutboundRTPStreamStats";
            break;
        case FL_STATS_DATA_CHANNEL:
            o = data_channel(s);
            cls = "RTCDataChannelStats";
            break;
        case FL_STATS_PEER_CONNECTION:
            o = peer_connection(s);
            cls = "RTCPeerConnectionStats";
            break;
        case FL_STATS_MIXER:
            o = mixer(name, s);
            cls = "ElementStats";
            break;
        case FL_STATS_FILTER:
            o = filter(name, s);
            cls = "ElementStats";
            break;
        case FL_STATS_ELEMENT:
        default:
            o = element(name, s, 0);
            cls = "ElementStats";
            break;
        }
        set_str(o, "__module__", "kurento");
        set_str(o, "__type__", cls);
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!id || json_object_set(map, id, o) < 0) {
            json_decref(o);
            json_decref(map);
            return NULL; /* out of memory */
        }
        json_decref(o);
    }
    return map;
}
