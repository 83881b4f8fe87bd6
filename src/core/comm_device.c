/* Device-memory communicators made by a backend (ssl3d/comm.h: ssl3d_comm_create_nccl,
 * ssl3d_comm_probe_nccl, ssl3d_comm_destroy): the CUDA plugin's NCCL one, reached through
 * its dispatch table's device_comm slot (backend.h), so the plugin still exports only its
 * entry point. The library checks everything it can name (backend, plugin built without
 * NCCL, libnccl missing on some rank) before the first call that would make a rank wait
 * for another, so a rank that cannot take part never leaves the others hanging. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* The NCCL slot of the CUDA backend, or an error naming why there is none. */
static ssl3d_status nccl_ops(const ssl3d_backend *be, const ssl3d_device_comm_ops **ops, char *msg, size_t cap) {
    *ops = be->device_comm;
    if (*ops && (*ops)->name && !strcmp((*ops)->name, "nccl") && (*ops)->probe && (*ops)->create) return SSL3D_OK;
    snprintf(msg, cap, "the CUDA plugin was built without NCCL (nccl.h was not found at build time: rebuild it with "
             "make NCCL=1 NCCL_HOME=DIR; docs/distributed.md)");
    *ops = NULL;
    return SSL3D_ERR_UNSUPPORTED;
}

ssl3d_status ssl3d_comm_probe_nccl(char *msg, size_t cap) {
    char buf[1024] = "";
    const ssl3d_backend *be = NULL;
    const ssl3d_device_comm_ops *ops = NULL;
    ssl3d_status st = ssl3d_backend_acquire(SSL3D_BACKEND_CUDA, &be, buf, sizeof buf);
    if (st == SSL3D_OK) st = nccl_ops(be, &ops, buf, sizeof buf);
    if (st == SSL3D_OK) st = ops->probe(buf, sizeof buf);
    if (msg && cap) {
        strncpy(msg, buf, cap - 1);
        msg[cap - 1] = '\0';
    }
    return st;
}

ssl3d_status ssl3d_comm_create_nccl(ssl3d_ctx *ctx, const ssl3d_comm *bootstrap, ssl3d_comm **out) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_comm_create_nccl";
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    *out = NULL;
    SSL3D_CHECK_ARG(ctx, bootstrap, "%s: bootstrap is NULL (give the host's communicator, e.g. MPI's)", fn);
    SSL3D_CHECK_ARG(ctx, bootstrap->abi == 1 || bootstrap->abi == SSL3D_COMM_ABI, "%s: bootstrap->abi is %u, this "
                    "library expects %u (or 1)", fn, (unsigned)bootstrap->abi, (unsigned)SSL3D_COMM_ABI);
    SSL3D_CHECK_ARG(ctx, bootstrap->rank && bootstrap->size && bootstrap->allreduce_sum_f32 && bootstrap->broadcast,
                    "%s: a callback of bootstrap (rank, size, allreduce_sum_f32, broadcast) is NULL", fn);
    SSL3D_CHECK_ARG(ctx, bootstrap->abi == 1 || bootstrap->memory == SSL3D_COMM_HOST_MEMORY,
                    "%s: bootstrap must be a host-memory communicator (SSL3D_COMM_HOST_MEMORY)", fn);
    if (ctx->be->kind != SSL3D_BACKEND_CUDA)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "%s: the context's backend is %s; NCCL works on the "
                               "device memory of a cuda context", fn, ctx->be->name);
    char why[SSL3D_ERRMSG_CAP - 64] = "";
    const ssl3d_device_comm_ops *ops = NULL;
    ssl3d_status st = nccl_ops(ctx->be, &ops, why, sizeof why);
    if (st != SSL3D_OK) return ssl3d_set_error(ctx, st, "%s: %s", fn, why);
    const int32_t rank = bootstrap->rank(bootstrap->user), size = bootstrap->size(bootstrap->user);
    SSL3D_CHECK_ARG(ctx, size >= 1 && rank >= 0 && rank < size, "%s: bootstrap says rank %d of %d", fn, (int)rank,
                    (int)size);

    /* Every rank loads libnccl, then all agree: the broadcast that follows would wait
     * forever for a rank that gave up. */
    st = ops->probe(why, sizeof why);
    float bad = st == SSL3D_OK ? 0.0f : 1.0f;
    int32_t rc = size > 1 ? bootstrap->allreduce_sum_f32(bootstrap->user, &bad, 1) : 0;
    if (rc) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: the bootstrap communicator's allreduce failed on rank %d "
                                   "(code %d)", fn, (int)rank, (int)rc);
    if (st != SSL3D_OK) return ssl3d_set_error(ctx, st, "%s: on rank %d: %s", fn, (int)rank, why);
    if (bad > 0.0f)
        return ssl3d_set_error(ctx, SSL3D_ERR_BACKEND_UNAVAILABLE, "%s: NCCL not loadable on %d of the %d ranks (their "
                               "messages say why); this rank (%d) could load it", fn, (int)bad, (int)size, (int)rank);

    ssl3d_comm boot;   /* an ABI 1 table ends at barrier: the plugin reads no further */
    memset(&boot, 0, sizeof boot);
    memcpy(&boot, bootstrap, bootstrap->abi == 1 ? offsetof(ssl3d_comm, memory) : sizeof boot);
    ssl3d_comm *c = calloc(1, sizeof *c);
    if (!c) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    st = ops->create(ctx->be_state, &boot, c, why, sizeof why);
    if (st == SSL3D_OK && (c->memory != SSL3D_COMM_DEVICE_MEMORY || !c->destroy)) {
        if (c->destroy) c->destroy(c->user);
        snprintf(why, sizeof why, "the plugin's communicator table is incomplete (memory %d, destroy %s)",
                 (int)c->memory, c->destroy ? "set" : "NULL");
        st = SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    if (st != SSL3D_OK) {
        free(c);
        return ssl3d_set_error(ctx, st, "%s: %s", fn, why);
    }
    *out = c;
    return SSL3D_OK;
}

void ssl3d_comm_destroy(ssl3d_comm *comm) {
    if (!comm) return;
    if (comm->abi == SSL3D_COMM_ABI && comm->destroy) comm->destroy(comm->user);
    free(comm);
}
