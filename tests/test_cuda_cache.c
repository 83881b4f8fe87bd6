/* The CUDA backend's caching allocator (src/backend/cuda/cuda_cache.c) over malloc: the
 * same bookkeeping the plugin runs over cudaMalloc, tested without a GPU. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/backend/cuda/cuda_cache.h"

/* A raw allocator with a byte budget, to play out-of-memory. */
typedef struct raw { size_t in_use, budget, frees; } raw;
static void *raw_alloc(void *u, size_t b) {
    raw *r = u;
    if (r->in_use + b > r->budget) return NULL;
    size_t *p = malloc(b + 16);   /* 16-byte header records the size for raw_free */
    if (!p) return NULL;
    p[0] = b;
    r->in_use += b;
    return (char *)p + 16;
}
static void raw_free(void *u, void *p) {
    raw *r = u;
    size_t *h = (size_t *)((char *)p - 16);
    r->in_use -= h[0];
    r->frees++;
    free(h);
}

TEST(cuda_cache_reuses_freed_blocks_within_an_eighth) {
    raw r = { 0, SIZE_MAX, 0 };
    ssl3d_devcache c;
    REQUIRE(ssl3d_devcache_init(&c, raw_alloc, raw_free, &r, (size_t)1 << 30) == 0);
    void *a = ssl3d_devcache_alloc(&c, 100000);
    REQUIRE(a);
    CHECK(ssl3d_devcache_size(&c, a) >= 100000 && ssl3d_devcache_size(&c, a) % SSL3D_DEVCACHE_ROUND == 0);
    CHECK(ssl3d_devcache_free(&c, a) == 0);
    CHECK(c.cached_n == 1 && c.live_n == 0 && c.live_bytes == 0);
    void *b = ssl3d_devcache_alloc(&c, 99000);   /* fits: reused, no new raw allocation */
    CHECK(b == a && c.raw_allocs == 1);
    CHECK(ssl3d_devcache_free(&c, b) == 0);
    void *d = ssl3d_devcache_alloc(&c, 50000);   /* the cached block is > 1/8 too large */
    CHECK(d && d != a && c.raw_allocs == 2);
    void *e = ssl3d_devcache_alloc(&c, 200000);  /* too small */
    CHECK(e && e != a && c.raw_allocs == 3);
    CHECK(c.peak_bytes >= ssl3d_devcache_size(&c, d) + ssl3d_devcache_size(&c, e));
    ssl3d_devcache_destroy(&c);
    CHECK(r.in_use == 0);
}

TEST(cuda_cache_rejects_unknown_pointers_and_zero_sizes) {
    raw r = { 0, SIZE_MAX, 0 };
    ssl3d_devcache c;
    REQUIRE(ssl3d_devcache_init(&c, raw_alloc, raw_free, &r, 1 << 20) == 0);
    int local;
    CHECK(ssl3d_devcache_free(&c, &local) == -1);
    CHECK(ssl3d_devcache_free(&c, NULL) == 0);
    CHECK(ssl3d_devcache_size(&c, &local) == 0);
    CHECK(ssl3d_devcache_alloc(&c, 0) == NULL);
    CHECK(ssl3d_devcache_alloc(&c, SIZE_MAX - 3) == NULL);
    void *a = ssl3d_devcache_alloc(&c, 10);
    CHECK(ssl3d_devcache_free(&c, a) == 0);
    CHECK(ssl3d_devcache_free(&c, a) == -1);   /* double free is refused, not corrupting */
    ssl3d_devcache_destroy(&c);
    CHECK(r.in_use == 0);
}

TEST(cuda_cache_out_of_memory_gives_back_the_cache_then_fails_cleanly) {
    raw r = { 0, 3u << 20, 0 };   /* 3 MiB of "device" memory */
    ssl3d_devcache c;
    REQUIRE(ssl3d_devcache_init(&c, raw_alloc, raw_free, &r, (size_t)1 << 30) == 0);
    void *a = ssl3d_devcache_alloc(&c, 1u << 20), *b = ssl3d_devcache_alloc(&c, 1u << 20);
    REQUIRE(a && b);
    ssl3d_devcache_free(&c, a);
    ssl3d_devcache_free(&c, b);
    CHECK(c.cached_bytes == 2u << 20);
    void *big = ssl3d_devcache_alloc(&c, 2u << 20 | 4096);   /* fits only once the cache is returned */
    CHECK(big != NULL);
    CHECK(c.cached_n == 0);
    CHECK(ssl3d_devcache_alloc(&c, 2u << 20) == NULL);      /* really out of memory: NULL */
    CHECK(c.live_n == 1);
    ssl3d_devcache_destroy(&c);
    CHECK(r.in_use == 0);
}

TEST(cuda_cache_keeps_at_most_its_limit) {
    raw r = { 0, SIZE_MAX, 0 };
    ssl3d_devcache c;
    REQUIRE(ssl3d_devcache_init(&c, raw_alloc, raw_free, &r, 10000) == 0);
    void *p[8];
    for (int i = 0; i < 8; i++) REQUIRE((p[i] = ssl3d_devcache_alloc(&c, 3000)));
    for (int i = 0; i < 8; i++) {
        CHECK(ssl3d_devcache_free(&c, p[i]) == 0);
        CHECK(c.cached_bytes <= 10000);
    }
    CHECK(c.cached_n == 3);   /* 3 x 3072 fit in 10000 */
    void *huge = ssl3d_devcache_alloc(&c, 20000);
    CHECK(ssl3d_devcache_free(&c, huge) == 0 && c.cached_bytes <= 10000);
    ssl3d_devcache_destroy(&c);
    CHECK(r.in_use == 0);
}

/* Many live blocks freed in a scrambled order: the hash table's deletion (backward
 * shift) must keep every other block findable with its size. */
TEST(cuda_cache_live_table_survives_scrambled_frees) {
    raw r = { 0, SIZE_MAX, 0 };
    ssl3d_devcache c;
    REQUIRE(ssl3d_devcache_init(&c, raw_alloc, raw_free, &r, 0) == 0);
    enum { N = 3000 };
    void **p = malloc(N * sizeof *p);
    size_t *want = malloc(N * sizeof *want);
    REQUIRE(p && want);
    for (int i = 0; i < N; i++) {
        want[i] = (size_t)(i % 7 + 1) * SSL3D_DEVCACHE_ROUND;
        p[i] = ssl3d_devcache_alloc(&c, want[i]);
        REQUIRE(p[i]);
    }
    uint64_t s = 12345;
    for (int i = N - 1; i > 0; i--) {   /* Fisher-Yates with an LCG: fixed order */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((s >> 33) % (uint64_t)(i + 1));
        void *t = p[i]; p[i] = p[j]; p[j] = t;
        size_t u = want[i]; want[i] = want[j]; want[j] = u;
    }
    int bad = 0;
    for (int i = 0; i < N; i++) {
        if (ssl3d_devcache_size(&c, p[i]) != want[i]) bad++;
        if (ssl3d_devcache_free(&c, p[i]) != 0) bad++;
        if (i + 1 < N && ssl3d_devcache_size(&c, p[i + 1]) != want[i + 1]) bad++;
    }
    CHECK_MSG(bad == 0, "%d lookups failed", bad);
    CHECK(c.live_n == 0 && c.live_bytes == 0 && r.in_use == 0);   /* limit 0: nothing cached */
    ssl3d_devcache_destroy(&c);
    free(p);
    free(want);
}
