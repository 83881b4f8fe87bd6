/* Extra cost of deep supervision per fine-tuning step (docs/finetune.md, "Deep
 * supervision"): forward + loss + backward of the hippocampus network (16 filters, 3 levels,
 * instance norm, batch 2 x 1 x 40^3, 3 classes) without and with the deep-supervision head
 * and its loss; the label subsampling is timed on its own. Plain and deep-supervised steps
 * alternate so that the shared machine's load drifts over both alike. Process CPU time with
 * 1 thread; median over `reps` steps of each.
 *   cc -O2 -fopenmp -Isrc -Iinclude -o /tmp/deepsup_cost docs/bench/deepsup_cost.c lib/libssl3d.a \
 *      -lopenblas -lcjson -lnifti2 -lznz -lpng -lz -lm
 *   OMP_WAIT_POLICY=passive /tmp/deepsup_cost 20 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "finetune/finetune_deepsup.h"

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define TRY(x) do { if ((x) != SSL3D_OK) { fprintf(stderr, "%s: %s\n", #x, ssl3d_ctx_last_error(ctx)); return 1; } } while (0)

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (reps < 1 || reps > 10000) reps = 20;
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return 1;
    TRY(ssl3d_ctx_set_threads(ctx, 1));
    TRY(ssl3d_ctx_set_seed(ctx, 1));
    ssl3d_ftmodel *m = NULL;
    TRY(ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 3, 16, 3, SSL3D_NORM_INSTANCE, 0, 0, &m));
    TRY(ft_ds_create(ctx, m));
    const int64_t xs[5] = { 2, 1, 40, 40, 40 }, ys[4] = { 2, 40, 40, 40 }, nv = 2 * 40 * 40 * 40;
    float *xv = malloc((size_t)nv * sizeof *xv);
    int32_t *yv = malloc((size_t)nv * sizeof *yv);
    uint32_t s = 12345;
    for (int64_t i = 0; i < nv; i++) {
        s = s * 1664525u + 1013904223u;
        xv[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        yv[i] = (i / 7) % 5 == 0 ? (int32_t)((i / 3) % 3) : 0;
    }
    ssl3d_tensor *x = NULL, *y = NULL, *y1 = NULL;
    TRY(ssl3d_tensor_from_data(ctx, SSL3D_F32, 5, xs, xv, &x));
    TRY(ssl3d_tensor_from_data(ctx, SSL3D_I32, 4, ys, yv, &y));
    double w[2];
    ft_ds_weights(2, w);
    double *t_plain = malloc((size_t)reps * sizeof *t_plain), *t_ds = malloc((size_t)reps * sizeof *t_ds),
           *t_lab = malloc((size_t)reps * sizeof *t_lab);
    ssl3d_set_grad_enabled(ctx, 1);
    for (int r = 0; r < reps + 1; r++) {   /* the first round warms up and is not counted */
        for (int ds = 0; ds < 2; ds++) {
            ssl3d_tensor *outs[2] = { 0 }, *loss = NULL;
            double t0 = cpu_ms();
            if (ds) {
                double tl = cpu_ms();
                TRY(ft_ds_labels(ctx, y, 2, &y1));
                if (r) t_lab[r - 1] = cpu_ms() - tl;
                ssl3d_tensor *labs[2] = { y, y1 };
                TRY(ft_ds_forward(ctx, m, x, 1, 1, outs));
                TRY(ft_ds_loss(ctx, 2, outs, labs, w, &loss));
            } else {
                TRY(ssl3d_ftmodel_forward(ctx, m, x, 1, 1, &outs[0]));
                TRY(ssl3d_ftmodel_loss(ctx, m, outs[0], y, &loss));
            }
            TRY(ssl3d_backward(ctx, loss));
            double t = cpu_ms() - t0;
            if (r) (ds ? t_ds : t_plain)[r - 1] = t;
            ssl3d_tape_reset(ctx);
            ssl3d_tensor_release(outs[0]); ssl3d_tensor_release(outs[1]); ssl3d_tensor_release(loss);
            ssl3d_tensor_release(y1); y1 = NULL;
        }
    }
    qsort(t_plain, (size_t)reps, sizeof *t_plain, cmp);
    qsort(t_ds, (size_t)reps, sizeof *t_ds, cmp);
    qsort(t_lab, (size_t)reps, sizeof *t_lab, cmp);
    printf("forward+loss+backward, median of %d (CPU ms, 1 thread): plain %.1f, deep supervision %.1f "
           "(+%.1f, +%.1f%%); label subsampling %.3f\n", reps, t_plain[reps / 2], t_ds[reps / 2],
           t_ds[reps / 2] - t_plain[reps / 2], 100.0 * (t_ds[reps / 2] / t_plain[reps / 2] - 1), t_lab[reps / 2]);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);
    ssl3d_ftmodel_release(m);
    ssl3d_ctx_release(ctx);
    free(xv); free(yv); free(t_plain); free(t_ds); free(t_lab);
    return 0;
}
