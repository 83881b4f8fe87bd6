/* The CUDA backend's caching allocator, one per context. cudaMalloc and cudaFree are
 * slow (cudaFree synchronises the device), and a training step allocates and frees the
 * same activation sizes every iteration, so freed blocks are kept for reuse. Blocks are
 * reused in stream order: a context issues all its work on one stream, so a block freed
 * by one kernel and handed to the next cannot be written while still being read.
 *
 * The allocator knows nothing of CUDA: it calls a raw allocate/free pair (cudaMalloc /
 * cudaFree in the plugin, malloc / free in the unit tests, tests/test_cuda_cache.c), so
 * its bookkeeping is tested on every machine. No state outside the struct. */
#ifndef SSL3D_CUDA_CACHE_H
#define SSL3D_CUDA_CACHE_H
#include <stddef.h>

typedef void *(*ssl3d_devcache_raw_alloc)(void *user, size_t bytes);   /* NULL on failure */
typedef void (*ssl3d_devcache_raw_free)(void *user, void *p);

typedef struct ssl3d_devblock { void *p; size_t size; } ssl3d_devblock;

typedef struct ssl3d_devcache {
    ssl3d_devcache_raw_alloc raw_alloc;
    ssl3d_devcache_raw_free raw_free;
    void *user;
    ssl3d_devblock *live;          /* open-addressing table of handed-out blocks (p NULL: empty) */
    size_t live_cap, live_n;
    ssl3d_devblock *cached;        /* freed blocks kept for reuse, oldest first */
    size_t cached_n, cached_cap;
    size_t live_bytes, cached_bytes, peak_bytes;
    size_t limit;                  /* most bytes kept in the cache */
    size_t raw_allocs;             /* raw allocations made (tests: reuse means no new ones) */
} ssl3d_devcache;

/* Rounding of request sizes: blocks are multiples of this. */
#define SSL3D_DEVCACHE_ROUND 512u

/* 0, or -1 when the bookkeeping arrays cannot be allocated. */
int ssl3d_devcache_init(ssl3d_devcache *c, ssl3d_devcache_raw_alloc a, ssl3d_devcache_raw_free f,
                        void *user, size_t limit);
/* A block of at least `bytes` (> 0): a cached one at most 1/8 larger, else a new one; when
 * the raw allocator fails, the cache is given back and the allocation tried once more.
 * NULL when that fails too (out of memory) or the size overflows. */
void *ssl3d_devcache_alloc(ssl3d_devcache *c, size_t bytes);
/* Return a block to the cache (or to the raw allocator when it does not fit the limit).
 * 0, or -1 when `p` was not handed out by this cache (then nothing is done). NULL is 0. */
int ssl3d_devcache_free(ssl3d_devcache *c, void *p);
/* Size of a live block, or 0 for a pointer this cache did not hand out. */
size_t ssl3d_devcache_size(const ssl3d_devcache *c, const void *p);
/* Give every cached block back to the raw allocator. */
void ssl3d_devcache_trim(ssl3d_devcache *c);
/* Trim and free everything, live blocks included (the context is going away). */
void ssl3d_devcache_destroy(ssl3d_devcache *c);
#endif
