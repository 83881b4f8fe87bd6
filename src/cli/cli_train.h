/* The CLI side of the pretraining loop shared by `ssl3d pretrain` and `ssl3d demo`: the
 * loop itself is the library's ssl3d_pretrain_run (ssl3d/pretrain_run.h: Adam, schedule,
 * batches, validation, atomic checkpoints, exact resumption, data-parallel steps); this
 * adapter turns its log records into the JSONL log, the progress line and warnings on
 * stderr, and its errors into one message naming the command. */
#ifndef SSL3D_CLI_TRAIN_H
#define SSL3D_CLI_TRAIN_H
#include "ssl3d.h"
#include "cli_util.h"

/* Fills images[0..batch) with new references for training step `step` (deterministic
 * in step), in ctx (cli_train.data_ctx). Returns a status; the message is in ctx. */
typedef ssl3d_status (*cli_batch_fn)(void *ud, ssl3d_ctx *ctx, int64_t step, ssl3d_tensor **images);

typedef struct cli_train {
    const char *cmd;            /* "pretrain", "demo": error prefix */
    ssl3d_ctx *ctx;
    ssl3d_ctx *data_ctx;        /* where the batch callback loads images (NULL: ctx); a host
                                 * context when ctx is a device's */
    ssl3d_task *task;
    /* The prepared inputs of `ssl3d pretrain` (ssl3d/pretrain_inputs.h): when set, they give
     * the loader, batch size, seed, held-out images, steps per epoch and data context
     * (ssl3d_pretrain_inputs_fill_config) and the fields below for those are ignored. */
    const ssl3d_pretrain_inputs *inputs;
    ssl3d_loader *loader;       /* batches from this loader (ssl3d_loader_set_batch done), */
    cli_batch_fn batch;         /* or from this callback (no communicator) */
    void *ud;
    int32_t batch_size;
    uint64_t seed;              /* sample seed of ssl3d_task_forward */
    ssl3d_tensor **val;         /* validation images (borrowed); n_val may be 0 */
    int64_t n_val;
    int32_t val_rounds;         /* evaluation passes over val (different eval draws) */
    int64_t eval_every;         /* 0: only at the end */
    double lr, weight_decay;
    const char *schedule;       /* "constant" or "cosine" */
    int64_t warmup;
    int64_t steps;              /* total steps of the run (resumed runs count from 0) */
    double max_seconds;         /* > 0: stop after this much training time */
    int64_t steps_per_epoch;    /* for the epoch shown in the log (0: none) */
    const char *out;            /* checkpoint path */
    int64_t save_every;         /* 0: only at the end */
    const char *resume;         /* checkpoint to resume from, or NULL */
    cli_jsonl *log;             /* may be NULL */
    int64_t print_every;        /* plain progress lines (non-terminal) every N steps */
    const char *const *meta;    /* extra metadata key, value, key, value, ..., NULL */
    /* results */
    int64_t steps_done;         /* the step reached (total, counting resumed ones) */
    double proxy_accuracy, val_loss, chance, seconds;
    int64_t val_samples;
} cli_train;

/* Run the loop; returns the exit status (0, or 1 after printing an error). */
int cli_train_run(cli_train *t);
#endif
