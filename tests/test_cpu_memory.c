/* The CPU backend's block cache (src/backend/cpu/cpu_memory.c): a step that frees and asks
 * again for the same blocks gets them back from the cache, also when a miss of another size
 * happens in between (the old give-back-on-miss rule dropped the step's big blocks there,
 * and every step page-faulted them in afresh). */
#include <string.h>
#include "harness.h"
#include "../src/backend/cpu/cpu_memory.h"

#define MB ((size_t)1 << 20)

/* One "step": a big activation, freed; then two smaller gradients that miss the cache
 * (no block of their size is cached in the first step). Records the pointers. */
static void step(void *s, void *p[3]) {
    p[0] = cpu_alloc_uninit(s, 8 * MB);
    if (p[0]) memset(p[0], 1, 8 * MB);
    cpu_free(s, p[0]);
    p[1] = cpu_alloc_uninit(s, 2 * MB);
    p[2] = cpu_alloc_uninit(s, 2 * MB);
    cpu_free(s, p[1]);
    cpu_free(s, p[2]);
}

TEST(cpu_memory_cache_keeps_a_steps_blocks_across_misses) {
    char msg[256];
    void *s = NULL;
    REQUIRE(cpu_state_init(&s, 0, msg, sizeof msg) == SSL3D_OK);
    void *a[3], *b[3];
    step(s, a);
    REQUIRE(a[0] && a[1] && a[2]);
    step(s, b);
    REQUIRE(b[0] && b[1] && b[2]);
    CHECK_MSG(b[0] == a[0], "the 8 MB block was not reused by the second step");
    CHECK_MSG((b[1] == a[1] && b[2] == a[2]) || (b[1] == a[2] && b[2] == a[1]),
              "the 2 MB blocks were not reused by the second step");
    /* zeroed allocations from the cache are zero even though the block held data */
    float *z = cpu_alloc_zeroed(s, 8 * MB);
    REQUIRE(z);
    CHECK(z == a[0]);
    int nonzero = 0;
    for (size_t i = 0; i < 8 * MB / sizeof *z; i++) nonzero |= z[i] != 0.0f;
    CHECK(!nonzero);
    cpu_free(s, z);
    cpu_state_shutdown(s);
}
