/* A file written in order through libuv's file operations. See file_out.h. */
#include "engine/file_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/list.h"
#include "base/log.h"
#include "engine/sim.h"

FL_LOG_TAG("file");

#define DEFAULT_MAX_QUEUED (64u << 20)

typedef struct chunk {
    fl_list node;
    int64_t offset;
    size_t len, done;
    uint8_t data[];
} chunk;

enum {
    OPENING,
    OPEN,
    FAILED,
    SYNCING,
    CLOSING_FD,
    CLOSED
};

struct fl__file_out {
    uv_loop_t *loop;
    uv_fs_t req;
    int sync;    /* a simulated worker: operations complete in the call */
    int state;   /* OPENING .. CLOSED */
    int busy;    /* an operation is running */
    int pumping; /* in pump: a nested call (from a callback) leaves it to it */
    int closing;
    int status; /* the first error, for on_closed */
    uv_file fd;
    fl_list queue; /* chunk.node */
    size_t queued, max_queued;
    int64_t size;
    fl__file_out_callbacks cbs;
    void *arg;
    char path[];
};

static void on_fs(uv_fs_t *req);
static void on_fs_done(uv_fs_t *req);

/* Starts req's operation (`call` passes cb as its callback); in a
 * simulation, or when it fails to start, its result is taken here. */
#define FS_START(f, call)                            \
    do {                                             \
        uv_fs_cb cb = (f)->sync ? NULL : on_fs_done; \
        (f)->busy = 1;                               \
        int rc_ = (call);                            \
        if ((f)->sync || rc_ < 0) {                  \
            if (rc_ < 0)                             \
                (f)->req.result = rc_;               \
            on_fs(&(f)->req);                        \
        }                                            \
    } while (0)

static void drop_queue(fl__file_out *f)
{
    fl_list *n;
    while ((n = fl_list_pop_front(&f->queue)))
        free(fl_container_of(n, chunk, node));
    f->queued = 0;
}

static void fail(fl__file_out *f, const char *what, ssize_t err)
{
    char why[512];
    snprintf(why, sizeof(why), "%s %s: %s", what, f->path, uv_strerror((int)err));
    fl_log(FL_LOG_WARN, "%s", why);
    if (!f->status)
        f->status = FL_EIO;
    drop_queue(f);
    if (f->state == OPENING) {
        f->state = FAILED;
        if (!f->closing && f->cbs.on_open)
            f->cbs.on_open(f->arg, FL_EIO, why);
    } else if (!f->closing && f->cbs.on_error) {
        f->cbs.on_error(f->arg, FL_EIO, why);
    }
}

/* Issues the next operation when none runs: a write, or at the end the
 * sync and the close. */
static void pump(fl__file_out *f)
{
    if (f->pumping)
        return;
    f->pumping = 1;
    while (!f->busy) {
        if (f->state == OPEN && !fl_list_empty(&f->queue)) {
            chunk *c = fl_container_of(f->queue.next, chunk, node);
            uv_buf_t b = uv_buf_init((char *)c->data + c->done, (unsigned)(c->len - c->done));
            FS_START(f,
                     uv_fs_write(f->loop, &f->req, f->fd, &b, 1, c->offset + (int64_t)c->done, cb));
            continue;
        }
        if (!f->closing || f->state == OPENING)
            break;
        if (f->state == OPEN && !f->status) {
            f->state = SYNCING;
            FS_START(f, uv_fs_fdatasync(f->loop, &f->req, f->fd, cb));
        } else if (f->state == OPEN || f->state == SYNCING) { /* synced, or failed */
            f->state = CLOSING_FD;
            FS_START(f, uv_fs_close(f->loop, &f->req, f->fd, cb));
        } else { /* FAILED (no file) or the close done */
            f->state = CLOSED;
            void (*cb)(void *, int) = f->cbs.on_closed;
            void *arg = f->arg;
            int status = f->status;
            free(f);
            if (cb)
                cb(arg, status);
            return;
        }
    }
    f->pumping = 0;
}

static void on_fs(uv_fs_t *req)
{
    fl__file_out *f = fl_container_of(req, fl__file_out, req);
    ssize_t r = req->result;
    uv_fs_type type = req->fs_type;
    uv_fs_req_cleanup(req);
    f->busy = 0;
    switch (type) {
    case UV_FS_OPEN:
        if (r < 0) {
            fail(f, "opening", r);
        } else {
            f->fd = (uv_file)r;
            f->state = OPEN;
            if (!f->closing && f->cbs.on_open)
                f->cbs.on_open(f->arg, 0, NULL);
        }
        break;
    case UV_FS_WRITE: {
        chunk *c = fl_container_of(f->queue.next, chunk, node);
        if (r <= 0) {
            fail(f, "writing", r < 0 ? r : UV_EIO);
            break;
        }
        c->done += (size_t)r;
        if (c->done == c->len) {
            fl_list_remove(&c->node);
            f->queued -= c->len;
            free(c);
        }
        break;
    }
    case UV_FS_FDATASYNC:
        if (r < 0)
            fail(f, "syncing", r);
        break;
    case UV_FS_CLOSE:
        if (r < 0 && !f->status)
            f->status = FL_EIO;
        break;
    default:
        break;
    }
}

/* libuv's callback: the result, then what comes next. */
static void on_fs_done(uv_fs_t *req)
{
    fl__file_out *f = fl_container_of(req, fl__file_out, req);
    on_fs(req);
    pump(f);
}

int fl__file_out_open(fl__file_out **out,
                      uv_loop_t *loop,
                      const char *path,
                      size_t max_queued,
                      const fl__file_out_callbacks *cbs,
                      void *arg)
{
    size_t n = strlen(path) + 1;
    fl__file_out *f = calloc(1, sizeof(*f) + n);
    if (!f)
        return FL_ENOMEM;
    memcpy(f->path, path, n);
    f->loop = loop;
    f->sync = fl__loop_sim(loop) != NULL;
    f->fd = -1;
    f->max_queued = max_queued ? max_queued : DEFAULT_MAX_QUEUED;
    f->cbs = *cbs;
    f->arg = arg;
    fl_list_init(&f->queue);
    f->state = OPENING;
    *out = f;
    f->pumping = 1; /* on_open may write or close: pump below does it */
    FS_START(f, uv_fs_open(loop, &f->req, f->path,
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644, cb));
    f->pumping = 0;
    pump(f);
    return 0;
}

int fl__file_out_write(fl__file_out *f, int64_t offset, const uint8_t *data, size_t len)
{
    if (f->closing)
        return FL_ECLOSED;
    if (f->state == FAILED || f->status)
        return FL_EIO;
    if (len == 0)
        return 0;
    if (f->queued + len > f->max_queued)
        return FL_EBUSY;
    chunk *c = malloc(sizeof(*c) + len);
    if (!c)
        return FL_ENOMEM;
    c->offset = offset < 0 ? f->size : offset;
    c->len = len;
    c->done = 0;
    memcpy(c->data, data, len);
    if (offset < 0)
        f->size += (int64_t)len;
    f->queued += len;
    fl_list_push_back(&f->queue, &c->node);
    pump(f);
    return 0;
}

int64_t fl__file_out_size(const fl__file_out *f)
{
    return f->size;
}

size_t fl__file_out_queued(const fl__file_out *f)
{
    return f->queued;
}

void fl__file_out_close(fl__file_out *f)
{
    if (!f || f->closing)
        return;
    f->closing = 1;
    pump(f);
}
