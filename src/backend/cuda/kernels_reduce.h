/* Reduction kernels of the CUDA backend, deterministic by construction: a fixed partition
 * (kernel_defs.h, SSL3D_REDUCE_*) summed in double, no atomics, so the same input gives
 * the same bits on every run. Common C/CUDA subset: tests run them on the CPU. */
#ifndef SSL3D_CUDA_KERNELS_REDUCE_H
#define SSL3D_CUDA_KERNELS_REDUCE_H
#include "kernel_defs.h"

/* mode 0: sum x; 1: sum x*w; 2: sum x*x. Thread t of the launch sums i = t, t+T, ...
 * (T = threads in the launch) into part[t]. */
SSL3D_KERNEL k_partial_sum(const float *x, const float *w, int64_t n, int32_t mode, double *part) {
    const int64_t t = SSL3D_TID, T = SSL3D_NTHREADS;
    double acc = 0.0;
    for (int64_t i = t; i < n; i += T) {
        const double v = (double)x[i];
        acc += mode == 0 ? v : mode == 1 ? v * (double)w[i] : v * v;
    }
    part[t] = acc;
}

/* out[t] = sum of the t-th of nout contiguous runs of part (np values), in order. */
SSL3D_KERNEL k_final_sum(const double *part, int64_t np, double *out, int64_t nout) {
    for (int64_t t = SSL3D_TID; t < nout; t += SSL3D_NTHREADS) {
        const int64_t lo = t * np / nout, hi = (t + 1) * np / nout;
        double acc = 0.0;
        for (int64_t i = lo; i < hi; i++) acc += part[i];
        out[t] = acc;
    }
}

/* part[t] = the first i (of t's stride) with x[i] NaN or Inf, or n. */
SSL3D_KERNEL k_partial_first_nonfinite(const float *x, int64_t n, int64_t *part) {
    const int64_t t = SSL3D_TID, T = SSL3D_NTHREADS;
    int64_t first = n;
    for (int64_t i = t; i < n; i += T)
        if (!isfinite(x[i])) { first = i; break; }
    part[t] = first;
}

/* out[t] = min of the t-th contiguous run of part. */
SSL3D_KERNEL k_final_min(const int64_t *part, int64_t np, int64_t *out, int64_t nout) {
    for (int64_t t = SSL3D_TID; t < nout; t += SSL3D_NTHREADS) {
        const int64_t lo = t * np / nout, hi = (t + 1) * np / nout;
        int64_t m = INT64_MAX;
        for (int64_t i = lo; i < hi; i++) m = part[i] < m ? part[i] : m;
        out[t] = m;
    }
}

/* Per-channel sums of x (N,C,S) in two passes: thread (c, k) of C*chunks sums the k-th
 * of `chunks` contiguous runs of the N*S elements of channel c (ordered n-major) ... */
SSL3D_KERNEL k_channel_partial(const float *x, int64_t N, int64_t C, int64_t S, int64_t chunks, double *part) {
    const int64_t NS = N * S;
    for (int64_t t = SSL3D_TID; t < C * chunks; t += SSL3D_NTHREADS) {
        const int64_t c = t / chunks, k = t % chunks;
        const int64_t lo = k * NS / chunks, hi = (k + 1) * NS / chunks;
        double acc = 0.0;
        for (int64_t j = lo; j < hi; j++) acc += (double)x[((j / S) * C + c) * S + j % S];
        part[t] = acc;
    }
}

/* ... then thread c adds its chunks in order: out[c] += (float)sum. */
SSL3D_KERNEL k_channel_final(const double *part, int64_t C, int64_t chunks, float *out) {
    for (int64_t c = SSL3D_TID; c < C; c += SSL3D_NTHREADS) {
        double acc = 0.0;
        for (int64_t k = 0; k < chunks; k++) acc += part[c * chunks + k];
        out[c] += (float)acc;
    }
}

/* y (NC) = mean of each row of x (NC,S): one thread per row, double accumulation (the
 * global pool runs on small, downsampled maps). */
SSL3D_KERNEL k_row_mean(const float *x, int64_t rows, int64_t s, float *y) {
    for (int64_t r = SSL3D_TID; r < rows; r += SSL3D_NTHREADS) {
        double acc = 0.0;
        for (int64_t i = 0; i < s; i++) acc += (double)x[r * s + i];
        y[r] = (float)(acc / (double)s);
    }
}

/* Chunks per channel for k_channel_partial so that C*chunks partials fit the scratch. */
SSL3D_HD int64_t ssl3d_channel_chunks(int64_t C, int64_t NS) {
    int64_t chunks = SSL3D_REDUCE_PARTS / (C > 0 ? C : 1);
    if (chunks > 64) chunks = 64;
    if (chunks > NS) chunks = NS;
    return chunks < 1 ? 1 : chunks;
}

#endif
