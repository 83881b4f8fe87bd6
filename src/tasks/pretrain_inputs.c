/* The inputs of the pretraining loop (ssl3d/pretrain_inputs.h): the one place that decides
 * how `ssl3d pretrain` (and so Python's ssl3d.pretrain) turns a manifest and a task name
 * into a loader, a task, a batch and held-out images. Any change here changes what the
 * CLI and Python train on, identically for both. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/internal.h"
#include "ssl3d/pretrain_inputs.h"
#include "ssl3d/finetune.h"
#include "ssl3d/comm.h"

#define OP "ssl3d_pretrain_inputs_create"

struct ssl3d_pretrain_inputs {
    ssl3d_ctx *data_ctx;        /* as configured (NULL: the model's context) */
    ssl3d_loader *train;
    ssl3d_task *task;
    ssl3d_tensor **val;         /* n_val held-out images (owned) */
    char **val_path;            /* the file of each (owned) */
    int64_t *val_slice;         /* and its axial slice in 2D, -1 in 3D */
    int64_t n_val;
    int32_t batch;
    uint64_t seed;
    int64_t n_items, per_epoch, min_size;
    int32_t unsplit;
};

/* Prefix the current error of `from` with the field at fault and put it on ctx (copied
 * first: the message may be read from the buffer it is written to). */
static ssl3d_status wrap(ssl3d_ctx *ctx, ssl3d_ctx *from, ssl3d_status st, const char *field, const char *value) {
    char prev[SSL3D_ERRMSG_CAP];
    snprintf(prev, sizeof prev, "%s", ssl3d_ctx_last_error(from));
    if (value) return ssl3d_set_error(ctx, st, OP ": config.%s %s: %s", field, value, prev);
    return ssl3d_set_error(ctx, st, OP ": config.%s: %s", field, prev);
}

void ssl3d_pretrain_inputs_config_init(ssl3d_pretrain_inputs_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = (uint32_t)sizeof *cfg;
    cfg->version = SSL3D_PRETRAIN_INPUTS_CONFIG_VERSION;
    cfg->normalisation = "zscore";
    cfg->loader_threads = 1;
    cfg->val_fraction = 0.1;
    cfg->val_max = 256;
}

/* Default images per step of each task, chosen by measured cost per step on 2 cores
 * (docs/tasks.md, "Cost per step"); config.batch overrides it. */
static int32_t default_batch(int32_t kind, int32_t dims) {
    switch (kind) {
    case SSL3D_TASK_ROTATION: return dims == 3 ? 8 : 32;
    case SSL3D_TASK_RPL: return dims == 3 ? 16 : 32;
    case SSL3D_TASK_JIGSAW: return dims == 3 ? 8 : 16;
    case SSL3D_TASK_CPC: return dims == 3 ? 4 : 16;
    default: return dims == 3 ? 8 : 16;   /* exemplar: the other images are the negatives */
    }
}

/* Smallest image side the loader pads up to. CPC and exemplar cut a window of input_size
 * from the image; rotation, RPL and jigsaw take their crops inside each image's
 * foreground box themselves (smaller boxes give a symmetric frame / smaller cells), so
 * padding would add nothing. */
static int64_t task_min_size(ssl3d_ctx *ctx, const ssl3d_task *task) {
    const int32_t kind = ssl3d_task_kind_of(task);
    double v = 0;
    if ((kind == SSL3D_TASK_CPC || kind == SSL3D_TASK_EXEMPLAR) &&
        ssl3d_task_option(ctx, task, "input_size", &v) == SSL3D_OK && v >= 1)
        return (int64_t)v;
    ssl3d_ctx_clear_error(ctx);
    return 1;
}

static ssl3d_status check_config(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs_config *c, int32_t *kind,
                                 uint32_t *flags) {
    SSL3D_CHECK_ARG(ctx, c, OP ": config is NULL");
    SSL3D_CHECK_ARG(ctx, c->size == sizeof *c && c->version == SSL3D_PRETRAIN_INPUTS_CONFIG_VERSION,
                    OP ": config.size %u / config.version %u do not match this library's (%u / %u): initialise "
                    "the config with ssl3d_pretrain_inputs_config_init", (unsigned)c->size, (unsigned)c->version,
                    (unsigned)sizeof *c, (unsigned)SSL3D_PRETRAIN_INPUTS_CONFIG_VERSION);
    SSL3D_CHECK_ARG(ctx, c->manifest && *c->manifest, OP ": config.manifest is %s", c->manifest ? "empty" : "NULL");
    SSL3D_CHECK_ARG(ctx, c->dims == 2 || c->dims == 3, OP ": config.dims = %d, want 2 or 3", (int)c->dims);
    SSL3D_CHECK_ARG(ctx, c->task, OP ": config.task is NULL (rotation, rpl, jigsaw, cpc or exemplar)");
    SSL3D_CHECK_ARG(ctx, ssl3d_task_kind_parse(c->task, kind) == SSL3D_OK,
                    OP ": config.task '%s' is not one of rotation, rpl, jigsaw, cpc, exemplar", c->task);
    SSL3D_CHECK_ARG(ctx, c->batch >= 0, OP ": config.batch = %d, want >= 1 (or 0: the task's default)", (int)c->batch);
    SSL3D_CHECK_ARG(ctx, !(c->cases && c->cases_file), OP ": give at most one of config.cases and config.cases_file");
    SSL3D_CHECK_ARG(ctx, c->cases ? c->n_cases >= 1 : c->n_cases == 0,
                    OP ": config.n_cases = %lld %s", (long long)c->n_cases,
                    c->cases ? "with config.cases, want >= 1" : "with config.cases NULL, want 0");
    const char *nm = c->normalisation;
    SSL3D_CHECK_ARG(ctx, nm && (!strcmp(nm, "zscore") || !strcmp(nm, "minmax") || !strcmp(nm, "none")),
                    OP ": config.normalisation '%s' is not zscore, minmax or none", nm ? nm : "(NULL)");
    *flags = !strcmp(nm, "zscore") ? SSL3D_LOADER_ZSCORE : !strcmp(nm, "minmax") ? SSL3D_LOADER_MINMAX : 0u;
    for (int a = 0; a < 3; a++)
        SSL3D_CHECK_ARG(ctx, isfinite(c->spacing[a]), OP ": config.spacing[%d] = %g, want a finite value", a,
                        c->spacing[a]);
    SSL3D_CHECK_ARG(ctx, c->loader_threads >= 0 && c->loader_threads <= 64,
                    OP ": config.loader_threads = %d, want 0..64", (int)c->loader_threads);
    SSL3D_CHECK_ARG(ctx, isfinite(c->val_fraction) && c->val_fraction >= 0 && c->val_fraction < 1,
                    OP ": config.val_fraction = %g, want 0 <= f < 1", c->val_fraction);
    SSL3D_CHECK_ARG(ctx, c->val_max >= 0, OP ": config.val_max = %lld, want >= 0", (long long)c->val_max);
    return SSL3D_OK;
}

/* config.cases_file: the manifest cases it lists (ssl3d_ft_select_cases) into *idx
 * (caller frees; NULL on error). */
static ssl3d_status read_cases(ssl3d_ctx *ctx, ssl3d_ctx *dctx, const ssl3d_pretrain_inputs_config *c,
                               int64_t **idx, int64_t *n) {
    ssl3d_manifest *man = NULL;
    ssl3d_status st = ssl3d_manifest_load(dctx, c->manifest, 0, &man);
    if (st != SSL3D_OK) return wrap(ctx, dctx, st, "manifest", c->manifest);
    const int64_t cap = ssl3d_manifest_count(man);
    *idx = malloc((size_t)(cap + 1) * sizeof **idx);
    if (!*idx) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
    else if ((st = ssl3d_ft_select_cases(dctx, man, -1, c->cases_file, *idx, cap, n)) != SSL3D_OK)
        wrap(ctx, dctx, st, "cases_file", NULL);   /* the message names the file and the line */
    else if (*n < 1 || *n > cap)
        st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, OP ": config.cases_file %s lists %lld cases, want 1..%lld",
                             c->cases_file, (long long)*n, (long long)cap);
    ssl3d_manifest_release(man);
    if (st != SSL3D_OK) {
        free(*idx);
        *idx = NULL;
    }
    return st;
}

/* A manifest loader of `subset` with the cases, dims and split of the config. On error
 * *field is the config field at fault (the message is on dctx). */
static ssl3d_status make_loader(ssl3d_ctx *dctx, const ssl3d_pretrain_inputs_config *c, int32_t subset,
                                const int64_t *cases, int64_t n_cases, ssl3d_loader **out, const char **field) {
    ssl3d_status st = ssl3d_loader_create(dctx, c->manifest, subset, out);
    *field = "manifest";
    if (st == SSL3D_OK && cases && (st = ssl3d_loader_set_cases(dctx, *out, cases, n_cases)) != SSL3D_OK)
        *field = c->cases_file ? "cases_file" : "cases";
    if (st == SSL3D_OK && (st = ssl3d_loader_set_dims(dctx, *out, c->dims)) != SSL3D_OK) *field = "dims";
    if (st == SSL3D_OK && (st = ssl3d_loader_set_split(dctx, *out, c->val_fraction, c->split_seed)) != SSL3D_OK)
        *field = "val_fraction";
    return st;
}

/* wrap() for a field whose value is named when it is a path. */
static ssl3d_status wrap_field(ssl3d_ctx *ctx, ssl3d_ctx *from, ssl3d_status st, const ssl3d_pretrain_inputs_config *c,
                               const char *field) {
    const char *value = !strcmp(field, "manifest") ? c->manifest : !strcmp(field, "cases_file") ? c->cases_file : NULL;
    return wrap(ctx, from, st, field, value);
}

/* Channel count of the first training image, read with a throwaway loader (the options of
 * the training loader are not frozen yet). */
static ssl3d_status peek_channels(ssl3d_ctx *dctx, const ssl3d_loader *train, int32_t *channels) {
    ssl3d_loader *peek = NULL;
    ssl3d_tensor *first = NULL;
    const char *p0 = ssl3d_loader_volume_path(train, 0);
    ssl3d_status st = ssl3d_loader_create_files(dctx, &p0, 1, SSL3D_LOADER_ALL, &peek);
    if (st == SSL3D_OK) st = ssl3d_loader_set_dims(dctx, peek, 3);
    if (st == SSL3D_OK) st = ssl3d_loader_item(dctx, peek, 0, &first);
    if (st == SSL3D_OK) *channels = (int32_t)ssl3d_tensor_dim(first, 0);
    ssl3d_tensor_release(first);
    ssl3d_loader_release(peek);
    return st;
}

/* An error of the held-out images: "config.<field> [value]: held-out images: ...". */
static ssl3d_status held_out_error(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_status st,
                                   const ssl3d_pretrain_inputs_config *c, const char *field) {
    char prev[SSL3D_ERRMSG_CAP];
    snprintf(prev, sizeof prev, "held-out images: %s", ssl3d_ctx_last_error(dctx));
    ssl3d_set_error(dctx, st, "%s", prev);
    return wrap_field(ctx, dctx, st, c, field);
}

/* The held-out images: at most val_max, evenly spaced. Runs on rank 0 only. */
static ssl3d_status read_val(ssl3d_ctx *ctx, ssl3d_ctx *dctx, const ssl3d_pretrain_inputs_config *c,
                             const int64_t *cases, int64_t n_cases, uint32_t flags, const double *sp,
                             int32_t loader_threads, ssl3d_pretrain_inputs *in) {
    ssl3d_loader *val = NULL;
    int64_t nv = 0;
    const char *field = "manifest";
    ssl3d_status st = make_loader(dctx, c, SSL3D_LOADER_VAL, cases, n_cases, &val, &field);
    if (st == SSL3D_OK) st = ssl3d_loader_set_preprocess(dctx, val, flags, in->min_size, sp);
    if (st == SSL3D_OK) st = ssl3d_loader_set_threads(dctx, val, loader_threads, 1);
    if (st == SSL3D_OK) st = ssl3d_loader_count(dctx, val, &nv);
    if (st != SSL3D_OK) {
        ssl3d_loader_release(val);
        if (ssl3d_loader_num_volumes(in->train) > 1) return held_out_error(ctx, dctx, st, c, field);
        /* A single image: nothing can be held out. Not an error; the caller is told. */
        ssl3d_ctx_clear_error(dctx);
        in->unsplit = 1;
        return SSL3D_OK;
    }
    const int64_t n = nv < c->val_max ? nv : c->val_max;
    if (n > 0 && (!(in->val = calloc((size_t)n, sizeof *in->val)) ||
                  !(in->val_path = calloc((size_t)n, sizeof *in->val_path)) ||
                  !(in->val_slice = calloc((size_t)n, sizeof *in->val_slice)))) {
        ssl3d_loader_release(val);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
    }
    for (int64_t i = 0; i < n && st == SSL3D_OK; i++, in->n_val++) {
        const int64_t item = n == nv ? i : i * nv / n;
        if ((st = ssl3d_loader_item(dctx, val, item, &in->val[i])) != SSL3D_OK) break;
        const char *path = ssl3d_loader_item_path(val, item, &in->val_slice[i]);
        if (!(in->val_path[i] = strdup(path ? path : ""))) {
            st = ssl3d_set_error(dctx, SSL3D_ERR_NOMEM, OP ": out of memory");
            in->n_val++;   /* val[i] is released with the others */
            break;
        }
    }
    if (st != SSL3D_OK) st = held_out_error(ctx, dctx, st, c, "manifest");
    ssl3d_loader_release(val);   /* the images are copies: its cache is no longer needed */
    return st;
}

static ssl3d_status prepare(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs_config *c, int32_t kind, uint32_t flags,
                            ssl3d_pretrain_inputs *in) {
    ssl3d_ctx *dctx = c->data_ctx ? c->data_ctx : ctx;
    const int32_t ranks = ssl3d_ctx_comm_size(ctx), rank = ssl3d_ctx_comm_rank(ctx);
    int64_t *file_cases = NULL, n_cases = c->n_cases;
    const int64_t *cases = c->cases;
    in->batch = c->batch ? c->batch : default_batch(kind, c->dims);
    SSL3D_CHECK_ARG(ctx, in->batch % ranks == 0, OP ": config.batch = %d does not split evenly over %d ranks (it is the global batch)",
                    (int)in->batch, (int)ranks);
    ssl3d_status st = SSL3D_OK;
    if (c->cases_file) {
        if ((st = read_cases(ctx, dctx, c, &file_cases, &n_cases)) != SSL3D_OK) return st;
        cases = file_cases;
    }
    /* Training images: their channel count fixes the task's input. */
    const char *field = "manifest";
    if ((st = make_loader(dctx, c, SSL3D_LOADER_TRAIN, cases, n_cases, &in->train, &field)) != SSL3D_OK) {
        st = wrap_field(ctx, dctx, st, c, field);
        goto done;
    }
    int32_t channels = 0;
    if ((st = peek_channels(dctx, in->train, &channels)) != SSL3D_OK) {
        st = wrap(ctx, dctx, st, "manifest", c->manifest);
        goto done;
    }
    if ((st = ssl3d_task_create(ctx, kind, c->dims, channels, c->options, &in->task)) != SSL3D_OK) {
        char prev[SSL3D_ERRMSG_CAP];
        snprintf(prev, sizeof prev, "%s", ssl3d_ctx_last_error(ctx));
        st = c->options ? ssl3d_set_error(ctx, st, OP ": config.options '%s': %s", c->options, prev)
                        : ssl3d_set_error(ctx, st, OP ": config.task %s: %s", c->task, prev);
        goto done;
    }
    in->min_size = task_min_size(ctx, in->task);
    /* The same preparation as fine-tuning (ssl3d_ftmodel_prepare_image): per-image
     * normalisation of the whole image, no crop to the non-zero box; the tasks place their
     * crops in the foreground themselves. */
    const int resample = c->spacing[0] > 0 || c->spacing[1] > 0 || c->spacing[2] > 0;
    const double *sp = resample ? c->spacing : NULL;
    /* Under a communicator each rank decodes its own share of a batch (ssl3d_pretrain_run),
     * not the whole batch ahead: no prefetching workers then. */
    const int32_t loader_threads = ranks > 1 ? 0 : c->loader_threads;
    if ((st = ssl3d_loader_set_preprocess(dctx, in->train, flags, in->min_size, sp)) != SSL3D_OK ||
        (st = ssl3d_loader_set_batch(dctx, in->train, in->batch, c->seed)) != SSL3D_OK ||
        (st = ssl3d_loader_set_threads(dctx, in->train, loader_threads, 4)) != SSL3D_OK ||
        (st = ssl3d_loader_count(dctx, in->train, &in->n_items)) != SSL3D_OK) {
        st = wrap(ctx, dctx, st, "manifest", c->manifest);
        goto done;
    }
    in->per_epoch = (in->n_items + in->batch - 1) / in->batch;
    /* Held-out images for the proxy accuracy: only rank 0 evaluates. */
    if (c->val_fraction > 0 && ssl3d_loader_num_volumes(in->train) > 0 && rank == 0)
        st = read_val(ctx, dctx, c, cases, n_cases, flags, sp, loader_threads, in);
done:
    free(file_cases);
    return st;
}

ssl3d_status ssl3d_pretrain_inputs_create(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs_config *cfg,
                                          ssl3d_pretrain_inputs **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, OP ": out is NULL");
    *out = NULL;
    int32_t kind = 0;
    uint32_t flags = 0;
    SSL3D_CHECK(check_config(ctx, cfg, &kind, &flags));
    ssl3d_pretrain_inputs *in = calloc(1, sizeof *in);
    if (!in) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, OP ": out of memory");
    in->data_ctx = cfg->data_ctx;
    in->seed = cfg->seed;
    ssl3d_status st = prepare(ctx, cfg, kind, flags, in);
    if (st != SSL3D_OK) {
        ssl3d_pretrain_inputs_release(in);
        return st;
    }
    *out = in;
    return SSL3D_OK;
}

void ssl3d_pretrain_inputs_release(ssl3d_pretrain_inputs *in) {
    if (!in) return;
    for (int64_t i = 0; i < in->n_val; i++) {
        ssl3d_tensor_release(in->val[i]);
        if (in->val_path) free(in->val_path[i]);
    }
    free(in->val);
    free(in->val_path);
    free(in->val_slice);
    ssl3d_task_release(in->task);
    ssl3d_loader_release(in->train);
    free(in);
}

ssl3d_task *ssl3d_pretrain_inputs_task(const ssl3d_pretrain_inputs *in) { return in ? in->task : NULL; }
ssl3d_loader *ssl3d_pretrain_inputs_loader(const ssl3d_pretrain_inputs *in) { return in ? in->train : NULL; }
int32_t ssl3d_pretrain_inputs_batch(const ssl3d_pretrain_inputs *in) { return in ? in->batch : 0; }
int64_t ssl3d_pretrain_inputs_train_count(const ssl3d_pretrain_inputs *in) { return in ? in->n_items : 0; }
int64_t ssl3d_pretrain_inputs_steps_per_epoch(const ssl3d_pretrain_inputs *in) { return in ? in->per_epoch : 0; }
int64_t ssl3d_pretrain_inputs_min_size(const ssl3d_pretrain_inputs *in) { return in ? in->min_size : 0; }
int64_t ssl3d_pretrain_inputs_val_count(const ssl3d_pretrain_inputs *in) { return in ? in->n_val : 0; }
int32_t ssl3d_pretrain_inputs_unsplit(const ssl3d_pretrain_inputs *in) { return in ? in->unsplit : 0; }

const char *ssl3d_pretrain_inputs_val_path(const ssl3d_pretrain_inputs *in, int64_t i, int64_t *slice) {
    if (!in || i < 0 || i >= in->n_val) return NULL;
    if (slice) *slice = in->val_slice[i];
    return in->val_path[i];
}

ssl3d_tensor *ssl3d_pretrain_inputs_val_image(const ssl3d_pretrain_inputs *in, int64_t i) {
    return in && i >= 0 && i < in->n_val ? in->val[i] : NULL;
}

ssl3d_status ssl3d_pretrain_inputs_fill_config(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs *in,
                                               ssl3d_pretrain_config *cfg) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, in, "ssl3d_pretrain_inputs_fill_config: inputs is NULL");
    SSL3D_CHECK_ARG(ctx, cfg, "ssl3d_pretrain_inputs_fill_config: config is NULL");
    SSL3D_CHECK_ARG(ctx, cfg->size == sizeof *cfg && cfg->version == SSL3D_PRETRAIN_CONFIG_VERSION,
                    "ssl3d_pretrain_inputs_fill_config: config.size %u / config.version %u do not match this "
                    "library's (%u / %u): initialise the config with ssl3d_pretrain_config_init",
                    (unsigned)cfg->size, (unsigned)cfg->version, (unsigned)sizeof *cfg,
                    (unsigned)SSL3D_PRETRAIN_CONFIG_VERSION);
    cfg->loader = in->train;
    cfg->batch_fn = NULL;
    cfg->batch_user = NULL;
    cfg->batch = in->batch;
    cfg->seed = in->seed;
    cfg->val = in->val;
    cfg->n_val = in->n_val;
    cfg->steps_per_epoch = in->per_epoch;
    cfg->data_ctx = in->data_ctx;
    return SSL3D_OK;
}
