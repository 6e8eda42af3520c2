/* codec/face.h: the face of a photograph (tests/tools/face_photo.sh) is
 * found where it is, as the photo is and inside a webcam-like 640x480
 * frame, at both work widths; two faces come largest first; a flat or
 * noisy picture has none; a stride wider than the picture (odd) gives the
 * same faces; bad arguments and cascade files give their codes; detection
 * starts no thread and loads no OpenCL runtime, even on a second thread;
 * two threads with a detector each find the same as one.
 * Prints the detection time of a 640x480 frame at work widths 240, 320
 * and 640. The repository's root is the working directory. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "codec/face.h"

#include <cmocka.h>

#define PHOTO "build/media/face.png"
#define W     640
#define H     480

/* The photo's face (512x512): x 175-275, y 60-180. */
static const fl_face photo_face = { 175, 60, 100, 120 };

/* Reads exactly len bytes of a command's output. */
static void read_cmd(const char *cmd, uint8_t *buf, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(buf, 1, len, p);
    assert_int_equal(pclose(p), 0);
    assert_int_equal(got, len);
}

/* The photo through an ffmpeg filter, as len bytes of grey. */
static uint8_t *photo(const char *filter, size_t len)
{
    assert_int_equal(system("sh tests/tools/face_photo.sh " PHOTO), 0);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ffmpeg -v error -i " PHOTO " %s%s -f rawvideo -pix_fmt gray -",
             filter ? "-vf " : "", filter ? filter : "");
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    read_cmd(cmd, buf, len);
    return buf;
}

/* The 512x512 photo scaled to 480x480 and centred on a grey 640x480
 * frame: the face at x 244-338, y 56-169. */
#define WEBCAM_FILTER "scale=480:480,pad=640:480:80:0:color=gray"
static const fl_face webcam_face = { 244, 56, 94, 113 };

static int64_t overlap(const fl_face *a, const fl_face *b)
{
    int x0 = a->x > b->x ? a->x : b->x, y0 = a->y > b->y ? a->y : b->y;
    int x1 = a->x + a->width < b->x + b->width ? a->x + a->width : b->x + b->width;
    int y1 = a->y + a->height < b->y + b->height ? a->y + a->height : b->y + b->height;
    return x1 > x0 && y1 > y0 ? (int64_t)(x1 - x0) * (y1 - y0) : 0;
}

/* Most of the box found is on the face, and it covers most of the face. */
static void assert_on(const fl_face *found, const fl_face *face)
{
    int64_t common = overlap(found, face);
    print_message("found x %d y %d %dx%d, %lld%% of it on the face (x %d y %d %dx%d)\n", found->x,
                  found->y, found->width, found->height,
                  (long long)(100 * common / ((int64_t)found->width * found->height)), face->x,
                  face->y, face->width, face->height);
    assert_true(common * 10 >= (int64_t)found->width * found->height * 6);
    assert_true(common * 10 >= (int64_t)face->width * face->height * 5);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static fl_face_detector *detector(int work_width)
{
    fl_face_detector *d = NULL;
    char why[256];
    int rc = fl_face_detector_create(&d, NULL, work_width, why, sizeof(why));
    if (rc != 0)
        print_message("%s\n", why);
    assert_int_equal(rc, 0);
    assert_string_equal(why, "");
    return d;
}

static void the_photo(void **state)
{
    (void)state;
    uint8_t *img = photo(NULL, 512 * 512);
    int widths[] = { 320, 0 };
    for (size_t i = 0; i < 2; i++) {
        fl_face_detector *d = detector(widths[i]);
        fl_face f[4];
        assert_int_equal(fl_face_detect(d, img, 512, 512, 512, f, 4), 1);
        assert_on(&f[0], &photo_face);
        fl_face_detector_destroy(d);
    }
    free(img);
}

/* The webcam-like frame at one work width: the face, and the time. */
static void webcam_at(const uint8_t *img, int work_width)
{
    fl_face_detector *d = detector(work_width);
    fl_face f[4];
    assert_int_equal(fl_face_detect(d, img, W, H, W, f, 4), 1); /* warm */
    assert_on(&f[0], &webcam_face);
    int runs = 10;
    double t0 = now();
    for (int i = 0; i < runs; i++)
        assert_int_equal(fl_face_detect(d, img, W, H, W, f, 4), 1);
    print_message("face detection, 640x480 at work width %d: %.1f ms a frame\n", work_width,
                  (now() - t0) * 1e3 / runs);
    assert_on(&f[0], &webcam_face);
    fl_face_detector_destroy(d);
}

static void webcam_frame(void **state)
{
    (void)state;
    uint8_t *img = photo(WEBCAM_FILTER, W * H);
    webcam_at(img, 240);
    webcam_at(img, 320);
    webcam_at(img, 640);
    free(img);
}

/* The photo's head (x 100-350, y 0-300) twice on a grey frame: as it is
 * at (20, 100), its face at x 95-195, y 160-280; and 1.25 times larger at
 * (300, 50), its face at x 394-519, y 125-275. */
static void largest_first(void **state)
{
    (void)state;
    uint8_t *img = malloc(W * H);
    assert_non_null(img);
    assert_int_equal(system("sh tests/tools/face_photo.sh " PHOTO), 0);
    read_cmd(
            "ffmpeg -v error -f lavfi -i color=gray:s=640x480 -i " PHOTO
            " -filter_complex '[1]crop=250:300:100:0,split[p][q];[q]scale=312:374[b];"
            "[0][p]overlay=20:100[t];[t][b]overlay=300:50,format=gray' -frames:v 1 -f rawvideo -pix_fmt gray -",
            img, W * H);
    const fl_face small = { 95, 160, 100, 120 }, large = { 394, 125, 125, 150 };
    fl_face_detector *d = detector(320);
    fl_face f[4];
    assert_int_equal(fl_face_detect(d, img, W, H, W, f, 4), 2);
    assert_true(f[0].width * f[0].height > f[1].width * f[1].height);
    assert_on(&f[0], &large);
    assert_on(&f[1], &small);
    /* room for one: the largest */
    fl_face one[1];
    assert_int_equal(fl_face_detect(d, img, W, H, W, one, 1), 1);
    assert_memory_equal(&one[0], &f[0], sizeof(fl_face));
    assert_int_equal(fl_face_detect(d, img, W, H, W, NULL, 0), 0);
    fl_face_detector_destroy(d);
    free(img);
}

static void no_face(void **state)
{
    (void)state;
    uint8_t *img = malloc(W * H);
    assert_non_null(img);
    fl_face_detector *d = detector(320);
    fl_face f[4];
    memset(img, 128, W * H);
    assert_int_equal(fl_face_detect(d, img, W, H, W, f, 4), 0);
    uint32_t x = 12345; /* noise */
    for (size_t i = 0; i < W * H; i++) {
        x = x * 1103515245u + 12345u;
        img[i] = (uint8_t)(x >> 24);
    }
    assert_int_equal(fl_face_detect(d, img, W, H, W, f, 4), 0);
    /* smaller than the smallest face, and a single pixel */
    assert_int_equal(fl_face_detect(d, img, 20, 20, W, f, 4), 0);
    assert_int_equal(fl_face_detect(d, img, 1, 1, 1, f, 4), 0);
    fl_face_detector_destroy(d);
    free(img);
}

/* The frame with an odd stride, junk between the rows: the same faces. */
static void odd_stride(void **state)
{
    (void)state;
    uint8_t *img = photo(WEBCAM_FILTER, W * H);
    int stride = W + 37;
    uint8_t *wide = malloc((size_t)stride * H);
    assert_non_null(wide);
    for (size_t i = 0; i < (size_t)stride * H; i++)
        wide[i] = (uint8_t)(i * 7);
    for (int y = 0; y < H; y++)
        memcpy(wide + (size_t)y * stride, img + (size_t)y * W, W);
    int widths[] = { 320, 0 };
    for (size_t i = 0; i < 2; i++) {
        fl_face_detector *d = detector(widths[i]);
        fl_face a[4], b[4];
        assert_int_equal(fl_face_detect(d, img, W, H, W, a, 4), 1);
        assert_int_equal(fl_face_detect(d, wide, W, H, stride, b, 4), 1);
        assert_memory_equal(a, b, sizeof(fl_face));
        assert_on(&b[0], &webcam_face);
        fl_face_detector_destroy(d);
    }
    free(wide);
    free(img);
}

static void bad_arguments(void **state)
{
    (void)state;
    fl_face_detector *d = detector(320);
    uint8_t px[64 * 64] = { 0 };
    fl_face f[1];
    assert_int_equal(fl_face_detect(NULL, px, 64, 64, 64, f, 1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, NULL, 64, 64, 64, f, 1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, px, 0, 64, 64, f, 1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, px, 64, -1, 64, f, 1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, px, 64, 64, 63, f, 1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, px, 9000, 1, 9000, f, 1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, px, 64, 64, 64, f, -1), FL_EINVAL);
    assert_int_equal(fl_face_detect(d, px, 64, 64, 64, NULL, 1), FL_EINVAL);
    fl_face_detector_destroy(d);
    fl_face_detector_destroy(NULL);

    char why[256];
    fl_face_detector *none = (fl_face_detector *)1;
    assert_int_equal(fl_face_detector_create(NULL, NULL, 320, why, sizeof(why)), FL_EINVAL);
    assert_int_equal(fl_face_detector_create(&none, NULL, -1, why, sizeof(why)), FL_EINVAL);
    assert_null(none);
    assert_int_equal(fl_face_detector_create(&none, NULL, 10, NULL, 0), FL_EINVAL);
}

static void cascade_files(void **state)
{
    (void)state;
    fl_face_detector *d = (fl_face_detector *)1;
    char why[256];
    const char *missing = "build/media/no-such-cascade.xml";
    assert_int_equal(fl_face_detector_create(&d, missing, 320, why, sizeof(why)), FL_ENOENT);
    assert_null(d);
    print_message("%s\n", why);
    assert_non_null(strstr(why, missing));
    assert_non_null(strstr(why, "opencv-data"));
    char tiny[24]; /* truncated, terminated */
    assert_int_equal(fl_face_detector_create(&d, missing, 320, tiny, sizeof(tiny)), FL_ENOENT);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);

    /* files that are not cascades: text, a truncated cascade, a folder */
    const char *junk = "build/media/junk-cascade.xml";
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("this is not a cascade\n", f);
    fclose(f);
    assert_int_equal(fl_face_detector_create(&d, junk, 320, why, sizeof(why)), FL_EIO);
    assert_non_null(strstr(why, junk));
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "head -c 3000 %s > %s", FL_FACE_CASCADE_DEFAULT, junk);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fl_face_detector_create(&d, junk, 320, why, sizeof(why)), FL_EIO);
    print_message("%s\n", why);
    remove(junk);
    assert_int_equal(fl_face_detector_create(&d, "build/media", 320, why, sizeof(why)), FL_EIO);
    assert_null(d);

    /* the other frontal cascade loads too */
    assert_int_equal(fl_face_detector_create(
                             &d,
                             "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
                             0, why, sizeof(why)),
                     0);
    fl_face_detector_destroy(d);
}

static int thread_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static int opencl_loaded(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof(line), f))
        found |= strstr(line, "libOpenCL") != NULL;
    fclose(f);
    return found;
}

struct job {
    fl_face_detector *d;
    const uint8_t *img;
    int n;
    int threads_during; /* seen from inside the thread, after detecting */
};

static void *detect_job(void *arg)
{
    struct job *j = arg;
    fl_face f[4];
    j->n = fl_face_detect(j->d, j->img, W, H, W, f, 4);
    j->threads_during = thread_count();
    return NULL;
}

static void *nothing(void *arg)
{
    return arg;
}

/* The threads once a joined one is gone from /proc (its entry may outlive
 * the join by a moment): the count when it is want (want < 0: the same
 * three times in a row), 10 ms apart, 1 s at most. */
static int settled_thread_count(int want)
{
    int n = thread_count(), same = 0;
    for (int i = 0; i < 100 && (want < 0 ? same < 2 : n != want); i++) {
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
        int m = thread_count();
        same = m == n ? same + 1 : 0;
        n = m;
    }
    return n;
}

/* OpenCV's worker threads stay off and its OpenCL runtime unloaded, on
 * the creating thread and on another one (a codec thread). */
static void no_threads(void **state)
{
    (void)state;
    uint8_t *img = photo(WEBCAM_FILTER, W * H);
    /* a thread first: a sanitizer's own thread starts with the first one */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, nothing, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    int before = settled_thread_count(-1);
    fl_face_detector *d = detector(320);
    fl_face f[4];
    assert_int_equal(fl_face_detect(d, img, W, H, W, f, 4), 1);
    assert_int_equal(thread_count(), before);
    struct job j = { d, img, -1, 0 };
    assert_int_equal(pthread_create(&t, NULL, detect_job, &j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.n, 1);
    assert_int_equal(j.threads_during, before + 1); /* itself only */
    assert_int_equal(settled_thread_count(before), before);
    assert_false(opencl_loaded());
    fl_face_detector_destroy(d);
    free(img);
}

struct pair_job {
    const uint8_t *img;
    fl_face want;
    int ok; /* detections that found want exactly */
};

static void *own_detector_job(void *arg)
{
    struct pair_job *j = arg;
    fl_face_detector *d = NULL;
    if (fl_face_detector_create(&d, NULL, 320, NULL, 0) != 0)
        return NULL;
    for (int i = 0; i < 4; i++) {
        fl_face f[4];
        if (fl_face_detect(d, j->img, W, H, W, f, 4) == 1 &&
            memcmp(&f[0], &j->want, sizeof(fl_face)) == 0)
            j->ok++;
    }
    fl_face_detector_destroy(d);
    return NULL;
}

/* Two codec threads, each with its own detector, at the same time: each
 * finds what one thread alone finds. */
static void two_threads(void **state)
{
    (void)state;
    uint8_t *img = photo(WEBCAM_FILTER, W * H);
    fl_face_detector *d = detector(320);
    fl_face want[4];
    assert_int_equal(fl_face_detect(d, img, W, H, W, want, 4), 1);
    fl_face_detector_destroy(d);
    struct pair_job jobs[2] = { { img, want[0], 0 }, { img, want[0], 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, own_detector_job, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].ok, 4);
    }
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_photo),     cmocka_unit_test(webcam_frame),
        cmocka_unit_test(largest_first), cmocka_unit_test(no_face),
        cmocka_unit_test(odd_stride),    cmocka_unit_test(bad_arguments),
        cmocka_unit_test(cascade_files), cmocka_unit_test(no_threads),
        cmocka_unit_test(two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
