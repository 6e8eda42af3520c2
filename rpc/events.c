/* onEvent notifications: shaped as Kurento sends them, delivered once per
 * subscribing session to the connection that session is associated with now. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/time.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

json_t *fl__obj_tags_json(const obj *o)
{
    json_t *arr = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(o->tags, key, v)
    {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:O}", "__module__", "kurento",
                                             "__type__", "Tag", "key", key, "value", v));
    }
    return arr;
}

json_t *fl__event_base(obj *source, const char *type)
{
    char ms[32];
    snprintf(ms, sizeof(ms), "%lld", (long long)fl_time_wall_ms());
    json_t *data = json_pack("{s:s, s:s, s:o}", "source", source->id, "timestampMillis", ms, "tags",
                             source->send_tags ? fl__obj_tags_json(source) : json_array());
    if (type)
        json_object_set_new(data, "type", json_string(type));
    return data;
}

/* Whether session s may hear about `subject` (isolated sessions). */
static int hears_of(const session *s, const obj *subject)
{
    return !subject || subject->creator == s || fl_hmap_get(&s->holds, subject->id) != NULL;
}

static void emit(struct fl_rpc *rpc, obj *o, const char *type, json_t *data, const obj *subject)
{
    uint64_t mark = ++rpc->emit_seq;
    json_t *note = NULL;
    fl_list_foreach (it, &o->subs) {
        sub *sb = fl_container_of(it, sub, obj_node);
        if (strcmp(sb->type, type) != 0 || sb->s->emit_mark == mark)
            continue;
        if (!hears_of(sb->s, subject))
            continue;
        sb->s->emit_mark = mark; /* one copy per session, however many subscriptions */
        if (!sb->s->client)
            continue;
        if (!note) {
            note = json_pack("{s:s, s:s, s:{s:{s:O, s:s, s:s}}}", "jsonrpc", "2.0", "method",
                             "onEvent", "params", "value", "data", data, "object", o->id, "type",
                             type);
        }
        fl__client_send(sb->s->client, note);
        rpc->events_total++;
    }
    json_decref(note);
    json_decref(data);
}

void fl__event_emit(struct fl_rpc *rpc, obj *o, const char *type, json_t *data)
{
    emit(rpc, o, type, data, NULL);
}

void fl__event_emit_about(struct fl_rpc *rpc, const obj *subject, const char *type, json_t *data)
{
    emit(rpc, rpc->manager, type, data, rpc->cfg.isolated ? subject : NULL);
}

static json_t *connection_event(struct fl_rpc *rpc,
                                obj *o,
                                const fl_connection *link,
                                const char *type)
{
    obj *sink = fl__obj_from_element(rpc, link->sink, 1);
    json_t *data = fl__event_base(o, type);
    json_object_set_new(data, "sink", sink ? json_string(sink->id) : json_null());
    json_object_set_new(data, "mediaType", json_string(fl_media_type_name(link->media)));
    json_object_set_new(data, "sourceMediaDescription",
                        json_string(link->source_desc ? link->source_desc : ""));
    json_object_set_new(data, "sinkMediaDescription",
                        json_string(link->sink_desc ? link->sink_desc : ""));
    return data;
}

void fl__engine_event(void *arg, const fl_event *ev)
{
    obj *o = arg;
    struct fl_rpc *rpc = o->rpc;
    if (o->released)
        return;
    const char *type = NULL;
    json_t *data = NULL;
    switch (ev->type) {
    case FL_EVENT_ELEMENT_CONNECTED:
    case FL_EVENT_ELEMENT_DISCONNECTED:
        type = ev->type == FL_EVENT_ELEMENT_CONNECTED ? "ElementConnected" : "ElementDisconnected";
        data = connection_event(rpc, o, &ev->link, type);
        break;
    case FL_EVENT_MEDIA_FLOW_IN:
    case FL_EVENT_MEDIA_FLOW_OUT: {
        const fl_event_media_flow *f = &ev->media_flow;
        type = ev->type == FL_EVENT_MEDIA_FLOW_IN ? "MediaFlowInStateChanged"
                                                  : "MediaFlowOutStateChanged";
        data = fl__event_base(o, type);
        json_object_set_new(data, "state", json_string(f->flowing ? "FLOWING" : "NOT_FLOWING"));
        json_object_set_new(data, "padName", json_string(f->desc ? f->desc : "default"));
        json_object_set_new(data, "mediaType", json_string(fl_media_type_name(f->media)));
        break;
    }
    case FL_EVENT_ERROR: {
        const fl_event_error *err = &ev->error;
        type = "Error";
        data = fl__event_base(o, NULL);
        json_object_set_new(data, "description",
                            json_string(err->description ? err->description : ""));
        json_object_set_new(data, "errorCode", json_integer(0)); /* the engine's carry none */
        json_object_set_new(data, "type", json_string(err->type ? err->type : "UNEXPECTED_ERROR"));
        break;
    }
    default:
        data = o->impl && o->impl->event ? o->impl->event(rpc, o, ev, &type) : NULL;
        break;
    }
    if (type)
        fl__event_emit(rpc, o, type, data);
}
