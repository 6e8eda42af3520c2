/* Random numbers behind an interface, so sans-IO code can be seeded in tests.
 *
 * fl_rand_system() reads the kernel's generator (getrandom) and is
 * thread-safe. A seeded generator (xoshiro256**) is deterministic and belongs
 * to one thread. */
#ifndef FL_BASE_RAND_H
#define FL_BASE_RAND_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_rand {
    void (*fill)(struct fl_rand *r, void *out, size_t n);
    uint64_t state[4];
} fl_rand;

/* The process-wide system generator. */
fl_rand *fl_rand_system(void);

/* A deterministic generator seeded with `seed`. */
void fl_rand_seeded_init(fl_rand *r, uint64_t seed);

static inline void fl_rand_fill(fl_rand *r, void *out, size_t n)
{
    r->fill(r, out, n);
}

uint32_t fl_rand_u32(fl_rand *r);

/* Writes a random RFC 4122 version 4 UUID, lower case, 36 chars plus NUL. */
void fl_rand_uuid(fl_rand *r, char out[37]);

#endif
