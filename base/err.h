/* Error codes shared by every fluo module.
 *
 * Functions return 0 on success or one of the negative FL_E* codes below.
 * fl_strerror() turns any of them into a short English phrase.
 *
 * This is the codes' one definition, and embedders see it too: the installed
 * <fluo.h> carries this file inline. So it stays standalone (no include) and
 * valid C and C++, and a new code goes at the end of the list (the values
 * are part of libfluo's ABI). */
#ifndef FL_BASE_ERR_H
#define FL_BASE_ERR_H

/* X(name, phrase) */
#define FL_ERR_MAP(X)                 \
    X(EINVAL, "invalid argument")     \
    X(ENOMEM, "out of memory")        \
    X(EAGAIN, "try again")            \
    X(ENOENT, "not found")            \
    X(EEXIST, "already exists")       \
    X(ERANGE, "out of range")         \
    X(EMSGSIZE, "message too large")  \
    X(EPROTO, "protocol error")       \
    X(EBADMSG, "malformed message")   \
    X(ENOTSUP, "not supported")       \
    X(EIO, "input/output error")      \
    X(ECLOSED, "closed")              \
    X(ETIMEDOUT, "timed out")         \
    X(EBUSY, "busy")                  \
    X(EAUTH, "authentication failed") \
    X(ESTATE, "invalid state")        \
    X(ECANCELED, "canceled")          \
    X(ETLS, "TLS error")              \
    X(EOF, "end of stream")

enum {
    FL_OK = 0,
    FL__ERR_FIRST = -1000,
#define FL__ERR_ENUM(name, phrase) FL_##name,
    FL_ERR_MAP(FL__ERR_ENUM)
#undef FL__ERR_ENUM
    FL__ERR_END
};

/* Returns a static string for an FL_E* code (or "success" for 0, "unknown error"
 * for anything else). Thread-safe. */
const char *fl_strerror(int err);

#endif
