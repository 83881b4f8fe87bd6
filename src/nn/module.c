#include <stdio.h>
#include <string.h>
#include "module.h"

ssl3d_status nn_module_new(ssl3d_ctx *ctx, int32_t kind, int32_t dims, ssl3d_module **out) {
    ssl3d_module *m = calloc(1, sizeof *m);
    if (!m) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "module: out of memory");
    m->ctx = ctx; m->kind = kind; m->dims = dims;
    *out = m;
    return SSL3D_OK;
}

ssl3d_status nn_module_add(ssl3d_module *m, ssl3d_tensor *t, int32_t trainable, const char *fmt, ...) {
    if (m->n == m->cap) {
        int32_t cap = m->cap ? 2 * m->cap : 32;
        nn_entry *e = realloc(m->entries, (size_t)cap * sizeof *e);
        if (!e) return ssl3d_set_error(m->ctx, SSL3D_ERR_NOMEM, "module: out of memory");
        m->entries = e; m->cap = cap;
    }
    nn_entry *e = &m->entries[m->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->t = ssl3d_tensor_retain(t);
    e->trainable = trainable;
    if (trainable) t->requires_grad = 1;
    return SSL3D_OK;
}

ssl3d_status nn_param_uniform(ssl3d_module *m, int32_t ndim, const int64_t *shape, float bound,
                              ssl3d_tensor **out, const char *name) {
    ssl3d_tensor *t;
    SSL3D_CHECK(ssl3d_tensor_new(m->ctx, SSL3D_F32, ndim, shape, &t));
    ssl3d_status st = ssl3d_tensor_fill_uniform(m->ctx, t, -bound, bound);
    if (st == SSL3D_OK) st = nn_module_add(m, t, 1, "%s", name);
    ssl3d_tensor_release(t);   /* the module holds the reference */
    if (st == SSL3D_OK) *out = t;
    return st;
}

void ssl3d_module_release(ssl3d_module *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n; i++) ssl3d_tensor_release(m->entries[i].t);
    free(m->entries);
    if (m->impl_free) m->impl_free(m->impl);
    else free(m->impl);
    free(m);
}

int32_t ssl3d_module_kind_of(const ssl3d_module *m) { return m ? m->kind : -1; }
int32_t ssl3d_module_tensor_count(const ssl3d_module *m) { return m ? m->n : 0; }

ssl3d_tensor *ssl3d_module_tensor(const ssl3d_module *m, int32_t i) {
    return (m && i >= 0 && i < m->n) ? m->entries[i].t : NULL;
}

const char *ssl3d_module_tensor_name(const ssl3d_module *m, int32_t i) {
    return (m && i >= 0 && i < m->n) ? m->entries[i].name : "";
}

int32_t ssl3d_module_tensor_trainable(const ssl3d_module *m, int32_t i) {
    return (m && i >= 0 && i < m->n) ? m->entries[i].trainable : 0;
}

ssl3d_status ssl3d_module_params(ssl3d_ctx *ctx, const ssl3d_module *m, ssl3d_tensor **params, int32_t cap,
                                 int32_t *count) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && count, "ssl3d_module_params: %s is NULL", m ? "count" : "module");
    SSL3D_CHECK_ARG(ctx, params || cap == 0, "ssl3d_module_params: params is NULL with cap %d", (int)cap);
    int32_t k = 0;
    for (int32_t i = 0; i < m->n; i++) {
        if (!m->entries[i].trainable) continue;
        if (k < cap) params[k] = m->entries[i].t;
        k++;
    }
    *count = k;
    return SSL3D_OK;
}

int64_t ssl3d_module_param_numel(const ssl3d_module *m) {
    int64_t n = 0;
    for (int32_t i = 0; m && i < m->n; i++)
        if (m->entries[i].trainable) n += m->entries[i].t->numel;
    return n;
}

ssl3d_status ssl3d_module_zero_grad(ssl3d_ctx *ctx, ssl3d_module *m) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m, "ssl3d_module_zero_grad: module is NULL");
    for (int32_t i = 0; i < m->n; i++) SSL3D_CHECK(ssl3d_tensor_zero_grad(ctx, m->entries[i].t));
    return SSL3D_OK;
}
