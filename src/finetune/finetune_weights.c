/* Class-weighted loss for classification fine-tuning (class_weights=auto|W0:W1:...):
 * parsing the option, the automatic weights of a training subset, and the loss itself.
 *
 * The loss is (1/N) sum_n w[y_n] L_n over the N samples of a batch, L_n the sample's own
 * loss (softmax cross-entropy, or the mean BCE of its K-1 sigmoids for ordinal models).
 * PyTorch's CrossEntropyLoss(weight=) divides by sum_n w[y_n] instead; dividing by N keeps
 * the data-parallel shards exact (each rank's mean over its equal share, then averaged)
 * and, with the automatic weights, makes the expected loss the mean over classes of each
 * class's mean loss. It is built from differentiable ops (one row at a time), so no new
 * backward is needed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "finetune_recipe.h"

int ft_class_weights_parse(const char *v, int32_t max, double *w) {
    int32_t n = 0;
    int any = 0;
    const char *p = v;
    if (!*p) return -1;
    for (;;) {
        char *end = NULL;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x) || x < 0 || x > 1e6) return -1;
        if (n >= max) return -1;
        if (w) w[n] = x;
        any |= x > 0;
        n++;
        if (*end == 0) break;
        if (*end != ':') return -1;
        p = end + 1;
    }
    return any ? n : -1;
}

void ft_class_weights_auto(const int32_t *cls, int64_t n, int32_t K, double *w) {
    int32_t present = 0;
    int64_t total = 0;
    for (int32_t k = 0; k < K; k++) w[k] = 0;
    for (int64_t i = 0; i < n; i++)
        if (cls[i] >= 0 && cls[i] < K) { w[cls[i]] += 1; total++; }
    for (int32_t k = 0; k < K; k++) present += w[k] > 0;
    /* n / (classes present x count): the mean weight over the training samples is 1; a
     * class absent from the subset never occurs as a label and gets 0. */
    for (int32_t k = 0; k < K; k++) w[k] = w[k] > 0 ? (double)total / ((double)present * w[k]) : 0.0;
}

ssl3d_status ft_weighted_loss(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_tensor *logits, const ssl3d_tensor *labels,
                              const double *w, ssl3d_tensor **loss) {
    const int64_t N = labels->numel;
    SSL3D_CHECK_SHAPE(ctx, logits->ndim == 2 && logits->shape[0] == N && N >= 1,
                      "ssl3d_ft_train: class-weighted loss needs logits (N, K) for N labels");
    int32_t *y = malloc((size_t)N * sizeof *y);
    if (!y) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    ssl3d_status st = ssl3d_tensor_read(ctx, labels, y, N * 4);
    for (int64_t n = 0; n < N && st == SSL3D_OK; n++)
        if (y[n] < 0 || y[n] >= m->classes)
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: label %d of sample %lld is outside [0,%d)",
                                 (int)y[n], (long long)n, (int)m->classes);
    ssl3d_tensor *acc = NULL;
    for (int64_t n = 0; n < N && st == SSL3D_OK; n++) {
        ssl3d_tensor *row = NULL, *lab = NULL, *ln = NULL, *sum = NULL;
        const int64_t one = 1;
        st = ssl3d_narrow(ctx, logits, 0, n, 1, &row);
        if (st == SSL3D_OK) st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &one, &y[n], &lab);
        if (st == SSL3D_OK) st = ssl3d_ftmodel_loss(ctx, m, row, lab, &ln);
        const float wn = (float)(w[y[n]] / (double)N);
        if (st == SSL3D_OK) st = acc ? ssl3d_axpby(ctx, 1.0f, acc, wn, ln, &sum) : ssl3d_axpby(ctx, wn, ln, 0.0f, ln, &sum);
        ssl3d_tensor_release(row); ssl3d_tensor_release(lab); ssl3d_tensor_release(ln);
        ssl3d_tensor_release(acc);
        acc = st == SSL3D_OK ? sum : NULL;
        if (st != SSL3D_OK) ssl3d_tensor_release(sum);
    }
    free(y);
    if (st != SSL3D_OK) { ssl3d_tensor_release(acc); return st; }
    *loss = acc;
    return SSL3D_OK;
}
