/* Base64, standard alphabet, strict decoding. */
#include "base/base64.h"

#include <limits.h>

#include "base/err.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fl_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = FL_BASE64_ENCODED_LEN(n);
    if (cap == 0)
        return FL_EMSGSIZE;
    if (need + 1 > cap || need > INT_MAX) {
        out[0] = '\0';
        return FL_EMSGSIZE;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return (int)o;
}

static int value_of(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int fl_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 != 0 || len / 4 * 3 > INT_MAX)
        return FL_EBADMSG;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = text[i + (size_t)k];
            if (ch == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) /* a symbol after '=' */
                return FL_EBADMSG;
            v[k] = value_of(ch);
            if (v[k] < 0)
                return FL_EBADMSG;
        }
        uint32_t w =
                (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* the bits a padded group does not use must be zero */
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
            return FL_EBADMSG;
        size_t nout = 3 - (size_t)pad;
        if (o + nout > cap)
            return FL_EMSGSIZE;
        out[o++] = (uint8_t)(w >> 16);
        if (nout > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (nout > 2)
            out[o++] = (uint8_t)w;
    }
    return (int)o;
}
