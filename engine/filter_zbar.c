/* ZBarFilter: reads the codes (QR codes, bar codes) in the video passing
 * through it and raises CodeFound once for each code that comes into the
 * picture: a code still in view raises nothing more; one that every scan
 * missed for GONE_MS raises again when it comes back. It scans at most every SCAN_MS,
 * and waits SCAN_SHARE times what a scan took before the next (a noisy
 * picture takes long). It changes no picture, so its
 * video goes out as the source's packets (engine/filter.h). */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/time.h"
#include "codec/qr.h"
#include "engine/filter.h"

FL_LOG_TAG("zbar");

#define SCAN_MS    100 /* at most 10 scans a second */
#define SCAN_SHARE 3   /* and the next waits 3 times what the last took */
#define GONE_MS    1000
#define MAX_SEEN   16
#define VALUE_MAX  1024
#define TYPE_MAX   32

typedef struct seen {
    char type[TYPE_MAX];
    char value[VALUE_MAX];
    uint64_t last_ns;   /* when a scan last saw it; 0: a free slot */
    uint64_t missed_ns; /* when a scan first missed it since; 0: not missed */
    unsigned scan;      /* the last scan that saw it */
} seen;

typedef struct zbar_state {
    fl_code_scanner *scanner;
    int failed;
    uint64_t next_ns, now_ns;
    unsigned scan;
    seen seen[MAX_SEEN];
    fl__filter *f;
} zbar_state;

/* The length of the UTF-8 sequence at v (len bytes left), 0 when it is
 * not one (overlong forms, surrogates, past U+10FFFF, NUL). */
static size_t utf8_seq(const uint8_t *v, size_t len)
{
    uint8_t c = v[0];
    if (c >= 0x01 && c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!n || n > len)
        return 0;
    uint8_t lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (v[1] < lo || v[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++) {
        if ((v[k] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

/* value as text for an event: what is not UTF-8 becomes '?'. */
static void utf8_copy(char *out, size_t cap, const uint8_t *v, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap;) {
        size_t n = utf8_seq(v + i, len - i);
        if (!n) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, v + i, n);
        o += n;
        i += n;
    }
    out[o] = 0;
}

static void on_code(void *arg, const char *type, const uint8_t *value, size_t len)
{
    zbar_state *z = arg;
    char text[VALUE_MAX];
    utf8_copy(text, sizeof(text), value, len);
    seen *slot = NULL, *oldest = &z->seen[0];
    for (int i = 0; i < MAX_SEEN; i++) {
        seen *s = &z->seen[i];
        if (s->last_ns && strcmp(s->type, type) == 0 && strcmp(s->value, text) == 0)
            slot = s;
        if (s->last_ns < oldest->last_ns)
            oldest = s;
    }
    /* new, or missed by every scan for GONE_MS (time between two scans
     * that both saw it is not absence, however long) */
    int appearing =
            !slot || (slot->missed_ns && z->now_ns - slot->missed_ns > GONE_MS * 1000000ull);
    if (appearing && fl__filter_tell(z->f, type, text) < 0)
        return; /* not said: said at the next scan */
    if (!slot) {
        slot = oldest;
        snprintf(slot->type, sizeof(slot->type), "%s", type);
        memcpy(slot->value, text, strlen(text) + 1);
    }
    slot->last_ns = z->now_ns;
    slot->missed_ns = 0;
    slot->scan = z->scan;
}

static int zbar_process(fl__filter *f, void *state, const fl_picture *pic, uint64_t now_ns)
{
    zbar_state *z = state;
    if (z->failed || now_ns < z->next_ns)
        return 0;
    if (!z->scanner && fl_code_scanner_create(&z->scanner) < 0) {
        z->failed = 1;
        fl_log(FL_LOG_ERROR, "no code scanner: ZBarFilter reads nothing");
        return 0;
    }
    z->f = f;
    z->now_ns = now_ns;
    z->scan++;
    fl_code_scan(z->scanner, pic->plane[0], pic->width, pic->height, pic->stride[0], on_code, z);
    for (int i = 0; i < MAX_SEEN; i++) {
        seen *c = &z->seen[i];
        if (c->last_ns && c->scan != z->scan && !c->missed_ns)
            c->missed_ns = now_ns;
    }
    uint64_t end = (uint64_t)fl_time_now() * 1000u; /* ns */
    uint64_t wait = (end - now_ns) * SCAN_SHARE;
    z->next_ns = end + (wait > SCAN_MS * 1000000ull ? wait : SCAN_MS * 1000000ull);
    return 0;
}

static void zbar_fini(void *state)
{
    zbar_state *z = state;
    fl_code_scanner_destroy(z->scanner);
}

static void zbar_told(fl_element *e, const char *type, const char *value)
{
    fl_event ev = { .type = FL_EVENT_CODE_FOUND,
                    .code_found = { .code_type = type, .value = value } };
    fl__element_raise(e, &ev);
}

static const fl__filter_class zbar_class = {
    .reads_only = 1,
    .state_size = sizeof(zbar_state),
    .process = zbar_process,
    .fini = zbar_fini,
    .told = zbar_told,
};

static int zbar_init(fl_element *e)
{
    return fl__filter_init_class(e, &zbar_class);
}

const fl__element_type fl__zbar_filter_type = {
    .name = FL_ELEMENT_ZBAR_FILTER,
    FL__FILTER_HOOKS,
    .init = zbar_init,
    .fini = fl__filter_fini,
};
