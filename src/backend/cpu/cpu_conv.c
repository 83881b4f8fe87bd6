/* CPU convolution: tiled im2col + OpenBLAS SGEMM, 2D and 3D in one implementation
 * (2D is D = 1, kd = 1).
 *
 * Per sample the convolution is Y (Cout,P) = W (Cout,Cin*kvol) x col (Cin*kvol,P) with
 * P output positions. The full col matrix of a 3D volume is huge (27x the input), so it
 * is never materialised: positions are cut into tiles of m columns (a ~2 MiB buffer per
 * thread), each OpenMP thread fills one tile's columns and runs a serial SGEMM on it.
 *
 *  forward   y tile = W x col(x tile) (+ bias, written first so GEMM adds onto it)
 *  weights   dW += dY tile x col(x tile)^T, into per-thread partials that are summed in
 *            thread order at the end (deterministic for a given thread count); db alike
 *  input     stride 1: dx += conv(dy, W flipped and transposed, pad k-1-pad), the
 *            forward kernel again (dense GEMM with K = Cout*kvol, no scatter);
 *            stride > 1: dcol = W^T x dY tile, scattered back (col2im). Tiles along the
 *            outer axis are processed in two phases (even, then odd units) so that no two
 *            threads ever scatter into the same input element.
 * 1x1 stride-1 unpadded convolutions skip im2col: x itself is the col matrix. */
#include <stdlib.h>
#include <string.h>
#include "../conv_kernels.h"
#include "cpu_blas.h"
#include "cpu_conv_impl.h"
#include "cpu_isa.h"

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

int64_t cpu_conv_segments(int64_t ho, int64_t wo, int64_t q0, int64_t m, cpu_conv_seg *s) {
    int64_t q = q0, end = q0 + m, ns = 0;
    while (q < end) {
        int64_t row = q / wo, ow = q - row * wo;
        int64_t len = min64(wo - ow, end - q);
        s[ns].od = row / ho;
        s[ns].oh = row - s[ns].od * ho;
        s[ns].ow = ow;
        s[ns].len = len;
        ns++;
        q += len;
    }
    return ns;
}

void cpu_conv_plan(int64_t rows, int64_t p, int64_t n, int32_t threads, int64_t *m, int64_t *nch) {
    int64_t mmax = max64(CPU_CONV_COL_BUDGET / max64(rows, 1), CPU_CONV_MIN_TILE);
    mmax = min64(mmax, p);
    int64_t c = (p + mmax - 1) / mmax;
    while (n * c < threads && c < p) c++;       /* give every thread a tile */
    *nch = c;
    *m = (p + c - 1) / c;
}

void cpu_conv_reduce_partials(const ssl3d_kctx *k, const float *part, int32_t threads, int64_t len,
                              float *dst) {
    #pragma omp parallel for num_threads(k->threads) if (len > 16384) schedule(static)
    for (int64_t i = 0; i < len; i++) {
        float s = 0.0f;
        for (int32_t t = 0; t < threads; t++) s += part[(int64_t)t * len + i];
        dst[i] += s;
    }
}

static int64_t vol3(const int64_t a[3]) { return a[0] * a[1] * a[2]; }

/* col (Cin*kvol, m) <- x (Cin,D,H,W) at the output positions of the runs s[0..ns). Row
 * (ci,a,b,c) holds x[ci, od*sd-pd+a, oh*sh-ph+b, ow*sw-pw+c] (0 outside). The run loop
 * sits outside the kw loop so that each source row is located once and copied kw
 * times while in L1; rows of deep layers are short (6..12 floats), so this per-run
 * bookkeeping is what im2col costs. */
static void im2col(const ssl3d_conv_geom *g, const float *x, const cpu_conv_seg *s, int64_t ns,
                   int64_t m, float *col) {
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t sd = g->stride[0], sh = g->stride[1], sw = g->stride[2];
    const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
    const int64_t kw = g->k[2];
    float *dst = col;
    for (int64_t ci = 0; ci < g->cin; ci++) {
        const float *xc = x + ci * D * H * W;
        for (int64_t a = 0; a < g->k[0]; a++)
        for (int64_t b = 0; b < g->k[1]; b++) {
            float *d0 = dst;              /* row (ci,a,b,c=0); row c is d0 + c*m */
            for (int64_t i = 0; i < ns; i++) {
                const int64_t len = s[i].len;
                const int64_t id = s[i].od * sd - pd + a, ih = s[i].oh * sh - ph + b;
                if (id < 0 || id >= D || ih < 0 || ih >= H) {
                    for (int64_t c = 0; c < kw; c++) memset(d0 + c * m, 0, (size_t)len * sizeof *d0);
                } else {
                    const float *src = xc + (id * H + ih) * W;
                    for (int64_t c = 0; c < kw; c++) {
                        float *restrict o = d0 + c * m;
                        const int64_t iw0 = s[i].ow * sw - pw + c;
                        if (sw == 1) {
                            const int64_t lo = min64(max64(-iw0, 0), len);
                            const int64_t hi = max64(min64(W - iw0, len), lo);
                            const float *restrict in = src + (iw0 + lo);
                            for (int64_t t = 0; t < lo; t++) o[t] = 0.0f;
                            for (int64_t t = lo; t < hi; t++) o[t] = in[t - lo];
                            for (int64_t t = hi; t < len; t++) o[t] = 0.0f;
                        } else {
                            for (int64_t t = 0; t < len; t++) {
                                const int64_t iw = iw0 + t * sw;
                                o[t] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
                            }
                        }
                    }
                }
                d0 += len;
            }
            dst += kw * m;
        }
    }
}

/* dx (Cin,D,H,W) += col2im(dcol (Cin*kvol, m)): the adjoint of im2col. */
static void col2im(const ssl3d_conv_geom *g, const float *dcol, const cpu_conv_seg *s, int64_t ns,
                   float *dx) {
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t sd = g->stride[0], sh = g->stride[1], sw = g->stride[2];
    const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
    const float *src = dcol;
    for (int64_t ci = 0; ci < g->cin; ci++) {
        float *xc = dx + ci * D * H * W;
        for (int64_t a = 0; a < g->k[0]; a++)
        for (int64_t b = 0; b < g->k[1]; b++)
        for (int64_t c = 0; c < g->k[2]; c++) {
            for (int64_t i = 0; i < ns; i++) {
                const int64_t len = s[i].len;
                const int64_t id = s[i].od * sd - pd + a, ih = s[i].oh * sh - ph + b;
                if (id >= 0 && id < D && ih >= 0 && ih < H) {
                    float *dst = xc + (id * H + ih) * W;
                    const int64_t iw0 = s[i].ow * sw - pw + c;
                    for (int64_t t = 0; t < len; t++) {
                        int64_t iw = iw0 + t * sw;
                        if (iw >= 0 && iw < W) dst[iw] += src[t];
                    }
                }
                src += len;
            }
        }
    }
}

/* ---- channels-last im2col, for deep layers: there rows of the NCDHW col matrix are
 * runs of only 6..24 floats and the per-run bookkeeping dominates, whereas with the
 * input transposed to (V, Cin) every tap of an output position is one contiguous run of
 * Cin floats (kw*Cin when the row is in range). The col matrix is then built transposed,
 * colT (m, kvol*Cin) with column order (a,b,c,ci), and the weights are reordered to
 * (Cout, kvol, Cin) to match. */

/* xcl (N, V, C) <- x (N, C, V), in blocks of 64 positions so writes stay in L1/L2. */
static void to_channels_last(const ssl3d_kctx *k, const float *x, int64_t n, int64_t c, int64_t v,
                             float *xcl) {
    const int64_t vb = 64, nb = (v + vb - 1) / vb;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < n * nb; t++) {
        const int64_t ni = t / nb, v0 = (t % nb) * vb, v1 = min64(v0 + vb, v);
        const float *xs = x + ni * c * v;
        float *o = xcl + ni * v * c;
        for (int64_t ci = 0; ci < c; ci++) {
            const float *r = xs + ci * v;
            for (int64_t p = v0; p < v1; p++) o[p * c + ci] = r[p];
        }
    }
}

/* colT (m, kvol*Cin) <- xcl (D,H,W,Cin) for output positions q0..q0+m-1. */
static void im2col_cl(const ssl3d_conv_geom *g, const float *xcl, int64_t q0, int64_t m, float *colT) {
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2], C = g->cin;
    const int64_t Ho = g->out[1], Wo = g->out[2];
    const int64_t kd = g->k[0], kh = g->k[1], kw = g->k[2];
    const int64_t K = kd * kh * kw * C;
    int64_t od = q0 / (Ho * Wo), oh = (q0 / Wo) % Ho, ow = q0 % Wo;
    for (int64_t j = 0; j < m; j++) {
        float *o = colT + j * K;
        const int64_t id0 = od * g->stride[0] - g->pad[0];
        const int64_t ih0 = oh * g->stride[1] - g->pad[1];
        const int64_t iw0 = ow * g->stride[2] - g->pad[2];
        const int row_inside = iw0 >= 0 && iw0 + kw <= W;
        for (int64_t a = 0; a < kd; a++) {
            const int64_t id = id0 + a;
            if (id < 0 || id >= D) {
                memset(o, 0, (size_t)(kh * kw * C) * sizeof *o);
                o += kh * kw * C;
                continue;
            }
            for (int64_t b = 0; b < kh; b++) {
                const int64_t ih = ih0 + b;
                if (ih < 0 || ih >= H) {
                    memset(o, 0, (size_t)(kw * C) * sizeof *o);
                } else {
                    const float *src = xcl + (id * H + ih) * W * C;
                    if (row_inside) {
                        memcpy(o, src + iw0 * C, (size_t)(kw * C) * sizeof *o);
                    } else {
                        for (int64_t c = 0; c < kw; c++) {
                            const int64_t iw = iw0 + c;
                            if (iw >= 0 && iw < W) memcpy(o + c * C, src + iw * C, (size_t)C * sizeof *o);
                            else memset(o + c * C, 0, (size_t)C * sizeof *o);
                        }
                    }
                }
                o += kw * C;
            }
        }
        if (++ow == Wo) { ow = 0; if (++oh == Ho) { oh = 0; od++; } }
    }
}

/* wr (Cout, kvol, Cin) <- w (Cout, Cin, kvol). */
static void weights_tap_major(const float *w, int64_t cout, int64_t cin, int64_t kvol, float *wr) {
    for (int64_t co = 0; co < cout; co++)
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t t = 0; t < kvol; t++)
                wr[(co * kvol + t) * cin + ci] = w[(co * cin + ci) * kvol + t];
}

/* Which col layout a convolution uses: channels-last for deep layers with short rows. */
static int use_channels_last(const ssl3d_conv_geom *g) {
    return g->cin >= 8 && g->out[2] < 32;
}

/* x is its own col matrix: 1x1 kernel, stride 1, no padding. */
static int is_pointwise(const ssl3d_conv_geom *g) {
    for (int i = 0; i < 3; i++)
        if (g->k[i] != 1 || g->stride[i] != 1 || g->pad[i] != 0) return 0;
    return 1;
}

/* Direct kernels pay off once there are channels to vectorise over (16-wide output
 * blocks, 6-wide input groups); the first layer (Cin = 1) stays on im2col + SGEMM. */
static int use_direct(const ssl3d_conv_geom *g) {
    return !is_pointwise(g) && g->cin >= 4 && g->cout >= 8;
}

/* Few input channels (the first layer): forward and weight gradient are direct kernels
 * vectorised along W. The forward used to be im2col + SGEMM, whose speed then depended on
 * OpenBLAS's kernel choice (2.2x PyTorch's time with OPENBLAS_CORETYPE=Haswell). */
static int use_small(const ssl3d_conv_geom *g) {
    return !is_pointwise(g) && g->cin < 4 && g->stride[2] == 1;
}

/* Where the B operand of a tile's GEMM comes from. */
enum col_mode { COL_DIRECT, COL_ROWS, COL_CL };

/* Per-call scratch of one convolution pass: per-thread col tiles (and run lists), plus
 * for channels-last the transposed input and the tap-major weights. */
typedef struct conv_scratch {
    enum col_mode mode;
    int64_t rows, m, nch;
    float *col;            /* threads x rows x m */
    cpu_conv_seg *segs;    /* threads x (m + 2)  */
    float *xcl;            /* N x V x Cin        */
    float *wr;             /* Cout x kvol x Cin  */
} conv_scratch;

static void scratch_free(conv_scratch *s) {
    free(s->col); free(s->segs); free(s->xcl); free(s->wr);
}

/* Plan the tiles and allocate scratch; with_w: also reorder w (forward). */
static ssl3d_status scratch_init(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                                 conv_scratch *s) {
    memset(s, 0, sizeof *s);
    const int64_t kvol = vol3(g->k), inv = vol3(g->in), T = k->threads;
    s->rows = g->cin * kvol;
    s->mode = is_pointwise(g) ? COL_DIRECT : use_channels_last(g) ? COL_CL : COL_ROWS;
    cpu_conv_plan(s->rows, vol3(g->out), g->n, k->threads, &s->m, &s->nch);
    if (s->mode == COL_DIRECT) return SSL3D_OK;
    s->col = malloc((size_t)T * (size_t)s->rows * (size_t)s->m * sizeof *s->col);
    if (!s->col) return SSL3D_ERR_NOMEM;
    if (s->mode == COL_ROWS) {
        s->segs = malloc((size_t)T * (size_t)(s->m + 2) * sizeof *s->segs);
        if (!s->segs) { scratch_free(s); return SSL3D_ERR_NOMEM; }
        return SSL3D_OK;
    }
    s->xcl = malloc((size_t)(g->n * inv * g->cin) * sizeof *s->xcl);
    if (w) s->wr = malloc((size_t)(g->cout * s->rows) * sizeof *s->wr);
    if (!s->xcl || (w && !s->wr)) { scratch_free(s); return SSL3D_ERR_NOMEM; }
    to_channels_last(k, x, g->n, g->cin, inv, s->xcl);
    if (w) weights_tap_major(w, g->cout, g->cin, kvol, s->wr);
    return SSL3D_OK;
}

/* Fill thread tid's tile for sample ni, positions q0..q0+mm-1. Returns the B operand
 * of the tile GEMM: (rows, mm) with leading dimension *ld, or for COL_CL its transpose
 * (mm, rows), *ld = rows. */
static const float *tile_cols(const ssl3d_conv_geom *g, const conv_scratch *s, const float *x, int tid,
                              int64_t ni, int64_t q0, int64_t mm, int64_t *ld) {
    const int64_t inv = vol3(g->in);
    if (s->mode == COL_DIRECT) { *ld = vol3(g->out); return x + ni * g->cin * inv + q0; }
    float *col = s->col + (int64_t)tid * s->rows * s->m;
    if (s->mode == COL_CL) {
        im2col_cl(g, s->xcl + ni * inv * g->cin, q0, mm, col);
        *ld = s->rows;
        return col;
    }
    cpu_conv_seg *sg = s->segs + (int64_t)tid * (s->m + 2);
    int64_t ns = cpu_conv_segments(g->out[1], g->out[2], q0, mm, sg);
    im2col(g, x + ni * g->cin * inv, sg, ns, mm, col);
    *ld = mm;
    return col;
}

/* y (N,Cout,P) = (accumulate ? y : 0) + W x col(x) + b. */
static ssl3d_status conv_forward_impl(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                      const float *w, const float *b, float *y, int accumulate) {
    if (use_direct(g)) return cpu_isa_for(cpu_isa_of(k), g->cout)->direct_forward(k, g, x, w, b, y, accumulate);
    if (use_small(g) && g->cin * vol3(g->k) <= 27 * 4) return cpu_isa_of(k)->small_forward(k, g, x, w, b, y, accumulate);
    const int64_t P = vol3(g->out);
    conv_scratch s;
    ssl3d_status st = scratch_init(k, g, x, w, &s);
    if (st != SSL3D_OK) return st;
    const int64_t m = s.m, nch = s.nch, rows = s.rows, tasks = g->n * nch;
    const float *wm = s.mode == COL_CL ? s.wr : w;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int tid = omp_get_thread_num();
        const int64_t ni = t / nch, q0 = (t % nch) * m;
        const int64_t mm = min64(m, P - q0);
        if (mm <= 0) continue;
        int64_t ldb;
        const float *bmat = tile_cols(g, &s, x, tid, ni, q0, mm, &ldb);
        float *yc = y + ni * g->cout * P + q0;
        float beta = accumulate ? 1.0f : 0.0f;
        if (b) {    /* bias first: the GEMM then adds onto it (beta = 1) */
            for (int64_t co = 0; co < g->cout; co++) {
                float *r = yc + co * P;
                const float bv = b[co];
                if (accumulate) for (int64_t j = 0; j < mm; j++) r[j] += bv;
                else for (int64_t j = 0; j < mm; j++) r[j] = bv;
            }
            beta = 1.0f;
        }
        cpu_sgemm_tile(CblasNoTrans, s.mode == COL_CL ? CblasTrans : CblasNoTrans, g->cout, mm, rows, 1.0f, wm,
                       rows, bmat, ldb, beta, yc, P);
    }
    scratch_free(&s);
    return SSL3D_OK;
}

static ssl3d_status cpu_conv_forward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                     const float *w, const float *b, float *y) {
    return conv_forward_impl(k, g, x, w, b, y, 0);
}

/* dw (Cout,Cin*kvol) += sum_n dY_n x col(x_n)^T;  db (Cout) += sum over n and positions of dY.
 * Per-thread partials, summed in thread order (channels-last partials are (Cout,kvol,Cin)
 * and are reordered while summing). */
static ssl3d_status conv_backward_weights(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                          const float *dy, float *dw, float *db) {
    const int64_t P = vol3(g->out), kvol = vol3(g->k);
    const int32_t T = k->threads;
    conv_scratch s;
    memset(&s, 0, sizeof s);
    if (dw) {
        ssl3d_status st = scratch_init(k, g, x, NULL, &s);
        if (st != SSL3D_OK) return st;
    } else {
        s.rows = g->cin * kvol;
        cpu_conv_plan(s.rows, P, g->n, T, &s.m, &s.nch);
    }
    const int64_t m = s.m, nch = s.nch, rows = s.rows, wlen = g->cout * rows, tasks = g->n * nch;
    float *dwp = dw ? calloc((size_t)T * (size_t)wlen, sizeof *dwp) : NULL;
    float *dbp = db ? calloc((size_t)T * (size_t)g->cout, sizeof *dbp) : NULL;
    if ((dw && !dwp) || (db && !dbp)) { free(dwp); free(dbp); scratch_free(&s); return SSL3D_ERR_NOMEM; }
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int tid = omp_get_thread_num();
        const int64_t ni = t / nch, q0 = (t % nch) * m;
        const int64_t mm = min64(m, P - q0);
        if (mm <= 0) continue;
        const float *dyc = dy + ni * g->cout * P + q0;
        if (dw) {
            int64_t ldb;
            const float *bmat = tile_cols(g, &s, x, tid, ni, q0, mm, &ldb);
            cpu_sgemm_tile(CblasNoTrans, s.mode == COL_CL ? CblasNoTrans : CblasTrans, g->cout, rows, mm, 1.0f,
                           dyc, P, bmat, ldb, 1.0f, dwp + (int64_t)tid * wlen, rows);
        }
        if (db) {
            float *dbt = dbp + (int64_t)tid * g->cout;
            for (int64_t co = 0; co < g->cout; co++) {
                dbt[co] += cpu_conv_sum(dyc + co * P, mm);
            }
        }
    }
    if (dw && s.mode == COL_CL) {
        const int64_t cin = g->cin;
        #pragma omp parallel for num_threads(T) schedule(static)
        for (int64_t co = 0; co < g->cout; co++)
            for (int64_t tap = 0; tap < kvol; tap++) {
                const float *src = dwp + (co * kvol + tap) * cin;     /* (co, tap, ci) */
                float *dst = dw + co * rows + tap;                    /* (co, ci, tap) */
                for (int64_t ci = 0; ci < cin; ci++) {
                    float acc = 0.0f;
                    for (int32_t th = 0; th < T; th++) acc += src[(int64_t)th * wlen + ci];
                    dst[ci * kvol] += acc;
                }
            }
    } else if (dw) {
        cpu_conv_reduce_partials(k, dwp, T, wlen, dw);
    }
    if (db) cpu_conv_reduce_partials(k, dbp, T, g->cout, db);
    free(dwp); free(dbp);
    scratch_free(&s);
    return SSL3D_OK;
}

/* Stride 1: dx += conv(dy, w'), w'[ci,co,a,b,c] = w[co,ci,kd-1-a,kh-1-b,kw-1-c], pad k-1-pad. */
static ssl3d_status conv_backward_input_stride1(const ssl3d_kctx *k, const ssl3d_conv_geom *g,
                                                const float *w, const float *dy, float *dx) {
    ssl3d_conv_geom t = *g;
    t.cin = g->cout;
    t.cout = g->cin;
    for (int i = 0; i < 3; i++) {
        t.in[i] = g->out[i];
        t.out[i] = g->in[i];
        t.pad[i] = g->k[i] - 1 - g->pad[i];
    }
    if (use_direct(&t))   /* packs the flipped transpose straight from w */
        return cpu_isa_for(cpu_isa_of(k), t.cout)->direct_backward_input(k, &t, w, dy, dx);
    const int64_t kvol = vol3(g->k);
    float *wt = malloc((size_t)(g->cin * g->cout * kvol) * sizeof *wt);
    if (!wt) return SSL3D_ERR_NOMEM;
    for (int64_t co = 0; co < g->cout; co++)
        for (int64_t ci = 0; ci < g->cin; ci++) {
            const float *src = w + (co * g->cin + ci) * kvol;
            float *dst = wt + (ci * g->cout + co) * kvol;
            for (int64_t i = 0; i < kvol; i++) dst[i] = src[kvol - 1 - i];
        }
    ssl3d_status st = conv_forward_impl(k, &t, dy, wt, NULL, dx, 1);
    free(wt);
    return st;
}

/* Any stride: dcol = W^T x dY tile, col2im into dx. Units are runs of `ut` planes (or
 * rows, when there is one output plane) along the outer axis, thick enough that units
 * u and u+2 touch disjoint input elements; even units run first, then odd ones. */
static ssl3d_status conv_backward_input_col2im(const ssl3d_kctx *k, const ssl3d_conv_geom *g,
                                               const float *w, const float *dy, float *dx) {
    const int64_t kvol = vol3(g->k), rows = g->cin * kvol;
    const int64_t P = vol3(g->out), inv = vol3(g->in);
    const int32_t T = k->threads;
    const int ax = g->out[0] >= 2 ? 0 : 1;
    const int64_t inner = ax == 0 ? g->out[1] * g->out[2] : g->out[2];
    const int64_t oa = g->out[ax], ka = g->k[ax], sa = g->stride[ax];
    const int64_t ut = max64(1, (ka + sa - 1) / sa - 1);
    const int64_t units = (oa + ut - 1) / ut;
    const int64_t m = min64(max64(CPU_CONV_COL_BUDGET / rows, CPU_CONV_MIN_TILE), ut * inner);
    float *buf = malloc((size_t)T * (size_t)rows * (size_t)m * sizeof *buf);
    cpu_conv_seg *segs = malloc((size_t)T * (size_t)(m + 2) * sizeof *segs);
    if (!buf || !segs) { free(buf); free(segs); return SSL3D_ERR_NOMEM; }
    for (int64_t phase = 0; phase < 2; phase++) {
        const int64_t uh = (units - phase + 1) / 2;      /* units of this parity per sample */
        const int64_t tasks = g->n * uh;
        #pragma omp parallel for num_threads(T) schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            const int tid = omp_get_thread_num();
            const int64_t ni = t / uh, u = phase + 2 * (t % uh);
            const int64_t qbeg = u * ut * inner, qend = min64((u + 1) * ut, oa) * inner;
            float *dcol = buf + (int64_t)tid * rows * m;
            cpu_conv_seg *sg = segs + (int64_t)tid * (m + 2);
            for (int64_t q0 = qbeg; q0 < qend; q0 += m) {
                const int64_t mm = min64(m, qend - q0);
                cpu_sgemm_tile(CblasTrans, CblasNoTrans, rows, mm, g->cout, 1.0f, w, rows,
                               dy + ni * g->cout * P + q0, P, 0.0f, dcol, mm);
                int64_t ns = cpu_conv_segments(g->out[1], g->out[2], q0, mm, sg);
                col2im(g, dcol, sg, ns, dx + ni * g->cin * inv);
            }
        }
    }
    free(buf);
    free(segs);
    return SSL3D_OK;
}

static ssl3d_status cpu_conv_backward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                      const float *w, const float *dy, float *dx, float *dw, float *db) {
    if (dw && use_direct(g)) {
        ssl3d_status st = cpu_isa_for(cpu_isa_of(k), g->cout)->direct_backward_weights(k, g, x, dy, dw);
        if (st == SSL3D_OK && db) st = conv_backward_weights(k, g, x, dy, NULL, db);
        if (st != SSL3D_OK) return st;
    } else if (dw && use_small(g)) {
        ssl3d_status st = cpu_isa_of(k)->small_backward_weights(k, g, x, dy, dw, db);   /* db in the same sweep */
        if (st != SSL3D_OK) return st;
    } else if (dw || db) {
        ssl3d_status st = conv_backward_weights(k, g, x, dy, dw, db);
        if (st != SSL3D_OK) return st;
    }
    if (dx) {
        if (g->stride[0] == 1 && g->stride[1] == 1 && g->stride[2] == 1)
            return conv_backward_input_stride1(k, g, w, dy, dx);
        return conv_backward_input_col2im(k, g, w, dy, dx);
    }
    return SSL3D_OK;
}

const struct ssl3d_conv_kernels ssl3d_cpu_conv_kernels = {
    .conv_forward = cpu_conv_forward,
    .conv_backward = cpu_conv_backward,
    .conv_transpose_forward = cpu_conv_transpose_forward,
    .conv_transpose_backward = cpu_conv_transpose_backward,
    .maxpool2_forward = cpu_maxpool2_forward,
    .maxpool2_backward = cpu_maxpool2_backward,
    .global_avgpool_forward = cpu_global_avgpool_forward,
    .global_avgpool_backward = cpu_global_avgpool_backward,
};
