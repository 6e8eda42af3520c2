/* Percent-encoding and file: URIs. See uri.h. */
#include "base/uri.h"

#include <string.h>
#include <strings.h>

#include "base/err.h"

int fl_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long fl_percent_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = n - i >= 3 ? fl_hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? fl_hex_digit(s[i + 2]) : -1;
            if (lo < 0)
                return FL_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == 0)
            return FL_EINVAL;
        if (o + 1 >= cap)
            return FL_EMSGSIZE;
        out[o++] = c;
    }
    if (cap == 0)
        return FL_EMSGSIZE;
    out[o] = 0;
    return (long)o;
}

static int fail(const char **why, const char *what, int rc)
{
    if (why)
        *why = what;
    return rc;
}

int fl_uri_file_path(const char *uri, char *out, size_t cap, const char **why)
{
    if (strncasecmp(uri, "file://", 7) != 0) {
        if (strstr(uri, "://"))
            return fail(why, "only file:// URIs are supported", FL_ENOTSUP);
        return fail(why, "it is not a URI: use file:///absolute/path", FL_EINVAL);
    }
    const char *p = uri + 7;
    if (strncasecmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/')
        return fail(why, "the path must be absolute, on this host (file:///absolute/path)",
                    FL_EINVAL);
    long n = fl_percent_decode(p, strlen(p), out, cap);
    if (n == FL_EMSGSIZE)
        return fail(why, "the path is too long", FL_EMSGSIZE);
    if (n < 0)
        return fail(why, "the path has a malformed %-escape or a NUL byte", FL_EINVAL);
    if (out[n - 1] == '/')
        return fail(why, "the path names a folder, not a file", FL_EINVAL);
    for (const char *seg = out; seg; seg = strchr(seg + 1, '/')) {
        size_t len = strcspn(seg + 1, "/");
        if ((len == 1 && seg[1] == '.') || (len == 2 && seg[1] == '.' && seg[2] == '.'))
            return fail(why, "the path must not contain '.' or '..' segments", FL_EINVAL);
    }
    return 0;
}
