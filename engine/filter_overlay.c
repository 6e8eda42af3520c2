/* ImageOverlayFilter and FaceOverlayFilter: images drawn over the video,
 * at places given relative to the picture (addImage) or to each face
 * found in it (setOverlayedImage).
 *
 * An image's URI (file://, http://, https://) is read on the worker's
 * loop, never blocking it, at most FL_FILTER_IMAGE_MAX bytes; its bytes go
 * to the filter's thread, which decodes them (PNG or JPEG, alpha kept)
 * and answers the call: a URI that cannot be read or bytes that are not
 * an image fail it, and the filter goes on as before.
 *
 * Faces are found with a Haar cascade (codec/face.h) on a copy of the
 * picture downscaled to DETECT_WIDTH, as often as the thread sustains: the
 * next detection waits DETECT_SHARE times what the last one took (at
 * least DETECT_MIN_MS). Between detections the last faces are drawn; a
 * face missed by one detection is kept FACE_HOLD_MS. With no face, or no
 * image, nothing is drawn and the source's packets go out untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "codec/face.h"
#include "codec/image.h"
#include "engine/filter.h"
#include "engine/player_src.h"

FL_LOG_TAG("overlay");

#define MAX_IMAGES    16
#define ID_MAX        64
#define MAX_FETCHES   4
#define READ_CHUNK    (256 * 1024)
#define MAX_FACES     8
#define DETECT_WIDTH  FL_FACE_WORK_WIDTH
#define DETECT_SHARE  FL_FACE_DETECT_SHARE
#define DETECT_MIN_MS FL_FACE_DETECT_MIN_MS
#define FACE_HOLD_MS  500
#define IMAGE_PIXELS  (2048 * 2048) /* an image decoded: 16 MiB at most */
#define DRAW_AREA     16            /* an image drawn: 16 times the picture's area at most */

enum {
    OP_ADD,    /* ImageOverlayFilter.addImage */
    OP_REMOVE, /* ImageOverlayFilter.removeImage */
    OP_SET,    /* FaceOverlayFilter.setOverlayedImage */
    OP_UNSET   /* FaceOverlayFilter.unsetOverlayedImage */
};

/* What a call asks of the thread. */
typedef struct ov_msg {
    int op;
    char id[ID_MAX];
    double x, y, w, h;
    int keep, center;
    fl_bytes bytes; /* the image file */
    fl__deferred d;
} ov_msg;

typedef struct ov_image {
    char id[ID_MAX];
    double x, y, w, h;
    int keep, center;
    fl_image img;
    fl_image scaled; /* img at the size last drawn */
} ov_image;

/* The thread's state. */
typedef struct ov_state {
    int face; /* FaceOverlayFilter */
    ov_image images[MAX_IMAGES];
    int n;
    /* FaceOverlayFilter */
    fl_face_detector *det;
    fl_face faces[MAX_FACES];
    int nfaces;
    uint64_t next_detect_ns, faces_ns;
} ov_state;

/* A URI being read for a call. */
typedef struct fetch {
    fl__bytes *src;
    ov_msg *msg;
    fl__filter *f;
    int64_t size;
    size_t asked;
} fetch;

/* The worker's state. */
typedef struct ov_worker {
    fetch fetches[MAX_FETCHES];
} ov_worker;

static void msg_free(void *p)
{
    ov_msg *m = p;
    if (!m)
        return;
    fl_bytes_deinit(&m->bytes);
    fl__deferred_text(&m->d, FL_ECANCELED, "the filter was released");
    free(m);
}

/* ---- reading the URI (worker) ---- */

static void fetch_end(fetch *x, int status, const char *why)
{
    if (x->src)
        fl__bytes_close(x->src);
    x->src = NULL;
    ov_msg *m = x->msg;
    x->msg = NULL;
    if (status == 0 && fl__filter_send(x->f, m) == 0)
        return;
    if (status == 0) {
        status = FL_EAGAIN;
        why = "the filter is busy: try again";
    }
    fl_bytes_deinit(&m->bytes);
    fl__deferred_text(&m->d, status, why);
    free(m);
}

static void fetch_read(fetch *x, int64_t offset)
{
    x->asked = READ_CHUNK;
    int rc = fl__bytes_read(x->src, offset, x->asked);
    if (rc < 0)
        fetch_end(x, rc, "the image could not be read");
}

static void on_opened(void *arg, int64_t size, int seekable)
{
    (void)seekable;
    fetch *x = arg;
    char why[96];
    if (size > (int64_t)FL_FILTER_IMAGE_MAX) {
        snprintf(why, sizeof(why), "the image is %lld bytes, over the limit of %u", (long long)size,
                 FL_FILTER_IMAGE_MAX);
        fetch_end(x, FL_EMSGSIZE, why);
        return;
    }
    x->size = size;
    fetch_read(x, 0);
}

static void on_data(void *arg, int64_t offset, const uint8_t *data, size_t n)
{
    fetch *x = arg;
    char why[96];
    if (x->msg->bytes.len + n > FL_FILTER_IMAGE_MAX) {
        snprintf(why, sizeof(why), "the image is over the limit of %u bytes", FL_FILTER_IMAGE_MAX);
        fetch_end(x, FL_EMSGSIZE, why);
        return;
    }
    if (fl_bytes_append(&x->msg->bytes, data, n) < 0) {
        fetch_end(x, FL_ENOMEM, NULL);
        return;
    }
    int done = n < x->asked || (x->size >= 0 && (int64_t)x->msg->bytes.len >= x->size);
    if (done)
        fetch_end(x, 0, NULL);
    else
        fetch_read(x, offset + (int64_t)n);
}

static void on_failed(void *arg, int status, const char *why)
{
    fetch_end(arg, status, why);
}

static const fl__bytes_cb fetch_cb = { on_opened, on_data, on_failed };

/* Reads msg's image from uri, then hands msg to the thread. */
static int fetch_start(fl_element *e, ov_msg *m, const char *uri, fl__invocation *inv)
{
    fl__filter *f = fl__filter_of(e);
    ov_worker *w = fl__filter_worker(f);
    fetch *x = NULL;
    for (int i = 0; i < MAX_FETCHES && !x; i++)
        x = w->fetches[i].msg ? NULL : &w->fetches[i];
    if (!x) {
        snprintf(inv->why, sizeof(inv->why), "%d images are being read already", MAX_FETCHES);
        return FL_EAGAIN;
    }
    memset(x, 0, sizeof(*x));
    x->f = f;
    x->size = -1;
    int rc = fl__bytes_open(&x->src, &e->pipeline->worker->loop, uri, NULL, &fetch_cb, x);
    if (rc < 0) {
        snprintf(inv->why, sizeof(inv->why), "'%.200s' is not a file://, http:// or https:// URI",
                 uri);
        x->src = NULL;
        return rc == FL_ENOMEM ? rc : FL_EINVAL;
    }
    x->msg = m;
    m->d = fl__invocation_defer(inv);
    return FL__INVOKE_LATER;
}

static void overlay_fini(fl_element *e)
{
    fl__filter *f = fl__filter_of(e);
    ov_worker *w = f ? fl__filter_worker(f) : NULL;
    for (int i = 0; w && i < MAX_FETCHES; i++) {
        if (w->fetches[i].msg)
            fetch_end(&w->fetches[i], FL_ECANCELED, "the filter was released");
    }
    fl__filter_fini(e);
}

/* ---- the calls (worker) ---- */

enum {
    M_ADD_IMAGE,
    M_REMOVE_IMAGE,
    M_SET_OVERLAYED,
    M_UNSET_OVERLAYED
};

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return FL_EINVAL;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
        return FL_EINVAL;
    *out = s[0] == 't';
    return 0;
}

/* The four numbers of a place: offsets -10..10, sizes 0..10 (of the
 * picture, or of a face). */
static int parse_place(const char *const *a, ov_msg *m, fl__invocation *inv)
{
    static const char *const names[] = { "offsetXPercent", "offsetYPercent", "widthPercent",
                                         "heightPercent" };
    double *v[] = { &m->x, &m->y, &m->w, &m->h };
    for (int i = 0; i < 4; i++) {
        if (parse_num(a[i], i < 2 ? -10 : 0, 10, v[i]) < 0 || (i >= 2 && *v[i] <= 0)) {
            snprintf(inv->why, sizeof(inv->why), "%s must be a number %s, not '%.40s'", names[i],
                     i < 2 ? "from -10 to 10" : "over 0, up to 10", a[i]);
            return FL_EINVAL;
        }
    }
    return 0;
}

static int overlay_invoke(fl_element *e, fl__invocation *inv)
{
    const char *const *a = inv->args;
    ov_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return FL_ENOMEM;
    int rc = 0;
    const char *uri = NULL;
    switch (inv->method->id) {
    case M_ADD_IMAGE:
        m->op = OP_ADD;
        uri = a[1];
        if (!a[0][0] || strlen(a[0]) >= ID_MAX) {
            snprintf(inv->why, sizeof(inv->why), "an image's id is 1 to %d characters", ID_MAX - 1);
            rc = FL_EINVAL;
        } else if ((rc = parse_place(a + 2, m, inv)) == 0 &&
                   (parse_bool(a[6], &m->keep) < 0 || parse_bool(a[7], &m->center) < 0)) {
            snprintf(inv->why, sizeof(inv->why), "keepAspectRatio and center are booleans");
            rc = FL_EINVAL;
        }
        snprintf(m->id, sizeof(m->id), "%s", a[0]);
        break;
    case M_REMOVE_IMAGE:
        m->op = OP_REMOVE;
        snprintf(m->id, sizeof(m->id), "%s", a[0]);
        break;
    case M_SET_OVERLAYED:
        m->op = OP_SET;
        uri = a[0];
        rc = parse_place(a + 1, m, inv);
        break;
    default:
        m->op = OP_UNSET;
        break;
    }
    if (rc == 0 && uri)
        rc = fetch_start(e, m, uri, inv);
    else if (rc == 0) {
        m->d = fl__invocation_defer(inv);
        rc = fl__filter_send(fl__filter_of(e), m);
        if (rc == 0)
            return FL__INVOKE_LATER;
        fl__deferred_text(&m->d, rc, "the filter is busy: try again");
        free(m);
        return FL__INVOKE_LATER;
    }
    if (rc != FL__INVOKE_LATER)
        free(m);
    return rc;
}

/* ---- the thread ---- */

static ov_image *find(ov_state *s, const char *id)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->images[i].id, id) == 0)
            return &s->images[i];
    }
    return NULL;
}

static void remove_at(ov_state *s, ov_image *im)
{
    fl_image_free(&im->img);
    fl_image_free(&im->scaled);
    *im = s->images[--s->n];
    memset(&s->images[s->n], 0, sizeof(s->images[s->n]));
}

static void overlay_message(fl__filter *f, void *state, void *p)
{
    ov_state *s = state;
    ov_msg *m = p;
    char why[256] = "";
    int rc = 0;
    if (m->op == OP_ADD || m->op == OP_SET) {
        fl_image img = { 0 };
        rc = fl_image_decode_limit(&img, m->bytes.data, m->bytes.len, IMAGE_PIXELS, why,
                                   sizeof(why));
        if (rc == FL_ENOTSUP || rc == FL_EBADMSG || rc == FL_EMSGSIZE)
            rc = FL_EINVAL; /* the caller's image is wrong */
        if (rc == 0 && m->op == OP_SET && !s->det)
            rc = fl_face_detector_create(&s->det, NULL, DETECT_WIDTH, why, sizeof(why));
        ov_image *im = rc == 0 ? find(s, m->id) : NULL;
        if (rc == 0 && !im && s->n == MAX_IMAGES) {
            snprintf(why, sizeof(why), "a filter draws at most %d images", MAX_IMAGES);
            rc = FL_ERANGE;
        }
        if (rc < 0) {
            fl_image_free(&img);
        } else {
            if (!im)
                im = &s->images[s->n++];
            fl_image_free(&im->img);
            fl_image_free(&im->scaled);
            snprintf(im->id, sizeof(im->id), "%s", m->id);
            im->x = m->x;
            im->y = m->y;
            im->w = m->w;
            im->h = m->h;
            im->keep = m->keep;
            im->center = m->center;
            im->img = img;
        }
    } else {
        ov_image *im = find(s, m->id);
        if (im)
            remove_at(s, im);
        else if (m->op == OP_REMOVE) /* as Kurento: said, not failed */
            fl_log(FL_LOG_INFO, "removeImage: no image '%s' in this filter", m->id);
    }
    fl__filter_set_active(f, s->n > 0);
    if (fl__filter_answer(f, m->d, rc, why[0] ? why : NULL) < 0)
        fl_log(FL_LOG_WARN, "an answer was lost: the worker is far behind");
    fl_bytes_deinit(&m->bytes);
    free(m);
}

/* Draws im with its top-left corner at (x, y), w x h (any part may lie
 * outside the picture). */
static void draw(fl__filter *f, ov_image *im, int x, int y, int w, int h)
{
    const fl_picture *pic = fl__filter_picture(f);
    if (w < 1 || h < 1 || w > FL_IMAGE_MAX_SIDE || h > FL_IMAGE_MAX_SIDE ||
        (int64_t)w * h > (int64_t)DRAW_AREA * pic->width * pic->height)
        return;
    if (x >= pic->width || y >= pic->height || (int64_t)x + w <= 0 || (int64_t)y + h <= 0)
        return; /* nothing of it in the picture: nothing drawn */
    fl_picture *c = fl__filter_canvas(f);
    if (!c)
        return;
    if ((im->scaled.width != w || im->scaled.height != h) &&
        fl_image_scale(&im->scaled, &im->img, w, h) < 0)
        return;
    fl_picture_blend(c, &im->scaled, x, y);
}

/* An image placed relative to the picture: a box of (x, y, w, h) of its
 * size; keepAspectRatio fits the image in the box, at its top-left corner
 * or centred. */
static void draw_placed(fl__filter *f, ov_image *im, const fl_picture *pic)
{
    double bx = im->x * pic->width, by = im->y * pic->height;
    double bw = im->w * pic->width, bh = im->h * pic->height;
    double w = bw, h = bh;
    if (im->keep) {
        double k =
                bw / im->img.width < bh / im->img.height ? bw / im->img.width : bh / im->img.height;
        w = im->img.width * k;
        h = im->img.height * k;
        if (im->center) {
            bx += (bw - w) / 2;
            by += (bh - h) / 2;
        }
    }
    draw(f, im, (int)bx, (int)by, (int)(w + 0.5), (int)(h + 0.5));
}

static int image_process(fl__filter *f, void *state, const fl_picture *pic, uint64_t now_ns)
{
    (void)now_ns;
    ov_state *s = state;
    for (int i = 0; i < s->n; i++)
        draw_placed(f, &s->images[i], pic);
    return s->n > 0;
}

static int face_process(fl__filter *f, void *state, const fl_picture *pic, uint64_t now_ns)
{
    ov_state *s = state;
    if (s->n == 0 || !s->det)
        return 0;
    if (now_ns >= s->next_detect_ns) {
        fl_face found[MAX_FACES];
        int n = fl_face_detect(s->det, pic->plane[0], pic->width, pic->height, pic->stride[0],
                               found, MAX_FACES);
        uint64_t end = (uint64_t)fl_time_now() * 1000u; /* ns */
        uint64_t wait = (end - now_ns) * DETECT_SHARE;
        if (wait < DETECT_MIN_MS * 1000000ull)
            wait = DETECT_MIN_MS * 1000000ull;
        s->next_detect_ns = end + wait;
        if (n > 0) {
            memcpy(s->faces, found, (size_t)n * sizeof(found[0]));
            s->nfaces = n;
            s->faces_ns = now_ns;
        } else if (now_ns - s->faces_ns > FACE_HOLD_MS * 1000000ull) {
            s->nfaces = 0;
        }
    }
    ov_image *im = &s->images[0];
    for (int i = 0; i < s->nfaces; i++) {
        const fl_face *fc = &s->faces[i];
        draw(f, im, fc->x + (int)(im->x * fc->width), fc->y + (int)(im->y * fc->height),
             (int)(im->w * fc->width), (int)(im->h * fc->height));
    }
    return s->nfaces > 0;
}

static void overlay_state_fini(void *state)
{
    ov_state *s = state;
    while (s->n > 0)
        remove_at(s, &s->images[0]);
    fl_face_detector_destroy(s->det);
}

static const fl__filter_class image_class = {
    .state_size = sizeof(ov_state),
    .worker_size = sizeof(ov_worker),
    .process = image_process,
    .message = overlay_message,
    .free_message = msg_free,
    .fini = overlay_state_fini,
};

static const fl__filter_class face_class = {
    .state_size = sizeof(ov_state),
    .worker_size = sizeof(ov_worker),
    .process = face_process,
    .message = overlay_message,
    .free_message = msg_free,
    .fini = overlay_state_fini,
};

static int image_init(fl_element *e)
{
    return fl__filter_init_class(e, &image_class);
}

static int face_init(fl_element *e)
{
    return fl__filter_init_class(e, &face_class);
}

static const fl__method image_methods[] = {
    { "addImage", M_ADD_IMAGE, 8, 8 },
    { "removeImage", M_REMOVE_IMAGE, 1, 1 },
    { NULL, 0, 0, 0 },
};

static const fl__method face_methods[] = {
    { "setOverlayedImage", M_SET_OVERLAYED, 5, 5 },
    { "unsetOverlayedImage", M_UNSET_OVERLAYED, 0, 0 },
    { NULL, 0, 0, 0 },
};

const fl__element_type fl__image_overlay_filter_type = {
    .name = FL_ELEMENT_IMAGE_OVERLAY_FILTER,
    FL__FILTER_HOOKS,
    .fini = overlay_fini,
    .init = image_init,
    .methods = image_methods,
    .invoke = overlay_invoke,
};

const fl__element_type fl__face_overlay_filter_type = {
    .name = FL_ELEMENT_FACE_OVERLAY_FILTER,
    FL__FILTER_HOOKS,
    .fini = overlay_fini,
    .init = face_init,
    .methods = face_methods,
    .invoke = overlay_invoke,
};
