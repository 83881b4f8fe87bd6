#include "rng.h"
#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

void ssl3d_philox(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0; k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void ssl3d_rng_init(ssl3d_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed; r->stream = stream; r->counter = 0;
}

uint32_t ssl3d_rng_u32(ssl3d_rng *r) {
    /* One word per call keeps the mapping simple: draw k uses block k, word 0. */
    uint32_t w[4];
    ssl3d_philox(r->seed, r->stream, r->counter++, w);
    return w[0];
}

float ssl3d_rng_uniform(ssl3d_rng *r) {
    return (float)(ssl3d_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

uint32_t ssl3d_rng_below(ssl3d_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    uint32_t limit = UINT32_MAX - (UINT32_MAX % n);
    for (;;) {
        uint32_t v = ssl3d_rng_u32(r);
        if (v < limit) return v % n;
    }
}

static float box_muller(uint32_t a, uint32_t b) {
    float u1 = ((float)(a >> 8) + 1.0f) * (1.0f / 16777217.0f); /* (0, 1] avoids log(0) */
    float u2 = (float)(b >> 8) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

float ssl3d_rng_normal(ssl3d_rng *r) {
    uint32_t w[4];
    ssl3d_philox(r->seed, r->stream, r->counter++, w);
    return box_muller(w[0], w[1]);
}

float ssl3d_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t w[4];
    ssl3d_philox(seed, stream, i, w);
    return (float)(w[0] >> 8) * (1.0f / 16777216.0f);
}

float ssl3d_rng_normal_at(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t w[4];
    ssl3d_philox(seed, stream, i, w);
    return box_muller(w[0], w[1]);
}
