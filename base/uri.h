/* Percent-encoding (RFC 3986 2.1) and file: URIs (RFC 8089), the one place
 * both are read. */
#ifndef FL_BASE_URI_H
#define FL_BASE_URI_H

#include <stddef.h>

/* The value (0-15) of the hex digit c ('0'-'9', 'a'-'f', 'A'-'F'), or -1
 * when it is none: the digits of a percent-escape, and of an HTTP chunk
 * size (base/http.c). */
int fl_hex_digit(int c);

/* Decodes n bytes of s into out (cap bytes, NUL-terminated): the length
 * written, FL_EINVAL for a malformed escape or a decoded NUL byte,
 * FL_EMSGSIZE when out is too small. */
long fl_percent_decode(const char *s, size_t n, char *out, size_t cap);

/* The local path a file URI names: "file:///a/b%20c" and
 * "file://localhost/a/b%20c" give "/a/b c". The path is checked after
 * decoding: absolute, naming a file (no trailing '/'), with no "." or ".."
 * segment. FL_ENOTSUP for a URI of another scheme ("http://..."),
 * FL_EINVAL for anything else that is not such a URI, FL_EMSGSIZE when out
 * is too small; *why (may be NULL) says what is wrong, in words. */
int fl_uri_file_path(const char *uri, char *out, size_t cap, const char **why);

#endif
