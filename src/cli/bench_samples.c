/* `ssl3d bench` workloads S1-S3: proxy-task sample construction on the CPU. */
#include <stdlib.h>
#include <time.h>
#include "ssl3d.h"
#include "bench_samples.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { S1, S2, S3, S3_ALLOC, N_WORKLOADS };
static const char *const names[N_WORKLOADS] = {
    "S1_exemplar3d_view_128", "S2_jigsaw3d_puzzle_128", "S3_rotation3d_all10_128",
    "S3_rotation3d_all10_128_alloc"
};

/* One run of workload w for sample index i. */
static ssl3d_status run_once(ssl3d_ctx *ctx, int w, ssl3d_tensor *vol, ssl3d_tensor *perms, ssl3d_tensor *rot,
                             uint64_t i) {
    ssl3d_tensor *out = NULL;
    int32_t label;
    ssl3d_status st;
    if (w == S1) st = ssl3d_exemplar_view(ctx, vol, NULL, 0, i, 0, &out);
    else if (w == S2) st = ssl3d_jigsaw_sample(ctx, vol, perms, 3, 42, 3, 0, 0, i, &out, &label);
    else if (w == S3) st = ssl3d_rotation_all_into(ctx, vol, rot);
    else st = ssl3d_rotation_all(ctx, vol, &out);
    ssl3d_tensor_release(out);
    return st;
}

int bench_samples(int threads, int repeat, FILE *json) {
    if (repeat < 1) repeat = 1;
    ssl3d_ctx *ctx = NULL;
    ssl3d_tensor *vol = NULL, *perms = NULL, *rot = NULL;
    double *ts = malloc((size_t)repeat * sizeof(double));
    int rc = 1;
    if (!ts || ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) {
        fprintf(stderr, "bench_samples: cannot create a CPU context\n");
        goto done;
    }
    const int64_t shape[4] = { 1, 128, 128, 128 }, rshape[5] = { 10, 1, 128, 128, 128 };
    if (ssl3d_ctx_set_threads(ctx, threads < 1 ? 1 : threads) != SSL3D_OK ||
        ssl3d_tensor_create(ctx, SSL3D_F32, 4, shape, &vol) != SSL3D_OK ||
        ssl3d_tensor_fill_uniform(ctx, vol, 0.0f, 1.0f) != SSL3D_OK ||
        ssl3d_jigsaw_perms_create(ctx, 100, 27, 0, &perms) != SSL3D_OK ||
        ssl3d_tensor_create(ctx, SSL3D_F32, 5, rshape, &rot) != SSL3D_OK) {
        fprintf(stderr, "bench_samples: setup failed: %s\n", ssl3d_ctx_last_error(ctx));
        goto done;
    }
    for (int w = 0; w < N_WORKLOADS; w++) {
        for (int r = -1; r < repeat; r++) {   /* r = -1: warm-up */
            double t0 = now_ms();
            if (run_once(ctx, w, vol, perms, rot, (uint64_t)(r + 1)) != SSL3D_OK) {
                fprintf(stderr, "bench_samples: %s failed: %s\n", names[w], ssl3d_ctx_last_error(ctx));
                goto done;
            }
            if (r >= 0) ts[r] = now_ms() - t0;
        }
        qsort(ts, (size_t)repeat, sizeof *ts, cmp_double);
        double med = repeat % 2 ? ts[repeat / 2] : 0.5 * (ts[repeat / 2 - 1] + ts[repeat / 2]);
        printf("%-26s %9.3f ms  (min %.3f, max %.3f, %d runs, %d threads)\n", names[w], med, ts[0],
               ts[repeat - 1], repeat, threads);
        if (json)
            fprintf(json, "%s\"%s\": {\"ms\": %.4f, \"ms_min\": %.4f, \"ms_max\": %.4f}", w ? ",\n" : "", names[w],
                    med, ts[0], ts[repeat - 1]);
    }
    rc = 0;
done:
    ssl3d_tensor_release(rot);
    ssl3d_tensor_release(perms);
    ssl3d_tensor_release(vol);
    ssl3d_ctx_release(ctx);
    free(ts);
    return rc;
}
