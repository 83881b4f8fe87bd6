/* Convolution forward and both gradients through cuDNN (NCDHW / NCHW float32, FP32 math).
 *
 * One plan per geometry, made on first use and kept in the context's state: the tensor,
 * filter and convolution descriptors and, per direction, the algorithm cuDNN's heuristics
 * rank first among the deterministic ones whose workspace can be allocated. The workspace
 * is one buffer per context, grown to the largest plan's need (all work is on one
 * stream, so plans share it safely). Uses cuDNN's legacy convolution API, which cuDNN 9
 * still ships (marked deprecated in favour of the graph API; see docs/cuda.md). */
#include <stdlib.h>
#include <string.h>
#include "cuda_plugin.h"

#define MAX_PLANS 128
#define COMMA ,   /* a comma inside one macro argument (PICK's descriptor list) */

struct cuda_conv_plan {
    ssl3d_conv_geom g;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int have_fwd, have_bwd_data, have_bwd_filter;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
    size_t ws_fwd, ws_bwd_data, ws_bwd_filter;
};

static void plan_destroy(struct cuda_conv_plan *p) {
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
}

void cuda_conv_plans_free(cuda_state *s) {
    for (int32_t i = 0; i < s->n_plans; i++) plan_destroy(&s->plans[i]);
    free(s->plans);
    s->plans = NULL;
    s->n_plans = s->cap_plans = 0;
}

static int fits_int(int64_t v) { return v >= 0 && v <= 0x7fffffff; }

/* Packed strides of a row-major tensor. */
static void packed_strides(int nd, const int *dim, int *stride) {
    stride[nd - 1] = 1;
    for (int i = nd - 2; i >= 0; i--) stride[i] = stride[i + 1] * dim[i + 1];
}

/* 2D geometry (D = 1, kernel depth 1) uses 4-d descriptors: cuDNN's 2D kernels are the
 * tuned ones. */
static int plan_make(cuda_state *s, const ssl3d_conv_geom *g, struct cuda_conv_plan *p) {
    memset(p, 0, sizeof *p);
    p->g = *g;
    const int is2d = g->in[0] == 1 && g->k[0] == 1 && g->stride[0] == 1 && g->pad[0] == 0;
    const int sp = is2d ? 2 : 3, nd = sp + 2, a0 = is2d ? 1 : 0;
    int xd[5], yd[5], wd[5], xs[5], ys[5], pad[3], str[3], dil[3] = { 1, 1, 1 };
    xd[0] = (int)g->n; xd[1] = (int)g->cin;
    yd[0] = (int)g->n; yd[1] = (int)g->cout;
    wd[0] = (int)g->cout; wd[1] = (int)g->cin;
    for (int i = 0; i < sp; i++) {
        xd[2 + i] = (int)g->in[a0 + i];
        yd[2 + i] = (int)g->out[a0 + i];
        wd[2 + i] = (int)g->k[a0 + i];
        pad[i] = (int)g->pad[a0 + i];
        str[i] = (int)g->stride[a0 + i];
    }
    int64_t xn = g->n * g->cin, yn = g->n * g->cout;
    for (int i = 0; i < 3; i++) { xn *= g->in[i]; yn *= g->out[i]; }
    if (!fits_int(xn) || !fits_int(yn) || !fits_int(g->cout * g->cin * g->k[0] * g->k[1] * g->k[2])) {
        cuda_fail(s, SSL3D_ERR_UNSUPPORTED, "cudnn convolution: a tensor has more than 2^31 elements "
                  "(x %lld, y %lld); split the batch", (long long)xn, (long long)yn);
        return -1;
    }
    packed_strides(nd, xd, xs);
    packed_strides(nd, yd, ys);
    if (cudnn_check(s, cudnnCreateTensorDescriptor(&p->x), "cudnnCreateTensorDescriptor") ||
        cudnn_check(s, cudnnCreateTensorDescriptor(&p->y), "cudnnCreateTensorDescriptor") ||
        cudnn_check(s, cudnnCreateFilterDescriptor(&p->w), "cudnnCreateFilterDescriptor") ||
        cudnn_check(s, cudnnCreateConvolutionDescriptor(&p->conv), "cudnnCreateConvolutionDescriptor") ||
        cudnn_check(s, cudnnSetTensorNdDescriptor(p->x, CUDNN_DATA_FLOAT, nd, xd, xs), "cudnnSetTensorNdDescriptor (x)") ||
        cudnn_check(s, cudnnSetTensorNdDescriptor(p->y, CUDNN_DATA_FLOAT, nd, yd, ys), "cudnnSetTensorNdDescriptor (y)") ||
        cudnn_check(s, cudnnSetFilterNdDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, nd, wd),
                    "cudnnSetFilterNdDescriptor") ||
        cudnn_check(s, cudnnSetConvolutionNdDescriptor(p->conv, sp, pad, str, dil, CUDNN_CROSS_CORRELATION,
                                                       CUDNN_DATA_FLOAT), "cudnnSetConvolutionNdDescriptor") ||
        cudnn_check(s, cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType")) {
        plan_destroy(p);
        return -1;
    }
    return 0;
}

static struct cuda_conv_plan *plan_get(cuda_state *s, const ssl3d_conv_geom *g) {
    for (int32_t i = 0; i < s->n_plans; i++)
        if (!memcmp(&s->plans[i].g, g, sizeof *g)) return &s->plans[i];
    if (s->n_plans == MAX_PLANS) {   /* many shapes (varying crops): start over */
        cuda_conv_plans_free(s);
    }
    if (s->n_plans == s->cap_plans) {
        int32_t ncap = s->cap_plans ? s->cap_plans * 2 : 16;
        struct cuda_conv_plan *n = realloc(s->plans, (size_t)ncap * sizeof *n);
        if (!n) { cuda_fail(s, SSL3D_ERR_NOMEM, "cudnn convolution: out of host memory for a plan"); return NULL; }
        s->plans = n;
        s->cap_plans = ncap;
    }
    if (plan_make(s, g, &s->plans[s->n_plans]) != 0) return NULL;
    return &s->plans[s->n_plans++];
}

/* Workspace of at least `bytes`; 0 or -1 (out of memory: not recorded, the caller tries
 * an algorithm that needs less). */
static int workspace(cuda_state *s, size_t bytes) {
    if (bytes <= s->workspace_bytes) return 0;
    if (s->workspace) {   /* cudaFree waits for queued work that may still use it */
        cudaFree(s->workspace);
        s->workspace = NULL;
        s->workspace_bytes = 0;
    }
    if (cudaMalloc(&s->workspace, bytes) != cudaSuccess) {
        cudaGetLastError();
        ssl3d_devcache_trim(&s->cache);   /* cached blocks back to the device, then once more */
        if (cudaMalloc(&s->workspace, bytes) != cudaSuccess) {
            cudaGetLastError();
            s->workspace = NULL;
            return -1;
        }
    }
    s->workspace_bytes = bytes;
    return 0;
}

/* The heuristics' ranking, filtered: status OK, deterministic (same result every run;
 * relaxed in a second pass), not a tensor-op entry, workspace obtainable. The chosen
 * algorithm always runs with CUDNN_FMA_MATH: CUDNN_DEFAULT_MATH would let Ampere and later
 * GPUs use TF32 (~1e-3 relative error). Unverified on a GPU: if cuDNN refuses an algorithm
 * under FMA math, the call fails with its status named (docs/cuda.md). Generic over the
 * three perf types. */
#define PICK(PERF_T, COUNT, GETTER, DESCS, ALGO_FIELD, MATH_FIELD, WS_FIELD, WHAT)                          \
    do {                                                                                                \
        PERF_T perf[COUNT];                                                                             \
        int got = 0;                                                                                    \
        if (cudnn_check(s, GETTER(s->dnn, DESCS, COUNT, &got, perf), #GETTER)) return -1;                 \
        for (int pass = 0; pass < 2; pass++)                                                            \
            for (int i = 0; i < got; i++) {                                                             \
                if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;                                   \
                if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC) continue;                  \
                if (perf[i].mathType != CUDNN_FMA_MATH && perf[i].mathType != CUDNN_DEFAULT_MATH) continue; \
                if (workspace(s, perf[i].memory) != 0) continue;                                        \
                p->ALGO_FIELD = perf[i].algo;                                                           \
                p->MATH_FIELD = CUDNN_FMA_MATH;   /* run it without tensor cores, whatever was ranked */ \
                p->WS_FIELD = perf[i].memory;                                                           \
                return 0;                                                                               \
            }                                                                                           \
        cuda_fail(s, SSL3D_ERR_UNSUPPORTED, "cudnn %s: no FP32 (FMA) algorithm whose workspace fits in device " \
                  "memory among the %d ranked", WHAT, got);                                             \
        return -1;                                                                                      \
    } while (0)

static int pick_fwd(cuda_state *s, struct cuda_conv_plan *p) {
    PICK(cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, cudnnGetConvolutionForwardAlgorithm_v7,
         p->x COMMA p->w COMMA p->conv COMMA p->y, fwd, fwd_math, ws_fwd, "convolution forward");
}
static int pick_bwd_data(cuda_state *s, struct cuda_conv_plan *p) {
    PICK(cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
         cudnnGetConvolutionBackwardDataAlgorithm_v7, p->w COMMA p->y COMMA p->conv COMMA p->x, bwd_data,
         bwd_data_math, ws_bwd_data, "convolution backward data");
}
static int pick_bwd_filter(cuda_state *s, struct cuda_conv_plan *p) {
    PICK(cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
         cudnnGetConvolutionBackwardFilterAlgorithm_v7, p->x COMMA p->y COMMA p->conv COMMA p->w, bwd_filter,
         bwd_filter_math, ws_bwd_filter, "convolution backward filter");
}

static cuda_state *state_of(const ssl3d_kctx *k) { return (cuda_state *)k->backend_state; }

/* Algorithms are picked on a plan's first use in each direction. */
static int ready_fwd(cuda_state *s, struct cuda_conv_plan *p) {
    if (!p->have_fwd && pick_fwd(s, p) == 0) p->have_fwd = 1;
    return p->have_fwd;
}
static int ready_bwd_data(cuda_state *s, struct cuda_conv_plan *p) {
    if (!p->have_bwd_data && pick_bwd_data(s, p) == 0) p->have_bwd_data = 1;
    return p->have_bwd_data;
}
static int ready_bwd_filter(cuda_state *s, struct cuda_conv_plan *p) {
    if (!p->have_bwd_filter && pick_bwd_filter(s, p) == 0) p->have_bwd_filter = 1;
    return p->have_bwd_filter;
}

ssl3d_status cuda_conv_forward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                               const float *b, float *y) {
    cuda_state *s = state_of(k);
    int prev = cuda_enter(s);
    struct cuda_conv_plan *p = plan_get(s, g);
    if (p && ready_fwd(s, p)) {
        const float one = 1.0f, zero = 0.0f;
        workspace(s, p->ws_fwd);   /* the plan's own need was obtained when it was picked */
        if (!cudnn_check(s, cudnnSetConvolutionMathType(p->conv, p->fwd_math), "cudnnSetConvolutionMathType") &&
            !cudnn_check(s, cudnnConvolutionForward(s->dnn, &one, p->x, x, p->w, w, p->conv, p->fwd, s->workspace,
                                                    p->ws_fwd, &zero, p->y, y), "cudnnConvolutionForward") &&
            b)
            cuda_add_channel_bias(s, y, b, g->n, g->cout, g->out[0] * g->out[1] * g->out[2]);
    }
    cuda_leave(s, prev);
    return s->err;   /* a failure recorded now or earlier: the output is not to be trusted */
}

ssl3d_status cuda_conv_backward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db) {
    cuda_state *s = state_of(k);
    int prev = cuda_enter(s);
    struct cuda_conv_plan *p = plan_get(s, g);
    const float one = 1.0f;   /* beta = 1: cuDNN accumulates into dx / dw, as the slots require */
    if (p && dx && ready_bwd_data(s, p)) {
        workspace(s, p->ws_bwd_data);
        if (!cudnn_check(s, cudnnSetConvolutionMathType(p->conv, p->bwd_data_math), "cudnnSetConvolutionMathType"))
            cudnn_check(s, cudnnConvolutionBackwardData(s->dnn, &one, p->w, w, p->y, dy, p->conv, p->bwd_data,
                                                        s->workspace, p->ws_bwd_data, &one, p->x, dx),
                        "cudnnConvolutionBackwardData");
    }
    if (p && dw && ready_bwd_filter(s, p)) {
        workspace(s, p->ws_bwd_filter);
        if (!cudnn_check(s, cudnnSetConvolutionMathType(p->conv, p->bwd_filter_math), "cudnnSetConvolutionMathType"))
            cudnn_check(s, cudnnConvolutionBackwardFilter(s->dnn, &one, p->x, x, p->y, dy, p->conv, p->bwd_filter,
                                                          s->workspace, p->ws_bwd_filter, &one, p->w, dw),
                        "cudnnConvolutionBackwardFilter");
    }
    if (p && db) cuda_channel_sum(s, dy, g->n, g->cout, g->out[0] * g->out[1] * g->out[2], db);
    cuda_leave(s, prev);
    return s->err;   /* a failure recorded now or earlier: the output is not to be trusted */
}

/* ---------------------------------------------------------------- transposed conv
 * Kernel 2, stride 2 (kernel depth and stride 1 along D in 2D). A transposed convolution
 * is the data gradient of the convolution that maps its OUTPUT back to its input: with
 * the plan of conv(big (N,Cout,kd*D,2H,2W), w (Cin,Cout,kd,2,2)) -> small (N,Cin,D,H,W),
 *   forward:  y  = BackwardData(w, x)           (cuDNN's filter layout is (K=Cin, C=Cout, ...))
 *   dx       += Forward(dy, w)
 *   dw       += BackwardFilter(X = dy, dY = x)
 *   db       += channel sums of dy. */
static void transpose_geom(int32_t dims, int64_t n, int64_t cin, int64_t cout, const int64_t in[3],
                           ssl3d_conv_geom *g) {
    const int64_t kd = dims == 3 ? 2 : 1;
    memset(g, 0, sizeof *g);
    g->n = n;
    g->cin = cout;    /* the conv's input is the transposed conv's output */
    g->cout = cin;
    g->in[0] = kd * in[0]; g->in[1] = 2 * in[1]; g->in[2] = 2 * in[2];
    g->out[0] = in[0]; g->out[1] = in[1]; g->out[2] = in[2];
    g->k[0] = kd; g->k[1] = 2; g->k[2] = 2;
    g->stride[0] = kd; g->stride[1] = 2; g->stride[2] = 2;
}

ssl3d_status cuda_conv_transpose_forward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin, int64_t cout,
                                         const int64_t in[3], const float *x, const float *w, const float *b,
                                         float *y) {
    cuda_state *s = state_of(k);
    ssl3d_conv_geom g;
    transpose_geom(dims, n, cin, cout, in, &g);
    int prev = cuda_enter(s);
    struct cuda_conv_plan *p = plan_get(s, &g);
    if (p && ready_bwd_data(s, p)) {
        const float one = 1.0f, zero = 0.0f;
        workspace(s, p->ws_bwd_data);
        if (!cudnn_check(s, cudnnSetConvolutionMathType(p->conv, p->bwd_data_math), "cudnnSetConvolutionMathType") &&
            !cudnn_check(s, cudnnConvolutionBackwardData(s->dnn, &one, p->w, w, p->y, x, p->conv, p->bwd_data,
                                                         s->workspace, p->ws_bwd_data, &zero, p->x, y),
                         "cudnnConvolutionBackwardData (transposed convolution)") &&
            b)
            cuda_add_channel_bias(s, y, b, n, cout, g.in[0] * g.in[1] * g.in[2]);
    }
    cuda_leave(s, prev);
    return s->err;
}

ssl3d_status cuda_conv_transpose_backward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin, int64_t cout,
                                          const int64_t in[3], const float *x, const float *w, const float *dy,
                                          float *dx, float *dw, float *db) {
    cuda_state *s = state_of(k);
    ssl3d_conv_geom g;
    transpose_geom(dims, n, cin, cout, in, &g);
    int prev = cuda_enter(s);
    struct cuda_conv_plan *p = plan_get(s, &g);
    const float one = 1.0f;
    if (p && dx && ready_fwd(s, p)) {
        workspace(s, p->ws_fwd);
        if (!cudnn_check(s, cudnnSetConvolutionMathType(p->conv, p->fwd_math), "cudnnSetConvolutionMathType"))
            cudnn_check(s, cudnnConvolutionForward(s->dnn, &one, p->x, dy, p->w, w, p->conv, p->fwd, s->workspace,
                                                   p->ws_fwd, &one, p->y, dx),
                        "cudnnConvolutionForward (transposed convolution, dx)");
    }
    if (p && dw && ready_bwd_filter(s, p)) {
        workspace(s, p->ws_bwd_filter);
        if (!cudnn_check(s, cudnnSetConvolutionMathType(p->conv, p->bwd_filter_math), "cudnnSetConvolutionMathType"))
            cudnn_check(s, cudnnConvolutionBackwardFilter(s->dnn, &one, p->x, dy, p->y, x, p->conv, p->bwd_filter,
                                                          s->workspace, p->ws_bwd_filter, &one, p->w, dw),
                        "cudnnConvolutionBackwardFilter (transposed convolution, dw)");
    }
    if (p && db) cuda_channel_sum(s, dy, n, cout, g.in[0] * g.in[1] * g.in[2], db);
    cuda_leave(s, prev);
    return s->err;
}
