/* Fine-tuning model: encoder + U-Net decoder (segment) or encoder + GAP + MLP (classify),
 * its loss, and its model file (safetensors with metadata). */
#include <stdio.h>
#include <string.h>
#include "finetune_internal.h"

static const char *norm_names[] = { "batch", "group", "instance", "none" };
static const char *input_norm_names[] = { "none", "zscore", "minmax" };

const char *ft_norm_name(int32_t norm) { return norm >= 0 && norm <= 3 ? norm_names[norm] : ""; }
int32_t ft_norm_parse(const char *s) {
    for (int32_t i = 0; s && i < 4; i++) if (!strcmp(s, norm_names[i])) return i;
    return -1;
}
const char *ft_input_norm_name(int32_t n) { return n >= 0 && n <= 2 ? input_norm_names[n] : ""; }
int32_t ft_input_norm_parse(const char *s) {
    for (int32_t i = 0; s && i < 3; i++) if (!strcmp(s, input_norm_names[i])) return i;
    return -1;
}

ssl3d_status ssl3d_ftmodel_create(ssl3d_ctx *ctx, int32_t kind, int32_t dims, int32_t in_channels, int32_t classes,
                                  int32_t base_filters, int32_t levels, int32_t norm, int32_t hidden, int32_t ordinal,
                                  ssl3d_ftmodel **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_ftmodel_create: out is NULL");
    SSL3D_CHECK_ARG(ctx, kind == SSL3D_FT_SEGMENT || kind == SSL3D_FT_CLASSIFY,
                    "ssl3d_ftmodel_create: kind must be SSL3D_FT_SEGMENT or SSL3D_FT_CLASSIFY, got %d", (int)kind);
    SSL3D_CHECK_ARG(ctx, classes >= 2 && classes <= 4096, "ssl3d_ftmodel_create: classes must be 2..4096, got %d",
                    (int)classes);
    SSL3D_CHECK_ARG(ctx, hidden >= 0 && hidden <= 65536, "ssl3d_ftmodel_create: hidden %d out of range", (int)hidden);
    SSL3D_CHECK_ARG(ctx, ordinal == 0 || ordinal == 1, "ssl3d_ftmodel_create: ordinal must be 0 or 1");
    SSL3D_CHECK_ARG(ctx, !ordinal || kind == SSL3D_FT_CLASSIFY,
                    "ssl3d_ftmodel_create: ordinal outputs are for classification only");
    ssl3d_ftmodel *m = calloc(1, sizeof *m);
    if (!m) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ftmodel_create: out of memory");
    m->ctx = ctx; m->kind = kind; m->dims = dims; m->in_channels = in_channels; m->classes = classes;
    m->filters = base_filters; m->levels = levels; m->norm = norm; m->hidden = kind == SSL3D_FT_CLASSIFY ? hidden : 0;
    m->ordinal = ordinal;
    /* Z-score suits MRI; a z-score over the non-zero voxels would turn binary masks such as
     * AdrenalMNIST3D into all zeros, so classifiers default to min-max scaling. */
    m->input_norm = kind == SSL3D_FT_SEGMENT ? SSL3D_FT_NORM_ZSCORE : SSL3D_FT_NORM_MINMAX;
    ssl3d_status st = ssl3d_encoder_create(ctx, dims, in_channels, base_filters, levels, norm, &m->encoder);
    if (st == SSL3D_OK) {
        if (kind == SSL3D_FT_SEGMENT) st = ssl3d_decoder_create(ctx, m->encoder, classes, &m->head);
        else st = ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(m->encoder), hidden, ordinal ? classes - 1 : classes,
                                   &m->head);
    }
    if (st != SSL3D_OK) { ssl3d_ftmodel_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

void ssl3d_ftmodel_release(ssl3d_ftmodel *m) {
    if (!m) return;
    ssl3d_module_release(m->encoder);
    ssl3d_module_release(m->head);
    ssl3d_module_release(m->aux);
    free(m);
}

int32_t ssl3d_ftmodel_kind(const ssl3d_ftmodel *m) { return m ? m->kind : -1; }
int32_t ssl3d_ftmodel_dims(const ssl3d_ftmodel *m) { return m ? m->dims : 0; }
int32_t ssl3d_ftmodel_in_channels(const ssl3d_ftmodel *m) { return m ? m->in_channels : 0; }
int32_t ssl3d_ftmodel_classes(const ssl3d_ftmodel *m) { return m ? m->classes : 0; }
int32_t ssl3d_ftmodel_levels(const ssl3d_ftmodel *m) { return m ? m->levels : 0; }
int32_t ssl3d_ftmodel_filters(const ssl3d_ftmodel *m) { return m ? m->filters : 0; }
int32_t ssl3d_ftmodel_norm(const ssl3d_ftmodel *m) { return m ? m->norm : -1; }
int32_t ssl3d_ftmodel_ordinal(const ssl3d_ftmodel *m) { return m ? m->ordinal : 0; }
int32_t ssl3d_ftmodel_outputs(const ssl3d_ftmodel *m) { return m ? (m->ordinal ? m->classes - 1 : m->classes) : 0; }
ssl3d_module *ssl3d_ftmodel_encoder(const ssl3d_ftmodel *m) { return m ? m->encoder : NULL; }
ssl3d_module *ssl3d_ftmodel_head(const ssl3d_ftmodel *m) { return m ? m->head : NULL; }
int32_t ssl3d_ftmodel_input_norm(const ssl3d_ftmodel *m) { return m ? m->input_norm : -1; }
int32_t ssl3d_ftmodel_patch(const ssl3d_ftmodel *m) { return m ? m->patch : 0; }

ssl3d_status ssl3d_ftmodel_set_input_norm(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t input_norm) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m, "ssl3d_ftmodel_set_input_norm: model is NULL");
    SSL3D_CHECK_ARG(ctx, input_norm >= SSL3D_FT_NORM_NONE && input_norm <= SSL3D_FT_NORM_MINMAX,
                    "ssl3d_ftmodel_set_input_norm: unknown normalisation %d", (int)input_norm);
    m->input_norm = input_norm;
    return SSL3D_OK;
}

ssl3d_status ssl3d_ftmodel_set_patch(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t patch) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m, "ssl3d_ftmodel_set_patch: model is NULL");
    SSL3D_CHECK_ARG(ctx, patch >= 0 && patch <= 65536, "ssl3d_ftmodel_set_patch: patch %d out of range", (int)patch);
    SSL3D_CHECK_ARG(ctx, m->kind != SSL3D_FT_SEGMENT || patch % (1 << m->levels) == 0,
                    "ssl3d_ftmodel_set_patch: patch %d is not a multiple of 2^levels = %d", (int)patch,
                    1 << m->levels);
    m->patch = patch;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- encoder weights */

ssl3d_status ssl3d_ftmodel_load_encoder(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_checkpoint *ck,
                                        const char *prefix) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && ck, "ssl3d_ftmodel_load_encoder: %s is NULL", m ? "checkpoint" : "model");
    if (!prefix) prefix = "encoder.";
    int32_t n = ssl3d_module_tensor_count(m->encoder);
    /* Check every tensor first so that a mismatch leaves the encoder untouched. */
    char name[512];
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t i = 0; i < n; i++) {
            ssl3d_tensor *t = ssl3d_module_tensor(m->encoder, i);
            snprintf(name, sizeof name, "%s%s", prefix, ssl3d_module_tensor_name(m->encoder, i));
            if (pass == 0) {
                int32_t dt, nd;
                int64_t shape[SSL3D_MAX_DIMS];
                ssl3d_status st = ssl3d_checkpoint_tensor_info(ctx, ck, name, &dt, &nd, shape, SSL3D_MAX_DIMS);
                if (st == SSL3D_ERR_NOT_FOUND)
                    return ssl3d_set_error(ctx, st, "ssl3d_ftmodel_load_encoder: the checkpoint has no tensor '%s' "
                                                    "(not an encoder of this architecture?)", name);
                if (st != SSL3D_OK) return st;
                int same = nd == t->ndim && dt == t->dtype;
                for (int32_t d = 0; same && d < nd; d++) same = shape[d] == t->shape[d];
                char sb[96];
                if (!same)
                    return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE,
                                           "ssl3d_ftmodel_load_encoder: tensor '%s' in the checkpoint does not match "
                                           "the encoder's %s (different filters, levels, channels or dims?)",
                                           name, ssl3d_shape_str(t, sb, sizeof sb));
            } else {
                SSL3D_CHECK(ssl3d_checkpoint_copy_into(ctx, ck, name, t));
            }
        }
    }
    return SSL3D_OK;
}

static int ck_has(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *name) {
    return ssl3d_checkpoint_tensor_info(ctx, ck, name, NULL, NULL, NULL, 0) == SSL3D_OK;
}

ssl3d_status ssl3d_ftmodel_encoder_spec(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, int32_t *dims,
                                        int32_t *in_channels, int32_t *base_filters, int32_t *levels,
                                        int32_t *norm) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, ck, "ssl3d_ftmodel_encoder_spec: checkpoint is NULL");
    int32_t nd = 0, dt = 0;
    int64_t shape[SSL3D_MAX_DIMS];
    if (ssl3d_checkpoint_tensor_info(ctx, ck, "encoder.down0.conv1.weight", &dt, &nd, shape, SSL3D_MAX_DIMS) != SSL3D_OK ||
        (nd != 4 && nd != 5))
        return ssl3d_set_error(ctx, SSL3D_ERR_NOT_FOUND,
                               "ssl3d_ftmodel_encoder_spec: the checkpoint holds no encoder "
                               "(no 4- or 5-d tensor 'encoder.down0.conv1.weight')");
    int32_t L = 0;
    char name[64];
    for (;;) {
        snprintf(name, sizeof name, "encoder.down%d.conv1.weight", (int)L);
        if (L >= 16 || !ck_has(ctx, ck, name)) break;
        L++;
    }
    int32_t nk;
    if (ck_has(ctx, ck, "encoder.down0.norm1.running_mean")) nk = SSL3D_NORM_BATCH;
    else if (ck_has(ctx, ck, "encoder.down0.norm1.weight")) {
        nk = SSL3D_NORM_GROUP;
        const char *opts = NULL;
        if (ssl3d_checkpoint_get_meta(ctx, ck, "options", &opts) == SSL3D_OK && opts &&
            (strstr(opts, "norm=instance") || strstr(opts, "norm=2")))
            nk = SSL3D_NORM_INSTANCE;
    } else nk = SSL3D_NORM_NONE;
    ssl3d_ctx_clear_error(ctx);
    if (dims) *dims = nd - 2;
    if (in_channels) *in_channels = (int32_t)shape[1];
    if (base_filters) *base_filters = (int32_t)shape[0];
    if (levels) *levels = L;
    if (norm) *norm = nk;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- forward and loss */

ssl3d_status ssl3d_ftmodel_forward(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *x, int32_t training,
                                   int32_t encoder_training, ssl3d_tensor **logits) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && logits, "ssl3d_ftmodel_forward: %s is NULL", m ? "logits" : "model");
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, "ssl3d_ftmodel_forward", "x"));
    int32_t enc_train = training && encoder_training;
    ssl3d_tensor *b = NULL, *skips[16] = { 0 };
    ssl3d_status st;
    if (m->kind == SSL3D_FT_SEGMENT) {
        char sb[96];
        for (int32_t i = 2; i < x->ndim; i++)
            SSL3D_CHECK_SHAPE(ctx, x->shape[i] % ((int64_t)1 << m->levels) == 0,
                              "ssl3d_ftmodel_forward: x %s: spatial sizes must be multiples of 2^levels = %d",
                              ssl3d_shape_str(x, sb, sizeof sb), 1 << m->levels);
        st = ssl3d_encoder_forward(ctx, m->encoder, x, enc_train, &b, skips);
        if (st == SSL3D_OK) st = ssl3d_decoder_forward(ctx, m->head, b, skips, training, logits);
        for (int32_t l = 0; l < m->levels; l++) ssl3d_tensor_release(skips[l]);
        ssl3d_tensor_release(b);
        return st;
    }
    ssl3d_tensor *g = NULL;
    st = ssl3d_encoder_forward(ctx, m->encoder, x, enc_train, &b, NULL);
    if (st == SSL3D_OK) st = ssl3d_global_avgpool(ctx, b, &g);
    ssl3d_tensor_release(b);
    if (st == SSL3D_OK) st = ssl3d_mlp_forward(ctx, m->head, g, logits);
    ssl3d_tensor_release(g);
    return st;
}

ssl3d_status ssl3d_ftmodel_loss(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_tensor *logits,
                                const ssl3d_tensor *labels, ssl3d_tensor **loss) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && loss, "ssl3d_ftmodel_loss: %s is NULL", m ? "loss" : "model");
    SSL3D_CHECK(ssl3d_check_f32(ctx, logits, "ssl3d_ftmodel_loss", "logits"));
    SSL3D_CHECK(ssl3d_check_i32(ctx, labels, "ssl3d_ftmodel_loss", "labels"));
    if (m->kind == SSL3D_FT_SEGMENT) return ssl3d_dice_ce(ctx, logits, labels, loss);
    if (!m->ordinal) return ssl3d_cross_entropy(ctx, logits, labels, loss);
    char sa[96], sb[96];
    int64_t N = labels->numel, M = m->classes - 1;
    SSL3D_CHECK_SHAPE(ctx, logits->ndim == 2 && logits->shape[0] == N && logits->shape[1] == M,
                      "ssl3d_ftmodel_loss: ordinal logits %s do not fit labels %s (expected (N,%d))",
                      ssl3d_shape_str(logits, sa, sizeof sa), ssl3d_shape_str(labels, sb, sizeof sb), (int)M);
    /* Cumulative targets [y > j] built on the host (labels read back from a device). */
    int32_t *y = malloc((size_t)N * sizeof *y);
    float *tv = malloc((size_t)(N * M) * sizeof *tv + 1);
    ssl3d_status st = (y && tv) ? SSL3D_OK : ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ftmodel_loss: out of memory");
    if (st == SSL3D_OK) {
        if (labels->ctx == ctx) st = ssl3d_tensor_read(ctx, labels, y, N * 4);
        else if (ssl3d_tensor_host_data((ssl3d_tensor *)labels)) memcpy(y, labels->data, (size_t)N * 4);
        else st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ftmodel_loss: labels belong to another context");
    }
    for (int64_t n = 0; n < N && st == SSL3D_OK; n++) {
        if (y[n] < 0 || y[n] > M)
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ftmodel_loss: label %d of sample %lld is "
                                 "outside [0,%d)", (int)y[n], (long long)n, (int)m->classes);
        for (int64_t j = 0; j < M && st == SSL3D_OK; j++) tv[n * M + j] = y[n] > j ? 1.0f : 0.0f;
    }
    ssl3d_tensor *t = NULL;
    if (st == SSL3D_OK) st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 2, logits->shape, tv, &t);
    if (st == SSL3D_OK) st = ssl3d_bce_with_logits(ctx, logits, t, loss);
    ssl3d_tensor_release(t);
    free(y); free(tv);
    return st;
}

/* ---------------------------------------------------------------- model files */

static ssl3d_status add_module(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const ssl3d_module *mod, const char *prefix) {
    char name[512];
    for (int32_t i = 0; i < ssl3d_module_tensor_count(mod); i++) {
        snprintf(name, sizeof name, "%s%s", prefix, ssl3d_module_tensor_name(mod, i));
        SSL3D_CHECK(ssl3d_checkpoint_add_tensor(ctx, ck, name, ssl3d_module_tensor(mod, i)));
    }
    return SSL3D_OK;
}

static ssl3d_status set_int(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const char *key, int32_t v) {
    char s[32];
    snprintf(s, sizeof s, "%d", (int)v);
    return ssl3d_checkpoint_set_meta(ctx, ck, key, s);
}

ssl3d_status ssl3d_ftmodel_save(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_checkpoint *ck) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && ck, "ssl3d_ftmodel_save: %s is NULL", m ? "checkpoint" : "model");
    SSL3D_CHECK(add_module(ctx, ck, m->encoder, "encoder."));
    SSL3D_CHECK(add_module(ctx, ck, m->head, m->kind == SSL3D_FT_SEGMENT ? "decoder." : "head."));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "format", "ssl3d-finetune"));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "kind", m->kind == SSL3D_FT_SEGMENT ? "segment" : "classify"));
    SSL3D_CHECK(set_int(ctx, ck, "dims", m->dims));
    SSL3D_CHECK(set_int(ctx, ck, "in_channels", m->in_channels));
    SSL3D_CHECK(set_int(ctx, ck, "classes", m->classes));
    SSL3D_CHECK(set_int(ctx, ck, "levels", m->levels));
    SSL3D_CHECK(set_int(ctx, ck, "filters", m->filters));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "norm", ft_norm_name(m->norm)));
    SSL3D_CHECK(set_int(ctx, ck, "hidden", m->hidden));
    SSL3D_CHECK(set_int(ctx, ck, "ordinal", m->ordinal));
    SSL3D_CHECK(set_int(ctx, ck, "patch", m->patch));
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "normalisation", ft_input_norm_name(m->input_norm)));
    return ssl3d_checkpoint_set_meta(ctx, ck, "library_version", ssl3d_version());
}

static ssl3d_status get_int(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *key, int32_t lo, int32_t hi,
                            int32_t *v) {
    const char *s = NULL;
    if (ssl3d_checkpoint_get_meta(ctx, ck, key, &s) != SSL3D_OK)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "model file: metadata '%s' is missing (not a fine-tuned model?)",
                               key);
    char *end = NULL;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < lo || x > hi)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "model file: metadata '%s' = '%s' is not an integer in [%d,%d]",
                               key, s, (int)lo, (int)hi);
    *v = (int32_t)x;
    return SSL3D_OK;
}

static ssl3d_status copy_module(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, ssl3d_module *mod, const char *prefix) {
    char name[512];
    for (int32_t i = 0; i < ssl3d_module_tensor_count(mod); i++) {
        snprintf(name, sizeof name, "%s%s", prefix, ssl3d_module_tensor_name(mod, i));
        ssl3d_status st = ssl3d_checkpoint_copy_into(ctx, ck, name, ssl3d_module_tensor(mod, i));
        if (st == SSL3D_ERR_NOT_FOUND)
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "model file: tensor '%s' is missing", name);
        if (st != SSL3D_OK) return st;
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_ftmodel_create_from_checkpoint(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, ssl3d_ftmodel **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, ck && out, "ssl3d_ftmodel_create_from_checkpoint: %s is NULL", ck ? "out" : "checkpoint");
    const char *s = NULL;
    if (ssl3d_checkpoint_get_meta(ctx, ck, "kind", &s) != SSL3D_OK || (strcmp(s, "segment") && strcmp(s, "classify")))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                               "model file: metadata 'kind' is missing or not segment/classify (a pretraining "
                               "checkpoint? use it with --init)");
    int32_t kind = strcmp(s, "segment") ? SSL3D_FT_CLASSIFY : SSL3D_FT_SEGMENT;
    int32_t dims, cin, classes, levels, filters, hidden, ordinal, patch;
    SSL3D_CHECK(get_int(ctx, ck, "dims", 2, 3, &dims));
    SSL3D_CHECK(get_int(ctx, ck, "in_channels", 1, 4096, &cin));
    SSL3D_CHECK(get_int(ctx, ck, "classes", 2, 4096, &classes));
    SSL3D_CHECK(get_int(ctx, ck, "levels", 1, 8, &levels));
    SSL3D_CHECK(get_int(ctx, ck, "filters", 1, 65536, &filters));
    SSL3D_CHECK(get_int(ctx, ck, "hidden", 0, 65536, &hidden));
    SSL3D_CHECK(get_int(ctx, ck, "ordinal", 0, 1, &ordinal));
    SSL3D_CHECK(get_int(ctx, ck, "patch", 0, 65536, &patch));
    int32_t norm = -1, in_norm = -1;
    if (ssl3d_checkpoint_get_meta(ctx, ck, "norm", &s) == SSL3D_OK) norm = ft_norm_parse(s);
    if (norm < 0) return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "model file: metadata 'norm' is missing or unknown");
    if (ssl3d_checkpoint_get_meta(ctx, ck, "normalisation", &s) == SSL3D_OK) in_norm = ft_input_norm_parse(s);
    if (in_norm < 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "model file: metadata 'normalisation' is missing or unknown");
    ssl3d_ftmodel *m;
    SSL3D_CHECK(ssl3d_ftmodel_create(ctx, kind, dims, cin, classes, filters, levels, norm, hidden, ordinal, &m));
    m->input_norm = in_norm;
    ssl3d_status st = patch % (1 << levels) == 0 || kind != SSL3D_FT_SEGMENT
                          ? SSL3D_OK
                          : ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "model file: patch %d is not a multiple of 2^%d",
                                            (int)patch, (int)levels);
    m->patch = patch;
    if (st == SSL3D_OK) st = copy_module(ctx, ck, m->encoder, "encoder.");
    if (st == SSL3D_OK) st = copy_module(ctx, ck, m->head, kind == SSL3D_FT_SEGMENT ? "decoder." : "head.");
    if (st != SSL3D_OK) { ssl3d_ftmodel_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- snapshots */

ssl3d_status ft_snapshot_take(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ft_snapshot *s) {
    int32_t ne = ssl3d_module_tensor_count(m->encoder), nh = ssl3d_module_tensor_count(m->head);
    if (!s->values) {
        s->n = ne + nh;
        s->values = calloc((size_t)s->n, sizeof *s->values);
        s->numel = calloc((size_t)s->n, sizeof *s->numel);
        if (!s->values || !s->numel) { ft_snapshot_free(s); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "fine-tuning: out of memory"); }
    }
    for (int32_t i = 0; i < s->n; i++) {
        ssl3d_tensor *t = i < ne ? ssl3d_module_tensor(m->encoder, i) : ssl3d_module_tensor(m->head, i - ne);
        if (!s->values[i]) {
            s->numel[i] = t->numel;
            s->values[i] = malloc((size_t)t->numel * 4);
            if (!s->values[i]) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "fine-tuning: out of memory");
        }
        SSL3D_CHECK(ssl3d_tensor_read(ctx, t, s->values[i], t->numel * 4));
    }
    return SSL3D_OK;
}

ssl3d_status ft_snapshot_restore(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ft_snapshot *s) {
    int32_t ne = ssl3d_module_tensor_count(m->encoder);
    for (int32_t i = 0; i < s->n; i++) {
        ssl3d_tensor *t = i < ne ? ssl3d_module_tensor(m->encoder, i) : ssl3d_module_tensor(m->head, i - ne);
        SSL3D_CHECK(ssl3d_tensor_write(ctx, t, s->values[i], s->numel[i] * 4));
    }
    return SSL3D_OK;
}

void ft_snapshot_free(ft_snapshot *s) {
    for (int32_t i = 0; s->values && i < s->n; i++) free(s->values[i]);
    free(s->values);
    free(s->numel);
    memset(s, 0, sizeof *s);
}

ssl3d_status ft_data_ctx(ssl3d_ctx *ctx, ssl3d_ctx **dctx) {
    if (ctx->be->host_memory) { *dctx = ctx; return SSL3D_OK; }
    ssl3d_ctx *d = NULL;
    ssl3d_status st = ssl3d_ctx_create(SSL3D_BACKEND_CPU, &d);
    if (st != SSL3D_OK)
        return ssl3d_set_error(ctx, st, "fine-tuning: cannot create the host context for its data (%s)",
                               ssl3d_status_string(st));
    st = ssl3d_ctx_set_threads(d, ctx->threads);
    if (st == SSL3D_OK) st = ssl3d_ctx_set_seed(d, ctx->seed);
    if (st != SSL3D_OK) {
        ssl3d_status s2 = ssl3d_set_error(ctx, st, "fine-tuning: host context: %s", ssl3d_ctx_last_error(d));
        ssl3d_ctx_release(d);
        return s2;
    }
    *dctx = d;
    return SSL3D_OK;
}

ssl3d_status ft_data_ctx_done(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_status st) {
    if (dctx == ctx || !dctx) return st;
    const char *e = ssl3d_ctx_last_error(dctx);
    if (st != SSL3D_OK && e && e[0]) ssl3d_set_error(ctx, st, "%s", e);
    ssl3d_ctx_release(dctx);
    return st;
}

ssl3d_status ft_check_f32_any(ssl3d_ctx *ctx, const ssl3d_tensor *x, const char *fn) {
    if (!x) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: x is NULL", fn);
    if (x->dtype != SSL3D_F32) return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: x must be float32, got int32", fn);
    return SSL3D_OK;
}

ssl3d_status ft_to_ctx(ssl3d_ctx *ctx, ssl3d_tensor **t) {
    if ((*t)->ctx == ctx) return SSL3D_OK;
    ssl3d_tensor *moved = NULL;
    SSL3D_CHECK(ssl3d_tensor_copy_to(ctx, *t, &moved));
    ssl3d_tensor_release(*t);
    *t = moved;
    return SSL3D_OK;
}
