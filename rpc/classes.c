/* The classes fluo can create, one row each (rpc_class in rpc_int.h). A
 * class's row lives beside its operations in rpc/ops_<class>.c; this table
 * lists them once. ServerManager.getInfo's factories and `create` read it. */
#include <stddef.h>
#include <string.h>

#include "rpc/rpc_int.h"

static const rpc_class pipeline = { .name = "MediaPipeline" };
static const rpc_class passthrough = { .name = "PassThrough",
                                       .engine_type = FL_ELEMENT_PASSTHROUGH };
extern const rpc_class fl__class_webrtc;    /* rpc/ops_webrtc.c */
extern const rpc_class fl__class_recorder;  /* rpc/ops_recorder.c */
extern const rpc_class fl__class_player;    /* rpc/ops_player.c */
extern const rpc_class fl__class_http_post; /* rpc/ops_http_post.c */
extern const rpc_class fl__class_rtp;       /* rpc/ops_rtp.c */
extern const rpc_class fl__class_hub_port;  /* rpc/ops_hub.c */
extern const rpc_class fl__class_dispatcher;
extern const rpc_class fl__class_dispatcher_one_to_many;
extern const rpc_class fl__class_composite;
extern const rpc_class fl__class_alpha_blending;
extern const rpc_class fl__class_mixer;
extern const rpc_class fl__class_zbar_filter; /* rpc/ops_filter.c */
extern const rpc_class fl__class_image_overlay_filter;
extern const rpc_class fl__class_face_overlay_filter;

static const rpc_class *const classes[] = {
    &pipeline,
    &passthrough,
    &fl__class_webrtc,
    &fl__class_recorder,
    &fl__class_player,
    &fl__class_http_post,
    &fl__class_rtp,
    &fl__class_hub_port,
    &fl__class_dispatcher,
    &fl__class_dispatcher_one_to_many,
    &fl__class_composite,
    &fl__class_alpha_blending,
    &fl__class_mixer,
    &fl__class_zbar_filter,
    &fl__class_image_overlay_filter,
    &fl__class_face_overlay_filter,
};

const rpc_class *fl__class_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (strcmp(classes[i]->name, name) == 0)
            return classes[i];
    }
    return NULL;
}
