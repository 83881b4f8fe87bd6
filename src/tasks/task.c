/* The proxy-task runtime shared by the five tasks: kinds, options, modules, argument
 * checks and dispatch of ssl3d_task_forward, checkpoint save / load. Each task fills a
 * task_vtable in its own file (task_internal.h, docs/adding-a-task.md). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "task_internal.h"

static const task_vtable *const task_table[] = {
    &task_rotation_vtable, &task_rpl_vtable, &task_jigsaw_vtable, &task_cpc_vtable, &task_exemplar_vtable
};
#define TASK_KINDS ((int32_t)(sizeof task_table / sizeof task_table[0]))

/* Options whose values also have names: value i is names[i]. */
typedef struct named_option { const char *key; const char *names[4]; int32_t n; const char *choices; } named_option;
static const named_option named_options[] = {
    { "norm", { "batch", "group", "instance", "none" }, 4, "batch|group|instance|none" },
    { "loss", { "triplet", "ntxent" }, 2, "triplet|ntxent" },           /* exemplar */
    { "negative", { "hard", "random" }, 2, "hard|random" },             /* exemplar triplet */
    { "region", { "box", "inner" }, 2, "box|inner" },                   /* all: TASK_REGION_* */
};

/* Options added after checkpoints began to store the options string: written there only
 * when set away from their default, so that the checkpoint of a run that leaves them alone
 * is the same as before they existed (and reads in versions that do not know them). */
static int option_is_unwritten_default(const task_option *o) {
    return (!strcmp(o->key, "region") || !strcmp(o->key, "fg_level")) && o->value == 0;
}

static const named_option *named_option_of(const char *key) {
    for (size_t i = 0; i < sizeof named_options / sizeof named_options[0]; i++)
        if (!strcmp(named_options[i].key, key)) return &named_options[i];
    return NULL;
}

/* ---------------------------------------------------------------- kinds */

const char *ssl3d_task_kind_name(int32_t kind) {
    static const char *const names[] = { "rotation", "rpl", "jigsaw", "cpc", "exemplar" };
    return kind >= 0 && kind < TASK_KINDS ? names[kind] : "";
}

ssl3d_status ssl3d_task_kind_parse(const char *name, int32_t *kind) {
    if (!name || !kind) return SSL3D_ERR_INVALID_ARG;
    for (int32_t k = 0; k < TASK_KINDS; k++)
        if (!strcmp(name, ssl3d_task_kind_name(k))) { *kind = k; return SSL3D_OK; }
    return SSL3D_ERR_INVALID_ARG;
}

/* ---------------------------------------------------------------- options */

static task_option *opt_find(const ssl3d_task *t, const char *key) {
    for (int32_t i = 0; i < t->n_opts; i++)
        if (!strcmp(t->opts[i].key, key)) return (task_option *)&t->opts[i];
    return NULL;
}

void task_opt_default(ssl3d_task *t, const char *key, double value) {
    task_option *o = opt_find(t, key);
    if (!o) {
        if (t->n_opts >= TASK_MAX_OPTIONS || strlen(key) >= sizeof o->key) return;   /* programming error */
        o = &t->opts[t->n_opts++];
        snprintf(o->key, sizeof o->key, "%s", key);
    }
    o->value = value;
}

double task_opt(const ssl3d_task *t, const char *key) {
    const task_option *o = opt_find(t, key);
    return o ? o->value : 0.0;
}

int32_t task_opt_int(const ssl3d_task *t, const char *key) {
    double v = task_opt(t, key);
    return v >= -2147483648.0 && v <= 2147483647.0 ? (int32_t)v : 0;
}

ssl3d_status task_opt_check(ssl3d_ctx *ctx, const ssl3d_task *t, const char *key, double lo, double hi) {
    double v = task_opt(t, key);
    SSL3D_CHECK_ARG(ctx, v >= lo && v <= hi, "ssl3d_task_create: option '%s' = %g of task %s must be in [%g, %g]",
                    key, v, t->vt->name, lo, hi);
    return SSL3D_OK;
}

ssl3d_status task_opt_check_int(ssl3d_ctx *ctx, const ssl3d_task *t, const char *key, int64_t lo, int64_t hi) {
    double v = task_opt(t, key);
    SSL3D_CHECK_ARG(ctx, v == floor(v) && v >= (double)lo && v <= (double)hi,
                    "ssl3d_task_create: option '%s' = %g of task %s must be an integer in [%lld, %lld]", key, v,
                    t->vt->name, (long long)lo, (long long)hi);
    return SSL3D_OK;
}

/* Shortest "%g" form that reads back as the same double. */
static void format_value(char *buf, size_t cap, double v) {
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* An option's value as text: the name of a named value, else the shortest exact "%g". */
static void option_text(const task_option *o, char *buf, size_t cap) {
    const named_option *no = named_option_of(o->key);
    if (no && o->value >= 0 && o->value < no->n && o->value == floor(o->value))
        snprintf(buf, cap, "%s", no->names[(int)o->value]);
    else
        format_value(buf, cap, o->value);
}

/* Resolved options as "k=v,k=v" (named values by name), the checkpoint's "options"
 * (region and fg_level only when not at their defaults: option_is_unwritten_default). */
static void options_string(const ssl3d_task *t, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < t->n_opts && len < cap; i++) {
        char v[40];
        const task_option *o = &t->opts[i];
        if (option_is_unwritten_default(o)) continue;
        option_text(o, v, sizeof v);
        int w = snprintf(buf + len, cap - len, "%s%s=%s", len ? "," : "", o->key, v);
        if (w < 0) break;
        len += (size_t)w;
    }
}

/* The value of `key` in a "k=v,k=v" string, copied to buf; 0 when absent. */
static int options_value(const char *opts, const char *key, char *buf, size_t cap) {
    const size_t n = strlen(key);
    for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, key, n) || p[n] != '=') continue;
        const char *v = p + n + 1, *end = strchr(v, ',');
        snprintf(buf, cap, "%.*s", (int)(end ? end - v : (ptrdiff_t)strlen(v)), v);
        return 1;
    }
    return 0;
}

/* Two option texts name the same value: equal text, or numbers that read back equal. */
static int same_option_text(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    char *ea = NULL, *eb = NULL;
    const double x = strtod(a, &ea), y = strtod(b, &eb);
    return *a && *b && !*ea && !*eb && x == y;
}

int task_options_differ(const ssl3d_task *t, const char *ck_options, char *key, size_t key_cap, char *theirs,
                        size_t theirs_cap, char *mine, size_t mine_cap) {
    for (int32_t i = 0; i < t->n_opts; i++) {
        const task_option *o = &t->opts[i];
        option_text(o, mine, mine_cap);
        if (!options_value(ck_options, o->key, theirs, theirs_cap)) {
            /* Absent: not recorded (a checkpoint older than the option), or at a default
             * the string leaves out. */
            task_option dflt = *o;
            dflt.value = 0;
            if (!option_is_unwritten_default(&dflt)) continue;
            option_text(&dflt, theirs, theirs_cap);
        }
        if (!same_option_text(theirs, mine)) { snprintf(key, key_cap, "%s", o->key); return 1; }
    }
    /* A key the task does not have (another version's option). */
    for (const char *p = ck_options; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!eq || (end && end < eq)) continue;
        snprintf(key, key_cap, "%.*s", (int)(eq - p), p);
        if (opt_find(t, key)) continue;
        options_value(ck_options, key, theirs, theirs_cap);
        snprintf(mine, mine_cap, "(none)");
        return 1;
    }
    return 0;
}

/* Apply the user's "k=v,k=v" list onto the defaults. */
static ssl3d_status parse_options(ssl3d_ctx *ctx, ssl3d_task *t, const char *options) {
    static const char fn[] = "ssl3d_task_create";
    const char *p = options;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[160];
        SSL3D_CHECK_ARG(ctx, len < sizeof item, "%s: option '%.40s...' is too long", fn, p);
        memcpy(item, p, len);
        item[len] = '\0';
        p = end ? end + 1 : NULL;
        /* trim spaces */
        char *s = item, *e = item + len;
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
        if (!*s) continue;   /* empty item, e.g. a trailing comma */
        char *eq = strchr(s, '=');
        SSL3D_CHECK_ARG(ctx, eq, "%s: option '%s' of task %s has no value (expected key=value)", fn, s, t->vt->name);
        *eq = '\0';
        char *key = s, *val = eq + 1;
        for (char *k = eq; k > key && (k[-1] == ' ' || k[-1] == '\t');) *--k = '\0';
        while (*val == ' ' || *val == '\t') val++;
        task_option *o = opt_find(t, key);
        if (!o) {
            char known[TASK_MAX_OPTIONS * 34] = "";
            size_t kl = 0;
            for (int32_t i = 0; i < t->n_opts && kl < sizeof known; i++) {
                int w = snprintf(known + kl, sizeof known - kl, "%s%s", i ? ", " : "", t->opts[i].key);
                if (w > 0) kl += (size_t)w;
            }
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: unknown option '%s' for task %s (known: %s)", fn,
                                   key, t->vt->name, known);
        }
        const named_option *no = named_option_of(key);
        if (no) {
            int found = 0;
            for (int i = 0; i < no->n; i++)
                if (!strcmp(val, no->names[i])) { o->value = i; found = 1; }
            if (found) continue;
        }
        char *stop = NULL;
        errno = 0;
        double v = strtod(val, &stop);
        SSL3D_CHECK_ARG(ctx, *val && stop && *stop == '\0' && errno == 0 && isfinite(v),
                        "%s: bad value '%s' for option '%s' of task %s (expected a number%s%s)", fn, val, key,
                        t->vt->name, no ? " or " : "", no ? no->choices : "");
        o->value = v;
    }
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- create / release */

ssl3d_status task_add_module(ssl3d_task *t, ssl3d_module *m, const char *name) {
    if (!m) return ssl3d_set_error(t->ctx, SSL3D_ERR_INVALID_ARG, "task_add_module: module '%s' is NULL", name);
    if (t->n_modules >= TASK_MAX_MODULES || strlen(name) >= sizeof t->module_names[0]) {
        ssl3d_module_release(m);
        return ssl3d_set_error(t->ctx, SSL3D_ERR_INVALID_ARG, "task_add_module: too many modules or name '%s' too long",
                               name);
    }
    t->modules[t->n_modules] = m;
    snprintf(t->module_names[t->n_modules], sizeof t->module_names[0], "%s", name);
    t->n_modules++;
    return SSL3D_OK;
}

void ssl3d_task_release(ssl3d_task *t) {
    if (!t) return;
    if (t->vt && t->vt->free_impl && t->impl) t->vt->free_impl(t->impl);
    for (int32_t i = 0; i < t->n_modules; i++) ssl3d_module_release(t->modules[i]);
    free(t);
}

ssl3d_status ssl3d_task_create(ssl3d_ctx *ctx, int32_t kind, int32_t dims, int32_t in_channels, const char *options,
                               ssl3d_task **out) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_task_create";
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, kind >= 0 && kind < TASK_KINDS, "%s: unknown task kind %d", fn, (int)kind);
    SSL3D_CHECK_ARG(ctx, dims == 2 || dims == 3, "%s: dims must be 2 or 3, got %d", fn, (int)dims);
    SSL3D_CHECK_ARG(ctx, in_channels >= 1 && in_channels <= 4096, "%s: in_channels %d out of range [1, 4096]", fn,
                    (int)in_channels);
    ssl3d_task *t = calloc(1, sizeof *t);
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    t->ctx = ctx;
    t->kind = kind;
    t->dims = dims;
    t->in_channels = in_channels;
    t->vt = task_table[kind];
    /* The encoder's options come first (paper defaults), then the task's. */
    task_opt_default(t, "filters", dims == 3 ? 16 : 32);
    task_opt_default(t, "levels", 4);
    task_opt_default(t, "norm", SSL3D_NORM_BATCH);
    if (t->vt->defaults) t->vt->defaults(t);
    /* Where every task takes its crops (task_window.h): the foreground box, or the largest
     * square / cube inside the foreground; foreground = non-zero, or above fg_level of the
     * image's range. */
    task_opt_default(t, "region", 0);
    task_opt_default(t, "fg_level", 0);
    ssl3d_status st = parse_options(ctx, t, options);
    if (st == SSL3D_OK) st = task_opt_check_int(ctx, t, "filters", 1, 4096);
    if (st == SSL3D_OK) st = task_opt_check_int(ctx, t, "levels", 1, 8);
    if (st == SSL3D_OK) st = task_opt_check_int(ctx, t, "norm", SSL3D_NORM_BATCH, SSL3D_NORM_NONE);
    if (st == SSL3D_OK) st = task_opt_check_int(ctx, t, "region", 0, 1);
    if (st == SSL3D_OK) {
        const double f = task_opt(t, "fg_level");
        if (!(f >= 0 && f < 1))
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: option 'fg_level' = %g of task %s must be in [0, 1)",
                                 fn, f, t->vt->name);
    }
    ssl3d_module *enc = NULL;
    if (st == SSL3D_OK)
        st = ssl3d_encoder_create(ctx, dims, in_channels, task_opt_int(t, "filters"), task_opt_int(t, "levels"),
                                  task_opt_int(t, "norm"), &enc);
    if (st == SSL3D_OK) st = task_add_module(t, enc, "encoder");
    if (st == SSL3D_OK) st = t->vt->init(ctx, t);
    if (st != SSL3D_OK) { ssl3d_task_release(t); return st; }
    *out = t;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- accessors */

int32_t ssl3d_task_kind_of(const ssl3d_task *t) { return t ? t->kind : -1; }
int32_t ssl3d_task_dims(const ssl3d_task *t) { return t ? t->dims : 0; }
double ssl3d_task_chance(const ssl3d_task *t) { return t ? t->chance : NAN; }
ssl3d_module *ssl3d_task_encoder(const ssl3d_task *t) { return t && t->n_modules > 0 ? t->modules[0] : NULL; }
int32_t ssl3d_task_module_count(const ssl3d_task *t) { return t ? t->n_modules : 0; }
ssl3d_module *ssl3d_task_module(const ssl3d_task *t, int32_t i) {
    return t && i >= 0 && i < t->n_modules ? t->modules[i] : NULL;
}
const char *ssl3d_task_module_name(const ssl3d_task *t, int32_t i) {
    return t && i >= 0 && i < t->n_modules ? t->module_names[i] : "";
}

ssl3d_status ssl3d_task_option(ssl3d_ctx *ctx, const ssl3d_task *t, const char *key, double *value) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, t, "ssl3d_task_option: task is NULL");
    SSL3D_CHECK_ARG(ctx, key && value, "ssl3d_task_option: key and value must not be NULL");
    const task_option *o = opt_find(t, key);
    if (!o) return ssl3d_set_error(ctx, SSL3D_ERR_NOT_FOUND, "ssl3d_task_option: task %s has no option '%s'",
                                   t->vt->name, key);
    *value = o->value;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- shared forward pieces */

ssl3d_status task_sample_status(ssl3d_ctx *ctx, ssl3d_ctx *sctx, ssl3d_status st) {
    if (st == SSL3D_OK || sctx == ctx) return st;
    return ssl3d_set_error(ctx, st, "%s", ssl3d_ctx_last_error(sctx));
}

ssl3d_status task_batch_to(ssl3d_ctx *ctx, ssl3d_tensor **batch) {
    if ((*batch)->ctx == ctx) return SSL3D_OK;
    ssl3d_tensor *moved = NULL;
    SSL3D_CHECK(ssl3d_tensor_copy_to(ctx, *batch, &moved));
    ssl3d_tensor_release(*batch);
    *batch = moved;
    return SSL3D_OK;
}

void task_view_as(ssl3d_tensor *t, int32_t ndim, const int64_t *shape) {
    t->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) t->shape[i] = shape[i];
}

ssl3d_status task_encode_pooled(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *x, int32_t training,
                                ssl3d_tensor **features) {
    ssl3d_tensor *b = NULL;
    SSL3D_CHECK(ssl3d_encoder_forward(ctx, t->modules[0], x, training, &b, NULL));
    ssl3d_status st = ssl3d_global_avgpool(ctx, b, features);
    ssl3d_tensor_release(b);
    return st;
}

ssl3d_status task_classify(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels, ssl3d_tensor **loss,
                           int64_t *correct) {
    ssl3d_tensor *l = NULL;
    SSL3D_CHECK(ssl3d_cross_entropy(ctx, logits, labels, &l));
    ssl3d_status st = ssl3d_count_correct(ctx, logits, labels, correct);
    if (st != SSL3D_OK) { ssl3d_tensor_release(l); return st; }
    *loss = l;
    return SSL3D_OK;
}

ssl3d_status task_labels(ssl3d_ctx *ctx, const int32_t *labels, int64_t n, ssl3d_tensor **out) {
    return ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &n, labels, out);
}

ssl3d_status task_samples_labels(ssl3d_ctx *ctx, const task_samples *s, ssl3d_tensor **out) {
    if (s->lab) { *out = ssl3d_tensor_retain(s->lab); return SSL3D_OK; }
    return task_labels(ctx, s->labels, s->n_labels, out);
}

void task_samples_free(task_samples *s) {
    ssl3d_tensor_release(s->x);
    ssl3d_tensor_release(s->lab);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- forward */

/* Samples per image of a training call: rotation's samples_per_image, 1 for the others. */
static int64_t samples_per_image(const ssl3d_task *t) {
    const int32_t spi = t->kind == SSL3D_TASK_ROTATION ? task_opt_int(t, "samples_per_image") : 1;
    return spi > 0 ? spi : 1;
}

ssl3d_status ssl3d_task_set_image_offset(ssl3d_ctx *ctx, ssl3d_task *t, int64_t first_image) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, t, "ssl3d_task_set_image_offset: task is NULL");
    SSL3D_CHECK_ARG(ctx, first_image >= 0 && first_image * samples_per_image(t) < 65536,
                    "ssl3d_task_set_image_offset: first_image = %lld outside [0, %lld)", (long long)first_image,
                    (long long)(65536 / samples_per_image(t)));
    t->sample_offset = first_image * samples_per_image(t);
    return SSL3D_OK;
}

/* The argument checks of ssl3d_task_forward (but loss). */
static ssl3d_status check_forward(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images) {
    static const char fn[] = "ssl3d_task_forward";
    SSL3D_CHECK_ARG(ctx, t, "%s: task is NULL", fn);
    SSL3D_CHECK_ARG(ctx, t->ctx == ctx, "%s: task belongs to another context", fn);
    SSL3D_CHECK_ARG(ctx, images, "%s: images is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_images >= 1 && n_images <= 65535, "%s: n_images = %d outside [1, 65535]", fn,
                    (int)n_images);
    SSL3D_CHECK_ARG(ctx, t->sample_offset + (int64_t)n_images * samples_per_image(t) <= 65536,
                    "%s: %d images after the image offset of ssl3d_task_set_image_offset exceed 65536 samples", fn,
                    (int)n_images);
    for (int32_t i = 0; i < n_images; i++) {
        char what[32], s[96];
        snprintf(what, sizeof what, "images[%d]", (int)i);
        SSL3D_CHECK_ARG(ctx, images[i], "%s: %s is NULL", fn, what);
        const ssl3d_tensor *x = images[i];
        /* The samples are built where the images are: in ctx, or in one host-memory
         * context (a device task uploads each batch). */
        SSL3D_CHECK_ARG(ctx, x->ctx == images[0]->ctx, "%s: %s belongs to another context than images[0]", fn, what);
        SSL3D_CHECK_ARG(ctx, x->ctx == ctx || x->ctx->be->host_memory,
                        "%s: %s belongs to another %s context; give the images in the task's context or in a "
                        "host-memory (CPU) context", fn, what, x->ctx->be->name);
        if (x->dtype != SSL3D_F32)
            return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: %s must be float32, got int32", fn, what);
        SSL3D_CHECK_SHAPE(ctx, x->ndim == t->dims + 1, "%s: %s %s must be (C,%s) for a %dD task", fn, what,
                          ssl3d_shape_str(x, s, sizeof s), t->dims == 3 ? "D,H,W" : "H,W", (int)t->dims);
        SSL3D_CHECK_SHAPE(ctx, x->shape[0] == t->in_channels, "%s: %s %s has %lld channels, the task was created for %d",
                          fn, what, ssl3d_shape_str(x, s, sizeof s), (long long)x->shape[0], (int)t->in_channels);
        for (int32_t a = 0; a < t->dims; a++)
            SSL3D_CHECK_SHAPE(ctx, x->shape[1 + a] >= t->min_size,
                              "%s: %s %s is too small: task %s needs at least %lld voxels along every spatial axis "
                              "(axis %d has %lld)", fn, what, ssl3d_shape_str(x, s, sizeof s), t->vt->name,
                              (long long)t->min_size, (int)a, (long long)x->shape[1 + a]);
    }
    return SSL3D_OK;
}

/* Forward of a split task (build, move the batch, run): as its one-piece forward did. */
static ssl3d_status split_forward(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                  uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **loss,
                                  int64_t *correct, int64_t *total) {
    task_samples s = { 0 };
    ssl3d_status st = t->vt->build(ctx, t, images, n_images, seed, index, training, &s);
    if (st == SSL3D_OK) st = task_batch_to(ctx, &s.x);
    if (st == SSL3D_OK) st = t->vt->run(ctx, t, &s, n_images, seed, index, training, loss, correct, total);
    task_samples_free(&s);
    return st;
}

/* Run a forward with gradient recording off for evaluation (nothing would be
 * back-propagated); the outputs only on success. */
typedef struct forward_call {
    ssl3d_tensor *const *images;
    int32_t n_images;
    uint64_t seed, index;
    int32_t training;
    task_samples *samples;   /* prefetched: run these instead of building */
} forward_call;

static ssl3d_status do_forward(ssl3d_ctx *ctx, ssl3d_task *t, const forward_call *fc, ssl3d_tensor **loss,
                               int64_t *correct, int64_t *total) {
    ssl3d_tensor *l = NULL;
    int64_t c = 0, n = 0;
    const int32_t training = fc->training ? 1 : 0;
    int32_t prev = training ? 1 : ssl3d_set_grad_enabled(ctx, 0);
    ssl3d_status st;
    if (fc->samples) st = t->vt->run(ctx, t, fc->samples, fc->n_images, fc->seed, fc->index, training, &l, &c, &n);
    else if (t->vt->build) st = split_forward(ctx, t, fc->images, fc->n_images, fc->seed, fc->index, training, &l, &c, &n);
    else st = t->vt->forward(ctx, t, fc->images, fc->n_images, fc->seed, fc->index, training, &l, &c, &n);
    if (!training) ssl3d_set_grad_enabled(ctx, prev);
    if (st != SSL3D_OK) { ssl3d_tensor_release(l); return st; }
    *loss = l;
    if (correct) *correct = c;
    if (total) *total = n;
    return SSL3D_OK;
}

ssl3d_status ssl3d_task_forward(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **loss,
                                int64_t *correct, int64_t *total) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, loss, "ssl3d_task_forward: loss is NULL");
    SSL3D_CHECK(check_forward(ctx, t, images, n_images));
    const forward_call fc = { images, n_images, seed, index, training, NULL };
    return do_forward(ctx, t, &fc, loss, correct, total);
}

/* ---------------------------------------------------------------- samples made ahead */

struct task_prefetch {
    int32_t n_images;
    uint64_t seed, index;
    int32_t training;
    task_samples s;          /* x and lab not set: they are on their way */
    ssl3d_upload *x, *lab;
};

int task_can_prefetch(const ssl3d_task *t) { return t && t->vt->build && t->vt->run; }

ssl3d_status task_prefetch_begin(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                 uint64_t seed, uint64_t index, int32_t training, task_prefetch **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_forward(ctx, t, images, n_images));
    SSL3D_CHECK_ARG(ctx, task_can_prefetch(t) && out, "task_prefetch_begin: task %s cannot make its samples ahead",
                    t->vt->name);
    task_prefetch *p = calloc(1, sizeof *p);
    if (!p) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "task_prefetch_begin: out of memory");
    p->n_images = n_images; p->seed = seed; p->index = index; p->training = training ? 1 : 0;
    int32_t prev = p->training ? 1 : ssl3d_set_grad_enabled(ctx, 0);
    ssl3d_status st = t->vt->build(ctx, t, images, n_images, seed, index, p->training, &p->s);
    if (!p->training) ssl3d_set_grad_enabled(ctx, prev);
    if (st == SSL3D_OK) st = ssl3d_upload_begin(ctx, p->s.x, &p->x);
    if (st == SSL3D_OK && p->s.labels) {
        /* The labels go up with the batch (a host tensor of them, in the batch's context). */
        ssl3d_tensor *h = NULL;
        st = ssl3d_tensor_from_data(p->s.x->ctx, SSL3D_I32, 1, &p->s.n_labels, p->s.labels, &h);
        st = task_sample_status(ctx, p->s.x->ctx, st);
        if (st == SSL3D_OK) st = ssl3d_upload_begin(ctx, h, &p->lab);
        ssl3d_tensor_release(h);
    }
    ssl3d_tensor_release(p->s.x);   /* copied (or retained by the upload) */
    p->s.x = NULL;
    if (st != SSL3D_OK) { task_prefetch_drop(ctx, p); return st; }
    *out = p;
    return SSL3D_OK;
}

ssl3d_status task_forward_prefetched(ssl3d_ctx *ctx, ssl3d_task *t, task_prefetch *p, ssl3d_tensor **loss,
                                     int64_t *correct, int64_t *total) {
    SSL3D_CHECK_CTX(ctx);
    if (!p || !loss) {
        task_prefetch_drop(ctx, p);
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "task_forward_prefetched: %s is NULL", p ? "loss" : "p");
    }
    /* From here the device work waits for the copies (the host does not). */
    p->s.x = ssl3d_upload_take(ctx, p->x);
    p->s.lab = ssl3d_upload_take(ctx, p->lab);
    p->x = p->lab = NULL;
    const forward_call fc = { NULL, p->n_images, p->seed, p->index, p->training, &p->s };
    ssl3d_status st = do_forward(ctx, t, &fc, loss, correct, total);
    task_prefetch_drop(ctx, p);
    return st;
}

void task_prefetch_drop(ssl3d_ctx *ctx, task_prefetch *p) {
    if (!p) return;
    ssl3d_upload_drop(ctx, p->x);
    ssl3d_upload_drop(ctx, p->lab);
    task_samples_free(&p->s);
    free(p);
}

/* ---------------------------------------------------------------- checkpoints */

#define TASK_META_FORMAT "ssl3d-task"

ssl3d_status ssl3d_task_save(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_checkpoint *ck) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_task_save";
    SSL3D_CHECK_ARG(ctx, t && ck, "%s: task and checkpoint must not be NULL", fn);
    char name[SSL3D_CHECKPOINT_NAME_MAX + 1];
    for (int32_t m = 0; m < t->n_modules; m++) {
        const ssl3d_module *mod = t->modules[m];
        for (int32_t i = 0; i < ssl3d_module_tensor_count(mod); i++) {
            snprintf(name, sizeof name, "%s.%s", t->module_names[m], ssl3d_module_tensor_name(mod, i));
            SSL3D_CHECK(ssl3d_checkpoint_add_tensor(ctx, ck, name, ssl3d_module_tensor(mod, i)));
        }
    }
    char opts[TASK_MAX_OPTIONS * 72], num[16];
    options_string(t, opts, sizeof opts);
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "format", TASK_META_FORMAT));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "task", t->vt->name));
    snprintf(num, sizeof num, "%d", (int)t->dims);
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "dims", num));
    snprintf(num, sizeof num, "%d", (int)t->in_channels);
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "in_channels", num));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "options", opts));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "ssl3d_version", ssl3d_version()));
    if (t->vt->save_extra) SSL3D_CHECK(t->vt->save_extra(ctx, t, ck));
    return SSL3D_OK;
}

/* Metadata value that must equal `want` when present. */
static ssl3d_status meta_matches(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *key, const char *want) {
    const char *v = NULL;
    if (ssl3d_checkpoint_get_meta(ctx, ck, key, &v) != SSL3D_OK) { ssl3d_ctx_clear_error(ctx); return SSL3D_OK; }
    SSL3D_CHECK_ARG(ctx, !strcmp(v, want), "ssl3d_task_load: checkpoint has %s '%s', the task has '%s'", key, v,
                    want);
    return SSL3D_OK;
}

ssl3d_status ssl3d_task_load(ssl3d_ctx *ctx, ssl3d_task *t, const ssl3d_checkpoint *ck) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_task_load";
    SSL3D_CHECK_ARG(ctx, t && ck, "%s: task and checkpoint must not be NULL", fn);
    char num[16];
    SSL3D_CHECK(meta_matches(ctx, ck, "task", t->vt->name));
    snprintf(num, sizeof num, "%d", (int)t->dims);
    SSL3D_CHECK(meta_matches(ctx, ck, "dims", num));
    snprintf(num, sizeof num, "%d", (int)t->in_channels);
    SSL3D_CHECK(meta_matches(ctx, ck, "in_channels", num));
    /* Check every tensor first so that a mismatch leaves the task untouched. */
    char name[SSL3D_CHECKPOINT_NAME_MAX + 1], s[96];
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t m = 0; m < t->n_modules; m++) {
            const ssl3d_module *mod = t->modules[m];
            for (int32_t i = 0; i < ssl3d_module_tensor_count(mod); i++) {
                ssl3d_tensor *dst = ssl3d_module_tensor(mod, i);
                snprintf(name, sizeof name, "%s.%s", t->module_names[m], ssl3d_module_tensor_name(mod, i));
                if (pass == 1) { SSL3D_CHECK(ssl3d_checkpoint_copy_into(ctx, ck, name, dst)); continue; }
                int32_t dtype = -1, ndim = 0;
                int64_t shape[SSL3D_MAX_DIMS];
                ssl3d_status st = ssl3d_checkpoint_tensor_info(ctx, ck, name, &dtype, &ndim, shape, SSL3D_MAX_DIMS);
                if (st == SSL3D_ERR_NOT_FOUND)
                    return ssl3d_set_error(ctx, st, "%s: checkpoint has no tensor '%s'", fn, name);
                if (st != SSL3D_OK) return st;
                int same = dtype == dst->dtype && ndim == dst->ndim;
                for (int32_t d = 0; same && d < ndim; d++) same = shape[d] == dst->shape[d];
                if (!same)
                    return ssl3d_set_error(ctx, dtype != dst->dtype ? SSL3D_ERR_DTYPE : SSL3D_ERR_SHAPE,
                                           "%s: tensor '%s' in the checkpoint does not match the task's %s %s "
                                           "(created with other options?)", fn, name,
                                           dst->dtype == SSL3D_F32 ? "float32" : "int32",
                                           ssl3d_shape_str(dst, s, sizeof s));
            }
        }
    }
    if (t->vt->load_extra) SSL3D_CHECK(t->vt->load_extra(ctx, t, ck));
    return SSL3D_OK;
}

ssl3d_status ssl3d_task_create_from_checkpoint(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, ssl3d_task **out) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_task_create_from_checkpoint";
    SSL3D_CHECK_ARG(ctx, ck && out, "%s: checkpoint and out must not be NULL", fn);
    const char *format = NULL, *task = NULL, *dims_s = NULL, *chan_s = NULL, *opts = NULL;
    const char *keys[5] = { "format", "task", "dims", "in_channels", "options" };
    const char **vals[5] = { &format, &task, &dims_s, &chan_s, &opts };
    for (int i = 0; i < 5; i++)
        if (ssl3d_checkpoint_get_meta(ctx, ck, keys[i], vals[i]) != SSL3D_OK)
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: checkpoint metadata has no '%s' (not written by "
                                   "ssl3d_task_save?)", fn, keys[i]);
    if (strcmp(format, TASK_META_FORMAT))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: metadata format is '%s', expected '%s'", fn, format,
                               TASK_META_FORMAT);
    int32_t kind = -1;
    if (ssl3d_task_kind_parse(task, &kind) != SSL3D_OK)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: unknown task '%s' in the metadata", fn, task);
    char *e1 = NULL, *e2 = NULL;
    long dims = strtol(dims_s, &e1, 10), chans = strtol(chan_s, &e2, 10);
    if (*dims_s == '\0' || *e1 || (dims != 2 && dims != 3))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: bad 'dims' '%s' in the metadata", fn, dims_s);
    if (*chan_s == '\0' || *e2 || chans < 1 || chans > 4096)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: bad 'in_channels' '%s' in the metadata", fn, chan_s);
    ssl3d_task *t = NULL;
    SSL3D_CHECK(ssl3d_task_create(ctx, kind, (int32_t)dims, (int32_t)chans, opts, &t));
    ssl3d_status st = ssl3d_task_load(ctx, t, ck);
    if (st != SSL3D_OK) { ssl3d_task_release(t); return st; }
    *out = t;
    return SSL3D_OK;
}
