/* Counter-based RNG (Philox-4x32-10, Salmon et al. 2011). A draw is a pure function of
 * (seed, stream, counter), so parallel loops that index draws by element get the same
 * numbers for any thread count. */
#ifndef SSL3D_RNG_H
#define SSL3D_RNG_H
#include <stdint.h>

typedef struct ssl3d_rng {
    uint64_t seed;     /* key */
    uint64_t stream;   /* high half of the counter: one stream per consumer */
    uint64_t counter;  /* low half: advanced by sequential draws */
} ssl3d_rng;

/* Four 32-bit words for block `index` of (seed, stream). */
void ssl3d_philox(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);
void ssl3d_rng_init(ssl3d_rng *r, uint64_t seed, uint64_t stream);
uint32_t ssl3d_rng_u32(ssl3d_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float ssl3d_rng_uniform(ssl3d_rng *r);
/* Uniform integer in [0, n), n >= 1 (rejection sampling, unbiased). */
uint32_t ssl3d_rng_below(ssl3d_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float ssl3d_rng_normal(ssl3d_rng *r);
/* Stateless variants for element-parallel loops: value for element `i`. */
float ssl3d_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t i);
float ssl3d_rng_normal_at(uint64_t seed, uint64_t stream, uint64_t i);
#endif
