/* Data-parallel runs of the CLI: `mpirun -np N ssl3d pretrain|finetune ...` (or srun).
 * When the environment says this process is one of several ranks of an MPI job, main()
 * loads the MPI communicator plugin (lib/ssl3d-mpi.so, built with mpicc) and the
 * training commands register it on their context. Otherwise nothing here touches MPI:
 * a plain run needs no MPI installed. docs/distributed.md. */
#ifndef SSL3D_CLI_DIST_H
#define SSL3D_CLI_DIST_H
#include "ssl3d.h"
#include "ssl3d/loader.h"

/* Start MPI if this process was launched as one of several ranks. Returns 0, or 1 after
 * printing why the launch cannot work (plugin missing, MPI_Init failed). */
int cli_dist_start(const char *cmd);
/* Help text of --comm, shared by the training commands. */
#define CLI_COMM_HELP "under mpirun: gradients averaged over MPI (host memory) or NCCL\n" \
                      "(device memory, --backend cuda; the CUDA plugin built with NCCL);\n" \
                      "auto (default): nccl for --backend cuda when available, else mpi"
/* Check a --comm value (mpi|nccl|auto). Returns 0, or 2 after printing the usage error. */
int cli_dist_comm_parse(const char *cmd, const char *name);
/* The device a rank of this job uses for `backend`: the launcher's local rank
 * (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID) modulo the devices this
 * process sees; 0 for a single process or when the count is unknown. */
int32_t cli_dist_device(int32_t backend);
/* Register the job's communicator on ctx (no-op for a single process): MPI's, or NCCL's
 * made from it (`comm`: "mpi", "nccl" or "auto", see CLI_COMM_HELP); and, unless the user
 * chose --threads, give each rank its share of the node's cores. Returns 0 or 1 after
 * printing the error. Undo with cli_dist_detach before releasing ctx. */
int cli_dist_attach(const char *cmd, ssl3d_ctx *ctx, int threads_given, const char *comm);
/* Unregister the communicator from ctx and free the NCCL one, if any (before ctx goes). */
void cli_dist_detach(ssl3d_ctx *ctx);
int32_t cli_dist_rank(void);
int32_t cli_dist_size(void);
/* Whether this process writes logs and checkpoints (rank 0, or a single process). */
int cli_dist_is_root(void);
/* "" for a single process, else " [rank R/N]": for message prefixes. */
const char *cli_dist_tag(void);
/* End of the command with exit status rc: finalise MPI on success; otherwise stop the
 * whole job from this rank (MPI_Abort) so that no other rank waits forever for it. */
int cli_dist_finish(int rc);

#endif
