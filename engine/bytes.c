/* Byte sources (engine/player_src.h): the dispatch by scheme, and
 * file:// itself, read with libuv's file operations (its thread pool). On
 * a simulated worker the operations run synchronously and their results
 * are delivered from a deadline at the current virtual time, so a callback
 * never runs inside the call that asked. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/uri.h"
#include "engine/deadline.h"
#include "engine/player_src.h"

#define PATH_LEN 4096
/* Largest single read: the demuxer's read-ahead asks for about this. */
#define MAX_READ (4u << 20)

typedef struct file_src {
    fl__bytes base;
    uv_loop_t *loop;
    fl__bytes_cb cb;
    void *arg;
    char path[PATH_LEN];
    uv_fs_t req;
    int busy;    /* an operation is in flight (real loop) or its result waits */
    int sync;    /* a simulated worker */
    int closing; /* fl__bytes_close was called */
    int pending; /* the deadline's close, an operation in flight */
    uv_file fd;  /* -1 when not open */
    int opened;
    int64_t size;
    int64_t read_off;
    uint8_t *buf;
    size_t cap;

    /* the result waiting for delivery */
    enum {
        R_NONE,
        R_OPENED,
        R_DATA,
        R_FAILED
    } result;

    int status;
    size_t got;
    char why[PATH_LEN + 128];
    fl__deadline later;
} file_src;

static void file_free_if_done(file_src *f)
{
    if (f->pending > 0)
        return;
    if (f->fd >= 0) {
        uv_fs_t req;
        uv_fs_close(NULL, &req, f->fd, NULL);
        uv_fs_req_cleanup(&req);
    }
    free(f->buf);
    free(f);
}

static void deliver(file_src *f)
{
    int r = f->result;
    f->result = R_NONE;
    f->busy = 0;
    if (f->closing)
        return;
    switch (r) {
    case R_OPENED:
        f->opened = 1;
        f->cb.opened(f->arg, f->size, 1);
        break;
    case R_DATA:
        f->cb.data(f->arg, f->read_off, f->buf, f->got);
        break;
    case R_FAILED:
        f->cb.failed(f->arg, f->status, f->why);
        break;
    default:
        break;
    }
}

static void on_later(uv_timer_t *t)
{
    deliver(t->data);
}

static void fail(file_src *f, int status, const char *what, ssize_t uverr)
{
    f->result = R_FAILED;
    f->status = status;
    snprintf(f->why, sizeof(f->why), "%s %s: %s", what, f->path, uv_strerror((int)uverr));
}

/* An operation finished (in the thread pool's callback, or synchronously
 * on a simulated worker): its result is delivered now, or from the
 * deadline when the call that asked is still on the stack. */
static void finished(file_src *f)
{
    if (f->sync)
        fl__deadline_arm(&f->later, fl__clock_now(f->loop), fl__clock_now(f->loop));
    else
        deliver(f);
}

/* The end of a read or a stat: the object freed if it was closed meanwhile
 * (real loop), the result delivered otherwise. */
static void op_done(file_src *f)
{
    if (!f->sync)
        f->pending--;
    if (f->closing && !f->sync)
        file_free_if_done(f);
    else
        finished(f);
}

static void on_read(uv_fs_t *req)
{
    file_src *f = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n < 0) {
        fail(f, FL_EIO, "reading", n);
    } else {
        f->result = R_DATA;
        f->got = (size_t)n;
    }
    op_done(f);
}

static void on_stat(uv_fs_t *req)
{
    file_src *f = req->data;
    ssize_t rc = req->result;
    if (rc == 0) {
        f->size = (int64_t)req->statbuf.st_size;
        if ((req->statbuf.st_mode & S_IFMT) != S_IFREG) {
            f->result = R_FAILED;
            f->status = FL_EINVAL;
            snprintf(f->why, sizeof(f->why), "%s is not a regular file", f->path);
        } else {
            f->result = R_OPENED;
        }
    } else {
        fail(f, FL_EIO, "reading the size of", rc);
    }
    uv_fs_req_cleanup(req);
    op_done(f);
}

static void on_open(uv_fs_t *req)
{
    file_src *f = req->data;
    ssize_t rc = req->result;
    uv_fs_req_cleanup(req);
    if (rc >= 0)
        f->fd = (uv_file)rc;
    if (f->closing && !f->sync) {
        f->pending--;
        file_free_if_done(f);
        return;
    }
    if (rc < 0) {
        if (!f->sync)
            f->pending--;
        fail(f, rc == UV_ENOENT ? FL_ENOENT : FL_EIO, "opening", rc);
        finished(f);
        return;
    }
    f->req.data = f;
    if (f->sync) {
        uv_fs_fstat(f->loop, &f->req, f->fd, NULL);
        on_stat(&f->req);
        return;
    }
    rc = uv_fs_fstat(f->loop, &f->req, f->fd, on_stat);
    if (rc < 0) {
        f->pending--;
        fail(f, FL_EIO, "reading the size of", rc);
        finished(f);
    }
}

static int file_read(fl__bytes *b, int64_t offset, size_t len)
{
    file_src *f = (file_src *)b;
    if (f->busy || !f->opened)
        return f->busy ? FL_EBUSY : FL_ESTATE;
    if (offset < 0 || len == 0)
        return FL_EINVAL;
    if (len > MAX_READ)
        len = MAX_READ;
    if (len > f->cap) {
        uint8_t *nb = realloc(f->buf, len);
        if (!nb)
            return FL_ENOMEM;
        f->buf = nb;
        f->cap = len;
    }
    f->busy = 1;
    f->read_off = offset;
    f->req.data = f;
    uv_buf_t ub = uv_buf_init((char *)f->buf, (unsigned)len);
    if (f->sync) {
        f->req.result = uv_fs_read(f->loop, &f->req, f->fd, &ub, 1, offset, NULL);
        on_read(&f->req);
        return 0;
    }
    int rc = uv_fs_read(f->loop, &f->req, f->fd, &ub, 1, offset, on_read);
    if (rc < 0) {
        f->busy = 0;
        return FL_EIO;
    }
    f->pending++;
    return 0;
}

static void on_later_closed(uv_handle_t *h)
{
    file_src *f = h->data;
    f->pending--;
    file_free_if_done(f);
}

static void file_close(fl__bytes *b)
{
    file_src *f = (file_src *)b;
    f->closing = 1;
    fl__deadline_close(&f->later, on_later_closed);
}

static const fl__bytes_ops file_ops = { file_read, file_close };

static int file_open(fl__bytes **out,
                     uv_loop_t *loop,
                     const char *uri,
                     const fl__bytes_cb *cb,
                     void *arg)
{
    file_src *f = calloc(1, sizeof(*f));
    if (!f)
        return FL_ENOMEM;
    int rc = fl_uri_file_path(uri, f->path, sizeof(f->path), NULL);
    if (rc < 0) {
        free(f);
        return FL_EINVAL;
    }
    f->base.ops = &file_ops;
    f->loop = loop;
    f->cb = *cb;
    f->arg = arg;
    f->fd = -1;
    f->size = -1;
    f->sync = fl__loop_sim(loop) != NULL;
    fl__deadline_init(&f->later, loop, on_later, f, 0);
    f->pending = 1; /* the deadline */
    f->busy = 1;
    f->req.data = f;
    if (f->sync) {
        f->req.result = uv_fs_open(loop, &f->req, f->path, O_RDONLY | O_CLOEXEC, 0, NULL);
        on_open(&f->req);
    } else {
        rc = uv_fs_open(loop, &f->req, f->path, O_RDONLY | O_CLOEXEC, 0, on_open);
        if (rc < 0) {
            fail(f, FL_EIO, "opening", rc);
            f->sync = 1; /* deliver from the deadline */
            finished(f);
            f->sync = 0;
        } else {
            f->pending++;
        }
    }
    *out = &f->base;
    return 0;
}

int fl__bytes_open(fl__bytes **out,
                   uv_loop_t *loop,
                   const char *uri,
                   const char *ca_file,
                   const fl__bytes_cb *cb,
                   void *arg)
{
    if (!out || !loop || !uri || !cb || !cb->opened || !cb->data || !cb->failed)
        return FL_EINVAL;
    *out = NULL;
    if (strncasecmp(uri, "file:", 5) == 0)
        return file_open(out, loop, uri, cb, arg);
    if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0)
        return fl__bytes_http_open(out, loop, uri, ca_file, cb, arg);
    return FL_EINVAL;
}

int fl__bytes_read(fl__bytes *b, int64_t offset, size_t len)
{
    return b->ops->read(b, offset, len);
}

void fl__bytes_close(fl__bytes *b)
{
    if (b)
        b->ops->close(b);
}
