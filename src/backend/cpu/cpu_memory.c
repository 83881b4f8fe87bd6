/* CPU memory: 64-byte aligned blocks with a small header recording their size, and a
 * per-context cache of freed large blocks. A training step allocates and frees the same
 * activation sizes every iteration; reusing them avoids fresh page faults and kernel
 * zero-fill (glibc maps blocks above its mmap threshold anew each time). The cache lives
 * in the backend state of one context, so nothing is process-wide. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "cpu_isa.h"
#include "cpu_memory.h"

#define HEADER 64u                      /* keeps the payload 64-byte aligned */
#define CACHE_MIN_BYTES (256u << 10)    /* smaller blocks: malloc's own bins do well */
#define CACHE_SLOTS 256

typedef struct cached { void *base; size_t size; } cached;

struct cpu_state {
    cached slots[CACHE_SLOTS];
    int32_t n;
    size_t bytes, limit;
    size_t live, peak;                  /* bytes of cacheable blocks in use now, and at most so far */
    const cpu_conv_isa *isa;            /* the context's kernel instruction set (cpu_isa.c) */
    void *arena;                        /* scratch of the direct conv kernels (cpu_scratch_take) */
    size_t arena_size;
    int arena_busy;
};

const struct cpu_conv_isa *cpu_state_isa(const void *state) {
    return state ? ((const struct cpu_state *)state)->isa : NULL;
}

ssl3d_status cpu_state_init(void **state, int32_t device, char *msg, size_t cap) {
    (void)device;   /* one device: the library checks it is 0 */
    const cpu_conv_isa *isa = cpu_isa_select(msg, cap);
    if (!isa) return SSL3D_ERR_BACKEND_UNAVAILABLE;
    struct cpu_state *s = calloc(1, sizeof *s);
    if (!s) return SSL3D_ERR_NOMEM;
    s->isa = isa;
    const char *forced = getenv("SSL3D_CPU_ISA");
    snprintf(msg, cap, "%s kernels (%s): %s; im2col + OpenBLAS %s SGEMM for 1x1, strided dx, "
             "transposed conv", isa->name, forced && *forced ? "SSL3D_CPU_ISA" : "cpuid", isa->kernels,
             openblas_get_corename());
    /* At most 1 GiB of freed blocks kept (and, see cpu_alloc_uninit, live + cached at most
     * 1.5x the live blocks' peak): a training step asks again for the blocks of the step
     * before it, up to its peak; whatever the cache cannot hold is faulted in afresh. */
    s->limit = (size_t)1024 << 20;
    *state = s;
    return SSL3D_OK;
}

static size_t rounded(size_t bytes);

static void cache_drop_oldest(struct cpu_state *s) {
    free(s->slots[0].base);
    s->bytes -= s->slots[0].size;
    memmove(&s->slots[0], &s->slots[1], (size_t)(s->n - 1) * sizeof s->slots[0]);
    s->n--;
}

void cpu_state_shutdown(void *state) {
    struct cpu_state *s = state;
    if (!s) return;
    while (s->n) cache_drop_oldest(s);
    free(s->arena);
    free(s);
}

/* The direct convolution kernels need a few MB of scratch per call (the padded
 * channels-last input, packed weights, weight-gradient partials), and the same sizes every
 * step. From malloc they were mapped and faulted in afresh on every call (6% of a W1c
 * step's CPU time in page faults); from the block cache their odd sizes would push out
 * activation blocks. So each context keeps one arena, grown to the largest request and
 * reused; a second taker while it is lent (nested or concurrent use) gets NULL and falls
 * back to malloc. */
void *cpu_scratch_take(void *state, size_t bytes) {
    struct cpu_state *s = state;
    if (!s || __atomic_exchange_n(&s->arena_busy, 1, __ATOMIC_ACQUIRE)) return NULL;
    if (s->arena_size < bytes) {
        free(s->arena);
        const size_t size = rounded(bytes);
        s->arena = size ? aligned_alloc(64, size) : NULL;
        s->arena_size = s->arena ? size : 0;
        if (!s->arena) { __atomic_store_n(&s->arena_busy, 0, __ATOMIC_RELEASE); return NULL; }
    }
    return s->arena;
}

void cpu_scratch_give(void *state, void *p) {
    struct cpu_state *s = state;
    if (!p) return;
    if (s && p == s->arena) __atomic_store_n(&s->arena_busy, 0, __ATOMIC_RELEASE);
    else free(p);
}

static size_t rounded(size_t bytes) {
    size_t r = (bytes + 4095u) & ~(size_t)4095u;  /* page multiples make exact reuse likely */
    return r < bytes ? 0 : r;
}

/* Best fit among blocks at most 1/8 larger than asked for (the newest on ties). */
static void *take_cached(struct cpu_state *s, size_t size, size_t *got) {
    int32_t best = -1;
    for (int32_t i = s->n - 1; i >= 0; i--)
        if (s->slots[i].size >= size && s->slots[i].size - size <= size / 8 &&
            (best < 0 || s->slots[i].size < s->slots[best].size))
            best = i;
    if (best < 0) return NULL;
    void *base = s->slots[best].base;
    *got = s->slots[best].size;
    s->bytes -= *got;
    memmove(&s->slots[best], &s->slots[best + 1], (size_t)(s->n - 1 - best) * sizeof s->slots[0]);
    s->n--;
    return base;
}

void *cpu_alloc_uninit(void *state, size_t bytes) {
    struct cpu_state *s = state;
    size_t size = rounded(bytes);
    if (!size || size > SIZE_MAX - HEADER) return NULL;
    size_t got = size;
    void *base = (s && size >= CACHE_MIN_BYTES) ? take_cached(s, size, &got) : NULL;
    if (base) {
        size = got;   /* the header keeps the block's real size */
    } else {
        /* A miss: give back the oldest cached blocks until live + cached + this block fits
         * under 1.5x the most memory the live blocks have ever needed. Giving back as much
         * as each miss asks for (so that live + cached never grew) made the odd miss of a
         * step empty the cache block by block, and every step re-faulted and re-zeroed
         * hundreds of MB (70,000 page faults per W3 step, 120,000 per W4 step). A step
         * needs more blocks than its peak live set, because the mix of sizes changes
         * between the forward and the backward pass: with half the peak as slack, W2-W5
         * run without a page fault in the steady state and stay below PyTorch's peak
         * memory (docs/performance.md, 2026-12-05 afternoon). */
        while (s && s->n && s->live + s->bytes + size > s->peak + s->peak / 2) cache_drop_oldest(s);
        base = aligned_alloc(64, size + HEADER);
    }
    if (!base) {
        /* Out of memory: give the cache back and try once more. */
        while (s && s->n) cache_drop_oldest(s);
        base = aligned_alloc(64, size + HEADER);
        if (!base) return NULL;
    }
    *(size_t *)base = size;
    if (s && size >= CACHE_MIN_BYTES) {
        s->live += size;
        if (s->live > s->peak) s->peak = s->live;
    }
    return (char *)base + HEADER;
}

void *cpu_alloc_zeroed(void *state, size_t bytes) {
    void *p = cpu_alloc_uninit(state, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void cpu_free(void *state, void *p) {
    if (!p) return;
    struct cpu_state *s = state;
    void *base = (char *)p - HEADER;
    size_t size = *(size_t *)base;
    if (s && size >= CACHE_MIN_BYTES) s->live -= size;
    if (!s || size < CACHE_MIN_BYTES || size > s->limit) { free(base); return; }
    while (s->n && (s->n == CACHE_SLOTS || s->bytes + size > s->limit)) cache_drop_oldest(s);
    s->slots[s->n++] = (cached){ base, size };
    s->bytes += size;
}
