/* Resumable fine-tuning (option resume=PATH): after every epoch the whole training state
 * — model tensors (buffers included), optimiser state, the best weights so far and the
 * loop's counters — is written atomically to one safetensors file; a run started with
 * the same options and an existing file continues after its last epoch. Batches, epoch
 * orders and the learning rate are pure functions of (seed, step, epoch), so the
 * continued run is bitwise the uninterrupted one (same thread count). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "finetune_recipe.h"

static ssl3d_tensor *model_tensor(const ssl3d_ftmodel *m, int32_t i) {
    int32_t ne = ssl3d_module_tensor_count(m->encoder);
    return i < ne ? ssl3d_module_tensor(m->encoder, i) : ssl3d_module_tensor(m->head, i - ne);
}

static int32_t model_tensor_count(const ssl3d_ftmodel *m) {
    return ssl3d_module_tensor_count(m->encoder) + ssl3d_module_tensor_count(m->head);
}

int ft_resume_exists(const char *path) { return path && path[0] && access(path, F_OK) == 0; }

ssl3d_status ft_resume_save(ssl3d_ctx *ctx, const char *path, const char *options_key, const ssl3d_ftmodel *m,
                            const ssl3d_optim *opt, const ft_snapshot *best, const ft_progress *pr) {
    ssl3d_checkpoint *ck = NULL;
    SSL3D_CHECK(ssl3d_checkpoint_create(ctx, &ck));
    ssl3d_status st = SSL3D_OK;
    char name[256], val[64];
    for (int32_t i = 0; i < model_tensor_count(m) && st == SSL3D_OK; i++) {
        snprintf(name, sizeof name, "model.%d", (int)i);
        st = ssl3d_checkpoint_add_tensor(ctx, ck, name, model_tensor(m, i));
    }
    /* Deep-supervision heads: part of the training state (never of the model file). */
    for (int32_t i = 0; m->aux && i < ssl3d_module_tensor_count(m->aux) && st == SSL3D_OK; i++) {
        snprintf(name, sizeof name, "aux.%d", (int)i);
        st = ssl3d_checkpoint_add_tensor(ctx, ck, name, ssl3d_module_tensor(m->aux, i));
    }
    for (int32_t i = 0; i < ssl3d_optim_num_state(opt) && st == SSL3D_OK; i++) {
        const char *sn = NULL;
        ssl3d_tensor *t = NULL;
        st = ssl3d_optim_state_at(ctx, opt, i, &sn, &t);
        if (st != SSL3D_OK) break;
        snprintf(name, sizeof name, "opt.%s", sn);
        st = ssl3d_checkpoint_add_tensor(ctx, ck, name, t);
    }
    for (int32_t i = 0; pr->have_best && i < best->n && st == SSL3D_OK; i++) {
        ssl3d_tensor *t = NULL;
        /* 4-byte words (float32 or int32 bits), stored as they are */
        st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &best->numel[i], best->values[i], &t);
        snprintf(name, sizeof name, "best.%d", (int)i);
        if (st == SSL3D_OK) st = ssl3d_checkpoint_add_tensor(ctx, ck, name, t);
        ssl3d_tensor_release(t);
    }
    const struct { const char *k; double v; } nums[] = {
        { "epoch", pr->epoch }, { "step", (double)pr->step }, { "have_best", pr->have_best },
        { "frozen", pr->frozen }, { "best_epoch", pr->best_epoch }, { "best_metric", pr->best_metric },
        { "best_tie", pr->best_tie },
    };
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "format", "ssl3d-finetune-resume");
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "options", options_key);
    for (size_t i = 0; i < sizeof nums / sizeof nums[0] && st == SSL3D_OK; i++) {
        if (isfinite(nums[i].v)) snprintf(val, sizeof val, "%.17g", nums[i].v);
        else snprintf(val, sizeof val, "%s", nums[i].v > 0 ? "inf" : "-inf");
        st = ssl3d_checkpoint_set_meta(ctx, ck, nums[i].k, val);
    }
    if (st == SSL3D_OK) st = ssl3d_checkpoint_save(ctx, ck, path);
    ssl3d_checkpoint_release(ck);
    return st;
}

static ssl3d_status meta_num(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *path, const char *k, double *out) {
    const char *v = NULL;
    if (ssl3d_checkpoint_get_meta(ctx, ck, k, &v) != SSL3D_OK)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "resume=%s: metadata '%s' missing", path, k);
    if (!strcmp(v, "-inf")) { *out = -INFINITY; return SSL3D_OK; }
    if (!strcmp(v, "inf")) { *out = INFINITY; return SSL3D_OK; }
    char *end = NULL;
    *out = strtod(v, &end);
    if (end == v || *end) return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "resume=%s: metadata '%s' is not a number", path, k);
    return SSL3D_OK;
}

ssl3d_status ft_resume_read(ssl3d_ctx *ctx, const char *path, const char *options_key, ssl3d_checkpoint **ck_out,
                            ft_progress *pr) {
    ssl3d_checkpoint *ck = NULL;
    SSL3D_CHECK(ssl3d_checkpoint_load(ctx, path, &ck));
    const char *fmt = NULL, *opts = NULL;
    ssl3d_status st = SSL3D_OK;
    if (ssl3d_checkpoint_get_meta(ctx, ck, "format", &fmt) != SSL3D_OK || strcmp(fmt, "ssl3d-finetune-resume"))
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "resume=%s: not a fine-tuning resume file", path);
    else if (ssl3d_checkpoint_get_meta(ctx, ck, "options", &opts) != SSL3D_OK || strcmp(opts, options_key))
        st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG,
                             "resume=%s: written by a run with other options ('%s'; this run: '%s')", path,
                             opts ? opts : "", options_key);
    double e = 0, s = 0, hb = 0, fr = 0, be = 0;
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "epoch", &e);
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "step", &s);
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "have_best", &hb);
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "frozen", &fr);
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "best_epoch", &be);
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "best_metric", &pr->best_metric);
    if (st == SSL3D_OK) st = meta_num(ctx, ck, path, "best_tie", &pr->best_tie);
    if (st != SSL3D_OK) { ssl3d_checkpoint_release(ck); return st; }
    pr->epoch = (int32_t)e; pr->step = (int64_t)s; pr->have_best = (int32_t)hb; pr->frozen = (int32_t)fr;
    pr->best_epoch = (int32_t)be;
    *ck_out = ck;
    return SSL3D_OK;
}

ssl3d_status ft_resume_apply(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, ssl3d_ftmodel *m, ssl3d_optim *opt,
                             ft_snapshot *best, const ft_progress *pr) {
    char name[256];
    for (int32_t i = 0; i < model_tensor_count(m); i++) {
        snprintf(name, sizeof name, "model.%d", (int)i);
        SSL3D_CHECK(ssl3d_checkpoint_copy_into(ctx, ck, name, model_tensor(m, i)));
    }
    for (int32_t i = 0; m->aux && i < ssl3d_module_tensor_count(m->aux); i++) {
        snprintf(name, sizeof name, "aux.%d", (int)i);
        SSL3D_CHECK(ssl3d_checkpoint_copy_into(ctx, ck, name, ssl3d_module_tensor(m->aux, i)));
    }
    for (int32_t i = 0; i < ssl3d_optim_num_state(opt); i++) {
        const char *sn = NULL;
        ssl3d_tensor *t = NULL;
        SSL3D_CHECK(ssl3d_optim_state_at(ctx, opt, i, &sn, &t));
        snprintf(name, sizeof name, "opt.%s", sn);
        SSL3D_CHECK(ssl3d_checkpoint_copy_into(ctx, ck, name, t));
    }
    if (!pr->have_best) return SSL3D_OK;
    SSL3D_CHECK(ft_snapshot_take(ctx, m, best));   /* allocates; overwritten below */
    for (int32_t i = 0; i < best->n; i++) {
        ssl3d_tensor *t = NULL;
        snprintf(name, sizeof name, "best.%d", (int)i);
        SSL3D_CHECK(ssl3d_checkpoint_get_tensor(ctx, ck, name, &t));
        ssl3d_status st = t->numel == best->numel[i] ? ssl3d_tensor_read(ctx, t, best->values[i], t->numel * 4)
                                                     : ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "resume: %s has %lld values, "
                                                                       "the model %lld", name, (long long)t->numel,
                                                                       (long long)best->numel[i]);
        ssl3d_tensor_release(t);
        SSL3D_CHECK(st);
    }
    return SSL3D_OK;
}

void ft_resume_options_key(const char *options, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    if (!options) return;
    const char *p = options;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        while (q < p + len && *q == ' ') q++;
        /* resume= names the state itself; prefetch= changes when batches are uploaded, not
         * what is computed: a run may continue with either. */
        if (strncmp(q, "resume=", 7) != 0 && strncmp(q, "prefetch=", 9) != 0 && q < p + len && n + len + 2 < cap) {
            if (n) out[n++] = ',';
            memcpy(out + n, q, (size_t)(p + len - q));
            n += (size_t)(p + len - q);
            out[n] = 0;
        }
        p += len;
        if (*p == ',') p++;
    }
}
