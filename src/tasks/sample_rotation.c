/* Rotation task: R = 10 (3D) / 4 (2D) distinct 90-degree rotation classes of a cube. */
#include <string.h>
#include "sample_internal.h"
#include "ssl3d/tasks.h"

int32_t ssl3d_rotation_classes(int32_t dims) { return dims == 3 ? 10 : dims == 2 ? 4 : 0; }

int32_t ssl3d_rotation_inverse(int32_t dims, int32_t r) {
    int32_t R = ssl3d_rotation_classes(dims);
    if (r < 0 || r >= R) return -1;
    if (r == 0) return 0;
    if (dims == 2) return 4 - r;
    int32_t axis = (r - 1) / 3, k = (r - 1) % 3 + 1;
    return 1 + axis * 3 + (4 - k) - 1;
}

/* Class r -> rot90 permutation (internal axes). 3D: r = 1 + 3 * axis + (k - 1), plane of
 * the two other axes; 2D: k = r in the (H, W) plane. */
static void class_perm(const ssl3d_vol *v, int32_t r, int src[3], int flip[3]) {
    static const int pl[3][2] = { { 1, 2 }, { 0, 2 }, { 0, 1 } };
    if (r == 0) { rot90_perm(0, 1, 2, src, flip); return; }
    if (v->dims == 2) { rot90_perm(r, 1, 2, src, flip); return; }
    int axis = (r - 1) / 3, k = (r - 1) % 3 + 1;
    rot90_perm(k, pl[axis][0], pl[axis][1], src, flip);
}

static ssl3d_status cube_of(ssl3d_ctx *ctx, const ssl3d_tensor *x, const char *fn, ssl3d_vol *v) {
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", v));
    int cube = v->n[1] == v->n[2] && (v->dims == 2 || v->n[0] == v->n[1]);
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, cube, "%s: x %s must be a cube (equal spatial sizes); use ssl3d_pad_crop_center", fn,
                      ssl3d_shape_str(x, s, sizeof s));
    return SSL3D_OK;
}

ssl3d_status ssl3d_rotation_apply(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t r, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rotation_apply";
    ssl3d_vol v, o;
    SSL3D_CHECK(cube_of(ctx, x, fn, &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, r >= 0 && r < ssl3d_rotation_classes(v.dims), "%s: class %d outside [0, %d)", fn, (int)r,
                    (int)ssl3d_rotation_classes(v.dims));
    int src[3], fl[3];
    class_perm(&v, r, src, fl);
    ssl3d_tensor *t;
    SSL3D_CHECK(vol_new(ctx, &v, v.n, &t, &o));
    vol_permute(&v, src, fl, &o, ctx->threads);
    *out = t;
    return SSL3D_OK;
}

/* Check that `out` is (B, x's shape...) of x's dtype; fn names the caller. */
static ssl3d_status check_batch(ssl3d_ctx *ctx, const ssl3d_tensor *x, const ssl3d_tensor *out, const char *fn) {
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, out->ctx == ctx, "%s: out belongs to another context", fn);
    if (out->dtype != x->dtype) return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: out and x dtypes differ", fn);
    char so[96], sx[96];
    SSL3D_CHECK_SHAPE(ctx, out->ndim == x->ndim + 1 &&
                      !memcmp(out->shape + 1, x->shape, (size_t)x->ndim * sizeof(int64_t)),
                      "%s: out %s is not (B, %s)", fn, ssl3d_shape_str(out, so, sizeof so),
                      ssl3d_shape_str(x, sx, sizeof sx));
    return SSL3D_OK;
}

static void rotate_into(const ssl3d_vol *v, int32_t r, ssl3d_tensor *out, int64_t slot, int64_t numel, int threads) {
    ssl3d_vol o = *v;
    o.p = (uint32_t *)out->data + (size_t)slot * (size_t)numel;
    int src[3], fl[3];
    class_perm(v, r, src, fl);
    vol_permute(v, src, fl, &o, threads);
}

ssl3d_status ssl3d_rotation_apply_into(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t r, ssl3d_tensor *out,
                                       int64_t slot) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rotation_apply_into";
    ssl3d_vol v;
    SSL3D_CHECK(cube_of(ctx, x, fn, &v));
    SSL3D_CHECK(check_batch(ctx, x, out, fn));
    SSL3D_CHECK_ARG(ctx, r >= 0 && r < ssl3d_rotation_classes(v.dims), "%s: class %d outside [0, %d)", fn, (int)r,
                    (int)ssl3d_rotation_classes(v.dims));
    SSL3D_CHECK_ARG(ctx, slot >= 0 && slot < out->shape[0], "%s: slot %lld outside [0, %lld)", fn, (long long)slot,
                    (long long)out->shape[0]);
    SSL3D_CHECK_ARG(ctx, out->data != x->data, "%s: out must not be x", fn);
    rotate_into(&v, r, out, slot, x->numel, ctx->threads);
    return SSL3D_OK;
}

ssl3d_status ssl3d_rotation_all_into(ssl3d_ctx *ctx, const ssl3d_tensor *x, ssl3d_tensor *out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rotation_all_into";
    ssl3d_vol v;
    SSL3D_CHECK(cube_of(ctx, x, fn, &v));
    SSL3D_CHECK(check_batch(ctx, x, out, fn));
    const int32_t R = ssl3d_rotation_classes(v.dims);
    SSL3D_CHECK_SHAPE(ctx, out->shape[0] == R, "%s: out has %lld slots, need %d", fn, (long long)out->shape[0], (int)R);
    for (int32_t r = 0; r < R; r++) rotate_into(&v, r, out, r, x->numel, ctx->threads);
    return SSL3D_OK;
}

ssl3d_status ssl3d_rotation_all(ssl3d_ctx *ctx, const ssl3d_tensor *x, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rotation_all";
    ssl3d_vol v;
    SSL3D_CHECK(cube_of(ctx, x, fn, &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    const int32_t R = ssl3d_rotation_classes(v.dims);
    int64_t shape[SSL3D_MAX_DIMS];
    shape[0] = R;
    memcpy(shape + 1, x->shape, (size_t)x->ndim * sizeof(int64_t));
    ssl3d_tensor *t;
    /* Every slot is overwritten: no zero-fill. */
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, x->dtype, x->ndim + 1, shape, &t));
    for (int32_t r = 0; r < R; r++) rotate_into(&v, r, t, r, x->numel, ctx->threads);
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_rotation_sample(ssl3d_ctx *ctx, const ssl3d_tensor *x, int64_t size, uint64_t seed,
                                   uint64_t index, ssl3d_tensor **out, int32_t *label) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rotation_sample";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out && label, "%s: out and label must not be NULL", fn);
    if (size <= 0) {
        size = 1;
        for (int a = 3 - v.dims; a < 3; a++) size = v.n[a] > size ? v.n[a] : size;
    }
    int64_t sz[3] = { size, size, size };
    ssl3d_tensor *cube, *t;
    SSL3D_CHECK(ssl3d_pad_crop_center(ctx, x, sz, 0.0f, &cube));
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(SSL3D_STREAM_ROTATION, index));
    int32_t cls = (int32_t)ssl3d_rng_below(&r, (uint32_t)ssl3d_rotation_classes(v.dims));
    ssl3d_status st = ssl3d_rotation_apply(ctx, cube, cls, &t);
    ssl3d_tensor_release(cube);
    if (st != SSL3D_OK) return st;
    *out = t;
    *label = cls;
    return SSL3D_OK;
}
