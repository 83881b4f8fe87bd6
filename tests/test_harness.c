/* The test runner itself: a hung test is stopped at its time limit and reported as
 * failed with its name, and the run goes on. th_tensors_identical tells apart every
 * difference of dtype, shape or bits, reads device memory, and fails a test rather than
 * answer "different" for a tensor it cannot compare. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "../src/core/internal.h"
#include "../src/backend/backend.h"

/* Fixture of the next test: hangs only when the runner is started by that test. */
TEST(harness_fixture_hangs) {
    if (!getenv("SSL3D_TEST_HANG_FIXTURE")) SKIP("fixture of harness_times_out_a_hung_test");
    for (;;) pause();
}

TEST(harness_times_out_a_hung_test) {
    char exe[1024], cmd[1400], out[4096] = { 0 };
    REQUIRE(th_self_exe(exe, sizeof exe));
    snprintf(cmd, sizeof cmd, "SSL3D_TEST_HANG_FIXTURE=1 SSL3D_TEST_TIMEOUT=1 '%s' harness_fixture_hangs 2>&1", exe);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    const int rc = pclose(p);
    CHECK_MSG(rc != 0, "the runner exited 0 after a hung test:\n%s", out);
    CHECK_MSG(strstr(out, "timed out after 1 s: harness_fixture_hangs") != NULL, "no timeout line:\n%s", out);
    CHECK_MSG(strstr(out, "FAIL harness_fixture_hangs") != NULL, "not reported as failed:\n%s", out);
    CHECK_MSG(strstr(out, "0 passed, 1 failed") != NULL, "wrong summary:\n%s", out);
}

/* A CPU context whose backend says its memory is not host-readable: its tensors have no
 * ssl3d_tensor_host_data, as on a device. */
static ssl3d_backend no_host_memory;
static ssl3d_ctx *device_like_ctx(void) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    if (!ctx) return NULL;
    no_host_memory = *ctx->be;
    no_host_memory.host_memory = 0;
    ctx->be = &no_host_memory;
    return ctx;
}

static ssl3d_tensor *from_bits(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape, const uint32_t *bits) {
    ssl3d_tensor *t = NULL;
    return ssl3d_tensor_from_data(ctx, dtype, ndim, shape, bits, &t) == SSL3D_OK ? t : NULL;
}

TEST(harness_tensors_identical_compares_dtype_shape_and_bits) {
    ssl3d_ctx *ctx = th_ctx(1, 0), *dev = device_like_ctx();
    REQUIRE(ctx && dev);
    /* 1.0, a quiet NaN with payload 1, -0, 2.0, 3.0, 4.0 */
    const uint32_t v[6] = { 0x3f800000u, 0x7fc00001u, 0x80000000u, 0x40000000u, 0x40400000u, 0x40800000u };
    uint32_t w[6];
    const int64_t s23[2] = { 2, 3 }, s32[2] = { 3, 2 }, s6[1] = { 6 };
    ssl3d_tensor *a = from_bits(ctx, SSL3D_F32, 2, s23, v), *b = from_bits(ctx, SSL3D_F32, 2, s23, v);
    REQUIRE(a && b);
    CHECK(th_tensors_identical(ctx, a, a) && th_tensors_identical(ctx, a, b));   /* NaN == NaN by bits */
    CHECK(th_tensors_identical(NULL, a, b));                                    /* host memory: no context needed */
    struct { const char *what; int32_t dtype, ndim; const int64_t *shape; int index; uint32_t bits; } differ[] = {
        { "first element", SSL3D_F32, 2, s23, 0, 0x3f800001u },
        { "last element", SSL3D_F32, 2, s23, 5, 0x40800001u },
        { "NaN payload", SSL3D_F32, 2, s23, 1, 0x7fc00002u },
        { "-0 for +0", SSL3D_F32, 2, s23, 2, 0x00000000u },
        { "shape (3, 2)", SSL3D_F32, 2, s32, -1, 0 },
        { "shape (6)", SSL3D_F32, 1, s6, -1, 0 },
        { "dtype I32", SSL3D_I32, 2, s23, -1, 0 },
    };
    for (size_t k = 0; k < sizeof differ / sizeof differ[0]; k++) {
        memcpy(w, v, sizeof w);
        if (differ[k].index >= 0) w[differ[k].index] = differ[k].bits;
        ssl3d_tensor *c = from_bits(ctx, differ[k].dtype, differ[k].ndim, differ[k].shape, w);
        REQUIRE(c);
        CHECK_MSG(!th_tensors_identical(ctx, a, c) && !th_tensors_identical(ctx, c, a), "%s: called identical",
                  differ[k].what);
        ssl3d_tensor_release(c);
    }
    /* Device memory is read on its context, also against a host tensor of another context. */
    ssl3d_tensor *d = NULL, *e = NULL;
    REQUIRE_OK(dev, ssl3d_tensor_copy_to(dev, a, &d));
    REQUIRE(ssl3d_tensor_host_data(d) == NULL);
    memcpy(w, v, sizeof w);
    w[5] = 0x40800001u;
    REQUIRE((e = from_bits(dev, SSL3D_F32, 2, s23, w)) != NULL);
    CHECK(th_tensors_identical(dev, d, a) && th_tensors_identical(dev, a, d));
    CHECK(!th_tensors_identical(dev, d, e) && !th_tensors_identical(dev, e, a));
    ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(d); ssl3d_tensor_release(e);
    ssl3d_ctx_release(ctx);
    ssl3d_ctx_release(dev);
}

/* Fixture of the next test: comparisons that cannot be made, which must fail it. */
TEST(harness_fixture_uncomparable_tensors) {
    if (!getenv("SSL3D_TEST_UNCOMPARABLE_FIXTURE")) SKIP("fixture of harness_tensors_identical_fails_what_it_cannot_compare");
    ssl3d_ctx *ctx = th_ctx(1, 0), *dev = device_like_ctx();
    REQUIRE(ctx && dev);
    const int64_t s[1] = { 3 };
    ssl3d_tensor *t = th_randn(ctx, 1, s, 0), *d = NULL;
    REQUIRE(t);
    REQUIRE_OK(dev, ssl3d_tensor_copy_to(dev, t, &d));
    CHECK(!th_tensors_identical(ctx, NULL, t));   /* would pass if NULL only meant "different" */
    CHECK(!th_tensors_identical(NULL, t, d));     /* device memory, no context to read it on */
    ssl3d_tensor_release(t); ssl3d_tensor_release(d);
    ssl3d_ctx_release(ctx);
    ssl3d_ctx_release(dev);
}

TEST(harness_tensors_identical_fails_what_it_cannot_compare) {
    char exe[1024], cmd[1400], out[4096] = { 0 };
    REQUIRE(th_self_exe(exe, sizeof exe));
    snprintf(cmd, sizeof cmd, "SSL3D_TEST_UNCOMPARABLE_FIXTURE=1 '%s' harness_fixture_uncomparable_tensors", exe);
    const int rc = th_run(cmd, out, sizeof out);
    CHECK_MSG(rc != 0, "the runner exited %d after comparisons it could not make:\n%s", rc, out);
    CHECK_MSG(strstr(out, "th_tensors_identical: tensor a is NULL") != NULL, "NULL tensor not reported:\n%s", out);
    CHECK_MSG(strstr(out, "th_tensors_identical: cannot read tensor b") != NULL, "unreadable tensor not reported:\n%s",
              out);
    CHECK_MSG(strstr(out, "0 passed, 1 failed") != NULL, "wrong summary:\n%s", out);
}
