/* The pretraining loop (ssl3d/pretrain_run.h), shared by `ssl3d pretrain`, `ssl3d demo`
 * and Python's ssl3d.pretrain.
 *
 * Step s: images = batch(s); lr from the schedule; ssl3d_task_forward(training=1,
 * index=s); backward; (data-parallel: average gradients, loss, counts, clock); optimiser
 * step; zero grad. Everything a step depends on is a function of (seed, s) and the state
 * saved in the checkpoint (task tensors, optimiser moments and step counts, step), so a
 * resumed run reproduces an uninterrupted one bitwise. Validation never changes that
 * state (training=0, no tape). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../core/internal.h"
#include "task_internal.h"
#include "ssl3d/pretrain_run.h"
#include "ssl3d/optim.h"
#include "ssl3d/comm.h"

#define OP "ssl3d_pretrain_run"

/* Evaluation draws come from their own seed (the run's seed mixed with "EVAL") with small
 * indices: the tasks bound the index (CPC < 2^39, exemplar < 2^38, sample keys index << 16),
 * so a large index offset is not an option. */
#define EVAL_SEED_MIX UINT64_C(0x4556414c9e3779b9)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Prefix the context's current error with `what` (copied first: the message is read from
 * the buffer it is written to). */
static ssl3d_status wrap(ssl3d_ctx *ctx, ssl3d_status st, const char *what) {
    char prev[512];
    snprintf(prev, sizeof prev, "%s", ssl3d_ctx_last_error(ctx));
    return ssl3d_set_error(ctx, st, OP ": %s: %s", what, prev);
}

/* ---------------------------------------------------------------- JSON records */

typedef struct { char s[2048]; size_t n; } jbuf;

static void jlit(jbuf *b, const char *text) {
    size_t l = strlen(b->s);
    snprintf(b->s + l, sizeof b->s - l, "%s", text);
    b->n = strlen(b->s);
}

static void jkey(jbuf *b, const char *key) {
    size_t l = strlen(b->s);
    snprintf(b->s + l, sizeof b->s - l, "%s\"%s\": ", l > 1 ? ", " : "", key);
    b->n = strlen(b->s);
}

/* %.17g: the exact double, so a float32 loss reads back bitwise. */
static void jnum(jbuf *b, const char *key, double v) {
    jkey(b, key);
    char t[40];
    if (isfinite(v)) snprintf(t, sizeof t, "%.17g", v);
    else snprintf(t, sizeof t, "null");
    jlit(b, t);
}

static void jstr(jbuf *b, const char *key, const char *v) {
    jkey(b, key);
    char *w = b->s + b->n, *end = b->s + sizeof b->s - 8;
    *w++ = '"';
    for (const unsigned char *p = (const unsigned char *)v; *p && w < end; p++) {
        if (*p == '"' || *p == '\\') { *w++ = '\\'; *w++ = (char)*p; }
        else if (*p < 0x20) w += snprintf(w, 7, "\\u%04x", *p);
        else *w++ = (char)*p;
    }
    *w++ = '"';
    *w = 0;
    b->n = (size_t)(w - b->s);
}

static void jopen(jbuf *b) { b->s[0] = '{'; b->s[1] = 0; b->n = 1; }
static const char *jclose(jbuf *b) {
    if (b->n + 2 > sizeof b->s) b->n = sizeof b->s - 2;
    b->s[b->n++] = '}';
    b->s[b->n] = 0;
    return b->s;
}

/* ---------------------------------------------------------------- the run */

typedef struct run {
    ssl3d_ctx *ctx;
    ssl3d_task *task;
    const ssl3d_pretrain_config *c;
    ssl3d_pretrain_log_fn log;
    void *user;
    int root;
    int64_t n_val;          /* 0 on ranks other than 0 */
    double chance;
} run;

static int32_t emit(run *r, const char *json) { return r->root && r->log ? r->log(r->user, json) : 0; }

static void warn(run *r, const char *text) {
    jbuf b;
    jopen(&b);
    jstr(&b, "warning", text);
    emit(r, jclose(&b));
}

/* Adam over the trainable tensors of every module, in module and tensor order. */
static ssl3d_status make_optim(run *r, ssl3d_optim **out) {
    ssl3d_ctx *ctx = r->ctx;
    ssl3d_optim *opt = NULL;
    ssl3d_status st = ssl3d_optim_create_adam(ctx, (float)r->c->lr, 0.9f, 0.999f, 1e-8f, (float)r->c->weight_decay, &opt);
    if (st != SSL3D_OK) return wrap(ctx, st, "creating the optimiser");
    for (int32_t m = 0; m < ssl3d_task_module_count(r->task); m++) {
        ssl3d_module *mod = ssl3d_task_module(r->task, m);
        int32_t n = 0, got = 0;
        st = ssl3d_module_params(ctx, mod, NULL, 0, &n);
        if (st == SSL3D_OK && n == 0) continue;
        ssl3d_tensor **p = st == SSL3D_OK ? malloc((size_t)n * sizeof *p) : NULL;
        if (st == SSL3D_OK && !p) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "out of memory");
        if (st == SSL3D_OK) st = ssl3d_module_params(ctx, mod, p, n, &got);
        if (st == SSL3D_OK) st = ssl3d_optim_add_params(ctx, opt, p, got, 0);
        free(p);
        if (st != SSL3D_OK) { ssl3d_optim_release(opt); return wrap(ctx, st, "adding parameters to the optimiser"); }
    }
    *out = opt;
    return SSL3D_OK;
}

static ssl3d_status save(run *r, ssl3d_optim *opt, int64_t step) {
    ssl3d_ctx *ctx = r->ctx;
    const ssl3d_pretrain_config *c = r->c;
    ssl3d_checkpoint *ck = NULL;
    char buf[64];
    ssl3d_status st = ssl3d_checkpoint_create(ctx, &ck);
    if (st == SSL3D_OK) st = ssl3d_task_save(ctx, r->task, ck);
    for (int32_t i = 0; st == SSL3D_OK && i < ssl3d_optim_num_state(opt); i++) {
        const char *name = NULL;
        ssl3d_tensor *s = NULL;
        char full[300];
        st = ssl3d_optim_state_at(ctx, opt, i, &name, &s);
        snprintf(full, sizeof full, "optim.%s", name ? name : "");
        if (st == SSL3D_OK) st = ssl3d_checkpoint_add_tensor(ctx, ck, full, s);
    }
    snprintf(buf, sizeof buf, "%lld", (long long)step);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "step", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->seed);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "pretrain.seed", buf);
    snprintf(buf, sizeof buf, "%d", (int)c->batch);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "pretrain.batch", buf);
    snprintf(buf, sizeof buf, "%.9g", c->lr);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "pretrain.lr", buf);
    snprintf(buf, sizeof buf, "%.9g", c->weight_decay);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "pretrain.weight_decay", buf);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "pretrain.schedule", c->schedule);
    snprintf(buf, sizeof buf, "%lld", (long long)c->warmup);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(ctx, ck, "pretrain.warmup", buf);
    for (int i = 0; st == SSL3D_OK && c->meta && c->meta[i] && c->meta[i + 1]; i += 2)
        st = ssl3d_checkpoint_set_meta(ctx, ck, c->meta[i], c->meta[i + 1]);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_save(ctx, ck, c->out);
    ssl3d_checkpoint_release(ck);
    if (st != SSL3D_OK) {
        char what[600];
        snprintf(what, sizeof what, "writing the checkpoint %s", c->out);
        return wrap(ctx, st, what);
    }
    return SSL3D_OK;
}

/* A resumed run continues the run that wrote the checkpoint, so everything that shapes its
 * training and that the checkpoint records must be the checkpoint's: the task (kind, dims,
 * input channels, every option: some change no tensor, e.g. region, jitter, and
 * ssl3d_task_load could not notice them) and the loop's batch, lr, weight decay, schedule
 * and warm-up. The first difference is refused as "<setting>: the checkpoint has X, this
 * run has Y" (setting: task, dims, in_channels, "option <key>", "config.<field>"; the CLI
 * names its options from it: cli_train.c). A setting the checkpoint does not record is
 * not compared: one of a checkpoint written before it was, and the images (the loader's
 * manifest, cases, normalisation, spacing, train / held-out split: the caller's).
 * Free to change: when the run stops and what it reports (steps: a total that a resume
 * extends, max_seconds, eval_every, save_every, val_rounds, the held-out images, out, the
 * log) and how it computes (threads, backend, loaders), none of which the checkpoint holds.
 * The seed is only warned about (restore): training on with new samples has always been
 * allowed (pretrain_run.h, "warning"). */
typedef struct difference { char setting[80], theirs[64], mine[64]; } difference;

/* 1 (filling d) when the checkpoint records `meta` with a value other than `mine`. */
static int meta_differs(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *meta, const char *setting,
                        const char *mine, difference *d) {
    const char *v = NULL;
    if (ssl3d_checkpoint_get_meta(ctx, ck, meta, &v) != SSL3D_OK) { ssl3d_ctx_clear_error(ctx); return 0; }
    if (!strcmp(v, mine)) return 0;
    snprintf(d->setting, sizeof d->setting, "%s", setting);
    snprintf(d->theirs, sizeof d->theirs, "%s", v);
    snprintf(d->mine, sizeof d->mine, "%s", mine);
    return 1;
}

static ssl3d_status same_settings(const run *r, const ssl3d_checkpoint *ck, const char *what) {
    ssl3d_ctx *ctx = r->ctx;
    const ssl3d_task *t = r->task;
    const ssl3d_pretrain_config *c = r->c;
    char dims[16], chans[16], batch[16], lr[40], wd[40], warmup[32], key[40];
    snprintf(dims, sizeof dims, "%d", (int)t->dims);
    snprintf(chans, sizeof chans, "%d", (int)t->in_channels);
    snprintf(batch, sizeof batch, "%d", (int)c->batch);
    snprintf(lr, sizeof lr, "%.9g", c->lr);            /* as save() writes them */
    snprintf(wd, sizeof wd, "%.9g", c->weight_decay);
    snprintf(warmup, sizeof warmup, "%lld", (long long)c->warmup);
    difference d;
    /* In this order: the task's options only mean the same for the same kind and dims
     * (the default filters differ between 2D and 3D). */
    int differs = meta_differs(ctx, ck, "task", "task", ssl3d_task_kind_name(t->kind), &d) ||
                  meta_differs(ctx, ck, "dims", "dims", dims, &d) ||
                  meta_differs(ctx, ck, "in_channels", "in_channels", chans, &d);
    const char *opts = NULL;
    if (!differs && ssl3d_checkpoint_get_meta(ctx, ck, "options", &opts) != SSL3D_OK) {
        ssl3d_ctx_clear_error(ctx);
        opts = NULL;
    }
    if (!differs && opts &&
        task_options_differ(t, opts, key, sizeof key, d.theirs, sizeof d.theirs, d.mine, sizeof d.mine)) {
        snprintf(d.setting, sizeof d.setting, "option %s", key);
        differs = 1;
    }
    differs = differs || meta_differs(ctx, ck, "pretrain.batch", "config.batch", batch, &d) ||
              meta_differs(ctx, ck, "pretrain.lr", "config.lr", lr, &d) ||
              meta_differs(ctx, ck, "pretrain.weight_decay", "config.weight_decay", wd, &d) ||
              meta_differs(ctx, ck, "pretrain.schedule", "config.schedule", c->schedule, &d) ||
              meta_differs(ctx, ck, "pretrain.warmup", "config.warmup", warmup, &d);
    if (!differs) return SSL3D_OK;
    return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, OP ": %s: %s: the checkpoint has %s, this run has %s "
                           "(resume with the settings of the run that wrote it)", what, d.setting, d.theirs, d.mine);
}

/* Restore task tensors, optimiser state and the step from cfg->resume. */
static ssl3d_status restore(run *r, ssl3d_optim *opt, int64_t *step) {
    ssl3d_ctx *ctx = r->ctx;
    const char *path = r->c->resume;
    char what[600];
    snprintf(what, sizeof what, "resume %s", path);
    ssl3d_checkpoint *ck = NULL;
    ssl3d_status st = ssl3d_checkpoint_load(ctx, path, &ck);
    if (st != SSL3D_OK) return wrap(ctx, st, what);
    const char *v = NULL;
    st = same_settings(r, ck, what);
    if (st == SSL3D_OK && (st = ssl3d_task_load(ctx, r->task, ck)) != SSL3D_OK) {
        char prev[512];
        snprintf(prev, sizeof prev, "%s", ssl3d_ctx_last_error(ctx));
        ssl3d_set_error(ctx, st, OP ": %s: %s (use the same task, dims and options as the run that wrote it)", what,
                        prev);
    }
    for (int32_t i = 0; st == SSL3D_OK && i < ssl3d_optim_num_state(opt); i++) {
        const char *name = NULL;
        ssl3d_tensor *s = NULL;
        char full[300];
        if ((st = ssl3d_optim_state_at(ctx, opt, i, &name, &s)) != SSL3D_OK) { wrap(ctx, st, "optimiser state"); break; }
        snprintf(full, sizeof full, "optim.%s", name);
        if ((st = ssl3d_checkpoint_copy_into(ctx, ck, full, s)) != SSL3D_OK) {
            char w2[700];
            snprintf(w2, sizeof w2, "%s: optimiser state", what);
            wrap(ctx, st, w2);
        }
    }
    if (st == SSL3D_OK) {
        char *end = NULL;
        long long s = -1;
        if (ssl3d_checkpoint_get_meta(ctx, ck, "step", &v) == SSL3D_OK) s = strtoll(v, &end, 10);
        if (s < 0 || !end || *end)
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG,
                                 OP ": %s: no valid \"step\" metadata (not written by ssl3d pretrain?)", what);
        else *step = s;
    }
    if (st == SSL3D_OK && ssl3d_checkpoint_get_meta(ctx, ck, "pretrain.seed", &v) == SSL3D_OK &&
        strtoull(v, NULL, 10) != r->c->seed) {
        char text[800];
        snprintf(text, sizeof text, "%s was trained with seed %s, this run uses %llu: the samples will differ from "
                 "an uninterrupted run", what, v, (unsigned long long)r->c->seed);
        warn(r, text);
    }
    ssl3d_checkpoint_release(ck);
    return st;
}

/* Proxy accuracy and mean loss on the held-out images with evaluation samples. */
static ssl3d_status evaluate(run *r, double *acc, double *loss, int64_t *samples) {
    ssl3d_ctx *ctx = r->ctx;
    const ssl3d_pretrain_config *c = r->c;
    int64_t correct = 0, total = 0, chunks = 0;
    double loss_sum = 0, chance_sum = 0;
    int prev = ssl3d_set_grad_enabled(ctx, 0);
    ssl3d_status st = SSL3D_OK;
    for (int32_t k = 0; st == SSL3D_OK && k < c->val_rounds; k++)
        for (int64_t i = 0, next = 0; st == SSL3D_OK && i < r->n_val; i = next) {
            int64_t left = r->n_val - i;
            /* A lone trailing image joins this chunk: exemplar and CPC need >= 2 images per call. */
            int32_t n = (int32_t)(left <= c->batch + 1 ? left : c->batch);
            next = i + n;
            ssl3d_tensor *l = NULL;
            int64_t cc = 0, tot = 0;
            uint64_t index = (uint64_t)k * (uint64_t)(r->n_val + 1) + (uint64_t)i;
            st = ssl3d_task_forward(ctx, r->task, c->val + i, n, c->seed ^ EVAL_SEED_MIX, index, 0, &l, &cc, &tot);
            if (st != SSL3D_OK) {
                /* The task names an image by its place in this call (images[k]): say where
                 * the call starts, so that a caller can name the file (held-out image i + k). */
                char what[96];
                snprintf(what, sizeof what, "validation, held-out images [%lld, %lld)", (long long)i,
                         (long long)next);
                wrap(ctx, st, what);
                break;
            }
            float lv = 0;
            ssl3d_tensor_read(ctx, l, &lv, 4);
            ssl3d_tensor_release(l);
            loss_sum += lv;
            chunks++;
            correct += cc;
            total += tot;
            /* The chance of a call can depend on its size (exemplar: 1/(2n-1)): weight by samples. */
            chance_sum += ssl3d_task_chance(r->task) * (double)tot;
        }
    ssl3d_set_grad_enabled(ctx, prev);
    ssl3d_tape_reset(ctx);
    *acc = total ? (double)correct / (double)total : NAN;
    *loss = chunks ? loss_sum / (double)chunks : NAN;
    *samples = total;
    if (st == SSL3D_OK && total) r->chance = chance_sum / (double)total;
    return st;
}

/* This rank's share (images[0..count)) of training batch `step`, in the data context
 * (c->data_ctx, else ctx); a failure's message is carried over to ctx. */
static ssl3d_status load_batch(run *r, int64_t step, int32_t rank, int32_t ranks, int32_t count,
                               ssl3d_tensor **images) {
    ssl3d_ctx *ctx = r->ctx;
    const ssl3d_pretrain_config *c = r->c;
    ssl3d_ctx *dctx = c->data_ctx ? c->data_ctx : ctx;
    ssl3d_status st;
    if (!c->loader) st = c->batch_fn(c->batch_user, dctx, step, count, images);
    else if (ranks <= 1) st = ssl3d_loader_batch(dctx, c->loader, step, images);
    else {
        /* Under a communicator each rank decodes only its own share of the batch. */
        int64_t first = 0, n = 0;
        st = ssl3d_comm_shard(c->batch, rank, ranks, &first, &n);
        if (st != SSL3D_OK)
            return ssl3d_set_error(ctx, st, OP ": cannot shard batch %d over %d ranks", (int)c->batch, (int)ranks);
        int64_t *idx = malloc((size_t)c->batch * sizeof *idx);
        if (!idx) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
        st = ssl3d_loader_batch_indices(dctx, c->loader, step, idx);
        int64_t k = 0;
        for (; st == SSL3D_OK && k < n; k++) st = ssl3d_loader_item(dctx, c->loader, idx[first + k], &images[k]);
        if (st != SSL3D_OK)
            for (int64_t j = 0; j + 1 < k; j++) { ssl3d_tensor_release(images[j]); images[j] = NULL; }
        free(idx);
    }
    if (st != SSL3D_OK && dctx != ctx) ssl3d_set_error(ctx, st, "%s", ssl3d_ctx_last_error(dctx));
    return st;
}

/* The modules of the task (caller frees), for the collectives. */
static ssl3d_module **task_modules(const ssl3d_task *task, int32_t *n) {
    *n = ssl3d_task_module_count(task);
    ssl3d_module **mods = malloc((size_t)(*n + 1) * sizeof *mods);
    for (int32_t i = 0; mods && i < *n; i++) mods[i] = ssl3d_task_module(task, i);
    return mods;
}

/* After backward: average the gradients over the ranks and turn the rank's loss, counts
 * and clock into the global batch's (mean loss, summed counts, mean clock) so that every
 * rank takes the same decisions from them. */
static ssl3d_status average_step(run *r, int32_t ranks, float *loss, int64_t *correct, int64_t *total, double *clock) {
    if (ranks <= 1) return SSL3D_OK;
    int32_t n = 0;
    ssl3d_module **mods = task_modules(r->task, &n);
    if (!mods) return ssl3d_set_error(r->ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
    float extra[4] = { *loss, (float)*correct, (float)*total, (float)*clock };
    ssl3d_status st = ssl3d_comm_average_module_grads(r->ctx, mods, n, extra, 4);
    free(mods);
    if (st != SSL3D_OK) return st;
    *loss = extra[0];
    *correct = llroundf(extra[1] * (float)ranks);
    *total = llroundf(extra[2] * (float)ranks);
    *clock = extra[3];
    return SSL3D_OK;
}

static ssl3d_status broadcast_task(run *r, int32_t ranks) {
    if (ranks <= 1) return SSL3D_OK;
    int32_t n = 0;
    ssl3d_module **mods = task_modules(r->task, &n);
    if (!mods) return ssl3d_set_error(r->ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
    ssl3d_status st = ssl3d_comm_broadcast_modules(r->ctx, mods, n, 0);
    free(mods);
    return st == SSL3D_OK ? st : wrap(r->ctx, st, "broadcasting the weights");
}

void ssl3d_pretrain_config_init(ssl3d_pretrain_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = (uint32_t)sizeof *cfg;
    cfg->version = SSL3D_PRETRAIN_CONFIG_VERSION;
    cfg->val_rounds = 4;
    cfg->lr = 1e-3;
    cfg->schedule = "constant";
}

static ssl3d_status check_config(ssl3d_ctx *ctx, const ssl3d_task *task, const ssl3d_pretrain_config *c,
                                 int32_t ranks) {
    SSL3D_CHECK_ARG(ctx, task, OP ": task is NULL");
    SSL3D_CHECK_ARG(ctx, c, OP ": config is NULL");
    SSL3D_CHECK_ARG(ctx, c->size == sizeof *c && c->version == SSL3D_PRETRAIN_CONFIG_VERSION,
                    OP ": config.size %u / config.version %u do not match this library's (%u / %u): initialise "
                    "the config with ssl3d_pretrain_config_init", (unsigned)c->size, (unsigned)c->version,
                    (unsigned)sizeof *c, (unsigned)SSL3D_PRETRAIN_CONFIG_VERSION);
    SSL3D_CHECK_ARG(ctx, (c->loader != NULL) != (c->batch_fn != NULL),
                    OP ": give exactly one of config.loader and config.batch_fn");
    SSL3D_CHECK_ARG(ctx, c->batch >= 1, OP ": config.batch = %d, want >= 1", (int)c->batch);
    SSL3D_CHECK_ARG(ctx, !c->loader || ssl3d_loader_batch_size(c->loader) == c->batch,
                    OP ": config.batch = %d differs from the loader's batch %d (ssl3d_loader_set_batch)",
                    (int)c->batch, (int)ssl3d_loader_batch_size(c->loader));
    SSL3D_CHECK_ARG(ctx, c->batch % ranks == 0, OP ": config.batch = %d does not split evenly over %d ranks",
                    (int)c->batch, (int)ranks);
    SSL3D_CHECK_ARG(ctx, c->steps >= 1, OP ": config.steps = %lld, want >= 1", (long long)c->steps);
    SSL3D_CHECK_ARG(ctx, isfinite(c->max_seconds) && c->max_seconds >= 0, OP ": config.max_seconds = %g, want >= 0",
                    c->max_seconds);
    SSL3D_CHECK_ARG(ctx, isfinite(c->lr) && c->lr >= 0, OP ": config.lr = %g, want a finite value >= 0", c->lr);
    SSL3D_CHECK_ARG(ctx, isfinite(c->weight_decay) && c->weight_decay >= 0,
                    OP ": config.weight_decay = %g, want a finite value >= 0", c->weight_decay);
    SSL3D_CHECK_ARG(ctx, c->schedule && (!strcmp(c->schedule, "constant") || !strcmp(c->schedule, "cosine")),
                    OP ": config.schedule '%s' is not constant or cosine", c->schedule ? c->schedule : "(NULL)");
    SSL3D_CHECK_ARG(ctx, c->warmup >= 0, OP ": config.warmup = %lld, want >= 0", (long long)c->warmup);
    SSL3D_CHECK_ARG(ctx, strcmp(c->schedule, "cosine") || c->steps > c->warmup,
                    OP ": config.schedule cosine needs more config.steps (%lld) than config.warmup (%lld)",
                    (long long)c->steps, (long long)c->warmup);
    SSL3D_CHECK_ARG(ctx, c->eval_every >= 0 && c->save_every >= 0 && c->steps_per_epoch >= 0,
                    OP ": config.%s = %lld, want >= 0",
                    c->eval_every < 0 ? "eval_every" : c->save_every < 0 ? "save_every" : "steps_per_epoch",
                    (long long)(c->eval_every < 0 ? c->eval_every : c->save_every < 0 ? c->save_every
                                                                                       : c->steps_per_epoch));
    SSL3D_CHECK_ARG(ctx, c->n_val >= 0 && (c->n_val == 0 || c->val), OP ": config.val is NULL with config.n_val = %lld",
                    (long long)c->n_val);
    for (int64_t i = 0; i < c->n_val; i++)
        SSL3D_CHECK_ARG(ctx, c->val[i], OP ": config.val[%lld] is NULL", (long long)i);
    /* Checked here, not at the end of training: exemplar scores each held-out image against
     * the others (its negatives), so a single one would fail the final evaluation. */
    SSL3D_CHECK_ARG(ctx, c->n_val != 1 || ssl3d_task_kind_of(task) != SSL3D_TASK_EXEMPLAR,
                    OP ": config.n_val = 1: exemplar's held-out accuracy needs at least 2 images (each one's "
                    "negatives are the others); hold out more images, or none");
    SSL3D_CHECK_ARG(ctx, c->val_rounds >= 1, OP ": config.val_rounds = %d, want >= 1", (int)c->val_rounds);
    SSL3D_CHECK_ARG(ctx, c->out && *c->out, OP ": config.out (the checkpoint path) is %s", c->out ? "empty" : "NULL");
    return SSL3D_OK;
}

ssl3d_status ssl3d_pretrain_run(ssl3d_ctx *ctx, ssl3d_task *task, const ssl3d_pretrain_config *cfg,
                                ssl3d_pretrain_log_fn log, void *user) {
    SSL3D_CHECK_CTX(ctx);
    const double t0 = now_s();
    /* Data-parallel: each rank trains on its B/ranks images of every global batch, starting
     * from rank 0's weights; only rank 0 evaluates, logs and writes (docs/distributed.md). */
    const int32_t ranks = ssl3d_ctx_comm_size(ctx), rank = ssl3d_ctx_comm_rank(ctx);
    SSL3D_CHECK(check_config(ctx, task, cfg, ranks));
    run r = { ctx, task, cfg, log, user, rank == 0, rank == 0 ? cfg->n_val : 0, ssl3d_task_chance(task) };
    const ssl3d_pretrain_config *c = cfg;
    const int32_t local_batch = c->batch / ranks;
    ssl3d_optim *opt = NULL;
    ssl3d_lr_schedule *sched = NULL;
    ssl3d_tensor **imgs = NULL;
    int64_t start = 0;
    ssl3d_status st = make_optim(&r, &opt);
    if (st == SSL3D_OK && c->resume) st = restore(&r, opt, &start);
    if (st == SSL3D_OK && (st = ssl3d_task_set_image_offset(ctx, task, (int64_t)rank * local_batch)) != SSL3D_OK)
        wrap(ctx, st, "config.batch");
    if (st == SSL3D_OK) st = broadcast_task(&r, ranks);
    if (st == SSL3D_OK) {
        st = !strcmp(c->schedule, "cosine")
                 ? ssl3d_lr_schedule_create_cosine(ctx, (float)c->lr, c->warmup, c->steps, (float)(c->lr * 0.01), &sched)
                 : ssl3d_lr_schedule_create_constant(ctx, (float)c->lr, c->warmup, &sched);
        if (st != SSL3D_OK) wrap(ctx, st, "learning-rate schedule");
    }
    if (st == SSL3D_OK && start >= c->steps && c->max_seconds <= 0) {
        char text[160];
        snprintf(text, sizeof text, "the checkpoint is already at step %lld of %lld: nothing to train",
                 (long long)start, (long long)c->steps);
        warn(&r, text);
    }
    if (st == SSL3D_OK && !(imgs = calloc((size_t)c->batch, sizeof *imgs)))
        st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
    double train_time = 0;
    int64_t samples = 0, step = start;
    int stop = 0;
    /* With the images in a data context of their own (a device run), the samples of step
     * s + 1 are made, and their upload begun, once step s's forward is queued: on CUDA they
     * are copied on the copy stream while step s computes (task_prefetch_begin). They are
     * a function of (seed, s + 1) only, so the losses do not change. */
    const int prefetch = c->data_ctx && c->data_ctx != ctx && task_can_prefetch(task);
    task_prefetch *next = NULL;
    for (; st == SSL3D_OK && !stop && (c->max_seconds > 0 ? train_time < c->max_seconds && step < c->steps
                                                          : step < c->steps); step++) {
        const double ts = now_s();
        int64_t failed_step = step;   /* the step whose images an error is about */
        task_prefetch *cur = next;
        next = NULL;
        if (!cur && (st = load_batch(&r, step, rank, ranks, local_batch, imgs)) != SSL3D_OK) {
            wrap(ctx, st, "loading a batch");
            break;
        }
        ssl3d_tensor *loss = NULL;
        int64_t correct = 0, total = 0;
        float lv = NAN;
        st = ssl3d_optim_apply_schedule(ctx, opt, sched);
        if (cur) {
            if (st == SSL3D_OK) st = task_forward_prefetched(ctx, task, cur, &loss, &correct, &total);
            else task_prefetch_drop(ctx, cur);
        } else if (st == SSL3D_OK)
            st = ssl3d_task_forward(ctx, task, imgs, local_batch, c->seed, (uint64_t)step, 1, &loss, &correct, &total);
        for (int32_t k = 0; k < local_batch; k++) { ssl3d_tensor_release(imgs[k]); imgs[k] = NULL; }
        if (st == SSL3D_OK && prefetch && step + 1 < c->steps) {
            /* The next step's samples, made and sent up while this step computes. */
            failed_step = step + 1;
            if ((st = load_batch(&r, step + 1, rank, ranks, local_batch, imgs)) != SSL3D_OK)
                wrap(ctx, st, "loading a batch");
            else st = task_prefetch_begin(ctx, task, imgs, local_batch, c->seed, (uint64_t)step + 1, 1, &next);
            if (st == SSL3D_OK) failed_step = step;
            for (int32_t k = 0; k < local_batch; k++) { ssl3d_tensor_release(imgs[k]); imgs[k] = NULL; }
        }
        const int forward_ok = st == SSL3D_OK;   /* lv is the loss only from here */
        if (st == SSL3D_OK) st = ssl3d_tensor_read(ctx, loss, &lv, 4);
        if (st == SSL3D_OK) st = ssl3d_backward(ctx, loss);
        ssl3d_tensor_release(loss);
        double clock = train_time + (now_s() - ts);
        if (st == SSL3D_OK) st = average_step(&r, ranks, &lv, &correct, &total, &clock);
        if (st == SSL3D_OK) st = ssl3d_optim_step(ctx, opt);
        if (st == SSL3D_OK) st = ssl3d_optim_zero_grad(ctx, opt);
        if (st != SSL3D_OK) {
            char what[96];
            snprintf(what, sizeof what, "step %lld%s", (long long)failed_step,
                     !forward_ok || isfinite(lv) ? "" : " (the loss is not finite; try a smaller lr)");
            wrap(ctx, st, what);
            ssl3d_tape_reset(ctx);
            break;
        }
        train_time = ranks > 1 ? clock : train_time + (now_s() - ts);   /* ranks agree on when to stop */
        samples += total;
        double val_acc = NAN, val_loss = NAN;
        int64_t vs = 0;
        const int evaluated = c->eval_every > 0 && r.n_val > 0 && (step + 1) % c->eval_every == 0 && step + 1 < c->steps;
        if (evaluated && (st = evaluate(&r, &val_acc, &val_loss, &vs)) != SSL3D_OK) break;
        jbuf b;
        jopen(&b);
        jnum(&b, "step", (double)step);
        jnum(&b, "loss", (double)lv);
        jnum(&b, "acc", total ? (double)correct / (double)total : NAN);
        jnum(&b, "lr", (double)ssl3d_optim_lr(opt));
        jnum(&b, "samples_per_s", train_time > 0 ? (double)samples / train_time : 0);
        jnum(&b, "train_seconds", train_time);   /* training time so far (this process) */
        if (c->steps_per_epoch > 0) jnum(&b, "epoch", (double)(step / c->steps_per_epoch));
        if (evaluated) {
            jnum(&b, "val_acc", val_acc);
            jnum(&b, "val_loss", val_loss);
        }
        if (emit(&r, jclose(&b)) != 0 && ranks == 1) stop = 1;
        if (r.root && c->save_every > 0 && (step + 1) % c->save_every == 0 && step + 1 < c->steps &&
            (st = save(&r, opt, step + 1)) != SSL3D_OK)
            break;
    }
    task_prefetch_drop(ctx, next);   /* the run stopped before the step it was made for */
    if (st == SSL3D_OK && r.root) st = save(&r, opt, step);
    double proxy_acc = NAN, val_loss = NAN;
    int64_t val_samples = 0;
    if (st == SSL3D_OK && r.n_val > 0) st = evaluate(&r, &proxy_acc, &val_loss, &val_samples);
    if (st == SSL3D_OK) {
        jbuf b;
        jopen(&b);
        jlit(&b, "\"final\": true");
        jnum(&b, "steps", (double)step);
        jnum(&b, "proxy_accuracy", proxy_acc);
        jnum(&b, "chance", r.chance);
        jnum(&b, "seconds", now_s() - t0);
        jnum(&b, "val_loss", val_loss);
        jnum(&b, "val_samples", (double)val_samples);
        jstr(&b, "task", ssl3d_task_kind_name(ssl3d_task_kind_of(task)));
        jnum(&b, "dims", (double)ssl3d_task_dims(task));
        jstr(&b, "checkpoint", c->out);
        emit(&r, jclose(&b));
    }
    free(imgs);
    ssl3d_lr_schedule_release(sched);
    ssl3d_optim_release(opt);
    return st;
}
