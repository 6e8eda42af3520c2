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

/* 1 when path (decoded, absolute) is inside one of the ':'-separated
 * roots: its folder, with symbolic links resolved, is a root's (resolved
 * too) or below it. A folder that does not exist is inside none. */
static int inside_roots(const char *roots, const char *path)
{
    char dir[PATH_MAX], real_dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    if (!realpath(dir, real_dir))
        return 0;
    for (const char *r = roots; *r;) {
        size_t n = strcspn(r, ":");
        char root[PATH_MAX], real_root[PATH_MAX];
        snprintf(root, sizeof(root), "%.*s", (int)n, r);
        if (root[0] == '/' && realpath(root, real_root)) {
            size_t k = strlen(real_root);
            if (strncmp(real_dir, real_root, k) == 0 &&
                (real_dir[k] == 0 || real_dir[k] == '/' || strcmp(real_root, "/") == 0))
                return 1;
        }
        r += n;
        if (*r == ':')
            r++;
    }
    return 0;
}

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
    if (roots && roots[0] && !inside_roots(roots, path)) {
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

static void call_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else
        fl__call_err(c,
                     status == FL_ESTATE ? KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED
                                         : KE_UNEXPECTED_ERROR,
                     "%s", text && text[0] ? text : fl_strerror(status));
}

/* record, pause, stop, stopAndWait: the engine's call of the same name. */
static void invoke(call *c, obj *o, json_t *p)
{
    (void)p;
    const char *method = json_string_value(json_object_get(c->params, "operation"));
    int rc = fl_element_invoke(o->element, method, NULL, 0, call_done, c);
    if (rc < 0)
        call_done(c, rc, NULL);
}

static void text_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, json_string(text ? text : ""));
    else
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
}

/* getUri, getState: the engine's property ("uri", "state"), a string. */
static void get_text(call *c, obj *o, json_t *p)
{
    (void)p;
    const char *op = json_string_value(json_object_get(c->params, "operation"));
    const char *name = strcmp(op, "getUri") == 0 ? "uri" : "state";
    int rc = fl_element_get_property(o->element, name, text_done, c);
    if (rc < 0)
        text_done(c, rc, NULL);
}

static const struct op ops[] = {
    { "RecorderEndpoint", "record", invoke },
    { "RecorderEndpoint", "stopAndWait", invoke },
    { "UriEndpoint", "pause", invoke },
    { "UriEndpoint", "stop", invoke },
    { "UriEndpoint", "getUri", get_text },
    { "UriEndpoint", "getState", get_text },
    { NULL, NULL, NULL },
};

/* ---- events ---- */

static json_t *event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    static const char *const states[] = { "STOP", "START", "PAUSE" };
    json_t *data = NULL;
    switch (ev->type) {
    case FL_EVENT_URI_STATE:
        *type = "UriEndpointStateChanged";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "state", json_string(states[ev->uri_state.state % 3]));
        break;
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
