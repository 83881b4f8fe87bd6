/* linear through cuBLAS. cuBLAS is column-major: a row-major (R,C) matrix is its
 * transpose in column-major terms, so each product below is written for the transposes.
 * FP32 math (no TF32: cuBLAS's default math mode), so results stay comparable with the
 * CPU backend's. */
#include "cuda_plugin.h"

static cuda_state *state_of(const ssl3d_kctx *k) { return (cuda_state *)k->backend_state; }

/* cuBLAS takes int dimensions. */
static int dims_fit(cuda_state *s, int64_t M, int64_t In, int64_t Out, const char *what) {
    if (M <= 0x7fffffff && In <= 0x7fffffff && Out <= 0x7fffffff) return 1;
    cuda_fail(s, SSL3D_ERR_UNSUPPORTED, "%s: dimensions (%lld,%lld,%lld) exceed cuBLAS's int range", what,
              (long long)M, (long long)In, (long long)Out);
    return 0;
}

/* y (M,Out) = x (M,In) w^T + b. Column-major, y is C (Out x M) = w x^T:
 * C(Out x M) = op_T(A = w, stored In x Out) * op_N(B = x, stored In x M). */
void cuda_linear_forward(const ssl3d_kctx *k, const float *x, const float *w, const float *b, float *y, int64_t M,
                         int64_t In, int64_t Out) {
    cuda_state *s = state_of(k);
    if (!dims_fit(s, M, In, Out, "linear forward")) return;
    float one = 1.0f, beta = 0.0f;
    if (b) { cuda_fill_rows(s, y, b, M, Out); beta = 1.0f; }
    int prev = cuda_enter(s);
    cublas_check(s, cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)Out, (int)M, (int)In, &one, w, (int)In, x,
                                (int)In, &beta, y, (int)Out), "cublasSgemm (linear forward)");
    cuda_leave(s, prev);
}

/* dx (M,In) += dy (M,Out) w (Out,In):   C(In x M)  += op_N(w, In x Out) * op_N(dy, Out x M)
 * dw (Out,In) += dy^T x:                C(In x Out) += op_N(x, In x M)  * op_T(dy, Out x M)
 * db (Out) += column sums of dy (deterministic channel sum with N = M, C = Out, S = 1). */
void cuda_linear_backward(const ssl3d_kctx *k, const float *x, const float *w, const float *dy, int64_t M,
                          int64_t In, int64_t Out, float *dx, float *dw, float *db) {
    cuda_state *s = state_of(k);
    if (!dims_fit(s, M, In, Out, "linear backward")) return;
    float one = 1.0f;
    int prev = cuda_enter(s);
    if (dx)
        cublas_check(s, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)In, (int)M, (int)Out, &one, w, (int)In,
                                    dy, (int)Out, &one, dx, (int)In), "cublasSgemm (linear backward, dx)");
    if (dw)
        cublas_check(s, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)In, (int)Out, (int)M, &one, x, (int)In,
                                    dy, (int)Out, &one, dw, (int)In), "cublasSgemm (linear backward, dw)");
    cuda_leave(s, prev);
    if (db) cuda_channel_sum(s, dy, M, Out, 1, db);
}
