/* W2-W5: training steps, mirroring ../shared/bench/torch_ref.py w2_rotation3d ..
 * w5_rotation2d. Every model is built from the public modules exactly as the reference
 * builds its nn.Modules:
 *   W2  encoder(3D, cin 1, f 16, 4 levels, BN) on x (4,1,48,48,48) -> GAP (4,256)
 *       -> MLP 256 -> 256 -> ReLU -> 10, cross-entropy on 4 labels
 *   W3  encoder(3D, cin 1, f 16, 4 levels) + decoder(3 classes) on x (2,1,48,64,48)
 *       -> logits (2,3,48,64,48), soft Dice + CE (ssl3d_dice_ce) on labels (2,48,64,48)
 *   W4  encoder(3D, cin 1, f 16, 3 levels) on x (54,1,32,32,32) -> GAP (54,128)
 *       -> reshape (2, 27*128) -> MLP 3456 -> 512 -> ReLU -> 100, CE on 2 labels
 *   W5  encoder(2D, cin 3, f 32, 4 levels) on x (64,3,64,64) -> GAP (64,512)
 *       -> MLP 512 -> 256 -> ReLU -> 4, CE on 64 labels
 * All with Adam(lr 1e-4, betas 0.9/0.999, eps 1e-8) over encoder (+ decoder) + head
 * parameters, batch norm in training mode. Inputs N(0,1) and uniform labels, fixed once. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ssl3d.h"
#include "bench_train.h"
#include "bench_util.h"

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
/* CPU time of the whole process (all threads): with OMP_WAIT_POLICY=passive it counts the
 * work done, not the time a loaded machine took to schedule it. */
static double cpu_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char *bench_train_name(int w) {
    switch (w) {
    case BENCH_W2: return "W2_rotation3d_step";
    case BENCH_W3: return "W3_segment3d_step";
    case BENCH_W4: return "W4_jigsaw3d_step";
    case BENCH_W5: return "W5_rotation2d_step";
    default: return NULL;
    }
}

/* The model, data and optimiser of one workload. */
typedef struct {
    int w;
    ssl3d_module *enc, *dec, *head;   /* dec only for W3, head for the others */
    ssl3d_optim *opt;
    ssl3d_tensor *x, *labels;
} train_setup;

enum { PH_ZERO, PH_FWD, PH_LOSS, PH_BWD, PH_STEP, N_PHASES };
static const char *const phase_names[N_PHASES] = { "zero_grad", "forward", "loss", "backward", "adam_step" };

static void setup_release(train_setup *s) {
    ssl3d_optim_release(s->opt);
    ssl3d_module_release(s->head);
    ssl3d_module_release(s->dec);
    ssl3d_module_release(s->enc);
    ssl3d_tensor_release(s->x);
    ssl3d_tensor_release(s->labels);
    memset(s, 0, sizeof *s);
}

/* Labels: n int32 values uniform in [0,k), from a fixed xorshift stream. */
static ssl3d_status make_labels(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, int32_t k, ssl3d_tensor **out) {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; i++) n *= shape[i];
    int32_t *v = malloc((size_t)n * sizeof *v);
    if (!v) return SSL3D_ERR_NOMEM;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        v[i] = (int32_t)((s >> 11) % (uint64_t)k);
    }
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_I32, ndim, shape, v, out);
    free(v);
    return st;
}

/* Append the trainable parameters of m to the optimiser (group 0). */
static ssl3d_status add_module_params(ssl3d_ctx *ctx, ssl3d_optim *opt, const ssl3d_module *m) {
    if (!m) return SSL3D_OK;
    int32_t n = 0;
    ssl3d_status st = ssl3d_module_params(ctx, m, NULL, 0, &n);
    if (st || n == 0) return st;
    ssl3d_tensor **p = malloc((size_t)n * sizeof *p);
    if (!p) return SSL3D_ERR_NOMEM;
    st = ssl3d_module_params(ctx, m, p, n, &n);
    if (!st) st = ssl3d_optim_add_params(ctx, opt, p, n, 0);
    free(p);
    return st;
}

static ssl3d_status setup_create(ssl3d_ctx *ctx, int w, train_setup *s) {
    memset(s, 0, sizeof *s);
    s->w = w;
    ssl3d_status st;
    switch (w) {
    case BENCH_W2: {
        const int64_t xs[5] = { 4, 1, 48, 48, 48 }, ys[1] = { 4 };
        st = ssl3d_encoder_create(ctx, 3, 1, 16, 4, SSL3D_NORM_BATCH, &s->enc);
        if (!st) st = ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(s->enc), 256, 10, &s->head);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 5, xs, &s->x);
        if (!st) st = make_labels(ctx, 1, ys, 10, &s->labels);
        break;
    }
    case BENCH_W3: {
        const int64_t xs[5] = { 2, 1, 48, 64, 48 }, ys[4] = { 2, 48, 64, 48 };
        st = ssl3d_encoder_create(ctx, 3, 1, 16, 4, SSL3D_NORM_BATCH, &s->enc);
        if (!st) st = ssl3d_decoder_create(ctx, s->enc, 3, &s->dec);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 5, xs, &s->x);
        if (!st) st = make_labels(ctx, 4, ys, 3, &s->labels);
        break;
    }
    case BENCH_W4: {
        const int64_t xs[5] = { 54, 1, 32, 32, 32 }, ys[1] = { 2 };
        st = ssl3d_encoder_create(ctx, 3, 1, 16, 3, SSL3D_NORM_BATCH, &s->enc);
        if (!st) st = ssl3d_mlp_create(ctx, 27 * ssl3d_encoder_out_channels(s->enc), 512, 100, &s->head);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 5, xs, &s->x);
        if (!st) st = make_labels(ctx, 1, ys, 100, &s->labels);
        break;
    }
    case BENCH_W5: {
        const int64_t xs[4] = { 64, 3, 64, 64 }, ys[1] = { 64 };
        st = ssl3d_encoder_create(ctx, 2, 3, 32, 4, SSL3D_NORM_BATCH, &s->enc);
        if (!st) st = ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(s->enc), 256, 4, &s->head);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 4, xs, &s->x);
        if (!st) st = make_labels(ctx, 1, ys, 4, &s->labels);
        break;
    }
    default:
        return SSL3D_ERR_INVALID_ARG;
    }
    if (!st) st = ssl3d_tensor_fill_normal(ctx, s->x, 0.0f, 1.0f);
    if (!st) st = ssl3d_optim_create_adam(ctx, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, &s->opt);
    if (!st) st = add_module_params(ctx, s->opt, s->enc);
    if (!st) st = add_module_params(ctx, s->opt, s->dec);
    if (!st) st = add_module_params(ctx, s->opt, s->head);
    if (st) setup_release(s);
    return st;
}

/* Forward pass to the logits. */
static ssl3d_status forward(ssl3d_ctx *ctx, train_setup *s, ssl3d_tensor **logits) {
    ssl3d_tensor *bott = NULL, *skips[8] = { 0 }, *feat = NULL, *flat = NULL;
    ssl3d_status st = ssl3d_encoder_forward(ctx, s->enc, s->x, 1, &bott, s->dec ? skips : NULL);
    if (st) return st;
    if (s->dec) {
        st = ssl3d_decoder_forward(ctx, s->dec, bott, skips, 1, logits);
        for (int l = 0; l < 8; l++) ssl3d_tensor_release(skips[l]);
    } else {
        st = ssl3d_global_avgpool(ctx, bott, &feat);                 /* (N, C) */
        if (!st && s->w == BENCH_W4) {                                /* (54,128) -> (2, 27*128) */
            const int64_t shape[2] = { 2, 27 * ssl3d_tensor_dim(feat, 1) };
            st = ssl3d_reshape(ctx, feat, 2, shape, &flat);
        } else if (!st) {
            flat = ssl3d_tensor_retain(feat);
        }
        if (!st) st = ssl3d_mlp_forward(ctx, s->head, flat, logits);
    }
    ssl3d_tensor_release(flat);
    ssl3d_tensor_release(feat);
    ssl3d_tensor_release(bott);
    return st;
}

/* One training step; ph (may be NULL) receives the duration of each phase in ms. */
static ssl3d_status step(ssl3d_ctx *ctx, train_setup *s, double *ph) {
    ssl3d_tensor *logits = NULL, *loss = NULL;
    double t[N_PHASES + 1];
    t[0] = now_ms();
    ssl3d_status st = ssl3d_optim_zero_grad(ctx, s->opt);
    t[1] = now_ms();
    if (!st) st = forward(ctx, s, &logits);
    t[2] = now_ms();
    if (!st) st = s->dec ? ssl3d_dice_ce(ctx, logits, s->labels, &loss)
                         : ssl3d_cross_entropy(ctx, logits, s->labels, &loss);
    t[3] = now_ms();
    if (!st) st = ssl3d_backward(ctx, loss);
    t[4] = now_ms();
    if (!st) st = ssl3d_optim_step(ctx, s->opt);
    t[5] = now_ms();
    if (st) ssl3d_tape_reset(ctx);
    ssl3d_tensor_release(loss);
    ssl3d_tensor_release(logits);
    if (ph) for (int i = 0; i < N_PHASES; i++) ph[i] = t[i + 1] - t[i];
    return st;
}

typedef struct { ssl3d_ctx *ctx; train_setup *s; } step_arg;
static int step_cb(void *a) { step_arg *sa = a; return (int)step(sa->ctx, sa->s, NULL); }

int bench_train(int w, int backend, int threads, int repeat, int phases, FILE *json_out) {
    const char *name = bench_train_name(w);
    if (!name) {
        fprintf(stderr, "bench: unknown training workload W%d\n", w);
        return 1;
    }
    if (repeat < 1) repeat = 1;
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(backend, &ctx) != SSL3D_OK || ssl3d_ctx_set_threads(ctx, threads) != SSL3D_OK) {
        char why[512] = "";
        ssl3d_backend_probe(backend, why, sizeof why);
        fprintf(stderr, "bench %s: cannot create a %s context with %d threads: %s\n", name,
                backend == SSL3D_BACKEND_CUDA ? "CUDA" : "CPU", threads, ctx ? ssl3d_ctx_last_error(ctx) : why);
        ssl3d_ctx_release(ctx);
        return 1;
    }
    double *ms = malloc((size_t)repeat * sizeof *ms);
    double *ph = malloc((size_t)repeat * N_PHASES * sizeof *ph);
    double *col = malloc((size_t)repeat * sizeof *col);
    double *cpu = malloc((size_t)repeat * sizeof *cpu);
    train_setup s;
    ssl3d_status st = (ms && ph && col && cpu) ? setup_create(ctx, w, &s) : SSL3D_ERR_NOMEM;
    int ready = st == SSL3D_OK;
    /* warm-up: at least 2 steps, as the reference, then until the page faults settle */
    int warm_runs = 0;
    long warm_faults = 0;
    step_arg sa = { ctx, &s };
    if (!st) st = (ssl3d_status)bench_warmup(step_cb, &sa, 2, &warm_runs, &warm_faults);
    for (int r = 0; r < repeat && !st; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        st = step(ctx, &s, ph + (size_t)r * N_PHASES);
        ms[r] = now_ms() - t0;
        cpu[r] = cpu_ms() - c0;
    }
    int rc = 0;
    if (st) {
        fprintf(stderr, "bench %s: %s (%s)\n", name, ssl3d_status_string(st), ssl3d_ctx_last_error(ctx));
        rc = 1;
    } else {
        if (phases) {
            printf("%-22s phases (median ms):", name);
            for (int p = 0; p < N_PHASES; p++) {
                for (int r = 0; r < repeat; r++) col[r] = ph[(size_t)r * N_PHASES + p];
                printf(" %s %.1f", phase_names[p], median_of(col, repeat));
            }
            printf("; process CPU time %.1f\n", median_of(cpu, repeat));
        }
        double med = median_of(ms, repeat);
        printf("%-22s %9.2f ms (min %.2f, max %.2f, %d threads; %d warm-up steps, %ld page faults in the last)\n",
               name, med, ms[0], ms[repeat - 1], threads, warm_runs, warm_faults);
        if (json_out)
            fprintf(json_out,
                    "\"%s\": {\"ms\": %.4f, \"ms_min\": %.4f, \"ms_max\": %.4f, \"warmup_runs\": %d, "
                    "\"warmup_last_faults\": %ld}",
                    name, med, ms[0], ms[repeat - 1], warm_runs, warm_faults);
    }
    fflush(stdout);
    if (ready) setup_release(&s);
    free(ms); free(ph); free(col); free(cpu);
    ssl3d_ctx_release(ctx);
    return rc;
}
