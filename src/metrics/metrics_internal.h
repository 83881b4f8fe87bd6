/* Private helpers shared by the metric and subset files (src/metrics/metrics_*.c,
 * src/data/subset*.c): label-range checks and host views of int32 tensors. */
#ifndef SSL3D_METRICS_INTERNAL_H
#define SSL3D_METRICS_INTERNAL_H
#include "../core/internal.h"
#include "ssl3d/metrics.h"

/* Checks that every value of a[0..n) is in [0, k); names the first offender. */
ssl3d_status ssl3d_metrics_check_labels(ssl3d_ctx *ctx, const int32_t *a, int64_t n, int32_t k,
                                        const char *fn, const char *what);

/* Host views of pred and ref, int32 tensors that must have one shape (else a shape error
 * naming both, from fn): each the tensor's own memory when it lives on the host, else a
 * malloc'd copy in *po / *ro (NULL otherwise), which the caller frees, also on error. */
ssl3d_status ssl3d_metrics_host_pair(ssl3d_ctx *ctx, const char *fn, const ssl3d_tensor *pred,
                                     const ssl3d_tensor *ref, const int32_t **p, const int32_t **r, int32_t **po,
                                     int32_t **ro);

/* Dice of one class/region from counts; 1 when both are empty. */
static inline double ssl3d_metrics_dice_of(int64_t inter, int64_t np, int64_t nr) {
    if (np + nr == 0) return 1.0;
    return 2.0 * (double)inter / (double)(np + nr);
}
#endif
