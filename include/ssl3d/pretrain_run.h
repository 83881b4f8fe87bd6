/*
 * ssl3d/pretrain_run.h — the whole pretraining loop of `ssl3d pretrain` as one call.
 * Included by <ssl3d.h>.
 *
 * ssl3d_pretrain_run trains a task (ssl3d/pretrain.h) with Adam over every module of the
 * task, optionally on a cosine schedule with warm-up: step s takes batch s (from a loader
 * or a callback), draws its samples from (seed, s) with ssl3d_task_forward, then
 * backward, optimiser step, zero grad. It measures the proxy accuracy on held-out images
 * every eval_every steps and at the end, writes checkpoints atomically (task tensors, Adam
 * state "optim.*", metadata "step" and "pretrain.*") every save_every steps and at the
 * end, and resumes exactly from such a checkpoint: a resumed run reproduces an
 * uninterrupted one bitwise (same thread count). It never prints: every per-step and final
 * record goes to the log callback as one JSON object. The CLI (`ssl3d pretrain`, `ssl3d
 * demo`) and Python (ssl3d.pretrain) are thin callers of it; the loader, task, batch and
 * held-out images of `ssl3d pretrain` come from ssl3d_pretrain_inputs_create
 * (ssl3d/pretrain_inputs.h).
 */
#ifndef SSL3D_PRETRAIN_RUN_H
#define SSL3D_PRETRAIN_RUN_H
#include "core.h"
#include "pretrain.h"
#include "loader.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Version of the ssl3d_pretrain_config layout; ssl3d_pretrain_config_init puts it in
 * cfg->version (and sizeof in cfg->size), so that a caller built against another layout
 * gets an error instead of misread fields. */
#define SSL3D_PRETRAIN_CONFIG_VERSION 1

/* Batch source when no loader is given: fill images[0..n) with new references for
 * training step `step` (deterministic in step; n is this rank's share of the batch).
 * Return a status with the message set on ctx. */
typedef ssl3d_status (*ssl3d_pretrain_batch_fn)(void *user, ssl3d_ctx *ctx, int64_t step, int32_t n,
                                                ssl3d_tensor **images);

/* Log callback: one JSON object per call (no newline), of one of three kinds:
 *   step:    {"step": s, "loss": l, "acc": a, "lr": x, "samples_per_s": v, "train_seconds": t
 *             [, "epoch": e] [, "val_acc": a, "val_loss": l]}   (after each training step;
 *             "epoch" when steps_per_epoch > 0, "val_*" at the steps with an evaluation;
 *             non-finite numbers are null; the loss is the float32 loss, printed exactly)
 *   final:   {"final": true, "steps", "proxy_accuracy", "chance", "seconds", "val_loss",
 *             "val_samples", "task", "dims", "checkpoint"}   (once, after the last save)
 *   warning: {"warning": "text"}   (e.g. the resume checkpoint was trained with another
 *             seed, or is already at the last step)
 * Return 0 to go on; non-zero after a step record stops the run after that step (it is
 * then saved, evaluated and summarised as after max_seconds). The return value of the
 * other records is ignored. In a data-parallel run the callback is called on rank 0 only
 * and its return value is ignored (the ranks could not agree on the last step). */
typedef int32_t (*ssl3d_pretrain_log_fn)(void *user, const char *json);

typedef struct ssl3d_pretrain_config {
    uint32_t size;                  /* sizeof(ssl3d_pretrain_config), set by _init */
    uint32_t version;               /* SSL3D_PRETRAIN_CONFIG_VERSION, set by _init */
    /* Training batches: `loader` (ssl3d_loader_set_batch done; batch s is
     * ssl3d_loader_batch(s), or this rank's share of its indices under a communicator),
     * else `batch_fn`. Exactly one of them. */
    ssl3d_loader *loader;
    ssl3d_pretrain_batch_fn batch_fn;
    void *batch_user;
    int32_t batch;                  /* images per step (the global batch; a multiple of the ranks) [required] */
    int32_t val_rounds;             /* evaluation passes over the held-out images [4] */
    uint64_t seed;                  /* sample seed of ssl3d_task_forward [0] */
    int64_t steps;                  /* train until this step (total, also when resuming) [required, >= 1] */
    double max_seconds;             /* > 0: also stop after this much training time [0] */
    double lr;                      /* Adam learning rate [1e-3] */
    double weight_decay;            /* Adam L2 weight decay [0] */
    const char *schedule;           /* "constant" or "cosine" (to lr/100 at `steps`) ["constant"] */
    int64_t warmup;                 /* linear warm-up steps [0]; cosine needs steps > warmup */
    int64_t eval_every;             /* also evaluate every N steps [0: only at the end] */
    int64_t save_every;             /* also write the checkpoint every N steps [0: only at the end] */
    int64_t steps_per_epoch;        /* for "epoch" in the step records [0: none] */
    /* Held-out images (borrowed; n_val may be 0): deterministic evaluation samples from
     * (seed mixed with "EVAL", small indices), in chunks of batch images. */
    ssl3d_tensor *const *val;
    int64_t n_val;
    const char *out;                /* checkpoint path (written atomically) [required] */
    const char *resume;             /* checkpoint of an earlier run to continue, or NULL */
    const char *const *meta;        /* extra checkpoint metadata: key, value, ..., NULL; or NULL */
    /* The context of `loader`, of the batch_fn images and of `val` [NULL: ctx]. With a
     * device backend the images are decoded and cut into samples in host memory: pass a
     * CPU context here (ssl3d_task_forward uploads the samples to ctx). */
    ssl3d_ctx *data_ctx;
} ssl3d_pretrain_config;

/* Set the defaults in brackets above, zero the rest, and fill size and version. */
SSL3D_API void ssl3d_pretrain_config_init(ssl3d_pretrain_config *cfg);

/* Run the loop of the file comment on `task` (its weights are trained in place and, with
 * cfg->resume, first restored). A bad configuration gives SSL3D_ERR_INVALID_ARG naming
 * the field ("ssl3d_pretrain_run: config.batch ..."). A resume checkpoint trained with
 * other settings is refused (SSL3D_ERR_INVALID_ARG), naming the file, the first setting
 * that differs and both values: "ssl3d_pretrain_run: resume CKPT: <setting>: the checkpoint
 * has X, this run has Y (...)", setting one of task, dims, in_channels, "option <key>" (any
 * task option), config.batch, config.lr, config.weight_decay, config.schedule,
 * config.warmup (as far as the checkpoint records them); steps, max_seconds, evaluation,
 * saving and the thread count may change, a different seed is a warning. An error of the
 * task about one image ("ssl3d_task_forward: images[k] ...") says where that call's images
 * start: "ssl3d_pretrain_run: step S: ..." (batch position first + k of step S, first =
 * this rank's share: ssl3d_comm_shard) or "ssl3d_pretrain_run: validation, held-out images
 * [i, j): ..." (val[i + k]), so that a caller can name the file (ssl3d_loader_item_path,
 * ssl3d_pretrain_inputs_val_path). `log` may be NULL. Returns SSL3D_OK also when the callback
 * stopped the run. Data-parallel (a communicator on ctx, ssl3d/comm.h): every rank makes
 * the same call; each trains on its batch / ranks images of every global batch (the
 * images and samples one process would use at those positions: ssl3d_task_set_image_offset),
 * starting from rank 0's weights, with gradients, loss and counts averaged over the
 * ranks before each step and max_seconds decided on the ranks' mean clock; only rank 0
 * evaluates, calls `log` and writes checkpoints. */
SSL3D_API ssl3d_status ssl3d_pretrain_run(ssl3d_ctx *ctx, ssl3d_task *task, const ssl3d_pretrain_config *cfg,
                                          ssl3d_pretrain_log_fn log, void *user);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_PRETRAIN_RUN_H */
