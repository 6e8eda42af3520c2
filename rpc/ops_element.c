/* Operations of MediaObject, MediaElement and MediaPipeline. */
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

static json_t *id_or_null(const obj *o)
{
    return o ? json_string(o->id) : json_null();
}

/* ---- MediaObject ---- */

static void get_media_pipeline(call *c, obj *o, json_t *p)
{
    (void)p;
    obj *pipe = o->parent ? o->parent : (o->pipeline ? o : NULL);
    fl__call_ok(c, id_or_null(pipe));
}

static void get_parent(call *c, obj *o, json_t *p)
{
    (void)p;
    fl__call_ok(c, id_or_null(o->parent));
}

static void get_id(call *c, obj *o, json_t *p)
{
    (void)p;
    fl__call_ok(c, json_string(o->id));
}

static void get_children(call *c, obj *o, json_t *p)
{
    (void)p;
    json_t *arr = json_array();
    fl_list_foreach (it, &o->children) {
        obj *child = fl_container_of(it, obj, child_node);
        if (fl__call_sees(c, child))
            json_array_append_new(arr, json_string(child->id));
    }
    fl__call_ok(c, arr);
}

static void get_name(call *c, obj *o, json_t *p)
{
    (void)p;
    fl__call_ok(c, json_string(fl__obj_name(o)));
}

static int too_long(call *c, const char *what, const char *text, size_t max)
{
    if (strlen(text) <= max)
        return 0;
    fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "%s is longer than %zu bytes", what, max);
    return 1;
}

static void set_name(call *c, obj *o, json_t *p)
{
    if (too_long(c, "name", pstr(p, "name"), FL_MAX_TEXT))
        return;
    char *name = strdup(pstr(p, "name"));
    if (!name) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    free(o->name);
    o->name = name;
    fl__call_ok(c, NULL);
}

static void get_send_tags(call *c, obj *o, json_t *p)
{
    (void)p;
    fl__call_ok(c, json_boolean(o->send_tags));
}

static void set_send_tags(call *c, obj *o, json_t *p)
{
    o->send_tags = json_is_true(json_object_get(p, "sendTagsInEvents"));
    fl__call_ok(c, NULL);
}

static void get_creation_time(call *c, obj *o, json_t *p)
{
    (void)p;
    fl__call_ok(c, json_integer(o->creation_time));
}

static void add_tag(call *c, obj *o, json_t *p)
{
    if (too_long(c, "tag key", pstr(p, "key"), FL_MAX_TEXT) ||
        too_long(c, "tag value", pstr(p, "value"), FL_MAX_TEXT))
        return;
    if (!json_object_get(o->tags, pstr(p, "key")) && json_object_size(o->tags) >= FL_MAX_TAGS) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "An object holds at most %d tags",
                     FL_MAX_TAGS);
        return;
    }
    json_object_set(o->tags, pstr(p, "key"), json_object_get(p, "value"));
    fl__call_ok(c, NULL);
}

static void remove_tag(call *c, obj *o, json_t *p)
{
    json_object_del(o->tags, pstr(p, "key"));
    fl__call_ok(c, NULL);
}

static void get_tag(call *c, obj *o, json_t *p)
{
    json_t *v = json_object_get(o->tags, pstr(p, "key"));
    if (!v) {
        fl__call_err(c, KE_MEDIA_OBJECT_TAG_KEY_NOT_FOUND, "Tag key '%.100s' not found",
                     pstr(p, "key"));
        return;
    }
    fl__call_ok(c, json_incref(v));
}

static void get_tags(call *c, obj *o, json_t *p)
{
    (void)p;
    fl__call_ok(c, fl__obj_tags_json(o));
}

/* Simple properties kept by the object (their effect belongs to elements
 * that read them, such as transcoders). */
static json_t *stored_default(const char *name)
{
    if (strcmp(name, "encoderBitrate") == 0)
        return json_integer(300000);
    if (strcmp(name, "minEncoderBitrate") == 0 || strcmp(name, "maxEncoderBitrate") == 0)
        return json_integer(0);
    return json_false(); /* latencyStats */
}

static void get_stored(call *c, obj *o, json_t *p)
{
    (void)p;
    char name[64];
    const char *op = c->method ? json_string_value(json_object_get(c->params, "operation")) : "";
    snprintf(name, sizeof(name), "%c%s", op[3] - 'A' + 'a', op + 4);
    json_t *v = json_object_get(o->props, name);
    fl__call_ok(c, v ? json_incref(v) : stored_default(name));
}

static void set_stored(call *c, obj *o, json_t *p)
{
    const char *key;
    json_t *v;
    json_object_foreach(p, key, v)
    {
        json_object_set(o->props, key, v);
    }
    fl__call_ok(c, NULL);
}

/* ---- MediaElement ---- */

static unsigned media_mask(json_t *p)
{
    const char *t = pstr(p, "mediaType");
    return t ? fl_media_type_parse(t) : FL_MEDIA_ALL;
}

static void engine_done(void *arg, int status)
{
    call *c = arg;
    if (status == FL_EINVAL)
        fl__call_err(c, KE_CONNECT_ERROR, "Elements are not in the same pipeline");
    else if (status == FL_ERANGE)
        fl__call_err(c, KE_CONNECT_ERROR,
                     "Too many media descriptions on one element: at most %d pads of each "
                     "direction (media types times descriptions)",
                     FL_ELEMENT_MAX_PAD_PAIRS);
    else if (status != 0)
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
    else
        fl__call_ok(c, NULL);
}

static void connect_or_disconnect(call *c, obj *o, json_t *p, int connect)
{
    obj *sink = fl__call_find(c, pstr(p, "sink"));
    if (!sink || !sink->element || !o->element) {
        fl__call_err(c, KE_MEDIA_OBJECT_NOT_FOUND, "Object '%.200s' not found", pstr(p, "sink"));
        return;
    }
    if (sink->parent != o->parent) {
        fl__call_err(c, KE_CONNECT_ERROR, "Elements are not in the same pipeline");
        return;
    }
    const char *src_desc = pstr(p, "sourceMediaDescription");
    const char *sink_desc = pstr(p, "sinkMediaDescription");
    if ((src_desc && too_long(c, "sourceMediaDescription", src_desc, FL_MAX_DESCRIPTION)) ||
        (sink_desc && too_long(c, "sinkMediaDescription", sink_desc, FL_MAX_DESCRIPTION)))
        return;
    c->other = sink;
    fl__obj_ref(sink);
    int rc = (connect ? fl_element_connect : fl_element_disconnect)(
            o->element, sink->element, media_mask(p), src_desc, sink_desc, engine_done, c);
    if (rc < 0)
        engine_done(c, rc);
}

static void el_connect(call *c, obj *o, json_t *p)
{
    connect_or_disconnect(c, o, p, 1);
}

static void el_disconnect(call *c, obj *o, json_t *p)
{
    connect_or_disconnect(c, o, p, 0);
}

static void connections_done(void *arg, int status, const fl_connection *conns, size_t n)
{
    call *c = arg;
    if (status != 0) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        obj *src = fl__obj_from_element(c->rpc, conns[i].source, 0);
        obj *sink = fl__obj_from_element(c->rpc, conns[i].sink, 0);
        if (!src || !sink)
            continue; /* one end is being released */
        if (!fl__call_sees(c, src) || !fl__call_sees(c, sink))
            continue; /* another session's (isolated sessions) */
        json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "__module__", "kurento",
                          "__type__", "ElementConnectionData", "source", src->id, "sink", sink->id,
                          "type", fl_media_type_name(conns[i].media), "sourceDescription",
                          conns[i].source_desc ? conns[i].source_desc : "", "sinkDescription",
                          conns[i].sink_desc ? conns[i].sink_desc : ""));
    }
    fl__call_ok(c, arr);
}

static void get_connections(call *c, obj *o, json_t *p, int dir)
{
    if (!o->element) {
        fl__call_ok(c, json_array());
        return;
    }
    int rc = fl_element_get_connections(o->element, dir, media_mask(p), pstr(p, "description"),
                                        connections_done, c);
    if (rc < 0)
        connections_done(c, rc, NULL, 0);
}

/* Kurento's naming is from the pads' side: an element's "source connections"
 * are those feeding its sink pads, its "sink connections" those leaving its
 * source pads. */
static void el_source_connections(call *c, obj *o, json_t *p)
{
    get_connections(c, o, p, FL_DIR_SINK);
}

static void el_sink_connections(call *c, obj *o, json_t *p)
{
    get_connections(c, o, p, FL_DIR_SOURCE);
}

static void dot_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status != 0)
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
    else
        fl__call_ok(c, json_string(text));
}

static void get_dot(call *c, obj *o, json_t *p)
{
    (void)p;
    obj *pipe = o->pipeline ? o : o->parent;
    int rc = fl_pipeline_get_dot(pipe->pipeline, dot_done, c);
    if (rc < 0)
        dot_done(c, rc, NULL);
}

static void flowing_done(void *arg, int status, int value)
{
    call *c = arg;
    if (status != 0)
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
    else
        fl__call_ok(c, json_boolean(value));
}

static void is_flowing(call *c, obj *o, json_t *p, int dir)
{
    int rc = fl_element_is_flowing(o->element, dir, media_mask(p), flowing_done, c);
    if (rc < 0)
        flowing_done(c, rc, 0);
}

static void el_flowing_in(call *c, obj *o, json_t *p)
{
    is_flowing(c, o, p, FL_DIR_SINK);
}

static void el_flowing_out(call *c, obj *o, json_t *p)
{
    is_flowing(c, o, p, FL_DIR_SOURCE);
}

static void el_transcoding(call *c, obj *o, json_t *p)
{
    int rc = fl_element_is_transcoding(o->element, media_mask(p), flowing_done, c);
    if (rc == FL_EINVAL)
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "mediaType must be AUDIO or VIDEO");
    else if (rc < 0)
        flowing_done(c, rc, 0);
}

/* ---- formats: setAudioFormat, setVideoFormat, encoder bitrates ---- */

static void format_done(void *arg, int status)
{
    call *c = arg;
    if (status != 0)
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "%s", fl_strerror(status));
    else
        fl__call_ok(c, NULL);
}

/* An int member of caps, within lo..hi; absent: 0. -1 when bad. */
static int caps_int(json_t *caps, const char *name, int lo, int hi)
{
    json_t *v = json_object_get(caps, name);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    return (int)json_integer_value(v);
}

/* AudioCaps {codec: OPUS|PCMU|PCMA|RAW, bitrate (bit/s)} or VideoCaps
 * {codec: VP8|VP9|H264|H265|AV1|RAW, framerate: Fraction} and, as fluo's
 * extension, width and height (the largest size, aspect kept): what the
 * element outputs from now on, transcoding where its input differs. */
static void set_format(call *c, obj *o, json_t *p, int video)
{
    const char *cls = o->cls->name;
    if (strcmp(cls, "WebRtcEndpoint") != 0 && strcmp(cls, "RecorderEndpoint") != 0) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "%s does not take a %s format (WebRtcEndpoint and RecorderEndpoint do)", cls,
                     video ? "video" : "audio");
        return;
    }
    json_t *caps = json_object_get(p, "caps");
    const char *codec = json_string_value(json_object_get(caps, "codec"));
    if (!json_is_object(caps) || !codec) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "caps must be an object with a codec");
        return;
    }
    static const char *const vcodecs[] = { "VP8", "VP9", "H264", "H265", "AV1", "RAW", NULL };
    static const char *const acodecs[] = { "OPUS", "PCMU", "PCMA", "RAW", NULL };
    const char *const *names = video ? vcodecs : acodecs;
    size_t i = 0;
    while (names[i] && strcmp(names[i], codec) != 0)
        i++;
    if (!names[i]) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "codec %s is not a %s", codec,
                     video ? "VideoCodec" : "AudioCodec");
        return;
    }
    if (strcmp(codec, "H265") == 0 || strcmp(codec, "AV1") == 0 || strcmp(codec, "RAW") == 0) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "fluo has no %s encoder: it outputs %s", codec,
                     video ? "VP8, VP9 or H264" : "OPUS, PCMU or PCMA");
        return;
    }
    char v[160];
    if (video) {
        json_t *fr = json_object_get(caps, "framerate");
        int fps = 0;
        if (fr) {
            int num = caps_int(fr, "numerator", 0, 1000000),
                den = caps_int(fr, "denominator", 1, 1000000);
            fps = num >= 0 && den > 0 ? (num + den - 1) / den : -1;
            if (fps < 0 || fps > 120) {
                fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                             "framerate must be a Fraction of at most 120 frames a second");
                return;
            }
        }
        int w = caps_int(caps, "width", 0, 8192), h = caps_int(caps, "height", 0, 8192);
        if (w < 0 || h < 0) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "width and height must be 0..8192");
            return;
        }
        snprintf(v, sizeof(v), "codec=%s;fps=%d;width=%d;height=%d", codec, fps, w, h);
    } else {
        int bps = caps_int(caps, "bitrate", 0, 510000);
        if (bps < 0 || (bps && strcmp(codec, "OPUS") == 0 && bps < 6000)) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "bitrate must be 0 (the codec's own) or 6000..510000 bit/s");
            return;
        }
        snprintf(v, sizeof(v), "codec=%s;kbps=%d", strcmp(codec, "OPUS") == 0 ? "opus" : codec,
                 bps / 1000);
    }
    int rc = fl_element_set_property(o->element, video ? "videoFormat" : "audioFormat", v,
                                     format_done, c);
    if (rc < 0)
        format_done(c, rc);
}

static void el_set_video_format(call *c, obj *o, json_t *p)
{
    set_format(c, o, p, 1);
}

static void el_set_audio_format(call *c, obj *o, json_t *p)
{
    set_format(c, o, p, 0);
}

/* encoderBitrate, minEncoderBitrate, maxEncoderBitrate: kept here for the
 * getter and given to the element's transcoders. */
static void set_encoder_bitrate(call *c, obj *o, json_t *p)
{
    const char *op = json_string_value(json_object_get(c->params, "operation"));
    char name[64];
    snprintf(name, sizeof(name), "%c%s", op[3] - 'A' + 'a', op + 4);
    json_t *v = json_object_get(p, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "%s must be 0..1000000000 bit/s",
                     name);
        return;
    }
    json_object_set(o->props, name, v);
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
    int rc = fl_element_set_property(o->element, name, num, format_done, c);
    if (rc < 0)
        format_done(c, rc);
}

/* ---- stats ---- */

static void stats_done(void *arg, int status, const fl_stats *entries, size_t n)
{
    call *c = arg;
    if (status != 0) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
        return;
    }
    json_t *map = fl__stats_json(fl_element_name(c->target->element), entries, n);
    if (!map) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    fl__call_ok(c, map);
}

static void get_stats(call *c, obj *o, json_t *p)
{
    const char *t = pstr(p, "mediaType");
    unsigned media = t ? fl_media_type_parse(t) : FL_MEDIA_ALL;
    if (!o->element) {
        fl__call_err(c, KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED, "Not a media element");
        return;
    }
    int rc = fl_element_get_stats(o->element, media ? media : FL_MEDIA_ALL, stats_done, c);
    if (rc < 0)
        stats_done(c, rc, NULL, 0);
}

const struct op fl__ops[] = {
    { "MediaElement", "getStats", get_stats },
    { "MediaObject", "getMediaPipeline", get_media_pipeline },
    { "MediaObject", "getParent", get_parent },
    { "MediaObject", "getId", get_id },
    { "MediaObject", "getChildren", get_children },
    { "MediaObject", "getName", get_name },
    { "MediaObject", "setName", set_name },
    { "MediaObject", "getSendTagsInEvents", get_send_tags },
    { "MediaObject", "setSendTagsInEvents", set_send_tags },
    { "MediaObject", "getCreationTime", get_creation_time },
    { "MediaObject", "addTag", add_tag },
    { "MediaObject", "removeTag", remove_tag },
    { "MediaObject", "getTag", get_tag },
    { "MediaObject", "getTags", get_tags },
    { "MediaElement", "connect", el_connect },
    { "MediaElement", "disconnect", el_disconnect },
    { "MediaElement", "getSourceConnections", el_source_connections },
    { "MediaElement", "getSinkConnections", el_sink_connections },
    { "MediaElement", "getGstreamerDot", get_dot },
    { "MediaElement", "isMediaFlowingIn", el_flowing_in },
    { "MediaElement", "isMediaFlowingOut", el_flowing_out },
    { "MediaElement", "isMediaTranscoding", el_transcoding },
    { "MediaElement", "getEncoderBitrate", get_stored },
    { "MediaElement", "setEncoderBitrate", set_encoder_bitrate },
    { "MediaElement", "getMinEncoderBitrate", get_stored },
    { "MediaElement", "setMinEncoderBitrate", set_encoder_bitrate },
    { "MediaElement", "getMaxEncoderBitrate", get_stored },
    { "MediaElement", "setMaxEncoderBitrate", set_encoder_bitrate },
    { "MediaElement", "setVideoFormat", el_set_video_format },
    { "MediaElement", "setAudioFormat", el_set_audio_format },
    { "MediaPipeline", "getGstreamerDot", get_dot },
    { "Hub", "getGstreamerDot", get_dot },
    { "MediaPipeline", "getLatencyStats", get_stored },
    { "MediaPipeline", "setLatencyStats", set_stored },
    { "ServerManager", "getInfo", fl__sm_get_info },
    { "ServerManager", "getPipelines", fl__sm_get_pipelines },
    { "ServerManager", "getSessions", fl__sm_get_sessions },
    { "ServerManager", "getMetadata", fl__sm_get_metadata },
    { "ServerManager", "getKmd", fl__sm_get_kmd },
    { "ServerManager", "getCpuCount", fl__sm_get_cpu_count },
    { "ServerManager", "getUsedCpu", fl__sm_get_used_cpu },
    { "ServerManager", "getUsedMemory", fl__sm_get_used_memory },
    { NULL, NULL, NULL },
};
