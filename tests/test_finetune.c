/* Fine-tuning: model construction and files, losses, nested subsets, case selection,
 * metrics on hand-computed cases, whole-volume / sliding-window / slice-wise inference,
 * training in scratch / frozen / warm-up modes on tiny generated data, evaluation and
 * predictions in the source geometry, API misuse. */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "finetune_fixture.h"
#include "../src/finetune/finetune_internal.h"

/* ---------------------------------------------------------------- subsets and cases */

TEST(finetune_subsets_are_nested) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    const double fr[5] = { 0.05, 0.1, 0.25, 0.5, 1.0 };
    for (uint64_t seed = 0; seed < 3; seed++) {
        int64_t prev[200], nprev = 0;
        for (int f = 0; f < 5; f++) {
            int64_t idx[200], k = 0;
            REQUIRE_OK(ctx, ssl3d_subset_indices(ctx, 150, seed, fr[f], idx, 200, &k));
            CHECK(k == (int64_t)llround(fr[f] * 150));
            for (int64_t i = 1; i < k; i++) CHECK(idx[i] > idx[i - 1]);  /* sorted, distinct */
            for (int64_t i = 0; i < nprev; i++) {                         /* nested */
                int found = 0;
                for (int64_t j = 0; j < k; j++) found |= idx[j] == prev[i];
                CHECK_MSG(found, "seed %d: case %lld of fraction %g missing at %g", (int)seed, (long long)prev[i],
                          fr[f - 1], fr[f]);
            }
            memcpy(prev, idx, (size_t)k * sizeof *idx);
            nprev = k;
        }
    }
    /* Deterministic; different seeds differ; at least one case. */
    int64_t a[20], b[20], c[20], ka, kb, kc;
    REQUIRE_OK(ctx, ssl3d_subset_indices(ctx, 100, 7, 0.1, a, 20, &ka));
    REQUIRE_OK(ctx, ssl3d_subset_indices(ctx, 100, 7, 0.1, b, 20, &kb));
    REQUIRE_OK(ctx, ssl3d_subset_indices(ctx, 100, 8, 0.1, c, 20, &kc));
    CHECK(ka == kb && !memcmp(a, b, sizeof(int64_t) * (size_t)ka));
    CHECK(memcmp(a, c, sizeof(int64_t) * (size_t)ka) != 0);
    REQUIRE_OK(ctx, ssl3d_subset_indices(ctx, 10, 0, 0.01, a, 20, &ka));
    CHECK(ka == 1);
    CHECK_ST(ctx, ssl3d_subset_indices(ctx, 10, 0, 0.0, a, 20, &ka), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_subset_indices(ctx, 10, 0, 1.5, a, 20, &ka), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "fraction") != NULL);
    ssl3d_ctx_release(ctx);
}

TEST(finetune_select_cases) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_manifest *man = tf_cls_manifest(ctx, 8, 2, 4, 2, 3, 1);
    REQUIRE(man);
    int64_t idx[16], n = 0;
    REQUIRE_OK(ctx, ssl3d_ft_select_cases(ctx, man, SSL3D_SPLIT_TEST, NULL, idx, 16, &n));
    CHECK(n == 3 && idx[0] == 6 && idx[2] == 8);
    REQUIRE_OK(ctx, ssl3d_ft_select_cases(ctx, man, SSL3D_SPLIT_VAL, NULL, idx, 16, &n));
    CHECK(n == 2 && idx[0] == 4);
    REQUIRE_OK(ctx, ssl3d_ft_select_cases(ctx, man, -1, NULL, NULL, 0, &n));
    CHECK(n == 9);
    /* A case list: index, file name, comment, blank line. */
    char lp[512];
    snprintf(lp, sizeof lp, "%s/cases.txt", th_tmpdir());
    FILE *f = fopen(lp, "w");
    fprintf(f, "# two cases\n3\n\nimg_005.png\n");
    fclose(f);
    REQUIRE_OK(ctx, ssl3d_ft_select_cases(ctx, man, -1, lp, idx, 16, &n));
    CHECK(n == 2 && idx[0] == 3 && idx[1] == 5);
    f = fopen(lp, "w");
    fprintf(f, "img_001.png\nnope.png\n");
    fclose(f);
    CHECK_ST(ctx, ssl3d_ft_select_cases(ctx, man, -1, lp, idx, 16, &n), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "cases.txt:2") && strstr(ssl3d_ctx_last_error(ctx), "nope.png"));
    CHECK_ST(ctx, ssl3d_ft_select_cases(ctx, man, -1, "/nonexistent/list", idx, 16, &n), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "/nonexistent/list") != NULL);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- model */

TEST(finetune_model_shapes_and_loss) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    ssl3d_ftmodel *m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    CHECK(ssl3d_ftmodel_outputs(m) == 3 && ssl3d_ftmodel_levels(m) == 2 && ssl3d_ftmodel_filters(m) == 4);
    int64_t xs[5] = { 2, 1, 8, 12, 8 };
    ssl3d_tensor *x = th_randn(ctx, 5, xs, 0), *lg = NULL, *loss = NULL, *y = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_forward(ctx, m, x, 1, 1, &lg));
    CHECK(ssl3d_tensor_ndim(lg) == 5 && ssl3d_tensor_dim(lg, 1) == 3 && ssl3d_tensor_dim(lg, 3) == 12);
    int64_t ys[4] = { 2, 8, 12, 8 };
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 4, ys, &y));
    REQUIRE_OK(ctx, ssl3d_ftmodel_loss(ctx, m, lg, y, &loss));
    float lv;
    REQUIRE_OK(ctx, ssl3d_tensor_read(ctx, loss, &lv, 4));
    CHECK(lv > 0 && isfinite(lv));
    REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
    /* Sizes not a multiple of 2^levels are refused with a shape error. */
    int64_t bad[5] = { 1, 1, 6, 8, 8 };
    ssl3d_tensor *xb = th_randn(ctx, 5, bad, 0), *o = NULL;
    CHECK_ST(ctx, ssl3d_ftmodel_forward(ctx, m, xb, 0, 0, &o), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "2^levels") != NULL);
    ssl3d_tensor_release(xb); ssl3d_tensor_release(x); ssl3d_tensor_release(lg); ssl3d_tensor_release(loss);
    ssl3d_tensor_release(y);
    ssl3d_ftmodel_release(m);

    /* Ordinal classifier: K-1 outputs, BCE against [y>0, y>1]. */
    ssl3d_ftmodel *c = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 2, 3, 3, 4, 2, SSL3D_NORM_BATCH, 8, 1, &c));
    CHECK(ssl3d_ftmodel_outputs(c) == 2);
    int64_t cs[4] = { 3, 3, 12, 12 };
    x = th_randn(ctx, 4, cs, 0);
    REQUIRE_OK(ctx, ssl3d_ftmodel_forward(ctx, c, x, 1, 1, &lg));
    CHECK(ssl3d_tensor_ndim(lg) == 2 && ssl3d_tensor_dim(lg, 1) == 2);
    int32_t lab[3] = { 0, 1, 2 };
    int64_t ls[1] = { 3 };
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, ls, lab, &y));
    REQUIRE_OK(ctx, ssl3d_ftmodel_loss(ctx, c, lg, y, &loss));
    /* Reference: mean over 6 entries of BCE(logit, target), targets (0,0),(1,0),(1,1). */
    float l6[6], t6[6] = { 0, 0, 1, 0, 1, 1 };
    REQUIRE_OK(ctx, ssl3d_tensor_read(ctx, lg, l6, sizeof l6));
    double ref = 0;
    for (int i = 0; i < 6; i++) ref += fmax(l6[i], 0) - l6[i] * t6[i] + log1p(exp(-fabs(l6[i])));
    REQUIRE_OK(ctx, ssl3d_tensor_read(ctx, loss, &lv, 4));
    CHECK_NEAR(lv, ref / 6, 1e-5);
    ssl3d_tensor *probs = NULL, *pred = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_classify(ctx, c, x, &probs, &pred));
    const float *pv = ssl3d_tensor_host_data(probs);
    const int32_t *gv = ssl3d_tensor_host_data(pred);
    ssl3d_tensor *le = NULL;   /* classify runs in evaluation mode */
    REQUIRE_OK(ctx, ssl3d_ftmodel_forward(ctx, c, x, 0, 0, &le));
    REQUIRE_OK(ctx, ssl3d_tensor_read(ctx, le, l6, sizeof l6));
    ssl3d_tensor_release(le);
    for (int n = 0; n < 3; n++) {
        /* s_j = sigmoid(logit_j); scores 1-s0, max(0, s0-s1), s1; grade = #(s_j > 0.5) */
        double s0 = 1 / (1 + exp(-(double)l6[2 * n])), s1 = 1 / (1 + exp(-(double)l6[2 * n + 1]));
        CHECK_NEAR(pv[n * 3], 1 - s0, 1e-5);
        CHECK_NEAR(pv[n * 3 + 1], fmax(0, s0 - s1), 1e-5);
        CHECK_NEAR(pv[n * 3 + 2], s1, 1e-5);
        CHECK(gv[n] == (s0 > 0.5) + (s1 > 0.5));
    }
    int32_t bad_lab[3] = { 0, 3, 1 };
    ssl3d_tensor *yb = NULL, *lb = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, ls, bad_lab, &yb));
    CHECK_ST(ctx, ssl3d_ftmodel_loss(ctx, c, lg, yb, &lb), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(yb);
    ssl3d_tensor_release(probs); ssl3d_tensor_release(pred);
    ssl3d_tensor_release(x); ssl3d_tensor_release(lg); ssl3d_tensor_release(loss); ssl3d_tensor_release(y);
    ssl3d_ftmodel_release(c);
    ssl3d_ctx_release(ctx);
}

TEST(finetune_model_file_roundtrip_and_init) {
    ssl3d_ctx *ctx = th_ctx(2, 3);
    ssl3d_ftmodel *m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    REQUIRE_OK(ctx, ssl3d_ftmodel_set_patch(ctx, m, 8));
    REQUIRE_OK(ctx, ssl3d_ftmodel_set_input_norm(ctx, m, SSL3D_FT_NORM_MINMAX));
    ssl3d_checkpoint *ck = NULL, *ck2 = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    REQUIRE_OK(ctx, ssl3d_ftmodel_save(ctx, m, ck));
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", th_tmpdir());
    REQUIRE_OK(ctx, ssl3d_checkpoint_save(ctx, ck, path));
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, path, &ck2));
    ssl3d_ftmodel *m2 = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create_from_checkpoint(ctx, ck2, &m2));
    CHECK(ssl3d_ftmodel_patch(m2) == 8 && ssl3d_ftmodel_input_norm(m2) == SSL3D_FT_NORM_MINMAX);
    CHECK(ssl3d_ftmodel_classes(m2) == 3 && ssl3d_ftmodel_kind(m2) == SSL3D_FT_SEGMENT);
    int64_t n1, n2;
    float *a = tf_module_values(ssl3d_ftmodel_head(m), &n1), *b = tf_module_values(ssl3d_ftmodel_head(m2), &n2);
    CHECK(n1 == n2 && !memcmp(a, b, (size_t)n1 * 4));
    free(a); free(b);
    int32_t d, cin, f, l, nk;
    REQUIRE_OK(ctx, ssl3d_ftmodel_encoder_spec(ctx, ck2, &d, &cin, &f, &l, &nk));
    CHECK(d == 3 && cin == 1 && f == 4 && l == 2 && nk == SSL3D_NORM_BATCH);

    /* --init: a fresh model (other seed) takes the encoder of the file, not its decoder. */
    ssl3d_ctx_set_seed(ctx, 99);
    ssl3d_ftmodel *m3 = tf_tiny_seg(ctx, 3);
    REQUIRE(m3);
    ssl3d_tensor *w3 = ssl3d_module_tensor(ssl3d_ftmodel_encoder(m3), 0), *w1 = ssl3d_module_tensor(ssl3d_ftmodel_encoder(m), 0);
    CHECK(!th_tensors_identical(ctx, w3, w1));
    REQUIRE_OK(ctx, ssl3d_ftmodel_load_encoder(ctx, m3, ck2, NULL));
    CHECK(th_tensors_identical(ctx, w3, w1));
    ssl3d_tensor *h3 = ssl3d_module_tensor(ssl3d_ftmodel_head(m3), 0), *h1 = ssl3d_module_tensor(ssl3d_ftmodel_head(m), 0);
    CHECK(!th_tensors_identical(ctx, h3, h1));

    /* Architecture mismatch: names the tensor; missing encoder: not found. */
    ssl3d_ftmodel *big = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 3, 8, 2, SSL3D_NORM_BATCH, 0, 0, &big));
    CHECK_ST(ctx, ssl3d_ftmodel_load_encoder(ctx, big, ck2, NULL), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "encoder.down0.conv1.weight") != NULL);
    CHECK_ST(ctx, ssl3d_ftmodel_load_encoder(ctx, big, ck2, "nothing."), SSL3D_ERR_NOT_FOUND);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "nothing.down0") != NULL);
    ssl3d_checkpoint *empty = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &empty));
    CHECK_ST(ctx, ssl3d_ftmodel_encoder_spec(ctx, empty, &d, NULL, NULL, NULL, NULL), SSL3D_ERR_NOT_FOUND);
    ssl3d_ftmodel *bad = NULL;
    CHECK_ST(ctx, ssl3d_ftmodel_create_from_checkpoint(ctx, empty, &bad), SSL3D_ERR_FORMAT);
    CHECK(bad == NULL && strstr(ssl3d_ctx_last_error(ctx), "kind") != NULL);
    ssl3d_checkpoint_release(empty);
    ssl3d_ftmodel_release(big);
    ssl3d_ftmodel_release(m3);
    ssl3d_ftmodel_release(m2);
    ssl3d_checkpoint_release(ck2);
    ssl3d_checkpoint_release(ck);
    ssl3d_ftmodel_release(m);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- inference */

TEST(finetune_sliding_window_matches_whole_volume) {
    ssl3d_ctx *ctx = th_ctx(2, 4);
    ssl3d_ftmodel *m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    int64_t xs[4] = { 1, 9, 13, 7 };
    ssl3d_tensor *x = th_randn(ctx, 4, xs, 0), *pw = NULL, *lw = NULL, *ps = NULL, *ls = NULL, *p1 = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, x, 0, 0.5f, &pw, &lw));
    CHECK(ssl3d_tensor_dim(pw, 0) == 3 && ssl3d_tensor_dim(pw, 1) == 9 && ssl3d_tensor_dim(pw, 2) == 13 &&
          ssl3d_tensor_dim(pw, 3) == 7 && ssl3d_tensor_ndim(lw) == 3);
    const float *p = ssl3d_tensor_host_data(pw);
    const int32_t *l = ssl3d_tensor_host_data(lw);
    const int64_t V = 9 * 13 * 7;
    int argmax_ok = 1;
    for (int64_t v = 0; v < V; v++) {
        CHECK_NEAR(p[v] + p[V + v] + p[2 * V + v], 1.0, 1e-5);
        int best = 0;
        for (int k = 1; k < 3; k++) if (p[k * V + v] > p[best * V + v]) best = k;
        argmax_ok &= best == l[v];
    }
    CHECK(argmax_ok);
    /* A window as large as the padded volume is the whole-volume pass. */
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, x, 16, 0.5f, &p1, NULL));
    CHECK(!memcmp(ssl3d_tensor_host_data(p1), p, (size_t)(3 * V) * 4));
    /* Small overlapping windows: a valid probability map of the same size. */
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, x, 8, 0.5f, &ps, &ls));
    const float *q = ssl3d_tensor_host_data(ps);
    for (int64_t v = 0; v < V; v += 7) CHECK_NEAR(q[v] + q[V + v] + q[2 * V + v], 1.0, 1e-5);
    CHECK_ST(ctx, ssl3d_ftmodel_segment(ctx, m, x, 6, 0.5f, &ps, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_ftmodel_segment(ctx, m, x, 8, 1.0f, &ps, NULL), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(x); ssl3d_tensor_release(pw); ssl3d_tensor_release(lw); ssl3d_tensor_release(ps);
    ssl3d_tensor_release(ls); ssl3d_tensor_release(p1);
    ssl3d_ftmodel_release(m);

    /* A 2D model segments a volume slice by slice: slice d equals the 2D pass on it. */
    ssl3d_ftmodel *m2 = tf_tiny_seg(ctx, 2);
    REQUIRE(m2);
    int64_t vs[4] = { 1, 3, 10, 6 };
    x = th_randn(ctx, 4, vs, 0);
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m2, x, 0, 0.5f, &pw, NULL));
    int64_t ss[4] = { 1, 1, 10, 6 };
    ssl3d_tensor *slice = NULL, *psl = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 4, ss, (const float *)ssl3d_tensor_host_data(x) + 60, &slice));
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m2, slice, 0, 0.5f, &psl, NULL));
    const float *a = ssl3d_tensor_host_data(pw), *b = ssl3d_tensor_host_data(psl);
    double md = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 60; i++) md = fmax(md, fabs(a[k * 180 + 60 + i] - b[k * 60 + i]));
    CHECK_NEAR(md, 0.0, 1e-5);
    ssl3d_tensor_release(slice); ssl3d_tensor_release(psl); ssl3d_tensor_release(x); ssl3d_tensor_release(pw);
    ssl3d_ftmodel_release(m2);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- training */

typedef struct enc_watch {
    ssl3d_ftmodel *m;
    float *initial;
    int64_t n;
    int changed[32];
    int epochs;
    char lines[32][512];
} enc_watch;

static int32_t watch_cb(void *user, const char *json) {
    enc_watch *w = user;
    int64_t n;
    float *v = tf_module_values(ssl3d_ftmodel_encoder(w->m), &n);
    if (w->epochs < 32) {
        w->changed[w->epochs] = memcmp(v, w->initial, (size_t)n * 4) != 0;
        snprintf(w->lines[w->epochs], sizeof w->lines[0], "%s", json);
    }
    w->epochs++;
    free(v);
    return 0;
}

static double val_dice(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_manifest *man) {
    int64_t cases[3] = { 0, 1, 2 };
    ssl3d_ftresult *r = NULL;
    double d = NAN;
    if (ssl3d_ft_evaluate(ctx, m, man, cases, 3, 0, 0.5f, NULL, &r) == SSL3D_OK) ssl3d_ftresult_get(ctx, r, "dice_mean", &d);
    ssl3d_ftresult_release(r);
    return d;
}

TEST(finetune_segment_learns_and_evaluates) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    ssl3d_manifest *man = tf_seg_manifest(ctx, 10, 1);
    REQUIRE(man);
    ssl3d_ftmodel *m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    /* Pool: cases 3..9 (0..2 are held out for testing). */
    int64_t pool[7] = { 3, 4, 5, 6, 7, 8, 9 };
    REQUIRE_OK(ctx, ssl3d_ftmodel_set_patch(ctx, m, 8));
    double before = val_dice(ctx, m, man);
    enc_watch w = { .m = m };
    w.initial = tf_module_values(ssl3d_ftmodel_encoder(m), &w.n);
    REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, pool, 7,
                                   "epochs=14,batch=4,optimizer=adam,lr=0.005,schedule=constant,augment=none,"
                                   "patch=12,val_fraction=0.3,seed=3,steps_per_epoch=4",
                                   watch_cb, &w));
    double after = val_dice(ctx, m, man);
    CHECK_MSG(after > before + 0.3 && after > 0.6, "Dice before %.3f, after %.3f", before, after);
    if (getenv("TF_VERBOSE")) for (int i = 0; i < w.epochs; i++) fprintf(stderr, "%s\n", w.lines[i]);
    CHECK(w.epochs == 14 && w.changed[0]);
    CHECK(strstr(w.lines[0], "\"epoch\": 1") && strstr(w.lines[0], "\"loss\": ") && strstr(w.lines[0], "\"val_dice\": ") &&
          strstr(w.lines[0], "\"val_cases\": 2") && strstr(w.lines[0], "\"train_cases\": 5"));
    CHECK(ssl3d_ftmodel_patch(m) == 12);
    free(w.initial);

    /* Evaluation JSON and predictions in the source geometry. */
    char pd[400];
    snprintf(pd, sizeof pd, "%s/pred", th_tmpdir());
    REQUIRE(mkdir(pd, 0777) == 0);
    int64_t cases[2] = { 0, 1 };
    ssl3d_ftresult *r = NULL;
    REQUIRE_OK(ctx, ssl3d_ft_evaluate(ctx, m, man, cases, 2, -1, 0.5f, pd, &r));
    cJSON *o = cJSON_Parse(ssl3d_ftresult_json(r));
    REQUIRE(o);
    cJSON *dice = cJSON_GetObjectItem(o, "dice");
    CHECK(cJSON_IsObject(dice) && cJSON_IsNumber(cJSON_GetObjectItem(dice, "1")) &&
          cJSON_IsNumber(cJSON_GetObjectItem(dice, "2")) && !cJSON_GetObjectItem(dice, "0"));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "dice_mean")) && cJSON_IsObject(cJSON_GetObjectItem(o, "dice_sd")));
    CHECK(cJSON_GetObjectItem(o, "cases") && cJSON_GetObjectItem(o, "cases")->valuedouble == 2);
    double d1, d2, dm;
    REQUIRE_OK(ctx, ssl3d_ftresult_get(ctx, r, "dice.1", &d1));
    REQUIRE_OK(ctx, ssl3d_ftresult_get(ctx, r, "dice.2", &d2));
    REQUIRE_OK(ctx, ssl3d_ftresult_get(ctx, r, "dice_mean", &dm));
    CHECK_NEAR(dm, (d1 + d2) / 2, 1e-9);
    CHECK_ST(ctx, ssl3d_ftresult_get(ctx, r, "dice.3", &dm), SSL3D_ERR_NOT_FOUND);
    CHECK_ST(ctx, ssl3d_ftresult_get(ctx, r, "accuracy", &dm), SSL3D_ERR_NOT_FOUND);
    cJSON_Delete(o);
    ssl3d_ftresult_release(r);
    ssl3d_image *src = NULL, *pred = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_manifest_case_image(man, 1, 0), 0, &src));
    char p[512];
    snprintf(p, sizeof p, "%s/case_001.nii.gz", pd);
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &pred));
    int64_t sd1[8], sd2[8];
    double a1[16], a2[16];
    CHECK(ssl3d_image_stored_ndim(pred) == 3);
    REQUIRE_OK(ctx, ssl3d_image_stored_dims(ctx, src, sd1, 8));
    REQUIRE_OK(ctx, ssl3d_image_stored_dims(ctx, pred, sd2, 8));
    CHECK(sd2[0] == TF_NX && sd2[1] == TF_NY && sd2[2] == TF_NZ && !memcmp(sd1, sd2, 3 * sizeof *sd1));
    REQUIRE_OK(ctx, ssl3d_image_affine(ctx, src, a1));
    REQUIRE_OK(ctx, ssl3d_image_affine(ctx, pred, a2));
    for (int i = 0; i < 16; i++) CHECK_NEAR(a1[i], a2[i], 1e-4);
    /* The written mask overlays the label map: its Dice with the truth matches dice.2. */
    ssl3d_image *truth = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_manifest_case_label_path(man, 1), 0, &truth));
    const float *tv = ssl3d_image_data(truth), *pv = ssl3d_image_data(pred);
    int64_t nv = TF_NX * TF_NY * TF_NZ, agree = 0;
    for (int64_t i = 0; i < nv; i++) agree += tv[i] == pv[i];
    CHECK_MSG(agree > nv * 9 / 10, "prediction agrees with the label map on %lld of %lld voxels", (long long)agree,
              (long long)nv);
    ssl3d_image_release(truth);
    ssl3d_image_release(src);
    ssl3d_image_release(pred);
    ssl3d_ftmodel_release(m);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

TEST(finetune_frozen_and_warmup_modes) {
    ssl3d_ctx *ctx = th_ctx(2, 6);
    ssl3d_manifest *man = tf_seg_manifest(ctx, 5, 2);
    REQUIRE(man);

    /* frozen: every encoder tensor (weights and running statistics) bitwise unchanged. */
    ssl3d_ftmodel *m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    int64_t ne, nh, ne2, nh2;
    float *e0 = tf_module_values(ssl3d_ftmodel_encoder(m), &ne), *h0 = tf_module_values(ssl3d_ftmodel_head(m), &nh);
    REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, "mode=frozen,epochs=2,batch=2,patch=8,lr=0.01", NULL, NULL));
    float *e1 = tf_module_values(ssl3d_ftmodel_encoder(m), &ne2), *h1 = tf_module_values(ssl3d_ftmodel_head(m), &nh2);
    CHECK(ne == ne2 && !memcmp(e0, e1, (size_t)ne * 4));
    CHECK(memcmp(h0, h1, (size_t)nh * 4) != 0);
    /* gradients flags restored */
    CHECK(ssl3d_tensor_requires_grad(ssl3d_module_tensor(ssl3d_ftmodel_encoder(m), 0)) == 1);
    free(e0); free(e1); free(h0); free(h1);
    ssl3d_ftmodel_release(m);

    /* frozen_norm=train: weights unchanged, running statistics updated. */
    m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    ssl3d_module *enc = ssl3d_ftmodel_encoder(m);
    float w0[16], rm0[4];
    memcpy(w0, ssl3d_tensor_host_data(ssl3d_module_tensor(enc, 0)), sizeof w0);
    int32_t rmi = -1;
    for (int32_t i = 0; i < ssl3d_module_tensor_count(enc); i++)
        if (!strcmp(ssl3d_module_tensor_name(enc, i), "down0.norm1.running_mean")) rmi = i;
    REQUIRE(rmi >= 0);
    memcpy(rm0, ssl3d_tensor_host_data(ssl3d_module_tensor(enc, rmi)), sizeof rm0);
    REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0,
                                   "mode=frozen,frozen_norm=train,epochs=1,batch=2,patch=8,val_fraction=0", NULL, NULL));
    CHECK(!memcmp(w0, ssl3d_tensor_host_data(ssl3d_module_tensor(enc, 0)), sizeof w0));
    CHECK(memcmp(rm0, ssl3d_tensor_host_data(ssl3d_module_tensor(enc, rmi)), sizeof rm0) != 0);
    ssl3d_ftmodel_release(m);

    /* warmup: unchanged during the first warmup_epochs, changed after. */
    m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    enc_watch w = { .m = m };
    w.initial = tf_module_values(ssl3d_ftmodel_encoder(m), &w.n);
    REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, "mode=warmup,warmup_epochs=2,epochs=4,batch=2,patch=8,lr=0.01",
                                   watch_cb, &w));
    CHECK(w.epochs == 4);
    CHECK(!w.changed[0] && !w.changed[1] && w.changed[2] && w.changed[3]);
    CHECK(strstr(w.lines[1], "\"phase\": \"frozen\"") && strstr(w.lines[2], "\"phase\": \"all\""));
    free(w.initial);
    ssl3d_ftmodel_release(m);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

TEST(finetune_classify_2d_png_learns) {
    ssl3d_ctx *ctx = th_ctx(2, 7);
    ssl3d_manifest *man = tf_cls_manifest(ctx, 14, 2, 32, 8, 16, 3);
    REQUIRE(man);
    ssl3d_ftmodel *m = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 2, 3, 2, 4, 2, SSL3D_NORM_BATCH, 16, 0, &m));
    enc_watch w = { .m = m };
    w.initial = tf_module_values(ssl3d_ftmodel_encoder(m), &w.n);
    REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, "epochs=6,batch=8,lr=0.01", watch_cb, &w));
    CHECK(strstr(w.lines[0], "\"val_acc\": ") && strstr(w.lines[0], "\"val_auc\": ") && strstr(w.lines[0], "\"val_qwk\": ") &&
          strstr(w.lines[0], "\"val_cases\": 8") && strstr(w.lines[0], "\"train_cases\": 32"));
    free(w.initial);
    int64_t cases[16], n;
    REQUIRE_OK(ctx, ssl3d_ft_select_cases(ctx, man, SSL3D_SPLIT_TEST, NULL, cases, 16, &n));
    ssl3d_ftresult *r = NULL;
    REQUIRE_OK(ctx, ssl3d_ft_evaluate(ctx, m, man, cases, n, -1, 0.5f, NULL, &r));
    double acc, auc;
    REQUIRE_OK(ctx, ssl3d_ftresult_get(ctx, r, "accuracy", &acc));
    REQUIRE_OK(ctx, ssl3d_ftresult_get(ctx, r, "auc", &auc));
    CHECK_MSG(acc >= 0.8 && auc >= 0.8, "accuracy %.3f, AUC %.3f (chance 0.5)", acc, auc);
    cJSON *o = cJSON_Parse(ssl3d_ftresult_json(r));
    REQUIRE(o);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "accuracy")) && cJSON_IsNumber(cJSON_GetObjectItem(o, "auc")) &&
          cJSON_IsNumber(cJSON_GetObjectItem(o, "qwk")) && cJSON_GetObjectItem(o, "cases")->valuedouble == 16);
    cJSON_Delete(o);
    ssl3d_ftresult_release(r);
    ssl3d_ftmodel_release(m);

    /* Ordinal grading on 3 grades: above chance. */
    ssl3d_manifest_release(man);
    char d3[400];
    snprintf(d3, sizeof d3, "%s/ord", th_tmpdir());
    REQUIRE(mkdir(d3, 0777) == 0);
    REQUIRE(tf_make_cls_set(ctx, d3, 12, 3, 36, 9, 15, 4) == 0);
    REQUIRE_OK(ctx, tf_load_manifest(ctx, d3, "labels.csv", &man));
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 2, 3, 3, 4, 2, SSL3D_NORM_BATCH, 16, 1, &m));
    REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, "epochs=8,batch=6,lr=0.01,patch=16", NULL, NULL));
    CHECK(ssl3d_ftmodel_patch(m) == 16);
    REQUIRE_OK(ctx, ssl3d_ft_select_cases(ctx, man, SSL3D_SPLIT_TEST, NULL, cases, 16, &n));
    REQUIRE_OK(ctx, ssl3d_ft_evaluate(ctx, m, man, cases, n, -1, 0.5f, NULL, &r));
    REQUIRE_OK(ctx, ssl3d_ftresult_get(ctx, r, "accuracy", &acc));
    CHECK_MSG(acc > 0.55, "ordinal accuracy %.3f (chance 0.33)", acc);
    ssl3d_ftresult_release(r);
    ssl3d_ftmodel_release(m);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- misuse */

TEST(finetune_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 8);
    ssl3d_ftmodel *m = NULL;
    CHECK_ST(ctx, ssl3d_ftmodel_create(ctx, 7, 3, 1, 3, 4, 2, 0, 0, 0, &m), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 1, 4, 2, 0, 0, 0, &m), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "classes") != NULL);
    CHECK_ST(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 3, 4, 2, 0, 0, 1, &m), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 4, 1, 3, 4, 2, 0, 0, 0, &m), SSL3D_ERR_INVALID_ARG);
    CHECK(m == NULL);
    CHECK_ST(ctx, ssl3d_ftmodel_create(NULL, SSL3D_FT_SEGMENT, 3, 1, 3, 4, 2, 0, 0, 0, &m), SSL3D_ERR_INVALID_ARG);
    ssl3d_ftmodel_release(NULL);
    ssl3d_ftresult_release(NULL);
    CHECK(ssl3d_ftmodel_kind(NULL) == -1 && ssl3d_ftmodel_encoder(NULL) == NULL && ssl3d_ftresult_json(NULL)[0] == 0);
    m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    CHECK_ST(ctx, ssl3d_ftmodel_set_patch(ctx, m, 10), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "2^levels") != NULL);
    CHECK_ST(ctx, ssl3d_ftmodel_set_input_norm(ctx, m, 9), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor *o = NULL;
    CHECK_ST(ctx, ssl3d_ftmodel_forward(ctx, m, NULL, 0, 0, &o), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_ftmodel_classify(ctx, m, NULL, &o, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "not a classifier") != NULL);
    int64_t xs[4] = { 2, 4, 4, 4 };
    ssl3d_tensor *x = th_randn(ctx, 4, xs, 0);
    CHECK_ST(ctx, ssl3d_ftmodel_segment(ctx, m, x, 0, 0.5f, &o, NULL), SSL3D_ERR_SHAPE);
    ssl3d_tensor_release(x);

    /* Training options and manifests. */
    ssl3d_manifest *man = tf_seg_manifest(ctx, 3, 9);
    REQUIRE(man);
    const char *bad[] = { "epochs=0", "mode=thawed", "fraction=0", "fraction=2", "patch=10", "lr=-1", "nonsense=1",
                          "batch", "frozen_norm=maybe", "select=acc", "seed=-3", "window=6" };
    const char *want[] = { "epochs", "mode", "fraction", "fraction", "patch", "lr", "nonsense", "batch", "frozen_norm",
                           "select", "seed", "window" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_ST(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, bad[i], NULL, NULL), SSL3D_ERR_INVALID_ARG);
        CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), want[i]) != NULL, "'%s': %s", bad[i], ssl3d_ctx_last_error(ctx));
    }
    int64_t out_of_range[1] = { 99 };
    CHECK_ST(ctx, ssl3d_ft_train(ctx, m, man, out_of_range, 1, "epochs=1", NULL, NULL), SSL3D_ERR_INVALID_ARG);
    ssl3d_ftresult *r = NULL;
    CHECK_ST(ctx, ssl3d_ft_evaluate(ctx, m, man, out_of_range, 1, 0, 0.5f, NULL, &r), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_ft_evaluate(ctx, m, man, NULL, 0, 0, 0.5f, NULL, &r), SSL3D_ERR_INVALID_ARG);
    /* A classifier cannot train on an MSD manifest; a model with too few classes is caught. */
    ssl3d_ftmodel *c = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 3, 1, 2, 4, 2, 0, 0, 0, &c));
    CHECK_ST(ctx, ssl3d_ft_train(ctx, c, man, NULL, 0, "epochs=1", NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "CSV") != NULL);
    ssl3d_ftmodel_release(c);
    ssl3d_ftmodel *two = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 2, 4, 2, 0, 0, 0, &two));
    CHECK_ST(ctx, ssl3d_ft_train(ctx, two, man, NULL, 0, "epochs=1,patch=8", NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "label value 2") != NULL);
    ssl3d_ftmodel_release(two);
    ssl3d_manifest_release(man);
    ssl3d_ftmodel_release(m);
    ssl3d_ctx_release(ctx);
}
