/* What the UriEndpoint classes (RecorderEndpoint, PlayerEndpoint) share
 * on the rpc side: where their file:// URIs may point, their calls that
 * are the engine's call of the same name, their getters, and the
 * UriEndpointStateChanged event; and whether a URI the server is to read
 * (a file to play, an overlay image) may be read. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/uri.h"
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

int fl__uri_check_readable(call *c,
                           const char *uri,
                           const char *const *network,
                           size_t n_network,
                           const char *schemes_why)
{
    for (size_t i = 0; i < n_network; i++) {
        size_t n = strlen(network[i]);
        if (strncasecmp(uri, network[i], n) != 0)
            continue;
        if (uri[n] && uri[n] != '/')
            return 0;
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "Invalid uri '%.300s': no host", uri);
        return FL_EINVAL;
    }
    const char *why = schemes_why;
    char path[PATH_MAX];
    if (strncasecmp(uri, "file:", 5) != 0 || fl_uri_file_path(uri, path, sizeof(path), &why) < 0) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "Invalid uri '%.300s': %s", uri, why);
        return FL_EINVAL;
    }
    const char *roots = c->rpc->cfg.play_roots;
    /* a file that exists is judged where it really is (a symbolic link in
     * a root to a file outside is outside); one that does not, by its
     * folder (the read then says it is missing) */
    char real[PATH_MAX];
    const char *judged = realpath(path, real) ? real : path;
    if (roots && roots[0] && !fl__uri_inside_roots(roots, judged)) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "Invalid uri '%.300s': files are read only from inside %s "
                     "(fluo.playRoots)",
                     uri, roots);
        return FL_EINVAL;
    }
    return 0;
}
