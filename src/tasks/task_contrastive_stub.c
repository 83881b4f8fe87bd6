/* TEMPORARY placeholders for the CPC and Exemplar tasks so that the task runtime links
 * before they land (branch tasks2). DELETE this file when task_cpc.c and
 * task_exemplar.c are merged: they define task_cpc_vtable and task_exemplar_vtable. */
#include "task_internal.h"

static ssl3d_status stub_init(ssl3d_ctx *ctx, ssl3d_task *t) {
    return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "ssl3d_task_create: task %s is not implemented yet",
                           t->vt->name);
}

static ssl3d_status stub_forward(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                 uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **loss,
                                 int64_t *correct, int64_t *total) {
    (void)images; (void)n_images; (void)seed; (void)index; (void)training; (void)loss; (void)correct; (void)total;
    return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "ssl3d_task_forward: task %s is not implemented yet",
                           t->vt->name);
}

const task_vtable task_cpc_vtable = { .name = "cpc", .init = stub_init, .forward = stub_forward };
const task_vtable task_exemplar_vtable = { .name = "exemplar", .init = stub_init, .forward = stub_forward };
