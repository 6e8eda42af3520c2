/* engine/mix_int.h: a mixing hub's state, shared by its worker side
 * (engine/mix.c) and its mixer thread (engine/mix_thread.c). */
#ifndef FL_ENGINE_MIX_INT_H
#define FL_ENGINE_MIX_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/bytes.h"
#include "codec/codec.h"
#include "codec/coder.h"
#include "engine/fluo.h"
#include "engine/hub.h"

#define MAX_PORTS     FL_MIX_MAX_PORTS
#define IN_SLOTS      256 /* input frames and layout changes waiting for the thread */
#define OUT_SLOTS     128 /* encoded frames waiting for the worker */
#define AFRAME        960 /* samples of one 20 ms mono frame at 48 kHz */
#define ARATE         48000
#define FIFO_CAP      (ARATE / 2)   /* 500 ms of an input's decoded audio */
#define FIFO_PRIME    (3 * AFRAME)  /* an input is mixed once 60 ms wait */
#define FIFO_KEEP     (10 * AFRAME) /* over 200 ms waiting: the oldest go */
#define MAX_PAYLOAD   1200
#define KEY_REPEAT_MS 500
#define TIMER_MS      100
#define ALL_BUT       0x80000000u /* an audio key: every input but (key & 0xff) */
#define NOBODY        0xffu
#define VIDEO_PT      96
#define AUDIO_PT      111

typedef enum {
    COMPOSITE,
    ALPHA,
    MIXER
} mix_kind;

/* The layout, as the worker decides it; the thread works from a copy. */
typedef struct layout {
    uint32_t present;         /* slots of ports in the hub */
    uint32_t input;           /* slots whose port takes something in (the grid's) */
    uint32_t watched[2];      /* slots whose port sends audio, video to some sink */
    unsigned gen[MAX_PORTS];  /* the generation of the port in each slot */
    uint8_t order[MAX_PORTS]; /* slots in the order they joined */
    int norder;
    uint32_t akey[MAX_PORTS]; /* what each port hears: ALL_BUT | slot, or a mask of inputs */
    int8_t vfrom[MAX_PORTS];  /* Mixer: the video source each port shows; -1 none */
    uint8_t vfmt[MAX_PORTS];  /* the format each port's video goes out in (FMT_*) */
    int master, master_z;     /* AlphaBlending: -1 none */

    struct {
        float x, y, w, h;
        int z, set;
    } place[MAX_PORTS];
} layout;

enum {
    IN_AUDIO,
    IN_VIDEO,
    IN_LAYOUT
};

typedef struct in_slot {
    int type;
    int port;
    unsigned gen; /* the port's: a new port in the slot starts its codecs afresh */
    fl_codec_kind kind;
    uint32_t rate; /* audio: the input's clock */
    fl_bytes b;
    layout lay;
} in_slot;

typedef struct out_slot {
    unsigned media;
    uint32_t target; /* video: the picture (0, or a Mixer source's slot); audio: the key */
    uint32_t ts;
    int key;
    uint64_t at_ns; /* the clock tick it was made for (monotonic) */
    fl_bytes b;
} out_slot;

/* A port, on the worker. */
typedef struct mport {
    fl__mix *m;
    fl_element *e;
    int slot;
    unsigned gen;
    fl_depack *depack[2]; /* audio, video */
    fl_codec_kind kind[2];
    int pt[2];
    uint32_t rate[2];
    uint64_t caps_gen;
    uint64_t key_ms;
    /* Mixer */
    uint32_t audio_from;
    int video_from;
    /* the format its video goes out in: what its viewers take */
    int vfmt;
    fl_sdp_codec vcaps;
} mport;

/* An output stream, on the worker: what one picture or mix is sent as. */
typedef struct ostream {
    int used;
    unsigned media;
    uint32_t target;
    uint32_t ssrc;
    uint16_t seq;
    int sent_any;
    fl_pack *pack;
    uint32_t last_ts; /* the last frame's timestamp, and when it went (Sender Reports) */
    fl_time last_at;
    uint64_t age; /* ticks of the timer it went unused */
} ostream;

/* A port's slot, on the thread. */
typedef struct tport {
    unsigned gen;
    fl_vdec *vdec;
    fl_codec_kind vkind;
    fl_picture pic;
    int has_pic;
    unsigned long long pic_seq; /* pictures decoded */
    fl_adec *adec;
    fl_codec_kind akind;
    fl_resampler *rs;
    int arate;
    int16_t fifo[FIFO_CAP];
    size_t fifo_len;
    int primed;
    int16_t cur[AFRAME];
    int has_cur;
} tport;

typedef struct aenc {
    uint32_t key;
    fl_aenc *enc;
    int used; /* this tick */
    int idle; /* ticks unused */
} aenc;

/* The video formats a picture is encoded in, once each for every port
 * that sends that format: an output's target is its picture | format << 8. */
enum {
    FMT_VP8,
    FMT_H264,
    FMT_VP9,
    NFMT
};

#define TARGET_FMT(t) ((int)((t) >> 8))
#define TARGET_PIC(t) ((t)&0xffu)

typedef struct canvas {
    uint32_t target; /* the picture: 0, or a Mixer source's slot */
    fl_picture pic;
    fl_venc *enc[NFMT];
    int kbps[NFMT]; /* each encoder's target */
    int used, idle;
    unsigned long long seq; /* Mixer: the source picture it last encoded */
    uint64_t sent_ns;       /* when it last encoded one */
} canvas;

struct fl__mix {
    fl_element *e;
    fl__worker *w;
    fl__hub *hub;
    mix_kind kind;
    int width, height, fps; /* Composite's constructor; AlphaBlending/Mixer: fps */
    /* worker */
    mport *ports[MAX_PORTS];
    unsigned gens[MAX_PORTS];
    uint64_t joins;
    uint8_t order[MAX_PORTS];
    int norder;
    int master, master_z;
    layout sent;
    int sent_valid;
    int started;
    uint32_t keys_pending; /* inputs to ask for a key frame when their wait is over */
    int key_later;         /* timer ticks until the encoders make a key frame again */
    uv_async_t async;
    uv_timer_t timer;
    int closing;
    ostream os[2 * MAX_PORTS + 2];
    uint8_t payload[MAX_PAYLOAD];
    uint64_t frames_in, dropped_in;
    /* shared */
    in_slot in[IN_SLOTS];
    out_slot out[OUT_SLOTS];
    atomic_uint in_head, in_tail, out_head, out_tail;
    atomic_uint want_key; /* slots whose decoder needs a key frame */
    atomic_int force_key; /* the encoders make a key frame next */
    atomic_int kbps;
    atomic_int stop;
    atomic_uint_fast64_t composed, encoded, decoded, late_ticks, dropped_out, decode_errors;
    atomic_int_fast64_t cpu_us; /* the thread's CPU time, refreshed every tick */
    /* thread */
    uv_thread_t thread;
    layout lay;
    tport *tp; /* MAX_PORTS */
    aenc aencs[2 * MAX_PORTS + 2];
    canvas canvases[MAX_PORTS];
    int32_t acc[AFRAME];
    int16_t amix[AFRAME];
    int16_t dec[FL_AUDIO_MAX_FRAME * 2];
    int16_t res[FL_AUDIO_MAX_FRAME * 7];
    uint32_t audio_ts;  /* the next audio frame's (starts at random) */
    uint32_t video_ts0; /* video's at start_ns (random) */
    uint64_t start_ns;
    uint64_t tick_ns; /* the tick being made (monotonic) */
};

/* The codec of a format (FMT_*). */
fl_codec_kind fl__mix_fmt_kind(int fmt);

/* The mixer thread's clock: monotonic, ns. */
uint64_t fl__mix_mono_ns(void);
/* The mixer thread's body (mix_thread.c). */
void fl__mix_thread_main(void *arg);
/* Frees a slot's codecs and buffers; gen: the port's generation it holds
 * from now on. Thread side, or once the thread has been joined. */
void fl__mix_tport_reset(tport *t, unsigned gen);

#endif
