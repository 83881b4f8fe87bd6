/* Fake CUDA backend plugins for tests/test_backend_plugin.c, one per FAKE_* macro (the
 * Makefile builds each): the loader must refuse or report every one of them clearly.
 *   FAKE_wrong_abi   a table with dispatch ABI 999
 *   FAKE_no_entry    a shared object without the entry point
 *   FAKE_incomplete  claims convolution but leaves its slots NULL
 *   FAKE_no_device   a valid table whose init finds no device (like the real plugin here)
 *   FAKE_needs_lib   linked against a library that is absent at run time */
#include <string.h>
#include <stdio.h>
#include "../../src/backend/backend.h"

#ifndef FAKE_no_entry
static int fake_supports(int32_t op) {
#ifdef FAKE_incomplete
    return op == SSL3D_OP_CONV;
#else
    (void)op;
    return 0;
#endif
}
static ssl3d_status fake_init(void **state, int32_t device, char *msg, size_t cap) {
    (void)device;
    *state = NULL;
    snprintf(msg, cap, "no CUDA device: fake plugin for tests");
    return SSL3D_ERR_BACKEND_UNAVAILABLE;
}
static void fake_shutdown(void *s) { (void)s; }
static void *fake_alloc(void *s, size_t b) { (void)s; (void)b; return NULL; }
static void fake_free(void *s, void *p) { (void)s; (void)p; }
static void fake_mem(void *s, void *p, size_t b) { (void)s; (void)p; (void)b; }
static void fake_copy(void *s, void *d, const void *p, size_t b) { (void)s; (void)d; (void)p; (void)b; }
static void fake_fill(const ssl3d_kctx *k, float *x, int64_t n, float v) { (void)k; (void)x; (void)n; (void)v; }
static void fake_axpy(const ssl3d_kctx *k, float a, const float *x, float *y, int64_t n) {
    (void)k; (void)a; (void)x; (void)y; (void)n;
}
static void fake_add_scalar(const ssl3d_kctx *k, float a, float *y, int64_t n) { (void)k; (void)a; (void)y; (void)n; }
static void fake_scale_add(const ssl3d_kctx *k, float a, const float *x, float b, const float *y, float *o,
                           int64_t n) {
    (void)k; (void)a; (void)x; (void)b; (void)y; (void)o; (void)n;
}
static double fake_dot(const ssl3d_kctx *k, const float *x, const float *w, int64_t n) {
    (void)k; (void)x; (void)w; (void)n;
    return 0.0;
}

static const ssl3d_backend fake_table = {
#ifdef FAKE_wrong_abi
    .abi_version = 999,
#else
    .abi_version = SSL3D_BACKEND_ABI_VERSION,
#endif
    .name = "cuda",
    .kind = SSL3D_BACKEND_CUDA,
    .supports_op = fake_supports,
    .init = fake_init,
    .shutdown = fake_shutdown,
    .alloc = fake_alloc,
    .alloc_uninit = fake_alloc,
    .free = fake_free,
    .memset0 = fake_mem,
    .to_host = fake_copy,
    .from_host = fake_copy,
    .copy = fake_copy,
    .fill = fake_fill,
    .axpy = fake_axpy,
    .add_scalar = fake_add_scalar,
    .scale_add = fake_scale_add,
    .dot = fake_dot,
};

#ifdef FAKE_needs_lib
int ssl3d_fake_stub(void);
int (*volatile fake_keep_stub)(void) = ssl3d_fake_stub;   /* a real reference: the library stays NEEDED */
#endif

__attribute__((visibility("default"))) const ssl3d_backend *ssl3d_backend_plugin_entry(void);
const ssl3d_backend *ssl3d_backend_plugin_entry(void) { return &fake_table; }
#else
__attribute__((visibility("default"))) int fake_plugin_without_entry(void);
int fake_plugin_without_entry(void) { return 0; }
#endif
