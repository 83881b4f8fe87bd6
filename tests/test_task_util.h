/* Helpers of the proxy-task tests (test_task_*.c): structured synthetic images and a
 * small Adam training loop measuring proxy accuracy on evaluation samples. */
#ifndef SSL3D_TEST_TASK_UTIL_H
#define SSL3D_TEST_TASK_UTIL_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "harness.h"

/* Image (C, S..) with dims spatial axes of side S. C == 1: a ramp with distinct slopes
 * per axis (about 4 : 2 : 1 over the image, jittered per image); C > 1: channel c is a
 * ramp along axis c % dims (slope about 3 over the image). Plus a random offset per
 * channel and a little noise. Such images have a canonical orientation (rotation is
 * identifiable) and intensity tells where a patch lies (relative position, jigsaw). */
static inline ssl3d_tensor *tt_ramp_image(ssl3d_ctx *ctx, int dims, int64_t C, int64_t S, uint32_t seed) {
    int64_t shape[4] = { C, S, S, S };
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, dims + 1, shape, &t) != SSL3D_OK) return NULL;
    float *p = ssl3d_tensor_host_data(t);
    uint32_t s = seed * 2654435761u + 12345u;
#define TT_U() ((s = s * 1664525u + 1013904223u), (float)(s >> 8) / 16777216.0f)
    const int64_t D = dims == 3 ? S : 1;
    for (int64_t c = 0; c < C; c++) {
        float slope[3] = { 0, 0, 0 };
        if (C == 1) {
            slope[0] = 4.0f * (0.8f + 0.4f * TT_U());
            slope[1] = 2.0f * (0.8f + 0.4f * TT_U());
            slope[2] = 1.0f * (0.8f + 0.4f * TT_U());
            if (dims == 2) { slope[2] = slope[1]; slope[1] = slope[0]; slope[0] = 0; }
        } else {
            slope[3 - dims + c % dims] = 3.0f * (0.8f + 0.4f * TT_U());
        }
        const float off = 2.0f * TT_U() - 1.0f - 0.5f * (slope[0] + slope[1] + slope[2]);
        for (int64_t z = 0; z < D; z++)
            for (int64_t y = 0; y < S; y++)
                for (int64_t x = 0; x < S; x++)
                    p[((c * D + z) * S + y) * S + x] = off + 0.1f * (TT_U() - 0.5f) +
                        (slope[0] * (float)z + slope[1] * (float)y + slope[2] * (float)x) / (float)S;
    }
#undef TT_U
    return t;
}

static inline void tt_release_all(ssl3d_tensor **t, int n) {
    for (int i = 0; i < n; i++) ssl3d_tensor_release(t[i]);
}

/* Adam with every trainable tensor of every module of the task. */
static inline ssl3d_optim *tt_adam(ssl3d_ctx *ctx, ssl3d_task *task, float lr) {
    ssl3d_optim *opt = NULL;
    if (ssl3d_optim_create_adam(ctx, lr, 0.9f, 0.999f, 1e-8f, 0.0f, &opt) != SSL3D_OK) return NULL;
    for (int32_t m = 0; m < ssl3d_task_module_count(task); m++) {
        ssl3d_tensor *params[256];
        int32_t n = 0;
        if (ssl3d_module_params(ctx, ssl3d_task_module(task, m), params, 256, &n) != SSL3D_OK || n > 256 ||
            ssl3d_optim_add_params(ctx, opt, params, n, 0) != SSL3D_OK) {
            ssl3d_optim_release(opt);
            return NULL;
        }
    }
    return opt;
}

/* Proxy accuracy on evaluation samples: `rounds` calls over all of val (seed 777,
 * index r). Returns -1 on error. */
static inline double tt_eval(ssl3d_ctx *ctx, ssl3d_task *task, ssl3d_tensor **val, int n_val, int rounds) {
    int64_t hit = 0, all = 0;
    for (int r = 0; r < rounds; r++) {
        ssl3d_tensor *loss = NULL;
        int64_t c = 0, n = 0;
        if (ssl3d_task_forward(ctx, task, val, n_val, 777, (uint64_t)r, 0, &loss, &c, &n) != SSL3D_OK) return -1;
        ssl3d_tensor_release(loss);
        hit += c;
        all += n;
    }
    return all ? (double)hit / (double)all : -1;
}

/* Train `steps` Adam steps on batches of `batch` images cycling through train; return
 * the evaluation accuracy after training (and *before, the one before). */
typedef struct tt_result {
    double before, after, chance, seconds, first_loss, last_loss;
} tt_result;

static inline int tt_learn(ssl3d_ctx *ctx, ssl3d_task *task, ssl3d_tensor **train, int n_train, int batch, int steps,
                           float lr, ssl3d_tensor **val, int n_val, int eval_rounds, tt_result *res) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    res->chance = ssl3d_task_chance(task);
    res->before = tt_eval(ctx, task, val, n_val, eval_rounds);
    ssl3d_optim *opt = tt_adam(ctx, task, lr);
    if (!opt || res->before < 0) { ssl3d_optim_release(opt); return 0; }
    ssl3d_tensor *b[64];
    double avg = 0;
    for (int s = 0; s < steps; s++) {
        for (int k = 0; k < batch; k++) b[k] = train[(s * batch + k) % n_train];
        ssl3d_tensor *loss = NULL;
        if (ssl3d_optim_zero_grad(ctx, opt) != SSL3D_OK ||
            ssl3d_task_forward(ctx, task, b, batch, 1, (uint64_t)s, 1, &loss, NULL, NULL) != SSL3D_OK ||
            ssl3d_backward(ctx, loss) != SSL3D_OK || ssl3d_optim_step(ctx, opt) != SSL3D_OK) {
            ssl3d_tensor_release(loss);
            ssl3d_optim_release(opt);
            return 0;
        }
        float v = 0;
        ssl3d_tensor_read(ctx, loss, &v, 4);
        ssl3d_tensor_release(loss);
        avg = s < 10 ? (s * avg + v) / (s + 1) : 0.9 * avg + 0.1 * v;
        if (s == 9) res->first_loss = avg;
    }
    res->last_loss = avg;
    ssl3d_optim_release(opt);
    res->after = tt_eval(ctx, task, val, n_val, eval_rounds);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return res->after >= 0;
}

static inline void tt_print(const char *what, const tt_result *r, int steps) {
    fprintf(stderr, "  %-18s steps %3d  loss %.3f -> %.3f  accuracy %.3f -> %.3f  (chance %.3f)  %.2f s\n", what, steps,
            r->first_loss, r->last_loss, r->before, r->after, r->chance, r->seconds);
}
#endif
