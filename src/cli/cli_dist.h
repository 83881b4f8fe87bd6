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
/* Register the job's communicator on ctx (no-op for a single process) and, unless the
 * user chose --threads, give each rank its share of the node's cores. Returns 0 or 1
 * after printing the error. */
int cli_dist_attach(const char *cmd, ssl3d_ctx *ctx, int threads_given);
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
