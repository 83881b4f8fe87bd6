/*
 * train_rotation — the smallest complete use of libssl3d: build the 3D U-Net encoder with a
 * rotation-style head (global average pool -> MLP -> 10 logits) through the public API and
 * train it for a few Adam steps on generated volumes, printing the loss.
 *
 *   ./bin/train_rotation [steps] [threads]
 *
 * The "volumes" are smooth random blobs; the label is which of 10 rotations was applied,
 * which is exactly the rotation proxy task of the library (ssl3d/pretrain.h does all of this,
 * with real images, in one call per step).
 */
#include <stdio.h>
#include <stdlib.h>
#include "ssl3d.h"

#define CHECK(call) do { ssl3d_status st_ = (call); if (st_ != SSL3D_OK) { \
    fprintf(stderr, "%s failed: %s\n", #call, ssl3d_ctx_last_error(ctx)); return 1; } } while (0)

enum { BATCH = 4, SIDE = 32, CLASSES = 10 };

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 10;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) { fprintf(stderr, "no CPU context\n"); return 1; }
    CHECK(ssl3d_ctx_set_threads(ctx, threads));
    CHECK(ssl3d_ctx_set_seed(ctx, 42));

    /* Encoder f=8, 3 levels (small enough for a laptop); head 64 -> 64 -> 10. */
    ssl3d_module *enc = NULL, *head = NULL;
    CHECK(ssl3d_encoder_create(ctx, 3, 1, 8, 3, SSL3D_NORM_BATCH, &enc));
    CHECK(ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(enc), 64, CLASSES, &head));
    ssl3d_optim *opt = NULL;
    CHECK(ssl3d_optim_create_adam(ctx, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt));
    ssl3d_tensor *params[128];
    int32_t n = 0, m = 0;
    CHECK(ssl3d_module_params(ctx, enc, params, 128, &n));
    CHECK(ssl3d_module_params(ctx, head, params + n, 128 - n, &m));
    CHECK(ssl3d_optim_add_params(ctx, opt, params, n + m, 0));
    printf("encoder %lld parameters, head %lld\n", (long long)ssl3d_module_param_numel(enc),
           (long long)ssl3d_module_param_numel(head));

    /* One base volume; each sample is a rotation of a random crop of it. */
    int64_t vshape[4] = { 1, 48, 48, 48 };
    ssl3d_tensor *vol = NULL;
    CHECK(ssl3d_tensor_create(ctx, SSL3D_F32, 4, vshape, &vol));
    CHECK(ssl3d_tensor_fill_normal(ctx, vol, 0.0f, 1.0f));
    int64_t bshape[5] = { BATCH, 1, SIDE, SIDE, SIDE }, lshape[1] = { BATCH };
    for (int step = 0; step < steps; step++) {
        ssl3d_tensor *x = NULL, *labels = NULL, *feat = NULL, *pooled = NULL, *logits = NULL, *loss = NULL;
        int32_t lab[BATCH];
        CHECK(ssl3d_tensor_create(ctx, SSL3D_F32, 5, bshape, &x));
        for (int b = 0; b < BATCH; b++) {
            ssl3d_tensor *cube = NULL, *rot = NULL;
            int64_t off[3] = { (step + b) % 16, (3 * step + b) % 16, (5 * step) % 16 }, size[3] = { SIDE, SIDE, SIDE };
            lab[b] = (step * BATCH + b) % CLASSES;
            CHECK(ssl3d_crop(ctx, vol, off, size, 0.0f, &cube));
            CHECK(ssl3d_rotation_apply(ctx, cube, lab[b], &rot));
            CHECK(ssl3d_batch_set(ctx, x, b, rot));
            ssl3d_tensor_release(cube);
            ssl3d_tensor_release(rot);
        }
        CHECK(ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, lshape, lab, &labels));
        CHECK(ssl3d_encoder_forward(ctx, enc, x, 1, &feat, NULL));
        CHECK(ssl3d_global_avgpool(ctx, feat, &pooled));
        CHECK(ssl3d_mlp_forward(ctx, head, pooled, &logits));
        CHECK(ssl3d_cross_entropy(ctx, logits, labels, &loss));
        float value;
        CHECK(ssl3d_tensor_read(ctx, loss, &value, sizeof value));
        CHECK(ssl3d_backward(ctx, loss));
        CHECK(ssl3d_optim_step(ctx, opt));
        CHECK(ssl3d_optim_zero_grad(ctx, opt));
        printf("step %3d  loss %.4f\n", step, value);
        ssl3d_tensor *tmp[] = { x, labels, feat, pooled, logits, loss };
        for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) ssl3d_tensor_release(tmp[i]);
    }
    ssl3d_tensor_release(vol);
    ssl3d_optim_release(opt);
    ssl3d_module_release(head);
    ssl3d_module_release(enc);
    ssl3d_ctx_release(ctx);
    return 0;
}
