/* A growable byte buffer for control-path data (WebSocket and HTTP streams,
 * JSON text). Not for the media path: it may call realloc. */
#ifndef FL_BASE_BYTES_H
#define FL_BASE_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
} fl_bytes;

static inline void fl_bytes_init(fl_bytes *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void fl_bytes_deinit(fl_bytes *b);

/* Makes room for n more bytes; FL_ENOMEM on failure. */
int fl_bytes_reserve(fl_bytes *b, size_t n);

int fl_bytes_append(fl_bytes *b, const void *data, size_t n);

int fl_bytes_append_str(fl_bytes *b, const char *s);

int fl_bytes_printf(fl_bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the first n bytes (n is clamped to len). */
void fl_bytes_consume(fl_bytes *b, size_t n);

static inline void fl_bytes_clear(fl_bytes *b)
{
    b->len = 0;
}

#endif
