/* container/ private: EBML (RFC 8794) writing, the element layer of the
 * Matroska and WebM muxer (container/webm.c).
 *
 * An element is its ID (1 to 4 bytes, written as the ID's own bytes, the
 * length marker included), its data size as a variable-length integer
 * (1 to 8 bytes; all ones means "unknown") and its data. fl__ebml is a
 * growable buffer elements are appended to; a failed allocation is
 * remembered (err) and later appends do nothing, so a run of appends is
 * checked once at its end. Master elements are opened and closed like
 * brackets: close writes the size in the fewest bytes and moves the body
 * down to meet it.
 *
 * For the header, Tracks and Cues (once per file): the per-frame path
 * writes its SimpleBlocks with fl__ebml_put_id/fl__ebml_put_size into
 * memory it reserved. Not thread-safe: one owner. */
#ifndef FL_CONTAINER_EBML_H
#define FL_CONTAINER_EBML_H

#include <stddef.h>
#include <stdint.h>

#define FL__EBML_VOID 0xECu

/* The largest data size a size field of 8 bytes holds (2^56 - 2). */
#define FL__EBML_MAX_SIZE ((UINT64_C(1) << 56) - 2)
/* The "unknown" data size in 8 bytes: a Segment still being written. */
#define FL__EBML_UNKNOWN_SIZE UINT64_C(0x01FFFFFFFFFFFFFF)

typedef struct fl__ebml {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err; /* 0, or FL_ENOMEM once an append could not grow the buffer */
} fl__ebml;

void fl__ebml_init(fl__ebml *e);
void fl__ebml_deinit(fl__ebml *e);

/* Makes room for n more bytes after len. 0, or FL_ENOMEM (also kept in err). */
int fl__ebml_reserve(fl__ebml *e, size_t n);

/* Bytes of an ID (1..4) / of the shortest size field for `size` (1..8;
 * size at most FL__EBML_MAX_SIZE). */
size_t fl__ebml_id_len(uint32_t id);
size_t fl__ebml_size_len(uint64_t size);

/* Writes id at p; returns its length. */
size_t fl__ebml_put_id(uint8_t *p, uint32_t id);
/* Writes size as a size field of exactly len bytes (len large enough). */
void fl__ebml_put_size(uint8_t *p, uint64_t size, size_t len);

/* Appends an element's ID and a size field of exactly size_len bytes
 * (the data is appended after: a Segment of unknown size). */
void fl__ebml_head(fl__ebml *e, uint32_t id, uint64_t size, size_t size_len);

/* Appends whole elements. */
void fl__ebml_uint(fl__ebml *e, uint32_t id, uint64_t v);
/* An unsigned integer in exactly `width` bytes (1..8): a value patched
 * later in place keeps its size. */
void fl__ebml_uint_fixed(fl__ebml *e, uint32_t id, uint64_t v, size_t width);
void fl__ebml_float(fl__ebml *e, uint32_t id, double v); /* 8-byte IEEE 754 */
void fl__ebml_string(fl__ebml *e, uint32_t id, const char *s);
void fl__ebml_binary(fl__ebml *e, uint32_t id, const uint8_t *p, size_t n);
/* A Void element of exactly `total` bytes (total >= 2): room kept for a
 * later patch. */
void fl__ebml_void(fl__ebml *e, size_t total);
/* Writes a Void of exactly `total` bytes (>= 2) at p. */
void fl__ebml_put_void(uint8_t *p, size_t total);

/* Opens a master element; returns the mark to close it with. */
size_t fl__ebml_open(fl__ebml *e, uint32_t id);
/* Closes the element opened at mark (the innermost open one). */
void fl__ebml_close(fl__ebml *e, size_t mark);

#endif
