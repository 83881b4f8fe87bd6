/* The MPI communicator of the `ssl3d` CLI, built with mpicc into lib/ssl3d-mpi.so and
 * loaded by bin/ssl3d only when it is launched by mpirun or srun (src/cli/cli_dist.c).
 * bin/ssl3d and libssl3d never link MPI, so a plain run needs no MPI installed; this
 * file is plain MPI-3, so the plugin builds against any MPI (OpenMPI, MPICH, vendor
 * MPIs) with that MPI's mpicc. docs/distributed.md explains the choice.
 *
 * Errors: MPI_ERRORS_RETURN on the world communicator, so a failed collective comes back
 * to the library as a status; the CLI then calls ssl3d_mpi_plugin_abort, which ends every
 * rank (MPI_Abort). */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include "ssl3d/comm.h"

#define EXPORT __attribute__((visibility("default")))

/* Largest count of one MPI call (MPI counts are int). */
#define CHUNK (INT_MAX / 8)

static int32_t comm_rank(void *user) {
    (void)user;
    int r = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

static int32_t comm_size(void *user) {
    (void)user;
    int s = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

static int32_t comm_allreduce(void *user, float *buf, int64_t n) {
    (void)user;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + i, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return 0;
}

static int32_t comm_broadcast(void *user, void *buf, int64_t bytes, int32_t root) {
    (void)user;
    for (int64_t i = 0; i < bytes; i += CHUNK) {
        int c = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        int rc = MPI_Bcast((char *)buf + i, c, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return 0;
}

static int32_t comm_barrier(void *user) {
    (void)user;
    return MPI_Barrier(MPI_COMM_WORLD);
}

/* Initialise MPI and fill *out. Returns 0, or non-zero with a message in err. */
EXPORT int ssl3d_mpi_plugin_open(ssl3d_comm *out, char *err, size_t cap) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        snprintf(err, cap, "MPI_Init failed");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    ssl3d_comm c = { .abi = SSL3D_COMM_ABI, .rank = comm_rank, .size = comm_size, .allreduce_sum_f32 = comm_allreduce,
                     .broadcast = comm_broadcast, .barrier = comm_barrier, .memory = SSL3D_COMM_HOST_MEMORY };
    *out = c;
    return 0;
}

/* MPI library identification for messages ("Open MPI v4.1.4, ..."). */
EXPORT void ssl3d_mpi_plugin_version(char *buf, size_t cap) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    snprintf(buf, cap, "%s", v);
}

/* Stop every rank of the job with `code` (does not return). */
EXPORT void ssl3d_mpi_plugin_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

EXPORT int ssl3d_mpi_plugin_close(void) { return MPI_Finalize() == MPI_SUCCESS ? 0 : 1; }
