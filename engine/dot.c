/* Graphviz DOT of a pipeline: a node per element, an edge per connection. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "engine/transcode.h"

typedef struct strbuf {
    char *s;
    size_t len;
    size_t cap;
    int failed;
} strbuf;

static int sb_reserve(strbuf *sb, size_t more)
{
    if (sb->failed)
        return -1;
    if (sb->len + more + 1 <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + more + 1)
        cap *= 2;
    char *s = realloc(sb->s, cap);
    if (!s) {
        sb->failed = 1;
        return -1;
    }
    sb->s = s;
    sb->cap = cap;
    return 0;
}

static void sb_vprintf(strbuf *sb, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void sb_vprintf(strbuf *sb, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && sb_reserve(sb, (size_t)n) == 0) {
        vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, again);
        sb->len += (size_t)n;
    }
    va_end(again);
}

static void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

/* Appends s inside a DOT double-quoted string, escaping quotes, backslashes
 * and line breaks. */
static void sb_escaped(strbuf *sb, const char *s)
{
    for (; *s; s++) {
        if (sb_reserve(sb, 2) < 0)
            return;
        if (*s == '"' || *s == '\\')
            sb->s[sb->len++] = '\\';
        if (*s == '\n' || *s == '\r') {
            sb->s[sb->len++] = ' ';
            continue;
        }
        sb->s[sb->len++] = *s;
    }
    if (!sb->failed)
        sb->s[sb->len] = '\0';
}

static void dot_out(void *arg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dot_out(void *arg, const char *fmt, ...)
{
    strbuf *sb = arg;
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

static void dot_node(strbuf *sb, const fl_element *e)
{
    sb_printf(sb, "  e%llu [label=\"", (unsigned long long)e->id);
    sb_escaped(sb, e->name);
    sb_printf(sb, "\\n");
    sb_escaped(sb, e->type->name);
    sb_printf(sb, "\"];\n");
}

static void dot_edge(void *arg,
                     fl_element *source,
                     const char *source_desc,
                     fl_element *sink,
                     const char *sink_desc,
                     unsigned media)
{
    strbuf *sb = arg;
    sb_printf(sb, "  e%llu -> e%llu [label=\"%s ", (unsigned long long)source->id,
              (unsigned long long)sink->id, fl_media_type_name(media));
    sb_escaped(sb, source_desc);
    sb_printf(sb, " -> ");
    sb_escaped(sb, sink_desc);
    sb_printf(sb, "\"];\n");
}

/* The edges out of e's source pads; a link to another worker is drawn
 * there, from its bridge's "in" end. */
static void dot_edges(strbuf *sb, const fl_element *e)
{
    fl_list_foreach (it, &e->pads) {
        const fl__pad *src = fl_container_of(it, fl__pad, node);
        for (size_t i = 0; src->dir == FL_DIR_SOURCE && i < src->nsinks; i++) {
            fl__pad *sink = src->sinks[i];
            if (e->type == &fl__bridge_in_type)
                fl__bridge_visit_in(src, sink, dot_edge, sb);
            else if (sink->element->type != &fl__bridge_out_type)
                dot_edge(sb, src->element, src->desc, sink->element, sink->desc, src->media);
        }
    }
}

char *fl__pipeline_dot_write(fl_pipeline *p, fl__worker *w, const char *prefix, int last)
{
    strbuf sb = { 0 };
    if (prefix)
        sb_printf(&sb, "%s", prefix);
    else
        sb_printf(&sb, "digraph pipeline%llu {\n  rankdir=LR;\n  node [shape=box];\n",
                  (unsigned long long)p->id);
    fl_list *elements = &fl__shard_of(p, w)->elements;
    fl_list_foreach (it, elements) {
        dot_node(&sb, fl_container_of(it, fl_element, node));
    }
    fl_list_foreach (it, elements) {
        dot_edges(&sb, fl_container_of(it, fl_element, node));
        const fl_element *e = fl_container_of(it, fl_element, node);
        fl__xcode_dot(e, e->id, dot_out, &sb);
        if (e->type->dot)
            e->type->dot(e, dot_out, &sb);
    }
    fl_list_foreach (it, &w->bridges_in) { /* links from other workers' elements */
        fl_element *in = fl__bridge_in_element(it);
        if (in->pipeline != p)
            continue;
        dot_edges(&sb, in);
        fl__xcode_dot(in, fl__bridge_source(in)->id, dot_out, &sb);
    }
    if (last)
        sb_printf(&sb, "}\n");
    if (sb.failed) {
        free(sb.s);
        return NULL;
    }
    return sb.s;
}
