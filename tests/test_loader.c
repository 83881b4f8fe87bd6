/* Loader: cached volumes equal a direct read + preprocessing, batch order independent of
 * the worker count, train/validation split, 2D slices, errors naming the file. */
#include <string.h>
#include "harness.h"
#include "ssl3d/loader.h"
#include "test_loader_util.h"

static int make_data(int n, char *manifest, size_t cap) {
    return tl_write_dataset(th_tmpdir(), n, 9, 11, 7, manifest, cap);
}

/* Values of a float tensor (caller frees). */
static float *values(ssl3d_ctx *ctx, ssl3d_tensor *t) {
    int64_t n = ssl3d_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof(float));
    if (v && ssl3d_tensor_read(ctx, t, v, n * 4) != SSL3D_OK) { free(v); v = NULL; }
    return v;
}

TEST(loader_cached_item_equals_direct_read) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    char man[1024];
    REQUIRE(make_data(3, man, sizeof man) == 0);
    ssl3d_loader *L = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    CHECK(ssl3d_loader_num_volumes(L) == 3);
    REQUIRE_OK(ctx, ssl3d_loader_set_preprocess(ctx, L, SSL3D_LOADER_ZSCORE | SSL3D_LOADER_CROP_NONZERO, 8, NULL));
    int64_t n = 0;
    REQUIRE_OK(ctx, ssl3d_loader_count(ctx, L, &n));
    CHECK(n == 3);
    for (int64_t i = 0; i < n; i++) {
        ssl3d_tensor *item = NULL, *t = NULL, *z = NULL, *c = NULL, *p = NULL;
        REQUIRE_OK(ctx, ssl3d_loader_item(ctx, L, i, &item));
        ssl3d_image *img = NULL;
        REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_loader_volume_path(L, i), 0, &img));
        int64_t d[4];
        REQUIRE_OK(ctx, ssl3d_image_dims(ctx, img, d));
        REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 4, d, ssl3d_image_data(img), &t));
        REQUIRE_OK(ctx, ssl3d_normalize_zscore(ctx, t, &z));
        REQUIRE_OK(ctx, ssl3d_crop_to_nonzero(ctx, z, NULL, &c, NULL));
        int64_t size[3];
        for (int a = 0; a < 3; a++) size[a] = ssl3d_tensor_dim(c, a + 1) < 8 ? 8 : ssl3d_tensor_dim(c, a + 1);
        REQUIRE_OK(ctx, ssl3d_pad_crop_center(ctx, c, size, 0.0f, &p));
        CHECK_MSG(th_tensors_identical(ctx, item, p), "item %lld differs from a direct read", (long long)i);
        for (int a = 1; a < 4; a++) CHECK(ssl3d_tensor_dim(item, a) >= 8);
        ssl3d_image_release(img);
        ssl3d_tensor_release(item); ssl3d_tensor_release(t); ssl3d_tensor_release(z);
        ssl3d_tensor_release(c); ssl3d_tensor_release(p);
    }
    ssl3d_loader_release(L);
    ssl3d_ctx_release(ctx);
}

/* All batches 0..nb of a loader with `threads` workers, concatenated values. */
static float *run_batches(ssl3d_ctx *ctx, const char *man, int dims, int threads, int nb, int B, int64_t *len) {
    ssl3d_loader *L = NULL;
    if (ssl3d_loader_create(ctx, man, SSL3D_LOADER_TRAIN, &L) != SSL3D_OK) return NULL;
    ssl3d_loader_set_dims(ctx, L, dims);
    ssl3d_loader_set_batch(ctx, L, B, 42);
    ssl3d_loader_set_threads(ctx, L, threads, 3);
    ssl3d_loader_set_split(ctx, L, 0.25, 7);
    float *all = NULL;
    int64_t n = 0;
    ssl3d_tensor *imgs[8];
    for (int b = 0; b < nb; b++) {
        if (ssl3d_loader_batch(ctx, L, b, imgs) != SSL3D_OK) { free(all); all = NULL; n = -1; break; }
        for (int k = 0; k < B; k++) {
            int64_t m = ssl3d_tensor_numel(imgs[k]);
            all = realloc(all, (size_t)(n + m + 1) * sizeof(float));
            ssl3d_tensor_read(ctx, imgs[k], all + n, m * 4);
            n += m;
            all[n++] = (float)ssl3d_tensor_dim(imgs[k], ssl3d_tensor_ndim(imgs[k]) - 1);
            ssl3d_tensor_release(imgs[k]);
        }
    }
    ssl3d_loader_release(L);
    *len = n;
    return all;
}

TEST(loader_batches_independent_of_threads) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(5, man, sizeof man) == 0);
    for (int dims = 2; dims <= 3; dims++) {
        int64_t n0 = 0, n1 = 0, n3 = 0;
        float *a = run_batches(ctx, man, dims, 0, 7, 3, &n0);
        float *b = run_batches(ctx, man, dims, 1, 7, 3, &n1);
        float *c = run_batches(ctx, man, dims, 3, 7, 3, &n3);
        REQUIRE(a && b && c);
        CHECK(n0 == n1 && n1 == n3);
        CHECK_MSG(memcmp(a, b, (size_t)n0 * 4) == 0, "dims %d: 0 vs 1 worker differ", dims);
        CHECK_MSG(memcmp(b, c, (size_t)n0 * 4) == 0, "dims %d: 1 vs 3 workers differ", dims);
        free(a); free(b); free(c);
    }
    ssl3d_ctx_release(ctx);
}

TEST(loader_order_is_seeded_epoch_permutation) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(4, man, sizeof man) == 0);
    ssl3d_loader *L = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    REQUIRE_OK(ctx, ssl3d_loader_set_batch(ctx, L, 3, 9));
    int64_t nb = 0, idx[12];
    REQUIRE_OK(ctx, ssl3d_loader_batches_per_epoch(ctx, L, &nb));
    CHECK(nb == 2);
    /* Batches 0..3 cover positions 0..11 = epochs 0, 1, 2: each is a permutation. */
    for (int b = 0; b < 4; b++) REQUIRE_OK(ctx, ssl3d_loader_batch_indices(ctx, L, b, idx + 3 * b));
    int differs = 0;
    for (int e = 0; e < 3; e++) {
        int seen[4] = { 0 };
        for (int k = 0; k < 4; k++) { REQUIRE(idx[4 * e + k] >= 0 && idx[4 * e + k] < 4); seen[idx[4 * e + k]]++; }
        for (int k = 0; k < 4; k++) CHECK(seen[k] == 1);
        if (e > 0 && memcmp(idx, idx + 4 * e, 4 * sizeof *idx)) differs = 1;
    }
    CHECK(differs);
    CHECK_ST(ctx, ssl3d_loader_set_batch(ctx, L, 2, 1), SSL3D_ERR_STATE);
    ssl3d_loader_release(L);
    ssl3d_ctx_release(ctx);
}

TEST(loader_split_is_complementary) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(10, man, sizeof man) == 0);
    ssl3d_loader *tr = NULL, *va = NULL, *one = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_TRAIN, &tr));
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &va));
    REQUIRE_OK(ctx, ssl3d_loader_set_split(ctx, tr, 0.3, 5));
    REQUIRE_OK(ctx, ssl3d_loader_set_split(ctx, va, 0.3, 5));
    CHECK(ssl3d_loader_num_volumes(tr) == 7);
    CHECK(ssl3d_loader_num_volumes(va) == 3);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 7; j++)
            CHECK(strcmp(ssl3d_loader_volume_path(va, i), ssl3d_loader_volume_path(tr, j)) != 0);
    /* A single image cannot be split: validation is empty, an error naming the list. */
    const char *p = ssl3d_loader_volume_path(tr, 0);
    CHECK_ST(ctx, ssl3d_loader_create_files(ctx, &p, 1, SSL3D_LOADER_VAL, &one), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "validation subset is empty") != NULL);
    REQUIRE_OK(ctx, ssl3d_loader_create_files(ctx, &p, 1, SSL3D_LOADER_TRAIN, &one));
    CHECK(ssl3d_loader_num_volumes(one) == 1);
    ssl3d_loader_release(one);
    ssl3d_loader_release(tr);
    ssl3d_loader_release(va);
    ssl3d_ctx_release(ctx);
}

TEST(loader_2d_items_are_axial_slices) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(2, man, sizeof man) == 0);
    ssl3d_loader *L3 = NULL, *L2 = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L3));
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L2));
    REQUIRE_OK(ctx, ssl3d_loader_set_dims(ctx, L2, 2));
    REQUIRE_OK(ctx, ssl3d_loader_set_threads(ctx, L2, 2, 2));
    CHECK(ssl3d_loader_item_path(L2, 0, NULL) == NULL);   /* not counted yet */
    ssl3d_tensor *v0 = NULL, *v1 = NULL, *s = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_item(ctx, L3, 0, &v0));
    REQUIRE_OK(ctx, ssl3d_loader_item(ctx, L3, 1, &v1));
    int64_t n = 0, d0 = ssl3d_tensor_dim(v0, 1), d1 = ssl3d_tensor_dim(v1, 1);
    REQUIRE_OK(ctx, ssl3d_loader_count(ctx, L2, &n));
    CHECK(n == d0 + d1);
    /* Item d0 + 1 is slice 1 of volume 1. */
    REQUIRE_OK(ctx, ssl3d_loader_item(ctx, L2, d0 + 1, &s));
    REQUIRE(ssl3d_tensor_ndim(s) == 3);
    int64_t hw = ssl3d_tensor_dim(v1, 2) * ssl3d_tensor_dim(v1, 3);
    CHECK(ssl3d_tensor_dim(s, 1) * ssl3d_tensor_dim(s, 2) == hw);
    float *a = values(ctx, v1), *b = values(ctx, s);
    REQUIRE(a && b);
    CHECK(memcmp(a + hw, b, (size_t)hw * 4) == 0);
    free(a); free(b);
    CHECK_ST(ctx, ssl3d_loader_item(ctx, L2, n, &s), SSL3D_ERR_INVALID_ARG);
    /* The file and slice of an item: slice z of volume v is item (first item of v) + z;
     * in 3D an item is its volume (slice -1). */
    int64_t z = -7;
    CHECK(ssl3d_loader_item_path(L2, d0 + 1, &z) == ssl3d_loader_volume_path(L2, 1) && z == 1);
    CHECK(ssl3d_loader_item_path(L2, d0 - 1, &z) == ssl3d_loader_volume_path(L2, 0) && z == d0 - 1);
    CHECK(ssl3d_loader_item_path(L2, 0, NULL) == ssl3d_loader_volume_path(L2, 0));
    CHECK(ssl3d_loader_item_path(L3, 1, &z) == ssl3d_loader_volume_path(L3, 1) && z == -1);
    CHECK(ssl3d_loader_item_path(L2, n, &z) == NULL && ssl3d_loader_item_path(L2, -1, &z) == NULL);
    CHECK(ssl3d_loader_item_path(NULL, 0, &z) == NULL);
    ssl3d_tensor_release(v0); ssl3d_tensor_release(v1); ssl3d_tensor_release(s);
    ssl3d_loader_release(L3);
    ssl3d_loader_release(L2);
    ssl3d_ctx_release(ctx);
}

TEST(loader_resample_and_min_size) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(1, man, sizeof man) == 0);
    ssl3d_loader *L = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    double sp[3] = { 0, 2.0, 2.0 };   /* keep D, halve H and W */
    REQUIRE_OK(ctx, ssl3d_loader_set_preprocess(ctx, L, 0, 6, sp));
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_item(ctx, L, 0, &t));
    /* Stored 9 x 11 x 7 (W, H, D): D 7, H round(5.5) = 6, W round(4.5) = 4 -> padded to 6. */
    CHECK(ssl3d_tensor_dim(t, 1) == 7);
    CHECK(ssl3d_tensor_dim(t, 2) == 6);
    CHECK(ssl3d_tensor_dim(t, 3) == 6);
    ssl3d_tensor_release(t);
    ssl3d_loader_release(L);
    ssl3d_ctx_release(ctx);
}

TEST(loader_errors_name_the_file) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    ssl3d_loader *L = NULL;
    char p[1024], man[1024];
    snprintf(p, sizeof p, "%s/missing.json", th_tmpdir());
    CHECK_ST(ctx, ssl3d_loader_create(ctx, p, SSL3D_LOADER_TRAIN, &L), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "missing.json") != NULL);
    snprintf(p, sizeof p, "%s/bad.json", th_tmpdir());
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("{\"training\": [ {\"image\": ", f);
    fclose(f);
    CHECK(ssl3d_loader_create(ctx, p, SSL3D_LOADER_TRAIN, &L) != SSL3D_OK);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "bad.json") != NULL);
    CHECK(L == NULL);
    /* A manifest entry that is not an image: the error names it at the first batch. */
    REQUIRE(make_data(2, man, sizeof man) == 0);
    snprintf(p, sizeof p, "%s/img1.nii.gz", th_tmpdir());
    f = fopen(p, "w");
    REQUIRE(f);
    fputs("not a nifti file", f);
    fclose(f);
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    REQUIRE_OK(ctx, ssl3d_loader_set_batch(ctx, L, 2, 0));
    REQUIRE_OK(ctx, ssl3d_loader_set_threads(ctx, L, 2, 2));
    ssl3d_tensor *imgs[2] = { NULL, NULL };
    CHECK(ssl3d_loader_batch(ctx, L, 0, imgs) != SSL3D_OK);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "img1.nii.gz") != NULL);
    CHECK(imgs[0] == NULL && imgs[1] == NULL);
    ssl3d_loader_release(L);
    /* API misuse. */
    CHECK_ST(ctx, ssl3d_loader_create(ctx, NULL, SSL3D_LOADER_TRAIN, &L), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loader_create(ctx, man, 7, &L), SSL3D_ERR_INVALID_ARG);
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    CHECK_ST(ctx, ssl3d_loader_set_dims(ctx, L, 4), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loader_set_batch(ctx, L, 0, 0), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loader_set_split(ctx, L, 1.0, 0), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loader_set_threads(ctx, L, -1, 1), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loader_set_preprocess(ctx, L, 0, 0, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loader_batch(ctx, L, -1, imgs), SSL3D_ERR_INVALID_ARG);
    ssl3d_loader_release(L);
    ssl3d_loader_release(NULL);
    ssl3d_ctx_release(ctx);
}

/* MINMAX: items equal ssl3d_normalize_minmax of the file (values in [0,1]); ZSCORE and
 * MINMAX together are refused and leave the loader's settings unchanged. */
TEST(loader_minmax_flag) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(2, man, sizeof man) == 0);
    ssl3d_loader *L = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    CHECK(ssl3d_loader_set_preprocess(ctx, L, SSL3D_LOADER_ZSCORE | SSL3D_LOADER_MINMAX, 1, NULL) ==
          SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "exclusive") != NULL);
    REQUIRE_OK(ctx, ssl3d_loader_set_preprocess(ctx, L, SSL3D_LOADER_MINMAX, 1, NULL));
    ssl3d_tensor *item = NULL, *t = NULL, *m = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_item(ctx, L, 1, &item));
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_loader_volume_path(L, 1), 0, &img));
    int64_t d[4];
    REQUIRE_OK(ctx, ssl3d_image_dims(ctx, img, d));
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 4, d, ssl3d_image_data(img), &t));
    REQUIRE_OK(ctx, ssl3d_normalize_minmax(ctx, t, &m));
    CHECK_MSG(th_tensors_identical(ctx, item, m), "MINMAX item differs from ssl3d_normalize_minmax of the file");
    float *v = values(ctx, item);
    REQUIRE(v != NULL);
    float lo = v[0], hi = v[0];
    for (int64_t i = 1; i < ssl3d_tensor_numel(item); i++) { lo = v[i] < lo ? v[i] : lo; hi = v[i] > hi ? v[i] : hi; }
    CHECK_MSG(lo == 0.0f && hi == 1.0f, "range [%g, %g], want [0, 1]", lo, hi);
    free(v);
    ssl3d_image_release(img);
    ssl3d_tensor_release(item); ssl3d_tensor_release(t); ssl3d_tensor_release(m);
    ssl3d_loader_release(L);
    ssl3d_ctx_release(ctx);
}

/* set_cases: the loader keeps only the listed manifest cases, in the listed order, and
 * splits them as a manifest of just those cases would; bad lists are refused naming the
 * entry and leave the previous cases in place. */
TEST(loader_set_cases) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char man[1024];
    REQUIRE(make_data(5, man, sizeof man) == 0);
    ssl3d_loader *L = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_ALL, &L));
    const int64_t pick[3] = { 3, 1, 4 };
    REQUIRE_OK(ctx, ssl3d_loader_set_cases(ctx, L, pick, 3));
    CHECK(ssl3d_loader_num_volumes(L) == 3);
    const char *want[3] = { "img3.nii.gz", "img1.nii.gz", "img4.nii.gz" };
    for (int i = 0; i < 3; i++) {
        const char *p = ssl3d_loader_volume_path(L, i);
        CHECK_MSG(p && strstr(p, want[i]), "volume %d is %s, want %s", i, p ? p : "(null)", want[i]);
    }
    /* Refused: out of range, listed twice, empty; the three cases stay. */
    const int64_t bad_range[2] = { 0, 5 }, twice[3] = { 2, 0, 2 };
    CHECK(ssl3d_loader_set_cases(ctx, L, bad_range, 2) == SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "cases[1] = 5") != NULL);
    CHECK(ssl3d_loader_set_cases(ctx, L, twice, 3) == SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "twice") != NULL);
    CHECK(ssl3d_loader_set_cases(ctx, L, pick, 0) == SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_loader_set_cases(ctx, L, NULL, 1) == SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_loader_num_volumes(L) == 3);
    ssl3d_loader_release(L);

    /* The train/validation split over the listed cases: train + val = the listed cases,
     * disjoint, as for a manifest of three cases. */
    ssl3d_loader *T = NULL, *V = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_TRAIN, &T));
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &V));
    REQUIRE_OK(ctx, ssl3d_loader_set_split(ctx, T, 0.34, 3));
    REQUIRE_OK(ctx, ssl3d_loader_set_split(ctx, V, 0.34, 3));
    REQUIRE_OK(ctx, ssl3d_loader_set_cases(ctx, T, pick, 3));
    REQUIRE_OK(ctx, ssl3d_loader_set_cases(ctx, V, pick, 3));
    CHECK(ssl3d_loader_num_volumes(T) == 2 && ssl3d_loader_num_volumes(V) == 1);
    const char *v0 = ssl3d_loader_volume_path(V, 0);
    int found = 0;
    for (int i = 0; i < 3; i++) found += v0 && strstr(v0, want[i]) != NULL;
    CHECK(found == 1);
    for (int i = 0; i < 2; i++) CHECK(strcmp(ssl3d_loader_volume_path(T, i), v0) != 0);
    /* After the first query the cases are frozen. */
    int64_t n = 0;
    REQUIRE_OK(ctx, ssl3d_loader_count(ctx, T, &n));
    CHECK(ssl3d_loader_set_cases(ctx, T, pick, 2) == SSL3D_ERR_STATE);
    ssl3d_loader_release(T);
    ssl3d_loader_release(V);

    /* File-list loaders have no manifest cases. */
    const char *p0 = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/img0.nii.gz", th_tmpdir());
    p0 = path;
    REQUIRE_OK(ctx, ssl3d_loader_create_files(ctx, &p0, 1, SSL3D_LOADER_ALL, &L));
    CHECK(ssl3d_loader_set_cases(ctx, L, pick, 1) == SSL3D_ERR_INVALID_ARG);
    ssl3d_loader_release(L);
    ssl3d_ctx_release(ctx);
}
