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
 * (ci,a,b,c) holds x[ci, od*sd-pd+a, oh*sh-ph+b, ow*sw-pw+c] (0 outside). With stride 1
 * along W each run is one contiguous copy with zero-filled edges. */
static void im2col(const ssl3d_conv_geom *g, const float *x, const cpu_conv_seg *s, int64_t ns,
                   int64_t m, float *col) {
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t sd = g->stride[0], sh = g->stride[1], sw = g->stride[2];
    const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
    float *dst = col;
    for (int64_t ci = 0; ci < g->cin; ci++) {
        const float *xc = x + ci * D * H * W;
        for (int64_t a = 0; a < g->k[0]; a++)
        for (int64_t b = 0; b < g->k[1]; b++)
        for (int64_t c = 0; c < g->k[2]; c++) {
            for (int64_t i = 0; i < ns; i++) {
                const int64_t len = s[i].len;
                const int64_t id = s[i].od * sd - pd + a, ih = s[i].oh * sh - ph + b;
                if (id < 0 || id >= D || ih < 0 || ih >= H) {
                    memset(dst, 0, (size_t)len * sizeof *dst);
                } else {
                    const float *src = xc + (id * H + ih) * W;
                    const int64_t iw0 = s[i].ow * sw - pw + c;
                    if (sw == 1) {
                        int64_t lo = min64(max64(-iw0, 0), len);
                        int64_t hi = max64(min64(W - iw0, len), lo);
                        for (int64_t t = 0; t < lo; t++) dst[t] = 0.0f;
                        memcpy(dst + lo, src + (iw0 + lo), (size_t)(hi - lo) * sizeof *dst);
                        for (int64_t t = hi; t < len; t++) dst[t] = 0.0f;
                    } else {
                        for (int64_t t = 0; t < len; t++) {
                            int64_t iw = iw0 + t * sw;
                            dst[t] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
                        }
                    }
                }
                dst += len;
            }
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

/* x is its own col matrix: 1x1 kernel, stride 1, no padding. */
static int is_pointwise(const ssl3d_conv_geom *g) {
    for (int i = 0; i < 3; i++)
        if (g->k[i] != 1 || g->stride[i] != 1 || g->pad[i] != 0) return 0;
    return 1;
}

/* y (N,Cout,P) = (accumulate ? y : 0) + W x col(x) + b. */
static ssl3d_status conv_forward_impl(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                      const float *w, const float *b, float *y, int accumulate) {
    const int64_t kvol = vol3(g->k), rows = g->cin * kvol;
    const int64_t P = vol3(g->out), inv = vol3(g->in);
    const int32_t T = k->threads;
    const int direct = is_pointwise(g);
    int64_t m, nch;
    cpu_conv_plan(rows, P, g->n, T, &m, &nch);
    float *buf = NULL;
    cpu_conv_seg *segs = malloc((size_t)T * (size_t)(m + 2) * sizeof *segs);
    if (!direct) buf = malloc((size_t)T * (size_t)rows * (size_t)m * sizeof *buf);
    if (!segs || (!direct && !buf)) { free(segs); free(buf); return SSL3D_ERR_NOMEM; }
    const int64_t tasks = g->n * nch;
    cpu_blas_threads(k);
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int tid = omp_get_thread_num();
        const int64_t ni = t / nch, q0 = (t % nch) * m;
        const int64_t mm = min64(m, P - q0);
        if (mm <= 0) continue;
        const float *xs = x + ni * g->cin * inv;
        const float *bmat;
        int64_t ldb;
        if (direct) {
            bmat = xs + q0; ldb = P;
        } else {
            float *col = buf + (int64_t)tid * rows * m;
            cpu_conv_seg *sg = segs + (int64_t)tid * (m + 2);
            int64_t ns = cpu_conv_segments(g->out[1], g->out[2], q0, mm, sg);
            im2col(g, xs, sg, ns, mm, col);
            bmat = col; ldb = mm;
        }
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->cout, (int)mm, (int)rows, 1.0f,
                    w, (int)rows, bmat, (int)ldb, beta, yc, (int)P);
    }
    free(buf);
    free(segs);
    return SSL3D_OK;
}

static ssl3d_status cpu_conv_forward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                     const float *w, const float *b, float *y) {
    return conv_forward_impl(k, g, x, w, b, y, 0);
}

/* dw (Cout,Cin*kvol) += sum_n dY_n x col(x_n)^T;  db (Cout) += sum over n and positions of dY. */
static ssl3d_status conv_backward_weights(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                          const float *dy, float *dw, float *db) {
    const int64_t kvol = vol3(g->k), rows = g->cin * kvol;
    const int64_t P = vol3(g->out), inv = vol3(g->in);
    const int32_t T = k->threads;
    const int direct = is_pointwise(g);
    const int64_t wlen = g->cout * rows;
    int64_t m, nch;
    cpu_conv_plan(rows, P, g->n, T, &m, &nch);
    float *buf = NULL, *dwp = NULL, *dbp = NULL;
    cpu_conv_seg *segs = NULL;
    int fail = 0;
    if (dw) {
        dwp = calloc((size_t)T * (size_t)wlen, sizeof *dwp);
        segs = malloc((size_t)T * (size_t)(m + 2) * sizeof *segs);
        if (!direct) buf = malloc((size_t)T * (size_t)rows * (size_t)m * sizeof *buf);
        fail |= !dwp || !segs || (!direct && !buf);
    }
    if (db) { dbp = calloc((size_t)T * (size_t)g->cout, sizeof *dbp); fail |= !dbp; }
    if (fail) { free(buf); free(dwp); free(dbp); free(segs); return SSL3D_ERR_NOMEM; }
    const int64_t tasks = g->n * nch;
    cpu_blas_threads(k);
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int tid = omp_get_thread_num();
        const int64_t ni = t / nch, q0 = (t % nch) * m;
        const int64_t mm = min64(m, P - q0);
        if (mm <= 0) continue;
        const float *dyc = dy + ni * g->cout * P + q0;
        if (dw) {
            const float *xs = x + ni * g->cin * inv;
            const float *bmat;
            int64_t ldb;
            if (direct) {
                bmat = xs + q0; ldb = P;
            } else {
                float *col = buf + (int64_t)tid * rows * m;
                cpu_conv_seg *sg = segs + (int64_t)tid * (m + 2);
                int64_t ns = cpu_conv_segments(g->out[1], g->out[2], q0, mm, sg);
                im2col(g, xs, sg, ns, mm, col);
                bmat = col; ldb = mm;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->cout, (int)rows, (int)mm, 1.0f,
                        dyc, (int)P, bmat, (int)ldb, 1.0f, dwp + (int64_t)tid * wlen, (int)rows);
        }
        if (db) {
            float *dbt = dbp + (int64_t)tid * g->cout;
            for (int64_t co = 0; co < g->cout; co++) {
                const float *r = dyc + co * P;
                float s = 0.0f;
                for (int64_t j = 0; j < mm; j++) s += r[j];
                dbt[co] += s;
            }
        }
    }
    if (dw) cpu_conv_reduce_partials(k, dwp, T, wlen, dw);
    if (db) cpu_conv_reduce_partials(k, dbp, T, g->cout, db);
    free(buf); free(dwp); free(dbp); free(segs);
    return SSL3D_OK;
}

/* Stride 1: dx += conv(dy, w'), w'[ci,co,a,b,c] = w[co,ci,kd-1-a,kh-1-b,kw-1-c], pad k-1-pad. */
static ssl3d_status conv_backward_input_stride1(const ssl3d_kctx *k, const ssl3d_conv_geom *g,
                                                const float *w, const float *dy, float *dx) {
    const int64_t kvol = vol3(g->k);
    float *wt = malloc((size_t)(g->cin * g->cout * kvol) * sizeof *wt);
    if (!wt) return SSL3D_ERR_NOMEM;
    for (int64_t co = 0; co < g->cout; co++)
        for (int64_t ci = 0; ci < g->cin; ci++) {
            const float *src = w + (co * g->cin + ci) * kvol;
            float *dst = wt + (ci * g->cout + co) * kvol;
            for (int64_t i = 0; i < kvol; i++) dst[i] = src[kvol - 1 - i];
        }
    ssl3d_conv_geom t = *g;
    t.cin = g->cout;
    t.cout = g->cin;
    for (int i = 0; i < 3; i++) {
        t.in[i] = g->out[i];
        t.out[i] = g->in[i];
        t.pad[i] = g->k[i] - 1 - g->pad[i];
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
    cpu_blas_threads(k);
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
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows, (int)mm, (int)g->cout, 1.0f,
                            w, (int)rows, dy + ni * g->cout * P + q0, (int)P, 0.0f, dcol, (int)mm);
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
    if (dw || db) {
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
