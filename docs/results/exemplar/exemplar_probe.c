/* Exemplar 3D diagnosis on real volumes (issue 9). Trains the exemplar task for a fixed
 * number of steps on the training volumes of a manifest and reports, before and after:
 *   - held-out top-1 retrieval with running batch-norm statistics (what `ssl3d pretrain`
 *     reports) and with batch statistics (training-mode forward, no update);
 *   - the spread of the embeddings: mean cosine between the two views of one image
 *     ("pos") and between views of different images ("neg"); both near 1 is a collapse.
 * usage: exemplar_probe MANIFEST STEPS BATCH LR "TASK_OPTIONS" [SEED]
 * One thread; prints one line per 25 steps and a summary. Links the static library and
 * its private task header (an experiment, not part of the build). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ssl3d.h>
#include <ssl3d/loader.h>
#include "../../../src/tasks/task_cpc.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

/* Mean cosine of partner rows (i, i + B) and of non-partner rows of x (2B, D), after
 * subtracting the mean row when `centre`. */
static void spread(const ssl3d_tensor *x, int B, int centre, double *pos, double *neg) {
    const int64_t N = 2 * B, D = ssl3d_tensor_dim(x, 1);
    const float *p = ssl3d_tensor_host_data((ssl3d_tensor *)x);
    double *m = calloc((size_t)D, sizeof *m), *v = malloc((size_t)(N * D) * sizeof *v);
    for (int64_t i = 0; i < N; i++) for (int64_t d = 0; d < D; d++) m[d] += p[i * D + d] / (double)N;
    for (int64_t i = 0; i < N; i++) {
        double n = 0;
        for (int64_t d = 0; d < D; d++) { v[i * D + d] = p[i * D + d] - (centre ? m[d] : 0); n += v[i * D + d] * v[i * D + d]; }
        n = sqrt(n) + 1e-30;
        for (int64_t d = 0; d < D; d++) v[i * D + d] /= n;
    }
    double sp = 0, sn = 0; int64_t cp = 0, cn = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = i + 1; j < N; j++) {
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += v[i * D + d] * v[j * D + d];
            if (j == i + B) { sp += s; cp++; } else { sn += s; cn++; }
        }
    *pos = sp / cp; *neg = sn / cn;
    free(m); free(v);
}

/* Top-1 retrieval with the cosine of rows of x (2B, D) centred over the batch. */
static double retrieval(const ssl3d_tensor *x, int B) {
    const int64_t N = 2 * B, D = ssl3d_tensor_dim(x, 1);
    const float *p = ssl3d_tensor_host_data((ssl3d_tensor *)x);
    double *m = calloc((size_t)D, sizeof *m), *v = malloc((size_t)(N * D) * sizeof *v);
    for (int64_t i = 0; i < N; i++) for (int64_t d = 0; d < D; d++) m[d] += p[i * D + d] / (double)N;
    for (int64_t i = 0; i < N; i++) {
        double n = 0;
        for (int64_t d = 0; d < D; d++) { v[i * D + d] = p[i * D + d] - m[d]; n += v[i * D + d] * v[i * D + d]; }
        n = sqrt(n) + 1e-30;
        for (int64_t d = 0; d < D; d++) v[i * D + d] /= n;
    }
    int ok = 0;
    for (int64_t i = 0; i < N; i++) {
        double best = -2, sp = 0;
        for (int64_t j = 0; j < N; j++) {
            if (j == i) continue;
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += v[i * D + d] * v[j * D + d];
            if (j == (i + B) % N) sp = s; else if (s > best) best = s;
        }
        ok += sp > best;
    }
    free(m); free(v);
    return (double)ok / N;
}

/* Share of the variance of the rows of x (2B, D), centred, along its first principal
 * axis (power iteration): near 1 means the features vary along one direction only. */
static double pc1_share(const ssl3d_tensor *x) {
    const int64_t N = ssl3d_tensor_dim(x, 0), D = ssl3d_tensor_dim(x, 1);
    const float *p = ssl3d_tensor_host_data((ssl3d_tensor *)x);
    double *m = calloc((size_t)D, sizeof *m), *u = malloc((size_t)D * sizeof *u), *w = malloc((size_t)D * sizeof *w);
    for (int64_t i = 0; i < N; i++) for (int64_t d = 0; d < D; d++) m[d] += p[i * D + d] / (double)N;
    double tot = 0;
    for (int64_t i = 0; i < N; i++) for (int64_t d = 0; d < D; d++) tot += (p[i * D + d] - m[d]) * (p[i * D + d] - m[d]);
    for (int64_t d = 0; d < D; d++) u[d] = 1.0 / sqrt((double)D) * (1 + 0.01 * d);
    double lam = 0;
    for (int it = 0; it < 100; it++) {
        for (int64_t d = 0; d < D; d++) w[d] = 0;
        for (int64_t i = 0; i < N; i++) {
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += (p[i * D + d] - m[d]) * u[d];
            for (int64_t d = 0; d < D; d++) w[d] += s * (p[i * D + d] - m[d]);
        }
        double n = 0;
        for (int64_t d = 0; d < D; d++) n += w[d] * w[d];
        n = sqrt(n) + 1e-300;
        lam = n;
        for (int64_t d = 0; d < D; d++) u[d] = w[d] / n;
    }
    free(m); free(u); free(w);
    return tot > 0 ? lam / tot : 0;
}

typedef struct { double acc_run, acc_batch, zpos, zneg, loss, facc, fpc1; } probe;

/* Held-out: `rounds` passes over val in chunks of B images, evaluation mode (running
 * statistics) and training mode (batch statistics; the graph is dropped). */
static int evaluate(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor **val, int n_val, int B, int rounds, probe *p) {
    int64_t hit_r = 0, hit_b = 0, all = 0;
    double zp = 0, zn = 0, ls = 0, facc = 0, fpc1 = 0; int k = 0;
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c + B <= n_val; c += B, k++) {
            ssl3d_tensor *loss = NULL; int64_t ok = 0, n = 0;
            if (ssl3d_task_forward(ctx, t, val + c, B, 777, (uint64_t)r, 0, &loss, &ok, &n) != SSL3D_OK) return 1;
            float l; ssl3d_tensor_read(ctx, loss, &l, 4); ls += l;
            ssl3d_tensor_release(loss);
            hit_r += ok; all += n;
            double a, b2;
            spread(task_exemplar_last_embeddings(t), B, 0, &a, &b2); zp += a; zn += b2;
            facc += retrieval(task_exemplar_last_features(t), B);
            fpc1 += pc1_share(task_exemplar_last_features(t));
            if (ssl3d_task_forward(ctx, t, val + c, B, 777, (uint64_t)r, 1, &loss, &ok, &n) != SSL3D_OK) return 1;
            ssl3d_tensor_release(loss);
            ssl3d_tape_reset(ctx);
            hit_b += ok;
        }
    p->acc_run = (double)hit_r / all; p->acc_batch = (double)hit_b / all;
    p->zpos = zp / k; p->zneg = zn / k; p->loss = ls / k; p->facc = facc / k; p->fpc1 = fpc1 / k;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s MANIFEST STEPS BATCH LR OPTIONS [SEED]\n", argv[0]); return 2; }
    const char *man = argv[1], *opts = argv[5];
    const int steps = atoi(argv[2]), B = atoi(argv[3]);
    const float lr = (float)atof(argv[4]);
    const uint64_t seed = argc > 6 ? strtoull(argv[6], NULL, 10) : 1;
    ssl3d_ctx *ctx = NULL;
    ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx);
    ssl3d_ctx_set_threads(ctx, 1);
    ssl3d_ctx_set_seed(ctx, seed);
    ssl3d_task *t = NULL;
    if (ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 3, 1, opts, &t) != SSL3D_OK) {
        fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx)); return 1;
    }
    double in = 0;
    ssl3d_task_option(ctx, t, "input_size", &in);
    ssl3d_loader *tr = NULL, *va = NULL;
    int64_t ntr = 0, nva = 0;
    if (ssl3d_loader_create(ctx, man, SSL3D_LOADER_TRAIN, &tr) || ssl3d_loader_set_split(ctx, tr, 0.1, 0) ||
        ssl3d_loader_set_preprocess(ctx, tr, SSL3D_LOADER_ZSCORE, (int64_t)in, NULL) ||
        ssl3d_loader_set_batch(ctx, tr, B, seed) || ssl3d_loader_count(ctx, tr, &ntr) ||
        ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &va) || ssl3d_loader_set_split(ctx, va, 0.1, 0) ||
        ssl3d_loader_set_preprocess(ctx, va, SSL3D_LOADER_ZSCORE, (int64_t)in, NULL) || ssl3d_loader_count(ctx, va, &nva)) {
        fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx)); return 1;
    }
    ssl3d_tensor **val = calloc((size_t)nva, sizeof *val);
    for (int64_t i = 0; i < nva; i++) ssl3d_loader_item(ctx, va, i, &val[i]);
    ssl3d_optim *opt = NULL;
    ssl3d_optim_create_adam(ctx, lr, 0.9f, 0.999f, 1e-8f, 0.0f, &opt);
    for (int32_t m = 0; m < ssl3d_task_module_count(t); m++) {
        ssl3d_tensor *params[256]; int32_t n = 0;
        ssl3d_module_params(ctx, ssl3d_task_module(t, m), params, 256, &n);
        ssl3d_optim_add_params(ctx, opt, params, n, 0);
    }
    probe p0, p1;
    if (evaluate(ctx, t, val, (int)nva, B, 2, &p0)) { fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx)); return 1; }
    printf("opts %s batch %d lr %g steps %d seed %llu: chance %.4f\n", opts, B, lr, steps, (unsigned long long)seed,
           1.0 / (2.0 * B - 1));
    printf("  init : held-out acc %.3f (running stats) %.3f (batch stats)  loss %.3f  z cos pos %.3f neg %.3f  "
           "features: retrieval %.3f, PC1 share %.3f\n", p0.acc_run, p0.acc_batch, p0.loss, p0.zpos, p0.zneg, p0.facc,
           p0.fpc1);
    fflush(stdout);
    if (steps == 0) return 0;
    ssl3d_tensor **imgs = calloc((size_t)B, sizeof *imgs);
    double t0 = now(), avg_loss = 0, avg_acc = 0;
    for (int s = 0; s < steps; s++) {
        ssl3d_loader_batch(ctx, tr, s, imgs);
        ssl3d_tensor *loss = NULL; int64_t ok = 0, n = 0;
        ssl3d_optim_zero_grad(ctx, opt);
        if (ssl3d_task_forward(ctx, t, imgs, B, seed, (uint64_t)s, 1, &loss, &ok, &n) != SSL3D_OK ||
            ssl3d_backward(ctx, loss) != SSL3D_OK || ssl3d_optim_step(ctx, opt) != SSL3D_OK) {
            fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx)); return 1;
        }
        float l; ssl3d_tensor_read(ctx, loss, &l, 4);
        ssl3d_tensor_release(loss);
        for (int i = 0; i < B; i++) ssl3d_tensor_release(imgs[i]);
        avg_loss += l; avg_acc += (double)ok / n;
        if ((s + 1) % 25 == 0) {
            double zp, zn;
            spread(task_exemplar_last_embeddings(t), B, 0, &zp, &zn);
            printf("  step %4d: train loss %.3f acc %.3f (last 25)  z cos pos %.3f neg %.3f  %.2f s/step\n", s + 1,
                   avg_loss / 25, avg_acc / 25, zp, zn, (now() - t0) / (s + 1));
            fflush(stdout);
            avg_loss = avg_acc = 0;
        }
    }
    if (evaluate(ctx, t, val, (int)nva, B, 2, &p1)) { fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx)); return 1; }
    printf("  final: held-out acc %.3f (running stats) %.3f (batch stats)  loss %.3f  z cos pos %.3f neg %.3f  "
           "features: retrieval %.3f, PC1 share %.3f  (%.1f s training)\n", p1.acc_run, p1.acc_batch, p1.loss, p1.zpos,
           p1.zneg, p1.facc, p1.fpc1, now() - t0);
    return 0;
}
