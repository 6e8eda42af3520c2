/* Fuzzes a=crypto values (sdp/crypto.c, RFC 4568): a value that parses
 * writes back to one that parses to the same figures, and a rejected value
 * leaves nothing behind. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sdp/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char value[1024], err[128], out[256];
    if (size >= sizeof(value))
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    fl_sdp_crypto c, back;
    int rc = fl_sdp_crypto_parse(value, &c, err, sizeof(err));
    if (rc != 0) {
        static const fl_sdp_crypto zero;
        if ((rc != FL_EBADMSG && rc != FL_ENOTSUP) || !err[0] || memcmp(&c, &zero, sizeof(c)))
            abort();
        return 0;
    }
    if (c.key_len != fl_sdp_crypto_key_len(c.suite) || c.tag < 1 || c.tag > 999999999)
        abort();
    if (fl_sdp_crypto_write(&c, out, sizeof(out)) != 0)
        abort();
    if (fl_sdp_crypto_parse(out, &back, err, sizeof(err)) != 0 || memcmp(&c, &back, sizeof(c)))
        abort();
    return 0;
}
