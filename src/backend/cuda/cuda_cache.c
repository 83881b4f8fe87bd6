/* Caching allocator (cuda_cache.h). Live blocks sit in an open-addressing hash table
 * keyed by address, because device memory cannot carry a host-readable header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_cache.h"

static size_t slot_of(const void *p, size_t cap) {
    uint64_t h = (uint64_t)(uintptr_t)p >> 8;   /* blocks are >= 256-byte aligned */
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static int live_grow(ssl3d_devcache *c) {
    size_t ncap = c->live_cap ? c->live_cap * 2 : 256;
    ssl3d_devblock *n = calloc(ncap, sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < c->live_cap; i++) {
        if (!c->live[i].p) continue;
        size_t j = slot_of(c->live[i].p, ncap);
        while (n[j].p) j = (j + 1) & (ncap - 1);
        n[j] = c->live[i];
    }
    free(c->live);
    c->live = n;
    c->live_cap = ncap;
    return 0;
}

static int live_put(ssl3d_devcache *c, void *p, size_t size) {
    if ((c->live_n + 1) * 2 > c->live_cap && live_grow(c) != 0) return -1;   /* load <= 1/2 */
    size_t j = slot_of(p, c->live_cap);
    while (c->live[j].p) j = (j + 1) & (c->live_cap - 1);
    c->live[j] = (ssl3d_devblock){ p, size };
    c->live_n++;
    return 0;
}

static size_t live_find(const ssl3d_devcache *c, const void *p) {
    if (!c->live_cap || !p) return SIZE_MAX;
    size_t j = slot_of(p, c->live_cap);
    while (c->live[j].p) {
        if (c->live[j].p == p) return j;
        j = (j + 1) & (c->live_cap - 1);
    }
    return SIZE_MAX;
}

/* Linear-probing deletion by backward shift: no tombstones, lookups stay short. */
static void live_remove_at(ssl3d_devcache *c, size_t i) {
    const size_t mask = c->live_cap - 1;
    size_t j = i;
    for (;;) {
        c->live[i].p = NULL;
        for (;;) {
            j = (j + 1) & mask;
            if (!c->live[j].p) { c->live_n--; return; }
            size_t home = slot_of(c->live[j].p, c->live_cap);
            /* entry j may move to i when its home is not cyclically in (i, j] */
            if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) continue;
            break;
        }
        c->live[i] = c->live[j];
        i = j;
    }
}

int ssl3d_devcache_init(ssl3d_devcache *c, ssl3d_devcache_raw_alloc a, ssl3d_devcache_raw_free f,
                        void *user, size_t limit) {
    memset(c, 0, sizeof *c);
    c->raw_alloc = a;
    c->raw_free = f;
    c->user = user;
    c->limit = limit;
    return live_grow(c);
}

static void cached_drop(ssl3d_devcache *c, size_t i) {
    c->raw_free(c->user, c->cached[i].p);
    c->cached_bytes -= c->cached[i].size;
    memmove(&c->cached[i], &c->cached[i + 1], (c->cached_n - 1 - i) * sizeof c->cached[0]);
    c->cached_n--;
}

void ssl3d_devcache_trim(ssl3d_devcache *c) {
    while (c->cached_n) cached_drop(c, c->cached_n - 1);
}

static void *raw_or_trim(ssl3d_devcache *c, size_t size) {
    void *p = c->raw_alloc(c->user, size);
    if (!p && c->cached_n) {   /* out of memory: give the cache back, try once more */
        ssl3d_devcache_trim(c);
        p = c->raw_alloc(c->user, size);
    }
    if (p) c->raw_allocs++;
    return p;
}

void *ssl3d_devcache_alloc(ssl3d_devcache *c, size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - SSL3D_DEVCACHE_ROUND) return NULL;
    size_t size = (bytes + SSL3D_DEVCACHE_ROUND - 1) / SSL3D_DEVCACHE_ROUND * SSL3D_DEVCACHE_ROUND;
    /* Best fit among cached blocks at most 1/8 larger (newest on ties). */
    size_t best = SIZE_MAX;
    for (size_t i = c->cached_n; i-- > 0;)
        if (c->cached[i].size >= size && c->cached[i].size - size <= size / 8 &&
            (best == SIZE_MAX || c->cached[i].size < c->cached[best].size))
            best = i;
    void *p;
    if (best != SIZE_MAX) {
        p = c->cached[best].p;
        size = c->cached[best].size;
        c->cached_bytes -= size;
        memmove(&c->cached[best], &c->cached[best + 1], (c->cached_n - 1 - best) * sizeof c->cached[0]);
        c->cached_n--;
    } else {
        p = raw_or_trim(c, size);
        if (!p) return NULL;
    }
    if (live_put(c, p, size) != 0) {   /* host bookkeeping full: do not lose the block */
        c->raw_free(c->user, p);
        return NULL;
    }
    c->live_bytes += size;
    if (c->live_bytes > c->peak_bytes) c->peak_bytes = c->live_bytes;
    return p;
}

size_t ssl3d_devcache_size(const ssl3d_devcache *c, const void *p) {
    size_t i = live_find(c, p);
    return i == SIZE_MAX ? 0 : c->live[i].size;
}

int ssl3d_devcache_free(ssl3d_devcache *c, void *p) {
    if (!p) return 0;
    size_t i = live_find(c, p);
    if (i == SIZE_MAX) return -1;
    size_t size = c->live[i].size;
    live_remove_at(c, i);
    c->live_bytes -= size;
    if (size > c->limit) { c->raw_free(c->user, p); return 0; }
    while (c->cached_n && c->cached_bytes + size > c->limit) cached_drop(c, 0);   /* oldest first */
    if (c->cached_n == c->cached_cap) {
        size_t ncap = c->cached_cap ? c->cached_cap * 2 : 64;
        ssl3d_devblock *n = realloc(c->cached, ncap * sizeof *n);
        if (!n) { c->raw_free(c->user, p); return 0; }
        c->cached = n;
        c->cached_cap = ncap;
    }
    c->cached[c->cached_n++] = (ssl3d_devblock){ p, size };
    c->cached_bytes += size;
    return 0;
}

void ssl3d_devcache_destroy(ssl3d_devcache *c) {
    ssl3d_devcache_trim(c);
    for (size_t i = 0; i < c->live_cap; i++)
        if (c->live[i].p) c->raw_free(c->user, c->live[i].p);
    free(c->live);
    free(c->cached);
    memset(c, 0, sizeof *c);
}
