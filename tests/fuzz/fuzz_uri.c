/* Fuzzes base/uri: percent-decoding and file: URIs. A decoded string has
 * the length returned and no NUL inside; a path that is accepted is
 * absolute, names a file and has no "." or ".." segment; a refusal has a
 * reason in words. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[256];
    long n = fl_percent_decode((const char *)data, size, out, sizeof(out));
    if (n >= 0 && ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n || (size_t)n > size))
        abort();
    char *uri = malloc(size + 1);
    if (!uri)
        return 0;
    memcpy(uri, data, size);
    uri[size] = 0;
    const char *why = NULL;
    int rc = fl_uri_file_path(uri, out, sizeof(out), &why);
    if (rc == 0) {
        size_t len = strlen(out);
        if (out[0] != '/' || out[len - 1] == '/' || strstr(out, "/../") || strstr(out, "/./"))
            abort();
        if ((len >= 3 && strcmp(out + len - 3, "/..") == 0) ||
            (len >= 2 && strcmp(out + len - 2, "/.") == 0))
            abort();
    } else if (rc > 0 || !why || strlen(why) < 10) {
        abort();
    }
    free(uri);
    return 0;
}
