/* PassThrough: forwards what reaches each sink pad out of the source pad of
 * the same media and description. */
#include "engine/engine_int.h"

/* Forwards each packet out of the source pad with the same media and
 * description. */
static void passthrough_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e;
    fl__pad_push(sink->twin, buf);
    fl_buf_unref(buf);
}

static void passthrough_end(fl_element *e, fl__pad *sink)
{
    (void)e;
    fl__pad_push_end(sink->twin);
}

const fl__element_type fl__passthrough_type = {
    .simulcast = 1,
    .name = FL_ELEMENT_PASSTHROUGH,
    .receive = passthrough_receive,
    .end_of_stream = passthrough_end,
};
