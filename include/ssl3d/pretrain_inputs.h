/*
 * ssl3d/pretrain_inputs.h — the inputs of ssl3d_pretrain_run prepared as `ssl3d pretrain`
 * prepares them, in one call. Included by <ssl3d.h>.
 *
 * From a manifest and a task name, ssl3d_pretrain_inputs_create makes:
 *   - the training loader (ssl3d/loader.h): the manifest's train split, optionally
 *     restricted to some of its cases, in 3D (volumes) or 2D (axial slices), with a seeded
 *     fraction of the images held out; every image normalised whole (z-score over its
 *     non-zero voxels, min-max, or none), optionally resampled, never cropped to its
 *     non-zero box (the tasks place their crops in the foreground themselves), and padded
 *     to the task's minimum size: input_size for CPC and exemplar, which cut a whole
 *     window, 1 for the others; batches of `batch` images shuffled under `seed`;
 *   - the task (ssl3d/pretrain.h) for the channel count of the first training image
 *     (read once to learn it), with the given options;
 *   - the batch: config.batch, or when 0 the task's default for dims (docs/tasks.md, "Cost
 *     per step"): rotation 8 / 32 (3D / 2D), rpl 16 / 32, jigsaw 8 / 16, cpc 4 / 16,
 *     exemplar 8 / 16;
 *   - the steps per epoch, ceil(training items / batch);
 *   - the held-out images for the proxy accuracy: at most val_max of them, evenly spaced
 *     over the held-out items (items i * n / val_max when there are n > val_max), prepared
 *     as the training images. A data set of a single image cannot be split: then there are
 *     none and ssl3d_pretrain_inputs_unsplit says so (the CLI and Python warn).
 * ssl3d_pretrain_inputs_fill_config then puts them into a ssl3d_pretrain_config, so that
 *
 *     ssl3d_ctx_set_seed(ctx, seed);               // the task's initial weights
 *     ssl3d_pretrain_inputs_config_init(&ic);      // + manifest, dims, task, seed, ...
 *     ssl3d_pretrain_inputs_create(ctx, &ic, &in);
 *     ssl3d_pretrain_config_init(&pc);             // + steps (or epochs x steps per epoch), out, ...
 *     ssl3d_pretrain_inputs_fill_config(ctx, in, &pc);
 *     ssl3d_pretrain_run(ctx, ssl3d_pretrain_inputs_task(in), &pc, log, user);
 *     ssl3d_pretrain_inputs_release(in);
 *
 * is `ssl3d pretrain` with the same options, bitwise (same thread count): the CLI and
 * Python's ssl3d.pretrain are exactly these calls. The library never prints; nothing here
 * changes ctx (its seed, threads or RNG streams are the caller's; creating the task draws
 * its weights from ctx's RNG, as ssl3d_task_create does).
 *
 * Data-parallel (a communicator on ctx, ssl3d/comm.h): every rank makes the same call.
 * Each rank decodes its own share of a batch inside ssl3d_pretrain_run, not the whole batch
 * ahead, so the loader gets no worker threads (config.loader_threads is ignored); only
 * rank 0 evaluates, so only rank 0 reads held-out images (the others have none).
 */
#ifndef SSL3D_PRETRAIN_INPUTS_H
#define SSL3D_PRETRAIN_INPUTS_H
#include "core.h"
#include "pretrain.h"
#include "loader.h"
#include "pretrain_run.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Version of the ssl3d_pretrain_inputs_config layout (as SSL3D_PRETRAIN_CONFIG_VERSION). */
#define SSL3D_PRETRAIN_INPUTS_CONFIG_VERSION 1

typedef struct ssl3d_pretrain_inputs_config {
    uint32_t size;                  /* sizeof(ssl3d_pretrain_inputs_config), set by _init */
    uint32_t version;               /* SSL3D_PRETRAIN_INPUTS_CONFIG_VERSION, set by _init */
    const char *manifest;           /* dataset.json (MSD) or CSV file,label,split [required] */
    /* Pretrain only on some cases of the manifest (ssl3d_loader_set_cases; the split is
     * redone over them): case indices cases[0..n_cases), or a file listing them as
     * ssl3d_ft_select_cases reads it (index, image path or file name per line; e.g. a
     * protocol's pool_cases.txt). At most one of the two [NULL: every case]. */
    const int64_t *cases;
    int64_t n_cases;
    const char *cases_file;
    int32_t dims;                   /* 3: volumes, 2: axial slices [required] */
    int32_t batch;                  /* images per step [0: the task's default for dims] */
    const char *task;               /* "rotation", "rpl", "jigsaw", "cpc" or "exemplar" [required] */
    const char *options;            /* task options "key=value,..." (ssl3d_task_create) [NULL] */
    uint64_t seed;                  /* seed of the batch shuffle and, in fill_config, of the samples [0] */
    const char *normalisation;      /* per image: "zscore" (over the non-zero voxels), "minmax"
                                     * (to [0, 1], for binary masks) or "none" ["zscore"] */
    double spacing[3];              /* resample to this voxel spacing (D, H, W) in mm; an entry
                                     * <= 0 keeps that axis [0, 0, 0: no resampling] */
    int32_t loader_threads;         /* image decoding threads ahead of training, 0..64 [1] */
    double val_fraction;            /* held-out fraction of the images, 0 <= f < 1 [0.1] */
    uint64_t split_seed;            /* seed of the train / held-out split [0] */
    int64_t val_max;                /* use at most this many held-out images, >= 0 [256] */
    /* Context of the loaders and the held-out images [NULL: ctx]. With a device backend
     * pass a CPU context (the images are decoded and cut into samples in host memory, and
     * ssl3d_pretrain_run uploads the samples): ssl3d_pretrain_config.data_ctx. */
    ssl3d_ctx *data_ctx;
} ssl3d_pretrain_inputs_config;

/* Set the defaults in brackets above, zero the rest, and fill size and version. */
SSL3D_API void ssl3d_pretrain_inputs_config_init(ssl3d_pretrain_inputs_config *cfg);

/* The prepared inputs: owns the training loader, the task and the held-out images. */
typedef struct ssl3d_pretrain_inputs ssl3d_pretrain_inputs;

/* Prepare the inputs of the file comment (the task in ctx; loaders and images in
 * config.data_ctx). Errors are on ctx and start with "ssl3d_pretrain_inputs_create:
 * config.<field>" naming the field at fault (and its value where it is a path, a name or
 * options), then the reason, e.g. "...: config.manifest /data/x.json: ssl3d_loader_create:
 * ...: cannot open", "...: config.options 'filters=4,bogus=1': ...", "...: config.dims = 4,
 * want 2 or 3". Unreadable or malformed files give SSL3D_ERR_IO / SSL3D_ERR_FORMAT, bad
 * values, unknown cases and unknown task options SSL3D_ERR_INVALID_ARG. On error *out is
 * NULL and nothing is left allocated. */
SSL3D_API ssl3d_status ssl3d_pretrain_inputs_create(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs_config *cfg,
                                                    ssl3d_pretrain_inputs **out);
/* Release the loader, the task and the held-out images (before their contexts); NULL is
 * accepted. */
SSL3D_API void ssl3d_pretrain_inputs_release(ssl3d_pretrain_inputs *in);

/* Queries (0 / NULL for NULL). Returned handles are borrowed: valid until the release. */
/* The task to train (its weights change in place when trained). */
SSL3D_API ssl3d_task *ssl3d_pretrain_inputs_task(const ssl3d_pretrain_inputs *in);
/* The training loader (ssl3d_loader_set_batch done, options frozen). */
SSL3D_API ssl3d_loader *ssl3d_pretrain_inputs_loader(const ssl3d_pretrain_inputs *in);
/* Images per step: config.batch or the task's default. */
SSL3D_API int32_t ssl3d_pretrain_inputs_batch(const ssl3d_pretrain_inputs *in);
/* Training items: volumes in 3D, axial slices in 2D. */
SSL3D_API int64_t ssl3d_pretrain_inputs_train_count(const ssl3d_pretrain_inputs *in);
/* Steps per epoch: ceil(training items / batch). */
SSL3D_API int64_t ssl3d_pretrain_inputs_steps_per_epoch(const ssl3d_pretrain_inputs *in);
/* Smallest spatial size the images are padded up to (the task's input_size for CPC and
 * exemplar, else 1). */
SSL3D_API int64_t ssl3d_pretrain_inputs_min_size(const ssl3d_pretrain_inputs *in);
/* Number of held-out images (<= config.val_max; 0 without a held-out fraction, for a
 * single image, and on ranks other than 0). */
SSL3D_API int64_t ssl3d_pretrain_inputs_val_count(const ssl3d_pretrain_inputs *in);
/* Held-out image i, 0 <= i < val_count: (C,D,H,W) in 3D, (C,H,W) in 2D; NULL out of range. */
SSL3D_API ssl3d_tensor *ssl3d_pretrain_inputs_val_image(const ssl3d_pretrain_inputs *in, int64_t i);
/* The file held-out image i was read from and its axial slice in *slice (2D; -1 in 3D;
 * slice may be NULL), as ssl3d_loader_item_path says for a training item; NULL out of
 * range. Errors of ssl3d_pretrain_run name images by their position (held-out image i,
 * or batch position k of a step: ssl3d_loader_batch_indices); with these a caller names
 * the file (`ssl3d pretrain` does). */
SSL3D_API const char *ssl3d_pretrain_inputs_val_path(const ssl3d_pretrain_inputs *in, int64_t i, int64_t *slice);
/* 1 when config.val_fraction > 0 but the data set is a single image, which cannot be
 * split: there are no held-out images and so no proxy accuracy (the CLI warns); else 0. */
SSL3D_API int32_t ssl3d_pretrain_inputs_unsplit(const ssl3d_pretrain_inputs *in);

/* Set the fields of a ssl3d_pretrain_config (initialised with ssl3d_pretrain_config_init)
 * that come from the inputs: loader (batch_fn and batch_user cleared), batch, seed
 * (config.seed: the samples' seed), val and n_val, steps_per_epoch and data_ctx. The other
 * fields (steps, out, lr, ...) are the caller's. A config of another layout is
 * SSL3D_ERR_INVALID_ARG, as in ssl3d_pretrain_run. */
SSL3D_API ssl3d_status ssl3d_pretrain_inputs_fill_config(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs *in,
                                                         ssl3d_pretrain_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_PRETRAIN_INPUTS_H */
