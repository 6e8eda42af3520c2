/* String-keyed hash map of void pointers (open addressing, linear probing).
 * The map copies keys; values are the caller's. Not thread-safe. */
#ifndef FL_BASE_HMAP_H
#define FL_BASE_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_hmap_slot {
    char *key; /* NULL: empty; FL__HMAP_TOMB: deleted */
    uint32_t hash;
    void *value;
} fl_hmap_slot;

typedef struct fl_hmap {
    fl_hmap_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t len;  /* live entries */
    size_t used; /* live + tombstones */
} fl_hmap;

void fl_hmap_init(fl_hmap *m);

/* Frees the map's memory and keys (not the values). */
void fl_hmap_deinit(fl_hmap *m);

/* The value for key, or NULL. */
void *fl_hmap_get(const fl_hmap *m, const char *key);

/* Inserts or replaces; FL_ENOMEM on allocation failure. */
int fl_hmap_put(fl_hmap *m, const char *key, void *value);

/* Removes key and returns its value (NULL when absent). */
void *fl_hmap_del(fl_hmap *m, const char *key);

static inline size_t fl_hmap_len(const fl_hmap *m)
{
    return m->len;
}

/* Iteration: for (size_t i = 0; fl_hmap_next(m, &i, &key, &val);) {...}
 * The map must not be changed while iterating, except through fl_hmap_del of
 * the current key. */
int fl_hmap_next(const fl_hmap *m, size_t *iter, const char **key, void **value);

#endif
