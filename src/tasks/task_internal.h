/* The proxy-task interface: each task is one file (task_rotation.c, task_rpl.c,
 * task_jigsaw.c, task_cpc.c, task_exemplar.c) that fills a task_vtable; task.c holds
 * what they share (options, modules, save/load, dispatch). One N-d implementation per
 * task: dims is a parameter. See docs/adding-a-task.md. */
#ifndef SSL3D_TASK_INTERNAL_H
#define SSL3D_TASK_INTERNAL_H
#include "../core/internal.h"

#define TASK_MAX_MODULES 8
#define TASK_MAX_OPTIONS 32

typedef struct task_option {
    char key[32];
    double value;
} task_option;

/* A call's samples, made on the host before the model sees them (task_vtable.build). */
typedef struct task_samples {
    ssl3d_tensor *x;      /* the batch: in the sample context when built, in ctx when run */
    int32_t *labels;      /* host labels (n_labels, malloc'd), or NULL for a task without */
    int64_t n_labels;
    ssl3d_tensor *lab;    /* the labels already in ctx (uploaded ahead), or NULL: made when needed */
} task_samples;

typedef struct task_vtable {
    const char *name;
    /* Default options for dims (written with task_opt_default before parsing the user's).
     * task.c sets the encoder options "filters", "levels", "norm" first; a task may
     * override their defaults here. May be NULL. */
    void (*defaults)(ssl3d_task *t);
    /* Validate the task's options (task_opt_check_int / task_opt_check), create the heads
     * (task_add_module) and any state (t->impl) from the resolved options; the encoder
     * exists already (t->modules[0]). Sets t->chance and, when images must have a
     * minimum spatial extent, t->min_size (checked by ssl3d_task_forward). */
    ssl3d_status (*init)(ssl3d_ctx *ctx, ssl3d_task *t);
    /* See ssl3d_task_forward. task.c has checked every argument (images non-NULL,
     * float32, (C, spatial...) with C = in_channels, every axis >= t->min_size; loss,
     * correct and total are never NULL) and, for training == 0, turned gradient
     * recording off around the call. */
    ssl3d_status (*forward)(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                            uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **loss,
                            int64_t *correct, int64_t *total);
    /* Optional split of forward, for tasks whose samples are made before any model work
     * (pretraining then makes the next step's samples and uploads them while the current
     * step computes: task_prefetch_begin). build makes the samples in the images' context
     * (task_sample_ctx) with errors reported in ctx; run takes them in ctx (s->x moved
     * there) and does the rest of forward. forward is then NULL: task.c calls build, moves
     * the batch, and run. */
    ssl3d_status (*build)(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                          uint64_t seed, uint64_t index, int32_t training, task_samples *s);
    ssl3d_status (*run)(ssl3d_ctx *ctx, ssl3d_task *t, task_samples *s, int32_t n_images, uint64_t seed,
                        uint64_t index, int32_t training, ssl3d_tensor **loss, int64_t *correct, int64_t *total);
    /* Extra state beyond module tensors (e.g. the jigsaw permutation set), optional. */
    ssl3d_status (*save_extra)(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_checkpoint *ckpt);
    ssl3d_status (*load_extra)(ssl3d_ctx *ctx, ssl3d_task *t, const ssl3d_checkpoint *ckpt);
    void (*free_impl)(void *impl);
} task_vtable;

struct ssl3d_task {
    ssl3d_ctx *ctx;
    int32_t kind, dims, in_channels;
    const task_vtable *vt;
    task_option opts[TASK_MAX_OPTIONS];
    int32_t n_opts;
    ssl3d_module *modules[TASK_MAX_MODULES];   /* [0] is the encoder */
    char module_names[TASK_MAX_MODULES][24];
    int32_t n_modules;
    double chance;
    int64_t min_size;                          /* smallest spatial extent accepted (0: any) */
    int64_t sample_offset;                     /* global position of sample 0 (ssl3d_task_set_image_offset) */
    void *impl;
};

extern const task_vtable task_rotation_vtable;
extern const task_vtable task_rpl_vtable;
extern const task_vtable task_jigsaw_vtable;
extern const task_vtable task_cpc_vtable;
extern const task_vtable task_exemplar_vtable;

/* Options: defaults are set by vt->defaults (a second default for the same key replaces
 * the first); lookups of unknown keys return 0 (a programming error: every key a task
 * reads must have a default). */
void task_opt_default(ssl3d_task *t, const char *key, double value);
double task_opt(const ssl3d_task *t, const char *key);
int32_t task_opt_int(const ssl3d_task *t, const char *key);
/* SSL3D_ERR_INVALID_ARG naming the option (and the task) unless its value is an integer
 * in [lo, hi] / a number in [lo, hi]. For vt->init. */
ssl3d_status task_opt_check_int(ssl3d_ctx *ctx, const ssl3d_task *t, const char *key, int64_t lo, int64_t hi);
ssl3d_status task_opt_check(ssl3d_ctx *ctx, const ssl3d_task *t, const char *key, double lo, double hi);
/* The first option on which `t` and a checkpoint's "options" metadata (the "k=v,k=v" of
 * ssl3d_task_save) disagree: 1 with its key and both values as text (named values by name;
 * "(none)" for a key only one side has), 0 when they agree. Options the string does not
 * hold agree, except region and fg_level, which it omits at their defaults. */
int task_options_differ(const ssl3d_task *t, const char *ck_options, char *key, size_t key_cap, char *theirs,
                        size_t theirs_cap, char *mine, size_t mine_cap);
/* Register a head module under `name` (the task takes ownership, also on failure). */
ssl3d_status task_add_module(ssl3d_task *t, ssl3d_module *m, const char *name);

/* ---- helpers for the task files */
/* Key of sample b of batch `index`: the builders' `index` argument for that sample, so
 * that every sample of every batch draws from its own Philox stream. b < 65536. */
static inline uint64_t task_sample_key(const ssl3d_task *t, uint64_t index, int64_t b) {
    return (index << 16) ^ (uint64_t)(t->sample_offset + b);
}
/* Where the samples of a forward are built: the context that holds the images — the task's
 * own context, or a host-memory (CPU) context when the task runs on a device (the sample
 * builders read tensor memory directly; ssl3d_task_forward has checked which it is). */
static inline ssl3d_ctx *task_sample_ctx(ssl3d_tensor *const *images) { return images[0]->ctx; }
/* `st` of a call that ran in sctx, its message copied into ctx's (nothing when the same). */
ssl3d_status task_sample_status(ssl3d_ctx *ctx, ssl3d_ctx *sctx, ssl3d_status st);
/* A batch built in another context moved into ctx — the upload of a device task's batch,
 * through the backend's pinned staging — replacing *batch; nothing when it is in ctx. */
ssl3d_status task_batch_to(ssl3d_ctx *ctx, ssl3d_tensor **batch);
/* Reinterpret a freshly built, not yet recorded tensor with a new shape of the same
 * numel (no copy): e.g. a (B, K, C, p,p,p) batch of K-patch samples as (B*K, C, p,p,p). */
void task_view_as(ssl3d_tensor *t, int32_t ndim, const int64_t *shape);
/* Encoder bottleneck of x, globally average pooled: x (N, C, spatial) -> (N, C_b). */
ssl3d_status task_encode_pooled(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *x, int32_t training,
                                ssl3d_tensor **features);
/* logits (N, K), labels int32 (N): mean cross-entropy and the number of argmax hits. */
ssl3d_status task_classify(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels,
                           ssl3d_tensor **loss, int64_t *correct);
/* New int32 tensor (n) holding labels[0..n). */
ssl3d_status task_labels(ssl3d_ctx *ctx, const int32_t *labels, int64_t n, ssl3d_tensor **out);
/* The labels of s in ctx: the ones uploaded ahead (retained), else made from s->labels now. */
ssl3d_status task_samples_labels(ssl3d_ctx *ctx, const task_samples *s, ssl3d_tensor **out);
void task_samples_free(task_samples *s);

/* ---- samples made and uploaded ahead (pretraining's next batch, during the current step) */
typedef struct task_prefetch task_prefetch;
/* Whether the task's samples can be made ahead (its vtable has build/run). */
int task_can_prefetch(const ssl3d_task *t);
/* Check the arguments as ssl3d_task_forward does, make the samples of that call now and
 * begin their upload to ctx (ssl3d_upload_begin); the images may be released when this
 * returns. */
ssl3d_status task_prefetch_begin(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                 uint64_t seed, uint64_t index, int32_t training, task_prefetch **out);
/* ssl3d_task_forward of the call begun (same results); p is consumed, also on failure. */
ssl3d_status task_forward_prefetched(ssl3d_ctx *ctx, ssl3d_task *t, task_prefetch *p, ssl3d_tensor **loss,
                                     int64_t *correct, int64_t *total);
/* Forget a prefetch never run (NULL: nothing). */
void task_prefetch_drop(ssl3d_ctx *ctx, task_prefetch *p);
#endif
