/* Deep supervision of segmentation fine-tuning (src/finetune/finetune_deepsup.c): output
 * weights, label subsampling against hand-computed cases, output shapes in 2D and 3D,
 * finite-difference gradients of the deep-supervised loss (heads, features, logits, and the
 * whole network through its input), the full-resolution output untouched by the heads,
 * the option off changing nothing, model files without heads, and resume equality. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "finetune_fixture.h"
#include "../src/finetune/finetune_deepsup.h"
#include "../src/nn/deepsup.h"

TEST(finetune_deepsup_weights_and_outputs) {
    double w[8];
    ft_ds_weights(3, w);
    CHECK_NEAR(w[0], 4.0 / 7, 1e-15);
    CHECK_NEAR(w[1], 2.0 / 7, 1e-15);
    CHECK_NEAR(w[2], 1.0 / 7, 1e-15);
    ft_ds_weights(2, w);
    CHECK_NEAR(w[0], 2.0 / 3, 1e-15);
    CHECK_NEAR(w[1], 1.0 / 3, 1e-15);
    ft_ds_weights(1, w);
    CHECK_NEAR(w[0], 1.0, 0);
    /* nnU-Net: every decoder output but the lowest (level L-1) */
    CHECK(ft_ds_outputs(3) == 2 && ft_ds_outputs(4) == 3 && ft_ds_outputs(5) == 4);
    CHECK(ft_ds_outputs(2) == 0 && ft_ds_outputs(1) == 0);
}

TEST(finetune_deepsup_label_subsampling_by_hand) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    /* 3D: (2, 4, 4, 4), value = linear index; f = 2 keeps (d, h, w) in {0, 2}^3 */
    int32_t v[128];
    for (int i = 0; i < 128; i++) v[i] = i;
    int64_t s3[4] = { 2, 4, 4, 4 };
    ssl3d_tensor *y = NULL, *o = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 4, s3, v, &y));
    REQUIRE_OK(ctx, ft_ds_labels(ctx, y, 2, &o));
    const int32_t want2[16] = { 0, 2, 8, 10, 32, 34, 40, 42, 64, 66, 72, 74, 96, 98, 104, 106 };
    CHECK(o->ndim == 4 && o->shape[0] == 2 && o->shape[1] == 2 && o->shape[2] == 2 && o->shape[3] == 2);
    CHECK(memcmp(ssl3d_tensor_host_data(o), want2, sizeof want2) == 0);
    ssl3d_tensor_release(o);
    REQUIRE_OK(ctx, ft_ds_labels(ctx, y, 4, &o));
    const int32_t want4[2] = { 0, 64 };
    CHECK(o->numel == 2 && memcmp(ssl3d_tensor_host_data(o), want4, sizeof want4) == 0);
    ssl3d_tensor_release(o);
    ssl3d_tensor_release(y);
    /* 2D: (1, 4, 6), f = 2 keeps rows {0, 2}, columns {0, 2, 4} */
    int64_t s2[3] = { 1, 4, 6 };
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, s2, v, &y));
    REQUIRE_OK(ctx, ft_ds_labels(ctx, y, 2, &o));
    const int32_t want2d[6] = { 0, 2, 4, 12, 14, 16 };
    CHECK(o->ndim == 3 && o->shape[1] == 2 && o->shape[2] == 3);
    CHECK(memcmp(ssl3d_tensor_host_data(o), want2d, sizeof want2d) == 0);
    ssl3d_tensor_release(o);
    /* 6 is not a multiple of 4: refused, data intact */
    CHECK_ST(ctx, ft_ds_labels(ctx, y, 4, &o), SSL3D_ERR_SHAPE);
    CHECK(((int32_t *)ssl3d_tensor_host_data(y))[23] == 23);
    ssl3d_tensor_release(y);
    ssl3d_ctx_release(ctx);
}

/* Outputs at 1, 1/2, 1/4 for 4 levels; the full-resolution output is bitwise the plain
 * forward (the heads only read the decoder's features). */
TEST(finetune_deepsup_shapes_2d_3d_and_main_output_unchanged) {
    ssl3d_ctx *ctx = th_ctx(2, 3);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_ftmodel *m = NULL;
        REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, dims, 1, 3, 2, 4, SSL3D_NORM_INSTANCE, 0, 0, &m));
        REQUIRE_OK(ctx, ft_ds_create(ctx, m));
        int64_t xs[5] = { 2, 1, 16, 16, 16 };
        ssl3d_tensor *x = th_randn(ctx, dims + 2, xs, 0), *outs[3] = { 0 }, *plain = NULL;
        REQUIRE_OK(ctx, ft_ds_forward(ctx, m, x, 0, 0, outs));
        for (int l = 0; l < 3; l++) {
            CHECK(outs[l]->ndim == dims + 2 && outs[l]->shape[0] == 2 && outs[l]->shape[1] == 3);
            for (int a = 2; a < dims + 2; a++) CHECK_MSG(outs[l]->shape[a] == 16 >> l, "dims %d out %d", dims, l);
        }
        REQUIRE_OK(ctx, ssl3d_ftmodel_forward(ctx, m, x, 0, 0, &plain));
        CHECK(th_tensors_identical(ctx, plain, outs[0]));
        /* heads ds1, ds2: weights (K, filters(l), 1...) and biases */
        ssl3d_module *aux = m->aux;
        CHECK(ssl3d_module_tensor_count(aux) == 4);
        CHECK(!strcmp(ssl3d_module_tensor_name(aux, 0), "ds1.weight") && ssl3d_module_tensor(aux, 0)->shape[1] == 4);
        CHECK(!strcmp(ssl3d_module_tensor_name(aux, 3), "ds2.bias") && ssl3d_module_tensor(aux, 3)->numel == 3);
        for (int l = 0; l < 3; l++) ssl3d_tensor_release(outs[l]);
        ssl3d_tensor_release(plain); ssl3d_tensor_release(x);
        ssl3d_ftmodel_release(m);
    }
    /* classification and levels < 3 refused */
    ssl3d_ftmodel *m = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 3, 2, 2, SSL3D_NORM_INSTANCE, 0, 0, &m));
    CHECK_ST(ctx, ft_ds_create(ctx, m), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "levels >= 3") && !m->aux);
    ssl3d_ftmodel_release(m);
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 3, 1, 3, 2, 3, SSL3D_NORM_INSTANCE, 4, 0, &m));
    CHECK_ST(ctx, ft_ds_create(ctx, m), SSL3D_ERR_INVALID_ARG);
    ssl3d_ftmodel_release(m);
    ssl3d_ctx_release(ctx);
}

/* The deep-supervised loss on given main logits and level-1/level-2 features. */
typedef struct {
    ssl3d_ftmodel *m;
    ssl3d_tensor *main, *f1, *f2, *x;
    ssl3d_tensor *lab[3];
    double w[3];
} dscase;

static ssl3d_status ds_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    dscase *c = u;
    ssl3d_tensor *outs[3] = { c->main, NULL, NULL };
    ssl3d_status st = nn_ds_head_forward(ctx, c->m->aux, 1, c->f1, &outs[1]);
    if (st == SSL3D_OK) st = nn_ds_head_forward(ctx, c->m->aux, 2, c->f2, &outs[2]);
    if (st == SSL3D_OK) st = ft_ds_loss(ctx, 3, outs, c->lab, c->w, out);
    ssl3d_tensor_release(outs[1]); ssl3d_tensor_release(outs[2]);
    return st;
}

/* The whole network: x -> ft_ds_forward -> loss. */
static ssl3d_status ds_net_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    dscase *c = u;
    ssl3d_tensor *outs[3] = { 0 };
    ssl3d_status st = ft_ds_forward(ctx, c->m, c->x, 1, 1, outs);
    if (st == SSL3D_OK) st = ft_ds_loss(ctx, 3, outs, c->lab, c->w, out);
    for (int l = 0; l < 3; l++) ssl3d_tensor_release(outs[l]);
    return st;
}

static ssl3d_tensor *labels_of(ssl3d_ctx *ctx, int dims, int64_t n, int64_t side, int K, int salt) {
    int64_t s[4] = { n, side, side, side }, cnt = n * side * side * (dims == 3 ? side : 1);
    int32_t *v = malloc((size_t)cnt * sizeof *v);
    for (int64_t i = 0; i < cnt; i++) v[i] = (int32_t)((i * 7 + i / 5 + salt) % K);
    ssl3d_tensor *t = NULL;
    ssl3d_tensor_from_data(ctx, SSL3D_I32, dims + 1, s, v, &t);
    free(v);
    return t;
}

TEST(finetune_deepsup_loss_gradients_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    const gc_opts tight = { 1e-2, 2e-5, 2e-2, 48 };
    for (int dims = 2; dims <= 3; dims++) {
        dscase c = { 0 };
        const int K = 3, side = 8;
        REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, dims, 1, K, 2, 4, SSL3D_NORM_NONE, 0, 0, &c.m));
        REQUIRE_OK(ctx, ft_ds_create(ctx, c.m));
        ft_ds_weights(3, c.w);
        int64_t ms[5] = { 2, K, side, side, side }, f1s[5] = { 2, 4, side / 2, side / 2, side / 2 },
                f2s[5] = { 2, 8, side / 4, side / 4, side / 4 };
        c.main = th_randn(ctx, dims + 2, ms, 1);
        c.f1 = th_randn(ctx, dims + 2, f1s, 1);
        c.f2 = th_randn(ctx, dims + 2, f2s, 1);
        for (int l = 0; l < 3; l++) c.lab[l] = labels_of(ctx, dims, 2, side >> l, K, l);
        ssl3d_tensor *wrt[7] = { c.main, c.f1, c.f2 };
        for (int i = 0; i < 4; i++) wrt[3 + i] = ssl3d_module_tensor(c.m->aux, i);
        char label[64];
        snprintf(label, sizeof label, "deep-supervised loss %dD", dims);
        CHECK_MSG(gradcheck(ctx, ds_fwd, &c, wrt, 7, &tight, label) == 0, "%s", label);
        /* Through the whole network from its input (features at every level), directional. */
        int64_t xs[5] = { 2, 1, 16, 16, 16 };
        c.x = th_randn(ctx, dims + 2, xs, 1);
        for (int l = 0; l < 3; l++) { ssl3d_tensor_release(c.lab[l]); c.lab[l] = labels_of(ctx, dims, 2, 16 >> l, K, l); }
        snprintf(label, sizeof label, "deep-supervised network %dD", dims);
        ssl3d_tensor *wx[5] = { c.x, ssl3d_module_tensor(c.m->aux, 0), ssl3d_module_tensor(c.m->aux, 1),
                                ssl3d_module_tensor(c.m->aux, 2), ssl3d_module_tensor(c.m->aux, 3) };
        CHECK_MSG(gradcheck_directional(ctx, ds_net_fwd, &c, wx, 5, 4, 1e-2, 3e-2, 1e-5, label) == 0, "%s", label);
        for (int l = 0; l < 3; l++) ssl3d_tensor_release(c.lab[l]);
        ssl3d_tensor_release(c.main); ssl3d_tensor_release(c.f1); ssl3d_tensor_release(c.f2);
        ssl3d_tensor_release(c.x);
        ssl3d_ftmodel_release(c.m);
    }
    ssl3d_ctx_release(ctx);
}

/* Off (absent or 0): the same losses and weights; on: other losses, the model file holds
 * the encoder and decoder only (loadable as any model file), the heads are gone. */
TEST(finetune_deepsup_off_unchanged_on_trains_and_saves_plain_model) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    ssl3d_manifest *man = tf_seg_manifest(ctx, 6, 3);
    REQUIRE(man);
    const char *base = "epochs=2,batch=2,patch=8,val_fraction=0.34,seed=2,steps_per_epoch=2";
    const char *variants[3] = { "", ",deep_supervision=0", ",deep_supervision=1" };
    ssl3d_ftmodel *m[3] = { 0 };
    tf_log lg[3] = { { 0 } };
    char opts[512];
    for (int v = 0; v < 3; v++) {
        ssl3d_ctx_set_seed(ctx, 11);
        m[v] = tf_seg_model(ctx, 3, 3, 2, 3, SSL3D_NORM_INSTANCE);
        REQUIRE(m[v]);
        snprintf(opts, sizeof opts, "%s%s", base, variants[v]);
        REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m[v], man, NULL, 0, opts, tf_log_cb, &lg[v]));
        CHECK(m[v]->aux == NULL);
    }
    REQUIRE(lg[0].n == 2 && lg[1].n == 2 && lg[2].n == 2);
    char a[64], b[64], c[64];
    for (int e = 0; e < 2; e++) {
        tf_loss_text(lg[0].lines[e], a, sizeof a);
        tf_loss_text(lg[1].lines[e], b, sizeof b);
        tf_loss_text(lg[2].lines[e], c, sizeof c);
        CHECK_MSG(a[0] && !strcmp(a, b), "epoch %d: loss %s without the option, %s with deep_supervision=0", e + 1, a, b);
        CHECK_MSG(c[0] && strcmp(a, c), "epoch %d: deep_supervision=1 gave the same loss %s", e + 1, c);
    }
    CHECK(tf_same_weights(m[0], m[1]));
    CHECK(!tf_same_weights(m[0], m[2]));
    /* The saved model: no head tensors, the same names as without deep supervision. */
    ssl3d_checkpoint *ck = NULL, *ck0 = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck0));
    REQUIRE_OK(ctx, ssl3d_ftmodel_save(ctx, m[2], ck));
    REQUIRE_OK(ctx, ssl3d_ftmodel_save(ctx, m[0], ck0));
    CHECK(ssl3d_checkpoint_tensor_count(ck) == ssl3d_checkpoint_tensor_count(ck0));
    CHECK(ssl3d_checkpoint_tensor_info(ctx, ck, "ds1.weight", NULL, NULL, NULL, 0) == SSL3D_ERR_NOT_FOUND);
    ssl3d_ctx_clear_error(ctx);
    ssl3d_ftmodel *back = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create_from_checkpoint(ctx, ck, &back));
    CHECK(tf_same_weights(back, m[2]));
    ssl3d_ftmodel_release(back);
    ssl3d_checkpoint_release(ck); ssl3d_checkpoint_release(ck0);
    for (int v = 0; v < 3; v++) ssl3d_ftmodel_release(m[v]);
    /* bad values named */
    m[0] = tf_seg_model(ctx, 3, 3, 2, 3, SSL3D_NORM_INSTANCE);
    REQUIRE(m[0]);
    snprintf(opts, sizeof opts, "%s,deep_supervision=2", base);
    CHECK_ST(ctx, ssl3d_ft_train(ctx, m[0], man, NULL, 0, opts, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "deep_supervision"));
    ssl3d_ftmodel_release(m[0]);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

/* A run stopped after 2 of 4 epochs and continued from its resume file (heads included)
 * gives the uninterrupted run's losses and weights, bit for bit; heads initialised
 * differently on the second start must come from the file. */
TEST(finetune_deepsup_resume_continues_bitwise) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    ssl3d_manifest *man = tf_seg_manifest(ctx, 6, 4);
    REQUIRE(man);
    const char *opts = "epochs=4,batch=2,patch=8,val_fraction=0.34,seed=2,steps_per_epoch=2,deep_supervision=1";
    tf_resumed r;
    REQUIRE(tf_run_resumed(ctx, man, 2, 3, opts, 2, &r));
    tf_check_resumed(&r, 4);
    /* the resume file (written last by the resumed run) holds the heads */
    ssl3d_checkpoint *ck = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, r.state, &ck));
    CHECK(ssl3d_checkpoint_tensor_info(ctx, ck, "aux.0", NULL, NULL, NULL, 0) == SSL3D_OK);
    CHECK(ssl3d_checkpoint_tensor_info(ctx, ck, "aux.1", NULL, NULL, NULL, 0) == SSL3D_OK);
    ssl3d_checkpoint_release(ck);
    /* a state written without deep supervision is refused by a run with it, and back */
    tf_check_resume_refused(ctx, &r, man, "epochs=4,batch=2,patch=8,val_fraction=0.34,seed=2,steps_per_epoch=2");
    ssl3d_ftmodel_release(r.whole); ssl3d_ftmodel_release(r.resumed);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}
