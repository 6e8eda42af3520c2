/* PlayerEndpoint's row: its constructor's rules (a file:// URI inside
 * fluo.playRoots, or http://, https://, rtsp://, rtspt://), its calls
 * (play, pause, stop, getVideoInfo, getPosition, setPosition, getUri,
 * getState) and its events (EndOfStream, UriEndpointStateChanged). The
 * engine side is engine/player.c. */
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/uri.h"
#include "rpc/rpc_int.h"

#define KE_PLAYER_SEEK_FAIL 40700

/* ---- the constructor ---- */

static int check_ctor(call *c, json_t *ctor)
{
    const char *uri = json_string_value(json_object_get(ctor, "uri"));
    if (!uri) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "Invalid uri '': missing");
        return FL_EINVAL;
    }
    static const char *const network[] = { "http://", "https://", "rtsp://", "rtspt://" };
    return fl__uri_check_readable(c, uri, network, sizeof(network) / sizeof(*network),
                                  "only file://, http://, https://, rtsp:// and rtspt:// URIs "
                                  "are played");
}

static int configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    (void)rpc;
    const char *uri = json_string_value(json_object_get(ctor, "uri"));
    int rc = fl_element_set_property(e, "uri", uri ? uri : "", NULL, NULL);
    json_t *enc = json_object_get(ctor, "useEncodedMedia");
    if (rc == 0 && json_is_boolean(enc))
        rc = fl_element_set_property(e, "useEncodedMedia", json_is_true(enc) ? "true" : "false",
                                     NULL, NULL);
    json_t *cache = json_object_get(ctor, "networkCache");
    if (rc == 0 && json_is_integer(cache)) {
        char v[32];
        snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT, json_integer_value(cache));
        rc = fl_element_set_property(e, "networkCache", v, NULL, NULL);
    }
    return rc;
}

/* ---- calls ---- */

static void info_done(void *arg, int status, const char *text)
{
    call *c = arg;
    int seekable = 0;
    long long init = 0, end = 0, duration = 0;
    if (status < 0 || !text ||
        sscanf(text, "%d %lld %lld %lld", &seekable, &init, &end, &duration) != 4) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s",
                     text && text[0] ? text : fl_strerror(status < 0 ? status : FL_EPROTO));
        return;
    }
    json_t *v = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I}", "__module__", "kurento", "__type__",
                          "VideoInfo", "isSeekable", seekable, "seekableInit", (json_int_t)init,
                          "seekableEnd", (json_int_t)end, "duration", (json_int_t)duration);
    fl__call_ok(c, v);
}

static void get_video_info(call *c, obj *o, json_t *p)
{
    (void)p;
    int rc = fl_element_invoke(o->element, "getVideoInfo", NULL, 0, info_done, c);
    if (rc < 0)
        info_done(c, rc, NULL);
}

static void position_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status < 0 || !text)
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", text && text[0] ? text : fl_strerror(status));
    else
        fl__call_ok(c, json_integer(strtoll(text, NULL, 10)));
}

static void get_position(call *c, obj *o, json_t *p)
{
    (void)p;
    int rc = fl_element_invoke(o->element, "getPosition", NULL, 0, position_done, c);
    if (rc < 0)
        position_done(c, rc, NULL);
}

static void seek_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else
        fl__call_err(c, KE_PLAYER_SEEK_FAIL, "%s", text && text[0] ? text : fl_strerror(status));
}

static void set_position(call *c, obj *o, json_t *p)
{
    json_t *pos = json_object_get(p, "position");
    if (!json_is_integer(pos) || json_integer_value(pos) < 0) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'position' parameter should be a non-negative integer");
        return;
    }
    if (json_integer_value(pos) > INT64_MAX / 1000) {
        fl__call_err(c, KE_PLAYER_SEEK_FAIL, "position %" JSON_INTEGER_FORMAT " ms is out of range",
                     json_integer_value(pos));
        return;
    }
    char v[32];
    snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT, json_integer_value(pos));
    const char *args[] = { v };
    int rc = fl_element_invoke(o->element, "setPosition", args, 1, seek_done, c);
    if (rc < 0)
        seek_done(c, rc, NULL);
}

static const struct op ops[] = {
    { "PlayerEndpoint", "play", fl__uri_invoke },
    { "PlayerEndpoint", "getVideoInfo", get_video_info },
    { "PlayerEndpoint", "getPosition", get_position },
    { "PlayerEndpoint", "setPosition", set_position },
    { NULL, NULL, NULL },
};

/* ---- events ---- */

static json_t *event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    if (ev->type == FL_EVENT_END_OF_STREAM) {
        *type = "EndOfStream";
        return fl__event_base(o, *type);
    }
    return fl__uri_event(o, ev, type);
}

const rpc_class fl__class_player = {
    .name = "PlayerEndpoint",
    .engine_type = FL_ELEMENT_PLAYER,
    .ops = ops,
    .check_ctor = check_ctor,
    .configure = configure,
    .event = event,
};
