/* Private to sdp/: the parsed text, the reason formatter, a growing string,
 * fmtp parameter lookup and the writer of a structured description. */
#ifndef FL_SDP_SDP_INT_H
#define FL_SDP_SDP_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sdp/sdp.h"

/* One line of the text: "<type>=<value>", the value a slice of buf. */
typedef struct fl__sdp_line {
    char type;
    size_t off, len;
} fl__sdp_line;

struct fl_sdp {
    char *buf; /* a copy of the text */
    size_t nlines;
    fl__sdp_line *lines;
};

/* Writes "fmt..." into err (when err is not NULL) and returns FL_EBADMSG. */
int fl__sdp_fail(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* A malloc'd string that grows; `failed` once an allocation fails. */
typedef struct fl__sdp_str {
    char *p;
    size_t len, cap;
    int failed;
} fl__sdp_str;

void fl__sdp_str_add(fl__sdp_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value of parameter `key` in an a=fmtp parameter list
 * ("a=1;b=2", keys case-insensitive) copied into out; 0 when found,
 * FL_ENOENT when absent, FL_ERANGE when it does not fit. */
int fl__sdp_fmtp_get(const char *fmtp, const char *key, char *out, size_t outlen);

/* Whether a codec name is a repair/auxiliary format (rtx, red, ulpfec,
 * flexfec, CN, telephone-event). */
int fl__sdp_codec_is_aux(const char *name);

/* Writes the SDP text of a description: session lines with `address` for
 * o= and c=, then each section as fl_sdp_answer documents (rejected ones
 * reduced to m=, c= and a=mid); `plain`: the sections as fl_sdp_local.plain
 * documents (no ICE/DTLS, a=rtcp, a=direction, a=crypto). NULL when out of
 * memory (or a crypto line that cannot be written). */
char *fl__sdp_desc_write(const fl_sdp_desc *d, const char *address, int plain);

#endif
