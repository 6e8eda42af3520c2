/* RecorderEndpoint's row: its constructor's rules (a file:// URI inside
 * fluo.recordRoots, a profile a container here holds), its calls (record,
 * pause, stop, stopAndWait, getUri, getState) and its events (Recording,
 * Paused, Stopped, UriEndpointStateChanged). The engine side is
 * engine/recorder.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/uri.h"
#include "rpc/rpc_int.h"

/* ---- the constructor ---- */

/* Profiles of Kurento's MediaProfileSpecType that fluo does not write. */
static const char *const unsupported_profiles[] = { "JPEG_VIDEO_ONLY", "KURENTO_SPLIT_RECORDER",
                                                    "FLV" };

static int check_ctor(call *c, json_t *ctor)
{
    const char *uri = json_string_value(json_object_get(ctor, "uri"));
    const char *why = "missing";
    char path[PATH_MAX];
    if (!uri || fl_uri_file_path(uri, path, sizeof(path), &why) < 0) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "Invalid uri '%.300s': %s",
                     uri ? uri : "", why);
        return FL_EINVAL;
    }
    const char *roots = c->rpc->cfg.record_roots;
    if (roots && roots[0] && !fl__uri_inside_roots(roots, path)) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "Invalid uri '%.300s': recordings are written only inside %s "
                     "(fluo.recordRoots), in folders that exist",
                     uri, roots);
        return FL_EINVAL;
    }
    const char *profile = json_string_value(json_object_get(ctor, "mediaProfile"));
    for (size_t i = 0; profile && i < sizeof(unsupported_profiles) / sizeof(*unsupported_profiles);
         i++) {
        if (strcmp(profile, unsupported_profiles[i]) == 0) {
            fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                         "mediaProfile %s is not supported: fluo records WEBM, MKV and MP4 "
                         "(and their _VIDEO_ONLY and _AUDIO_ONLY forms)",
                         profile);
            return FL_EINVAL;
        }
    }
    return 0;
}

static int configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    (void)rpc;
    const char *uri = json_string_value(json_object_get(ctor, "uri"));
    const char *profile = json_string_value(json_object_get(ctor, "mediaProfile"));
    int rc = fl_element_set_property(e, "uri", uri ? uri : "", NULL, NULL);
    if (rc == 0 && profile)
        rc = fl_element_set_property(e, "mediaProfile", profile, NULL, NULL);
    if (rc == 0 && json_is_true(json_object_get(ctor, "stopOnEndOfStream")))
        rc = fl_element_set_property(e, "stopOnEndOfStream", "true", NULL, NULL);
    return rc;
}

/* ---- calls ---- */

static const struct op ops[] = {
    { "RecorderEndpoint", "record", fl__uri_invoke },
    { "RecorderEndpoint", "stopAndWait", fl__uri_invoke },
    { NULL, NULL, NULL },
};

/* ---- events ---- */

static json_t *event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    json_t *data = fl__uri_event(o, ev, type);
    switch (ev->type) {
    case FL_EVENT_RECORDING:
        *type = "Recording";
        data = fl__event_base(o, *type);
        break;
    case FL_EVENT_PAUSED:
        *type = "Paused";
        data = fl__event_base(o, *type);
        break;
    case FL_EVENT_STOPPED:
        *type = "Stopped";
        data = fl__event_base(o, *type);
        break;
    default:
        break;
    }
    return data;
}

const rpc_class fl__class_recorder = {
    .name = "RecorderEndpoint",
    .engine_type = FL_ELEMENT_RECORDER,
    .ops = ops,
    .check_ctor = check_ctor,
    .configure = configure,
    .event = event,
};
