/* Fuzzes net/httpauth: a WWW-Authenticate value (parsed as one challenge
 * and picked over), and the answer written for what parsed, which must be
 * NUL-terminated at the length returned. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/httpauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char value[4097];
    memcpy(value, data, size);
    value[size] = '\0';
    fl_httpauth_challenge c, best;
    memset(&best, 0, sizeof best);
    int rc = fl_httpauth_challenge_parse(&c, value);
    int picked = fl_httpauth_challenge_pick(&best, value);
    if (rc == 0 && picked != 0)
        abort(); /* pick finds at least what parse found */
    if (rc == 0) {
        char out[2048];
        long n = fl_httpauth_write(out, sizeof out, &c, "user", "pass", "DESCRIBE", "rtsp://h/x",
                                   "0a4f113b", 1);
        if (n >= 0 && (size_t)n != strlen(out))
            abort();
        n = fl_httpauth_write(out, 64, &best, "user", "pass", "GET", "/", "c", 2);
        if (n >= 0 && (size_t)n != strlen(out))
            abort();
    }
    return 0;
}
