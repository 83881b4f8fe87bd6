/* Private pieces of fine-tuning shared by src/finetune/finetune_*.c: the model struct, the
 * small host-side metrics (until ssl3d/metrics.h lands) and the training data cache. */
#ifndef SSL3D_FINETUNE_INTERNAL_H
#define SSL3D_FINETUNE_INTERNAL_H
#include "../core/internal.h"
#include "ssl3d/finetune.h"

struct ssl3d_ftmodel {
    ssl3d_ctx *ctx;
    int32_t kind, dims, in_channels, classes, filters, levels, norm, hidden, ordinal;
    int32_t patch, input_norm;
    int32_t tta;                 /* test-time mirroring (runtime setting, not saved) */
    ssl3d_module *encoder;
    ssl3d_module *head;          /* decoder (segment) or MLP (classify) */
};

/* Norm kind names "batch", "group", "instance", "none"; -1 when unknown. */
const char *ft_norm_name(int32_t norm);
int32_t ft_norm_parse(const char *s);
const char *ft_input_norm_name(int32_t n);
int32_t ft_input_norm_parse(const char *s);

/* Seeded permutation of 0..n-1 (Fisher-Yates on a Philox stream keyed by seed). */
void ft_permutation(uint64_t seed, uint64_t stream, int64_t n, int64_t *perm);

/* Copy of every tensor value of the model (to keep the best weights). */
typedef struct ft_snapshot {
    int32_t n;
    float **values;     /* float32 and int32 both stored as 4-byte words */
    int64_t *numel;
} ft_snapshot;
ssl3d_status ft_snapshot_take(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ft_snapshot *s);
ssl3d_status ft_snapshot_restore(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ft_snapshot *s);
void ft_snapshot_free(ft_snapshot *s);

/* Result construction (finetune_eval.c). */
struct ssl3d_ftresult {
    int32_t kind, classes;
    int64_t cases;
    double *dice_mean, *dice_sd;    /* classes entries, [0] unused */
    double dice_all, dice_all_sd;
    double accuracy, auc, qwk;
    char *json;
};
ssl3d_status ft_result_finish(ssl3d_ctx *ctx, ssl3d_ftresult *r);

/* ssl3d_ftmodel_segment without test-time mirroring (finetune_infer.c). */
ssl3d_status ft_segment_plain(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window, float overlap,
                              ssl3d_tensor **probs, ssl3d_tensor **labels);

/* finetune_eval.c helpers shared with training. */
int32_t ft_auto_window(const ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window);
/* Read and prepare case i: image (optional out), x (C,D,H,W), and the label map
 * (segment, int32 (D,H,W)) or the class label (classify). */
ssl3d_status ft_load_case(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_manifest *man, int64_t i,
                          ssl3d_image **img_out, ssl3d_tensor **x, ssl3d_tensor **label_map, int32_t *label);
/* Segment a prepared volume and write Dice per foreground class into dice[1..K). */
ssl3d_status ft_segment_case(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_tensor *x, const ssl3d_tensor *truth,
                             int32_t window, float overlap, double *dice, ssl3d_tensor **pred_out);
ssl3d_status ft_class_metrics(ssl3d_ctx *ctx, const float *probs, const int32_t *pred, const int32_t *truth, int64_t n,
                              int32_t K, double *acc, double *auc, double *qwk);
/* SSL3D_ERR_UNSUPPORTED naming fn and the backend unless ctx keeps tensors in host memory:
 * fine-tuning still builds its batches and reads its predictions in host memory
 * (docs/cuda.md, "Not done yet"), so a device context is refused up front, cleanly. */
ssl3d_status ft_need_host(ssl3d_ctx *ctx, const char *fn);
ssl3d_status ft_classify_many(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *const *xs, int64_t n, float *probs,
                              int32_t *pred);
#endif
