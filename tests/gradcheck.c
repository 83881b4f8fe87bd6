#include "gradcheck.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int loss_value(ssl3d_ctx *ctx, gc_forward f, void *user, const float *r, int64_t nr, double *L) {
    ssl3d_tensor *y = NULL;
    ssl3d_status st = f(ctx, user, &y);
    if (st != SSL3D_OK) { fprintf(stderr, "    forward failed: %s\n", ssl3d_ctx_last_error(ctx)); return -1; }
    int64_t n = ssl3d_tensor_numel(y);
    if (n != nr) { ssl3d_tensor_release(y); return -1; }
    float *buf = malloc((size_t)n * sizeof *buf);
    ssl3d_tensor_read(ctx, y, buf, n * 4);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)buf[i] * r[i];
    free(buf);
    ssl3d_tensor_release(y);
    *L = s;
    return 0;
}

/* The analytic pass shared by both checks: zero the grads, y = f(), L = sum(y * r) with a
 * fixed pseudo-random r (seeded by *s, which advances), backward. Returns r (caller frees)
 * and its length, or NULL after printing the failure. */
static float *analytic_pass(ssl3d_ctx *ctx, gc_forward f, void *user, ssl3d_tensor **wrt, int n_wrt,
                            unsigned *s, int64_t *ny_out, const char *label) {
    for (int t = 0; t < n_wrt; t++) ssl3d_tensor_zero_grad(ctx, wrt[t]);
    ssl3d_tensor *y = NULL, *rt = NULL, *L = NULL;
    if (f(ctx, user, &y) != SSL3D_OK) {
        fprintf(stderr, "    [%s] forward failed: %s\n", label, ssl3d_ctx_last_error(ctx));
        return NULL;
    }
    int64_t ny = ssl3d_tensor_numel(y);
    float *r = malloc((size_t)ny * sizeof *r);
    for (int64_t i = 0; i < ny; i++) { *s = *s * 1664525u + 1013904223u; r[i] = (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f; }
    int64_t shape1 = ny;
    ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, &shape1, r, &rt);
    int failed = ssl3d_weighted_sum(ctx, y, rt, &L) != SSL3D_OK || ssl3d_backward(ctx, L) != SSL3D_OK;
    if (failed) fprintf(stderr, "    [%s] backward failed: %s\n", label, ssl3d_ctx_last_error(ctx));
    ssl3d_tensor_release(y); ssl3d_tensor_release(rt); ssl3d_tensor_release(L);
    if (failed) { free(r); return NULL; }
    *ny_out = ny;
    return r;
}

int gradcheck(ssl3d_ctx *ctx, gc_forward f, void *user, ssl3d_tensor **wrt, int n_wrt,
              const gc_opts *opts, const char *label) {
    gc_opts o = { 1e-2, 2e-3, 2e-2, 64 };
    if (opts) {
        if (opts->eps > 0) o.eps = opts->eps;
        if (opts->atol > 0) o.atol = opts->atol;
        if (opts->rtol > 0) o.rtol = opts->rtol;
        if (opts->max_checks > 0) o.max_checks = opts->max_checks;
    }
    unsigned s = 12345u;
    int64_t ny = 0;
    float *r = analytic_pass(ctx, f, user, wrt, n_wrt, &s, &ny, label);
    if (!r) return 1;

    int bad = 0;
    int32_t prev = ssl3d_set_grad_enabled(ctx, 0);
    for (int t = 0; t < n_wrt && bad < 8; t++) {
        int64_t n = ssl3d_tensor_numel(wrt[t]);
        float *w = ssl3d_tensor_host_data(wrt[t]);
        float *g = malloc((size_t)n * sizeof *g);
        ssl3d_tensor_read_grad(ctx, wrt[t], g, n);
        int64_t step = n <= o.max_checks ? 1 : n / o.max_checks;
        for (int64_t i = (step > 1 ? (int64_t)(s % (unsigned)step) : 0); i < n; i += step) {
            float w0 = w[i];
            double Lp, Lm;
            w[i] = w0 + (float)o.eps;
            int e1 = loss_value(ctx, f, user, r, ny, &Lp);
            w[i] = w0 - (float)o.eps;
            int e2 = loss_value(ctx, f, user, r, ny, &Lm);
            w[i] = w0;
            if (e1 || e2) { bad++; break; }
            double num = (Lp - Lm) / (2 * o.eps), ana = g[i];
            double tol = o.atol + o.rtol * fmax(fabs(num), fabs(ana));
            if (!(fabs(num - ana) <= tol)) {
                if (bad < 5)
                    fprintf(stderr, "    [%s] wrt %d elem %lld: analytic %.6g numeric %.6g\n", label, t,
                            (long long)i, ana, num);
                bad++;
            }
        }
        free(g);
    }
    ssl3d_set_grad_enabled(ctx, prev);
    free(r);
    return bad;
}

int gradcheck_directional(ssl3d_ctx *ctx, gc_forward f, void *user, ssl3d_tensor **wrt, int n_wrt,
                          int n_dirs, double eps, double rtol, double atol, const char *label) {
    unsigned s = 777u;
    int64_t ny = 0;
    float *r = analytic_pass(ctx, f, user, wrt, n_wrt, &s, &ny, label);
    if (!r) return 1;
    float **g = calloc((size_t)n_wrt, sizeof *g), **d = calloc((size_t)n_wrt, sizeof *d), **w0 = calloc((size_t)n_wrt, sizeof *w0);
    for (int t = 0; t < n_wrt; t++) {
        int64_t n = ssl3d_tensor_numel(wrt[t]);
        g[t] = malloc((size_t)n * 4); d[t] = malloc((size_t)n * 4); w0[t] = malloc((size_t)n * 4);
        ssl3d_tensor_read_grad(ctx, wrt[t], g[t], n);
        memcpy(w0[t], ssl3d_tensor_host_data(wrt[t]), (size_t)n * 4);
    }
    int bad = 0;
    int32_t prev = ssl3d_set_grad_enabled(ctx, 0);
    for (int k = 0; k < n_dirs; k++) {
        double norm = 0, gd = 0;
        for (int t = 0; t < n_wrt; t++)
            for (int64_t i = 0; i < ssl3d_tensor_numel(wrt[t]); i++) {
                s = s * 1664525u + 1013904223u;
                d[t][i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
                norm += (double)d[t][i] * d[t][i];
            }
        norm = sqrt(norm);
        double Lpm[2];
        for (int sign = 0; sign < 2; sign++) {
            for (int t = 0; t < n_wrt; t++) {
                float *w = ssl3d_tensor_host_data(wrt[t]);
                for (int64_t i = 0; i < ssl3d_tensor_numel(wrt[t]); i++)
                    w[i] = w0[t][i] + (float)((sign ? -eps : eps) * d[t][i] / norm);
            }
            if (loss_value(ctx, f, user, r, ny, &Lpm[sign])) { bad++; break; }
        }
        for (int t = 0; t < n_wrt; t++) {
            memcpy(ssl3d_tensor_host_data(wrt[t]), w0[t], (size_t)ssl3d_tensor_numel(wrt[t]) * 4);
            for (int64_t i = 0; i < ssl3d_tensor_numel(wrt[t]); i++) gd += (double)g[t][i] * d[t][i] / norm;
        }
        double num = (Lpm[0] - Lpm[1]) / (2 * eps);
        if (!(fabs(num - gd) <= atol + rtol * fmax(fabs(num), fabs(gd)))) {
            fprintf(stderr, "    [%s] direction %d: analytic %.6g numeric %.6g\n", label, k, gd, num);
            bad++;
        }
    }
    ssl3d_set_grad_enabled(ctx, prev);
    for (int t = 0; t < n_wrt; t++) { free(g[t]); free(d[t]); free(w0[t]); }
    free(g); free(d); free(w0); free(r);
    return bad;
}
