/* What the container tests (test_mp4.c, test_webm.c, the demuxers') and
 * the MP4 fuzz target (tests/fuzz/fuzz_mp4.c) share: a file kept in memory
 * the way a muxer's writer sees it (appended to, patched only inside what
 * was appended), the check that an MP4 write is whole boxes, and the tools
 * (run with their output kept) and files the tests use. Static inline and
 * free of cmocka (the fuzz target includes it): the callers assert on what
 * is returned. */
#ifndef FL_TESTS_UNIT_CONTAINER_MEDIA_FIXTURES_H
#define FL_TESTS_UNIT_CONTAINER_MEDIA_FIXTURES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/err.h"
#include "base/wire.h"

/* 1 when p..len is a run of whole ISO BMFF boxes (32-bit sizes of at
 * least 8, none past the end), 0 otherwise or when empty. */
static inline int mf_boxes_whole(const uint8_t *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        if (len - at < 8)
            return 0;
        uint32_t n = fl_get_be32(p + at);
        if (n < 8 || n > len - at)
            return 0;
        at += n;
    }
    return len > 0;
}

/* Appends n bytes to the file *p of *len bytes (room for *cap), growing
 * it: 0, or FL_ENOMEM. */
static inline int mf_file_append(uint8_t **p,
                                 size_t *len,
                                 size_t *cap,
                                 const uint8_t *data,
                                 size_t n)
{
    if (n > *cap - *len) {
        size_t c = *cap ? *cap : 65536;
        while (c - *len < n)
            c *= 2;
        uint8_t *q = realloc(*p, c);
        if (!q)
            return FL_ENOMEM;
        *p = q;
        *cap = c;
    }
    if (n)
        memcpy(*p + *len, data, n);
    *len += n;
    return 0;
}

/* Writes n bytes at offset of a file of len bytes: 0, or FL_EINVAL (and
 * nothing written) when they do not all fall inside it. */
static inline int mf_file_patch(uint8_t *p,
                                size_t len,
                                int64_t offset,
                                const uint8_t *data,
                                size_t n)
{
    if (offset < 0 || (uint64_t)offset > len || n > len - (size_t)offset)
        return FL_EINVAL;
    if (n)
        memcpy(p + offset, data, n);
    return 0;
}

/* 1 when the shell finds the command. */
static inline int mf_have_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Runs cmd through the shell; what it writes to its standard output (and
 * what cmd sends there: "2>&1") in out, cut at cap - 1 bytes (the rest
 * read and dropped) and NUL-terminated. Its exit status, or -1 when it
 * could not be run or did not exit. */
static inline int mf_run(const char *cmd, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0, k;
    char scratch[4096];
    while ((k = fread(n + 1 < cap ? out + n : scratch, 1,
                      n + 1 < cap ? cap - 1 - n : sizeof(scratch), p)) > 0)
        if (n + 1 < cap)
            n += k;
    if (cap)
        out[n] = '\0';
    int st = pclose(p);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file (malloc'd, *len its size), or NULL (*len 0) when it
 * cannot be opened or read whole. */
static inline uint8_t *mf_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *p = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p)
        *len = (size_t)n;
    return p;
}

/* Writes p..n as the file at path: 0, or -1. */
static inline int mf_write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#endif
