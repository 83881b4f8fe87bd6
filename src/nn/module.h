/* A module is a named list of tensors (parameters and buffers) plus a kind-specific
 * implementation (encoder, decoder, MLP head...). The list is what checkpoints save and
 * what optimisers receive; names are stable and documented in docs/checkpoints.md. */
#ifndef SSL3D_NN_MODULE_H
#define SSL3D_NN_MODULE_H
#include "../core/internal.h"

#define NN_NAME_CAP 96

typedef struct nn_entry {
    char name[NN_NAME_CAP];
    ssl3d_tensor *t;         /* retained */
    int32_t trainable;       /* parameter (1) or buffer such as running stats (0) */
} nn_entry;

struct ssl3d_module {
    ssl3d_ctx *ctx;
    int32_t kind;            /* ssl3d_module_kind */
    int32_t dims;
    nn_entry *entries;
    int32_t n, cap;
    void *impl;
    void (*impl_free)(void *impl);
};

ssl3d_status nn_module_new(ssl3d_ctx *ctx, int32_t kind, int32_t dims, ssl3d_module **out);
/* Register a tensor under printf-style name; retains it. */
ssl3d_status nn_module_add(ssl3d_module *m, ssl3d_tensor *t, int32_t trainable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* New parameter tensor with Kaiming-uniform style init U(-b, b), b = 1/sqrt(fan_in)
 * (PyTorch's default for conv/linear weights and biases), registered under name. */
ssl3d_status nn_param_uniform(ssl3d_module *m, int32_t ndim, const int64_t *shape, float bound,
                              ssl3d_tensor **out, const char *name);
#endif
