/* CPU transposed convolution, kernel 2 stride 2 (2D: kernel 1x2x2 on (1,H,W)).
 * Windows do not overlap, so per sample it is one GEMM plus a scatter:
 *   tmp (Cout*kvol, P) = W^T (Cout*kvol, Cin) x X (Cin, P)
 *   y[co, kd*d+a, 2h+b, 2w+c] = tmp[(co,a,b,c), (d,h,w)] + bias[co]
 * Backward gathers dY into the same (Cout*kvol, tile) layout:
 *   dX tile += W (Cin, Cout*kvol) x g,   dW += X tile x g^T (per-thread partials).
 * Positions are cut into tiles of bounded size like the convolution (cpu_conv.c). */
#include <stdlib.h>
#include <string.h>
#include "cpu_blas.h"
#include "cpu_conv_impl.h"

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* tmp (Cout*kvol, mm) <-> y (Cout, kd*D, 2H, 2W) for the input positions of the runs. */
static void ct_scatter(int64_t cout, int64_t kd, const int64_t in[3], const cpu_conv_seg *s, int64_t ns,
                       int64_t mm, const float *tmp, const float *bias, float *y) {
    const int64_t Ho = 2 * in[1], Wo = 2 * in[2], ovol = kd * in[0] * Ho * Wo;
    for (int64_t co = 0; co < cout; co++) {
        const float bv = bias ? bias[co] : 0.0f;
        for (int64_t a = 0; a < kd; a++)
        for (int64_t b = 0; b < 2; b++)
        for (int64_t c = 0; c < 2; c++) {
            const float *src = tmp + ((co * kd + a) * 4 + b * 2 + c) * mm;
            for (int64_t i = 0; i < ns; i++) {
                float *dst = y + co * ovol + ((kd * s[i].od + a) * Ho + 2 * s[i].oh + b) * Wo + 2 * s[i].ow + c;
                for (int64_t t = 0; t < s[i].len; t++) dst[2 * t] = src[t] + bv;
                src += s[i].len;
            }
        }
    }
}

static void ct_gather(int64_t cout, int64_t kd, const int64_t in[3], const cpu_conv_seg *s, int64_t ns,
                      int64_t mm, const float *dy, float *g) {
    const int64_t Ho = 2 * in[1], Wo = 2 * in[2], ovol = kd * in[0] * Ho * Wo;
    for (int64_t co = 0; co < cout; co++)
        for (int64_t a = 0; a < kd; a++)
        for (int64_t b = 0; b < 2; b++)
        for (int64_t c = 0; c < 2; c++) {
            float *dst = g + ((co * kd + a) * 4 + b * 2 + c) * mm;
            for (int64_t i = 0; i < ns; i++) {
                const float *src = dy + co * ovol + ((kd * s[i].od + a) * Ho + 2 * s[i].oh + b) * Wo +
                                   2 * s[i].ow + c;
                for (int64_t t = 0; t < s[i].len; t++) dst[t] = src[2 * t];
                dst += s[i].len;
            }
        }
}

ssl3d_status cpu_conv_transpose_forward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin,
                                        int64_t cout, const int64_t in[3], const float *x,
                                        const float *w, const float *b, float *y) {
    const int64_t kd = dims == 3 ? 2 : 1, rows = cout * kd * 4;
    const int64_t P = in[0] * in[1] * in[2], ovol = P * kd * 4;
    const int32_t T = k->threads;
    int64_t m, nch;
    cpu_conv_plan(rows, P, n, T, &m, &nch);
    float *buf = malloc((size_t)T * (size_t)rows * (size_t)m * sizeof *buf);
    cpu_conv_seg *segs = malloc((size_t)T * (size_t)(m + 2) * sizeof *segs);
    if (!buf || !segs) { free(buf); free(segs); return SSL3D_ERR_NOMEM; }
    const int64_t tasks = n * nch;
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int tid = omp_get_thread_num();
        const int64_t ni = t / nch, q0 = (t % nch) * m, mm = min64(m, P - q0);
        if (mm <= 0) continue;
        float *tmp = buf + (int64_t)tid * rows * m;
        cpu_conv_seg *sg = segs + (int64_t)tid * (m + 2);
        cpu_sgemm_tile(CblasTrans, CblasNoTrans, rows, mm, cin, 1.0f, w, rows, x + ni * cin * P + q0, P, 0.0f,
                       tmp, mm);
        int64_t ns = cpu_conv_segments(in[1], in[2], q0, mm, sg);
        ct_scatter(cout, kd, in, sg, ns, mm, tmp, b, y + ni * cout * ovol);
    }
    free(buf);
    free(segs);
    return SSL3D_OK;
}

ssl3d_status cpu_conv_transpose_backward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin,
                                         int64_t cout, const int64_t in[3], const float *x,
                                         const float *w, const float *dy, float *dx, float *dw,
                                         float *db) {
    const int64_t kd = dims == 3 ? 2 : 1, kvol = kd * 4, rows = cout * kvol;
    const int64_t P = in[0] * in[1] * in[2], ovol = P * kvol, wlen = cin * rows;
    const int32_t T = k->threads;
    int64_t m, nch;
    cpu_conv_plan(rows, P, n, T, &m, &nch);
    float *buf = malloc((size_t)T * (size_t)rows * (size_t)m * sizeof *buf);
    cpu_conv_seg *segs = malloc((size_t)T * (size_t)(m + 2) * sizeof *segs);
    float *dwp = dw ? calloc((size_t)T * (size_t)wlen, sizeof *dwp) : NULL;
    float *dbp = db ? calloc((size_t)T * (size_t)cout, sizeof *dbp) : NULL;
    if (!buf || !segs || (dw && !dwp) || (db && !dbp)) {
        free(buf); free(segs); free(dwp); free(dbp);
        return SSL3D_ERR_NOMEM;
    }
    const int64_t tasks = n * nch;
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int tid = omp_get_thread_num();
        const int64_t ni = t / nch, q0 = (t % nch) * m, mm = min64(m, P - q0);
        if (mm <= 0) continue;
        float *g = buf + (int64_t)tid * rows * m;
        cpu_conv_seg *sg = segs + (int64_t)tid * (m + 2);
        int64_t ns = cpu_conv_segments(in[1], in[2], q0, mm, sg);
        ct_gather(cout, kd, in, sg, ns, mm, dy + ni * cout * ovol, g);
        if (dx)
            cpu_sgemm_tile(CblasNoTrans, CblasNoTrans, cin, mm, rows, 1.0f, w, rows, g, mm, 1.0f,
                           dx + ni * cin * P + q0, P);
        if (dw)
            cpu_sgemm_tile(CblasNoTrans, CblasTrans, cin, rows, mm, 1.0f, x + ni * cin * P + q0, P, g, mm, 1.0f,
                           dwp + (int64_t)tid * wlen, rows);
        if (db) {
            float *dbt = dbp + (int64_t)tid * cout;
            for (int64_t co = 0; co < cout; co++) {
                dbt[co] += cpu_conv_sum(g + co * kvol * mm, kvol * mm);
            }
        }
    }
    if (dw) cpu_conv_reduce_partials(k, dwp, T, wlen, dw);
    if (db) cpu_conv_reduce_partials(k, dbp, T, cout, db);
    free(buf); free(segs); free(dwp); free(dbp);
    return SSL3D_OK;
}
