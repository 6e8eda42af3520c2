/* Fuzzes net/dcep: an OPEN that parses is written back to the same bytes
 * (up to its label and protocol) and parses to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dcep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[1 << 18];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fl_dcep_type(data, size);
    fl_dcep_open a, b;
    if (fl_dcep_open_parse(data, size, &a) != 0)
        return 0;
    int n = fl_dcep_open_write(&a, out, sizeof(out));
    if (n < 0 || (size_t)n > size || memcmp(out, data, (size_t)n) != 0)
        abort();
    if (fl_dcep_open_parse(out, (size_t)n, &b) != 0 || b.channel_type != a.channel_type ||
        b.reliability != a.reliability || b.priority != a.priority || b.label_len != a.label_len ||
        b.protocol_len != a.protocol_len)
        abort();
    return 0;
}
