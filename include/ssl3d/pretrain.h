/*
 * ssl3d/pretrain.h — the five self-supervised proxy tasks as trainable objects.
 * Included by <ssl3d.h>.
 *
 * A task owns the shared U-Net encoder and its task heads. One call, ssl3d_task_forward,
 * builds a batch of samples from a list of images (the sample builders of ssl3d/tasks.h),
 * runs the encoder and heads, and returns the loss and the proxy accuracy counts; with
 * training on, the ops are recorded so that ssl3d_backward + an optimiser step train it.
 * Every task has the same interface (docs/adding-a-task.md). The whole training loop
 * around it (optimiser, schedule, validation, checkpoints, resume) is ssl3d_pretrain_run
 * of ssl3d/pretrain_run.h.
 */
#ifndef SSL3D_PRETRAIN_H
#define SSL3D_PRETRAIN_H
#include "core.h"
#include "nn.h"
#include "checkpoint.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum ssl3d_task_kind {
    SSL3D_TASK_ROTATION = 0,   /* 10 classes in 3D, 4 in 2D */
    SSL3D_TASK_RPL = 1,        /* relative patch location: 26 / 8 classes */
    SSL3D_TASK_JIGSAW = 2,     /* P permutations (default 100) */
    SSL3D_TASK_CPC = 3,        /* contrastive predictive coding, InfoNCE */
    SSL3D_TASK_EXEMPLAR = 4    /* two augmented views; triplet or NT-Xent */
} ssl3d_task_kind;

typedef struct ssl3d_task ssl3d_task;

/* "rotation", "rpl", "jigsaw", "cpc", "exemplar"; "" for an unknown kind. */
SSL3D_API const char *ssl3d_task_kind_name(int32_t kind);
/* Inverse of ssl3d_task_kind_name; SSL3D_ERR_INVALID_ARG for an unknown name. */
SSL3D_API ssl3d_status ssl3d_task_kind_parse(const char *name, int32_t *kind);

/* Create a task of `kind` for `dims` (2 or 3) and images of `in_channels` channels.
 * `options` is NULL or a comma-separated "key=value" list overriding the defaults of
 * docs/tasks.md, e.g. "input_size=48,filters=16,levels=4,norm=batch,permutations=100".
 * Unknown keys or bad values give SSL3D_ERR_INVALID_ARG naming the key. The encoder and
 * heads are initialised from the context RNG (set the seed first). */
SSL3D_API ssl3d_status ssl3d_task_create(ssl3d_ctx *ctx, int32_t kind, int32_t dims, int32_t in_channels,
                                         const char *options, ssl3d_task **out);
SSL3D_API void ssl3d_task_release(ssl3d_task *task);
SSL3D_API int32_t ssl3d_task_kind_of(const ssl3d_task *task);
SSL3D_API int32_t ssl3d_task_dims(const ssl3d_task *task);
/* Value of a resolved option (defaults included); SSL3D_ERR_NOT_FOUND for an unknown key. */
SSL3D_API ssl3d_status ssl3d_task_option(ssl3d_ctx *ctx, const ssl3d_task *task, const char *key,
                                         double *value);
/* Chance level of the proxy accuracy (1/classes, or 1/candidates for contrastive tasks). */
SSL3D_API double ssl3d_task_chance(const ssl3d_task *task);
/* The shared encoder (borrowed). */
SSL3D_API ssl3d_module *ssl3d_task_encoder(const ssl3d_task *task);
/* Modules of the task: 0 is the encoder, then the heads (borrowed), with their names
 * ("encoder", "head", "context", ...), used as checkpoint tensor-name prefixes. */
SSL3D_API int32_t ssl3d_task_module_count(const ssl3d_task *task);
SSL3D_API ssl3d_module *ssl3d_task_module(const ssl3d_task *task, int32_t i);
SSL3D_API const char *ssl3d_task_module_name(const ssl3d_task *task, int32_t i);

/* Build samples from `n_images` images — each float32 (C,D,H,W) in 3D or (C,H,W) in 2D,
 * large enough for the task (rotation zero-pads smaller images to input_size; the grid
 * tasks need grid*cell voxels per axis, docs/tasks.md) — and run the task.
 * The samples depend only on (seed, index) and the images: index identifies the batch
 * (e.g. the step), so a resumed run draws the same samples. training = 1 uses random
 * crops/jitter and batch statistics and records the ops; training = 0 uses deterministic
 * evaluation samples. Returns the mean loss (a new one-element tensor) and the number of
 * correct proxy predictions out of *total.
 * The images belong to ctx or, all of them, to one host-memory (CPU) context: the samples
 * are built where the images are and the batch is copied into ctx. A task on a device
 * context (SSL3D_BACKEND_CUDA) needs the latter: sample construction is host code. */
SSL3D_API ssl3d_status ssl3d_task_forward(ssl3d_ctx *ctx, ssl3d_task *task, ssl3d_tensor *const *images,
                                          int32_t n_images, uint64_t seed, uint64_t index,
                                          int32_t training, ssl3d_tensor **loss, int64_t *correct,
                                          int64_t *total);

/* Data-parallel shards: the images of the following ssl3d_task_forward calls are images
 * first_image, first_image+1, ... of a larger global batch (default 0). Each sample is then
 * drawn exactly as it would be at that position of the global batch, so ranks that split
 * one batch between them draw the same samples as one process with the whole batch
 * (docs/distributed.md). Tasks whose loss compares samples with each other (exemplar,
 * CPC) then compare only within a rank's share. first_image + n_images times the samples
 * per image must stay <= 65536. */
SSL3D_API ssl3d_status ssl3d_task_set_image_offset(ssl3d_ctx *ctx, ssl3d_task *task, int64_t first_image);

/* Add every module tensor ("<module>.<tensor>") and the task metadata (task, dims,
 * options, permutation set, library version) to a checkpoint. */
SSL3D_API ssl3d_status ssl3d_task_save(ssl3d_ctx *ctx, const ssl3d_task *task, ssl3d_checkpoint *ckpt);
/* Restore the tensors (and the permutation set) saved by ssl3d_task_save into a task
 * created with the same kind, dims and options; mismatches name the tensor. */
SSL3D_API ssl3d_status ssl3d_task_load(ssl3d_ctx *ctx, ssl3d_task *task, const ssl3d_checkpoint *ckpt);
/* Create a task from a checkpoint written by ssl3d_task_save (kind, dims, channels and
 * options read from its metadata), with its weights restored. */
SSL3D_API ssl3d_status ssl3d_task_create_from_checkpoint(ssl3d_ctx *ctx, const ssl3d_checkpoint *ckpt,
                                                         ssl3d_task **out);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_PRETRAIN_H */
