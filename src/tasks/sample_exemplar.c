/* Exemplar: two independently augmented views of one image. */
#include "sample_internal.h"
#include "ssl3d/tasks.h"

ssl3d_status ssl3d_exemplar_view(ssl3d_ctx *ctx, const ssl3d_tensor *x, const struct ssl3d_augment *aug,
                                 uint64_t seed, uint64_t index, int32_t view, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, view == 0 || view == 1, "ssl3d_exemplar_view: view must be 0 or 1, got %d", (int)view);
    SSL3D_CHECK_ARG(ctx, index < (UINT64_C(1) << 55), "ssl3d_exemplar_view: index too large");
    struct ssl3d_augment def;
    if (!aug) { augment_defaults(&def); aug = &def; }
    return ssl3d_augment_apply(ctx, aug, x, NULL, seed, 2 * index + (uint64_t)view, out, NULL);
}

ssl3d_status ssl3d_exemplar_pair(ssl3d_ctx *ctx, const ssl3d_tensor *x, const struct ssl3d_augment *aug,
                                 uint64_t seed, uint64_t index, ssl3d_tensor **view0, ssl3d_tensor **view1) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, view0 && view1, "ssl3d_exemplar_pair: view0 and view1 must not be NULL");
    ssl3d_tensor *a, *b;
    SSL3D_CHECK(ssl3d_exemplar_view(ctx, x, aug, seed, index, 0, &a));
    ssl3d_status st = ssl3d_exemplar_view(ctx, x, aug, seed, index, 1, &b);
    if (st != SSL3D_OK) { ssl3d_tensor_release(a); return st; }
    *view0 = a; *view1 = b;
    return SSL3D_OK;
}
