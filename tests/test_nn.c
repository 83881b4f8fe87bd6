/* Modules: encoder/decoder/MLP shapes, names, gradients through a whole U-Net. */
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

typedef struct { int32_t dims, cin, f, levels, norm; int64_t n, s[3]; } enc_case;

TEST(encoder_shapes_table) {
    const enc_case cases[] = {
        { 3, 1, 4, 2, SSL3D_NORM_BATCH, 2, { 8, 12, 8 } },
        { 3, 2, 2, 3, SSL3D_NORM_GROUP, 1, { 8, 8, 16 } },
        { 2, 3, 4, 2, SSL3D_NORM_INSTANCE, 2, { 12, 8, 0 } },
        { 2, 1, 2, 1, SSL3D_NORM_NONE, 3, { 6, 10, 0 } },
    };
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const enc_case *k = &cases[c];
        ssl3d_module *enc = NULL;
        REQUIRE_OK(ctx, ssl3d_encoder_create(ctx, k->dims, k->cin, k->f, k->levels, k->norm, &enc));
        CHECK(ssl3d_encoder_out_channels(enc) == 2 * (k->f << (k->levels - 1)));
        int64_t shape[5] = { k->n, k->cin, k->s[0], k->s[1], k->s[2] };
        ssl3d_tensor *x = th_randn(ctx, 2 + k->dims, shape, 0), *b = NULL, *skips[8] = { 0 };
        REQUIRE(x);
        REQUIRE_OK(ctx, ssl3d_encoder_forward(ctx, enc, x, 1, &b, skips));
        CHECK(ssl3d_tensor_dim(b, 1) == ssl3d_encoder_out_channels(enc));
        for (int i = 0; i < k->dims; i++) CHECK(ssl3d_tensor_dim(b, 2 + i) == k->s[i] >> k->levels);
        for (int l = 0; l < k->levels; l++) {
            CHECK(ssl3d_tensor_dim(skips[l], 1) == k->f << l);
            CHECK(ssl3d_tensor_dim(skips[l], 2) == k->s[0] >> l);
        }
        ssl3d_module *dec = NULL;
        REQUIRE_OK(ctx, ssl3d_decoder_create(ctx, enc, 3, &dec));
        ssl3d_tensor *logits = NULL;
        REQUIRE_OK(ctx, ssl3d_decoder_forward(ctx, dec, b, skips, 1, &logits));
        CHECK(ssl3d_tensor_dim(logits, 1) == 3);
        for (int i = 0; i < k->dims; i++) CHECK(ssl3d_tensor_dim(logits, 2 + i) == k->s[i]);
        ssl3d_tape_reset(ctx);
        for (int l = 0; l < k->levels; l++) ssl3d_tensor_release(skips[l]);
        ssl3d_tensor_release(logits); ssl3d_tensor_release(b); ssl3d_tensor_release(x);
        ssl3d_module_release(dec); ssl3d_module_release(enc);
    }
    ssl3d_ctx_release(ctx);
}

TEST(encoder_tensor_names_and_counts) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    ssl3d_module *enc = NULL;
    REQUIRE_OK(ctx, ssl3d_encoder_create(ctx, 3, 1, 16, 4, SSL3D_NORM_BATCH, &enc));
    /* 5 blocks x (2 convs x 2 + 2 norms x 4) */
    CHECK(ssl3d_module_tensor_count(enc) == 5 * 12);
    CHECK(!strcmp(ssl3d_module_tensor_name(enc, 0), "down0.conv1.weight"));
    CHECK(!strcmp(ssl3d_module_tensor_name(enc, 5), "down0.norm1.running_var"));
    CHECK(ssl3d_module_tensor_trainable(enc, 5) == 0);
    CHECK(ssl3d_module_tensor_trainable(enc, 0) == 1);
    /* Parameter count equals the PyTorch UNetEncoder(1,16,4,3) of torch_ref.py. */
    int64_t expect = 0;
    int32_t c = 1;
    for (int l = 0; l <= 4; l++) {
        int32_t o = l < 4 ? 16 << l : 2 * c;
        expect += (int64_t)o * c * 27 + o + (int64_t)o * o * 27 + o + 4 * o;
        c = o;
    }
    CHECK(ssl3d_module_param_numel(enc) == expect);
    int32_t n = 0;
    CHECK_OK(ctx, ssl3d_module_params(ctx, enc, NULL, 0, &n));
    CHECK(n == 5 * 8);
    CHECK(ssl3d_module_tensor(enc, 999) == NULL);
    CHECK(!strcmp(ssl3d_module_tensor_name(NULL, 0), ""));
    ssl3d_module *bad = (ssl3d_module *)0x1;
    CHECK_ST(ctx, ssl3d_encoder_create(ctx, 4, 1, 16, 4, SSL3D_NORM_BATCH, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_encoder_create(ctx, 3, 1, 16, 0, SSL3D_NORM_BATCH, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK(bad == (ssl3d_module *)0x1);
    int64_t wrong[5] = { 1, 2, 16, 16, 16 };
    ssl3d_tensor *x = th_randn(ctx, 5, wrong, 0), *b = NULL;
    CHECK_ST(ctx, ssl3d_encoder_forward(ctx, enc, x, 1, &b, NULL), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "(1,2,16,16,16)") != NULL);
    ssl3d_tensor_release(x);
    ssl3d_module_release(enc);
    ssl3d_module_release(NULL);
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_module *enc, *dec; ssl3d_tensor *x; int32_t training; } unet_case;

static ssl3d_status unet_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    unet_case *c = u;
    ssl3d_tensor *b = NULL, *skips[4] = { 0 };
    ssl3d_status st = ssl3d_encoder_forward(ctx, c->enc, c->x, c->training, &b, skips);
    if (st == SSL3D_OK) st = ssl3d_decoder_forward(ctx, c->dec, b, skips, c->training, out);
    ssl3d_tensor_release(b);
    for (int l = 0; l < 4; l++) ssl3d_tensor_release(skips[l]);
    return st;
}

/* Gradients of input and every parameter through encoder + decoder with skips. Group norm
 * keeps the function identical between calls (batch norm's running stats would move). */
TEST(unet_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        unet_case c = { 0 };
        REQUIRE_OK(ctx, ssl3d_encoder_create(ctx, dims, 2, 2, 2, dims == 3 ? SSL3D_NORM_BATCH : SSL3D_NORM_GROUP, &c.enc));
        REQUIRE_OK(ctx, ssl3d_decoder_create(ctx, c.enc, 2, &c.dec));
        int64_t shape[5] = { 2, 2, 8, 8, 8 };  /* bottleneck 2^dims: no degenerate 1-value groups */
        c.x = th_randn(ctx, 2 + dims, shape, 1);
        c.training = 1;
        ssl3d_tensor *wrt[64];
        int nw = 0;
        wrt[nw++] = c.x;
        for (int32_t i = 0; i < ssl3d_module_tensor_count(c.enc); i++) wrt[nw++] = ssl3d_module_tensor(c.enc, i);
        for (int32_t i = 0; i < ssl3d_module_tensor_count(c.dec) && nw < 64; i++) wrt[nw++] = ssl3d_module_tensor(c.dec, i);
        /* Each layer has exact element-wise checks in its op tests. Through the whole network
         * float32 rounding (~1e-5 of L) and ReLU/max-pool kinks limit finite differences, so
         * here each tensor gets a directional derivative (small eps, 5% tolerance): enough to
         * catch a dropped path (skip connections, shared weights) or a wrong sign. */
        for (int t = 0; t < nw; t++)
            CHECK_MSG(gradcheck_directional(ctx, unet_fwd, &c, &wrt[t], 1, 2, 3e-4, 0.05, 0.03,
                                            dims == 2 ? "unet2d" : "unet3d") == 0, "tensor %d", t);
        ssl3d_tensor_release(c.x);
        ssl3d_module_release(c.dec); ssl3d_module_release(c.enc);
    }
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_module *mlp; ssl3d_tensor *x; } mlp_case;
static ssl3d_status mlp_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    mlp_case *c = u;
    return ssl3d_mlp_forward(ctx, c->mlp, c->x, out);
}

TEST(mlp_gradcheck_and_shapes) {
    ssl3d_ctx *ctx = th_ctx(1, 2);
    REQUIRE(ctx);
    for (int hidden = 0; hidden <= 7; hidden += 7) {
        mlp_case c = { 0 };
        REQUIRE_OK(ctx, ssl3d_mlp_create(ctx, 5, hidden, 3, &c.mlp));
        int64_t shape[2] = { 4, 5 };
        c.x = th_randn(ctx, 2, shape, 1);
        ssl3d_tensor *wrt[5] = { c.x };
        int nw = 1;
        for (int32_t i = 0; i < ssl3d_module_tensor_count(c.mlp); i++) wrt[nw++] = ssl3d_module_tensor(c.mlp, i);
        CHECK(gradcheck(ctx, mlp_fwd, &c, wrt, nw, NULL, "mlp") == 0);
        CHECK(ssl3d_mlp_out_features(c.mlp) == 3);
        ssl3d_tensor_release(c.x);
        ssl3d_module_release(c.mlp);
    }
    ssl3d_ctx_release(ctx);
}

/* One encoder applied to two batches in one step: parameter gradients are the sum. */
typedef struct { ssl3d_module *enc; ssl3d_tensor *a, *b; } shared_case;
static ssl3d_status shared_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    shared_case *c = u;
    ssl3d_tensor *ya = NULL, *yb = NULL, *pa = NULL, *pb = NULL, *parts[2];
    ssl3d_status st = ssl3d_encoder_forward(ctx, c->enc, c->a, 1, &ya, NULL);
    if (st == SSL3D_OK) st = ssl3d_encoder_forward(ctx, c->enc, c->b, 1, &yb, NULL);
    if (st == SSL3D_OK) st = ssl3d_global_avgpool(ctx, ya, &pa);
    if (st == SSL3D_OK) st = ssl3d_global_avgpool(ctx, yb, &pb);
    parts[0] = pa; parts[1] = pb;
    if (st == SSL3D_OK) st = ssl3d_concat(ctx, parts, 2, 1, out);
    ssl3d_tensor_release(ya); ssl3d_tensor_release(yb); ssl3d_tensor_release(pa); ssl3d_tensor_release(pb);
    return st;
}

TEST(shared_encoder_weights_accumulate) {
    ssl3d_ctx *ctx = th_ctx(2, 9);
    REQUIRE(ctx);
    shared_case c = { 0 };
    REQUIRE_OK(ctx, ssl3d_encoder_create(ctx, 3, 1, 2, 1, SSL3D_NORM_INSTANCE, &c.enc));
    int64_t shape[5] = { 1, 1, 4, 4, 4 };
    c.a = th_randn(ctx, 5, shape, 0);
    c.b = th_randn(ctx, 5, shape, 0);
    ssl3d_tensor *wrt[32];
    int nw = 0;
    for (int32_t i = 0; i < ssl3d_module_tensor_count(c.enc); i++) wrt[nw++] = ssl3d_module_tensor(c.enc, i);
    gc_opts o = { 1e-3, 5e-3, 5e-2, 8 };
    CHECK(gradcheck(ctx, shared_fwd, &c, wrt, nw, &o, "shared") == 0);
    ssl3d_tensor_release(c.a); ssl3d_tensor_release(c.b);
    ssl3d_module_release(c.enc);
    ssl3d_ctx_release(ctx);
}
