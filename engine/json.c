/* A small JSON writer for statistics: appends to a growing buffer and
 * records running out of memory instead of failing each call. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

static void put(fl__json *j, const char *s, size_t n)
{
    if (j->oom)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1024;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->oom = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

void fl__json_raw(fl__json *j, const char *s)
{
    put(j, s, strlen(s));
    j->need_comma = 1;
}

static void put_string(fl__json *j, const char *s)
{
    put(j, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char esc[2] = { '\\', (char)ch };
            put(j, esc, 2);
        } else if (ch < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put(j, esc, 6);
        } else {
            put(j, (const char *)&ch, 1);
        }
    }
    put(j, "\"", 1);
}

void fl__json_key(fl__json *j, const char *key)
{
    if (j->need_comma)
        put(j, ",", 1);
    put_string(j, key);
    put(j, ":", 1);
    j->need_comma = 0;
}

void fl__json_str(fl__json *j, const char *key, const char *v)
{
    fl__json_key(j, key);
    put_string(j, v);
    j->need_comma = 1;
}

void fl__json_int(fl__json *j, const char *key, int64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, v);
    fl__json_key(j, key);
    fl__json_raw(j, num);
}

void fl__json_num(fl__json *j, const char *key, double v)
{
    char num[48];
    snprintf(num, sizeof(num), "%.9g", isfinite(v) ? v : 0.0);
    fl__json_key(j, key);
    fl__json_raw(j, num);
}

void fl__json_open(fl__json *j, const char *key)
{
    if (key)
        fl__json_key(j, key);
    else if (j->need_comma)
        put(j, ",", 1);
    put(j, "{", 1);
    j->need_comma = 0;
}

void fl__json_close(fl__json *j)
{
    put(j, "}", 1);
    j->need_comma = 1;
}
