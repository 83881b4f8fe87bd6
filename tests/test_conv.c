/* Convolution and transposed convolution: hand-computed values, agreement with a naive
 * double-precision reference (forward and all gradients, including shapes that cut
 * the GEMM tiles mid-row and mid-plane and the strided col2im path), finite-difference
 * gradient checks in 2D and 3D, determinism, and API misuse. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

/* ------------------------------------------------------------ naive reference */

typedef struct conv_case {
    int dims;                 /* 2 or 3 */
    int64_t n, cin, cout;
    int64_t sp[3];            /* D,H,W (D ignored in 2D) */
    int64_t k[3];             /* kd,kh,kw (kd ignored in 2D) */
    int32_t stride, pad;
    int bias;
} conv_case;

typedef struct geom { int64_t in[3], out[3], k[3], s[3], p[3]; } geom;

static geom geom_of(const conv_case *c) {
    geom g;
    for (int i = 0; i < 3; i++) {
        int present = c->dims == 3 || i > 0;
        g.in[i] = present ? c->sp[i] : 1;
        g.k[i] = present ? c->k[i] : 1;
        g.s[i] = present ? c->stride : 1;
        g.p[i] = present ? c->pad : 0;
        g.out[i] = (g.in[i] + 2 * g.p[i] - g.k[i]) / g.s[i] + 1;
    }
    return g;
}

static int64_t v3(const int64_t a[3]) { return a[0] * a[1] * a[2]; }

/* y, and (given dy) dx, dw, db in double, straight from the definition. */
static void naive_conv(const conv_case *c, const float *x, const float *w, const float *b, const float *dy,
                       double *y, double *dx, double *dw, double *db) {
    geom g = geom_of(c);
    const int64_t iv = v3(g.in), ov = v3(g.out), kv = v3(g.k);
    memset(dx, 0, sizeof(double) * (size_t)(c->n * c->cin * iv));
    memset(dw, 0, sizeof(double) * (size_t)(c->cout * c->cin * kv));
    memset(db, 0, sizeof(double) * (size_t)c->cout);
    for (int64_t n = 0; n < c->n; n++)
    for (int64_t co = 0; co < c->cout; co++)
    for (int64_t od = 0; od < g.out[0]; od++)
    for (int64_t oh = 0; oh < g.out[1]; oh++)
    for (int64_t ow = 0; ow < g.out[2]; ow++) {
        const int64_t oi = (n * c->cout + co) * ov + (od * g.out[1] + oh) * g.out[2] + ow;
        double acc = b ? b[co] : 0.0;
        const double gy = dy[oi];
        db[co] += gy;
        for (int64_t ci = 0; ci < c->cin; ci++)
        for (int64_t a = 0; a < g.k[0]; a++)
        for (int64_t bb = 0; bb < g.k[1]; bb++)
        for (int64_t e = 0; e < g.k[2]; e++) {
            int64_t id = od * g.s[0] - g.p[0] + a, ih = oh * g.s[1] - g.p[1] + bb, iw = ow * g.s[2] - g.p[2] + e;
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 || iw >= g.in[2]) continue;
            int64_t xi = (n * c->cin + ci) * iv + (id * g.in[1] + ih) * g.in[2] + iw;
            int64_t wi = (co * c->cin + ci) * kv + (a * g.k[1] + bb) * g.k[2] + e;
            acc += (double)x[xi] * w[wi];
            dw[wi] += gy * x[xi];
            dx[xi] += gy * w[wi];
        }
        y[oi] = acc;
    }
}

static int64_t shape_x(const conv_case *c, int64_t *s) {
    s[0] = c->n; s[1] = c->cin;
    for (int i = 0; i < c->dims; i++) s[2 + i] = c->sp[3 - c->dims + i];
    return c->dims + 2;
}
static int64_t shape_w(const conv_case *c, int64_t *s) {
    s[0] = c->cout; s[1] = c->cin;
    for (int i = 0; i < c->dims; i++) s[2 + i] = c->k[3 - c->dims + i];
    return c->dims + 2;
}

/* Count of elements where got differs from want by more than atol + rtol*|want|. */
static int64_t count_bad(const char *what, const float *got, const double *want, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = 2e-4 + 2e-4 * fabs(want[i]);
        if (!(fabs(got[i] - want[i]) <= tol)) {
            if (bad < 3) fprintf(stderr, "    %s[%lld] = %.7g, reference %.7g\n", what, (long long)i, got[i], want[i]);
            bad++;
        }
    }
    return bad;
}

/* Run one case through ssl3d_conv + backward with threads T and compare with naive. */
static void check_against_naive(const conv_case *c, int threads) {
    ssl3d_ctx *ctx = th_ctx(threads, 11);
    REQUIRE(ctx);
    int64_t xs[5], ws[5], bs[1] = { c->cout };
    int32_t nd = (int32_t)shape_x(c, xs);
    shape_w(c, ws);
    ssl3d_tensor *x = th_randn(ctx, nd, xs, 1), *w = th_randn(ctx, nd, ws, 1);
    ssl3d_tensor *b = c->bias ? th_randn(ctx, 1, bs, 1) : NULL;
    REQUIRE(x && w && (b || !c->bias));
    ssl3d_tensor *y = NULL, *r = NULL, *L = NULL;
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w, b, c->stride, c->pad, &y));
    int64_t ny = ssl3d_tensor_numel(y), nx = ssl3d_tensor_numel(x), nw = ssl3d_tensor_numel(w);
    geom g = geom_of(c);
    CHECK(ny == c->n * c->cout * v3(g.out));
    for (int i = 0; i < c->dims; i++) CHECK(ssl3d_tensor_dim(y, 2 + i) == g.out[3 - c->dims + i]);
    int64_t ry = ny;
    r = th_randn(ctx, 1, &ry, 0);
    REQUIRE(r);
    REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, y, r, &L));
    REQUIRE_OK(ctx, ssl3d_backward(ctx, L));

    double *yr = malloc(sizeof(double) * (size_t)ny), *dxr = malloc(sizeof(double) * (size_t)nx);
    double *dwr = malloc(sizeof(double) * (size_t)nw), *dbr = malloc(sizeof(double) * (size_t)c->cout);
    float *gx = malloc(sizeof(float) * (size_t)nx), *gw = malloc(sizeof(float) * (size_t)nw);
    float gb[256];
    naive_conv(c, ssl3d_tensor_host_data(x), ssl3d_tensor_host_data(w), b ? ssl3d_tensor_host_data(b) : NULL,
               ssl3d_tensor_host_data(r), yr, dxr, dwr, dbr);
    CHECK_OK(ctx, ssl3d_tensor_read_grad(ctx, x, gx, nx));
    CHECK_OK(ctx, ssl3d_tensor_read_grad(ctx, w, gw, nw));
    CHECK(count_bad("y", ssl3d_tensor_host_data(y), yr, ny) == 0);
    CHECK(count_bad("dx", gx, dxr, nx) == 0);
    CHECK(count_bad("dw", gw, dwr, nw) == 0);
    if (b) {
        CHECK_OK(ctx, ssl3d_tensor_read_grad(ctx, b, gb, c->cout));
        CHECK(count_bad("db", gb, dbr, c->cout) == 0);
    }
    free(yr); free(dxr); free(dwr); free(dbr); free(gx); free(gw);
    ssl3d_tensor_release(y); ssl3d_tensor_release(r); ssl3d_tensor_release(L);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b);
    ssl3d_ctx_release(ctx);
}

static const conv_case naive_cases[] = {
    /* dims n cin cout  sp(D,H,W)      k          stride pad bias */
    { 3, 2, 64, 64, { 7, 9, 11 },  { 3, 3, 3 }, 1, 1, 1 },  /* tiles of 303 cut rows and planes */
    { 3, 2, 3, 4,   { 5, 6, 7 },   { 3, 3, 3 }, 2, 1, 1 },  /* strided: col2im, 3 units         */
    { 3, 1, 48, 4,  { 3, 48, 48 }, { 3, 3, 3 }, 2, 1, 0 },  /* col2im, 2 tiles inside one unit  */
    { 3, 2, 2, 3,   { 3, 9, 9 },   { 3, 3, 3 }, 2, 0, 1 },  /* one output plane: units on H     */
    { 3, 2, 8, 6,   { 5, 6, 7 },   { 1, 1, 1 }, 1, 0, 1 },  /* pointwise: no im2col              */
    { 3, 2, 4, 5,   { 5, 6, 7 },   { 1, 3, 3 }, 1, 0, 1 },  /* non-cubic kernel                  */
    { 3, 2, 1, 16,  { 6, 8, 6 },   { 3, 3, 3 }, 1, 1, 1 },  /* Cin = 1 (first encoder layer)     */
    { 2, 2, 3, 4,   { 1, 5, 7 },   { 3, 3, 3 }, 1, 1, 1 },
    { 2, 2, 3, 4,   { 1, 9, 8 },   { 3, 3, 3 }, 2, 1, 1 },
    { 2, 2, 5, 3,   { 1, 6, 7 },   { 1, 1, 1 }, 2, 0, 0 },  /* 1x1 stride 2                      */
    { 2, 1, 2, 3,   { 1, 9, 11 },  { 5, 5, 5 }, 1, 2, 1 },  /* k = 5                             */
    { 2, 2, 128, 7, { 1, 30, 31 }, { 3, 3, 3 }, 1, 1, 1 },  /* 2D tiles cut rows                 */
    /* direct AVX2 kernels (Cin >= 4, Cout >= 8): channel groups/blocks with remainders,
     * output rows not a multiple of 6, planes large enough for the direct weight gradient */
    { 3, 2, 10, 20, { 4, 17, 19 }, { 3, 3, 3 }, 1, 1, 1 },
    { 3, 2, 8, 9,   { 5, 9, 11 },  { 3, 3, 3 }, 2, 1, 1 },
    { 2, 2, 6, 16,  { 1, 23, 29 }, { 3, 3, 3 }, 1, 1, 0 },
    { 2, 1, 7, 8,   { 1, 40, 37 }, { 3, 3, 3 }, 2, 1, 1 },
    { 2, 2, 5, 8,   { 1, 17, 18 }, { 5, 5, 5 }, 1, 2, 1 },
    { 3, 2, 16, 32, { 3, 5, 4 },   { 3, 3, 3 }, 1, 0, 1 },  /* no padding, Wo = 2 */
    { 3, 2, 12, 24, { 5, 6, 7 },   { 1, 1, 1 }, 1, 0, 1 },  /* pointwise with many channels */
};

TEST(conv_matches_naive_reference_1_thread) {
    for (size_t i = 0; i < sizeof naive_cases / sizeof naive_cases[0]; i++) check_against_naive(&naive_cases[i], 1);
}

TEST(conv_matches_naive_reference_2_threads) {
    for (size_t i = 0; i < sizeof naive_cases / sizeof naive_cases[0]; i++) check_against_naive(&naive_cases[i], 2);
}

/* ------------------------------------------------------------ every ISA path */

/* Shapes where the kernels switch, for the block widths of every ISA (8 generic, 16 AVX2,
 * 32 AVX-512 output channels per direct block; 4/8/16 positions per step of the
 * first-layer weight gradient): Cin 3|4 (im2col vs direct), Cout 7|8 (direct from 8),
 * Cout and Cin at block edges, W tails of every vector width, stride 2, pointwise. */
static const conv_case isa_cases[] = {
    { 3, 2, 4, 8,   { 3, 5, 6 },   { 3, 3, 3 }, 1, 1, 1 },  /* smallest direct layer */
    { 3, 2, 3, 7,   { 3, 5, 6 },   { 3, 3, 3 }, 1, 1, 1 },  /* just below: im2col + small wgrad */
    { 3, 2, 9, 31,  { 3, 4, 7 },   { 3, 3, 3 }, 1, 1, 1 },
    { 3, 2, 17, 33, { 3, 4, 5 },   { 3, 3, 3 }, 1, 1, 1 },  /* one channel past a 32 block; dx has Cout 17 */
    { 3, 1, 33, 32, { 2, 3, 13 },  { 3, 3, 3 }, 1, 1, 0 },  /* dx: 33 output channels */
    { 3, 2, 1, 16,  { 3, 4, 37 },  { 3, 3, 3 }, 1, 1, 1 },  /* W tail 37 = 2*16 + 5 = 4*8 + 5 */
    { 2, 2, 2, 9,   { 1, 5, 19 },  { 3, 3, 3 }, 1, 1, 1 },  /* 2D first layer, tail 3 */
    { 3, 2, 16, 16, { 4, 6, 12 },  { 3, 3, 3 }, 2, 1, 1 },  /* strided direct forward */
    { 3, 2, 40, 40, { 2, 3, 4 },   { 1, 1, 1 }, 1, 0, 1 },  /* pointwise: GEMM on x */
    /* batches of >= 2x threads of small samples: whole samples per thread (by_sample) */
    { 3, 5, 6, 10,  { 3, 4, 7 },   { 3, 3, 3 }, 1, 1, 1 },
    { 2, 6, 17, 33, { 1, 9, 10 },  { 3, 3, 3 }, 1, 1, 1 },
    { 3, 4, 8, 16,  { 4, 6, 5 },   { 3, 3, 3 }, 2, 1, 0 },
    /* rows cut into tiles of unequal width (25 = 8+8+9 at 12 per tile, 5 tiles of 5 at 6),
     * channel groups of unequal width (13 = 6+7 at 12, 4+4+5 at 6), padding taps skipped */
    { 3, 2, 13, 40, { 3, 5, 25 },  { 3, 3, 3 }, 1, 1, 1 },
    /* pad 2 > k/2: whole taps in the padding, and taps that are padding for both ends of a tile */
    { 3, 2, 8, 9,   { 2, 3, 4 },   { 3, 3, 3 }, 1, 2, 1 },
    { 2, 2, 12, 33, { 1, 6, 3 },   { 3, 3, 3 }, 2, 2, 1 },
    /* weight gradient split between threads (small samples, batches below 4 per thread)
     * over groups of samples: ~0.45 MB of padded input and dY per sample, 1 MB per group,
     * so 5 samples are 3 groups */
    { 3, 5, 24, 20, { 5, 17, 19 }, { 3, 3, 3 }, 1, 1, 1 },
    /* large samples, fewer than threads: one range of output rows per thread */
    { 2, 1, 4, 8,   { 1, 300, 300 }, { 3, 3, 3 }, 1, 1, 1 },
    /* first layer (Cin < 4): forward tiles of 3, 2 and 1 vectors plus a tail (50 = 3*16 + 2
     * = 6*8 + 2 = 12*4 + 2), weight-gradient row chunks (10 rows at 8 channels x 50 columns,
     * so 23 rows are 3 chunks), Cout 11 a multiple of no channel block (8, 4, 3) */
    { 3, 2, 1, 11,  { 4, 23, 50 }, { 3, 3, 3 }, 1, 1, 1 },
    { 3, 1, 1, 5,   { 3, 4, 5 },   { 3, 3, 3 }, 1, 1, 0 },  /* rows shorter than a vector: tails only, no bias */
    { 2, 2, 1, 16,  { 1, 30, 40 }, { 3, 3, 3 }, 1, 1, 0 },  /* 2D, no bias */
    { 3, 2, 3, 16,  { 2, 3, 48 },  { 3, 3, 3 }, 1, 1, 1 },  /* Cin 3, whole vectors only */
    { 3, 2, 6, 2,   { 3, 5, 33 },  { 3, 3, 3 }, 1, 1, 1 },  /* dx = the first-layer forward (Cin' = 2), accumulating */
};

static void check_isa(const char *isa) {
    if (setenv("SSL3D_CPU_ISA", isa, 1) != 0) { CHECK(0); return; }
    char msg[256];
    ssl3d_status st = ssl3d_backend_probe(SSL3D_BACKEND_CPU, msg, sizeof msg);
    if (st != SSL3D_OK) {
        char why[300];
        snprintf(why, sizeof why, "%s kernels not available on this CPU: %s", isa, msg);
        unsetenv("SSL3D_CPU_ISA");
        SKIP(why);
    }
    CHECK_MSG(strncmp(msg, isa, strlen(isa)) == 0, "forced %s, backend reports \"%s\"", isa, msg);
    for (size_t i = 0; i < sizeof isa_cases / sizeof isa_cases[0]; i++) check_against_naive(&isa_cases[i], 2);
    for (size_t i = 0; i < sizeof naive_cases / sizeof naive_cases[0]; i++)
        if (naive_cases[i].cin < 64) check_against_naive(&naive_cases[i], 2);
    unsetenv("SSL3D_CPU_ISA");
}

TEST(conv_isa_generic_matches_naive_reference) { check_isa("generic"); }
TEST(conv_isa_avx2_matches_naive_reference) { check_isa("avx2"); }
TEST(conv_isa_avx512_matches_naive_reference) { check_isa("avx512"); }

TEST(conv_isa_unknown_or_missing_is_an_error) {
    setenv("SSL3D_CPU_ISA", "sse9", 1);
    char msg[256];
    CHECK(ssl3d_backend_probe(SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(strstr(msg, "SSL3D_CPU_ISA=sse9") != NULL, "message: %s", msg);
    ssl3d_ctx *ctx = NULL;
    CHECK(ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) == SSL3D_ERR_BACKEND_UNAVAILABLE && ctx == NULL);
    unsetenv("SSL3D_CPU_ISA");
    CHECK(ssl3d_backend_probe(SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_OK);
}

/* ------------------------------------------------------------ hand-computed values */

TEST(conv_forward_hand_computed_2d) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const float xv[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    const float ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    const float edge[9] = { 1, 0, -1, 2, 0, -2, 1, 0, -1 };   /* Sobel x */
    const float bias[1] = { 0.5f };
    int64_t xs[4] = { 1, 1, 3, 3 }, bs[1] = { 1 };
    ssl3d_tensor *x = th_tensor(ctx, 4, xs, xv), *w1 = th_tensor(ctx, 4, xs, ones), *w2 = th_tensor(ctx, 4, xs, edge);
    ssl3d_tensor *b = th_tensor(ctx, 1, bs, bias), *y = NULL;
    REQUIRE(x && w1 && w2 && b);
    /* ones kernel, pad 1, stride 2: 2x2 window sums of the corners, plus bias. */
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w1, b, 2, 1, &y));
    CHECK(ssl3d_tensor_dim(y, 2) == 2 && ssl3d_tensor_dim(y, 3) == 2);
    const float *yv = ssl3d_tensor_host_data(y);
    CHECK_NEAR(yv[0], 12.5, 1e-6); CHECK_NEAR(yv[1], 16.5, 1e-6);
    CHECK_NEAR(yv[2], 24.5, 1e-6); CHECK_NEAR(yv[3], 28.5, 1e-6);
    ssl3d_tensor_release(y);
    /* Sobel, no pad: one output = (1+8+7) - (3+12+9) = -8. */
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w2, NULL, 1, 0, &y));
    CHECK(ssl3d_tensor_numel(y) == 1);
    CHECK_NEAR(((float *)ssl3d_tensor_host_data(y))[0], -8.0, 1e-6);
    ssl3d_tensor_release(y);
    /* ones kernel, pad 1, stride 1: centre = 45, corner = 12. */
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w1, NULL, 1, 1, &y));
    yv = ssl3d_tensor_host_data(y);
    CHECK_NEAR(yv[4], 45.0, 1e-6); CHECK_NEAR(yv[0], 12.0, 1e-6); CHECK_NEAR(yv[8], 28.0, 1e-6);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w1); ssl3d_tensor_release(w2); ssl3d_tensor_release(b);
    ssl3d_ctx_release(ctx);
}

TEST(conv_forward_hand_computed_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    /* x (1,1,2,2,2) = 1..8, w (2,1,1,1,1) = {2, -1}: pointwise scaling per channel. */
    const float xv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, wv[2] = { 2, -1 }, bv[2] = { 0, 10 };
    int64_t xs[5] = { 1, 1, 2, 2, 2 }, ws[5] = { 2, 1, 1, 1, 1 }, bs[1] = { 2 };
    ssl3d_tensor *x = th_tensor(ctx, 5, xs, xv), *w = th_tensor(ctx, 5, ws, wv), *b = th_tensor(ctx, 1, bs, bv);
    ssl3d_tensor *y = NULL;
    REQUIRE(x && w && b);
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w, b, 1, 0, &y));
    const float *yv = ssl3d_tensor_host_data(y);
    for (int i = 0; i < 8; i++) {
        CHECK_NEAR(yv[i], 2.0 * xv[i], 1e-6);
        CHECK_NEAR(yv[8 + i], 10.0 - xv[i], 1e-6);
    }
    ssl3d_tensor_release(y);
    /* 2x2x2 ones kernel (w (1,1,2,2,2)), no pad: the sum 36. */
    const float ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    ssl3d_tensor *w8 = th_tensor(ctx, 5, xs, ones);
    REQUIRE(w8);
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w8, NULL, 1, 0, &y));
    CHECK(ssl3d_tensor_numel(y) == 1);
    CHECK_NEAR(((float *)ssl3d_tensor_host_data(y))[0], 36.0, 1e-6);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b); ssl3d_tensor_release(w8);
    ssl3d_ctx_release(ctx);
}

/* ------------------------------------------------------------ gradient checks */

typedef struct { ssl3d_tensor *x, *w, *b; int32_t stride, pad; } conv_gc;
static ssl3d_status conv_gc_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    conv_gc *c = u;
    return ssl3d_conv(ctx, c->x, c->w, c->b, c->stride, c->pad, out);
}

TEST(conv_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    const int64_t ks[2] = { 1, 3 };
    const int32_t strides[2] = { 1, 2 }, pads[2] = { 0, 1 };
    for (int dims = 2; dims <= 3; dims++)
    for (int ki = 0; ki < 2; ki++)
    for (int si = 0; si < 2; si++)
    for (int pi = 0; pi < 2; pi++) {
        if (pads[pi] >= ks[ki]) continue;             /* pad < k */
        int64_t xs[5] = { 2, 2, 5, 4, 7 }, ws[5] = { 3, 2, ks[ki], ks[ki], ks[ki] }, bs[1] = { 3 };
        if (dims == 2) { xs[2] = 5; xs[3] = 7; }
        conv_gc c = { th_randn(ctx, dims + 2, xs, 1), th_randn(ctx, dims + 2, ws, 1), th_randn(ctx, 1, bs, 1),
                      strides[si], pads[pi] };
        REQUIRE(c.x && c.w && c.b);
        char label[64];
        snprintf(label, sizeof label, "conv %dD k%lld s%d p%d", dims, (long long)ks[ki], strides[si], pads[pi]);
        gc_opts o = { 1e-2, 3e-3, 2e-2, 48 };
        CHECK_MSG(gradcheck(ctx, conv_gc_fwd, &c, (ssl3d_tensor *[]){ c.x, c.w, c.b }, 3, &o, label) == 0,
                  "%s", label);
        ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.w); ssl3d_tensor_release(c.b);
    }
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_ctx_release(ctx);
}

/* An input used by two convolutions receives the sum of both gradients. */
typedef struct { ssl3d_tensor *x, *w1, *w2; } conv_twice;
static ssl3d_status conv_twice_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    conv_twice *c = u;
    ssl3d_tensor *a = NULL, *b = NULL;
    ssl3d_status st = ssl3d_conv(ctx, c->x, c->w1, NULL, 1, 1, &a);
    if (!st) st = ssl3d_conv(ctx, a, c->w2, NULL, 2, 1, &b);
    ssl3d_tensor *s = NULL;
    if (!st) st = ssl3d_conv(ctx, c->x, c->w2, NULL, 2, 1, &s);
    ssl3d_tensor *o = NULL;
    if (!st) st = ssl3d_axpby(ctx, 1.0f, b, 0.5f, s, &o);
    ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(s);
    if (!st) *out = o;
    return st;
}

TEST(conv_gradients_accumulate_over_uses) {
    ssl3d_ctx *ctx = th_ctx(1, 9);
    REQUIRE(ctx);
    int64_t xs[5] = { 2, 2, 5, 6, 5 }, ws[5] = { 2, 2, 3, 3, 3 };
    conv_twice c = { th_randn(ctx, 5, xs, 1), th_randn(ctx, 5, ws, 1), th_randn(ctx, 5, ws, 1) };
    REQUIRE(c.x && c.w1 && c.w2);
    CHECK(gradcheck(ctx, conv_twice_fwd, &c, (ssl3d_tensor *[]){ c.x, c.w1, c.w2 }, 3, NULL, "conv twice") == 0);
    ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.w1); ssl3d_tensor_release(c.w2);
    ssl3d_ctx_release(ctx);
}

/* ------------------------------------------------------------ determinism */

static int run_conv_bits(int threads, float *y_out, float *gx, float *gw, int64_t ny, int64_t nx, int64_t nw) {
    ssl3d_ctx *ctx = th_ctx(threads, 21);
    if (!ctx) return -1;
    int64_t xs[5] = { 2, 24, 5, 17, 19 }, ws[5] = { 20, 24, 3, 3, 3 }, w2s[5] = { 20, 20, 3, 3, 3 }, bs[1] = { 20 };
    ssl3d_tensor *x = th_randn(ctx, 5, xs, 1), *w = th_randn(ctx, 5, ws, 1), *b = th_randn(ctx, 1, bs, 1);
    ssl3d_tensor *w2 = th_randn(ctx, 5, w2s, 1);
    ssl3d_tensor *y = NULL, *y2 = NULL, *r = NULL, *L = NULL, *s = NULL;
    int rc = -1;
    int64_t nyy = ny;
    /* y feeds a strided conv too, so both input-gradient paths (stride 1, col2im) run. */
    if (x && w && b && w2 && !ssl3d_conv(ctx, x, w, b, 1, 1, &y) && !ssl3d_conv(ctx, y, w2, b, 2, 1, &y2) &&
        ssl3d_tensor_numel(y) == ny && (r = th_randn(ctx, 1, &nyy, 0)) != NULL &&
        !ssl3d_weighted_sum(ctx, y, r, &L) && !ssl3d_mean(ctx, y2, &s)) {
        ssl3d_tensor *tot = NULL;
        if (!ssl3d_axpby(ctx, 1.0f, L, 1.0f, s, &tot) && !ssl3d_backward(ctx, tot)) {
            memcpy(y_out, ssl3d_tensor_host_data(y), (size_t)ny * 4);
            rc = ssl3d_tensor_read_grad(ctx, x, gx, nx) || ssl3d_tensor_read_grad(ctx, w, gw, nw);
        }
        ssl3d_tensor_release(tot);
    }
    ssl3d_tensor_release(y); ssl3d_tensor_release(y2); ssl3d_tensor_release(r); ssl3d_tensor_release(L);
    ssl3d_tensor_release(s); ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b);
    ssl3d_tensor_release(w2);
    ssl3d_ctx_release(ctx);
    return rc;
}

TEST(conv_same_thread_count_is_bitwise_deterministic) {
    const int64_t ny = 2 * 20 * 5 * 17 * 19, nx = 2 * 24 * 5 * 17 * 19, nw = 20 * 24 * 27;
    for (int threads = 1; threads <= 2; threads++) {
        float *a = malloc((size_t)(ny + nx + nw) * 4), *b = malloc((size_t)(ny + nx + nw) * 4);
        REQUIRE(a && b);
        CHECK(run_conv_bits(threads, a, a + ny, a + ny + nx, ny, nx, nw) == 0);
        CHECK(run_conv_bits(threads, b, b + ny, b + ny + nx, ny, nx, nw) == 0);
        CHECK_MSG(!memcmp(a, b, (size_t)(ny + nx + nw) * 4), "threads %d: two runs differ", threads);
        free(a); free(b);
    }
}

/* y and dw of y = conv(x, w, b), L = sum(y * r), with `threads` threads. */
static int run_dw_bits(int threads, float *y_out, float *gw, int64_t ny, int64_t nw) {
    ssl3d_ctx *ctx = th_ctx(threads, 23);
    if (!ctx) return -1;
    int64_t xs[5] = { 2, 24, 5, 17, 19 }, ws[5] = { 20, 24, 3, 3, 3 }, bs[1] = { 20 }, nyy = ny;
    ssl3d_tensor *x = th_randn(ctx, 5, xs, 1), *w = th_randn(ctx, 5, ws, 1), *b = th_randn(ctx, 1, bs, 1);
    ssl3d_tensor *y = NULL, *r = NULL, *L = NULL;
    int rc = -1;
    if (x && w && b && !ssl3d_conv(ctx, x, w, b, 1, 1, &y) && ssl3d_tensor_numel(y) == ny &&
        (r = th_randn(ctx, 1, &nyy, 0)) != NULL && !ssl3d_weighted_sum(ctx, y, r, &L) && !ssl3d_backward(ctx, L)) {
        memcpy(y_out, ssl3d_tensor_host_data(y), (size_t)ny * 4);
        rc = ssl3d_tensor_read_grad(ctx, w, gw, nw);
    }
    ssl3d_tensor_release(y); ssl3d_tensor_release(r); ssl3d_tensor_release(L);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b);
    ssl3d_ctx_release(ctx);
    return rc;
}

/* The direct weight gradient of small samples (padded input and dY within 512 KB), fewer
 * than 4 per thread, splits the weights, not the positions, between the threads (each weight summed by one thread in a fixed order),
 * so dw is the same bits for any thread count, on every ISA path; so is y (each output
 * is summed by one thread). The unequal 3-thread split cuts channel groups mid-tap. */
static void check_threads_independent(const char *isa) {
    if (setenv("SSL3D_CPU_ISA", isa, 1) != 0) { CHECK(0); return; }
    char msg[256];
    if (ssl3d_backend_probe(SSL3D_BACKEND_CPU, msg, sizeof msg) != SSL3D_OK) {
        char why[300];
        snprintf(why, sizeof why, "%s kernels not available on this CPU: %s", isa, msg);
        unsetenv("SSL3D_CPU_ISA");
        SKIP(why);
    }
    const int64_t ny = 2 * 20 * 5 * 17 * 19, nw = 20 * 24 * 27;
    float *a = malloc((size_t)(ny + nw) * 4), *b = malloc((size_t)(ny + nw) * 4);
    REQUIRE(a && b);
    CHECK(run_dw_bits(1, a, a + ny, ny, nw) == 0);
    for (int threads = 2; threads <= 3; threads++) {
        CHECK(run_dw_bits(threads, b, b + ny, ny, nw) == 0);
        CHECK_MSG(!memcmp(a + ny, b + ny, (size_t)nw * 4), "%s: dw of 1 and %d threads differ", isa, threads);
        CHECK_MSG(!memcmp(a, b, (size_t)ny * 4), "%s: y of 1 and %d threads differ", isa, threads);
    }
    free(a); free(b);
    unsetenv("SSL3D_CPU_ISA");
}

TEST(conv_generic_dw_same_bits_for_any_thread_count) { check_threads_independent("generic"); }
TEST(conv_avx2_dw_same_bits_for_any_thread_count) { check_threads_independent("avx2"); }
TEST(conv_avx512_dw_same_bits_for_any_thread_count) { check_threads_independent("avx512"); }

/* ------------------------------------------------------------ misuse */

TEST(conv_rejects_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t xs[5] = { 2, 3, 5, 6, 7 }, ws[5] = { 4, 3, 3, 3, 3 }, w2s[4] = { 4, 3, 3, 3 }, wbad[5] = { 4, 2, 3, 3, 3 };
    int64_t bs[1] = { 4 }, bbad[1] = { 5 }, vs[2] = { 3, 4 }, tiny[5] = { 1, 3, 1, 6, 7 };
    ssl3d_tensor *x = th_randn(ctx, 5, xs, 0), *w = th_randn(ctx, 5, ws, 0), *w2 = th_randn(ctx, 4, w2s, 0);
    ssl3d_tensor *wb = th_randn(ctx, 5, wbad, 0), *b = th_randn(ctx, 1, bs, 0), *bb = th_randn(ctx, 1, bbad, 0);
    ssl3d_tensor *v = th_randn(ctx, 2, vs, 0), *xt = th_randn(ctx, 5, tiny, 0), *xi = NULL;
    REQUIRE(x && w && w2 && wb && b && bb && v && xt);
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 5, xs, &xi));
    ssl3d_tensor *y = (ssl3d_tensor *)0x1;
    CHECK(ssl3d_conv(NULL, x, w, b, 1, 1, &y) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_conv(ctx, NULL, w, b, 1, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_conv: x is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, NULL, b, 1, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "w is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, b, 1, 1, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_conv(ctx, xi, w, b, 1, 1, &y), SSL3D_ERR_DTYPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "x must be float32") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, wb, NULL, 1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "input channels") != NULL);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "(4,2,3,3,3)") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w2, NULL, 1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_conv(ctx, v, w, NULL, 1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "(3,4)") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, bb, 1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "b (5)") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, v, 1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, b, 3, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "stride") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, b, 0, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, b, 1, -1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_conv(ctx, x, w, b, 1, 3, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "pad") != NULL);
    CHECK_ST(ctx, ssl3d_conv(ctx, xt, w, b, 1, 0, &y), SSL3D_ERR_SHAPE);   /* D = 1 < k = 3 */
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "smaller than kernel") != NULL);
    CHECK(y == (ssl3d_tensor *)0x1);                                         /* untouched on error */
    /* A tensor from another context. */
    ssl3d_ctx *other = th_ctx(1, 0);
    REQUIRE(other);
    ssl3d_tensor *xo = th_randn(other, 5, xs, 0);
    REQUIRE(xo);
    CHECK_ST(ctx, ssl3d_conv(ctx, xo, w, b, 1, 1, &y), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(xo);
    ssl3d_ctx_release(other);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(w2); ssl3d_tensor_release(wb);
    ssl3d_tensor_release(b); ssl3d_tensor_release(bb); ssl3d_tensor_release(v); ssl3d_tensor_release(xt);
    ssl3d_tensor_release(xi);
    ssl3d_ctx_release(ctx);
}

TEST(conv_without_grad_records_nothing) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t xs[4] = { 1, 2, 5, 5 }, ws[4] = { 3, 2, 3, 3 };
    ssl3d_tensor *x = th_randn(ctx, 4, xs, 0), *w = th_randn(ctx, 4, ws, 1), *y = NULL;
    REQUIRE(x && w);
    int32_t prev = ssl3d_set_grad_enabled(ctx, 0);
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w, NULL, 1, 1, &y));
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_tensor_release(y);
    ssl3d_set_grad_enabled(ctx, prev);
    ssl3d_tensor_set_requires_grad(ctx, w, 0);
    REQUIRE_OK(ctx, ssl3d_conv(ctx, x, w, NULL, 1, 1, &y));
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w);
    ssl3d_ctx_release(ctx);
}

/* ------------------------------------------------------------ transposed convolution */

/* y[n,co,kd*d+a,2h+b,2w+c] = b[co] + sum_ci x[n,ci,d,h,w] w[ci,co,a,b,c] (kd = 1 in 2D). */
static void naive_conv_transpose(int dims, int64_t n, int64_t cin, int64_t cout, const int64_t in[3],
                                 const float *x, const float *w, const float *b, double *y) {
    const int64_t kd = dims == 3 ? 2 : 1, kv = kd * 4, iv = in[0] * in[1] * in[2], ov = iv * kv;
    const int64_t Ho = 2 * in[1], Wo = 2 * in[2];
    for (int64_t i = 0; i < n * cout * ov; i++) y[i] = b ? b[(i / ov) % cout] : 0.0;
    for (int64_t s = 0; s < n; s++)
    for (int64_t ci = 0; ci < cin; ci++)
    for (int64_t co = 0; co < cout; co++)
    for (int64_t d = 0; d < in[0]; d++)
    for (int64_t h = 0; h < in[1]; h++)
    for (int64_t q = 0; q < in[2]; q++)
    for (int64_t a = 0; a < kd; a++)
    for (int64_t bb = 0; bb < 2; bb++)
    for (int64_t c = 0; c < 2; c++)
        y[(s * cout + co) * ov + ((kd * d + a) * Ho + 2 * h + bb) * Wo + 2 * q + c] +=
            (double)x[(s * cin + ci) * iv + (d * in[1] + h) * in[2] + q] * w[(ci * cout + co) * kv + (a * 2 + bb) * 2 + c];
}

TEST(conv_transpose_matches_naive_and_hand_values) {
    for (int threads = 1; threads <= 2; threads++)
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_ctx *ctx = th_ctx(threads, 4);
        REQUIRE(ctx);
        int64_t in[3] = { dims == 3 ? 3 : 1, 5, 7 };
        int64_t xs[5] = { 2, 40, 3, 5, 7 }, ws[5] = { 40, 9, 2, 2, 2 }, bs[1] = { 9 };
        if (dims == 2) { xs[2] = 5; xs[3] = 7; }
        ssl3d_tensor *x = th_randn(ctx, dims + 2, xs, 0), *w = th_randn(ctx, dims + 2, ws, 0);
        ssl3d_tensor *b = th_randn(ctx, 1, bs, 0), *y = NULL;
        REQUIRE(x && w && b);
        REQUIRE_OK(ctx, ssl3d_conv_transpose(ctx, x, w, b, &y));
        for (int i = 2; i < dims + 2; i++) CHECK(ssl3d_tensor_dim(y, i) == 2 * xs[i]);
        int64_t ny = ssl3d_tensor_numel(y);
        double *ref = malloc(sizeof(double) * (size_t)ny);
        naive_conv_transpose(dims, 2, 40, 9, in, ssl3d_tensor_host_data(x), ssl3d_tensor_host_data(w),
                             ssl3d_tensor_host_data(b), ref);
        CHECK(count_bad("conv_transpose y", ssl3d_tensor_host_data(y), ref, ny) == 0);
        free(ref);
        ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b); ssl3d_tensor_release(y);
        ssl3d_ctx_release(ctx);
    }
    /* Hand case: x (1,1,1,1) = 3, w (1,1,2,2) = 1..4, b = 1 -> y = 4,7,10,13. */
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const float xv[1] = { 3 }, wv[4] = { 1, 2, 3, 4 }, bv[1] = { 1 };
    int64_t xs[4] = { 1, 1, 1, 1 }, ws[4] = { 1, 1, 2, 2 }, bs[1] = { 1 };
    ssl3d_tensor *x = th_tensor(ctx, 4, xs, xv), *w = th_tensor(ctx, 4, ws, wv), *b = th_tensor(ctx, 1, bs, bv), *y = NULL;
    REQUIRE(x && w && b);
    REQUIRE_OK(ctx, ssl3d_conv_transpose(ctx, x, w, b, &y));
    const float *yv = ssl3d_tensor_host_data(y);
    CHECK_NEAR(yv[0], 4, 1e-6); CHECK_NEAR(yv[1], 7, 1e-6); CHECK_NEAR(yv[2], 10, 1e-6); CHECK_NEAR(yv[3], 13, 1e-6);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b); ssl3d_tensor_release(y);
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_tensor *x, *w, *b; } ct_gc;
static ssl3d_status ct_gc_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    ct_gc *c = u;
    return ssl3d_conv_transpose(ctx, c->x, c->w, c->b, out);
}

TEST(conv_transpose_gradcheck_2d_3d) {
    for (int threads = 1; threads <= 2; threads++) {
        ssl3d_ctx *ctx = th_ctx(threads, 6);
        REQUIRE(ctx);
        for (int dims = 2; dims <= 3; dims++) {
            int64_t xs[5] = { 2, 3, 3, 2, 5 }, ws[5] = { 3, 2, 2, 2, 2 }, bs[1] = { 2 };
            if (dims == 2) { xs[2] = 5; xs[3] = 3; }
            ct_gc c = { th_randn(ctx, dims + 2, xs, 1), th_randn(ctx, dims + 2, ws, 1), th_randn(ctx, 1, bs, 1) };
            REQUIRE(c.x && c.w && c.b);
            CHECK(gradcheck(ctx, ct_gc_fwd, &c, (ssl3d_tensor *[]){ c.x, c.w, c.b }, 3, NULL,
                            dims == 2 ? "conv_transpose 2D" : "conv_transpose 3D") == 0);
            ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.w); ssl3d_tensor_release(c.b);
        }
        ssl3d_ctx_release(ctx);
    }
}

TEST(conv_transpose_rejects_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t xs[5] = { 2, 3, 2, 2, 2 }, ws[5] = { 3, 4, 2, 2, 2 }, w3[5] = { 3, 4, 3, 3, 3 }, wc[5] = { 4, 4, 2, 2, 2 };
    int64_t bs[1] = { 3 };
    ssl3d_tensor *x = th_randn(ctx, 5, xs, 0), *w = th_randn(ctx, 5, ws, 0), *wk = th_randn(ctx, 5, w3, 0);
    ssl3d_tensor *wcc = th_randn(ctx, 5, wc, 0), *b = th_randn(ctx, 1, bs, 0), *xi = NULL, *y = NULL;
    REQUIRE(x && w && wk && wcc && b);
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 5, xs, &xi));
    CHECK_ST(ctx, ssl3d_conv_transpose(ctx, NULL, w, NULL, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_conv_transpose: x is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_conv_transpose(ctx, x, w, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_conv_transpose(ctx, xi, w, NULL, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_conv_transpose(ctx, x, wk, NULL, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_conv_transpose(ctx, x, wcc, NULL, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "Cin=3") != NULL);
    CHECK_ST(ctx, ssl3d_conv_transpose(ctx, x, w, b, &y), SSL3D_ERR_SHAPE);   /* b must be (4) */
    CHECK(y == NULL);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(wk); ssl3d_tensor_release(wcc);
    ssl3d_tensor_release(b); ssl3d_tensor_release(xi);
    ssl3d_ctx_release(ctx);
}
