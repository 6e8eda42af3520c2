#include "base/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

void fl_bytes_deinit(fl_bytes *b)
{
    free(b->data);
    fl_bytes_init(b);
}

int fl_bytes_reserve(fl_bytes *b, size_t n)
{
    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return FL_ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return FL_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int fl_bytes_append(fl_bytes *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    int rc = fl_bytes_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

int fl_bytes_append_str(fl_bytes *b, const char *s)
{
    return fl_bytes_append(b, s, strlen(s));
}

int fl_bytes_printf(fl_bytes *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return FL_EINVAL;
    int rc = fl_bytes_reserve(b, (size_t)n + 1);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void fl_bytes_consume(fl_bytes *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
