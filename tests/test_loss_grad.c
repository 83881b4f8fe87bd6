/* Losses: finite-difference gradient checks, flat and dense (2D and 3D). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

/* Loss gradients are small (a mean over many positions): tight absolute tolerance so
 * that a wrong scale is caught. */
static const gc_opts tight = { 1e-2, 2e-5, 1e-2, 64 };

typedef struct {
    int kind;                     /* which loss */
    ssl3d_tensor *a, *b, *c;      /* differentiable inputs */
    ssl3d_tensor *lab;            /* int32 labels / positives or float targets */
    float param;
    ssl3d_loss *handle;
} lcase;

enum { L_CE, L_BCE, L_INFONCE, L_NTXENT, L_TRIPLET, L_HARD, L_DICE, L_DICE_CE, L_HANDLE };

static ssl3d_status lfwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    lcase *c = u;
    switch (c->kind) {
    case L_CE: return ssl3d_cross_entropy(ctx, c->a, c->lab, out);
    case L_BCE: return ssl3d_bce_with_logits(ctx, c->a, c->lab, out);
    case L_INFONCE: return ssl3d_infonce(ctx, c->a, c->b, c->lab, c->param, out);
    case L_NTXENT: return ssl3d_ntxent(ctx, c->a, c->param, out);
    case L_TRIPLET: return ssl3d_triplet(ctx, c->a, c->b, c->c, c->param, out);
    case L_HARD: return ssl3d_triplet_batch_hard(ctx, c->a, c->param, out);
    case L_DICE: return ssl3d_soft_dice(ctx, c->a, c->lab, out);
    case L_DICE_CE: return ssl3d_dice_ce(ctx, c->a, c->lab, out);
    default: {
        ssl3d_tensor *in[2] = { c->a, c->lab };
        return ssl3d_loss_forward(ctx, c->handle, in, 2, out);
    }
    }
}

static ssl3d_tensor *labels_for(ssl3d_ctx *ctx, const int64_t *logit_shape, int ndim, int K) {
    int64_t s[SSL3D_MAX_DIMS];
    s[0] = logit_shape[0];
    int64_t n = s[0];
    for (int d = 2; d < ndim; d++) { s[d - 1] = logit_shape[d]; n *= logit_shape[d]; }
    int32_t *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (int32_t)((i * 5 + i / 3) % K);
    ssl3d_tensor *t = NULL;
    ssl3d_tensor_from_data(ctx, SSL3D_I32, ndim - 1, s, v, &t);
    free(v);
    return t;
}

/* Class-map losses (CE, Dice, Dice+CE) over flat, 2D and 3D shapes. */
TEST(loss_grad_class_maps_flat_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 11);
    REQUIRE(ctx);
    struct { int ndim; int64_t shape[5]; } cases[] = {
        { 2, { 5, 4 } },
        { 4, { 2, 3, 3, 5 } },
        { 5, { 2, 3, 3, 2, 3 } },
    };
    int kinds[3] = { L_CE, L_DICE, L_DICE_CE };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int kk = 0; kk < 3; kk++) {
            if (kinds[kk] != L_CE && cases[i].ndim == 2) continue;
            lcase c = { .kind = kinds[kk] };
            c.a = th_randn(ctx, cases[i].ndim, cases[i].shape, 1);
            c.lab = labels_for(ctx, cases[i].shape, cases[i].ndim, (int)cases[i].shape[1]);
            REQUIRE(c.a && c.lab);
            char label[64];
            snprintf(label, sizeof label, "kind %d ndim %d", kinds[kk], cases[i].ndim);
            CHECK_MSG(gradcheck(ctx, lfwd, &c, &c.a, 1, &tight, label) == 0, "%s", label);
            ssl3d_tensor_release(c.a); ssl3d_tensor_release(c.lab);
        }
    ssl3d_ctx_release(ctx);
}

TEST(loss_grad_bce_with_logits) {
    ssl3d_ctx *ctx = th_ctx(1, 12);
    REQUIRE(ctx);
    int64_t s[2] = { 4, 3 };
    float tv[12] = { 0, 1, 1, 0, 0.5f, 0.25f, 1, 1, 0, 0, 0, 1 };
    lcase c = { .kind = L_BCE };
    c.a = th_randn(ctx, 2, s, 1);
    c.lab = th_tensor(ctx, 2, s, tv);
    REQUIRE(c.a && c.lab);
    CHECK(gradcheck(ctx, lfwd, &c, &c.a, 1, &tight, "bce") == 0);
    ssl3d_tensor_release(c.a); ssl3d_tensor_release(c.lab);
    ssl3d_ctx_release(ctx);
}

TEST(loss_grad_infonce_and_ntxent) {
    ssl3d_ctx *ctx = th_ctx(2, 13);
    REQUIRE(ctx);
    int64_t sq[2] = { 3, 5 }, sk[2] = { 6, 5 }, sp[1] = { 3 };
    int32_t pv[3] = { 4, 0, 2 };
    lcase c = { .kind = L_INFONCE, .param = 0.7f };
    c.a = th_randn(ctx, 2, sq, 1);
    c.b = th_randn(ctx, 2, sk, 1);
    ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, sp, pv, &c.lab);
    REQUIRE(c.a && c.b && c.lab);
    ssl3d_tensor *wrt[2] = { c.a, c.b };
    CHECK(gradcheck(ctx, lfwd, &c, wrt, 2, &tight, "infonce") == 0);
    /* queries and keys the same tensor: both gradient paths add up */
    c.b = c.a;
    int32_t pv2[3] = { 1, 2, 1 };
    ssl3d_tensor_write(ctx, c.lab, pv2, sizeof pv2);
    CHECK(gradcheck(ctx, lfwd, &c, &c.a, 1, &tight, "infonce q==k") == 0);
    ssl3d_tensor_release(c.a); ssl3d_tensor_release(wrt[1]); ssl3d_tensor_release(c.lab);

    int64_t sz[2] = { 6, 4 };
    lcase n = { .kind = L_NTXENT, .param = 0.5f };
    n.a = th_randn(ctx, 2, sz, 1);
    REQUIRE(n.a);
    CHECK(gradcheck(ctx, lfwd, &n, &n.a, 1, &tight, "ntxent") == 0);
    ssl3d_tensor_release(n.a);
    ssl3d_ctx_release(ctx);
}

TEST(loss_grad_triplet_both_variants) {
    ssl3d_ctx *ctx = th_ctx(2, 14);
    REQUIRE(ctx);
    int64_t s[2] = { 5, 3 };
    lcase c = { .kind = L_TRIPLET, .param = 1.0f };
    c.a = th_randn(ctx, 2, s, 1);
    c.b = th_randn(ctx, 2, s, 1);
    c.c = th_randn(ctx, 2, s, 1);
    REQUIRE(c.a && c.b && c.c);
    ssl3d_tensor *wrt[3] = { c.a, c.b, c.c };
    CHECK(gradcheck(ctx, lfwd, &c, wrt, 3, &tight, "triplet") == 0);
    ssl3d_tensor_release(c.a); ssl3d_tensor_release(c.b); ssl3d_tensor_release(c.c);

    int64_t sz[2] = { 6, 3 };
    lcase h = { .kind = L_HARD, .param = 1.0f };
    h.a = th_randn(ctx, 2, sz, 1);
    REQUIRE(h.a);
    CHECK(gradcheck(ctx, lfwd, &h, &h.a, 1, &tight, "triplet batch-hard") == 0);
    ssl3d_tensor_release(h.a);
    ssl3d_ctx_release(ctx);
}

TEST(loss_grad_through_handle) {
    ssl3d_ctx *ctx = th_ctx(1, 15);
    REQUIRE(ctx);
    int64_t s[5] = { 1, 2, 2, 3, 2 };
    lcase c = { .kind = L_HANDLE };
    REQUIRE_OK(ctx, ssl3d_loss_create(ctx, SSL3D_LOSS_DICE_CE, &c.handle));
    ssl3d_loss_set_param(ctx, c.handle, SSL3D_LOSS_PARAM_DICE_WEIGHT, 0.3f);
    c.a = th_randn(ctx, 5, s, 1);
    c.lab = labels_for(ctx, s, 5, 2);
    REQUIRE(c.a && c.lab);
    CHECK(gradcheck(ctx, lfwd, &c, &c.a, 1, &tight, "handle dice_ce") == 0);
    ssl3d_tensor_release(c.a); ssl3d_tensor_release(c.lab);
    ssl3d_loss_release(c.handle);
    ssl3d_ctx_release(ctx);
}
