/* codec/qr.h: reading QR codes and bar codes in a picture's luma plane,
 * with libzbar (Debian's libzbar0). A scanner belongs to one thread at a
 * time; two scanners may run on two threads at once. */
#ifndef FL_CODEC_QR_H
#define FL_CODEC_QR_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_code_scanner fl_code_scanner;

/* What a scan found: type is the symbology's name as libzbar spells it
 * ("QR-Code", "EAN-13", "CODE-128", ...: a CodeFound event's codeType),
 * value its data, len bytes, not NUL-terminated (a QR code may carry
 * binary data). Both live until the callback returns. */
typedef void (*fl_code_fn)(void *arg, const char *type, const uint8_t *value, size_t len);

/* A scanner for every symbology libzbar reads: QR codes and the 1-D bar
 * codes (EAN/UPC, ISBN, Code 39/93/128, Codabar, DataBar, I2/5), which
 * take about 1.7 times the time of QR codes alone (see codec/qr.c).
 * 0 (*out set), FL_EINVAL (out NULL), FL_ENOMEM. */
int fl_code_scanner_create(fl_code_scanner **out);

/* Frees s (NULL: nothing). */
void fl_code_scanner_destroy(fl_code_scanner *s);

/* Scans an 8-bit luma plane (an I420 picture's Y plane: width x height
 * pixels, stride bytes from one row to the next; not modified, not kept:
 * copied into s's buffer only when stride != width) and calls fn (may be
 * NULL) once for each symbol found, in libzbar's order. Returns how many
 * symbols it found (0: none, fn not called), or FL_EINVAL (NULL s or
 * luma, sizes < 1 or > 8192, stride < width), FL_ENOMEM, FL_EIO (libzbar
 * failed). s's buffer is reused from call to call; libzbar itself
 * allocates inside each scan (about 8 small blocks on a picture without
 * a code, about 80 when it decodes a QR code). */
int fl_code_scan(fl_code_scanner *s,
                 const uint8_t *luma,
                 int width,
                 int height,
                 int stride,
                 fl_code_fn fn,
                 void *arg);

#endif
