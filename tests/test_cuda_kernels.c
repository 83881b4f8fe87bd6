/* The CUDA backend's custom kernels (src/backend/cuda/kernels_*.h) run on the CPU: every
 * (block, thread) of a launch in turn (kernel_defs.h). Each kernel is compared with the
 * CPU backend's kernel for the same slot, under several launch shapes — one thread, odd
 * blocks, grids too small for n (the grid-stride loops must cover everything) and the
 * shape the plugin uses — so their indexing is tested on every machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/core/rng.h"
#include "../src/backend/conv_kernels.h"
#include "../src/backend/layer_kernels.h"
#include "../src/backend/loss_kernels.h"
#include "../src/backend/optim_kernels.h"
#include "../src/backend/rows_kernels.h"
#include "../src/backend/cuda/kernels_ew.h"
#include "../src/backend/cuda/kernels_reduce.h"
#include "../src/backend/cuda/kernels_norm.h"
#include "../src/backend/cuda/kernels_loss.h"
#include "../src/backend/cuda/kernels_rows.h"

static const ssl3d_kctx K1 = { 1, NULL };

/* Launch shapes for n items: (grid, block). */
#define N_SHAPES 4
static void shapes(int64_t n, unsigned g[N_SHAPES], unsigned b[N_SHAPES]) {
    g[0] = 1; b[0] = 1;
    g[1] = 3; b[1] = 32;
    g[2] = 2; b[2] = 7;
    g[3] = ssl3d_grid_for(n, SSL3D_BLOCK); b[3] = SSL3D_BLOCK;
}

static float *randv(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)n * sizeof *v);
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, 1);
    for (int64_t i = 0; i < n; i++) v[i] = ssl3d_rng_normal(&r);
    return v;
}

static int close_all(const float *a, const float *b, int64_t n, float tol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i])))) return 0;
    return 1;
}

TEST(cuda_kernel_grid_sizes) {
    CHECK(ssl3d_grid_for(0, 256) == 1);
    CHECK(ssl3d_grid_for(1, 256) == 1);
    CHECK(ssl3d_grid_for(256, 256) == 1);
    CHECK(ssl3d_grid_for(257, 256) == 2);
    CHECK(ssl3d_grid_for((int64_t)1 << 40, 256) == SSL3D_MAX_GRID);
    CHECK(ssl3d_channel_chunks(16, 1000) == 64);
    CHECK(ssl3d_channel_chunks(16, 10) == 10);
    CHECK(ssl3d_channel_chunks(4096, 1 << 20) * 4096 <= SSL3D_REDUCE_PARTS);
}

TEST(cuda_kernel_basic_float_ops_match_cpu) {
    const int64_t sizes[3] = { 1, 77, 1031 };
    for (int si = 0; si < 3; si++) {
        const int64_t n = sizes[si];
        float *x = randv(n, 1), *y0 = randv(n, 2), *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
        float *nanv = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) nanv[i] = NAN;
        unsigned g[N_SHAPES], b[N_SHAPES];
        shapes(n, g, b);
        for (int s = 0; s < N_SHAPES; s++) {
            memcpy(want, y0, (size_t)n * 4); memcpy(got, y0, (size_t)n * 4);
            for (int64_t i = 0; i < n; i++) want[i] += 0.5f * x[i];
            SSL3D_EMU_LAUNCH(k_axpy, g[s], b[s], 0.5f, x, got, n);
            CHECK_MSG(close_all(got, want, n, 0), "axpy n=%lld shape %d", (long long)n, s);
            for (int64_t i = 0; i < n; i++) want[i] += 2.0f;
            SSL3D_EMU_LAUNCH(k_add_scalar, g[s], b[s], 2.0f, got, n);
            CHECK_MSG(close_all(got, want, n, 0), "add_scalar n=%lld shape %d", (long long)n, s);
            for (int64_t i = 0; i < n; i++) want[i] = 3.0f * x[i] + -1.5f * y0[i];
            SSL3D_EMU_LAUNCH(k_scale_add, g[s], b[s], 3.0f, x, -1.5f, y0, got, n);
            CHECK_MSG(close_all(got, want, n, 1e-7f), "scale_add n=%lld shape %d", (long long)n, s);
            for (int64_t i = 0; i < n; i++) want[i] = 3.0f * x[i];   /* b = 0: y (all NaN) not read */
            SSL3D_EMU_LAUNCH(k_scale_add, g[s], b[s], 3.0f, x, 0.0f, nanv, got, n);
            CHECK_MSG(close_all(got, want, n, 0), "scale_add b=0 n=%lld shape %d", (long long)n, s);
            for (int64_t i = 0; i < n; i++) want[i] *= 0.25f;
            SSL3D_EMU_LAUNCH(k_scale, g[s], b[s], got, n, 0.25f);
            CHECK_MSG(close_all(got, want, n, 0), "scale n=%lld shape %d", (long long)n, s);
            for (int64_t i = 0; i < n; i++) want[i] = 7.0f;
            SSL3D_EMU_LAUNCH(k_fill, g[s], b[s], got, n, 7.0f);
            CHECK_MSG(close_all(got, want, n, 0), "fill n=%lld shape %d", (long long)n, s);
        }
        free(x); free(y0); free(want); free(got); free(nanv);
    }
}

TEST(cuda_kernel_activations_match_cpu) {
    const int64_t n = 513;
    float *x = randv(n, 3), *y = malloc(n * 4), *yc = malloc(n * 4), *dy = randv(n, 4);
    float *dx = randv(n, 5), *dxc = malloc(n * 4);
    x[0] = 0.0f; x[1] = -100.0f; x[2] = 100.0f;   /* the kinks and the saturated ends */
    unsigned g[N_SHAPES], b[N_SHAPES];
    shapes(n, g, b);
    for (int kind = 0; kind < 4; kind++)
        for (int s = 0; s < N_SHAPES; s++) {
            ssl3d_cpu_layer_kernels.activation_forward(&K1, kind, 0.1f, x, yc, n);
            SSL3D_EMU_LAUNCH(k_act_forward, g[s], b[s], kind, 0.1f, x, y, n);
            CHECK_MSG(close_all(y, yc, n, 1e-6f), "activation %d forward, shape %d", kind, s);
            memcpy(dxc, dx, n * 4);
            float *dxg = malloc(n * 4);
            memcpy(dxg, dx, n * 4);
            ssl3d_cpu_layer_kernels.activation_backward(&K1, kind, 0.1f, x, yc, dy, dxc, n);
            SSL3D_EMU_LAUNCH(k_act_backward, g[s], b[s], kind, 0.1f, x, y, dy, dxg, n);
            CHECK_MSG(close_all(dxg, dxc, n, 1e-6f), "activation %d backward (accumulating), shape %d", kind, s);
            free(dxg);
        }
    free(x); free(y); free(yc); free(dy); free(dx); free(dxc);
}

TEST(cuda_kernel_philox_and_dropout_masks_equal_cpu) {
    for (uint64_t i = 0; i < 50; i++) {
        uint32_t a[4], c[4];
        ssl3d_philox(0x1234567890abcdefull + i, 77 + (i << 33), i * 1000003u, a);
        philox4x32(0x1234567890abcdefull + i, 77 + (i << 33), i * 1000003u, c);
        CHECK(memcmp(a, c, sizeof a) == 0);
    }
    const int64_t sizes[2] = { 1, 1002 };   /* n not a multiple of 4: the last Philox block is partial */
    for (int si = 0; si < 2; si++) {
        const int64_t n = sizes[si];
        float *x = randv(n, 6), *y = malloc(n * 4), *yc = malloc(n * 4), *dx = randv(n, 7), *dxc = malloc(n * 4);
        memcpy(dxc, dx, n * 4);
        unsigned g[N_SHAPES], b[N_SHAPES];
        shapes((n + 3) / 4, g, b);
        ssl3d_cpu_layer_kernels.dropout_forward(&K1, x, yc, n, 0.3f, 42, 9);
        ssl3d_cpu_layer_kernels.dropout_backward(&K1, x, dxc, n, 0.3f, 42, 9);
        for (int s = 0; s < N_SHAPES; s++) {
            SSL3D_EMU_LAUNCH(k_dropout, g[s], b[s], x, y, n, 0.3f, (uint64_t)42, (uint64_t)9, 0);
            CHECK_MSG(memcmp(y, yc, n * 4) == 0, "dropout forward differs from the CPU (n=%lld, shape %d)",
                      (long long)n, s);
        }
        SSL3D_EMU_LAUNCH(k_dropout, g[1], b[1], x, dx, n, 0.3f, (uint64_t)42, (uint64_t)9, 1);
        CHECK(memcmp(dx, dxc, n * 4) == 0);
        free(x); free(y); free(yc); free(dx); free(dxc);
    }
}

TEST(cuda_kernel_add_mul_and_channel_sums_match_cpu) {
    const int64_t N = 3, C = 5, S = 37, n = N * C * S;
    float *a = randv(n, 8), *bf = randv(n, 9), *bc = randv(C, 10), *y = malloc(n * 4), *yc = malloc(n * 4);
    float *dy = randv(n, 11);
    unsigned g[N_SHAPES], b[N_SHAPES];
    shapes(n, g, b);
    for (int s = 0; s < N_SHAPES; s++) {
        ssl3d_cpu_layer_kernels.add_forward(&K1, a, bc, yc, N, C, S, 1);
        SSL3D_EMU_LAUNCH(k_add, g[s], b[s], a, bc, y, n, C, S, 1);
        CHECK_MSG(memcmp(y, yc, n * 4) == 0, "add per channel, shape %d", s);
        ssl3d_cpu_layer_kernels.add_forward(&K1, a, bf, yc, N, C, S, 0);
        SSL3D_EMU_LAUNCH(k_add, g[s], b[s], a, bf, y, n, C, S, 0);
        CHECK_MSG(memcmp(y, yc, n * 4) == 0, "add, shape %d", s);
        ssl3d_cpu_layer_kernels.mul_forward(&K1, a, bf, yc, n);
        SSL3D_EMU_LAUNCH(k_mul, g[s], b[s], a, bf, y, n);
        CHECK_MSG(memcmp(y, yc, n * 4) == 0, "mul, shape %d", s);
    }
    /* mul backward, separate and aliased (y = x*x: da and db one buffer). */
    float *da = calloc(n, 4), *dbuf = calloc(n, 4), *dac = calloc(n, 4), *dbc = calloc(n, 4);
    ssl3d_cpu_layer_kernels.mul_backward(&K1, a, bf, dy, dac, dbc, n);
    SSL3D_EMU_LAUNCH(k_mul_backward, g[1], b[1], a, bf, dy, da, dbuf, n);
    CHECK(close_all(da, dac, n, 1e-7f) && close_all(dbuf, dbc, n, 1e-7f));
    memset(da, 0, n * 4); memset(dac, 0, n * 4);
    ssl3d_cpu_layer_kernels.mul_backward(&K1, a, a, dy, dac, dac, n);
    SSL3D_EMU_LAUNCH(k_mul_backward, g[2], b[2], a, a, dy, da, da, n);
    CHECK(close_all(da, dac, n, 1e-6f));
    /* per-channel gradient of the bias: the two-pass channel sum */
    float dbk[5] = { 1, 2, 3, 4, 5 }, dbkc[5] = { 1, 2, 3, 4, 5 };
    ssl3d_cpu_layer_kernels.add_backward(&K1, dy, N, C, S, 1, NULL, dbkc);
    const int64_t chunks = ssl3d_channel_chunks(C, N * S);
    double *part = calloc((size_t)(C * chunks), sizeof *part);
    SSL3D_EMU_LAUNCH(k_channel_partial, 2, 13, dy, N, C, S, chunks, part);
    SSL3D_EMU_LAUNCH(k_channel_final, 1, 3, part, C, chunks, dbk);
    CHECK(close_all(dbk, dbkc, C, 1e-6f));
    free(part); free(da); free(dbuf); free(dac); free(dbc);
    free(a); free(bf); free(bc); free(y); free(yc); free(dy);
}

TEST(cuda_kernel_block_copy_matches_cpu) {
    const int64_t rows = 6, len = 11, ss = 17, ds = 13;
    float *src = randv(rows * ss, 12), *dst = randv(rows * ds, 13), *dstc = malloc(rows * ds * 4);
    memcpy(dstc, dst, rows * ds * 4);
    for (int acc = 0; acc < 2; acc++) {
        ssl3d_cpu_layer_kernels.block_copy(&K1, src, ss, dstc, ds, rows, len, acc);
        SSL3D_EMU_LAUNCH(k_block_copy, 3, 5, src, ss, dst, ds, rows, len, acc);
        CHECK_MSG(memcmp(dst, dstc, rows * ds * 4) == 0, "block copy accumulate=%d", acc);
    }
    free(src); free(dst); free(dstc);
}

TEST(cuda_kernel_pooling_matches_cpu_2d_and_3d) {
    for (int dims = 2; dims <= 3; dims++) {
        const int64_t nc = 3, in[3] = { dims == 3 ? 5 : 1, 7, 6 };   /* odd extents: floor */
        const int64_t kd = dims == 3 ? 2 : 1, ivol = in[0] * in[1] * in[2];
        const int64_t ovol = (in[0] / kd) * (in[1] / 2) * (in[2] / 2);
        float *x = randv(nc * ivol, 14 + dims);
        x[3] = NAN;                 /* a NaN wins its window */
        x[ivol + 1] = x[ivol];      /* a tie: the first one wins */
        float *y = malloc(nc * ovol * 4), *yc = malloc(nc * ovol * 4);
        int32_t *am = malloc(nc * ovol * 4), *amc = malloc(nc * ovol * 4);
        ssl3d_cpu_conv_kernels.maxpool2_forward(&K1, dims, nc, in, x, yc, amc);
        SSL3D_EMU_LAUNCH(k_maxpool2, 2, 9, x, y, am, nc, in[0], in[1], in[2], kd);
        CHECK(memcmp(am, amc, nc * ovol * 4) == 0);
        CHECK(memcmp(y, yc, nc * ovol * 4) == 0);   /* bitwise, NaN included */
        float *dy = randv(nc * ovol, 20), *dx = randv(nc * ivol, 21), *dxc = malloc(nc * ivol * 4);
        memcpy(dxc, dx, nc * ivol * 4);
        ssl3d_cpu_conv_kernels.maxpool2_backward(&K1, dims, nc, in, dy, amc, dxc);
        SSL3D_EMU_LAUNCH(k_maxpool2_backward, 4, 3, dy, am, dx, nc, ivol, ovol);
        CHECK(memcmp(dx, dxc, nc * ivol * 4) == 0);
        /* global average pool */
        float gy[3], gyc[3];
        ssl3d_cpu_conv_kernels.global_avgpool_forward(&K1, nc, ivol, dx, gyc);
        SSL3D_EMU_LAUNCH(k_row_mean, 1, 2, dx, nc, ivol, gy);
        CHECK(memcmp(gy, gyc, sizeof gy) == 0);
        memcpy(dxc, dx, nc * ivol * 4);
        ssl3d_cpu_conv_kernels.global_avgpool_backward(&K1, nc, ivol, gy, dxc);
        SSL3D_EMU_LAUNCH(k_avgpool_backward, 3, 8, gy, dx, nc, ivol);
        CHECK(close_all(dx, dxc, nc * ivol, 1e-7f));
        free(x); free(y); free(yc); free(am); free(amc); free(dy); free(dx); free(dxc);
    }
}

TEST(cuda_kernel_optimiser_steps_match_cpu) {
    const int64_t n = 301;
    float *g = randv(n, 30);
    for (int variant = 0; variant < 3; variant++) {   /* plain, momentum, nesterov */
        float *p = randv(n, 31), *pc = randv(n, 31), *buf = calloc(n, 4), *bufc = calloc(n, 4);
        for (int step = 0; step < 3; step++) {
            ssl3d_cpu_optim_kernels.sgd_update(&K1, pc, g, variant ? bufc : NULL, n, 0.1f, 0.9f, 1e-2f, variant == 2);
            SSL3D_EMU_LAUNCH(k_sgd, 3, 32, p, g, variant ? buf : NULL, n, 0.1f, 0.9f, 1e-2f, variant == 2);
        }
        CHECK_MSG(close_all(p, pc, n, 1e-6f) && close_all(buf, bufc, n, 1e-6f), "sgd variant %d", variant);
        free(p); free(pc); free(buf); free(bufc);
    }
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        float *p = randv(n, 32), *pc = randv(n, 32), *m = calloc(n, 4), *mc = calloc(n, 4);
        float *v = calloc(n, 4), *vc = calloc(n, 4);
        for (int t = 1; t <= 3; t++) {
            const float bc1 = 1.0f - powf(0.9f, (float)t), bc2 = 1.0f - powf(0.999f, (float)t);
            ssl3d_cpu_optim_kernels.adam_update(&K1, pc, g, mc, vc, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled,
                                                bc1, bc2);
            SSL3D_EMU_LAUNCH(k_adam, 2, 64, p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled, bc1, bc2);
        }
        CHECK_MSG(close_all(p, pc, n, 1e-6f) && close_all(m, mc, n, 1e-6f) && close_all(v, vc, n, 1e-6f),
                  "adam decoupled=%d", decoupled);
        free(p); free(pc); free(m); free(mc); free(v); free(vc);
    }
    free(g);
}

/* The fixed-partition reductions with the plugin's launch shape (65536 partials). */
TEST(cuda_kernel_reductions_cover_every_element) {
    const int64_t n = 70001;   /* more than the partials, and not a multiple */
    float *x = randv(n, 40), *w = randv(n, 41);
    double *part = malloc(SSL3D_REDUCE_PARTS * sizeof *part), fin[SSL3D_REDUCE_FINAL];
    for (int mode = 0; mode < 3; mode++) {
        double want = 0.0;
        for (int64_t i = 0; i < n; i++) want += mode == 0 ? x[i] : mode == 1 ? (double)x[i] * w[i] : (double)x[i] * x[i];
        SSL3D_EMU_LAUNCH(k_partial_sum, SSL3D_REDUCE_GRID, SSL3D_BLOCK, x, w, n, mode, part);
        SSL3D_EMU_LAUNCH(k_final_sum, 1, SSL3D_REDUCE_FINAL, part, (int64_t)SSL3D_REDUCE_PARTS, fin,
                         (int64_t)SSL3D_REDUCE_FINAL);
        double got = 0.0;
        for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) got += fin[i];
        CHECK_MSG(fabs(got - want) <= 1e-9 * (1.0 + fabs(want)), "mode %d: %.12g vs %.12g", mode, got, want);
    }
    int64_t *ipart = (int64_t *)part, ifin[SSL3D_REDUCE_FINAL];
    const int64_t bad_at[3] = { 69999, 65537, 3 };
    x[3 + SSL3D_REDUCE_PARTS] = NAN;   /* thread 3 sees two: it must report its first */
    for (int k = 0; k <= 3; k++) {
        if (k < 3) x[bad_at[k]] = k == 1 ? INFINITY : NAN;   /* cumulative: the smallest index so far wins */
        SSL3D_EMU_LAUNCH(k_partial_first_nonfinite, SSL3D_REDUCE_GRID, SSL3D_BLOCK, x, n, ipart);
        SSL3D_EMU_LAUNCH(k_final_min, 1, SSL3D_REDUCE_FINAL, ipart, (int64_t)SSL3D_REDUCE_PARTS, ifin,
                         (int64_t)SSL3D_REDUCE_FINAL);
        int64_t m = n;
        for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) m = ifin[i] < m ? ifin[i] : m;
        const int64_t want = k == 0 ? 3 + SSL3D_REDUCE_PARTS : k == 1 ? 65537 : 3;
        if (k < 3) CHECK_MSG(m == want, "first non-finite: %lld, want %lld", (long long)m, (long long)want);
        else CHECK(m == 3);
    }
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f;
    SSL3D_EMU_LAUNCH(k_partial_first_nonfinite, SSL3D_REDUCE_GRID, SSL3D_BLOCK, x, n, ipart);
    SSL3D_EMU_LAUNCH(k_final_min, 1, SSL3D_REDUCE_FINAL, ipart, (int64_t)SSL3D_REDUCE_PARTS, ifin,
                     (int64_t)SSL3D_REDUCE_FINAL);
    int64_t m = n;
    for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) m = ifin[i] < m ? ifin[i] : m;
    CHECK(m == n);   /* all finite: n, which the plugin turns into -1 */
    free(x); free(w); free(part);
}

/* Per-set pairs the way the plugin computes them: partials, then the fold. */
static void emu_chan_pairs(int32_t mode, const float *x, const float *dy, const float *a0, const float *a1, int64_t N,
                           int64_t C, int64_t S, int64_t G, double *sum) {
    const int64_t chunks = ssl3d_pair_chunks(C, N * S);
    double *part = malloc((size_t)(2 * C * chunks) * sizeof *part);
    SSL3D_EMU_LAUNCH(k_chan_pairs, 3, 17, mode, x, dy, a0, a1, N, C, S, G, chunks, part);
    SSL3D_EMU_LAUNCH(k_pairs_final, 1, 3, part, C, chunks, sum, sum + C);
    free(part);
}

static void emu_row_pairs(int32_t mode, const float *x, const float *dy, const float *gamma, const float *mean,
                          int64_t rows, int64_t M, int64_t S, int64_t C, int64_t G, double *sum) {
    const int64_t chunks = ssl3d_pair_chunks(rows, M);
    double *part = malloc((size_t)(2 * rows * chunks) * sizeof *part);
    SSL3D_EMU_LAUNCH(k_row_pairs, 2, 19, mode, x, dy, gamma, mean, rows, M, S, C, G, chunks, part);
    SSL3D_EMU_LAUNCH(k_pairs_final, 2, 2, part, rows, chunks, sum, sum + rows);
    free(part);
}

TEST(cuda_kernel_batchnorm_matches_cpu) {
    const int64_t N = 3, C = 4, S = 29, n = N * C * S;
    float *x = randv(n, 50), *dy = randv(n, 51), *gamma = randv(C, 52), *beta = randv(C, 53);
    for (int64_t i = 0; i < n; i++) x[i] = 100.0f + 0.5f * x[i];   /* |mean| >> std: the shift matters */
    float mean[4], var[4], meanc[4], varc[4], invstd[4];
    ssl3d_cpu_layer_kernels.batchnorm_stats(&K1, x, N, C, S, meanc, varc);
    double sum[8];
    emu_chan_pairs(0, x, NULL, NULL, NULL, N, C, S, 1, sum);
    SSL3D_EMU_LAUNCH(k_bn_stats_finish, 1, 2, sum, sum + C, x, C, S, (double)(N * S), mean, var);
    CHECK(close_all(mean, meanc, C, 1e-6f) && close_all(var, varc, C, 1e-4f));
    for (int c = 0; c < C; c++) invstd[c] = 1.0f / sqrtf(varc[c] + 1e-5f);
    float *y = malloc(n * 4), *yc = malloc(n * 4);
    ssl3d_cpu_layer_kernels.batchnorm_forward(&K1, x, yc, N, C, S, meanc, invstd, gamma, beta);
    SSL3D_EMU_LAUNCH(k_bn_forward, 5, 11, x, y, n, C, S, meanc, invstd, gamma, beta);
    CHECK(close_all(y, yc, n, 1e-6f));
    for (int training = 0; training < 2; training++) {
        float *dx = randv(n, 54), *dxc = malloc(n * 4), dg[4] = { 1, 1, 1, 1 }, db[4] = { 2, 2, 2, 2 };
        float dgc[4] = { 1, 1, 1, 1 }, dbc[4] = { 2, 2, 2, 2 };
        memcpy(dxc, dx, n * 4);
        ssl3d_cpu_layer_kernels.batchnorm_backward(&K1, x, dy, N, C, S, meanc, invstd, gamma, training, dxc, dgc, dbc);
        emu_chan_pairs(1, x, dy, meanc, NULL, N, C, S, 1, sum);
        SSL3D_EMU_LAUNCH(k_bn_param_grads, 1, 3, sum, sum + C, invstd, C, dg, db);
        SSL3D_EMU_LAUNCH(k_bn_dx, 4, 9, x, dy, dx, n, C, S, meanc, invstd, gamma, sum, sum + C, (double)(N * S), training);
        CHECK_MSG(close_all(dx, dxc, n, 1e-4f), "batch norm dx, training=%d", training);
        CHECK_MSG(close_all(dg, dgc, C, 1e-4f) && close_all(db, dbc, C, 1e-5f), "batch norm dgamma/dbeta, training=%d",
                  training);
        free(dx); free(dxc);
    }
    free(x); free(dy); free(gamma); free(beta); free(y); free(yc);
}

TEST(cuda_kernel_groupnorm_matches_cpu) {
    const int64_t N = 2, C = 6, G = 3, S = 23, n = N * C * S, rows = N * G, M = (C / G) * S;
    float *x = randv(n, 60), *dy = randv(n, 61), *gamma = randv(C, 62), *beta = randv(C, 63);
    for (int64_t i = 0; i < n; i++) x[i] = -50.0f + x[i];
    float *y = malloc(n * 4), *yc = malloc(n * 4), mean[6], invstd[6], meanc[6], invstdc[6];
    ssl3d_cpu_layer_kernels.groupnorm_forward(&K1, x, yc, N, C, S, G, 1e-5f, gamma, beta, meanc, invstdc);
    double sum[12];
    emu_row_pairs(0, x, NULL, NULL, NULL, rows, M, S, C, G, sum);
    SSL3D_EMU_LAUNCH(k_gn_stats_finish, 1, 4, sum, sum + rows, x, rows, M, 1e-5f, mean, invstd);
    SSL3D_EMU_LAUNCH(k_gn_forward, 3, 10, x, y, n, C, S, G, mean, invstd, gamma, beta);
    CHECK(close_all(mean, meanc, rows, 1e-6f) && close_all(invstd, invstdc, rows, 1e-4f));
    CHECK(close_all(y, yc, n, 1e-4f));
    float *dx = randv(n, 64), *dxc = malloc(n * 4), dg[6] = { 0 }, db[6] = { 0 }, dgc[6] = { 0 }, dbc[6] = { 0 };
    memcpy(dxc, dx, n * 4);
    ssl3d_cpu_layer_kernels.groupnorm_backward(&K1, x, dy, N, C, S, G, meanc, invstdc, gamma, dxc, dgc, dbc);
    emu_row_pairs(1, x, dy, gamma, meanc, rows, M, S, C, G, sum);
    SSL3D_EMU_LAUNCH(k_gn_dx, 2, 33, x, dy, dx, n, C, S, G, meanc, invstdc, gamma, sum, sum + rows);
    emu_chan_pairs(2, x, dy, meanc, invstdc, N, C, S, G, sum);
    SSL3D_EMU_LAUNCH(k_gn_param_grads, 1, 5, sum, sum + C, C, dg, db);
    CHECK(close_all(dx, dxc, n, 1e-4f));
    CHECK(close_all(dg, dgc, C, 1e-4f) && close_all(db, dbc, C, 1e-5f));
    free(x); free(dy); free(gamma); free(beta); free(y); free(yc); free(dx); free(dxc);
}

TEST(cuda_kernel_l2norm_matches_cpu) {
    const int64_t M = 5, D = 9, n = M * D;
    float *x = randv(n, 70), *y = malloc(n * 4), *yc = malloc(n * 4), norm[5], normc[5];
    for (int64_t j = 0; j < D; j++) x[2 * D + j] = 0.0f;   /* a zero row: the eps branch */
    ssl3d_cpu_layer_kernels.l2norm_forward(&K1, x, yc, normc, M, D, 1e-6f);
    SSL3D_EMU_LAUNCH(k_l2norm_forward, 2, 2, x, y, norm, M, D, 1e-6f);
    CHECK(memcmp(y, yc, n * 4) == 0 && memcmp(norm, normc, sizeof norm) == 0);
    float *dy = randv(n, 71), *dx = randv(n, 72), *dxc = malloc(n * 4);
    memcpy(dxc, dx, n * 4);
    ssl3d_cpu_layer_kernels.l2norm_backward(&K1, yc, normc, dy, dxc, M, D, 1e-6f);
    SSL3D_EMU_LAUNCH(k_l2norm_backward, 1, 3, yc, normc, dy, dx, M, D, 1e-6f);
    CHECK(close_all(dx, dxc, n, 1e-6f));
    free(x); free(y); free(yc); free(dy); free(dx); free(dxc);
}

/* The plugin's finish of a partial-sum kernel: fold, then add in order. */
static double emu_finish(const double *part, int64_t np) {
    double fin[SSL3D_REDUCE_FINAL], r = 0.0;
    SSL3D_EMU_LAUNCH(k_final_sum, 1, SSL3D_REDUCE_FINAL, part, np, fin, (int64_t)SSL3D_REDUCE_FINAL);
    for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) r += fin[i];
    return r;
}

static int64_t emu_first_bad(int32_t mode, const int32_t *labels, const float *x, int64_t n, int64_t K, float lo,
                             float hi) {
    int64_t *part = malloc(SSL3D_REDUCE_PARTS * sizeof *part), fin[SSL3D_REDUCE_FINAL], m = n;
    SSL3D_EMU_LAUNCH(k_first_bad, SSL3D_REDUCE_GRID, SSL3D_BLOCK, mode, labels, x, n, K, lo, hi, part);
    SSL3D_EMU_LAUNCH(k_final_min, 1, SSL3D_REDUCE_FINAL, part, (int64_t)SSL3D_REDUCE_PARTS, fin,
                     (int64_t)SSL3D_REDUCE_FINAL);
    for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) m = fin[i] < m ? fin[i] : m;
    free(part);
    return m < n ? m : -1;
}

TEST(cuda_kernel_losses_ce_bce_argmax_checks_match_cpu) {
    const int64_t N = 2, K = 4, S = 37, P = N * S;
    float *logits = randv(N * K * S, 80), *t = randv(P, 81);
    int32_t *lab = malloc(P * 4), *am = malloc(P * 4), *amc = malloc(P * 4);
    for (int64_t i = 0; i < P; i++) { lab[i] = (int32_t)((i * 7) % K); t[i] = t[i] > 0 ? 1.0f : 0.0f; }
    logits[5] = NAN;   /* argmax: NaN never wins */
    logits[K * S + 3] = logits[K * S + 3 + S];   /* a tie: lowest k */
    ssl3d_cpu_loss_kernels.argmax(&K1, logits, N, K, S, amc);
    SSL3D_EMU_LAUNCH(k_argmax, 3, 7, logits, N, K, S, am);
    CHECK(memcmp(am, amc, P * 4) == 0);
    logits[5] = 0.3f;
    double *part = malloc(SSL3D_REDUCE_PARTS * sizeof *part);
    SSL3D_EMU_LAUNCH(k_ce_partial, SSL3D_REDUCE_GRID, SSL3D_BLOCK, logits, lab, N, K, S, part);
    double ce = emu_finish(part, SSL3D_REDUCE_PARTS), cec = ssl3d_cpu_loss_kernels.ce_forward(&K1, logits, lab, N, K, S);
    CHECK_MSG(fabs(ce - cec) <= 1e-9 * fabs(cec), "ce %.12g vs %.12g", ce, cec);
    float *d = randv(N * K * S, 82), *dc = malloc(N * K * S * 4);
    memcpy(dc, d, N * K * S * 4);
    ssl3d_cpu_loss_kernels.ce_backward(&K1, logits, lab, N, K, S, 0.5f, dc);
    SSL3D_EMU_LAUNCH(k_ce_backward, 2, 9, logits, lab, N, K, S, 0.5f, d);
    CHECK(close_all(d, dc, N * K * S, 1e-6f));
    SSL3D_EMU_LAUNCH(k_bce_partial, SSL3D_REDUCE_GRID, SSL3D_BLOCK, logits, t, P, part);
    double bce = emu_finish(part, SSL3D_REDUCE_PARTS), bcec = ssl3d_cpu_loss_kernels.bce_forward(&K1, logits, t, P);
    CHECK_MSG(fabs(bce - bcec) <= 1e-9 * fabs(bcec), "bce %.12g vs %.12g", bce, bcec);
    memcpy(dc, d, P * 4);
    ssl3d_cpu_loss_kernels.bce_backward(&K1, logits, t, P, 2.0f, dc);
    SSL3D_EMU_LAUNCH(k_bce_backward, 1, 5, logits, t, P, 2.0f, d);
    CHECK(close_all(d, dc, P, 1e-6f));
    /* checks: first offending index, or -1 */
    CHECK(emu_first_bad(0, lab, NULL, P, K, 0, 0) == ssl3d_cpu_loss_kernels.label_check(&K1, lab, P, K));
    lab[70] = K; lab[40] = -1;
    CHECK(emu_first_bad(0, lab, NULL, P, K, 0, 0) == 40);
    CHECK(ssl3d_cpu_loss_kernels.label_check(&K1, lab, P, K) == 40);
    CHECK(emu_first_bad(1, NULL, t, P, 0, 0.0f, 1.0f) == -1);
    t[33] = NAN; t[50] = 2.0f;
    CHECK(emu_first_bad(1, NULL, t, P, 0, 0.0f, 1.0f) == 33 && ssl3d_cpu_loss_kernels.range_check(&K1, t, P, 0.0f, 1.0f) == 33);
    free(logits); free(t); free(lab); free(am); free(amc); free(part); free(d); free(dc);
}

TEST(cuda_kernel_losses_similarity_triplet_dice_match_cpu) {
    /* similarity CE: the row kernels around the GEMM (the GEMM itself is cuBLAS's) */
    const int64_t N = 6, M = 6, D = 5;
    float *q = randv(N * D, 90), *probs = malloc(N * M * 4), *probsc = malloc(N * M * 4);
    int32_t pos[6] = { 3, 4, 5, 0, 1, 2 };
    float *dummy_keys = q;   /* NT-Xent: keys are the queries */
    ssl3d_cpu_loss_kernels.simce_forward(&K1, q, N, dummy_keys, M, D, 2.0f, pos, 1, probsc);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < M; j++) {
            double s = 0.0;
            for (int64_t e = 0; e < D; e++) s += (double)q[i * D + e] * q[j * D + e];
            probs[i * M + j] = 2.0f * (float)s;
        }
    double rows[6];
    SSL3D_EMU_LAUNCH(k_simce_rows, 2, 2, probs, N, M, pos, 1, rows);
    CHECK(close_all(probs, probsc, N * M, 1e-5f));
    double sum = 0.0;
    for (int i = 0; i < 6; i++) sum += rows[i];
    memcpy(probs, probsc, N * M * 4);
    const double want = ssl3d_cpu_loss_kernels.simce_forward(&K1, q, N, q, M, D, 2.0f, pos, 1, probsc);
    CHECK_MSG(fabs(sum - want) <= 1e-5 * fabs(want), "simce %.9g vs %.9g", sum, want);
    SSL3D_EMU_LAUNCH(k_simce_grad, 1, 4, probs, pos, N, M, 0.25f);
    for (int64_t i = 0; i < N; i++) {   /* G = scale * (probs - onehot) */
        probsc[i * M + pos[i]] -= 1.0f;
        for (int64_t j = 0; j < M; j++) probsc[i * M + j] *= 0.25f;
    }
    CHECK(close_all(probs, probsc, N * M, 1e-6f));
    /* triplet, explicit rows, with da and dp the same buffer */
    float *a = randv(N * D, 91), *p = randv(N * D, 92), *n = randv(N * D, 93);
    SSL3D_EMU_LAUNCH(k_triplet_rows, 1, 3, a, p, n, N, D, 1.0f, rows);
    sum = 0.0;
    for (int i = 0; i < 6; i++) sum += rows[i];
    CHECK(fabs(sum - ssl3d_cpu_loss_kernels.triplet_forward(&K1, a, p, n, N, D, 1.0f)) < 1e-9);
    float *g = calloc(N * D, 4), *gc = calloc(N * D, 4), *gn = calloc(N * D, 4), *gnc = calloc(N * D, 4);
    ssl3d_cpu_loss_kernels.triplet_backward(&K1, a, p, n, N, D, 1.0f, 0.5f, gc, gc, gnc);
    SSL3D_EMU_LAUNCH(k_triplet_backward, 2, 2, a, p, n, N, D, 1.0f, 0.5f, g, g, gn);
    CHECK(memcmp(g, gc, N * D * 4) == 0 && memcmp(gn, gnc, N * D * 4) == 0);
    /* batch hard */
    const int64_t HN = 8;
    float *z = randv(HN * D, 94), *dz = randv(HN * D, 95), *dzc = malloc(HN * D * 4);
    memcpy(dzc, dz, HN * D * 4);
    int32_t neg[8], negc[8], active[8];
    double hrows[8];
    const double hc = ssl3d_cpu_loss_kernels.triplet_hard_forward(&K1, z, HN, D, 2.0f, negc);
    SSL3D_EMU_LAUNCH(k_hard_rows, 3, 3, z, HN, D, 2.0f, neg, hrows);
    sum = 0.0;
    for (int i = 0; i < HN; i++) sum += hrows[i];
    CHECK(memcmp(neg, negc, sizeof neg) == 0 && fabs(sum - hc) < 1e-9);
    ssl3d_cpu_loss_kernels.triplet_hard_backward(&K1, z, HN, D, 2.0f, negc, 0.3f, dzc);
    SSL3D_EMU_LAUNCH(k_hard_active, 1, 8, z, HN, D, 2.0f, neg, active);
    SSL3D_EMU_LAUNCH(k_hard_backward, 3, 2, z, HN, D, neg, active, 0.3f, dz);
    CHECK(memcmp(dz, dzc, HN * D * 4) == 0);   /* same additions in the same order */
    /* soft Dice */
    const int64_t DN = 2, DK = 3, DS = 150;
    float *lg = randv(DN * DK * DS, 96), *dl = randv(DN * DK * DS, 97), *dlc = malloc(DN * DK * DS * 4);
    int32_t *dlab = malloc(DN * DS * 4);
    for (int64_t i = 0; i < DN * DS; i++) dlab[i] = (int32_t)((i / 7) % DK);
    double *work = malloc((size_t)(DN * SSL3D_LOSS_CHUNKS * DK * 3) * sizeof *work), st[18], stc[18];
    ssl3d_cpu_loss_kernels.dice_stats(&K1, lg, dlab, DN, DK, DS, work, stc);
    SSL3D_EMU_LAUNCH(k_dice_work, 5, 7, lg, dlab, DN, DK, DS, work);
    SSL3D_EMU_LAUNCH(k_dice_fold, 2, 5, work, DN, DK, st);
    CHECK(memcmp(st, stc, sizeof st) == 0);
    memcpy(dlc, dl, DN * DK * DS * 4);
    ssl3d_cpu_loss_kernels.dice_backward(&K1, lg, dlab, DN, DK, DS, stc, 1e-5f, -0.1f, dlc);
    SSL3D_EMU_LAUNCH(k_dice_backward, 4, 16, lg, dlab, DN, DK, DS, stc, 1e-5f, -0.1f, dl);
    CHECK(close_all(dl, dlc, DN * DK * DS, 1e-6f));
    free(q); free(probs); free(probsc); free(a); free(p); free(n); free(g); free(gc); free(gn); free(gnc);
    free(z); free(dz); free(dzc); free(lg); free(dl); free(dlc); free(dlab); free(work);
}

/* Inverse of idx[0..n) over [0, M) in CSR form, as src/ops/rows.c builds it. */
static void inverse_map(const int32_t *idx, int64_t n, int64_t M, int32_t *off, int32_t *src) {
    memset(off, 0, (size_t)(M + 1) * sizeof *off);
    for (int64_t e = 0; e < n; e++) off[idx[e] + 1]++;
    for (int64_t m = 0; m < M; m++) off[m + 1] += off[m];
    int32_t *fill = malloc((size_t)M * sizeof *fill);
    for (int64_t m = 0; m < M; m++) fill[m] = off[m];
    for (int64_t e = 0; e < n; e++) src[fill[idx[e]]++] = (int32_t)e;
    free(fill);
}

/* Row gathers and candidate scores: the same float operations in the same order as the
 * CPU kernels, so the results are equal bit for bit under every launch shape. */
TEST(cuda_kernel_rows_gather_and_scores_match_cpu) {
    const int64_t M = 9, D = 7, R = 23, C = 4, P = 12;
    int32_t idx[23], q[6], cand[6 * 4], off[13], src[24];
    ssl3d_rng r;
    ssl3d_rng_init(&r, 77, 3);
    for (int64_t i = 0; i < R; i++) idx[i] = (int32_t)ssl3d_rng_below(&r, (uint32_t)M);   /* repeats */
    for (int64_t i = 0; i < 6; i++) q[i] = (int32_t)(2 * i);                               /* distinct */
    for (int64_t i = 0; i < 6 * C; i++) cand[i] = (int32_t)ssl3d_rng_below(&r, (uint32_t)M);
    float *x = randv(M * D, 20), *dy = randv(R * D, 21), *p = randv(P * D, 22), *ds = randv(6 * C, 23);
    float *want = malloc((size_t)(R * D) * 4), *got = malloc((size_t)(R * D) * 4);
    float *g0 = randv(P * D, 24), *gw = malloc((size_t)(P * D) * 4), *gg = malloc((size_t)(P * D) * 4);
    unsigned g[N_SHAPES], b[N_SHAPES];
    for (int sh = 0; sh < N_SHAPES; sh++) {
        shapes(R * D, g, b);
        ssl3d_cpu_rows_kernels.gather_forward(&K1, x, idx, R, D, want);
        memset(got, 0, (size_t)(R * D) * 4);
        SSL3D_EMU_LAUNCH(k_gather_rows, g[sh], b[sh], x, idx, R, D, got);
        CHECK_MSG(!memcmp(got, want, (size_t)(R * D) * 4), "gather forward, shape %d", sh);

        inverse_map(idx, R, M, off, src);
        memcpy(gw, g0, (size_t)(M * D) * 4); memcpy(gg, g0, (size_t)(M * D) * 4);
        ssl3d_cpu_rows_kernels.gather_backward(&K1, dy, off, src, M, D, gw);
        SSL3D_EMU_LAUNCH(k_gather_rows_backward, g[sh], b[sh], dy, off, src, M, D, gg);
        CHECK_MSG(!memcmp(gg, gw, (size_t)(M * D) * 4), "gather backward, shape %d", sh);

        ssl3d_cpu_rows_kernels.scores_forward(&K1, p, x, q, cand, 6, C, D, 1.7f, want);
        SSL3D_EMU_LAUNCH(k_row_scores, g[sh], b[sh], p, x, q, cand, (int64_t)6, C, D, 1.7f, got);
        CHECK_MSG(!memcmp(got, want, (size_t)(6 * C) * 4), "scores forward, shape %d", sh);

        memcpy(gw, g0, (size_t)(P * D) * 4); memcpy(gg, g0, (size_t)(P * D) * 4);
        ssl3d_cpu_rows_kernels.scores_backward_p(&K1, x, q, cand, ds, 6, C, D, 1.7f, gw);
        SSL3D_EMU_LAUNCH(k_row_scores_backward_p, g[sh], b[sh], x, q, cand, ds, (int64_t)6, C, D, 1.7f, gg);
        CHECK_MSG(!memcmp(gg, gw, (size_t)(P * D) * 4), "scores d pred, shape %d", sh);

        inverse_map(cand, 6 * C, M, off, src);
        memcpy(gw, g0, (size_t)(M * D) * 4); memcpy(gg, g0, (size_t)(M * D) * 4);
        ssl3d_cpu_rows_kernels.scores_backward_z(&K1, p, q, ds, off, src, M, C, D, 1.7f, gw);
        SSL3D_EMU_LAUNCH(k_row_scores_backward_z, g[sh], b[sh], p, q, ds, off, src, M, C, D, 1.7f, gg);
        CHECK_MSG(!memcmp(gg, gw, (size_t)(M * D) * 4), "scores d z, shape %d", sh);
    }
    free(x); free(dy); free(p); free(ds); free(want); free(got); free(g0); free(gw); free(gg);
}
