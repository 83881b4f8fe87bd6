/* Checkpoints (safetensors): round trips, deterministic bytes, atomic saves, hostile
 * files, dtype conversions, API misuse, and files written by Python by hand. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"

/* ---------------------------------------------------------------- helpers */

static char *path_in_tmp(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", th_tmpdir(), name);
    return p;
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int write_all_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* 8-byte length + header text + `dlen` data bytes (value i & 0xff). */
static uint8_t *st_bytes(const char *json, size_t dlen, size_t *len) {
    size_t n = strlen(json);
    *len = 8 + n + dlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    for (size_t i = 0; i < dlen; i++) b[8 + n + i] = (uint8_t)i;
    return b;
}

static int files_with(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, needle) != NULL;
    closedir(d);
    return n;
}

static int msg_has(ssl3d_ctx *ctx, const char *s) { return strstr(ssl3d_ctx_last_error(ctx), s) != NULL; }

/* A checkpoint with F32 tensors of ranks 1, 2, 3, 5, an I32 rank-4 tensor and
 * metadata; `reverse` adds them in the opposite order. */
static ssl3d_checkpoint *sample(ssl3d_ctx *ctx, int reverse, ssl3d_tensor **ts) {
    static const int64_t s1[1] = { 7 }, s2[2] = { 3, 4 }, s3[3] = { 2, 3, 5 }, s5[5] = { 2, 1, 3, 2, 2 },
                         s4[4] = { 2, 2, 1, 3 };
    static const char *names[5] = { "enc.conv1.weight", "enc.bn1.running_mean", "head.fc.weight", "a3d", "labels" };
    ssl3d_checkpoint *ck = NULL;
    if (ssl3d_checkpoint_create(ctx, &ck) != SSL3D_OK) return NULL;
    ts[0] = th_randn(ctx, 1, s1, 0);
    ts[1] = th_randn(ctx, 2, s2, 0);
    ts[2] = th_randn(ctx, 3, s3, 0);
    ts[3] = th_randn(ctx, 5, s5, 0);
    /* Special values must survive bit for bit. */
    float *f = ssl3d_tensor_host_data(ts[0]);
    f[0] = -0.0f; f[1] = INFINITY; f[2] = -INFINITY; f[3] = NAN; f[4] = 1e-45f;
    int32_t iv[12];
    for (int i = 0; i < 12; i++) iv[i] = (i - 6) * 123457;
    iv[0] = INT32_MIN; iv[1] = INT32_MAX;
    ssl3d_tensor_from_data(ctx, SSL3D_I32, 4, s4, iv, &ts[4]);
    for (int k = 0; k < 5; k++) {
        int i = reverse ? 4 - k : k;
        if (ssl3d_checkpoint_add_tensor(ctx, ck, names[i], ts[i]) != SSL3D_OK) { ssl3d_checkpoint_release(ck); return NULL; }
    }
    const char *kv[3][2] = { { "task", "rotation" }, { "dims", "3" }, { "note", "quote \" backslash \\ newline \n tab \t \xc3\xa9" } };
    for (int k = 0; k < 3; k++) {
        int i = reverse ? 2 - k : k;
        ssl3d_checkpoint_set_meta(ctx, ck, kv[i][0], kv[i][1]);
    }
    return ck;
}

static void release_all(ssl3d_tensor **ts, int n) {
    for (int i = 0; i < n; i++) ssl3d_tensor_release(ts[i]);
}

/* Bytes of a small valid file made by our writer. */
static uint8_t *sample_bytes(ssl3d_ctx *ctx, size_t *len) {
    ssl3d_tensor *ts[5] = { 0 };
    ssl3d_checkpoint *ck = sample(ctx, 0, ts);
    const char *p = path_in_tmp("sample.safetensors");
    uint8_t *b = NULL;
    if (ck && ssl3d_checkpoint_save(ctx, ck, p) == SSL3D_OK) b = read_all(p, len);
    ssl3d_checkpoint_release(ck);
    release_all(ts, 5);
    return b;
}

/* ---------------------------------------------------------------- round trips */

TEST(checkpoint_round_trip_is_bitwise) {
    ssl3d_ctx *ctx = th_ctx(1, 11);
    REQUIRE(ctx);
    ssl3d_tensor *ts[5] = { 0 };
    ssl3d_checkpoint *ck = sample(ctx, 0, ts);
    REQUIRE(ck);
    const char *p = path_in_tmp("rt.safetensors");
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, ck, p));
    ssl3d_checkpoint *ld = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &ld));
    CHECK(ssl3d_checkpoint_tensor_count(ld) == 5);
    CHECK(ssl3d_checkpoint_meta_count(ld) == 3);
    /* Name order is strcmp order. */
    for (int64_t i = 1; i < ssl3d_checkpoint_tensor_count(ld); i++)
        CHECK(strcmp(ssl3d_checkpoint_tensor_name(ld, i - 1), ssl3d_checkpoint_tensor_name(ld, i)) < 0);
    CHECK(!strcmp(ssl3d_checkpoint_tensor_name(ld, 0), "a3d"));
    for (int64_t i = 0; i < ssl3d_checkpoint_tensor_count(ck); i++) {
        const char *name = ssl3d_checkpoint_tensor_name(ck, i);
        ssl3d_tensor *orig = NULL, *got = NULL;
        REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, name, &orig));
        REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ld, name, &got));
        CHECK(ssl3d_tensor_dtype(got) == ssl3d_tensor_dtype(orig));
        CHECK(ssl3d_tensor_ndim(got) == ssl3d_tensor_ndim(orig));
        for (int d = 0; d < ssl3d_tensor_ndim(orig); d++) CHECK(ssl3d_tensor_dim(got, d) == ssl3d_tensor_dim(orig, d));
        int32_t dt, nd;
        int64_t sh[8];
        CHECK_OK(ctx, ssl3d_checkpoint_tensor_info(ctx, ld, name, &dt, &nd, sh, 8));
        CHECK(dt == ssl3d_tensor_dtype(orig) && nd == ssl3d_tensor_ndim(orig) && sh[0] == ssl3d_tensor_dim(orig, 0));
        CHECK(th_tensors_identical(ctx, orig, got));
        ssl3d_tensor_release(orig);
        ssl3d_tensor_release(got);
    }
    /* The added tensors were copied: they match the sources bit for bit too. */
    ssl3d_tensor *w = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ld, "enc.conv1.weight", &w));
    CHECK(th_tensors_identical(ctx, w, ts[0]));
    ssl3d_tensor_release(w);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ld, "labels", &w));
    CHECK(((int32_t *)ssl3d_tensor_host_data(w))[0] == INT32_MIN);
    CHECK(((int32_t *)ssl3d_tensor_host_data(w))[1] == INT32_MAX);
    ssl3d_tensor_release(w);
    const char *v = NULL;
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ld, "note", &v));
    CHECK(v && !strcmp(v, "quote \" backslash \\ newline \n tab \t \xc3\xa9"));
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ld, "task", &v));
    CHECK(v && !strcmp(v, "rotation"));
    CHECK(!strcmp(ssl3d_checkpoint_meta_key(ld, 0), "dims"));
    /* Changing a source tensor after add does not change the checkpoint. */
    ((float *)ssl3d_tensor_host_data(ts[1]))[0] = 12345.0f;
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "enc.bn1.running_mean", &w));
    CHECK(((float *)ssl3d_tensor_host_data(w))[0] != 12345.0f);
    ssl3d_tensor_release(w);
    ssl3d_checkpoint_release(ld);
    ssl3d_checkpoint_release(ck);
    release_all(ts, 5);
    ssl3d_ctx_release(ctx);
}

TEST(checkpoint_file_layout_is_aligned_and_deterministic) {
    ssl3d_ctx *ctx = th_ctx(1, 5);
    REQUIRE(ctx);
    ssl3d_tensor *ta[5] = { 0 }, *tb[5] = { 0 };
    ssl3d_checkpoint *a = sample(ctx, 0, ta);
    REQUIRE_OK(ctx, ssl3d_ctx_set_seed(ctx, 5));
    ssl3d_checkpoint *b = sample(ctx, 1, tb);   /* same values, other insertion order */
    REQUIRE(a && b);
    const char *pa = path_in_tmp("a.safetensors"), *pb = path_in_tmp("b.safetensors"), *pc = path_in_tmp("c.safetensors");
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, a, pa));
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, b, pb));
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, a, pc));
    size_t la = 0, lb = 0, lc = 0;
    uint8_t *ba = read_all(pa, &la), *bb = read_all(pb, &lb), *bc = read_all(pc, &lc);
    REQUIRE(ba && bb && bc);
    CHECK(la == lb && memcmp(ba, bb, la) == 0);
    CHECK(la == lc && memcmp(ba, bc, la) == 0);
    /* Header length is a multiple of 8 and the header starts with the metadata. */
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | ba[i];
    CHECK(n % 8 == 0);
    CHECK(memcmp(ba + 8, "{\"__metadata__\":{\"dims\":\"3\"", 26) == 0);
    /* Re-saving a loaded checkpoint reproduces the file. */
    ssl3d_checkpoint *ld = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, pa, &ld));
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, ld, pc));
    free(bc);
    bc = read_all(pc, &lc);
    CHECK(bc && la == lc && memcmp(ba, bc, la) == 0);
    CHECK(files_with(th_tmpdir(), ".tmp.") == 0);
    free(ba); free(bb); free(bc);
    ssl3d_checkpoint_release(ld);
    ssl3d_checkpoint_release(a);
    ssl3d_checkpoint_release(b);
    release_all(ta, 5);
    release_all(tb, 5);
    ssl3d_ctx_release(ctx);
}

TEST(checkpoint_empty_and_copy_into) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    REQUIRE(ctx);
    ssl3d_checkpoint *ck = NULL, *ld = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    const char *p = path_in_tmp("empty.safetensors");
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, ck, p));
    size_t len = 0;
    uint8_t *b = read_all(p, &len);
    CHECK(b && len == 16 && !memcmp(b + 8, "{}      ", 8));
    free(b);
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &ld));
    CHECK(ssl3d_checkpoint_tensor_count(ld) == 0 && ssl3d_checkpoint_meta_count(ld) == 0);
    ssl3d_checkpoint_release(ld);

    /* copy_into restores in place, checks dtype and shape. */
    int64_t s23[2] = { 2, 3 }, s32[2] = { 3, 2 };
    ssl3d_tensor *w = th_randn(ctx, 2, s23, 1), *dst = th_randn(ctx, 2, s23, 1), *wrong = th_randn(ctx, 2, s32, 0);
    ssl3d_tensor *idst = NULL;
    REQUIRE(w && dst && wrong);
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 2, s23, &idst));
    REQUIRE_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "w", w));
    CHECK_OK(ctx, ssl3d_checkpoint_copy_into(ctx, ck, "w", dst));
    CHECK(memcmp(ssl3d_tensor_host_data(w), ssl3d_tensor_host_data(dst), 6 * 4) == 0);
    CHECK_ST(ctx, ssl3d_checkpoint_copy_into(ctx, ck, "w", wrong), SSL3D_ERR_SHAPE);
    CHECK(msg_has(ctx, "(2,3)") && msg_has(ctx, "(3,2)") && msg_has(ctx, "'w'"));
    CHECK_ST(ctx, ssl3d_checkpoint_copy_into(ctx, ck, "w", idst), SSL3D_ERR_DTYPE);
    CHECK(msg_has(ctx, "'w'") && msg_has(ctx, "int32"));
    CHECK_ST(ctx, ssl3d_checkpoint_copy_into(ctx, ck, "nope", dst), SSL3D_ERR_NOT_FOUND);
    CHECK(msg_has(ctx, "'nope'"));
    CHECK_ST(ctx, ssl3d_checkpoint_copy_into(ctx, ck, "w", NULL), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(w);
    ssl3d_tensor_release(dst);
    ssl3d_tensor_release(wrong);
    ssl3d_tensor_release(idst);
    ssl3d_checkpoint_release(ck);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- atomic saves */

TEST(checkpoint_save_is_atomic) {
    ssl3d_ctx *ctx = th_ctx(1, 2);
    REQUIRE(ctx);
    ssl3d_tensor *ts[5] = { 0 };
    ssl3d_checkpoint *ck = sample(ctx, 0, ts);
    REQUIRE(ck);
    /* A missing directory: clean failure, nothing created. */
    const char *missing = path_in_tmp("no/such/dir/x.safetensors");
    CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, ck, missing), SSL3D_ERR_IO);
    CHECK(msg_has(ctx, "x.safetensors"));
    struct stat sb;
    CHECK(stat(path_in_tmp("no"), &sb) != 0);
    CHECK(files_with(th_tmpdir(), ".tmp.") == 0);

    /* An existing target survives a save that cannot create its temporary file. */
    const char *target = path_in_tmp("keep.safetensors");
    REQUIRE(write_all_file(target, "old contents", 12));
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", target, (long)getpid());
    REQUIRE(mkdir(tmpname, 0700) == 0);   /* a directory where the temp file should go */
    CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, ck, target), SSL3D_ERR_IO);
    CHECK(msg_has(ctx, "keep.safetensors"));
    size_t len = 0;
    uint8_t *b = read_all(target, &len);
    CHECK(b && len == 12 && !memcmp(b, "old contents", 12));
    free(b);
    rmdir(tmpname);

    /* ... and a save whose writes fail half way (file size limit -> EFBIG). */
    struct rlimit old;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 100;
    if (setrlimit(RLIMIT_FSIZE, &small) == 0) {
        CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, ck, target), SSL3D_ERR_IO);
        CHECK(msg_has(ctx, "write"));
        setrlimit(RLIMIT_FSIZE, &old);
        b = read_all(target, &len);
        CHECK(b && len == 12 && !memcmp(b, "old contents", 12));
        free(b);
        CHECK(files_with(th_tmpdir(), ".tmp.") == 0);
    }
    signal(SIGXFSZ, old_handler);

    /* A successful save replaces the target. */
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, ck, target));
    b = read_all(target, &len);
    CHECK(b && len > 100);
    free(b);
    CHECK(files_with(th_tmpdir(), ".tmp.") == 0);
    /* Saving onto a directory fails and leaves it alone. */
    CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, ck, th_tmpdir()), SSL3D_ERR_IO);
    CHECK(stat(target, &sb) == 0);
    ssl3d_checkpoint_release(ck);
    release_all(ts, 5);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- hostile files */

TEST(checkpoint_every_truncation_is_rejected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    size_t len = 0;
    uint8_t *b = sample_bytes(ctx, &len);
    REQUIRE(b);
    ssl3d_checkpoint *ck = NULL;
    CHECK_OK(ctx, ssl3d_checkpoint_load_memory(ctx, b, (int64_t)len, &ck));
    ssl3d_checkpoint_release(ck);
    for (size_t l = 0; l < len; l++) {
        ck = (ssl3d_checkpoint *)0x1;
        ssl3d_status st = ssl3d_checkpoint_load_memory(ctx, b, (int64_t)l, &ck);
        CHECK_MSG(st == SSL3D_ERR_FORMAT, "prefix of %zu bytes: %s", l, ssl3d_status_string(st));
        CHECK(ck == (ssl3d_checkpoint *)0x1);
        CHECK(msg_has(ctx, "(memory)"));
    }
    /* Through files too, for a few lengths, with the path in the message. */
    const size_t lens[] = { 0, 5, 8, 20, len / 2, len - 1 };
    const char *p = path_in_tmp("trunc.safetensors");
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        REQUIRE(write_all_file(p, b, lens[i]));
        CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, p, &ck), SSL3D_ERR_FORMAT);
        CHECK(msg_has(ctx, "trunc.safetensors"));
    }
    free(b);
    ssl3d_ctx_release(ctx);
}

typedef struct {
    const char *json;   /* header text */
    size_t dlen;        /* data bytes after it */
    ssl3d_status want;
    const char *msg1, *msg2;   /* substrings the message must contain (may be NULL) */
} hostile_case;

static const hostile_case hostile[] = {
    { "{not json}", 0, SSL3D_ERR_FORMAT, "not valid JSON", NULL },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, SSL3D_ERR_FORMAT, "not valid JSON", NULL },
    { "[{\"a\":1}]", 0, SSL3D_ERR_FORMAT, "start with '{'", NULL },
    { "  {}", 0, SSL3D_ERR_FORMAT, "start with '{'", NULL },
    { "{} x", 0, SSL3D_ERR_FORMAT, "after its JSON", NULL },
    { "{}\n\t  ", 0, SSL3D_OK, NULL, NULL },
    { "{\"a\":1}", 0, SSL3D_ERR_FORMAT, "'a'", "not an object" },
    { "{\"a\":[0,4]}", 4, SSL3D_ERR_FORMAT, "'a'", "not an object" },
    { "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "'w'", "unknown dtype \"F33\"" },
    { "{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "'w'", "not a string" },
    { "{\"w\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1, SSL3D_ERR_UNSUPPORTED, "'w'", "F4" },
    { "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "'w'", "no \"dtype\"" },
    { "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "'w'", "no \"shape\"" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SSL3D_ERR_FORMAT, "'w'", "no \"data_offsets\"" },
    { "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "'w'", "twice" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12, SSL3D_ERR_FORMAT, "'w'", "needs 16 bytes" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[0,400]}}", 12, SSL3D_ERR_FORMAT, "'w'", "run past" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, SSL3D_ERR_FORMAT, "'w'", "end before" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, SSL3D_ERR_FORMAT, "'w'", "2 non-negative" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, SSL3D_ERR_FORMAT, "'w'", "2 non-negative" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 4, SSL3D_ERR_FORMAT, "'w'", "2 non-negative" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 4, SSL3D_ERR_FORMAT, "'w'", "2 non-negative" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":{\"a\":0}}}", 4, SSL3D_ERR_FORMAT, "'w'", "2 non-negative" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, SSL3D_ERR_FORMAT, "'w'", "shape[0] is -2" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}}", 12, SSL3D_ERR_FORMAT, "'w'", "shape[1] is 1.5" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[2,null],\"data_offsets\":[0,8]}}", 8, SSL3D_ERR_FORMAT, "'w'", "shape[1]" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, SSL3D_ERR_FORMAT, "'w'", "not an array" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8, SSL3D_ERR_FORMAT, "'w'", "shape[0]" },
    { "{\"w\":{\"dtype\":\"I32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
      SSL3D_ERR_FORMAT, "'w'", "overflows" },
    { "{\"w\":{\"dtype\":\"F64\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8,
      SSL3D_ERR_FORMAT, "'w'", "overflows" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, SSL3D_ERR_FORMAT, "'b'", "overlaps tensor 'a'" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SSL3D_ERR_FORMAT, "'b'", "overlaps" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, SSL3D_ERR_FORMAT, "'z'", "overlaps" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SSL3D_ERR_FORMAT, "hole before tensor 'a'", NULL },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9, SSL3D_ERR_FORMAT, "5 trailing bytes", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SSL3D_ERR_FORMAT, "'w'", "appears twice" },
    { "{\"__metadata__\":{\"k\":1}}", 0, SSL3D_ERR_FORMAT, "metadata key 'k'", "not a string" },
    { "{\"__metadata__\":{\"k\":null}}", 0, SSL3D_ERR_FORMAT, "metadata key 'k'", "not a string" },
    { "{\"__metadata__\":[\"k\"]}", 0, SSL3D_ERR_FORMAT, "__metadata__", "not an object" },
    { "{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, SSL3D_ERR_FORMAT, "metadata key 'k'", "twice" },
    { "{\"__metadata__\":{},\"__metadata__\":{}}", 0, SSL3D_ERR_FORMAT, "__metadata__", "twice" },
    { "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "name", "empty" },
    { "{\"a\\u0001b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "'a?b'", "control" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\x01", 4, SSL3D_ERR_FORMAT, "control byte 0x01", NULL },
    { "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_ERR_FORMAT, "UTF-8", NULL },
    { "{\"a\xed\xa0\x80\":1}", 0, SSL3D_ERR_FORMAT, "UTF-8", NULL },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SSL3D_OK, NULL, NULL },
};

TEST(checkpoint_hostile_headers_are_rejected_with_named_culprits) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        const hostile_case *c = &hostile[i];
        size_t len = 0;
        uint8_t *b = st_bytes(c->json, c->dlen, &len);
        ssl3d_checkpoint *ck = (ssl3d_checkpoint *)0x1;
        ssl3d_ctx_clear_error(ctx);
        ssl3d_status st = ssl3d_checkpoint_load_memory(ctx, b, (int64_t)len, &ck);
        CHECK_MSG(st == c->want, "case %zu (%s): got %s, want %s: %s", i, c->json, ssl3d_status_string(st),
                  ssl3d_status_string(c->want), ssl3d_ctx_last_error(ctx));
        if (st == SSL3D_OK) ssl3d_checkpoint_release(ck);
        else CHECK(ck == (ssl3d_checkpoint *)0x1);
        if (c->msg1) CHECK_MSG(msg_has(ctx, c->msg1), "case %zu: message '%s' lacks '%s'", i, ssl3d_ctx_last_error(ctx), c->msg1);
        if (c->msg2) CHECK_MSG(msg_has(ctx, c->msg2), "case %zu: message '%s' lacks '%s'", i, ssl3d_ctx_last_error(ctx), c->msg2);
        free(b);
    }
    ssl3d_ctx_release(ctx);
}

TEST(checkpoint_bad_header_lengths_are_rejected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const uint64_t lens[] = { 1000, 11, UINT64_C(1) << 63, UINT64_MAX, 100000001, 0 };
    const char *want[] = { "past the end", "past the end", "exceeds the limit", "exceeds the limit", "exceeds the limit",
                           "start with '{'" };
    const char *p = path_in_tmp("hdr.safetensors");
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        uint8_t b[18] = { 0 };
        for (int k = 0; k < 8; k++) b[k] = (uint8_t)(lens[i] >> (8 * k));
        memcpy(b + 8, "{}        ", 10);
        ssl3d_checkpoint *ck = NULL;
        CHECK_ST(ctx, ssl3d_checkpoint_load_memory(ctx, b, sizeof b, &ck), SSL3D_ERR_FORMAT);
        CHECK_MSG(msg_has(ctx, want[i]), "length %llu: %s", (unsigned long long)lens[i], ssl3d_ctx_last_error(ctx));
        REQUIRE(write_all_file(p, b, sizeof b));
        CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, p, &ck), SSL3D_ERR_FORMAT);
        CHECK(msg_has(ctx, "hdr.safetensors") && msg_has(ctx, want[i]));
    }
    /* Deep nesting is refused by the parser, not by the stack. */
    size_t depth = 5000, n = 0;
    char *deep = malloc(2 * depth + 16);
    n += (size_t)sprintf(deep, "{\"a\":");
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    size_t len = 0;
    uint8_t *b = st_bytes(deep, 0, &len);
    ssl3d_checkpoint *ck = NULL;
    CHECK_ST(ctx, ssl3d_checkpoint_load_memory(ctx, b, (int64_t)len, &ck), SSL3D_ERR_FORMAT);
    free(b);
    free(deep);
    /* A header made of millions of tiny values is refused before parsing. */
    size_t nv = 2100000;
    char *wide = malloc(2 * nv + 64);
    n = (size_t)sprintf(wide, "{\"a\":{\"dtype\":\"I32\",\"shape\":[");
    for (size_t i = 0; i < nv; i++) { wide[n++] = '1'; wide[n++] = ','; }
    n += (size_t)sprintf(wide + n, "1],\"data_offsets\":[0,4]}}");
    b = st_bytes(wide, 4, &len);
    CHECK_ST(ctx, ssl3d_checkpoint_load_memory(ctx, b, (int64_t)len, &ck), SSL3D_ERR_FORMAT);
    CHECK(msg_has(ctx, "JSON values"));
    free(b);
    free(wide);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- dtypes */

static ssl3d_checkpoint *load_json(ssl3d_ctx *ctx, const char *json, const void *data, size_t dlen) {
    size_t len = 0;
    uint8_t *b = st_bytes(json, dlen, &len);
    memcpy(b + len - dlen, data, dlen);
    ssl3d_checkpoint *ck = NULL;
    if (ssl3d_checkpoint_load_memory(ctx, b, (int64_t)len, &ck) != SSL3D_OK) ck = NULL;
    free(b);
    return ck;
}

TEST(checkpoint_foreign_dtypes_convert_or_are_refused) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* Little-endian data: F16 [1, -2, 65504, 2^-24], BF16 [1.5, -inf], F64 [0.1, 1e300],
     * I64 [-5, 2^31-1], U8 [255], BOOL [0, 7], I64 bad [2^31], F8 [1], scalar F32 3.5,
     * empty I32 [2, 0]. */
    uint8_t d[96] = { 0 };
    size_t o = 0;
    const uint16_t f16[4] = { 0x3c00, 0xc000, 0x7bff, 0x0001 };
    for (int i = 0; i < 4; i++) { d[o++] = (uint8_t)f16[i]; d[o++] = (uint8_t)(f16[i] >> 8); }   /* 0..8 */
    const uint16_t bf16[2] = { 0x3fc0, 0xff80 };
    for (int i = 0; i < 2; i++) { d[o++] = (uint8_t)bf16[i]; d[o++] = (uint8_t)(bf16[i] >> 8); } /* 8..12 */
    o = 16;
    const double f64[2] = { 0.1, 1e300 };
    for (int i = 0; i < 2; i++) { uint64_t u; memcpy(&u, &f64[i], 8); for (int k = 0; k < 8; k++) d[o++] = (uint8_t)(u >> (8 * k)); } /* 16..32 */
    const int64_t i64[2] = { -5, INT32_MAX };
    for (int i = 0; i < 2; i++) for (int k = 0; k < 8; k++) d[o++] = (uint8_t)((uint64_t)i64[i] >> (8 * k));   /* 32..48 */
    d[o++] = 255;                  /* U8 48..49 */
    d[o++] = 0; d[o++] = 7;        /* BOOL 49..51 */
    d[o++] = 0x38;                 /* F8_E4M3 51..52 */
    o = 56;
    const int64_t big = (int64_t)1 << 31;
    for (int k = 0; k < 8; k++) d[o++] = (uint8_t)((uint64_t)big >> (8 * k));   /* 56..64 */
    const float sc = 3.5f;
    uint32_t u;
    memcpy(&u, &sc, 4);
    for (int k = 0; k < 4; k++) d[o++] = (uint8_t)(u >> (8 * k));                 /* 64..68 */
    const char *json =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
        "\"pad\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[12,16]},"
        "\"d\":{\"dtype\":\"F64\",\"shape\":[2,1],\"data_offsets\":[16,32]},"
        "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[32,48]},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[48,49]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[49,51]},"
        "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[51,52]},"
        "\"pad2\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[52,56]},"
        "\"lbig\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[56,64]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[64,68]},"
        "\"e\":{\"dtype\":\"I32\",\"shape\":[2,0],\"data_offsets\":[68,68]}}";
    ssl3d_checkpoint *ck = load_json(ctx, json, d, 68);
    if (!ck) { CHECK_MSG(0, "load failed: %s", ssl3d_ctx_last_error(ctx)); ssl3d_ctx_release(ctx); return; }
    CHECK(ssl3d_checkpoint_tensor_count(ck) == 12);
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "h", &t));
    float *f = ssl3d_tensor_host_data(t);
    CHECK(ssl3d_tensor_dtype(t) == SSL3D_F32);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 65504.0f && f[3] == ldexpf(1.0f, -24));
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "bf", &t));
    f = ssl3d_tensor_host_data(t);
    CHECK(f[0] == 1.5f && isinf(f[1]) && f[1] < 0);
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "d", &t));
    f = ssl3d_tensor_host_data(t);
    CHECK(ssl3d_tensor_ndim(t) == 2 && f[0] == 0.1f && isinf(f[1]));
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "l", &t));
    int32_t *iv = ssl3d_tensor_host_data(t);
    CHECK(ssl3d_tensor_dtype(t) == SSL3D_I32 && iv[0] == -5 && iv[1] == INT32_MAX);
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "u8", &t));
    CHECK(((int32_t *)ssl3d_tensor_host_data(t))[0] == 255);
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "b", &t));
    iv = ssl3d_tensor_host_data(t);
    CHECK(iv[0] == 0 && iv[1] == 1);
    ssl3d_tensor_release(t);
    /* Zero-dim tensor: one element, shape (1). */
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "s", &t));
    CHECK(ssl3d_tensor_ndim(t) == 1 && ssl3d_tensor_dim(t, 0) == 1);
    CHECK(((float *)ssl3d_tensor_host_data(t))[0] == 3.5f);
    ssl3d_tensor_release(t);
    t = (ssl3d_tensor *)0x1;
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "lbig", &t), SSL3D_ERR_UNSUPPORTED);
    CHECK(msg_has(ctx, "'lbig'") && msg_has(ctx, "2147483648"));
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "f8", &t), SSL3D_ERR_UNSUPPORTED);
    CHECK(msg_has(ctx, "'f8'") && msg_has(ctx, "F8_E4M3"));
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "e", &t), SSL3D_ERR_UNSUPPORTED);
    CHECK(msg_has(ctx, "'e'") && msg_has(ctx, "no elements"));
    CHECK_ST(ctx, ssl3d_checkpoint_tensor_info(ctx, ck, "f8", NULL, NULL, NULL, 0), SSL3D_ERR_UNSUPPORTED);
    CHECK(t == (ssl3d_tensor *)0x1);
    /* A loaded checkpoint with foreign dtypes saves back to the same bytes. */
    const char *p = path_in_tmp("foreign.safetensors");
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, ck, p));
    ssl3d_checkpoint *again = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &again));
    CHECK(ssl3d_checkpoint_tensor_count(again) == 12);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, again, "h", &t));
    CHECK(((float *)ssl3d_tensor_host_data(t))[2] == 65504.0f);
    ssl3d_tensor_release(t);
    ssl3d_checkpoint_release(again);
    ssl3d_checkpoint_release(ck);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- misuse */

TEST(checkpoint_misuse_gives_statuses) {
    ssl3d_ctx *ctx = th_ctx(1, 0), *other = th_ctx(1, 0);
    REQUIRE(ctx && other);
    ssl3d_checkpoint *ck = NULL, *bogus = (ssl3d_checkpoint *)0x1;
    int64_t s[1] = { 3 };
    ssl3d_tensor *t = NULL, *ft = th_randn(other, 1, s, 0), *out = (ssl3d_tensor *)0x1;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 1, s, &t));
    CHECK(ssl3d_checkpoint_create(NULL, &ck) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_create(ctx, NULL), SSL3D_ERR_INVALID_ARG);
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    CHECK(ssl3d_checkpoint_add_tensor(NULL, ck, "x", t) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, NULL, "x", t), SSL3D_ERR_INVALID_ARG);
    CHECK(msg_has(ctx, "checkpoint is NULL"));
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, NULL, t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "", t), SSL3D_ERR_INVALID_ARG);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[256] = '\0';
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, longname, t), SSL3D_ERR_INVALID_ARG);
    CHECK(msg_has(ctx, "255"));
    longname[255] = '\0';   /* 255 bytes is fine */
    CHECK_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, longname, t));
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "tab\there", t), SSL3D_ERR_INVALID_ARG);
    CHECK(msg_has(ctx, "control"));
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "bad\xc3", t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "__metadata__", t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "x", NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "x", ft), SSL3D_ERR_INVALID_ARG);
    CHECK(msg_has(ctx, "another context"));
    CHECK_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "labels", t));
    CHECK_ST(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "labels", t), SSL3D_ERR_INVALID_ARG);
    CHECK(msg_has(ctx, "already") && msg_has(ctx, "'labels'"));
    CHECK(ssl3d_checkpoint_tensor_count(ck) == 2);
    /* Metadata. */
    CHECK_ST(ctx, ssl3d_checkpoint_set_meta(ctx, ck, NULL, "v"), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "k", NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "k", "bad \xff utf8"), SSL3D_ERR_INVALID_ARG);
    CHECK(msg_has(ctx, "UTF-8"));
    CHECK_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "k", "one"));
    CHECK_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "k", "two"));   /* replaces */
    CHECK(ssl3d_checkpoint_meta_count(ck) == 1);
    const char *v = NULL;
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "k", &v));
    CHECK(v && !strcmp(v, "two"));
    v = NULL;
    CHECK_ST(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "absent", &v), SSL3D_ERR_NOT_FOUND);
    CHECK(v == NULL && msg_has(ctx, "'absent'"));
    CHECK_ST(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "k", NULL), SSL3D_ERR_INVALID_ARG);
    /* Queries. */
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "missing", &out), SSL3D_ERR_NOT_FOUND);
    CHECK(msg_has(ctx, "'missing'") && out == (ssl3d_tensor *)0x1);
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, NULL, "labels", &out), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, NULL, &out), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "labels", NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_checkpoint_get_tensor(NULL, ck, "labels", &out) == SSL3D_ERR_INVALID_ARG);
    int64_t sh[1];
    CHECK_ST(ctx, ssl3d_checkpoint_tensor_info(ctx, ck, "labels", NULL, NULL, sh, 0), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_checkpoint_tensor_count(NULL) == 0 && ssl3d_checkpoint_meta_count(NULL) == 0);
    CHECK(ssl3d_checkpoint_tensor_name(NULL, 0) == NULL && ssl3d_checkpoint_tensor_name(ck, 2) == NULL);
    CHECK(ssl3d_checkpoint_tensor_name(ck, -1) == NULL && ssl3d_checkpoint_meta_key(ck, 1) == NULL);
    /* Save / load arguments. */
    CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, NULL, path_in_tmp("x")), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, ck, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_save(ctx, ck, ""), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, NULL, &bogus), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, path_in_tmp("x"), NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, path_in_tmp("does-not-exist.safetensors"), &bogus), SSL3D_ERR_IO);
    CHECK(msg_has(ctx, "does-not-exist.safetensors"));
    CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, th_tmpdir(), &bogus), SSL3D_ERR_IO);
    CHECK(msg_has(ctx, "regular file"));
    const char *fifo = path_in_tmp("fifo.safetensors");
    if (mkfifo(fifo, 0600) == 0) {   /* must not block waiting for a writer */
        CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, fifo, &bogus), SSL3D_ERR_IO);
        CHECK(msg_has(ctx, "regular file"));
    }
    CHECK_ST(ctx, ssl3d_checkpoint_load(ctx, "/dev/null", &bogus), SSL3D_ERR_IO);
    CHECK_ST(ctx, ssl3d_checkpoint_load_memory(ctx, NULL, 10, &bogus), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_load_memory(ctx, "x", -1, &bogus), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_checkpoint_load_memory(ctx, NULL, 0, &bogus), SSL3D_ERR_FORMAT);
    CHECK(bogus == (ssl3d_checkpoint *)0x1);
    ssl3d_checkpoint_release(NULL);
    ssl3d_checkpoint_release(ck);
    ssl3d_tensor_release(t);
    ssl3d_tensor_release(ft);
    ssl3d_ctx_release(other);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- Python interop */

static int have_numpy(void) {
    if (access("/usr/bin/python3", X_OK) != 0) return 0;
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* A file written by hand in Python (struct + json, following the specification, not
 * our writer): unsorted offsets, unpadded header, I64 and F16 data, metadata. */
TEST(checkpoint_loads_file_written_by_python) {
    if (!have_numpy()) SKIP("/usr/bin/python3 with numpy not available");
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *p = path_in_tmp("py.safetensors"), *script = path_in_tmp("w.py");
    FILE *f = fopen(script, "w");
    REQUIRE(f);
    fprintf(f,
            "import json, struct, sys\n"
            "import numpy as np\n"
            "w = np.arange(24, dtype='<f4').reshape(2, 3, 4) / 8 - 1\n"
            "lab = np.array([[-3, 7], [2**31 - 1, 0]], dtype='<i8')\n"
            "h = np.array([0.5, -1.25, 1024], dtype='<f2')\n"
            "i32 = np.array([5, -6, 7], dtype='<i4')\n"
            "parts = [('labels', 'I64', lab), ('w', 'F32', w), ('half', 'F16', h), ('i', 'I32', i32)]\n"
            "hdr = {'__metadata__': {'task': 'jigsaw', 'format': 'pt'}}\n"
            "off = 0\n"
            "blob = b''\n"
            "for name, dt, a in parts:\n"
            "    b = a.tobytes()\n"
            "    hdr[name] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}\n"
            "    off += len(b)\n"
            "    blob += b\n"
            "js = json.dumps(hdr).encode('utf-8')\n"
            "open(sys.argv[1], 'wb').write(struct.pack('<Q', len(js)) + js + blob)\n");
    fclose(f);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, p);
    REQUIRE(system(cmd) == 0);
    ssl3d_checkpoint *ck = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &ck));
    CHECK(ssl3d_checkpoint_tensor_count(ck) == 4 && ssl3d_checkpoint_meta_count(ck) == 2);
    const char *v = NULL;
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "task", &v));
    CHECK(v && !strcmp(v, "jigsaw"));
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "w", &t));
    CHECK(ssl3d_tensor_ndim(t) == 3 && ssl3d_tensor_dim(t, 2) == 4);
    for (int i = 0; i < 24; i++) CHECK(((float *)ssl3d_tensor_host_data(t))[i] == (float)i / 8 - 1);
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "labels", &t));
    int32_t *iv = ssl3d_tensor_host_data(t);
    CHECK(iv[0] == -3 && iv[1] == 7 && iv[2] == INT32_MAX && iv[3] == 0);
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "half", &t));
    float *fv = ssl3d_tensor_host_data(t);
    CHECK(fv[0] == 0.5f && fv[1] == -1.25f && fv[2] == 1024.0f);
    ssl3d_tensor_release(t);
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "i", &t));
    iv = ssl3d_tensor_host_data(t);
    CHECK(iv[0] == 5 && iv[1] == -6 && iv[2] == 7);
    ssl3d_tensor_release(t);
    ssl3d_checkpoint_release(ck);
    ssl3d_ctx_release(ctx);
}

/* Our file, checked by an independent reader written in Python from the specification
 * (the checks safetensors.torch.load_file makes: header length, UTF-8 JSON, dtype
 * names, shapes, offsets tiling the buffer), and its values compared with numpy. */
TEST(checkpoint_file_is_read_by_python) {
    if (!have_numpy()) SKIP("/usr/bin/python3 with numpy not available");
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_checkpoint *ck = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    int64_t s3[3] = { 2, 3, 4 }, s1[1] = { 5 };
    float fv[24];
    int32_t iv[5] = { -2, -1, 0, 1, 2 };
    for (int i = 0; i < 24; i++) fv[i] = (float)i * 0.25f - 3.0f;
    ssl3d_tensor *a = NULL, *b = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 3, s3, fv, &a));
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, s1, iv, &b));
    CHECK_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "encoder.w", a));
    CHECK_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck, "perm", b));
    CHECK_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "task", "rotation"));
    const char *p = path_in_tmp("ours.safetensors"), *script = path_in_tmp("r.py");
    CHECK_OK(ctx, ssl3d_checkpoint_save(ctx, ck, p));
    FILE *f = fopen(script, "w");
    REQUIRE(f);
    fprintf(f,
            "import json, struct, sys\n"
            "import numpy as np\n"
            "raw = open(sys.argv[1], 'rb').read()\n"
            "n, = struct.unpack('<Q', raw[:8])\n"
            "assert n <= 100000000 and 8 + n <= len(raw) and n %% 8 == 0\n"
            "hdr = json.loads(raw[8:8 + n].decode('utf-8'))\n"
            "buf = raw[8 + n:]\n"
            "assert hdr.pop('__metadata__') == {'task': 'rotation'}\n"
            "size = {'F32': 4, 'I32': 4}\n"
            "spans = sorted(tuple(v['data_offsets']) for v in hdr.values())\n"
            "pos = 0\n"
            "for s, e in spans:\n"
            "    assert s == pos and e >= s\n"
            "    pos = e\n"
            "assert pos == len(buf)\n"
            "def get(name):\n"
            "    v = hdr[name]\n"
            "    s, e = v['data_offsets']\n"
            "    assert e - s == size[v['dtype']] * int(np.prod(v['shape']))\n"
            "    dt = {'F32': '<f4', 'I32': '<i4'}[v['dtype']]\n"
            "    return np.frombuffer(buf[s:e], dtype=dt).reshape(v['shape'])\n"
            "w = get('encoder.w')\n"
            "assert w.shape == (2, 3, 4)\n"
            "assert np.array_equal(w, np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.25 - 3)\n"
            "assert np.array_equal(get('perm'), np.arange(-2, 3))\n"
            "print('python-ok')\n");
    fclose(f);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' >/dev/null", script, p);
    CHECK(system(cmd) == 0);
    ssl3d_checkpoint_release(ck);
    ssl3d_tensor_release(a);
    ssl3d_tensor_release(b);
    ssl3d_ctx_release(ctx);
}
