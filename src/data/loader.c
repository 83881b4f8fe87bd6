/* Dataset loader: volumes decoded once, preprocessed and cached in host memory; batches
 * of items in a seeded order; worker threads that decode ahead of the consumer.
 *
 * Concurrency: one mutex guards the volume states and the work counters; a volume is
 * decoded by exactly one thread (state EMPTY -> LOADING -> READY/FAILED) with its own
 * single-threaded context, so the cached floats are the same whoever decodes them.
 * Tensors are created only on the consumer's thread, in the consumer's context. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "../core/internal.h"
#include "ssl3d/loader.h"

enum { VOL_EMPTY = 0, VOL_LOADING = 1, VOL_READY = 2, VOL_FAILED = 3 };
#define LOADER_MAX_THREADS 64
/* Philox stream ids of the loader's shuffles (distinct from context streams). */
#define SPLIT_STREAM UINT64_C(0x53504c4954000000)
#define EPOCH_STREAM UINT64_C(0x45504f4348000000)

typedef struct volume {
    int64_t case_index;        /* manifest case, or index into files */
    int state;
    float *data;               /* (C,D,H,W) after preprocessing */
    int64_t c, d, h, w;
    ssl3d_status st;
    char *err;                 /* message of a failed decode */
} volume;

struct ssl3d_loader {
    ssl3d_manifest *manifest;  /* NULL for a file list */
    char **files;
    int64_t n_files;
    int32_t subset;
    int64_t n_pool;            /* train cases / files */
    int64_t *pool_case;        /* pool index -> case index */
    volume *vol;               /* the subset's volumes */
    int64_t n_vol;
    /* options */
    int32_t dims, batch, threads, depth;
    uint64_t seed, split_seed;
    double val_fraction;
    uint32_t flags;
    int64_t min_size;
    double spacing[3];
    int have_spacing;
    /* state after freezing */
    int frozen;
    int64_t n_items;
    int64_t *item_start;       /* 2D: first item of volume v (n_vol + 1 entries) */
    ssl3d_ctx *own;            /* the consumer's private single-threaded decode context */
    pthread_t tid[LOADER_MAX_THREADS];
    int n_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok;
    int stop;
    int64_t preload_next, preload_end; /* volumes to decode up front (2D) */
    int64_t consumer_at;       /* last batch asked for (-1 none) */
    int64_t next_batch;        /* next batch for the workers to prepare */
};

/* ---------------------------------------------------------------- decoding */

static const char *volume_path(const ssl3d_loader *L, const volume *v) {
    if (L->manifest) return ssl3d_manifest_case_image(L->manifest, v->case_index, 0);
    return L->files[v->case_index];
}

/* Read + preprocess one volume with `c` (a private single-threaded context). On success
 * the floats and sizes are stored in *out (caller's lock not held). */
static ssl3d_status decode(ssl3d_ctx *c, const ssl3d_loader *L, const volume *v, float **data,
                           int64_t shape[4]) {
    ssl3d_image *img = NULL;
    ssl3d_status st;
    if (L->manifest) st = ssl3d_manifest_case_read(c, L->manifest, v->case_index, 0, &img, NULL);
    else st = ssl3d_image_read(c, L->files[v->case_index], 0, &img);
    if (st != SSL3D_OK) return st;
    int64_t dims[4];
    double sp[3];
    ssl3d_tensor *t = NULL, *u = NULL;
    st = ssl3d_image_dims(c, img, dims);
    if (st == SSL3D_OK) st = ssl3d_image_spacing(c, img, sp);
    if (st == SSL3D_OK) st = ssl3d_tensor_from_data(c, SSL3D_F32, 4, dims, ssl3d_image_data(img), &t);
    ssl3d_image_release(img);
    if (st == SSL3D_OK && L->have_spacing) {
        double to[3];
        for (int a = 0; a < 3; a++) to[a] = L->spacing[a] > 0 ? L->spacing[a] : sp[a];
        st = ssl3d_resample_spacing(c, t, sp, to, &u);
        if (st == SSL3D_OK) { ssl3d_tensor_release(t); t = u; u = NULL; }
    }
    if (st == SSL3D_OK && (L->flags & (SSL3D_LOADER_ZSCORE | SSL3D_LOADER_MINMAX))) {
        st = (L->flags & SSL3D_LOADER_ZSCORE) ? ssl3d_normalize_zscore(c, t, &u) : ssl3d_normalize_minmax(c, t, &u);
        if (st == SSL3D_OK) { ssl3d_tensor_release(t); t = u; u = NULL; }
    }
    if (st == SSL3D_OK && (L->flags & SSL3D_LOADER_CROP_NONZERO)) {
        st = ssl3d_crop_to_nonzero(c, t, NULL, &u, NULL);
        if (st == SSL3D_OK) { ssl3d_tensor_release(t); t = u; u = NULL; }
    }
    if (st == SSL3D_OK) {
        int64_t size[3];
        int need = 0;
        for (int a = 0; a < 3; a++) {
            int64_t n = ssl3d_tensor_dim(t, a + 1);
            size[a] = n;
            if ((L->dims == 3 || a > 0) && n < L->min_size) { size[a] = L->min_size; need = 1; }
        }
        if (need) {
            st = ssl3d_pad_crop_center(c, t, size, 0.0f, &u);
            if (st == SSL3D_OK) { ssl3d_tensor_release(t); t = u; u = NULL; }
        }
    }
    if (st == SSL3D_OK) {
        int64_t n = ssl3d_tensor_numel(t);
        float *buf = malloc((size_t)n * sizeof(float));
        if (!buf) st = ssl3d_set_error(c, SSL3D_ERR_NOMEM, "out of memory");
        else if ((st = ssl3d_tensor_read(c, t, buf, n * 4)) != SSL3D_OK) free(buf);
        else {
            for (int a = 0; a < 4; a++) shape[a] = ssl3d_tensor_dim(t, a);
            *data = buf;
        }
    }
    ssl3d_tensor_release(t);
    return st;
}

/* Make sure volume i is decoded (or failed). Called and returns with L->mu held; drops
 * it while decoding. */
static void ensure_locked(ssl3d_loader *L, ssl3d_ctx *c, int64_t i) {
    volume *v = &L->vol[i];
    while (v->state == VOL_LOADING) pthread_cond_wait(&L->cv, &L->mu);
    if (v->state != VOL_EMPTY) return;
    v->state = VOL_LOADING;
    pthread_mutex_unlock(&L->mu);
    float *data = NULL;
    int64_t shape[4] = { 0, 0, 0, 0 };
    ssl3d_status st = c ? decode(c, L, v, &data, shape) : SSL3D_ERR_NOMEM;
    char *err = NULL;
    if (st != SSL3D_OK) {
        const char *path = volume_path(L, v);
        const char *msg = c ? ssl3d_ctx_last_error(c) : "could not create a decoding context";
        size_t len = strlen(path) + strlen(msg) + 64;
        err = malloc(len);
        /* Messages of the readers already name the file; others get it prefixed. */
        if (err) {
            if (strstr(msg, path)) snprintf(err, len, "%s", msg);
            else snprintf(err, len, "%s: %s", path, msg);
        }
    }
    pthread_mutex_lock(&L->mu);
    if (st == SSL3D_OK) {
        v->data = data;
        v->c = shape[0]; v->d = shape[1]; v->h = shape[2]; v->w = shape[3];
        v->state = VOL_READY;
    } else {
        v->st = st;
        v->err = err;
        v->state = VOL_FAILED;
    }
    pthread_cond_broadcast(&L->cv);
}

/* ---------------------------------------------------------------- order */

/* Permutation of [0, n) for epoch e (Fisher-Yates on Philox draws). */
static void epoch_perm(const ssl3d_loader *L, int64_t e, int64_t n, int64_t *perm) {
    ssl3d_rng r;
    ssl3d_rng_init(&r, L->seed, EPOCH_STREAM + (uint64_t)e);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ssl3d_rng_below(&r, (uint32_t)(i + 1));
        int64_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
    }
}

static ssl3d_status indices_of(ssl3d_ctx *ctx, const ssl3d_loader *L, int64_t b, int64_t *idx) {
    const int64_t n = L->n_items, B = L->batch;
    if (n <= 0)   /* only after a failed 2D preload */
        return ctx ? ssl3d_set_error(ctx, SSL3D_ERR_STATE, "ssl3d_loader: no items (an image failed to load)")
                   : SSL3D_ERR_STATE;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return ctx ? ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_loader_batch: out of memory")
                          : SSL3D_ERR_NOMEM;
    int64_t have_epoch = -1;
    for (int64_t k = 0; k < B; k++) {
        int64_t p = b * B + k, e = p / n;
        if (e != have_epoch) { epoch_perm(L, e, n, perm); have_epoch = e; }
        idx[k] = perm[p % n];
    }
    free(perm);
    return SSL3D_OK;
}

/* Volume holding item i. */
static int64_t volume_of_item(const ssl3d_loader *L, int64_t i) {
    if (L->dims == 3) return i;
    int64_t lo = 0, hi = L->n_vol - 1;     /* last v with item_start[v] <= i */
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (L->item_start[mid] <= i) lo = mid; else hi = mid - 1;
    }
    return lo;
}

/* ---------------------------------------------------------------- workers */

static void *worker_main(void *arg) {
    ssl3d_loader *L = arg;
    ssl3d_ctx *c = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &c) == SSL3D_OK) ssl3d_ctx_set_threads(c, 1);
    int64_t *idx = malloc((size_t)L->batch * sizeof *idx);
    pthread_mutex_lock(&L->mu);
    while (!L->stop && c && idx) {
        if (L->preload_next < L->preload_end) {
            ensure_locked(L, c, L->preload_next++);
            continue;
        }
        if (L->n_items > 0 && L->next_batch <= L->consumer_at + L->depth) {
            int64_t b = L->next_batch++;
            pthread_mutex_unlock(&L->mu);
            int ok = indices_of(NULL, L, b, idx) == SSL3D_OK;
            pthread_mutex_lock(&L->mu);
            for (int64_t k = 0; ok && k < L->batch && !L->stop; k++) ensure_locked(L, c, volume_of_item(L, idx[k]));
            continue;
        }
        pthread_cond_wait(&L->cv, &L->mu);
    }
    pthread_mutex_unlock(&L->mu);
    free(idx);
    ssl3d_ctx_release(c);
    return NULL;
}

/* Error of a failed volume into ctx. */
static ssl3d_status volume_error(ssl3d_ctx *ctx, const ssl3d_loader *L, const volume *v) {
    return ssl3d_set_error(ctx, v->st, "%s", v->err ? v->err : volume_path(L, v));
}

/* Freeze the options: start workers, in 2D decode everything and count slices. */
static ssl3d_status freeze(ssl3d_ctx *ctx, ssl3d_loader *L, const char *fn) {
    if (L->frozen) return SSL3D_OK;
    if (!L->own) {
        SSL3D_CHECK(ssl3d_ctx_create(SSL3D_BACKEND_CPU, &L->own));
        ssl3d_ctx_set_threads(L->own, 1);
    }
    L->frozen = 1;
    if (L->dims == 3) L->n_items = L->n_vol;
    pthread_mutex_lock(&L->mu);
    if (L->dims == 2) { L->preload_next = 0; L->preload_end = L->n_vol; }
    pthread_mutex_unlock(&L->mu);
    for (int i = 0; i < L->threads; i++) {
        if (pthread_create(&L->tid[i], NULL, worker_main, L) != 0) break;
        L->n_started++;
    }
    if (L->dims == 2) {
        /* The consumer decodes alongside the workers, then waits for the rest. */
        pthread_mutex_lock(&L->mu);
        while (L->preload_next < L->preload_end) ensure_locked(L, L->own, L->preload_next++);
        for (int64_t v = 0; v < L->n_vol; v++)
            while (L->vol[v].state == VOL_LOADING) pthread_cond_wait(&L->cv, &L->mu);
        pthread_mutex_unlock(&L->mu);
        L->item_start = malloc((size_t)(L->n_vol + 1) * sizeof *L->item_start);
        if (!L->item_start) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        int64_t n = 0;
        for (int64_t v = 0; v < L->n_vol; v++) {
            if (L->vol[v].state != VOL_READY) return volume_error(ctx, L, &L->vol[v]);
            L->item_start[v] = n;
            n += L->vol[v].d;
        }
        L->item_start[L->n_vol] = n;
        pthread_mutex_lock(&L->mu);
        L->n_items = n;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
    }
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- create / release */

static ssl3d_status make_loader(ssl3d_ctx *ctx, int32_t subset, int64_t n_pool, const char *what,
                                const char *fn, ssl3d_loader *L) {
    L->subset = subset;
    L->n_pool = n_pool;
    L->dims = 3; L->batch = 1; L->threads = 0; L->depth = 2;
    L->val_fraction = 0.1;
    L->flags = SSL3D_LOADER_ZSCORE | SSL3D_LOADER_CROP_NONZERO;
    L->min_size = 1;
    L->consumer_at = -1;
    if (pthread_mutex_init(&L->mu, NULL) != 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: cannot create a mutex", fn);
    if (pthread_cond_init(&L->cv, NULL) != 0) {
        pthread_mutex_destroy(&L->mu);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: cannot create a condition variable", fn);
    }
    L->sync_ok = 1;
    (void)what;
    return SSL3D_OK;
}

/* Build the subset's volume list from the split (called at create and on set_split). */
static ssl3d_status build_subset(ssl3d_ctx *ctx, ssl3d_loader *L, const char *fn, const char *what) {
    const int64_t n = L->n_pool;
    int64_t n_val = 0;
    if (L->val_fraction > 0 && n >= 2) {
        n_val = (int64_t)llround(L->val_fraction * (double)n);
        if (n_val < 1) n_val = 1;
        if (n_val > n - 1) n_val = n - 1;
    }
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    char *is_val = calloc((size_t)n, 1);
    if (!perm || !is_val) {
        free(perm); free(is_val);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    ssl3d_rng r;
    ssl3d_rng_init(&r, L->split_seed, SPLIT_STREAM);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ssl3d_rng_below(&r, (uint32_t)(i + 1));
        int64_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
    }
    for (int64_t i = 0; i < n_val; i++) is_val[perm[i]] = 1;
    free(perm);
    free(L->vol);
    L->vol = calloc((size_t)n, sizeof *L->vol);
    if (!L->vol) { free(is_val); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    L->n_vol = 0;
    for (int64_t i = 0; i < n; i++) {
        int take = L->subset == SSL3D_LOADER_ALL || (L->subset == SSL3D_LOADER_VAL) == (is_val[i] != 0);
        if (take) L->vol[L->n_vol++].case_index = L->pool_case[i];
    }
    free(is_val);
    if (L->n_vol == 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s: the %s subset is empty (%lld image%s, "
                               "validation fraction %g)", fn, what,
                               L->subset == SSL3D_LOADER_VAL ? "validation" : "training", (long long)n,
                               n == 1 ? "" : "s", L->val_fraction);
    return SSL3D_OK;
}

void ssl3d_loader_release(ssl3d_loader *L) {
    if (!L) return;
    if (L->sync_ok) {
        pthread_mutex_lock(&L->mu);
        L->stop = 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        for (int i = 0; i < L->n_started; i++) pthread_join(L->tid[i], NULL);
        pthread_cond_destroy(&L->cv);
        pthread_mutex_destroy(&L->mu);
    }
    for (int64_t v = 0; v < L->n_vol; v++) { free(L->vol[v].data); free(L->vol[v].err); }
    free(L->vol);
    free(L->pool_case);
    free(L->item_start);
    for (int64_t i = 0; i < L->n_files; i++) free(L->files[i]);
    free(L->files);
    ssl3d_manifest_release(L->manifest);
    ssl3d_ctx_release(L->own);
    free(L);
}

static int subset_ok(int32_t s) { return s == SSL3D_LOADER_TRAIN || s == SSL3D_LOADER_VAL || s == SSL3D_LOADER_ALL; }

ssl3d_status ssl3d_loader_create(ssl3d_ctx *ctx, const char *manifest_path, int32_t subset, ssl3d_loader **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_loader_create";
    SSL3D_CHECK_ARG(ctx, manifest_path && out, "%s: %s is NULL", fn, manifest_path ? "out" : "manifest_path");
    SSL3D_CHECK_ARG(ctx, subset_ok(subset), "%s: subset %d is not SSL3D_LOADER_TRAIN/VAL/ALL", fn, (int)subset);
    ssl3d_manifest *m = NULL;
    SSL3D_CHECK(ssl3d_manifest_load(ctx, manifest_path, 0, &m));
    int64_t n_train = ssl3d_manifest_count_split(m, SSL3D_SPLIT_TRAIN);
    if (n_train <= 0) {
        ssl3d_manifest_release(m);
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s has no training cases", fn, manifest_path);
    }
    ssl3d_loader *L = calloc(1, sizeof *L);
    if (!L) { ssl3d_manifest_release(m); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    L->manifest = m;
    ssl3d_status st = make_loader(ctx, subset, n_train, manifest_path, fn, L);
    if (st == SSL3D_OK) {
        L->pool_case = malloc((size_t)n_train * sizeof *L->pool_case);
        if (!L->pool_case) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (st == SSL3D_OK) {
        int64_t k = 0, n = ssl3d_manifest_count(m);
        for (int64_t i = 0; i < n; i++)
            if (ssl3d_manifest_case_split(m, i) == SSL3D_SPLIT_TRAIN) L->pool_case[k++] = i;
        st = build_subset(ctx, L, fn, manifest_path);
    }
    if (st != SSL3D_OK) { ssl3d_loader_release(L); return st; }
    *out = L;
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_create_files(ssl3d_ctx *ctx, const char *const *paths, int32_t n, int32_t subset,
                                       ssl3d_loader **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_loader_create_files";
    SSL3D_CHECK_ARG(ctx, paths && out, "%s: %s is NULL", fn, paths ? "out" : "paths");
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %d, want >= 1", fn, (int)n);
    SSL3D_CHECK_ARG(ctx, subset_ok(subset), "%s: subset %d is not SSL3D_LOADER_TRAIN/VAL/ALL", fn, (int)subset);
    for (int32_t i = 0; i < n; i++) {
        SSL3D_CHECK_ARG(ctx, paths[i] && paths[i][0], "%s: paths[%d] is NULL or empty", fn, (int)i);
        FILE *f = fopen(paths[i], "rb");
        if (!f) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot open (%s)", fn, paths[i], strerror(errno));
        fclose(f);
    }
    ssl3d_loader *L = calloc(1, sizeof *L);
    if (!L) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_status st = make_loader(ctx, subset, n, "files", fn, L);
    if (st == SSL3D_OK) {
        L->files = calloc((size_t)n, sizeof *L->files);
        L->pool_case = malloc((size_t)n * sizeof *L->pool_case);
        if (!L->files || !L->pool_case) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (int32_t i = 0; st == SSL3D_OK && i < n; i++) {
        L->files[i] = strdup(paths[i]);
        L->n_files = i + 1;
        L->pool_case[i] = i;
        if (!L->files[i]) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (st == SSL3D_OK) st = build_subset(ctx, L, fn, "the file list");
    if (st != SSL3D_OK) { ssl3d_loader_release(L); return st; }
    *out = L;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- options */

#define CHECK_LOADER(ctx, L, fn) do {                                                              \
        SSL3D_CHECK_CTX(ctx);                                                                      \
        SSL3D_CHECK_ARG(ctx, L, "%s: loader is NULL", fn);                                         \
        if ((L)->frozen) return ssl3d_set_error(ctx, SSL3D_ERR_STATE,                              \
                                                "%s: options must be set before the first query", fn); \
    } while (0)

ssl3d_status ssl3d_loader_set_dims(ssl3d_ctx *ctx, ssl3d_loader *L, int32_t dims) {
    CHECK_LOADER(ctx, L, "ssl3d_loader_set_dims");
    SSL3D_CHECK_ARG(ctx, dims == 2 || dims == 3, "ssl3d_loader_set_dims: dims = %d, want 2 or 3", (int)dims);
    L->dims = dims;
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_set_split(ssl3d_ctx *ctx, ssl3d_loader *L, double val_fraction, uint64_t split_seed) {
    const char *fn = "ssl3d_loader_set_split";
    CHECK_LOADER(ctx, L, fn);
    SSL3D_CHECK_ARG(ctx, val_fraction >= 0 && val_fraction < 1, "%s: val_fraction = %g, want 0 <= f < 1", fn,
                    val_fraction);
    double old_f = L->val_fraction;
    uint64_t old_s = L->split_seed;
    L->val_fraction = val_fraction;
    L->split_seed = split_seed;
    const char *what = L->manifest ? "manifest" : "the file list";
    ssl3d_status st = build_subset(ctx, L, fn, what);
    if (st != SSL3D_OK) {
        /* Keep the loader usable with its previous split. */
        char msg[SSL3D_ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", ssl3d_ctx_last_error(ctx));
        L->val_fraction = old_f;
        L->split_seed = old_s;
        if (build_subset(ctx, L, fn, what) != SSL3D_OK) L->n_vol = 0;
        return ssl3d_set_error(ctx, st, "%s", msg);
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_set_cases(ssl3d_ctx *ctx, ssl3d_loader *L, const int64_t *cases, int64_t n) {
    const char *fn = "ssl3d_loader_set_cases";
    CHECK_LOADER(ctx, L, fn);
    SSL3D_CHECK_ARG(ctx, L->manifest, "%s: the loader reads a file list, not a manifest", fn);
    SSL3D_CHECK_ARG(ctx, cases, "%s: cases is NULL", fn);
    const int64_t n_cases = ssl3d_manifest_count(L->manifest);
    SSL3D_CHECK_ARG(ctx, n >= 1 && n <= n_cases, "%s: n = %lld, want 1..%lld (the manifest's cases)", fn,
                    (long long)n, (long long)n_cases);
    char *seen = calloc((size_t)n_cases, 1);
    int64_t *pool = malloc((size_t)n * sizeof *pool);
    if (!seen || !pool) {
        free(seen); free(pool);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    ssl3d_status st = SSL3D_OK;
    for (int64_t i = 0; i < n && st == SSL3D_OK; i++) {
        const int64_t c = cases[i];
        if (c < 0 || c >= n_cases)
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: cases[%lld] = %lld is not a case of the manifest "
                                 "(0..%lld)", fn, (long long)i, (long long)c, (long long)n_cases - 1);
        else if (ssl3d_manifest_case_split(L->manifest, c) != SSL3D_SPLIT_TRAIN)
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: cases[%lld] = case %lld (%s) is not in the "
                                 "manifest's training split", fn, (long long)i, (long long)c,
                                 ssl3d_manifest_case_image(L->manifest, c, 0));
        else if (seen[c])
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: case %lld is listed twice", fn, (long long)c);
        else { seen[c] = 1; pool[i] = c; }
    }
    free(seen);
    if (st != SSL3D_OK) { free(pool); return st; }
    int64_t *old_pool = L->pool_case, old_n = L->n_pool;
    L->pool_case = pool;
    L->n_pool = n;
    st = build_subset(ctx, L, fn, "the listed cases");
    if (st != SSL3D_OK) {
        /* Keep the loader usable with its previous cases. */
        char msg[SSL3D_ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", ssl3d_ctx_last_error(ctx));
        L->pool_case = old_pool;
        L->n_pool = old_n;
        free(pool);
        if (build_subset(ctx, L, fn, "manifest") != SSL3D_OK) L->n_vol = 0;
        return ssl3d_set_error(ctx, st, "%s", msg);
    }
    free(old_pool);
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_set_batch(ssl3d_ctx *ctx, ssl3d_loader *L, int32_t batch, uint64_t seed) {
    CHECK_LOADER(ctx, L, "ssl3d_loader_set_batch");
    SSL3D_CHECK_ARG(ctx, batch >= 1 && batch <= (1 << 20), "ssl3d_loader_set_batch: batch = %d, want >= 1",
                    (int)batch);
    L->batch = batch;
    L->seed = seed;
    return SSL3D_OK;
}

int32_t ssl3d_loader_batch_size(const ssl3d_loader *L) { return L ? L->batch : 0; }

ssl3d_status ssl3d_loader_set_threads(ssl3d_ctx *ctx, ssl3d_loader *L, int32_t threads, int32_t queue_depth) {
    const char *fn = "ssl3d_loader_set_threads";
    CHECK_LOADER(ctx, L, fn);
    SSL3D_CHECK_ARG(ctx, threads >= 0 && threads <= LOADER_MAX_THREADS, "%s: threads = %d, want 0..%d", fn,
                    (int)threads, LOADER_MAX_THREADS);
    SSL3D_CHECK_ARG(ctx, queue_depth >= 1 && queue_depth <= 64, "%s: queue_depth = %d, want 1..64", fn,
                    (int)queue_depth);
    L->threads = threads;
    L->depth = queue_depth;
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_set_preprocess(ssl3d_ctx *ctx, ssl3d_loader *L, uint32_t flags, int64_t min_size,
                                         const double *spacing) {
    const char *fn = "ssl3d_loader_set_preprocess";
    CHECK_LOADER(ctx, L, fn);
    SSL3D_CHECK_ARG(ctx, (flags & ~(uint32_t)(SSL3D_LOADER_ZSCORE | SSL3D_LOADER_CROP_NONZERO | SSL3D_LOADER_MINMAX)) == 0,
                    "%s: unknown flags 0x%x", fn, (unsigned)flags);
    SSL3D_CHECK_ARG(ctx, !((flags & SSL3D_LOADER_ZSCORE) && (flags & SSL3D_LOADER_MINMAX)),
                    "%s: flags ZSCORE and MINMAX are exclusive (one intensity normalisation)", fn);
    SSL3D_CHECK_ARG(ctx, min_size >= 1 && min_size <= 4096, "%s: min_size = %lld, want 1..4096", fn,
                    (long long)min_size);
    if (spacing)
        for (int a = 0; a < 3; a++)
            SSL3D_CHECK_ARG(ctx, isfinite(spacing[a]) && spacing[a] < 1e4, "%s: spacing[%d] = %g is not valid",
                            fn, a, spacing[a]);
    L->flags = flags;
    L->min_size = min_size;
    L->have_spacing = 0;
    for (int a = 0; a < 3; a++) {
        L->spacing[a] = spacing ? spacing[a] : 0;
        if (L->spacing[a] > 0) L->have_spacing = 1;
    }
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- queries */

int64_t ssl3d_loader_num_volumes(const ssl3d_loader *L) { return L ? L->n_vol : 0; }

const char *ssl3d_loader_volume_path(const ssl3d_loader *L, int64_t v) {
    if (!L || v < 0 || v >= L->n_vol) return NULL;
    return volume_path(L, &L->vol[v]);
}

const char *ssl3d_loader_item_path(const ssl3d_loader *L, int64_t i, int64_t *slice) {
    if (!L || !L->frozen || i < 0 || i >= L->n_items) return NULL;
    const int64_t v = volume_of_item(L, i);
    if (slice) *slice = L->dims == 3 ? -1 : i - L->item_start[v];
    return volume_path(L, &L->vol[v]);
}

ssl3d_status ssl3d_loader_count(ssl3d_ctx *ctx, ssl3d_loader *L, int64_t *count) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, L && count, "ssl3d_loader_count: %s is NULL", L ? "count" : "loader");
    SSL3D_CHECK(freeze(ctx, L, "ssl3d_loader_count"));
    *count = L->n_items;
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_batches_per_epoch(ssl3d_ctx *ctx, ssl3d_loader *L, int64_t *out) {
    int64_t n;
    SSL3D_CHECK(ssl3d_loader_count(ctx, L, &n));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_loader_batches_per_epoch: out is NULL");
    *out = (n + L->batch - 1) / L->batch;
    return SSL3D_OK;
}

ssl3d_status ssl3d_loader_batch_indices(ssl3d_ctx *ctx, ssl3d_loader *L, int64_t b, int64_t *idx) {
    const char *fn = "ssl3d_loader_batch_indices";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, L && idx, "%s: %s is NULL", fn, L ? "idx" : "loader");
    SSL3D_CHECK_ARG(ctx, b >= 0 && b <= INT64_MAX / 2 / (L->batch > 0 ? L->batch : 1), "%s: batch %lld out of range",
                    fn, (long long)b);
    SSL3D_CHECK(freeze(ctx, L, fn));
    return indices_of(ctx, L, b, idx);
}

/* Item i of a ready volume as a new tensor in ctx. */
static ssl3d_status make_item(ssl3d_ctx *ctx, const ssl3d_loader *L, int64_t i, ssl3d_tensor **out) {
    const volume *v = &L->vol[volume_of_item(L, i)];
    if (L->dims == 3) {
        int64_t shape[4] = { v->c, v->d, v->h, v->w };
        return ssl3d_tensor_from_data(ctx, SSL3D_F32, 4, shape, v->data, out);
    }
    const int64_t z = i - L->item_start[volume_of_item(L, i)], hw = v->h * v->w;
    int64_t shape[3] = { v->c, v->h, v->w };
    if (v->c == 1) return ssl3d_tensor_from_data(ctx, SSL3D_F32, 3, shape, v->data + z * hw, out);
    float *buf = malloc((size_t)(v->c * hw) * sizeof(float));
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_loader: out of memory");
    for (int64_t c = 0; c < v->c; c++) memcpy(buf + c * hw, v->data + (c * v->d + z) * hw, (size_t)hw * sizeof(float));
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 3, shape, buf, out);
    free(buf);
    return st;
}

/* Decode (on this thread if nobody else is) and check the volume of item i. */
static ssl3d_status ready_item(ssl3d_ctx *ctx, ssl3d_loader *L, int64_t i) {
    int64_t v = volume_of_item(L, i);
    pthread_mutex_lock(&L->mu);
    ensure_locked(L, L->own, v);
    int ok = L->vol[v].state == VOL_READY;
    pthread_mutex_unlock(&L->mu);
    return ok ? SSL3D_OK : volume_error(ctx, L, &L->vol[v]);
}

ssl3d_status ssl3d_loader_item(ssl3d_ctx *ctx, ssl3d_loader *L, int64_t i, ssl3d_tensor **out) {
    const char *fn = "ssl3d_loader_item";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, L && out, "%s: %s is NULL", fn, L ? "out" : "loader");
    SSL3D_CHECK(freeze(ctx, L, fn));
    SSL3D_CHECK_ARG(ctx, i >= 0 && i < L->n_items, "%s: item %lld out of range [0, %lld)", fn, (long long)i,
                    (long long)L->n_items);
    SSL3D_CHECK(ready_item(ctx, L, i));
    return make_item(ctx, L, i, out);
}

ssl3d_status ssl3d_loader_batch(ssl3d_ctx *ctx, ssl3d_loader *L, int64_t b, ssl3d_tensor **images) {
    const char *fn = "ssl3d_loader_batch";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, L && images, "%s: %s is NULL", fn, L ? "images" : "loader");
    SSL3D_CHECK_ARG(ctx, b >= 0 && b <= INT64_MAX / 2 / (L->batch > 0 ? L->batch : 1), "%s: batch %lld out of range",
                    fn, (long long)b);
    SSL3D_CHECK(freeze(ctx, L, fn));
    /* Tell the workers where the consumer is: they prepare b+1 .. b+depth (a jump
     * forward, e.g. a resumed run, skips the batches in between). */
    pthread_mutex_lock(&L->mu);
    L->consumer_at = b;
    if (L->next_batch <= b) L->next_batch = b + 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);

    int64_t *idx = malloc((size_t)L->batch * sizeof *idx);
    ssl3d_tensor **tmp = calloc((size_t)L->batch, sizeof *tmp);
    ssl3d_status st = (idx && tmp) ? SSL3D_OK : ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    if (st == SSL3D_OK) st = indices_of(ctx, L, b, idx);
    for (int32_t k = 0; st == SSL3D_OK && k < L->batch; k++) {
        st = ready_item(ctx, L, idx[k]);
        if (st == SSL3D_OK) st = make_item(ctx, L, idx[k], &tmp[k]);
    }
    if (st == SSL3D_OK) memcpy(images, tmp, (size_t)L->batch * sizeof *tmp);
    else if (tmp) for (int32_t k = 0; k < L->batch; k++) ssl3d_tensor_release(tmp[k]);
    free(tmp);
    free(idx);
    return st;
}
