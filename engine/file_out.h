/* A file written from a worker loop without blocking it (private to
 * engine/): chunks are queued in order and written one at a time by
 * libuv's file operations (its thread pool), each chunk whole at its
 * offset before the next starts, so a process killed at any moment leaves
 * the file ending at a chunk boundary (or inside the chunk being written,
 * which a whole-unit writer such as container/'s muxers avoids by making a
 * chunk one unit: the kernel keeps every write(2) that returned).
 *
 * The object outlives its owner's interest: fl__file_out_close queues the
 * end and frees the object once everything queued is on disk and the file
 * is closed, then calls on_closed. On a simulated worker (engine/sim.h) the
 * operations run synchronously, so a simulation needs no thread pool.
 *
 * Threads: the loop's. */
#ifndef FL_ENGINE_FILE_OUT_H
#define FL_ENGINE_FILE_OUT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct fl__file_out fl__file_out;

typedef struct fl__file_out_callbacks {
    /* The file is open (status 0) or could not be (a negative FL_E* code;
     * why says it in words, with the path). */
    void (*on_open)(void *arg, int status, const char *why);
    /* A write failed (a full disk, an I/O error): nothing more is written
     * and what is queued is dropped; reported once. */
    void (*on_error)(void *arg, int status, const char *why);
    /* After fl__file_out_close: everything is written (or dropped after an
     * error; status says which) and the file is closed. */
    void (*on_closed)(void *arg, int status);
} fl__file_out_callbacks;

/* Opens (creates or truncates) path for writing, asynchronously. The
 * callbacks' arg is `arg`; the object is valid until on_closed has run.
 * max_queued: bytes queued beyond which further chunks are refused
 * (FL_EBUSY from fl__file_out_write, a disk far slower than the media);
 * 0: 64 MiB. FL_ENOMEM. */
int fl__file_out_open(fl__file_out **out,
                      uv_loop_t *loop,
                      const char *path,
                      size_t max_queued,
                      const fl__file_out_callbacks *cbs,
                      void *arg);

/* Queues a copy of len bytes at `offset` (-1: after everything appended
 * so far). Writes queued before the open completes wait for it. 0, or
 * FL_EBUSY (queue over its bound), FL_EIO (after a write error or a
 * failed open), FL_ECLOSED (after close), FL_ENOMEM. */
int fl__file_out_write(fl__file_out *f, int64_t offset, const uint8_t *data, size_t len);

/* Bytes appended so far (the file's size once the queue drains). */
int64_t fl__file_out_size(const fl__file_out *f);

/* Bytes queued and not yet written. */
size_t fl__file_out_queued(const fl__file_out *f);

/* Ends the file: what is queued is written, the data is synced to disk,
 * the file closed, on_closed called and the object freed. No callback
 * other than on_closed runs after this call. */
void fl__file_out_close(fl__file_out *f);

#endif
