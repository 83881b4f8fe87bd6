/* Finite-difference gradient check shared by every op test.
 * The checked function maps the `wrt` tensors to any output y; the check forms the
 * scalar L = sum(y * r) with a fixed random r, compares dL/dwrt from ssl3d_backward
 * with central differences (L(w+eps) - L(w-eps)) / 2eps on up to `max_checks`
 * elements per tensor (all when small). */
#ifndef SSL3D_GRADCHECK_H
#define SSL3D_GRADCHECK_H
#include "ssl3d.h"

typedef ssl3d_status (*gc_forward)(ssl3d_ctx *ctx, void *user, ssl3d_tensor **out);

typedef struct gc_opts {
    double eps;        /* default 1e-2 */
    double atol;       /* default 2e-3 */
    double rtol;       /* default 2e-2 */
    int max_checks;    /* per tensor, default 64 */
} gc_opts;

/* Returns the number of mismatching elements (0 = pass); prints the first few. A
 * failed forward or backward counts as one mismatch and prints the error. */
int gradcheck(ssl3d_ctx *ctx, gc_forward f, void *user, ssl3d_tensor **wrt, int n_wrt,
              const gc_opts *opts, const char *label);

/* Directional check for whole networks, where per-element float32 differences drown in
 * rounding or ReLU/max-pool kinks: for `n_dirs` random unit directions d over all `wrt`
 * elements, compares g.d with (L(w + eps d) - L(w - eps d)) / 2eps. Returns the number
 * of directions off by more than rtol relative (plus atol). */
int gradcheck_directional(ssl3d_ctx *ctx, gc_forward f, void *user, ssl3d_tensor **wrt, int n_wrt,
                          int n_dirs, double eps, double rtol, double atol, const char *label);
#endif
