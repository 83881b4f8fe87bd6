/* Jigsaw permutation sets: greedy maximal-minimum-Hamming-distance selection (Noroozi &
 * Favaro 2016) from seeded candidate permutations, and their distance statistics. */
#include <limits.h>
#include <string.h>
#include "sample_internal.h"
#include "ssl3d/tasks.h"

#define MIN_CANDIDATES 5000
#define MAX_CELLS 64
#define MAX_P 100000

static int hamming(const uint8_t *a, const uint8_t *b, int n) {
    int d = 0;
    for (int i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* Next permutation in lexicographic order; 0 after the last. */
static int next_perm(uint8_t *p, int n) {
    int i = n - 2;
    while (i >= 0 && p[i] >= p[i + 1]) i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (p[j] <= p[i]) j--;
    uint8_t t = p[i]; p[i] = p[j]; p[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) { t = p[a]; p[a] = p[b]; p[b] = t; }
    return 1;
}

ssl3d_status ssl3d_jigsaw_perms_create(ssl3d_ctx *ctx, int32_t P, int32_t n_cells, uint64_t seed,
                                       ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_jigsaw_perms_create";
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_cells >= 2 && n_cells <= MAX_CELLS, "%s: n_cells %d outside [2, %d]", fn, (int)n_cells,
                    MAX_CELLS);
    SSL3D_CHECK_ARG(ctx, P >= 2 && P <= MAX_P, "%s: P %d outside [2, %d]", fn, (int)P, MAX_P);
    const int n = n_cells;
    int64_t nfact = 1;   /* n!, saturated above MIN_CANDIDATES */
    for (int i = 2; i <= n && nfact <= MIN_CANDIDATES; i++) nfact *= i;
    const int enumerate = nfact <= MIN_CANDIDATES;
    int64_t M = enumerate ? nfact : (10 * (int64_t)P > MIN_CANDIDATES ? 10 * (int64_t)P : MIN_CANDIDATES);
    SSL3D_CHECK_ARG(ctx, P <= M, "%s: P = %d exceeds the %lld permutations of %d cells", fn, (int)P,
                    (long long)M, n);
    uint8_t *cand = malloc((size_t)M * (size_t)n);
    int *mind = malloc((size_t)M * sizeof(int));
    int32_t *chosen = malloc((size_t)P * sizeof(int32_t));
    if (!cand || !mind || !chosen) {
        free(cand); free(mind); free(chosen);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory for %lld candidates", fn, (long long)M);
    }
    if (enumerate) {
        uint8_t p[MAX_CELLS];
        for (int i = 0; i < n; i++) p[i] = (uint8_t)i;
        for (int64_t m = 0; m < M; m++) { memcpy(cand + m * n, p, (size_t)n); next_perm(p, n); }
    } else {
        ssl3d_rng r;
        ssl3d_rng_init(&r, seed, data_stream(SSL3D_STREAM_PERMS, (uint64_t)n));
        for (int64_t m = 0; m < M; m++) {          /* Fisher-Yates */
            uint8_t *p = cand + m * n;
            for (int i = 0; i < n; i++) p[i] = (uint8_t)i;
            for (int i = n - 1; i > 0; i--) {
                int j = (int)ssl3d_rng_below(&r, (uint32_t)i + 1u);
                uint8_t t = p[i]; p[i] = p[j]; p[j] = t;
            }
        }
    }
    /* Greedy: mind[m] = min distance of candidate m to the chosen set. */
    for (int64_t m = 0; m < M; m++) mind[m] = INT_MAX;
    int64_t cur = 0;
    ssl3d_status st = SSL3D_OK;
    for (int32_t s = 0; s < P; s++) {
        chosen[s] = (int32_t)cur;
        const uint8_t *c = cand + cur * n;
        #pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t m = 0; m < M; m++) {
            int d = hamming(cand + m * n, c, n);
            if (d < mind[m]) mind[m] = d;
        }
        if (s + 1 == P) break;
        int64_t best = 0;
        for (int64_t m = 1; m < M; m++) if (mind[m] > mind[best]) best = m;
        if (mind[best] == 0) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: only %d distinct candidates for P = %d", fn,
                                 (int)(s + 1), (int)P);
            break;
        }
        cur = best;
    }
    int32_t *y = st == SSL3D_OK ? malloc((size_t)P * (size_t)n * sizeof(int32_t)) : NULL;
    if (st == SSL3D_OK && !y) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    if (st == SSL3D_OK) {
        /* Built on the host and copied in: ctx may keep tensors in device memory. */
        for (int32_t s = 0; s < P; s++)
            for (int i = 0; i < n; i++) y[(int64_t)s * n + i] = cand[(int64_t)chosen[s] * n + i];
        int64_t shape[2] = { P, n };
        st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, shape, y, out);
    }
    free(y);
    free(cand); free(mind); free(chosen);
    return st;
}

/* SSL3D_OK when every row of perms (P, n) is a permutation of 0..n-1. */
ssl3d_status perms_validate(ssl3d_ctx *ctx, const ssl3d_tensor *perms, const char *fn) {
    SSL3D_CHECK(ssl3d_check_i32(ctx, perms, fn, "perms"));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, perms->ndim == 2 && perms->shape[1] <= MAX_CELLS && perms->shape[1] >= 2,
                      "%s: perms %s must be (P, n_cells) with 2 <= n_cells <= %d", fn,
                      ssl3d_shape_str(perms, s, sizeof s), MAX_CELLS);
    SSL3D_CHECK_ARG(ctx, ctx->be->host_memory, "%s: needs a host-memory (CPU) context", fn);
    const int64_t P = perms->shape[0], n = perms->shape[1];
    const int32_t *p = ssl3d_i32(perms);
    for (int64_t r = 0; r < P; r++) {
        uint64_t seen = 0;
        for (int64_t i = 0; i < n; i++) {
            int32_t e = p[r * n + i];
            if (e < 0 || e >= n || (seen >> e) & 1u)
                return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: row %lld of perms is not a permutation of 0..%lld",
                                       fn, (long long)r, (long long)(n - 1));
            seen |= UINT64_C(1) << e;
        }
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_jigsaw_perms_stats(ssl3d_ctx *ctx, const ssl3d_tensor *perms, int32_t *min_distance,
                                      double *mean_distance) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_jigsaw_perms_stats";
    SSL3D_CHECK(perms_validate(ctx, perms, fn));
    SSL3D_CHECK_ARG(ctx, min_distance && mean_distance, "%s: min_distance and mean_distance must not be NULL", fn);
    const int64_t P = perms->shape[0], n = perms->shape[1];
    SSL3D_CHECK_ARG(ctx, P >= 2, "%s: need at least 2 permutations, got %lld", fn, (long long)P);
    const int32_t *p = ssl3d_i32(perms);
    int64_t total = 0;
    int mn = INT_MAX;
    #pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16) reduction(+ : total) reduction(min : mn)
    for (int64_t a = 0; a < P; a++)
        for (int64_t b = a + 1; b < P; b++) {
            int d = 0;
            for (int64_t i = 0; i < n; i++) d += p[a * n + i] != p[b * n + i];
            total += d;
            if (d < mn) mn = d;
        }
    *min_distance = mn;
    *mean_distance = (double)total / ((double)P * (double)(P - 1) / 2.0);
    return SSL3D_OK;
}
