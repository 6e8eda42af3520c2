/* EBML (RFC 8794) element writing. */
#include "container/ebml.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* An open master element reserves the longest size field; close shrinks it. */
#define OPEN_SIZE_LEN 8

void fl__ebml_init(fl__ebml *e)
{
    e->data = NULL;
    e->len = 0;
    e->cap = 0;
    e->err = 0;
}

void fl__ebml_deinit(fl__ebml *e)
{
    free(e->data);
    fl__ebml_init(e);
}

int fl__ebml_reserve(fl__ebml *e, size_t n)
{
    if (e->err)
        return e->err;
    if (e->cap - e->len >= n)
        return 0;
    size_t cap = e->cap ? e->cap : 256;
    while (cap - e->len < n) {
        if (cap > SIZE_MAX / 2) {
            e->err = FL_ENOMEM;
            return e->err;
        }
        cap *= 2;
    }
    uint8_t *d = realloc(e->data, cap);
    if (!d) {
        e->err = FL_ENOMEM;
        return e->err;
    }
    e->data = d;
    e->cap = cap;
    return 0;
}

size_t fl__ebml_id_len(uint32_t id)
{
    return id < 0x100u ? 1 : id < 0x10000u ? 2 : id < 0x1000000u ? 3 : 4;
}

size_t fl__ebml_size_len(uint64_t size)
{
    size_t len = 1;
    /* len bytes hold 7 * len bits; all ones is reserved for "unknown". */
    while (len < 8 && size >= (UINT64_C(1) << (7 * len)) - 1)
        len++;
    return len;
}

size_t fl__ebml_put_id(uint8_t *p, uint32_t id)
{
    size_t n = fl__ebml_id_len(id);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(id >> (8 * (n - 1 - i)));
    return n;
}

void fl__ebml_put_size(uint8_t *p, uint64_t size, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(size >> (8 * (len - 1 - i)));
    p[0] |= (uint8_t)(0x80u >> (len - 1));
}

/* Appends an element's ID and size; returns where its data goes, or NULL. */
static uint8_t *head(fl__ebml *e, uint32_t id, uint64_t size)
{
    size_t sl = fl__ebml_size_len(size);
    if (size > SIZE_MAX - 12 || fl__ebml_reserve(e, 12 + (size_t)size) != 0)
        return NULL;
    uint8_t *p = e->data + e->len;
    size_t n = fl__ebml_put_id(p, id);
    fl__ebml_put_size(p + n, size, sl);
    e->len += n + sl + (size_t)size;
    return p + n + sl;
}

void fl__ebml_head(fl__ebml *e, uint32_t id, uint64_t size, size_t size_len)
{
    if (fl__ebml_reserve(e, 4 + size_len) != 0)
        return;
    size_t n = fl__ebml_put_id(e->data + e->len, id);
    fl__ebml_put_size(e->data + e->len + n, size, size_len);
    e->len += n + size_len;
}

void fl__ebml_uint_fixed(fl__ebml *e, uint32_t id, uint64_t v, size_t width)
{
    uint8_t *p = head(e, id, width);
    if (!p)
        return;
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

void fl__ebml_uint(fl__ebml *e, uint32_t id, uint64_t v)
{
    size_t width = 1;
    while (width < 8 && v >> (8 * width))
        width++;
    fl__ebml_uint_fixed(e, id, v, width);
}

void fl__ebml_float(fl__ebml *e, uint32_t id, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    fl__ebml_uint_fixed(e, id, bits, 8);
}

void fl__ebml_binary(fl__ebml *e, uint32_t id, const uint8_t *p, size_t n)
{
    uint8_t *d = head(e, id, n);
    if (d && n)
        memcpy(d, p, n);
}

void fl__ebml_string(fl__ebml *e, uint32_t id, const char *s)
{
    fl__ebml_binary(e, id, (const uint8_t *)s, strlen(s));
}

void fl__ebml_put_void(uint8_t *p, size_t total)
{
    /* A size of 1 byte up to 126 bytes of data, else 8 bytes. */
    size_t sl = total - 2 <= 126 ? 1 : 8;
    size_t n = total - 1 - sl;
    p[0] = (uint8_t)FL__EBML_VOID;
    fl__ebml_put_size(p + 1, n, sl);
    memset(p + 1 + sl, 0, n);
}

void fl__ebml_void(fl__ebml *e, size_t total)
{
    if (total < 2 || fl__ebml_reserve(e, total) != 0)
        return;
    fl__ebml_put_void(e->data + e->len, total);
    e->len += total;
}

size_t fl__ebml_open(fl__ebml *e, uint32_t id)
{
    size_t mark = e->len;
    if (fl__ebml_reserve(e, 4 + OPEN_SIZE_LEN) != 0)
        return mark;
    e->len += fl__ebml_put_id(e->data + e->len, id) + OPEN_SIZE_LEN;
    return mark;
}

void fl__ebml_close(fl__ebml *e, size_t mark)
{
    if (e->err)
        return;
    uint8_t *p = e->data + mark;
    /* The ID's length is in its first byte's marker bit. */
    size_t idl = p[0] & 0x80u ? 1 : p[0] & 0x40u ? 2 : p[0] & 0x20u ? 3 : 4;
    size_t body_at = mark + idl + OPEN_SIZE_LEN;
    size_t body = e->len - body_at;
    size_t sl = fl__ebml_size_len(body);
    fl__ebml_put_size(p + idl, body, sl);
    if (sl < OPEN_SIZE_LEN) {
        memmove(p + idl + sl, e->data + body_at, body);
        e->len -= OPEN_SIZE_LEN - sl;
    }
}
