/* Explicit copies between contexts (ssl3d_tensor_copy_to / ssl3d_tensor_copy_into): on
 * the CPU backend plain copies; the same calls move tensors to and from a GPU context. */
#include <string.h>
#include "harness.h"

TEST(tensor_copy_to_another_context_copies_values_not_gradients) {
    ssl3d_ctx *a = th_ctx(1, 1), *b = th_ctx(2, 2);
    REQUIRE(a && b);
    const int64_t shape[3] = { 2, 3, 4 };
    ssl3d_tensor *x = th_randn(a, 3, shape, 1), *y = NULL;
    REQUIRE(x);
    REQUIRE_OK(b, ssl3d_tensor_copy_to(b, x, &y));
    CHECK(ssl3d_tensor_ndim(y) == 3 && ssl3d_tensor_dim(y, 2) == 4 && ssl3d_tensor_dtype(y) == SSL3D_F32);
    CHECK(ssl3d_tensor_requires_grad(y) == 0);
    float hx[24], hy[24];
    REQUIRE_OK(a, ssl3d_tensor_read(a, x, hx, sizeof hx));
    REQUIRE_OK(b, ssl3d_tensor_read(b, y, hy, sizeof hy));
    CHECK(memcmp(hx, hy, sizeof hx) == 0);
    /* A separate copy: writing one leaves the other alone. */
    REQUIRE_OK(b, ssl3d_tensor_fill(b, y, 7.0f));
    REQUIRE_OK(a, ssl3d_tensor_read(a, x, hy, sizeof hy));
    CHECK(memcmp(hx, hy, sizeof hx) == 0);
    /* int32 tensors too, and within one context. */
    const int32_t lab[4] = { 3, -1, 0, 9 };
    const int64_t s4[1] = { 4 };
    ssl3d_tensor *l = NULL, *l2 = NULL;
    REQUIRE_OK(a, ssl3d_tensor_from_data(a, SSL3D_I32, 1, s4, lab, &l));
    REQUIRE_OK(a, ssl3d_tensor_copy_to(a, l, &l2));
    int32_t got[4];
    REQUIRE_OK(a, ssl3d_tensor_read(a, l2, got, sizeof got));
    CHECK(memcmp(got, lab, sizeof lab) == 0 && ssl3d_tensor_dtype(l2) == SSL3D_I32);
    ssl3d_tensor_release(l); ssl3d_tensor_release(l2);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);
    ssl3d_ctx_release(a); ssl3d_ctx_release(b);
}

TEST(tensor_copy_into_checks_dtype_size_and_owner) {
    ssl3d_ctx *a = th_ctx(1, 1), *b = th_ctx(1, 2);
    REQUIRE(a && b);
    const int64_t s6[1] = { 6 }, s23[2] = { 2, 3 }, s5[1] = { 5 };
    const float v[6] = { 1, 2, 3, 4, 5, 6 };
    ssl3d_tensor *src = th_tensor(a, 1, s6, v), *dst = NULL, *small = NULL, *lab = NULL;
    REQUIRE(src);
    REQUIRE_OK(b, ssl3d_tensor_create(b, SSL3D_F32, 2, s23, &dst));
    REQUIRE_OK(b, ssl3d_tensor_set_requires_grad(b, dst, 1));
    REQUIRE_OK(b, ssl3d_tensor_copy_into(b, dst, src));   /* shapes differ, numel agrees */
    float got[6];
    REQUIRE_OK(b, ssl3d_tensor_read(b, dst, got, sizeof got));
    CHECK(memcmp(got, v, sizeof v) == 0);
    CHECK(ssl3d_tensor_requires_grad(dst) == 1);
    REQUIRE_OK(b, ssl3d_tensor_create(b, SSL3D_F32, 1, s5, &small));
    CHECK_ST(b, ssl3d_tensor_copy_into(b, small, src), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(b), "(5)") && strstr(ssl3d_ctx_last_error(b), "(6)"));
    float zero[5];
    REQUIRE_OK(b, ssl3d_tensor_read(b, small, zero, sizeof zero));
    CHECK(zero[0] == 0.0f && zero[4] == 0.0f);   /* untouched */
    REQUIRE_OK(b, ssl3d_tensor_create(b, SSL3D_I32, 1, s6, &lab));
    CHECK_ST(b, ssl3d_tensor_copy_into(b, lab, src), SSL3D_ERR_DTYPE);
    CHECK_ST(a, ssl3d_tensor_copy_into(a, dst, src), SSL3D_ERR_INVALID_ARG);   /* dst is b's */
    CHECK(strstr(ssl3d_ctx_last_error(a), "another context") != NULL);
    CHECK_ST(b, ssl3d_tensor_copy_into(b, dst, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(b, ssl3d_tensor_copy_to(b, NULL, &small), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_tensor_copy_to(NULL, src, &small) == SSL3D_ERR_INVALID_ARG);
    CHECK_OK(a, ssl3d_tensor_copy_into(a, src, src));   /* onto itself: nothing to do */
    ssl3d_tensor_release(src); ssl3d_tensor_release(dst); ssl3d_tensor_release(small); ssl3d_tensor_release(lab);
    ssl3d_ctx_release(a); ssl3d_ctx_release(b);
}

/* On the CPU backend tensors are host memory; copies are never views. */
TEST(tensor_host_data_is_null_only_for_device_tensors) {
    ssl3d_ctx *a = th_ctx(1, 1);
    REQUIRE(a);
    const int64_t s[1] = { 3 };
    ssl3d_tensor *t = NULL, *c = NULL;
    REQUIRE_OK(a, ssl3d_tensor_create(a, SSL3D_F32, 1, s, &t));
    REQUIRE_OK(a, ssl3d_tensor_copy_to(a, t, &c));
    CHECK(ssl3d_tensor_host_data(t) != NULL && ssl3d_tensor_host_data(c) != NULL);
    CHECK(ssl3d_tensor_host_data(t) != ssl3d_tensor_host_data(c));
    ssl3d_tensor_release(t); ssl3d_tensor_release(c);
    ssl3d_ctx_release(a);
}
