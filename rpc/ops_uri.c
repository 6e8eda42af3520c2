/* What the UriEndpoint classes (RecorderEndpoint, PlayerEndpoint) share
 * on the rpc side: where their file:// URIs may point, their calls that
 * are the engine's call of the same name, their getters, and the
 * UriEndpointStateChanged event. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"

/* 1 when path (decoded, absolute) is inside one of the ':'-separated
 * roots: its folder, with symbolic links resolved, is a root's (resolved
 * too) or below it. A folder that does not exist is inside none. */
int fl__uri_inside_roots(const char *roots, const char *path)
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

/* record, pause, stop, stopAndWait, play: the engine's call of the same
 * name, with no argument. */
void fl__uri_invoke(call *c, obj *o, json_t *p)
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

const struct op fl__uri_ops[] = {
    { "UriEndpoint", "pause", fl__uri_invoke },
    { "UriEndpoint", "stop", fl__uri_invoke },
    { "UriEndpoint", "getUri", get_text },
    { "UriEndpoint", "getState", get_text },
    { NULL, NULL, NULL },
};

json_t *fl__uri_event(obj *o, const fl_event *ev, const char **type)
{
    static const char *const states[] = { "STOP", "START", "PAUSE" };
    if (ev->type != FL_EVENT_URI_STATE)
        return NULL;
    *type = "UriEndpointStateChanged";
    json_t *data = fl__event_base(o, *type);
    json_object_set_new(data, "state", json_string(states[ev->uri_state.state % 3]));
    return data;
}
