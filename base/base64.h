/* Base64 (RFC 4648 section 4: the standard alphabet, '=' padding), for
 * keys carried in text (SDP a=crypto inline keys).
 *
 * Encoding always pads; decoding is strict: only the standard alphabet, the
 * length a multiple of 4, padding only at the end and the unused bits of
 * the last symbol zero, so one text decodes to one byte string and back.
 * No allocation; thread-safe. */
#ifndef FL_BASE_BASE64_H
#define FL_BASE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters the encoding of n bytes takes, without the NUL. */
#define FL_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes the encoding of in[0..n) into out with a NUL; the number of
 * characters written (without the NUL), or FL_EMSGSIZE when cap is less
 * than FL_BASE64_ENCODED_LEN(n) + 1 (out is then left ""). */
int fl_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Decodes text[0..len) into out; the number of bytes written, or
 * FL_EBADMSG for text that is not strict base64, FL_EMSGSIZE when the
 * bytes do not fit in cap. out may be partly written on error. */
int fl_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap);

#endif
