/* Fuzzes the SDP candidate-attribute parser (ice/candidate.c). A refused
 * line has a reason in words and a parsed one none, and both entry points
 * decide alike. Whatever parses must write back, and the written line must
 * parse to the same candidate. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "ice/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        fl_log_configure("*:none");
        init = 1;
    }
    fl_ice_candidate c, d;
    char out[FL_ICE_CAND_STRLEN];
    const char *why = "unset";
    int rc = fl_ice_candidate_parse_why(&c, (const char *)data, size, &why);
    if (fl_ice_candidate_parse(&d, (const char *)data, size) != rc)
        abort();
    if (rc != 0) {
        if (rc > 0 || !why || strlen(why) < 10)
            abort();
        return 0;
    }
    if (why)
        abort();
    int n = fl_ice_candidate_write(&c, out, sizeof(out));
    if (n < 0 || (size_t)n >= sizeof(out) || out[n] != '\0')
        abort();
    if (fl_ice_candidate_parse(&d, out, (size_t)n) != 0)
        abort();
    if (memcmp(&c, &d, sizeof(c)) != 0)
        abort();
    return 0;
}
