/* Fuzzes codec/image: the input is a file for fl_image_decode (PNG or
 * JPEG, told apart by their signatures), decoded with a limit of 512x512
 * pixels so a huge valid header costs nothing (FL_EMSGSIZE). Checks the
 * result: 0 with an image of the header's size whose every byte is
 * readable, or FL_ENOTSUP, FL_EBADMSG, FL_EMSGSIZE with the image zeroed
 * and a phrase. A decoded image is then scaled to a small size taken from
 * the input's last bytes and blended onto a 48x34 picture at a place that
 * may be partly or wholly outside it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT (512 * 512)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of its own size, so a read past the input is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    fl_image img;
    char why[256];
    int r = fl_image_decode_limit(&img, copy, size, LIMIT, why, sizeof(why));
    free(copy);
    if (r != 0) {
        if ((r != FL_ENOTSUP && r != FL_EBADMSG && r != FL_EMSGSIZE) || img.rgba || img.width ||
            !why[0])
            abort();
        return 0;
    }
    if (!img.rgba || img.width < 1 || img.height < 1 ||
        (size_t)img.width * (size_t)img.height > LIMIT || why[0])
        abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 4; i++)
        sum += img.rgba[i];
    volatile unsigned sink = sum;
    (void)sink;

    uint8_t a = size ? data[size - 1] : 0, b = size > 1 ? data[size - 2] : 0;
    fl_image small = { 0 };
    if (fl_image_scale(&small, &img, 1 + a % 40, 1 + b % 30) != 0)
        abort();
    fl_picture pic;
    if (fl_picture_alloc(&pic, 48, 34) != 0)
        abort();
    memset(pic.plane[0], 16, (size_t)pic.stride[0] * 34);
    memset(pic.plane[1], 128, (size_t)pic.stride[1] * 17 * 2);
    fl_picture_blend(&pic, &small, (int)(a % 96) - 40, (int)(b % 80) - 30);
    fl_picture_blend(&pic, &img, (int)(b % 64) - 32, (int)(a % 48) - 24);
    fl_picture_free(&pic);
    fl_image_free(&small);
    fl_image_free(&img);
    return 0;
}
