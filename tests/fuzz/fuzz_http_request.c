/* Fuzzes the control server's request path without a socket: the head
 * (base/http), then the body framing and delivery of rpc/server_http.c
 * (fl__http_req_*: Content-Length, chunked, buffered with a cap or streamed
 * with pauses), fed in the splits byte 1 picks. Byte 0 picks the mode. The
 * bytes handed out must add up, and a buffered body is NUL-terminated. A
 * whole buffered body then goes where WHIP/WHEP take theirs (rpc/whip_int.h):
 * the trickle-ICE sdpfrag parser, and as an SDP the ice-ufrag reader and
 * the candidate writer (with the fragment's candidates). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/http.h"
#include "base/log.h"
#include "rpc/server_int.h"
#include "rpc/whip_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    size_t bytes;
    int calls;
    int ends;
    int pause_every; /* stream mode: pause after every Nth body call; 0: never */
} seen;

static void on_body(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    seen *s = user;
    if (len == 0 || data == NULL || s->ends)
        abort();
    s->bytes += len;
    s->calls++;
    if (s->pause_every && s->calls % s->pause_every == 0)
        fl_rpc_http_pause(req, 1);
}

static void on_end(void *user, fl_rpc_http *req, const uint8_t *data, size_t len)
{
    seen *s = user;
    s->ends++;
    if (req->max_body > 0) {
        if (!data || data[len] != '\0' || len > req->max_body || len != req->body.received)
            abort();
        s->bytes = len;
    } else if (data || len) {
        abort();
    }
}

static void on_gone(void *user, fl_rpc_http *req, int status)
{
    (void)user;
    (void)req;
    (void)status;
    abort(); /* without a connection nothing ends a request early */
}

/* What WHIP/WHEP do with a body. */
static void whip_bodies(const char *body, size_t len)
{
    static fl__sdpfrag f;
    int rc = fl__sdpfrag_parse(&f, body, len);
    if (rc != 0 && rc != FL_EBADMSG && rc != FL_ERANGE)
        abort();
    fl_bytes cands, out;
    fl_bytes_init(&cands);
    fl_bytes_init(&out);
    for (size_t i = 0; rc == 0 && i < f.ncands; i++) {
        if (f.cands[i].mline < -1 || f.cands[i].mline >= f.nmedia ||
            strncmp(f.cands[i].line, "candidate:", 10) != 0)
            abort();
        fl_bytes_printf(&cands, "%s\t%s\n", f.cands[i].mid, f.cands[i].line);
    }
    char ufrag[64];
    fl__sdp_ice_ufrag(body, ufrag, sizeof(ufrag));
    if (fl__sdp_add_candidates(&out, body, len, (const char *)cands.data, cands.len, 1) != 0)
        abort();
    if (out.len < len || (len && memcmp(out.data, body, strcspn(body, "m"))) != 0)
        abort();
    fl_bytes_deinit(&cands);
    fl_bytes_deinit(&out);
}

static const fl_rpc_http_handler handler = { on_body, on_end, on_gone };

/* Feeds the body in pieces of `step`, resuming after each pause. */
static void feed(fl_rpc_http *req, const uint8_t *data, size_t size, size_t step)
{
    size_t off = 0;
    int rounds = 0;
    while (off <= size && rounds++ < 100000) {
        size_t n = size - off < step ? size - off : step;
        size_t used = 0;
        int rc = fl__http_req_input(req, data + off, n, &used);
        if (used > n)
            abort();
        off += used;
        if (rc == 0 || (rc != FL_EAGAIN && rc != FL_EBUSY))
            return;
        if (rc == FL_EBUSY) {
            if (!req->paused)
                abort();
            fl_rpc_http_pause(req, 0);
        } else if (off == size) {
            return; /* wants more than there is */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        fl_log_configure("*:0");
        init = 1;
    }
    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    size_t step = (size_t)(data[1] % 64) + 1;
    data += 2;
    size -= 2;
    fl_http_head *head = malloc(sizeof(*head));
    if (!head)
        return 0;
    fl_http_head_init(head, FL_HTTP_REQUEST);
    size_t used = 0;
    if (fl_http_head_parse(head, data, size, &used) != 0) {
        free(head);
        return 0;
    }
    fl_rpc_http req;
    memset(&req, 0, sizeof(req));
    if (fl__http_req_init(&req, head) != 0) {
        fl__http_req_deinit(&req);
        return 0;
    }
    const char *path = fl_rpc_http_path(&req);
    const char *query = fl_rpc_http_query(&req);
    if (strchr(path, '?') || query[-1] != '\0' || strlen(path) > strlen(head->target))
        abort();
    seen s = { .pause_every = mode & 3 };
    static const size_t caps[4] = { 0, 1, 64, 65536 };
    fl_rpc_http_accept(&req, &handler, &s, caps[(mode >> 2) & 3]);
    if (fl__http_req_start(&req) == 0) {
        feed(&req, data + used, size - used, step);
        if (req.max_body == 0 && s.bytes != req.body.received)
            abort();
        if (s.ends > 1 || (s.ends == 1) != req.ended)
            abort();
        if (req.ended && req.max_body > 0)
            whip_bodies(req.buf.data ? (const char *)req.buf.data : "", req.buf.len);
    }
    fl__http_req_deinit(&req);
    return 0;
}
