/* Exemplar proxy task (src/tasks/task_exemplar.c): options, unit embeddings without a
 * sigmoid, the two views, triplet (hard / random) and NT-Xent losses against hand
 * computations on the task's own embeddings, determinism, misuse, and that it learns
 * in 2D and 3D. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/tasks/task_cpc.h"

/* Image of type `type` (0..3): concentric rings (rotation- and flip-invariant) of period
 * 3, 5, 8 or 13 voxels around a centre near the middle, phase and centre from `seed`. */
static ssl3d_tensor *ring_image(ssl3d_ctx *ctx, int dims, int64_t S, int type, unsigned seed) {
    int64_t shape[4] = { 1, S, S, S };
    ssl3d_tensor *x = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, dims + 1, shape, &x) != SSL3D_OK) return NULL;
    float *p = ssl3d_tensor_host_data(x);
    static const double period[4] = { 3, 5, 8, 13 };
    unsigned h = 2654435761u * (seed + 7u);
    const double phase = (h >> 8) % 1000 / 1000.0 * 6.283185307;
    const double c0 = S / 2.0 + ((h >> 4) % 5) - 2.0, c1 = S / 2.0 + ((h >> 12) % 5) - 2.0,
                 c2 = S / 2.0 + ((h >> 16) % 5) - 2.0;
    const int64_t D = dims == 3 ? S : 1;
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < S; j++)
            for (int64_t k = 0; k < S; k++) {
                double r2 = (j - c1) * (j - c1) + (k - c2) * (k - c2) + (dims == 3 ? (i - c0) * (i - c0) : 0.0);
                p[(i * S + j) * S + k] = (float)sin(6.283185307 * sqrt(r2) / period[type] + phase);
            }
    return x;
}

static ssl3d_task *tiny_exemplar(ssl3d_ctx *ctx, int dims, const char *extra) {
    char opts[256];
    snprintf(opts, sizeof opts, "input_size=%d,filters=4,levels=2,code_size=16,hidden=32%s%s", dims == 3 ? 16 : 24,
             extra ? "," : "", extra ? extra : "");
    ssl3d_task *t = NULL;
    if (ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, dims, 1, opts, &t) != SSL3D_OK) return NULL;
    return t;
}

static double sqdist(const float *a, const float *b, int64_t D) {
    double s = 0;
    for (int64_t d = 0; d < D; d++) s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    return s;
}

TEST(exemplar_defaults_modules_and_chance) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, dims, 2, "filters=2", &t));
        const char *keys[] = { "input_size", "levels", "code_size", "hidden", "loss", "negative", "margin",
                               "temperature", "batch", "feature_norm", "shared_crop", "random_window",
                               "max_degrees", "rot90", "zoom", "contrast", "brightness" };
        const int d3 = dims == 3;   /* 3D: the milder augmentation of docs/results.md, run J */
        const double want[] = { 32, 4, 128, 256, 1, 0, 1, 0.1, 8, 1, 1, 0,
                                d3 ? 20 : 180, d3 ? 0 : 0.5, d3 ? 0.1 : 0.2, d3 ? 0.2 : 0.5, d3 ? 0.05 : 0.125 };
        for (int i = 0; i < 17; i++) {
            double v = -1;
            CHECK_OK(ctx, ssl3d_task_option(ctx, t, keys[i], &v));
            CHECK_NEAR(v, want[i], 1e-12);
        }
        CHECK_NEAR(ssl3d_task_chance(t), 1.0 / 15.0, 1e-12);
        REQUIRE(ssl3d_task_module_count(t) == 2);
        CHECK(!strcmp(ssl3d_task_module_name(t, 1), "exemplar_head"));
        CHECK(!strcmp(ssl3d_module_tensor_name(ssl3d_task_module(t, 1), 2), "fc2.weight"));
        CHECK(ssl3d_tensor_dim(ssl3d_module_tensor(ssl3d_task_module(t, 1), 2), 0) == 128);
        ssl3d_task_release(t);
    }
    ssl3d_ctx_release(ctx);
}

TEST(exemplar_bad_options) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    const char *bad[] = { "loss=2", "negative=-1", "margin=-0.5", "temperature=0", "batch=1", "hidden=-1",
                          "code_size=0", "input_size=8" /* < 2^4 */, "feature_norm=2", "shared_crop=-1",
                          "contrast=1", "zoom=0.95", "brightness=-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ssl3d_task *t = (ssl3d_task *)0x1;
        char o[96];
        snprintf(o, sizeof o, "filters=2,%s", bad[i]);
        CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 3, 1, o, &t), SSL3D_ERR_INVALID_ARG);
        CHECK(t == (ssl3d_task *)0x1);
    }
    ssl3d_ctx_release(ctx);
}

/* Forward once with `opts` (evaluation unless training) and check the returned loss
 * against the loss recomputed by hand from the task's embeddings. */
static void check_loss_by_hand(int dims, const char *opts, int training) {
    ssl3d_ctx *ctx = th_ctx(2, 11);
    ssl3d_task *t = tiny_exemplar(ctx, dims, opts);
    if (!t) { th_fail(__FILE__, __LINE__, "create %s: %s", opts, ssl3d_ctx_last_error(ctx)); ssl3d_ctx_release(ctx); return; }
    enum { B = 3 };
    const int64_t S = dims == 3 ? 18 : 27;
    ssl3d_tensor *imgs[B];
    for (int b = 0; b < B; b++) imgs[b] = ring_image(ctx, dims, S, b, (unsigned)b);
    ssl3d_tensor *loss = NULL;
    int64_t correct = -1, total = -1;
    ssl3d_status st = ssl3d_task_forward(ctx, t, imgs, B, 3, 9, training, &loss, &correct, &total);
    CHECK_MSG(st == SSL3D_OK, "forward %s: %s", opts, ssl3d_ctx_last_error(ctx));
    if (st == SSL3D_OK) {
        CHECK(total == 2 * B && correct >= 0 && correct <= total);
        CHECK_NEAR(ssl3d_task_chance(t), 1.0 / (2 * B - 1), 1e-12);
        const ssl3d_tensor *zt = task_exemplar_last_embeddings(t);
        const int64_t N = 2 * B, D = ssl3d_tensor_dim(zt, 1);
        CHECK(ssl3d_tensor_dim(zt, 0) == N && D == 16);
        const float *z = ssl3d_tensor_host_data((ssl3d_tensor *)zt);
        int negative_component = 0, hits = 0;
        for (int64_t i = 0; i < N; i++) {
            double n2 = 0;
            for (int64_t d = 0; d < D; d++) { n2 += (double)z[i * D + d] * z[i * D + d]; negative_component += z[i * D + d] < 0; }
            CHECK_NEAR(n2, 1.0, 1e-5);   /* unit embeddings */
        }
        CHECK(negative_component > 0);   /* not squashed into (0,1) by a sigmoid */
        for (int b = 0; b < B; b++) CHECK(sqdist(z + b * D, z + (b + B) * D, D) > 1e-8);   /* the views differ */
        double want = 0, margin = 0, temp = 0;
        ssl3d_task_option(ctx, t, "margin", &margin);
        ssl3d_task_option(ctx, t, "temperature", &temp);
        double lossk = 0;
        ssl3d_task_option(ctx, t, "loss", &lossk);
        for (int64_t i = 0; i < N; i++) {
            const int64_t p = (i + B) % N;
            double dmin = 1e30, best_other = -1e30, sp = 0, se = 0, mx = -1e30;
            double sims[2 * B];
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t d = 0; d < D; d++) s += (double)z[i * D + d] * z[j * D + d];
                sims[j] = s / temp;
                if (j != i && sims[j] > mx) mx = sims[j];
                if (j == i || j == p) continue;
                double dd = sqdist(z + i * D, z + j * D, D);
                dmin = dd < dmin ? dd : dmin;
                best_other = s > best_other ? s : best_other;
            }
            for (int64_t j = 0; j < N; j++) if (j != i) se += exp(sims[j] - mx);
            sp = sims[p] * temp;
            hits += sp > best_other;
            if (lossk == 0) {
                double h = sqdist(z + i * D, z + p * D, D) - dmin + margin;
                want += (h > 0 ? h : 0) / N;
            } else {
                want += -(sims[p] - mx - log(se)) / N;
            }
        }
        CHECK(hits == correct);
        float lv;
        CHECK_OK(ctx, ssl3d_tensor_read(ctx, loss, &lv, 4));
        CHECK_NEAR(lv, want, 2e-4);
    }
    ssl3d_tensor_release(loss);
    ssl3d_tape_reset(ctx);
    for (int b = 0; b < B; b++) ssl3d_tensor_release(imgs[b]);
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
}

TEST(exemplar_triplet_hard_by_hand) {
    check_loss_by_hand(2, "loss=triplet", 0);
    check_loss_by_hand(3, "loss=0,margin=0.5", 1);
}

TEST(exemplar_ntxent_by_hand) {
    check_loss_by_hand(2, "loss=1,temperature=0.5", 1);
    check_loss_by_hand(3, "loss=1", 0);
}

/* With the same embeddings, a random negative is never closer than the hardest one, so
 * the random-negative triplet loss is at most the batch-hard one; it is differentiable. */
TEST(exemplar_triplet_random_negative) {
    float l[2];
    for (int k = 0; k < 2; k++) {
        ssl3d_ctx *ctx = th_ctx(1, 5);
        ssl3d_task *t = tiny_exemplar(ctx, 2, k ? "loss=0,negative=1" : "loss=0,negative=0");
        REQUIRE(t);
        ssl3d_tensor *imgs[4];
        for (int b = 0; b < 4; b++) imgs[b] = ring_image(ctx, 2, 24, b, (unsigned)b);
        ssl3d_tensor *loss = NULL;
        REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 4, 1, 2, 1, &loss, NULL, NULL));
        CHECK_OK(ctx, ssl3d_tensor_read(ctx, loss, &l[k], 4));
        CHECK_OK(ctx, ssl3d_backward(ctx, loss));
        ssl3d_tensor *w = ssl3d_module_tensor(ssl3d_task_module(t, 1), 0);
        const int64_t n = ssl3d_tensor_numel(w);
        float *g = malloc((size_t)n * sizeof(float));
        CHECK_OK(ctx, ssl3d_tensor_read_grad(ctx, w, g, n));
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += fabs(g[i]);
        CHECK(s > 0);
        free(g);
        ssl3d_tensor_release(loss);
        for (int b = 0; b < 4; b++) ssl3d_tensor_release(imgs[b]);
        ssl3d_task_release(t);
        ssl3d_ctx_release(ctx);
    }
    CHECK(l[1] <= l[0] + 1e-6f);
    CHECK(l[0] > 0);
}

TEST(exemplar_deterministic) {
    float v[2];
    for (int run = 0; run < 2; run++) {
        ssl3d_ctx *ctx = th_ctx(2, 8);
        ssl3d_task *t = tiny_exemplar(ctx, 3, NULL);
        REQUIRE(t);
        ssl3d_tensor *imgs[2] = { ring_image(ctx, 3, 19, 0, 0), ring_image(ctx, 3, 19, 1, 1) };
        ssl3d_tensor *loss = NULL;
        REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 2, 4, 6, 1, &loss, NULL, NULL));
        ssl3d_tensor_read(ctx, loss, &v[run], 4);
        ssl3d_tensor_release(loss);
        ssl3d_tape_reset(ctx);
        ssl3d_tensor_release(imgs[0]); ssl3d_tensor_release(imgs[1]);
        ssl3d_task_release(t);
        ssl3d_ctx_release(ctx);
    }
    CHECK(memcmp(&v[0], &v[1], 4) == 0);
}

/* feature_norm=1: the head input is each pooled feature standardised over the 2B views
 * of the call (mean 0, variance 1 up to eps), in evaluation as in training; 0: the raw
 * pooled features (all >= 0, after the encoder's last ReLU). */
TEST(exemplar_feature_norm_standardises_the_head_input) {
    for (int fn = 0; fn <= 1; fn++)
        for (int training = 0; training <= 1; training++) {
            ssl3d_ctx *ctx = th_ctx(1, 3);
            ssl3d_task *t = tiny_exemplar(ctx, 3, fn ? "feature_norm=1" : "feature_norm=0");
            REQUIRE(t);
            enum { B = 4 };
            ssl3d_tensor *imgs[B], *loss = NULL;
            for (int b = 0; b < B; b++) imgs[b] = ring_image(ctx, 3, 18, b, (unsigned)b);
            REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, B, 2, 3, training, &loss, NULL, NULL));
            const ssl3d_tensor *f = task_exemplar_last_features(t);
            REQUIRE(f && ssl3d_tensor_dim(f, 0) == 2 * B);
            const int64_t D = ssl3d_tensor_dim(f, 1);
            const float *p = ssl3d_tensor_host_data((ssl3d_tensor *)f);
            int64_t varied = 0;
            for (int64_t d = 0; d < D; d++) {
                double m = 0, v = 0;
                for (int i = 0; i < 2 * B; i++) m += p[i * D + d] / (2.0 * B);
                for (int i = 0; i < 2 * B; i++) v += (p[i * D + d] - m) * (p[i * D + d] - m) / (2.0 * B);
                if (fn) {
                    CHECK_NEAR(m, 0.0, 1e-4);
                    if (v > 0.5) { CHECK_NEAR(v, 1.0, 0.02); varied++; }
                } else {
                    for (int i = 0; i < 2 * B; i++) CHECK(p[i * D + d] >= 0.0f);
                    varied += v > 0;
                }
            }
            CHECK_MSG(varied > D / 2, "feature_norm=%d training=%d: %lld of %lld features vary", fn, training,
                      (long long)varied, (long long)D);
            ssl3d_tensor_release(loss);
            if (training) ssl3d_tape_reset(ctx);
            for (int b = 0; b < B; b++) ssl3d_tensor_release(imgs[b]);
            ssl3d_task_release(t);
            ssl3d_ctx_release(ctx);
        }
}

TEST(exemplar_forward_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    ssl3d_task *t = tiny_exemplar(ctx, 2, NULL);
    REQUIRE(t);
    ssl3d_tensor *a = ring_image(ctx, 2, 24, 0, 0), *small = ring_image(ctx, 2, 23, 1, 1);
    ssl3d_tensor *loss = (ssl3d_tensor *)0x1;
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, &a, 1, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "n_images") != NULL);
    ssl3d_tensor *two[2] = { a, small };
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, two, 2, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_SHAPE);
    int64_t s3[4] = { 2, 24, 24 };
    ssl3d_tensor *twoch = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 3, s3, &twoch));
    ssl3d_tensor *bad[2] = { a, twoch };
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, bad, 2, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_SHAPE);
    CHECK(loss == (ssl3d_tensor *)0x1);
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_tensor_release(twoch); ssl3d_tensor_release(a); ssl3d_tensor_release(small);
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
}

/* Train on fresh ring images (one of each of the 4 types per batch, random phases and
 * centres); top-1 retrieval of the partner view on held-out images must rise well above
 * chance (1/7) and above its value before training. */
static void exemplar_learns(int dims, const char *opts, int steps, double *before, double *after, double *chance) {
    ssl3d_ctx *ctx = th_ctx(2, 321);
    ssl3d_task *t = tiny_exemplar(ctx, dims, opts);
    if (!t) { th_fail(__FILE__, __LINE__, "create: %s", ssl3d_ctx_last_error(ctx)); ssl3d_ctx_release(ctx); return; }
    enum { B = 4, EVALS = 8 };
    const int64_t S = dims == 3 ? 18 : 28;
    ssl3d_optim *opt = NULL;
    ssl3d_optim_create_adam(ctx, 3e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt);
    for (int m = 0; m < ssl3d_task_module_count(t); m++) {
        ssl3d_tensor *ps[64];
        int32_t n = 0;
        ssl3d_module_params(ctx, ssl3d_task_module(t, m), ps, 64, &n);
        ssl3d_optim_add_params(ctx, opt, ps, n, 0);
    }
    for (int phase = 0; phase < 2; phase++) {
        for (int s = 0; phase == 1 && s < steps; s++) {
            ssl3d_tensor *batch[B], *loss = NULL;
            for (int b = 0; b < B; b++) batch[b] = ring_image(ctx, dims, S, b, (unsigned)(s * B + b));
            ssl3d_optim_zero_grad(ctx, opt);
            ssl3d_status st = ssl3d_task_forward(ctx, t, batch, B, 77, (uint64_t)s, 1, &loss, NULL, NULL);
            if (st == SSL3D_OK) st = ssl3d_backward(ctx, loss);
            if (st == SSL3D_OK) st = ssl3d_optim_step(ctx, opt);
            ssl3d_tensor_release(loss);
            for (int b = 0; b < B; b++) ssl3d_tensor_release(batch[b]);
            if (st != SSL3D_OK) { th_fail(__FILE__, __LINE__, "step %d: %s", s, ssl3d_ctx_last_error(ctx)); break; }
        }
        int64_t c_all = 0, n_all = 0;
        for (int e = 0; e < EVALS; e++) {
            ssl3d_tensor *held[B], *loss = NULL;
            for (int b = 0; b < B; b++) held[b] = ring_image(ctx, dims, S, b, 100000u + (unsigned)(e * B + b));
            int64_t c = 0, n = 0;
            if (ssl3d_task_forward(ctx, t, held, B, 5, (uint64_t)e, 0, &loss, &c, &n) != SSL3D_OK)
                th_fail(__FILE__, __LINE__, "eval: %s", ssl3d_ctx_last_error(ctx));
            c_all += c; n_all += n;
            ssl3d_tensor_release(loss);
            for (int b = 0; b < B; b++) ssl3d_tensor_release(held[b]);
        }
        *(phase ? after : before) = n_all ? (double)c_all / (double)n_all : 0;
    }
    *chance = ssl3d_task_chance(t);
    ssl3d_optim_release(opt);
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
}

TEST(exemplar_learns_2d) {
    double a0, a1, ch;
    exemplar_learns(2, "loss=triplet", 60, &a0, &a1, &ch);
    printf("  exemplar 2D triplet held-out retrieval %.3f -> %.3f (chance %.3f)\n", a0, a1, ch);
    CHECK(a1 >= 2.5 * ch);      /* seed 321: 0.22 -> 0.84 */
    CHECK(a1 >= a0 + 0.15);
}

TEST(exemplar_learns_3d) {
    double a0, a1, ch;
    exemplar_learns(3, "loss=1", 80, &a0, &a1, &ch);
    printf("  exemplar 3D NT-Xent held-out retrieval %.3f -> %.3f (chance %.3f)\n", a0, a1, ch);
    CHECK(a1 >= 2.5 * ch);      /* seed 321: 0.30 -> 0.69 */
    CHECK(a1 >= a0 + 0.15);
}
