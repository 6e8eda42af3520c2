/* The filter kit (private to engine/): what ZBarFilter, ImageOverlayFilter
 * and FaceOverlayFilter share. A filter element forwards its audio as it
 * comes; its video is depacketized on the worker and handed, frame by
 * frame, to the filter's own codec thread, which decodes it and shows each
 * picture to the filter class. What the class does with it decides what
 * goes out:
 *
 * - It changed nothing (a reader such as ZBar, an overlay with nothing to
 *   draw): the source's packets are forwarded untouched; the decoding runs
 *   beside them and costs the viewers nothing.
 * - It drew on the picture: from the next key frame the thread encodes the
 *   pictures it is shown (the input's codec, the viewers' bitrate) and the
 *   worker sends them as the filter's own stream, with the source's payload
 *   type. Once nothing was drawn for FL__FILTER_QUIET_MS, the worker asks
 *   the source for a key frame and goes back to forwarding from it. A
 *   viewer's egress rewrite keeps the stream continuous across both moves.
 *
 * A class that changes pictures gets no pictures while nobody watches its
 * output (no sink on its video source pad), nor while it has nothing to
 * draw (fl__filter_set_active).
 *
 * Threads: the worker writes frames and messages into a single-producer
 * single-consumer ring the thread reads, and the thread writes encoded
 * frames, events and answers into another the worker reads (woken by a
 * uv_async). No lock per frame. */
#ifndef FL_ENGINE_FILTER_H
#define FL_ENGINE_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "codec/coder.h"
#include "engine/engine_int.h"

#define FL__FILTER_QUIET_MS 1000

typedef struct fl__filter fl__filter;

/* One filter class, its hooks run on the filter's thread unless said. */
typedef struct fl__filter_class {
    /* 1: it never changes a picture (the source's packets always go out). */
    int reads_only;
    /* The size of its thread's state (zeroed at creation, handed to every
     * hook) and of its worker's (fl__filter_worker). */
    size_t state_size, worker_size;
    /* A decoded picture: reads it, or draws on the writable copy that
     * fl__filter_canvas gives. 1 when it drew. */
    int (*process)(fl__filter *f, void *state, const fl_picture *pic, uint64_t now_ns);
    /* A message the worker sent (fl__filter_send): the class's from now on. */
    void (*message)(fl__filter *f, void *state, void *msg);
    /* Frees a message never delivered (any thread, at the end). */
    void (*free_message)(void *msg);
    /* Frees what the state holds (after the thread ended). */
    void (*fini)(void *state);
    /* Worker: a note the thread wrote (fl__filter_tell): an event to raise
     * (the state is the thread's: not given). */
    void (*told)(fl_element *e, const char *a, const char *b);
} fl__filter_class;

/* The element type hooks every filter type shares: a filter type is
 *     { .name = ..., FL__FILTER_HOOKS, .init = ..., .fini = fl__filter_fini,
 *       .methods = ..., .invoke = ... }
 * with its class given by fl__filter_init_class from its own init (its own
 * fini, if any, ends with fl__filter_fini). */
void fl__filter_receive(fl_element *e, fl__pad *sink, fl_buf *buf);
void fl__filter_fini(fl_element *e);
void fl__filter_key_frame(fl_element *e, unsigned media, int join);
int fl__filter_sender_report(fl_element *e,
                             unsigned media,
                             uint32_t ssrc,
                             uint32_t *rtp_ts,
                             fl_time *sent);
void fl__filter_end_of_stream(fl_element *e, fl__pad *sink);
void fl__filter_stats(fl_element *e, unsigned media, fl__stats_out *out);

#define FL__FILTER_HOOKS                                                                  \
    .receive = fl__filter_receive, .key_frame = fl__filter_key_frame,                     \
    .sender_report = fl__filter_sender_report, .end_of_stream = fl__filter_end_of_stream, \
    .stats = fl__filter_stats

/* Worker, from the type's init: the filter of element e, of class cls.
 * 0, FL_ENOMEM, FL_EIO (no thread). */
int fl__filter_init_class(fl_element *e, const fl__filter_class *cls);

/* The filter of element e (its impl). */
fl__filter *fl__filter_of(fl_element *e);

/* Worker: the class's worker state (worker_size bytes, zeroed at first). */
void *fl__filter_worker(fl__filter *f);

/* Worker: hands msg to the thread (cls->message runs there, in order with
 * the frames). 0, or FL_EAGAIN when the ring is full (msg stays the
 * caller's). */
int fl__filter_send(fl__filter *f, void *msg);

/* Any thread: whether the class has something to draw (a changing class
 * gets pictures only then). Starts at 1 for a reader, 0 for the others. */
void fl__filter_set_active(fl__filter *f, int active);

/* Thread: the picture being processed (process's pic). */
const fl_picture *fl__filter_picture(fl__filter *f);

/* Thread: a writable copy of the picture being processed (made at the
 * first call for each picture); NULL when out of memory. */
fl_picture *fl__filter_canvas(fl__filter *f);

/* Thread: a note for the worker's `told` (a and b copied, each cut at 1
 * KiB). 0, or FL_EAGAIN (the ring is full: dropped). */
int fl__filter_tell(fl__filter *f, const char *a, const char *b);

/* Thread: answers a worker's deferred call (its status and why), on the
 * worker. The deferred is the thread's from fl__filter_send's message. */
int fl__filter_answer(fl__filter *f, fl__deferred d, int status, const char *why);

#endif
