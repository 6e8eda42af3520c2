#include "base/rand.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static void system_fill(fl_rand *r, void *out, size_t n)
{
    (void)r;
    uint8_t *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 with these flags; be safe */
            memset(p, 0, n);
            return;
        }
        p += got;
        n -= (size_t)got;
    }
}

static fl_rand system_rand = { system_fill, { 0, 0, 0, 0 } };

fl_rand *fl_rand_system(void)
{
    return &system_rand;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void seeded_fill(fl_rand *r, void *out, size_t n)
{
    uint8_t *p = out;
    while (n > 0) {
        uint64_t v = xoshiro_next(r->state);
        size_t k = n < 8 ? n : 8;
        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}

void fl_rand_seeded_init(fl_rand *r, uint64_t seed)
{
    r->fill = seeded_fill;
    for (int i = 0; i < 4; i++) { /* splitmix64 expands the seed */
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        r->state[i] = z ^ (z >> 31);
    }
}

uint32_t fl_rand_u32(fl_rand *r)
{
    uint32_t v;
    fl_rand_fill(r, &v, sizeof(v));
    return v;
}

void fl_rand_uuid(fl_rand *r, char out[37])
{
    uint8_t b[16];
    fl_rand_fill(r, b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
