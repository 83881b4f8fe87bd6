/* The shared set-up of the fine-tuning tests (finetune_fixture.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "finetune_fixture.h"

/* th_tmpdir()/file of a data set just written (written: its writer's return, 0 on
 * success), loaded; NULL (reported) on failure. */
static ssl3d_manifest *load_written(ssl3d_ctx *ctx, int written, const char *file) {
    const char *dir = th_tmpdir();
    ssl3d_manifest *man = NULL;
    if (written != 0) {
        th_fail(__FILE__, __LINE__, "could not write the data set of %s/%s (last error: %s)", dir, file,
                ssl3d_ctx_last_error(ctx));
        return NULL;
    }
    ssl3d_status st = tf_load_manifest(ctx, dir, file, &man);
    if (st != SSL3D_OK)
        th_fail(__FILE__, __LINE__, "loading %s/%s: %s: %s", dir, file, ssl3d_status_string(st), ssl3d_ctx_last_error(ctx));
    return man;
}

ssl3d_manifest *tf_seg_manifest(ssl3d_ctx *ctx, int n, uint32_t seed) {
    return load_written(ctx, tf_make_seg_set(th_tmpdir(), n, seed), "dataset.json");
}

ssl3d_manifest *tf_cls_manifest(ssl3d_ctx *ctx, int size, int classes, int n_train, int n_val, int n_test,
                                uint32_t seed) {
    return load_written(ctx, tf_make_cls_set(ctx, th_tmpdir(), size, classes, n_train, n_val, n_test, seed), "labels.csv");
}

ssl3d_ftmodel *tf_seg_model(ssl3d_ctx *ctx, int32_t dims, int32_t classes, int32_t filters, int32_t levels,
                            int32_t norm) {
    ssl3d_ftmodel *m = NULL;
    ssl3d_status st = ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, dims, 1, classes, filters, levels, norm, 0, 0, &m);
    if (st != SSL3D_OK)
        th_fail(__FILE__, __LINE__, "a %dD segmentation model (%d classes, %d filters, %d levels): %s: %s", (int)dims,
                (int)classes, (int)filters, (int)levels, ssl3d_status_string(st), ssl3d_ctx_last_error(ctx));
    return m;
}

ssl3d_ftmodel *tf_tiny_seg(ssl3d_ctx *ctx, int32_t dims) { return tf_seg_model(ctx, dims, 3, 4, 2, SSL3D_NORM_BATCH); }

int32_t tf_log_cb(void *user, const char *json) {
    tf_log *l = user;
    if (l->n < TF_LOG_LINES) snprintf(l->lines[l->n], sizeof l->lines[0], "%s", json);
    l->n++;
    return l->stop > 0 && l->n >= l->stop;
}

void tf_loss_text(const char *line, char *out, size_t cap) {
    const char *p = strstr(line, "\"loss\": ");
    snprintf(out, cap, "%.*s", p ? (int)strcspn(p + 8, ",") : 0, p ? p + 8 : "");
}

double tf_loss_value(const char *line) {
    const char *p = strstr(line, "\"loss\": ");
    return p ? atof(p + 8) : NAN;
}

int tf_same_weights(const ssl3d_ftmodel *a, const ssl3d_ftmodel *b) {
    const ssl3d_module *ma[2] = { ssl3d_ftmodel_encoder(a), ssl3d_ftmodel_head(a) },
                       *mb[2] = { ssl3d_ftmodel_encoder(b), ssl3d_ftmodel_head(b) };
    for (int k = 0; k < 2; k++) {
        if (!ma[k] || !mb[k] || ssl3d_module_tensor_count(ma[k]) != ssl3d_module_tensor_count(mb[k])) return 0;
        for (int32_t i = 0; i < ssl3d_module_tensor_count(ma[k]); i++) {
            ssl3d_tensor *x = ssl3d_module_tensor(ma[k], i), *y = ssl3d_module_tensor(mb[k], i);
            if (!th_tensors_identical(NULL, x, y)) return 0;
        }
    }
    return 1;
}

/* A fresh model from `seed` trained with opts; NULL (reported) on failure. */
static ssl3d_ftmodel *train_from_seed(ssl3d_ctx *ctx, const ssl3d_manifest *man, uint64_t seed, int32_t filters,
                                      int32_t levels, const char *opts, tf_log *lg) {
    ssl3d_ctx_set_seed(ctx, seed);
    ssl3d_ftmodel *m = tf_seg_model(ctx, 3, 3, filters, levels, SSL3D_NORM_BATCH);
    if (!m) return NULL;
    ssl3d_status st = ssl3d_ft_train(ctx, m, man, NULL, 0, opts, tf_log_cb, lg);
    if (st != SSL3D_OK) {
        th_fail(__FILE__, __LINE__, "training with '%s': %s: %s", opts, ssl3d_status_string(st),
                ssl3d_ctx_last_error(ctx));
        ssl3d_ftmodel_release(m);
        return NULL;
    }
    return m;
}

int tf_run_resumed(ssl3d_ctx *ctx, const ssl3d_manifest *man, int32_t filters, int32_t levels, const char *opts,
                   int stop, tf_resumed *r) {
    memset(r, 0, sizeof *r);
    r->stop = stop;
    snprintf(r->state, sizeof r->state, "%s/state.safetensors", th_tmpdir());
    snprintf(r->resume_opts, sizeof r->resume_opts, "%s,resume=%s", opts, r->state);
    r->stopped_log.stop = stop;
    r->whole = train_from_seed(ctx, man, 11, filters, levels, opts, &r->whole_log);
    /* the stopped run starts as the uninterrupted one; the resumed one from other weights */
    ssl3d_ftmodel *stopped = r->whole ? train_from_seed(ctx, man, 11, filters, levels, r->resume_opts, &r->stopped_log)
                                      : NULL;
    const int stopped_ok = stopped != NULL;
    ssl3d_ftmodel_release(stopped);
    if (stopped_ok) r->resumed = train_from_seed(ctx, man, 99, filters, levels, r->resume_opts, &r->resumed_log);
    if (!r->resumed) { ssl3d_ftmodel_release(r->whole); r->whole = NULL; }
    return r->resumed != NULL;
}

void tf_check_resumed(const tf_resumed *r, int epochs) {
    const tf_log *w = &r->whole_log, *s = &r->stopped_log, *c = &r->resumed_log;
    if (w->n != epochs || s->n != r->stop || c->n != epochs - r->stop || epochs > TF_LOG_LINES) {
        th_fail(__FILE__, __LINE__, "epochs: %d uninterrupted, %d stopped, %d resumed (want %d, %d, %d)", w->n, s->n, c->n,
                epochs, r->stop, epochs - r->stop);
        return;
    }
    for (int e = r->stop; e < epochs; e++) {
        char lw[64], lc[64], num[32];
        tf_loss_text(w->lines[e], lw, sizeof lw);
        tf_loss_text(c->lines[e - r->stop], lc, sizeof lc);
        CHECK_MSG(lw[0] && !strcmp(lw, lc), "epoch %d: loss %s uninterrupted, %s resumed", e + 1, lw, lc);
        snprintf(num, sizeof num, "\"epoch\": %d", e + 1);
        CHECK_MSG(strstr(c->lines[e - r->stop], num), "resumed epoch %d logged as: %s", e + 1, c->lines[e - r->stop]);
    }
    CHECK_MSG(tf_same_weights(r->whole, r->resumed), "the resumed run's final weights differ from the uninterrupted run's");
}

void tf_check_resume_refused(ssl3d_ctx *ctx, const tf_resumed *r, const ssl3d_manifest *man, const char *other_opts) {
    char opts[1200];
    snprintf(opts, sizeof opts, "%s,resume=%s", other_opts, r->state);
    CHECK_ST(ctx, ssl3d_ft_train(ctx, r->resumed, man, NULL, 0, opts, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    const char *e = ssl3d_ctx_last_error(ctx);
    CHECK_MSG(strstr(e, "state.safetensors") && strstr(e, "other options"), "'%s': %s", other_opts, e);
}
