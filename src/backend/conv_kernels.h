/* conv kernel family of the backend dispatch table (see backend.h): convolution,
 * transposed convolution (kernel 2, stride 2), max pooling (2, stride 2) and global
 * average pooling, forward and backward.
 *
 * Shapes: images are (N,C,D,H,W); 2D images are passed with D = 1 (and kernel depth 1,
 * stride/pad along D of 1/0), so one N-d implementation serves both.
 * Backward kernels ACCUMULATE (+=) into every gradient pointer that is not NULL; a NULL
 * gradient pointer means "not needed" and its work is skipped.
 * Kernels may allocate bounded scratch; they return SSL3D_ERR_NOMEM when that fails
 * (the op sets the message). */
#ifndef SSL3D_CONV_KERNELS_H
#define SSL3D_CONV_KERNELS_H
#include "backend.h"

/* Geometry of one convolution. Axis order of the 3-arrays: D, H, W. */
typedef struct ssl3d_conv_geom {
    int64_t n, cin, cout;
    int64_t in[3];       /* input extents (D = 1 in 2D)                */
    int64_t out[3];      /* output extents, (in + 2*pad - k)/stride + 1 */
    int64_t k[3];        /* kernel extents (kd = 1 in 2D)              */
    int64_t stride[3];
    int64_t pad[3];
} ssl3d_conv_geom;

struct ssl3d_conv_kernels {
    /* y (N,Cout,Do,Ho,Wo) = conv(x (N,Cin,D,H,W), w (Cout,Cin,kd,kh,kw)) + b (Cout, may be NULL). */
    ssl3d_status (*conv_forward)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                 const float *w, const float *b, float *y);
    /* From dy (N,Cout,Do,Ho,Wo): dx += dL/dx, dw += dL/dw, db += dL/db (each may be NULL). */
    ssl3d_status (*conv_backward)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                  const float *w, const float *dy, float *dx, float *dw, float *db);

    /* Transposed conv, kernel 2 stride 2: x (N,Cin,D,H,W), w (Cin,Cout,kd,2,2) with kd = 2
     * in 3D and 1 in 2D (dims says which), b (Cout) or NULL -> y (N,Cout,kd*D,2H,2W). */
    ssl3d_status (*conv_transpose_forward)(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin,
                                           int64_t cout, const int64_t in[3], const float *x,
                                           const float *w, const float *b, float *y);
    ssl3d_status (*conv_transpose_backward)(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin,
                                            int64_t cout, const int64_t in[3], const float *x,
                                            const float *w, const float *dy, float *dx, float *dw,
                                            float *db);

    /* Max pool, window/stride 2 on H,W (and D when dims == 3), floor: x (NC,D,H,W) ->
     * y (NC,Do,Ho,Wo); argmax[i] = offset of the chosen element inside its (D,H,W)
     * input plane. */
    void (*maxpool2_forward)(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3],
                             const float *x, float *y, int32_t *argmax);
    /* dx (NC,D,H,W) += dy routed through argmax. */
    void (*maxpool2_backward)(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3],
                              const float *dy, const int32_t *argmax, float *dx);

    /* y (NC) = mean of x (NC,S) over S;  dx (NC,S) += dy (NC) / S. */
    void (*global_avgpool_forward)(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *x, float *y);
    void (*global_avgpool_backward)(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *dy, float *dx);
};

extern const struct ssl3d_conv_kernels ssl3d_cpu_conv_kernels;
#endif
