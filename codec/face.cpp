/* codec/face.cpp: codec/face.h over OpenCV's CascadeClassifier. The
 * project's one C++ file: every entry point catches whatever OpenCV or the
 * C++ library throws and returns an FL_E* code instead. */
#include "codec/face.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <unistd.h>
#include <vector>

#include "base/err.h"

/* The largest side accepted: far above any video, far below int overflow
 * in OpenCV's integral images. */
#define MAX_SIDE 8192
/* The smallest work_width: the cascade's window (20-24 pixels) with room
 * to look at more than one place. */
#define MIN_WORK_WIDTH 48
/* The face sizes searched, in percent of the picture's height: a webcam's
 * face is 15-60% of it, and the box the cascade finds is a little larger
 * than the face. */
#define MIN_FACE_PCT 12
#define MAX_FACE_PCT 80
/* Each scale 15% larger than the last; a face is kept where at least 3
 * neighbouring windows agree. Measured on photos with a face (a frontal
 * face 15-60% of a 640x480 frame's height, dimmed, two at once; 100 LFW
 * faces) and 14 without (textures, text, animals, noise), with the three
 * frontal cascades: the alt cascade with 1.15 and 3 found every photo's
 * face, 99 of 100 LFW faces, and no false face at work width 320 or 640;
 * 1.1 and 3 took a name tag for a face at full size and cost a third more
 * time; 1.2 missed the smallest faces at 320; the default cascade found
 * 4-13 false faces, alt2 1-7 (coins). */
#define SCALE_FACTOR   1.15
#define MIN_NEIGHBOURS 3

struct fl_face_detector {
    cv::CascadeClassifier cascade;
    int work_width;
    cv::Mat small;               /* the downscaled copy */
    std::vector<cv::Rect> found; /* in the work picture's pixels */
};

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* OpenCV's process-wide setting, once (setNumThreads is not thread-safe):
 * no worker threads, its parallel loops run on the caller's thread. */
static std::once_flag configured;

extern "C" int fl_face_detector_create(fl_face_detector **out,
                                       const char *cascade,
                                       int work_width,
                                       char *why,
                                       size_t why_cap)
{
    say(why, why_cap, "%s", "");
    if (!out)
        return FL_EINVAL;
    *out = nullptr;
    if (work_width < 0 || (work_width > 0 && work_width < MIN_WORK_WIDTH)) {
        say(why, why_cap, "work width %d: 0 or at least %d", work_width, MIN_WORK_WIDTH);
        return FL_EINVAL;
    }
    const char *path = cascade ? cascade : FL_FACE_CASCADE_DEFAULT;
    if (access(path, R_OK) != 0) {
        say(why, why_cap,
            "no face cascade at %s (%s; OpenCV's Haar cascades come with the Debian package opencv-data)",
            path, strerror(errno));
        return FL_ENOENT;
    }
    fl_face_detector *d = nullptr;
    try {
        /* lambdas, not function pointers, here and for the sort: clang's
         * UBSan checks calls through pointers with a C++-only runtime that
         * the fuzz targets (linked as C) lack */
        std::call_once(configured, [] { cv::setNumThreads(0); });
        d = new fl_face_detector();
        d->work_width = work_width;
        if (!d->cascade.load(path) || d->cascade.empty()) {
            say(why, why_cap, "%s: not a cascade OpenCV can load", path);
            delete d;
            return FL_EIO;
        }
    } catch (const std::bad_alloc &) {
        delete d;
        say(why, why_cap, "no memory for the face cascade %s", path);
        return FL_ENOMEM;
    } catch (const cv::Exception &e) {
        delete d;
        say(why, why_cap, "%s: not a cascade OpenCV can load (%s in %s)", path, e.err.c_str(),
            e.func.c_str());
        return e.code == cv::Error::StsNoMem ? FL_ENOMEM : FL_EIO;
    } catch (...) {
        delete d;
        say(why, why_cap, "%s: not a cascade OpenCV can load", path);
        return FL_EIO;
    }
    *out = d;
    return 0;
}

extern "C" void fl_face_detector_destroy(fl_face_detector *d)
{
    delete d; /* the destructors of cv::Mat and the cascade do not throw */
}

/* The search in the work picture (the input, or d->small); found is in its
 * pixels. The cascade's features are normalized by each window's variance,
 * so a dim or flat picture needs no contrast stretch first. */
static const cv::Mat *search(fl_face_detector *d, const cv::Mat &in)
{
    /* OpenCL is a per-thread setting: left on, a thread's first detection
     * loads the OpenCL runtime to look for a device */
    cv::ocl::setUseOpenCL(false);
    const cv::Mat *work = &in;
    if (d->work_width > 0 && in.cols > d->work_width) {
        int h = std::max(1, (int)((int64_t)in.rows * d->work_width / in.cols));
        cv::resize(in, d->small, cv::Size(d->work_width, h), 0, 0, cv::INTER_AREA);
        work = &d->small;
    }
    cv::Size window = d->cascade.getOriginalWindowSize();
    int rows = work->rows;
    int lo = std::max({ window.width, window.height, rows * MIN_FACE_PCT / 100 });
    int hi = std::max(lo, rows * MAX_FACE_PCT / 100);
    d->found.clear();
    if (work->cols < lo || rows < lo)
        return work; /* smaller than the smallest face */
    d->cascade.detectMultiScale(*work, d->found, SCALE_FACTOR, MIN_NEIGHBOURS, 0, cv::Size(lo, lo),
                                cv::Size(hi, hi));
    std::sort(d->found.begin(), d->found.end(),
              [](const cv::Rect &a, const cv::Rect &b) { return a.area() > b.area(); });
    return work;
}

/* r, in the work picture's pixels, in the input's and inside it. */
static fl_face to_input(const cv::Rect &r, int work_w, int work_h, int width, int height)
{
    int64_t x0 = (int64_t)r.x * width / work_w, y0 = (int64_t)r.y * height / work_h;
    int64_t x1 = (int64_t)(r.x + r.width) * width / work_w;
    int64_t y1 = (int64_t)(r.y + r.height) * height / work_h;
    x0 = std::clamp<int64_t>(x0, 0, width);
    x1 = std::clamp<int64_t>(x1, x0, width);
    y0 = std::clamp<int64_t>(y0, 0, height);
    y1 = std::clamp<int64_t>(y1, y0, height);
    return fl_face{ (int)x0, (int)y0, (int)(x1 - x0), (int)(y1 - y0) };
}

extern "C" int fl_face_detect(fl_face_detector *d,
                              const uint8_t *luma,
                              int width,
                              int height,
                              int stride,
                              fl_face *out,
                              int max)
{
    if (!d || !luma || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE ||
        stride < width || max < 0 || (max > 0 && !out))
        return FL_EINVAL;
    int work_w, work_h;
    try {
        cv::Mat in(height, width, CV_8UC1, const_cast<uint8_t *>(luma), (size_t)stride);
        const cv::Mat *work = search(d, in);
        work_w = work->cols;
        work_h = work->rows;
    } catch (const std::bad_alloc &) {
        return FL_ENOMEM;
    } catch (const cv::Exception &e) {
        return e.code == cv::Error::StsNoMem ? FL_ENOMEM : FL_EIO;
    } catch (...) {
        return FL_EIO;
    }
    int n = std::min(max, (int)d->found.size());
    for (int i = 0; i < n; i++)
        out[i] = to_input(d->found[i], work_w, work_h, width, height);
    return n;
}
