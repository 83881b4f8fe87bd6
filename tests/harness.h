/* Minimal test harness: TEST(name) registers a test at load time; each test runs in a
 * forked child so a crash is a failure, not the end of the run. The runner's last
 * line is "N passed, N failed". */
#ifndef SSL3D_TEST_HARNESS_H
#define SSL3D_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include "ssl3d.h"

typedef void (*th_fn)(void);
void th_register(const char *name, const char *file, th_fn fn);
void th_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void th_skip(const char *reason);   /* does not return */
int th_failures(void);

#define TEST(name)                                                                   \
    static void name(void);                                                          \
    __attribute__((constructor)) static void th_reg_##name(void) {                   \
        th_register(#name, __FILE__, name);                                          \
    }                                                                                \
    static void name(void)

#define CHECK(cond) do { if (!(cond)) th_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) th_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define REQUIRE(cond) do { if (!(cond)) { th_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond); return; } } while (0)
/* Expect a status; on mismatch print the context's last error. */
#define CHECK_ST(ctx, expr, want) do { ssl3d_status st_ = (expr); if (st_ != (want))                 \
        th_fail(__FILE__, __LINE__, "%s returned %s (want %s): %s", #expr, ssl3d_status_string(st_), \
                ssl3d_status_string(want), ssl3d_ctx_last_error(ctx)); } while (0)
#define CHECK_OK(ctx, expr) CHECK_ST(ctx, expr, SSL3D_OK)
#define REQUIRE_OK(ctx, expr) do { ssl3d_status st_ = (expr); if (st_ != SSL3D_OK) {                  \
        th_fail(__FILE__, __LINE__, "%s returned %s: %s", #expr, ssl3d_status_string(st_),          \
                ssl3d_ctx_last_error(ctx)); return; } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b);                                         \
        if (!(fabs(a_ - b_) <= (tol))) th_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, tol %.3g",  \
                                               #a, a_, #b, b_, (double)(tol)); } while (0)
#define SKIP(reason) th_skip(reason)

/* Convenience: a CPU context with 1..2 threads and a seed; NULL on failure. */
ssl3d_ctx *th_ctx(int threads, uint64_t seed);
/* Tensor from a literal float array. */
ssl3d_tensor *th_tensor(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, const float *data);
/* New float32 tensor in ctx holding 0, 1, 2, ... in memory order (NULL on failure): values
 * that say where an element came from, for hand-checked crops, flips and samples. */
ssl3d_tensor *th_iota(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape);
/* The host data of a float32 / int32 tensor in host memory, typed, for reading results. */
const float *th_f32(ssl3d_tensor *t);
const int32_t *th_i32(ssl3d_tensor *t);
/* Random N(0,1) float tensor. */
ssl3d_tensor *th_randn(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, int requires_grad);
/* 1 when a and b have the same dtype, the same shape and the same values bit for bit, else
 * 0. Bitwise, not ==: the tests that use it check reproducibility (same seed, another thread
 * count or context, a resumed run, two data paths that must agree), where any other bits are
 * a difference; so a NaN equals a NaN with the same payload, and -0 differs from +0.
 * Values come from ssl3d_tensor_host_data, or for a tensor in device memory from
 * ssl3d_tensor_read on ctx (which it must belong to; ctx may be NULL when both are in host
 * memory). A NULL tensor or a failed read is reported as a failure (th_fail) and returns 0,
 * so that CHECK(!th_tensors_identical(...)) cannot pass by accident. */
int th_tensors_identical(ssl3d_ctx *ctx, const ssl3d_tensor *a, const ssl3d_tensor *b);
/* Path to ../shared/data (SSL3D_DATA env overrides) or NULL when absent. */
const char *th_data_dir(void);
/* A fresh temporary directory for this test (removed by the runner). */
const char *th_tmpdir(void);
/* Run a shell command, its stdout+stderr into out (cap bytes); the exit status, -1 if it
 * could not run or did not exit. */
int th_run(const char *cmd, char *out, size_t cap);
/* Path of the running test program (/proc/self/exe) into buf: 1, or 0 if it cannot be read
 * or does not fit. For tests that start the runner again or look beside it. */
int th_self_exe(char *buf, size_t cap);
#endif
