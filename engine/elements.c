/* The element types the engine can create, one row each. A type is one
 * engine file (or a few) implementing fl__element_type (engine_int.h) and
 * exporting it; its row here is all that registers it. */
#include <string.h>

#include "engine/engine_int.h"

extern const fl__element_type fl__passthrough_type;            /* engine/passthrough.c */
extern const fl__element_type fl__app_source_type;             /* engine/app.c */
extern const fl__element_type fl__app_sink_type;               /* engine/app.c */
extern const fl__element_type fl__webrtc_type;                 /* engine/webrtc*.c */
extern const fl__element_type fl__recorder_type;               /* engine/recorder.c */
extern const fl__element_type fl__player_type;                 /* engine/player.c */
extern const fl__element_type fl__http_post_type;              /* engine/http_post.c */
extern const fl__element_type fl__rtp_endpoint_type;           /* engine/rtp_endpoint.c */
extern const fl__element_type fl__hub_port_type;               /* engine/hub.c */
extern const fl__element_type fl__dispatcher_type;             /* engine/hub.c */
extern const fl__element_type fl__dispatcher_one_to_many_type; /* engine/hub.c */
extern const fl__element_type fl__composite_type;              /* engine/mix.c */
extern const fl__element_type fl__alpha_blending_type;         /* engine/mix.c */
extern const fl__element_type fl__mixer_type;                  /* engine/mix.c */
extern const fl__element_type fl__zbar_filter_type;            /* engine/filter_zbar.c */
extern const fl__element_type fl__image_overlay_filter_type;   /* engine/filter_overlay.c */
extern const fl__element_type fl__face_overlay_filter_type;    /* engine/filter_overlay.c */

static const fl__element_type *const types[] = {
    &fl__passthrough_type,
    &fl__app_source_type,
    &fl__app_sink_type,
    &fl__webrtc_type,
    &fl__recorder_type,
    &fl__player_type,
    &fl__http_post_type,
    &fl__rtp_endpoint_type,
    &fl__hub_port_type,
    &fl__dispatcher_type,
    &fl__dispatcher_one_to_many_type,
    &fl__composite_type,
    &fl__alpha_blending_type,
    &fl__mixer_type,
    &fl__zbar_filter_type,
    &fl__image_overlay_filter_type,
    &fl__face_overlay_filter_type,
};

const fl__element_type *fl__element_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    }
    return NULL;
}
