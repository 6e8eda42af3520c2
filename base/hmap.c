#include "base/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static char tomb_key;
#define TOMB (&tomb_key)

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

void fl_hmap_init(fl_hmap *m)
{
    memset(m, 0, sizeof(*m));
}

void fl_hmap_deinit(fl_hmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key && m->slots[i].key != TOMB)
            free(m->slots[i].key);
    }
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static fl_hmap_slot *find(const fl_hmap *m, const char *key, uint32_t h)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        fl_hmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

void *fl_hmap_get(const fl_hmap *m, const char *key)
{
    fl_hmap_slot *s = find(m, key, hash_str(key));
    return s ? s->value : NULL;
}

static int rehash(fl_hmap *m, size_t cap)
{
    fl_hmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return FL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        fl_hmap_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->len;
    return 0;
}

int fl_hmap_put(fl_hmap *m, const char *key, void *value)
{
    uint32_t h = hash_str(key);
    fl_hmap_slot *s = find(m, key, h);
    if (s) {
        s->value = value;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->len + 1) * 2 > cap)
            cap *= 2;
        int rc = rehash(m, cap);
        if (rc != 0)
            return rc;
    }
    char *k = strdup(key);
    if (!k)
        return FL_ENOMEM;
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = k;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->len++;
    return 0;
}

void *fl_hmap_del(fl_hmap *m, const char *key)
{
    fl_hmap_slot *s = find(m, key, hash_str(key));
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->len--;
    return v;
}

int fl_hmap_next(const fl_hmap *m, size_t *iter, const char **key, void **value)
{
    for (size_t i = *iter; i < m->cap; i++) {
        fl_hmap_slot *s = &m->slots[i];
        if (s->key && s->key != TOMB) {
            *iter = i + 1;
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return 1;
        }
    }
    *iter = m->cap;
    return 0;
}
