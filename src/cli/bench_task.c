/* W6 (CPC 3D step) and W7 (exemplar 3D step), see bench_task.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ssl3d.h"
#include "bench_task.h"
#include "bench_util.h"

#define TRY(expr) do { ssl3d_status st_ = (expr); if (st_ != SSL3D_OK) return st_; } while (0)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *bench_task_name(int w) {
    return w == BENCH_W6 ? "W6_cpc3d_step" : w == BENCH_W7 ? "W7_exemplar3d_step" : NULL;
}

/* Options the reference needs to build the same model (resolved defaults). */
static const char *const cpc_keys[] = { "input_size", "filters", "levels", "grid", "code_size", "hidden", "steps",
                                        "negatives", "temperature", NULL };
static const char *const exemplar_keys[] = { "input_size", "filters", "levels", "code_size", "hidden", "margin",
                                             "batch", NULL };

typedef struct {
    ssl3d_ctx *ctx;
    ssl3d_task *task;
    ssl3d_optim *opt;
    ssl3d_tensor *images[64];
    int n_images;
    uint64_t index;
} task_setup;

/* One step = zero the gradients, ssl3d_task_forward (training), backward, Adam. A new
 * batch index every step, as in training (new crops, patches, augmentations). */
static int task_step(void *a) {
    task_setup *s = a;
    ssl3d_tensor *loss = NULL;
    ssl3d_status st = ssl3d_optim_zero_grad(s->ctx, s->opt);
    if (!st) st = ssl3d_task_forward(s->ctx, s->task, s->images, s->n_images, 1, s->index++, 1, &loss, NULL, NULL);
    if (!st) st = ssl3d_backward(s->ctx, loss);
    if (!st) st = ssl3d_optim_step(s->ctx, s->opt);
    if (st) ssl3d_tape_reset(s->ctx);
    ssl3d_tensor_release(loss);
    return (int)st;
}

static ssl3d_status setup(task_setup *s, int w, char *opts, size_t cap) {
    const int32_t kind = w == BENCH_W6 ? SSL3D_TASK_CPC : SSL3D_TASK_EXEMPLAR;
    TRY(ssl3d_task_create(s->ctx, kind, 3, 1, NULL, &s->task));
    const char *const *keys = w == BENCH_W6 ? cpc_keys : exemplar_keys;
    size_t used = 0;
    opts[0] = '\0';
    for (int i = 0; keys[i]; i++) {
        double v = 0;
        TRY(ssl3d_task_option(s->ctx, s->task, keys[i], &v));
        used += (size_t)snprintf(opts + used, used < cap ? cap - used : 0, "%s%s=%g", i ? "," : "", keys[i], v);
    }
    double size = 0, batch = 8;
    TRY(ssl3d_task_option(s->ctx, s->task, "input_size", &size));
    if (w == BENCH_W7) TRY(ssl3d_task_option(s->ctx, s->task, "batch", &batch));
    s->n_images = w == BENCH_W6 ? 4 : (int)batch;
    if (s->n_images < 2 || s->n_images > 64) return SSL3D_ERR_INVALID_ARG;
    const int64_t side = (int64_t)size, shape[4] = { 1, side, side, side };
    for (int i = 0; i < s->n_images; i++) {
        TRY(ssl3d_tensor_create(s->ctx, SSL3D_F32, 4, shape, &s->images[i]));
        TRY(ssl3d_tensor_fill_normal(s->ctx, s->images[i], 0.0f, 1.0f));
    }
    TRY(ssl3d_optim_create_adam(s->ctx, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, &s->opt));
    for (int32_t m = 0; m < ssl3d_task_module_count(s->task); m++) {
        ssl3d_tensor *params[256];
        int32_t n = 0;
        TRY(ssl3d_module_params(s->ctx, ssl3d_task_module(s->task, m), params, 256, &n));
        TRY(ssl3d_optim_add_params(s->ctx, s->opt, params, n, 0));
    }
    return SSL3D_OK;
}

int bench_task(int w, int threads, int repeat, FILE *json_out) {
    const char *name = bench_task_name(w);
    if (!name) return 1;
    if (repeat < 1) repeat = 1;
    task_setup s;
    memset(&s, 0, sizeof s);
    char opts[512];
    double *ms = malloc((size_t)repeat * sizeof *ms);
    ssl3d_status st = ms ? ssl3d_ctx_create(SSL3D_BACKEND_CPU, &s.ctx) : SSL3D_ERR_NOMEM;
    if (!st) st = ssl3d_ctx_set_threads(s.ctx, threads);
    if (!st) st = ssl3d_ctx_set_seed(s.ctx, 1);
    if (!st) st = setup(&s, w, opts, sizeof opts);
    int warm_runs = 0;
    long warm_faults = 0;
    if (!st) st = (ssl3d_status)bench_warmup(task_step, &s, 2, &warm_runs, &warm_faults);
    for (int r = 0; r < repeat && !st; r++) {
        const double t0 = now_ms();
        st = (ssl3d_status)task_step(&s);
        ms[r] = now_ms() - t0;
    }
    int rc = 0;
    if (st) {
        fprintf(stderr, "bench %s: %s (%s)\n", name, ssl3d_status_string(st), s.ctx ? ssl3d_ctx_last_error(s.ctx) : "");
        rc = 1;
    } else {
        const double med = bench_median(ms, repeat);
        printf("%-22s %9.2f ms (min %.2f, max %.2f, %d threads; %d images, %s; %d warm-up steps, %ld page faults "
               "in the last)\n", name, med, ms[0], ms[repeat - 1], threads, s.n_images, opts, warm_runs, warm_faults);
        if (json_out)
            fprintf(json_out,
                    "\"%s\": {\"ms\": %.4f, \"ms_min\": %.4f, \"ms_max\": %.4f, \"warmup_runs\": %d, "
                    "\"warmup_last_faults\": %ld, \"images\": %d, \"options\": \"%s\"}",
                    name, med, ms[0], ms[repeat - 1], warm_runs, warm_faults, s.n_images, opts);
    }
    fflush(stdout);
    for (int i = 0; i < s.n_images; i++) ssl3d_tensor_release(s.images[i]);
    ssl3d_optim_release(s.opt);
    ssl3d_task_release(s.task);
    ssl3d_ctx_release(s.ctx);
    free(ms);
    return rc;
}
