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

/* ---- simulcast (simulcast.c) ---- */

/* Parses an a=rid value ("<id> <send|recv>[ pt=..;max-width=..;...]") of
 * section m (whose m= line gives the payload types pt= may name). 0, with
 * *usable set when the line can define a layer here (an id of at most
 * FL_SDP_RID_MAX_LEN characters, and when pt= is given, at least one of its
 * payload types on the m= line); FL_EBADMSG with a reason in *why (a
 * static string) for no id or direction, an id of other characters than
 * RFC 8851's, a direction other than send/recv, a pt= entry not a payload
 * type. Other parameters are ignored, max-* values that are not whole
 * numbers too. */
int fl__sdp_rid_parse(const char *v,
                      size_t n,
                      const fl_sdp_media *m,
                      fl_sdp_rid *out,
                      int *usable,
                      const char **why);

#define FL__SDP_SC_MAX_IDS 32 /* a=simulcast entries kept (later ones ignored) */

/* One a=simulcast entry, pointing into the text. */
typedef struct fl__sdp_sc_id {
    const char *p;
    size_t n;
    fl_sdp_rid_dir dir;
    int paused;
    size_t layer; /* layers counted over both directions, from 0 */
} fl__sdp_sc_id;

typedef struct fl__sdp_sc {
    size_t nids, nlayers;
    fl__sdp_sc_id ids[FL__SDP_SC_MAX_IDS];
} fl__sdp_sc;

/* Parses an a=simulcast value ("send a;b,c;~d recv e", RFC 8853; the
 * drafts' "send rid=a;b" too) into out, which points into v. FL_EBADMSG
 * with a reason in *why for no direction, a direction other than
 * send/recv or given twice, a direction without a list, an empty or
 * malformed entry. */
int fl__sdp_simulcast_parse(const char *v, size_t n, fl__sdp_sc *out, const char **why);

/* m->rids from a parsed a=simulcast and the section's usable a=rid lines,
 * as fl_sdp_media documents. */
void fl__sdp_simulcast_layers(const fl__sdp_sc *sc,
                              const fl_sdp_rid *lines,
                              size_t nlines,
                              fl_sdp_media *m);

/* Appends m's a=rid lines (id and direction only: their restrictions are
 * not written) and its a=simulcast line; nothing when nrids is 0. */
void fl__sdp_simulcast_write(fl__sdp_str *s, const fl_sdp_media *m);

#endif
