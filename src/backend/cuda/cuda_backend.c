/* The CUDA backend's dispatch table and the plugin's one exported symbol (plugin.h).
 *
 * The table fills every slot: basic float kernels, convolution and transposed
 * convolution (cuDNN), max and global average pooling, batch / group / instance norm,
 * activations, dropout (same Philox masks as the CPU), linear (cuBLAS), elementwise
 * add/mul, concat (block copy), L2 normalisation, every loss, the optimiser steps, and
 * the row gathers and candidate scores of the contrastive tasks.
 * supports_op still lists the families one by one, so a family left out in the future
 * reports SSL3D_ERR_UNSUPPORTED naming the op and "cuda" rather than falling back.
 * When built with NCCL (the Makefile's NCCL=auto finds nccl.h), device_comm points at
 * the NCCL communicator (cuda_nccl.c); libnccl itself is loaded only when used.
 * None of it has run on a GPU yet (docs/cuda.md). */
#include "cuda_plugin.h"

static int cuda_supports_op(int32_t op) {
    switch (op) {
    case SSL3D_OP_CONV:
    case SSL3D_OP_CONV_TRANSPOSE:
    case SSL3D_OP_BATCHNORM:
    case SSL3D_OP_GROUPNORM:
    case SSL3D_OP_L2NORM:
    case SSL3D_OP_MAXPOOL:
    case SSL3D_OP_GLOBAL_AVGPOOL:
    case SSL3D_OP_ACTIVATION:
    case SSL3D_OP_DROPOUT:
    case SSL3D_OP_LINEAR:
    case SSL3D_OP_ELEMENTWISE:
    case SSL3D_OP_CONCAT:
    case SSL3D_OP_REDUCE:
    case SSL3D_OP_LOSS:
    case SSL3D_OP_OPTIM:
    case SSL3D_OP_ROWS:
        return 1;
    default:
        return 0;
    }
}

const struct ssl3d_conv_kernels cuda_conv_kernels = {
    .conv_forward = cuda_conv_forward,
    .conv_backward = cuda_conv_backward,
    .conv_transpose_forward = cuda_conv_transpose_forward,
    .conv_transpose_backward = cuda_conv_transpose_backward,
    .maxpool2_forward = cuda_maxpool2_forward,
    .maxpool2_backward = cuda_maxpool2_backward,
    .global_avgpool_forward = cuda_global_avgpool_forward,
    .global_avgpool_backward = cuda_global_avgpool_backward,
};

const struct ssl3d_layer_kernels cuda_layer_kernels = {
    .batchnorm_stats = cuda_batchnorm_stats,
    .batchnorm_forward = cuda_batchnorm_forward,
    .batchnorm_backward = cuda_batchnorm_backward,
    .groupnorm_forward = cuda_groupnorm_forward,
    .groupnorm_backward = cuda_groupnorm_backward,
    .activation_forward = cuda_activation_forward,
    .activation_backward = cuda_activation_backward,
    .dropout_forward = cuda_dropout_forward,
    .dropout_backward = cuda_dropout_backward,
    .linear_forward = cuda_linear_forward,
    .linear_backward = cuda_linear_backward,
    .add_forward = cuda_add_forward,
    .add_backward = cuda_add_backward,
    .mul_forward = cuda_mul_forward,
    .mul_backward = cuda_mul_backward,
    .block_copy = cuda_block_copy,
    .l2norm_forward = cuda_l2norm_forward,
    .l2norm_backward = cuda_l2norm_backward,
};

static const ssl3d_backend cuda_backend = {
    .abi_version = SSL3D_BACKEND_ABI_VERSION,
    .name = "cuda",
    .kind = SSL3D_BACKEND_CUDA,
    .host_memory = 0,
    .supports_op = cuda_supports_op,
    .init = cuda_state_init,
    .shutdown = cuda_state_shutdown,
    .alloc = cuda_alloc_zeroed,
    .alloc_uninit = cuda_alloc_uninit,
    .free = cuda_free,
    .memset0 = cuda_memset0,
    .to_host = cuda_to_host,
    .from_host = cuda_from_host,
    .copy = cuda_copy,
    .fill = cuda_fill,
    .axpy = cuda_axpy,
    .add_scalar = cuda_add_scalar,
    .scale_add = cuda_scale_add,
    .dot = cuda_dot,
    .conv = &cuda_conv_kernels,
    .layer = &cuda_layer_kernels,
    .loss = &cuda_loss_kernels,
    .optim = &cuda_optim_kernels,
    .sync = cuda_sync,
    .rows = &cuda_rows_kernels,
    .device_count = cuda_device_count,
#ifdef SSL3D_WITH_NCCL
    .device_comm = &cuda_nccl_ops,
#else
    .device_comm = NULL,
#endif
    .upload_begin = cuda_upload_begin,
    .upload_wait = cuda_upload_wait,
};

/* The plugin's only export: no CUDA call happens here, so loading the plugin on a
 * machine without a driver is harmless; init says what is missing. */
__attribute__((visibility("default"))) const ssl3d_backend *ssl3d_backend_plugin_entry(void);
const ssl3d_backend *ssl3d_backend_plugin_entry(void) { return &cuda_backend; }
