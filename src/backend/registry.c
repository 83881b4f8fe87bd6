/* Which table serves a backend kind: the CPU backend is built in, the CUDA backend is a
 * plugin (plugin.h). Also the check every table passes before a context uses it. */
#include <stdio.h>
#include "backend.h"
#include "conv_kernels.h"
#include "layer_kernels.h"
#include "rows_kernels.h"
#include "loss_kernels.h"
#include "optim_kernels.h"
#include "plugin.h"

extern const ssl3d_backend ssl3d_cpu_backend;

ssl3d_status ssl3d_backend_acquire(int32_t kind, const ssl3d_backend **out, char *msg, size_t cap) {
    if (msg && cap) msg[0] = '\0';
    switch (kind) {
    case SSL3D_BACKEND_CPU: *out = &ssl3d_cpu_backend; return SSL3D_OK;
    case SSL3D_BACKEND_CUDA: return ssl3d_plugin_cuda(out, msg, cap);
    default:
        if (msg && cap) snprintf(msg, cap, "unknown backend kind %d (0 = cpu, 1 = cuda)", (int)kind);
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
}

/* Each op family and the slots it needs; a NULL slot of a claimed family is a broken
 * table, found here rather than as a crash in the middle of a training step. */
#define NEED(cond, what) do { if (!(cond)) { missing = what; goto bad; } } while (0)

ssl3d_status ssl3d_backend_validate(const ssl3d_backend *be, int32_t kind, char *msg, size_t cap) {
    const char *missing = NULL;
    if (!be) { missing = "the table itself (entry point returned NULL)"; goto bad; }
    if (be->abi_version != SSL3D_BACKEND_ABI_VERSION) {
        if (msg && cap) snprintf(msg, cap, "dispatch ABI %u, expected %u", (unsigned)be->abi_version,
                                 (unsigned)SSL3D_BACKEND_ABI_VERSION);
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    if (be->kind != kind) {
        if (msg && cap) snprintf(msg, cap, "table is for backend kind %d, expected %d", (int)be->kind, (int)kind);
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    NEED(be->name && be->name[0], "name");
    NEED(be->supports_op, "supports_op");
    NEED(be->init && be->shutdown, "init/shutdown");
    NEED(be->alloc && be->alloc_uninit && be->free && be->memset0, "alloc/alloc_uninit/free/memset0");
    NEED(be->to_host && be->from_host && be->copy, "to_host/from_host/copy");
    NEED(!be->upload_begin == !be->upload_wait, "upload_begin/upload_wait (both or neither)");
    NEED(be->fill && be->axpy && be->add_scalar && be->scale_add && be->dot,
         "fill/axpy/add_scalar/scale_add/dot");
    const struct ssl3d_conv_kernels *c = be->conv;
    const struct ssl3d_layer_kernels *l = be->layer;
    const struct ssl3d_loss_kernels *s = be->loss;
    const struct ssl3d_optim_kernels *o = be->optim;
    const struct ssl3d_rows_kernels *r = be->rows;
    for (int32_t op = 0; op < SSL3D_OP_COUNT; op++) {
        if (!be->supports_op(op)) continue;
        switch (op) {
        case SSL3D_OP_CONV: NEED(c && c->conv_forward && c->conv_backward, "conv.conv_forward/backward"); break;
        case SSL3D_OP_CONV_TRANSPOSE:
            NEED(c && c->conv_transpose_forward && c->conv_transpose_backward, "conv.conv_transpose_*"); break;
        case SSL3D_OP_MAXPOOL: NEED(c && c->maxpool2_forward && c->maxpool2_backward, "conv.maxpool2_*"); break;
        case SSL3D_OP_GLOBAL_AVGPOOL:
            NEED(c && c->global_avgpool_forward && c->global_avgpool_backward, "conv.global_avgpool_*"); break;
        case SSL3D_OP_BATCHNORM:
            NEED(l && l->batchnorm_stats && l->batchnorm_forward && l->batchnorm_backward, "layer.batchnorm_*");
            break;
        case SSL3D_OP_GROUPNORM: NEED(l && l->groupnorm_forward && l->groupnorm_backward, "layer.groupnorm_*"); break;
        case SSL3D_OP_ACTIVATION:
            NEED(l && l->activation_forward && l->activation_backward, "layer.activation_*"); break;
        case SSL3D_OP_DROPOUT: NEED(l && l->dropout_forward && l->dropout_backward, "layer.dropout_*"); break;
        case SSL3D_OP_LINEAR: NEED(l && l->linear_forward && l->linear_backward, "layer.linear_*"); break;
        case SSL3D_OP_ELEMENTWISE:
            NEED(l && l->add_forward && l->add_backward && l->mul_forward && l->mul_backward,
                 "layer.add_*/mul_*");
            break;
        case SSL3D_OP_CONCAT: NEED(l && l->block_copy, "layer.block_copy"); break;
        case SSL3D_OP_L2NORM: NEED(l && l->l2norm_forward && l->l2norm_backward, "layer.l2norm_*"); break;
        case SSL3D_OP_REDUCE: break;   /* the basic slots (dot, add_scalar) checked above */
        case SSL3D_OP_LOSS:
            NEED(s && s->label_check && s->range_check && s->ce_forward && s->ce_backward && s->bce_forward &&
                 s->bce_backward && s->simce_forward && s->simce_backward && s->triplet_forward &&
                 s->triplet_backward && s->triplet_hard_forward && s->triplet_hard_backward &&
                 s->dice_stats && s->dice_backward && s->argmax, "loss.*");
            break;
        case SSL3D_OP_OPTIM:
            NEED(o && o->sgd_update && o->adam_update && o->sumsq && o->scale && o->first_nonfinite, "optim.*");
            break;
        case SSL3D_OP_ROWS:
            NEED(r && r->gather_forward && r->gather_backward && r->scores_forward && r->scores_backward_p &&
                 r->scores_backward_z, "rows.*");
            break;
        default: break;
        }
    }
    return SSL3D_OK;
bad:
    if (msg && cap) snprintf(msg, cap, "backend %s: slot %s is NULL", be && be->name ? be->name : "?", missing);
    return SSL3D_ERR_BACKEND_UNAVAILABLE;
}
