/* Reading the real data sets of ../shared/data (skipped when absent): hippocampus (MSD),
 * RetinaMNIST PNGs, BraTS multi-modal cases, AdrenalMNIST3D CSV splits. */
#include <string.h>
#include "harness.h"

static ssl3d_manifest *load(ssl3d_ctx *ctx, const char *rel) {
    const char *dd = th_data_dir();
    if (!dd) return NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dd, rel);
    ssl3d_manifest *m = NULL;
    if (ssl3d_manifest_load(ctx, p, 0, &m) != SSL3D_OK) {
        th_fail(__FILE__, __LINE__, "%s", ssl3d_ctx_last_error(ctx));
        return NULL;
    }
    return m;
}

TEST(realdata_hippocampus_images_and_labels) {
    if (!th_data_dir()) SKIP("no shared data (set SSL3D_DATA)");
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_manifest *m = load(ctx, "hippocampus/dataset.json");
    REQUIRE(m);
    CHECK(ssl3d_manifest_count(m) == 200 && ssl3d_manifest_count_split(m, SSL3D_SPLIT_TRAIN) == 200);
    CHECK(ssl3d_manifest_num_label_names(m) == 3 && !strcmp(ssl3d_manifest_label_name(m, 1), "Anterior"));
    CHECK(ssl3d_manifest_num_channels(m) == 1 && !strcmp(ssl3d_manifest_channel_name(m, 0), "MRI"));
    int bad_labels = 0, count[3] = { 0, 0, 0 };
    for (int64_t i = 0; i < ssl3d_manifest_count(m); i++) {
        ssl3d_image *img = NULL, *lab = NULL;
        REQUIRE_OK(ctx, ssl3d_manifest_case_read(ctx, m, i, 0, &img, &lab));
        REQUIRE(lab);
        int64_t d[4], sd[3];
        ssl3d_image_dims(ctx, img, d);
        CHECK(ssl3d_image_stored_ndim(img) == 3);
        ssl3d_image_stored_dims(ctx, img, sd, 3);
        /* the canonical shape is a permutation of the stored dims; hippocampus is RAS */
        CHECK(d[0] == 1 && d[1] * d[2] * d[3] == sd[0] * sd[1] * sd[2]);
        if (!strcmp(ssl3d_image_orientation(img), "RAS")) CHECK(d[1] == sd[2] && d[2] == sd[1] && d[3] == sd[0]);
        CHECK(d[1] >= 24 && d[1] <= 64 && d[2] >= 24 && d[2] <= 64 && d[3] >= 24 && d[3] <= 64);
        CHECK_OK(ctx, ssl3d_image_check_aligned(ctx, img, lab));
        ssl3d_tensor *t = NULL;
        REQUIRE_OK(ctx, ssl3d_image_to_label_tensor(ctx, lab, 3, &t));
        const int32_t *lv = ssl3d_tensor_host_data(t);
        for (int64_t k = 0; k < ssl3d_tensor_numel(t); k++) {
            if (lv[k] < 0 || lv[k] > 2) bad_labels++;
            else count[lv[k]]++;
        }
        ssl3d_tensor_release(t);
        ssl3d_image_release(img);
        ssl3d_image_release(lab);
    }
    CHECK(bad_labels == 0);
    CHECK(count[1] > 0 && count[2] > 0 && count[0] > count[1] + count[2]);
    ssl3d_manifest_release(m);
    ssl3d_ctx_release(ctx);
}

TEST(realdata_retinamnist_pngs) {
    if (!th_data_dir()) SKIP("no shared data (set SSL3D_DATA)");
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_manifest *m = load(ctx, "retinamnist_28/labels.csv");
    REQUIRE(m);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TRAIN) == 1080);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_VAL) == 120);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TEST) == 400);
    CHECK(ssl3d_manifest_num_classes(m) == 5);
    /* every 8th image: 3 x 28 x 28 in [0,1], labels 0..4 */
    for (int64_t i = 0; i < ssl3d_manifest_count(m); i += 8) {
        ssl3d_image *img = NULL;
        REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_manifest_case_image(m, i, 0), 0, &img));
        int64_t d[4];
        ssl3d_image_dims(ctx, img, d);
        CHECK(d[0] == 3 && d[1] == 1 && d[2] == 28 && d[3] == 28);
        double mn, mx;
        ssl3d_image_range(ctx, img, &mn, &mx);
        CHECK(mn >= 0 && mx <= 1 && mx > mn);
        int32_t lab = ssl3d_manifest_case_label(m, i);
        CHECK(lab >= 0 && lab <= 4);
        ssl3d_image_release(img);
    }
    /* resize 28 -> 64 and crop back to 56 */
    ssl3d_image *img = NULL, *big = NULL, *crop = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_manifest_case_image(m, 0, 0), 0, &img));
    REQUIRE_OK(ctx, ssl3d_image_resize(ctx, img, 64, 64, &big));
    REQUIRE_OK(ctx, ssl3d_image_center_crop(ctx, big, 56, 56, &crop));
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, crop, 2, &t));
    CHECK(ssl3d_tensor_dim(t, 0) == 1 && ssl3d_tensor_dim(t, 1) == 3 && ssl3d_tensor_dim(t, 2) == 56);
    ssl3d_tensor_release(t);
    ssl3d_image_release(crop);
    ssl3d_image_release(big);
    ssl3d_image_release(img);
    ssl3d_manifest_release(m);
    ssl3d_ctx_release(ctx);
}

TEST(realdata_brats_two_channels_and_labels) {
    const char *dd = th_data_dir();
    if (!dd) SKIP("no shared data (set SSL3D_DATA)");
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    static const char *cases[] = { "train/brats_2013_pat0005_1", "train/brats_2013_pat0006_1",
                                   "validation/brats_2013_pat0003_1", "validation/brats_2013_pat0004_1",
                                   "test/brats_2013_pat0001_1", "test/brats_2013_pat0002_1" };
    for (int c = 0; c < 6; c++) {
        char flair[1024], t1c[1024], lab[1024];
        snprintf(flair, sizeof flair, "%s/brats_sample/%s/Flair_subtrMeanDivStd.nii.gz", dd, cases[c]);
        snprintf(t1c, sizeof t1c, "%s/brats_sample/%s/T1c_subtrMeanDivStd.nii.gz", dd, cases[c]);
        snprintf(lab, sizeof lab, "%s/brats_sample/%s/OTMultiClass.nii.gz", dd, cases[c]);
        const char *paths[2] = { flair, t1c };
        ssl3d_image *img = NULL, *lb = NULL;
        REQUIRE_OK(ctx, ssl3d_image_read_channels(ctx, paths, 2, 0, &img));
        REQUIRE_OK(ctx, ssl3d_image_read(ctx, lab, 0, &lb));
        int64_t d[4];
        ssl3d_image_dims(ctx, img, d);
        CHECK(d[0] == 2 && d[1] == 155 && d[2] == 240 && d[3] == 240);
        CHECK_OK(ctx, ssl3d_image_check_aligned(ctx, img, lb));
        ssl3d_tensor *t = NULL;
        REQUIRE_OK(ctx, ssl3d_image_to_label_tensor(ctx, lb, 3, &t));
        const int32_t *lv = ssl3d_tensor_host_data(t);
        int bad = 0, tumour = 0;
        for (int64_t k = 0; k < ssl3d_tensor_numel(t); k++) {
            bad += lv[k] < 0 || lv[k] > 4;
            tumour += lv[k] > 0;
        }
        CHECK(bad == 0 && tumour > 0);
        ssl3d_tensor_release(t);
        ssl3d_image_release(lb);
        ssl3d_image_release(img);
    }
    ssl3d_ctx_release(ctx);
}

TEST(realdata_adrenalmnist_csv_splits) {
    if (!th_data_dir()) SKIP("no shared data (set SSL3D_DATA)");
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *sets[2] = { "adrenalmnist3d_28/labels.csv", "adrenalmnist3d_64/labels.csv" };
    for (int s = 0; s < 2; s++) {
        ssl3d_manifest *m = load(ctx, sets[s]);
        REQUIRE(m);
        CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TRAIN) == 1188);
        CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_VAL) == 98);
        CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TEST) == 298);
        CHECK(ssl3d_manifest_num_classes(m) == 2);
        int64_t side = s == 0 ? 28 : 64;
        for (int64_t i = 0; i < ssl3d_manifest_count(m); i += 97) {
            ssl3d_image *img = NULL;
            REQUIRE_OK(ctx, ssl3d_image_read(ctx, ssl3d_manifest_case_image(m, i, 0), 0, &img));
            int64_t d[4];
            ssl3d_image_dims(ctx, img, d);
            CHECK(d[0] == 1 && d[1] == side && d[2] == side && d[3] == side);
            ssl3d_image_release(img);
        }
        ssl3d_manifest_release(m);
    }
    ssl3d_ctx_release(ctx);
}
