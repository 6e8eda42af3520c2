/* HttpPostEndpoint: a WebM or Matroska stream uploaded over HTTP (the
 * control server's /httppost/ route hands its bytes to fl_element_write)
 * played into the pipeline as a PlayerEndpoint plays a file: the player
 * (engine/player.c) fed by a push source (engine/bytes_push.c). Its
 * properties: disconnectionTimeout (seconds: how long the stream waits
 * for more bytes, a next POST, before it ends) and useEncodedMedia
 * (Kurento's, deprecated there; taken and kept, it changes nothing: fluo
 * never decodes what it forwards). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/engine_int.h"
#include "engine/player_int.h"

#define TIMEOUT_DEFAULT 2    /* seconds, Kurento's */
#define TIMEOUT_MAX     3600 /* seconds */

static fl_time idle_of(long seconds)
{
    return seconds > 0 ? (fl_time)seconds * FL_TIME_SEC : 1; /* 0: at once */
}

static int http_post_init(fl_element *e)
{
    return fl__player_init_fed(e, idle_of(TIMEOUT_DEFAULT));
}

static int http_post_set_property(fl_element *e, const char *name, const char *value)
{
    if (strcmp(name, "disconnectionTimeout") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (!*value || *end || v < 0 || v > TIMEOUT_MAX)
            return FL_EINVAL;
        fl__player_set_idle(e, idle_of(v));
        return 0;
    }
    if (strcmp(name, "useEncodedMedia") == 0)
        return fl__player_set_property(e, name, value);
    return FL_ENOTSUP;
}

static int http_post_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    if (strcmp(name, "disconnectionTimeout") == 0) {
        snprintf(out, cap, "%lld", (long long)(fl__player_idle(e) / FL_TIME_SEC));
        return 0;
    }
    if (strcmp(name, "useEncodedMedia") == 0)
        return fl__player_get_property(e, name, out, cap);
    return FL_ENOTSUP;
}

const fl__element_type fl__http_post_type = {
    .name = FL_ELEMENT_HTTP_POST,
    .receive = fl__player_receive,
    .init = http_post_init,
    .fini = fl__player_fini,
    .key_frame = fl__player_key_frame,
    .caps = fl__player_caps,
    .set_property = http_post_set_property,
    .get_property = http_post_get_property,
    .stats = fl__player_stats,
    .sender_report = fl__player_sender_report,
};

/* ---- the public calls ---- */

static void element_write_run(fl__call *c)
{
    if (c->element->dead) {
        fl__call_text(c, FL_ECLOSED, "the element was released");
        return;
    }
    fl__deferred d = { .engine = c->worker->engine, .reply = fl__call_reply(c, 0) };
    fl__player_write(c->element, c->data, c->len, d);
}

int fl_element_write(fl_element *e, const void *data, size_t len, fl_text_fn cb, void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (e->type != &fl__http_post_type)
        return FL_ENOTSUP;
    if ((!data && len) || !cb)
        return FL_EINVAL;
    if (len > FL_ENGINE_WRITE_MAX)
        return FL_EMSGSIZE;
    fl__call *c;
    if ((rc = fl__element_call(e, element_write_run, data, len, &c)) < 0)
        return rc;
    c->cb.text = cb;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_TEXT);
}

static void element_write_end_run(fl__call *c)
{
    if (!c->element->dead)
        fl__player_write_end(c->element);
    fl__call_done(c, c->element->dead ? FL_ECLOSED : 0);
}

int fl_element_write_end(fl_element *e, fl_done_fn done, void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (e->type != &fl__http_post_type)
        return FL_ENOTSUP;
    return fl__element_post_done(e, element_write_end_run, done, arg);
}
