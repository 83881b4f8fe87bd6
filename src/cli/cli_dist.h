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

/* ---- pieces of the data-parallel training step (ctx's communicator; no-ops without) */

/* This rank's share of loader batch `step` of global size B: images (B / ranks entries),
 * decoded on demand, in batch order. On error nothing is left allocated and the message
 * names the file. */
ssl3d_status cli_dist_loader_shard(ssl3d_ctx *ctx, ssl3d_loader *L, int32_t B, int64_t step, ssl3d_tensor **images);
/* After backward: average the gradients of every module of the task over the ranks, in
 * the same buffers turn the rank's loss, correct and total into the global batch's (mean
 * loss, summed counts) and *clock (seconds of training so far) into the ranks' mean, so
 * that every rank takes the same decisions from it. */
/* Every tensor of the task's modules from rank 0 to the other ranks. */
ssl3d_status cli_dist_broadcast_task(ssl3d_ctx *ctx, ssl3d_task *task);
ssl3d_status cli_dist_average_step(ssl3d_ctx *ctx, ssl3d_task *task, float *loss, int64_t *correct, int64_t *total,
                                   double *clock);
#endif
