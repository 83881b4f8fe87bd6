/*
 * ssl3d/loader.h — a dataset of decoded, preprocessed images cached in host memory and
 * a deterministic, prefetching batch iterator for pretraining.
 *
 * Images come from a manifest (the cases of its `train` split: MSD "training"/imagesTr,
 * CSV rows with split = train; labels are not read) or from a list of files. Each image
 * (a "volume") is read once (ssl3d_manifest_case_read / ssl3d_image_read), preprocessed
 * and kept in memory:
 *   1. optional resampling to a target voxel spacing (ssl3d_resample_spacing, linear);
 *   2. z-score per channel over the non-zero voxels (ssl3d_normalize_zscore);
 *   3. optional crop to the non-zero bounding box (ssl3d_crop_to_nonzero);
 *   4. centred zero padding so that every spatial size is at least `min_size`
 *      (the task's input size), so tasks can always take their crops inside.
 * In 3D every volume is one item, a float32 (C,D,H,W) tensor. In 2D every axial slice
 * (index along D) of every volume is one item, a float32 (C,H,W) tensor.
 *
 * Train / validation split: with a validation fraction f > 0, round(f * n) of the n
 * volumes (at least 1, at most n - 1, none when n = 1) are held out, chosen by a Philox
 * shuffle of the volume indices under `split_seed`. The subset of a loader
 * (SSL3D_LOADER_TRAIN, SSL3D_LOADER_VAL, SSL3D_LOADER_ALL) picks which volumes it uses;
 * two loaders with the same fraction and split seed are complementary.
 *
 * Batches: the item sequence is the concatenation of epoch permutations (epoch e is a
 * Philox shuffle of the items under (seed, e)); batch b is positions [b*B, (b+1)*B) of
 * it (so a batch may span two epochs, and a dataset smaller than B repeats items).
 * Which items a batch holds depends only on (seed, b, number of items, B): never on the
 * number of threads or on timing. Worker threads (pthreads, each with a private
 * single-threaded context) decode and preprocess the volumes of the next `queue_depth`
 * batches ahead of the consumer; the consumer waits only for volumes not ready yet.
 * Preprocessing runs single-threaded per volume, so cached values do not depend on the
 * number of workers either. In 2D all volumes are decoded at the first query (the slice
 * count must be known), in parallel on the workers.
 *
 * Options are set after create and before the first query (count, item, batch):
 * afterwards they return SSL3D_ERR_STATE. A loader is used from one thread (the one
 * owning `ctx`); its workers are internal. Errors name the file at fault.
 */
#ifndef SSL3D_LOADER_H
#define SSL3D_LOADER_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ssl3d_loader ssl3d_loader;

/* Subsets of the volumes (see the split above). */
enum { SSL3D_LOADER_TRAIN = 0, SSL3D_LOADER_VAL = 1, SSL3D_LOADER_ALL = 2 };

/* Preprocessing flags (ssl3d_loader_set_preprocess); default ZSCORE | CROP_NONZERO.
 * ZSCORE: per channel over the non-zero voxels (ssl3d_normalize_zscore); MINMAX: per
 * channel to [0, 1] (ssl3d_normalize_minmax) -- for binary masks such as AdrenalMNIST3D,
 * which a z-score over non-zero voxels maps to all zeros. At most one of the two. */
enum { SSL3D_LOADER_ZSCORE = 1, SSL3D_LOADER_CROP_NONZERO = 2, SSL3D_LOADER_MINMAX = 4 };

/* Loader over the train-split cases of a manifest (ssl3d_manifest_load; a case with
 * several image files gives a multi-channel volume). `subset`: SSL3D_LOADER_*. The
 * files are checked to exist now (SSL3D_ERR_IO naming the first missing one); an empty
 * train split is SSL3D_ERR_INVALID_ARG naming the manifest. Defaults: dims 3, batch 1,
 * seed 0, validation fraction 0.1 with split seed 0, 0 worker threads (the consumer
 * decodes), queue depth 2, z-score and crop to non-zero, no resampling, min_size 1. */
SSL3D_API ssl3d_status ssl3d_loader_create(ssl3d_ctx *ctx, const char *manifest_path, int32_t subset,
                                           ssl3d_loader **out);
/* Loader over `n` >= 1 image files (NIfTI or PNG), one volume each; same defaults. */
SSL3D_API ssl3d_status ssl3d_loader_create_files(ssl3d_ctx *ctx, const char *const *paths, int32_t n,
                                                 int32_t subset, ssl3d_loader **out);
/* Stop the workers and free everything; NULL is accepted. Tensors handed out stay valid
 * (they are copies in the caller's context). */
SSL3D_API void ssl3d_loader_release(ssl3d_loader *loader);

/* ---------------------------------------------------------------- options */

/* dims = 3 (volumes) or 2 (axial slices). */
SSL3D_API ssl3d_status ssl3d_loader_set_dims(ssl3d_ctx *ctx, ssl3d_loader *loader, int32_t dims);
/* Held-out fraction 0 <= f < 1 of the volumes and the seed of the split. */
SSL3D_API ssl3d_status ssl3d_loader_set_split(ssl3d_ctx *ctx, ssl3d_loader *loader, double val_fraction,
                                              uint64_t split_seed);
/* Manifest loaders: restrict the volumes to the manifest cases cases[0..n) (0-based case
 * indices, each in the manifest's training split, none twice; e.g. from
 * ssl3d_ft_select_cases), in this order, and redo the train/validation split over them
 * (as if the manifest listed only these cases). Used to pretrain on a protocol's training
 * pool without its test cases. On error the loader keeps its previous cases. */
SSL3D_API ssl3d_status ssl3d_loader_set_cases(ssl3d_ctx *ctx, ssl3d_loader *loader, const int64_t *cases,
                                              int64_t n);
/* Batch size B >= 1 and the shuffling seed. */
SSL3D_API ssl3d_status ssl3d_loader_set_batch(ssl3d_ctx *ctx, ssl3d_loader *loader, int32_t batch,
                                              uint64_t seed);
/* The batch size set by ssl3d_loader_set_batch (0 before it; 0 for NULL). */
SSL3D_API int32_t ssl3d_loader_batch_size(const ssl3d_loader *loader);
/* Worker threads 0..64 (0: everything on the calling thread) and how many batches ahead
 * of the consumer they work, queue_depth 1..64. */
SSL3D_API ssl3d_status ssl3d_loader_set_threads(ssl3d_ctx *ctx, ssl3d_loader *loader, int32_t threads,
                                                int32_t queue_depth);
/* flags: SSL3D_LOADER_ZSCORE or SSL3D_LOADER_MINMAX, | SSL3D_LOADER_CROP_NONZERO (or 0);
 * ZSCORE and MINMAX together are SSL3D_ERR_INVALID_ARG. min_size >= 1: every
 * spatial size (H, W in 2D) is padded up to at least this. spacing: NULL for none, else
 * target spacing (D, H, W) in mm (file spacing as ssl3d_image_spacing); an entry <= 0
 * keeps that axis. */
SSL3D_API ssl3d_status ssl3d_loader_set_preprocess(ssl3d_ctx *ctx, ssl3d_loader *loader, uint32_t flags,
                                                   int64_t min_size, const double *spacing);

/* ---------------------------------------------------------------- queries */

/* Number of volumes in the loader's subset (available right after create). */
SSL3D_API int64_t ssl3d_loader_num_volumes(const ssl3d_loader *loader);
/* Path of the (first) file of volume v of the subset, NULL when out of range. */
SSL3D_API const char *ssl3d_loader_volume_path(const ssl3d_loader *loader, int64_t v);
/* Path of the (first) file of item i and, when slice is not NULL, its axial slice (index
 * along D) in *slice: the slice in 2D, -1 in 3D (the item is the whole volume). NULL when
 * i is out of range or the items are not counted yet (before the first query). For
 * messages that name the file an item came from (`ssl3d pretrain`). */
SSL3D_API const char *ssl3d_loader_item_path(const ssl3d_loader *loader, int64_t i, int64_t *slice);
/* *count = number of items (volumes in 3D, slices in 2D). Freezes the options; in 2D
 * decodes every volume. */
SSL3D_API ssl3d_status ssl3d_loader_count(ssl3d_ctx *ctx, ssl3d_loader *loader, int64_t *count);
/* Batches per epoch, ceil(items / B), in *out. */
SSL3D_API ssl3d_status ssl3d_loader_batches_per_epoch(ssl3d_ctx *ctx, ssl3d_loader *loader, int64_t *out);
/* Item indices (0 <= i < count) of batch b >= 0, B entries into idx. Pure function. */
SSL3D_API ssl3d_status ssl3d_loader_batch_indices(ssl3d_ctx *ctx, ssl3d_loader *loader, int64_t b,
                                                  int64_t *idx);
/* Item i as a new float32 tensor in ctx: (C,D,H,W) in 3D, (C,H,W) in 2D. */
SSL3D_API ssl3d_status ssl3d_loader_item(ssl3d_ctx *ctx, ssl3d_loader *loader, int64_t i,
                                         ssl3d_tensor **out);
/* Batch b >= 0: B new tensors (one reference each, as ssl3d_loader_item) into images[0..B).
 * Also tells the workers to prepare batches b+1 .. b+queue_depth. On error nothing is
 * written and the message names the file at fault. */
SSL3D_API ssl3d_status ssl3d_loader_batch(ssl3d_ctx *ctx, ssl3d_loader *loader, int64_t b,
                                          ssl3d_tensor **images);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_LOADER_H */
