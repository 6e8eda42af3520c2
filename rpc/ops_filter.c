/* The filters' rows: ZBarFilter (its CodeFound event), ImageOverlayFilter
 * (addImage, removeImage), FaceOverlayFilter (setOverlayedImage,
 * unsetOverlayedImage), whose images' URIs are file:// (inside
 * fluo.playRoots), http:// or https://. GStreamerFilter and the plugin
 * filters are refused by `create` (rpc/ops.c). The engine side is
 * engine/filter*.c. */
#include <string.h>

#include "base/err.h"
#include "rpc/rpc_int.h"

static int image_uri_ok(call *c, json_t *p, const char *name)
{
    static const char *const network[] = { "http://", "https://" };
    const char *uri = json_string_value(json_object_get(p, name));
    if (!uri) {
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "'%s' is missing", name);
        return 0;
    }
    return fl__uri_check_readable(c, uri, network, 2,
                                  "images are read from file://, http:// and https:// URIs") == 0;
}

/* ---- ZBarFilter ---- */

static json_t *zbar_event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    if (ev->type != FL_EVENT_CODE_FOUND)
        return NULL;
    *type = "CodeFound";
    json_t *data = fl__event_base(o, *type);
    json_object_set_new(data, "codeType", json_string(ev->code_found.code_type));
    json_object_set_new(data, "value", json_string(ev->code_found.value));
    return data;
}

const rpc_class fl__class_zbar_filter = {
    .name = "ZBarFilter",
    .engine_type = FL_ELEMENT_ZBAR_FILTER,
    .event = zbar_event,
};

/* ---- ImageOverlayFilter ---- */

static void add_image(call *c, obj *o, json_t *p)
{
    static const char *const params[] = {
        "id",           "uri",           "offsetXPercent",  "offsetYPercent",
        "widthPercent", "heightPercent", "keepAspectRatio", "center"
    };
    if (image_uri_ok(c, p, "uri"))
        fl__call_invoke(c, o, p, NULL, params, 8);
}

static void remove_image(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "id" };
    fl__call_invoke(c, o, p, NULL, params, 1);
}

static const struct op image_ops[] = {
    { "ImageOverlayFilter", "addImage", add_image },
    { "ImageOverlayFilter", "removeImage", remove_image },
    { NULL, NULL, NULL },
};

const rpc_class fl__class_image_overlay_filter = {
    .name = "ImageOverlayFilter",
    .engine_type = FL_ELEMENT_IMAGE_OVERLAY_FILTER,
    .ops = image_ops,
};

/* ---- FaceOverlayFilter ---- */

static void set_overlayed(call *c, obj *o, json_t *p)
{
    static const char *const params[] = { "uri", "offsetXPercent", "offsetYPercent", "widthPercent",
                                          "heightPercent" };
    if (image_uri_ok(c, p, "uri"))
        fl__call_invoke(c, o, p, NULL, params, 5);
}

static void unset_overlayed(call *c, obj *o, json_t *p)
{
    fl__call_invoke(c, o, p, NULL, NULL, 0);
}

static const struct op face_ops[] = {
    { "FaceOverlayFilter", "setOverlayedImage", set_overlayed },
    { "FaceOverlayFilter", "unsetOverlayedImage", unset_overlayed },
    { NULL, NULL, NULL },
};

const rpc_class fl__class_face_overlay_filter = {
    .name = "FaceOverlayFilter",
    .engine_type = FL_ELEMENT_FACE_OVERLAY_FILTER,
    .ops = face_ops,
};
