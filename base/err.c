#include "base/err.h"

const char *fl_strerror(int err)
{
    switch (err) {
    case FL_OK:
        return "success";
#define FL__ERR_CASE(name, phrase) \
    case FL_##name:                \
        return phrase;
        FL_ERR_MAP(FL__ERR_CASE)
#undef FL__ERR_CASE
    default:
        return "unknown error";
    }
}
