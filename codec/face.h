/* codec/face.h: frontal face detection on a picture's luma plane, with
 * OpenCV's Haar cascades (Debian's opencv-data ships the cascade files).
 * OpenCV 4 has only a C++ API: codec/face.cpp wraps it, and no C++
 * exception crosses this interface (each becomes an FL_E* code).
 *
 * A detector belongs to one thread at a time (the codec thread that runs
 * a filter); two detectors may run on two threads at once. OpenCV's own
 * worker threads are turned off once, at the first create: detection runs
 * on the caller's thread only. */
#ifndef FL_CODEC_FACE_H
#define FL_CODEC_FACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The cascade a NULL path loads: of OpenCV's frontal face cascades, the
 * one that found as many faces as the others and no false face on the
 * photos it was measured on (see codec/face.cpp). */
#define FL_FACE_CASCADE_DEFAULT "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt.xml"

/* How a filter runs detection on video: on a copy downscaled to
 * FL_FACE_WORK_WIDTH (as accurate as 320 on the faces measured, at 70% of
 * its time), the next detection FL_FACE_DETECT_SHARE times the last one's
 * time after it (a share of one core), FL_FACE_DETECT_MIN_MS at least. */
#define FL_FACE_WORK_WIDTH    240
#define FL_FACE_DETECT_SHARE  4
#define FL_FACE_DETECT_MIN_MS 100

typedef struct fl_face_detector fl_face_detector;

typedef struct fl_face {
    int x, y, width, height; /* in the input's pixels */
} fl_face;

/* Loads a frontal face cascade (cascade NULL: FL_FACE_CASCADE_DEFAULT) and
 * makes a detector that works on a copy of the input downscaled to at most
 * work_width pixels wide (e.g. 320; 0: the input as it is). It looks for
 * faces from about 12% to 80% of the picture's height (a webcam's face is
 * 15-60%). Returns 0 (*out set), FL_EINVAL (out NULL, work_width < 0 or
 * between 1 and 47), FL_ENOENT (no cascade file: why says which, and that
 * the Debian package opencv-data ships them), FL_EIO (the file is not a
 * cascade OpenCV loads), FL_ENOMEM. why (may be NULL) gets a sentence on
 * failure, "" on success, truncated to why_cap. */
int fl_face_detector_create(fl_face_detector **out,
                            const char *cascade,
                            int work_width,
                            char *why,
                            size_t why_cap);

/* Frees d (NULL: nothing). */
void fl_face_detector_destroy(fl_face_detector *d);

/* Finds faces in an 8-bit luma plane (an I420 picture's Y plane: width x
 * height pixels, stride bytes from one row to the next; not modified, not
 * kept). Writes at most max faces to out, largest first, in the input's
 * pixels and inside it, and returns how many it wrote (0: no face); or
 * FL_EINVAL (NULL d or luma, sizes < 1 or > 8192, stride < width, max < 0,
 * out NULL with max > 0), FL_ENOMEM, FL_EIO (OpenCV failed).
 *
 * Once warmed up for one input size, d's picture buffers are reused: the
 * allocations left per call are OpenCV's small ones inside the cascade
 * search (18 on a 640x480 frame, the largest 4 KB). */
int fl_face_detect(fl_face_detector *d,
                   const uint8_t *luma,
                   int width,
                   int height,
                   int stride,
                   fl_face *out,
                   int max);

#ifdef __cplusplus
}
#endif

#endif
