/* container/ private declarations: each format's muxer behind fl_mux
 * (container/mux.c checks what every format shares and dispatches). */
#ifndef FL_CONTAINER_CONTAINER_INT_H
#define FL_CONTAINER_CONTAINER_INT_H

#include "container/container.h"

typedef struct fl__mux_ops {
    /* A frame mux.c has checked (track in range, time not going back). */
    int (*write)(void *impl, const fl_mux_frame *f);
    int (*finish)(void *impl);
    void (*stats)(const void *impl, fl_mux_stats *out);
    void (*destroy)(void *impl);
} fl__mux_ops;

/* container/webm.c: FL_MUX_WEBM and FL_MUX_MKV. */
int fl__webm_create(void **impl, const fl__mux_ops **ops, const fl_mux_config *cfg);
/* container/mp4.c: FL_MUX_MP4. */
int fl__mp4_create(void **impl, const fl__mux_ops **ops, const fl_mux_config *cfg);

#endif
