/* Dataset manifests: MSD dataset.json and CSV file,label,split; relative paths, names,
 * splits, malformed input with line numbers, missing files. */
#include <string.h>
#include <sys/stat.h>
#include "harness.h"
#include "test_nifti_util.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void touch(const char *dir, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    mkdir(p, 0755);
    *slash = '/';
    write_text(p, "x");
}

static const char *MSD =
    "{\n"
    " \"name\": \"Test\",\n"
    " \"modality\": {\"1\": \"T1c\", \"0\": \"FLAIR\"},\n"
    " \"labels\": {\"0\": \"background\", \"2\": \"posterior\", \"1\": \"anterior\"},\n"
    " \"training\": [\n"
    "  {\"image\": \"./imagesTr/a.nii.gz\", \"label\": \"./labelsTr/a.nii.gz\"},\n"
    "  {\"image\": [\"imagesTr/b_flair.nii.gz\", \"imagesTr/b_t1c.nii.gz\"], \"label\": \"labelsTr/b.nii.gz\"}\n"
    " ],\n"
    " \"test\": [\"./imagesTs/c.nii.gz\"]\n"
    "}\n";

TEST(manifest_msd_loads_with_relative_paths) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *dir = th_tmpdir();
    const char *files[] = { "imagesTr/a.nii.gz", "labelsTr/a.nii.gz", "imagesTr/b_flair.nii.gz",
                            "imagesTr/b_t1c.nii.gz", "labelsTr/b.nii.gz", "imagesTs/c.nii.gz" };
    for (int i = 0; i < 6; i++) touch(dir, files[i]);
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/dataset.json", dir);
    write_text(mp, MSD);
    ssl3d_manifest *m = NULL;
    REQUIRE_OK(ctx, ssl3d_manifest_load(ctx, mp, 0, &m));
    CHECK(ssl3d_manifest_kind(m) == SSL3D_MANIFEST_MSD);
    CHECK(ssl3d_manifest_count(m) == 3);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TRAIN) == 2);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TEST) == 1);
    char want[1024];
    snprintf(want, sizeof want, "%s/imagesTr/a.nii.gz", dir);
    CHECK(!strcmp(ssl3d_manifest_case_image(m, 0, 0), want));
    snprintf(want, sizeof want, "%s/labelsTr/a.nii.gz", dir);
    CHECK(!strcmp(ssl3d_manifest_case_label_path(m, 0), want));
    CHECK(ssl3d_manifest_case_num_images(m, 1) == 2);
    snprintf(want, sizeof want, "%s/imagesTr/b_t1c.nii.gz", dir);
    CHECK(!strcmp(ssl3d_manifest_case_image(m, 1, 1), want));
    CHECK(ssl3d_manifest_case_label_path(m, 2) == NULL);
    CHECK(ssl3d_manifest_case_split(m, 2) == SSL3D_SPLIT_TEST);
    CHECK(ssl3d_manifest_case_label(m, 0) == -1);
    CHECK(ssl3d_manifest_num_channels(m) == 2);
    CHECK(!strcmp(ssl3d_manifest_channel_name(m, 0), "FLAIR") && !strcmp(ssl3d_manifest_channel_name(m, 1), "T1c"));
    CHECK(ssl3d_manifest_num_label_names(m) == 3);
    CHECK(ssl3d_manifest_label_value(m, 2) == 2 && !strcmp(ssl3d_manifest_label_name(m, 2), "posterior"));
    /* out of range queries */
    CHECK(ssl3d_manifest_case_image(m, 3, 0) == NULL && ssl3d_manifest_case_image(m, 0, 1) == NULL);
    CHECK(ssl3d_manifest_case_split(m, -1) == -1 && ssl3d_manifest_channel_name(m, 5) == NULL);
    CHECK_OK(ctx, ssl3d_manifest_check_files(ctx, m));
    ssl3d_manifest_release(m);
    ssl3d_ctx_release(ctx);
}

TEST(manifest_msd_missing_file_is_named) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *dir = th_tmpdir();
    touch(dir, "imagesTr/a.nii.gz");
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/dataset.json", dir);
    write_text(mp, MSD);
    ssl3d_manifest *m = NULL;
    CHECK_ST(ctx, ssl3d_manifest_load(ctx, mp, 0, &m), SSL3D_ERR_IO);
    CHECK(m == NULL);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "labelsTr/a.nii.gz") && strstr(ssl3d_ctx_last_error(ctx), "training[0]"));
    /* checked on demand instead */
    REQUIRE_OK(ctx, ssl3d_manifest_load(ctx, mp, SSL3D_MANIFEST_SKIP_FILE_CHECK, &m));
    CHECK_ST(ctx, ssl3d_manifest_check_files(ctx, m), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "labelsTr/a.nii.gz") != NULL);
    ssl3d_manifest_release(m);
    /* the manifest itself missing */
    CHECK_ST(ctx, ssl3d_manifest_load(ctx, "/nonexistent/dataset.json", 0, &m), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "/nonexistent/dataset.json") != NULL);
    ssl3d_ctx_release(ctx);
}

static void expect_bad(ssl3d_ctx *ctx, const char *name, const char *text, const char *what, int line) {
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/%s", th_tmpdir(), name);
    write_text(mp, text);
    ssl3d_manifest *m = (ssl3d_manifest *)0x1;
    ssl3d_status st = ssl3d_manifest_load(ctx, mp, SSL3D_MANIFEST_SKIP_FILE_CHECK, &m);
    const char *msg = ssl3d_ctx_last_error(ctx);
    if (st != SSL3D_ERR_FORMAT) th_fail(__FILE__, line, "%s: got %s (%s)", name, ssl3d_status_string(st), msg);
    if (!strstr(msg, name)) th_fail(__FILE__, line, "message does not name %s: %s", name, msg);
    if (what && !strstr(msg, what)) th_fail(__FILE__, line, "message lacks '%s': %s", what, msg);
    if (m != (ssl3d_manifest *)0x1) th_fail(__FILE__, line, "out written on failure");
}
#define EXPECT_BAD(ctx, name, text, what) expect_bad(ctx, name, text, what, __LINE__)

TEST(manifest_malformed_json_is_rejected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    EXPECT_BAD(ctx, "trunc.json", "{\n \"training\": [\n  {\"image\": \"a.nii\"", "line 3");
    EXPECT_BAD(ctx, "comma.json", "{\n\"training\": [],\n}\n", "malformed JSON at line");
    EXPECT_BAD(ctx, "array.json", "[1, 2]", "top level");
    EXPECT_BAD(ctx, "nolist.json", "{\"name\": \"x\"}", "no \"training\"");
    EXPECT_BAD(ctx, "notarray.json", "{\"training\": {}}", "must be an array");
    EXPECT_BAD(ctx, "noimage.json", "{\"training\": [{\"label\": \"a.nii\"}]}", "training[0] has no \"image\"");
    EXPECT_BAD(ctx, "numimage.json", "{\"training\": [{\"image\": 3}]}", "training[0]");
    EXPECT_BAD(ctx, "badlabel.json", "{\"training\": [{\"image\": \"a\", \"label\": 7}]}", "\"label\" must be a path");
    EXPECT_BAD(ctx, "badmod.json", "{\"modality\": {\"x\": \"T1\"}, \"training\": [\"a\"]}", "modality");
    EXPECT_BAD(ctx, "empty.json", "{\"training\": []}", "no cases");
    EXPECT_BAD(ctx, "nul.json", "{\"training\": [\"a\0\"]}", NULL);
    ssl3d_ctx_release(ctx);
}

TEST(manifest_nnunet_style_labels_and_validation) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/d.json", th_tmpdir());
    write_text(mp, "{\"labels\": {\"background\": 0, \"tumour\": 1}, \"training\": [{\"image\": \"a\", \"label\": \"b\"}],"
                   " \"validation\": [{\"image\": \"c\"}], \"test\": [{\"image\": \"d\"}]}");
    ssl3d_manifest *m = NULL;
    REQUIRE_OK(ctx, ssl3d_manifest_load(ctx, mp, SSL3D_MANIFEST_SKIP_FILE_CHECK, &m));
    CHECK(ssl3d_manifest_num_label_names(m) == 2 && !strcmp(ssl3d_manifest_label_name(m, 1), "tumour"));
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_VAL) == 1 && ssl3d_manifest_count_split(m, SSL3D_SPLIT_TEST) == 1);
    ssl3d_manifest_release(m);
    ssl3d_ctx_release(ctx);
}

TEST(manifest_csv_loads_with_crlf_quotes_and_splits) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *dir = th_tmpdir();
    touch(dir, "train/a.png");
    touch(dir, "train/b c.png");
    touch(dir, "val/d.png");
    touch(dir, "test/e.png");
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/labels.csv", dir);
    write_text(mp, "\xEF\xBB\xBF" "file,label,split,extra\r\n"
                   "train/a.png,0,train,x\r\n"
                   "\"train/b c.png\",4,train,\"say \"\"hi\"\"\"\r\n"
                   "\r\n"
                   " val/d.png , 2 , val ,\r\n"
                   "test/e.png,,test,y\r\n");
    ssl3d_manifest *m = NULL;
    REQUIRE_OK(ctx, ssl3d_manifest_load(ctx, mp, 0, &m));
    CHECK(ssl3d_manifest_kind(m) == SSL3D_MANIFEST_CSV);
    CHECK(ssl3d_manifest_count(m) == 4);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TRAIN) == 2);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_VAL) == 1);
    CHECK(ssl3d_manifest_count_split(m, SSL3D_SPLIT_TEST) == 1);
    char want[1024];
    snprintf(want, sizeof want, "%s/train/b c.png", dir);
    CHECK(!strcmp(ssl3d_manifest_case_image(m, 1, 0), want));
    CHECK(ssl3d_manifest_case_label(m, 1) == 4 && ssl3d_manifest_case_label(m, 2) == 2);
    CHECK(ssl3d_manifest_case_label(m, 3) == -1);
    CHECK(ssl3d_manifest_num_classes(m) == 5);
    CHECK(ssl3d_manifest_case_label_path(m, 0) == NULL && ssl3d_manifest_num_channels(m) == 0);
    ssl3d_manifest_release(m);
    /* columns in another order, LF only, no trailing newline */
    snprintf(mp, sizeof mp, "%s/other.csv", dir);
    write_text(mp, "split,file,label\ntest,test/e.png,1");
    REQUIRE_OK(ctx, ssl3d_manifest_load(ctx, mp, 0, &m));
    CHECK(ssl3d_manifest_count(m) == 1 && ssl3d_manifest_case_label(m, 0) == 1);
    ssl3d_manifest_release(m);
    ssl3d_ctx_release(ctx);
}

TEST(manifest_malformed_csv_is_rejected_with_line_numbers) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    EXPECT_BAD(ctx, "hdr.csv", "path,y,split\na,0,train\n", "line 1");
    EXPECT_BAD(ctx, "label.csv", "file,label,split\na,0,train\nb,x1,train\n", "line 3: label 'x1'");
    EXPECT_BAD(ctx, "neg.csv", "file,label,split\na,-1,train\n", "line 2");
    EXPECT_BAD(ctx, "split.csv", "file,label,split\na,0,train\n\nb,1,holdout\n", "line 4: split 'holdout'");
    EXPECT_BAD(ctx, "fields.csv", "file,label,split\r\na,0\r\n", "line 2: expected 3 fields, got 2");
    EXPECT_BAD(ctx, "quote.csv", "file,label,split\n\"a,0,train\n", "line 2: bad double quotes");
    EXPECT_BAD(ctx, "quote2.csv", "file,label,split\na\"b,0,train\n", "line 2");
    EXPECT_BAD(ctx, "nofile.csv", "file,label,split\n,0,train\n", "line 2: empty file name");
    EXPECT_BAD(ctx, "only.csv", "file,label,split\n", "no cases");
    EXPECT_BAD(ctx, "blank.csv", "\n\n", "empty CSV");
    ssl3d_ctx_release(ctx);
}

TEST(manifest_csv_missing_file_is_named) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/labels.csv", th_tmpdir());
    touch(th_tmpdir(), "x/a.png");
    write_text(mp, "file,label,split\nx/a.png,0,train\nx/gone.png,1,test\n");
    ssl3d_manifest *m = NULL;
    CHECK_ST(ctx, ssl3d_manifest_load(ctx, mp, 0, &m), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "x/gone.png") && strstr(ssl3d_ctx_last_error(ctx), "line 3"));
    CHECK_ST(ctx, ssl3d_manifest_load(ctx, mp, 0x10, &m), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_manifest_load(ctx, NULL, 0, &m), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_manifest_check_files(ctx, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_manifest_count(NULL) == 0 && ssl3d_manifest_kind(NULL) == -1);
    ssl3d_ctx_release(ctx);
}

TEST(manifest_case_read_stacks_and_checks_alignment) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *dir = th_tmpdir();
    REQUIRE(tn_write_f32(tn_path(dir, "f.nii.gz"), 4, 3, 2, &TN_PLAIN) == 0);
    REQUIRE(tn_write_f32(tn_path(dir, "t.nii.gz"), 4, 3, 2, &TN_PLAIN) == 0);
    int64_t dims[4] = { 3, 4, 3, 2 };
    uint8_t lab[24] = { 0 };
    lab[5] = 2;
    REQUIRE(tn_write(tn_path(dir, "l.nii.gz"), 1, dims, DT_UINT8, lab, &TN_PLAIN) == 0);
    REQUIRE(tn_write_f32(tn_path(dir, "bad.nii.gz"), 4, 3, 3, &TN_PLAIN) == 0);
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/dataset.json", dir);
    write_text(mp, "{\"training\": [{\"image\": [\"f.nii.gz\", \"t.nii.gz\"], \"label\": \"l.nii.gz\"},"
                   " {\"image\": \"f.nii.gz\", \"label\": \"bad.nii.gz\"}], \"test\": [\"t.nii.gz\"]}");
    ssl3d_manifest *m = NULL;
    REQUIRE_OK(ctx, ssl3d_manifest_load(ctx, mp, 0, &m));
    ssl3d_image *img = NULL, *lb = NULL;
    REQUIRE_OK(ctx, ssl3d_manifest_case_read(ctx, m, 0, 0, &img, &lb));
    int64_t d[4];
    ssl3d_image_dims(ctx, img, d);
    CHECK(d[0] == 2 && lb && ssl3d_image_data(lb)[5] == 2);
    ssl3d_image_release(img);
    ssl3d_image_release(lb);
    img = lb = NULL;
    CHECK_ST(ctx, ssl3d_manifest_case_read(ctx, m, 1, 0, &img, &lb), SSL3D_ERR_SHAPE);
    CHECK(img == NULL && lb == NULL && strstr(ssl3d_ctx_last_error(ctx), "bad.nii.gz"));
    lb = (ssl3d_image *)0x1;
    REQUIRE_OK(ctx, ssl3d_manifest_case_read(ctx, m, 2, 0, &img, &lb));
    CHECK(lb == NULL);
    ssl3d_image_release(img);
    CHECK_ST(ctx, ssl3d_manifest_case_read(ctx, m, 3, 0, &img, NULL), SSL3D_ERR_INVALID_ARG);
    ssl3d_manifest_release(m);
    ssl3d_ctx_release(ctx);
}
