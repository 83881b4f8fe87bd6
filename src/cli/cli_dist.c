/* MPI for the CLI through a plugin loaded at run time (cli_dist.h).
 *
 * Why a plugin: bin/ssl3d must run without MPI (a laptop, CI without openmpi), and the
 * same binary must join an MPI job when mpirun starts it. Linking bin/ssl3d with mpicc
 * would make libmpi a hard dependency of every run (and OpenMPI's singleton start-up
 * costs a second); instead lib/ssl3d-mpi.so is built with mpicc and dlopen()ed only
 * when the launcher's environment names more than one rank. The plugin is plain MPI, so
 * it is rebuilt against whichever MPI a cluster provides. */
#define _GNU_SOURCE   /* sched_getaffinity, CPU_COUNT */
#include <dlfcn.h>
#include <sched.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli_dist.h"

typedef int (*open_fn)(ssl3d_comm *out, char *err, size_t cap);
typedef void (*abort_fn)(int code);
typedef int (*close_fn)(void);

static struct {
    int active;
    int32_t rank, size, local_size;
    ssl3d_comm comm;
    ssl3d_comm *nccl;   /* made from comm by cli_dist_attach for a cuda context, or NULL */
    abort_fn abort_job;
    close_fn close;
    char tag[48];
} g;

/* Ranks announced by the launcher: OpenMPI's mpirun, PMI (MPICH, Slurm --mpi=pmi2) or
 * Slurm with PMIx. 1 when not launched as a job. */
static int32_t env_int(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    return end && !*end && x > 0 && x < INT_MAX ? (int32_t)x : 0;
}

static int32_t launched_size(void) {
    int32_t n = env_int("OMPI_COMM_WORLD_SIZE");
    if (!n) n = env_int("PMI_SIZE");
    if (!n && getenv("PMIX_RANK")) n = env_int("SLURM_NTASKS");
    return n ? n : 1;
}

static int32_t launched_local_size(void) {
    int32_t n = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!n) n = env_int("MPI_LOCALNRANKS");
    if (!n) n = env_int("SLURM_NTASKS_PER_NODE");
    return n ? n : 1;
}

/* The plugin: $SSL3D_MPI_PLUGIN, else ../lib/ssl3d-mpi.so next to the executable (the
 * build tree and `make install` both put it there). */
static void plugin_path(char *buf, size_t cap) {
    const char *env = getenv("SSL3D_MPI_PLUGIN");
    if (env && *env) { snprintf(buf, cap, "%s", env); return; }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { snprintf(buf, cap, "ssl3d-mpi.so"); return; }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(buf, cap, "%s/../lib/ssl3d-mpi.so", exe);
}

int cli_dist_start(const char *cmd) {
    const int32_t n = launched_size();
    if (n <= 1) return 0;
    char path[PATH_MAX + 32], err[256] = "";
    plugin_path(path, sizeof path);
    /* RTLD_GLOBAL: OpenMPI loads its own components, which resolve libmpi's symbols. */
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        fprintf(stderr, "ssl3d %s: launched as one of %d MPI ranks but cannot load the MPI plugin %s: %s\n"
                "(build it with `make` where mpicc is installed, or set SSL3D_MPI_PLUGIN)\n", cmd, (int)n, path,
                dlerror());
        return 1;
    }
    open_fn open = (open_fn)(uintptr_t)dlsym(h, "ssl3d_mpi_plugin_open");
    g.abort_job = (abort_fn)(uintptr_t)dlsym(h, "ssl3d_mpi_plugin_abort");
    g.close = (close_fn)(uintptr_t)dlsym(h, "ssl3d_mpi_plugin_close");
    if (!open || !g.abort_job || !g.close) {
        fprintf(stderr, "ssl3d %s: %s is not an ssl3d MPI plugin (missing ssl3d_mpi_plugin_* symbols)\n", cmd, path);
        return 1;
    }
    if (open(&g.comm, err, sizeof err) != 0) {
        fprintf(stderr, "ssl3d %s: %s: %s\n", cmd, path, err);
        return 1;
    }
    g.rank = g.comm.rank(g.comm.user);
    g.size = g.comm.size(g.comm.user);
    g.local_size = launched_local_size();
    g.active = 1;
    snprintf(g.tag, sizeof g.tag, " [rank %d/%d]", (int)g.rank, (int)g.size);
    return 0;
}

int cli_dist_comm_parse(const char *cmd, const char *name) {
    if (name && (!strcmp(name, "mpi") || !strcmp(name, "nccl") || !strcmp(name, "auto"))) return 0;
    fprintf(stderr, "ssl3d %s: --comm must be mpi, nccl or auto, got '%s'\n", cmd, name ? name : "");
    return 2;
}

static int32_t launched_local_rank(void) {
    int32_t r = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!r) r = env_int("SLURM_LOCALID");
    if (!r) r = env_int("MPI_LOCALRANKID");
    return r;   /* 0 also when unset */
}

int32_t cli_dist_device(int32_t backend) {
    if (!g.active || backend == SSL3D_BACKEND_CPU) return 0;
    int32_t n = 0;
    if (ssl3d_backend_device_count(backend, &n, NULL, 0) != SSL3D_OK || n < 1) return 0;   /* creation says why */
    return launched_local_rank() % n;
}

/* NCCL over g.comm for a cuda context: 0 and *use_mpi = 0 when registered; with `auto`,
 * *use_mpi = 1 when NCCL is not there on every rank (the ranks agree on that inside
 * ssl3d_comm_create_nccl, so they all fall back together); else 1 after the message. */
static int attach_nccl(const char *cmd, ssl3d_ctx *ctx, int forced, int *use_mpi) {
    *use_mpi = 0;
    ssl3d_status st = ssl3d_comm_create_nccl(ctx, &g.comm, &g.nccl);
    if (st == SSL3D_OK && (st = ssl3d_ctx_set_comm(ctx, g.nccl)) == SSL3D_OK) return 0;
    if (!forced && !g.nccl && (st == SSL3D_ERR_UNSUPPORTED || st == SSL3D_ERR_BACKEND_UNAVAILABLE)) {
        if (g.rank == 0)
            fprintf(stderr, "ssl3d %s: note: averaging gradients over MPI, not NCCL (%s)\n", cmd, ssl3d_ctx_last_error(ctx));
        *use_mpi = 1;
        return 0;
    }
    fprintf(stderr, "ssl3d %s%s: --comm %s: %s\n", cmd, g.tag, forced ? "nccl" : "auto", ssl3d_ctx_last_error(ctx));
    ssl3d_comm_destroy(g.nccl);
    g.nccl = NULL;
    return 1;
}

void cli_dist_detach(ssl3d_ctx *ctx) {
    if (!g.active || !ctx) return;
    ssl3d_ctx_set_comm(ctx, NULL);
    ssl3d_comm_destroy(g.nccl);
    g.nccl = NULL;
}

int cli_dist_attach(const char *cmd, ssl3d_ctx *ctx, int threads_given, const char *comm) {
    if (!g.active) return 0;
    const int cuda = !strcmp(ssl3d_ctx_backend_name(ctx), "cuda");
    const int want_nccl = comm && !strcmp(comm, "nccl");
    if (want_nccl && !cuda) {
        fprintf(stderr, "ssl3d %s%s: --comm nccl needs --backend cuda (NCCL reduces device memory)\n", cmd, g.tag);
        return 1;
    }
    int use_mpi = !cuda || (comm && !strcmp(comm, "mpi"));
    if (!use_mpi && attach_nccl(cmd, ctx, want_nccl, &use_mpi)) return 1;
    if (use_mpi && ssl3d_ctx_set_comm(ctx, &g.comm) != SSL3D_OK) {
        fprintf(stderr, "ssl3d %s%s: %s\n", cmd, g.tag, ssl3d_ctx_last_error(ctx));
        return 1;
    }
    /* Launchers often bind each rank to some cores (OpenMPI: one core per rank when np <= 2,
     * a socket otherwise; Slurm: --cpus-per-task). Threads beyond them share those cores. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    int bound = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < cores) bound = CPU_COUNT(&set);
    if (!threads_given) {
        /* N ranks on one node would each start one thread per core: oversubscription. */
        int32_t t = bound ? bound : cores > 0 ? (int32_t)(cores / (g.local_size > 0 ? g.local_size : 1)) : 1;
        ssl3d_ctx_set_threads(ctx, t >= 1 ? t : 1);
    } else if (bound && ssl3d_ctx_threads(ctx) > bound) {
        fprintf(stderr, "ssl3d %s%s: warning: %d threads on the %d core%s this rank is bound to (give mpirun "
                "--map-by slot:PE=%d, or --bind-to none)\n", cmd, g.tag, (int)ssl3d_ctx_threads(ctx), bound,
                bound == 1 ? "" : "s", (int)ssl3d_ctx_threads(ctx));
    }
    return 0;
}

int32_t cli_dist_rank(void) { return g.active ? g.rank : 0; }
int32_t cli_dist_size(void) { return g.active ? g.size : 1; }
int cli_dist_is_root(void) { return !g.active || g.rank == 0; }
const char *cli_dist_tag(void) { return g.active ? g.tag : ""; }

int cli_dist_finish(int rc) {
    if (!g.active) return rc;
    if (rc != 0) {
        fprintf(stderr, "ssl3d%s: this rank failed (exit status %d); stopping all %d ranks\n", g.tag, rc,
                (int)g.size);
        fflush(stderr);
        g.abort_job(rc);   /* does not return */
    }
    g.active = 0;
    return g.close() ? 1 : 0;
}
