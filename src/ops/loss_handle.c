/* Loss handles: a loss kind plus its settings, evaluated with ssl3d_loss_forward on
 * top of the functional loss ops. */
#include <math.h>
#include <stdlib.h>
#include "loss_common.h"

#define LOSS_NPARAM 5

struct ssl3d_loss {
    ssl3d_ctx *ctx;
    int32_t kind;
    float param[LOSS_NPARAM];
};

static const char *const kind_names[] = { "cross_entropy", "bce_with_logits", "infonce", "ntxent",
                                          "triplet", "triplet_batch_hard", "soft_dice", "dice_ce" };
static const int32_t kind_inputs[] = { 2, 2, 3, 1, 3, 1, 2, 2 };
#define LOSS_NKIND ((int32_t)(sizeof kind_inputs / sizeof kind_inputs[0]))

/* Which settings each kind reads (bit p = parameter p). */
static int uses_param(int32_t kind, int32_t p) {
    switch (p) {
    case SSL3D_LOSS_PARAM_TEMPERATURE: return kind == SSL3D_LOSS_INFONCE || kind == SSL3D_LOSS_NTXENT;
    case SSL3D_LOSS_PARAM_MARGIN: return kind == SSL3D_LOSS_TRIPLET || kind == SSL3D_LOSS_TRIPLET_BATCH_HARD;
    case SSL3D_LOSS_PARAM_NUM_CLASSES:
        return kind == SSL3D_LOSS_CROSS_ENTROPY || kind == SSL3D_LOSS_SOFT_DICE || kind == SSL3D_LOSS_DICE_CE;
    case SSL3D_LOSS_PARAM_DICE_WEIGHT:
    case SSL3D_LOSS_PARAM_CE_WEIGHT: return kind == SSL3D_LOSS_DICE_CE;
    default: return 0;
    }
}

ssl3d_status ssl3d_loss_create(ssl3d_ctx *ctx, int32_t kind, ssl3d_loss **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_loss_create: out is NULL");
    SSL3D_CHECK_ARG(ctx, kind >= 0 && kind < LOSS_NKIND, "ssl3d_loss_create: unknown loss kind %d (0..%d)", (int)kind,
                    (int)LOSS_NKIND - 1);
    ssl3d_loss *l = calloc(1, sizeof *l);
    if (!l) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_loss_create: out of memory");
    l->ctx = ctx;
    l->kind = kind;
    l->param[SSL3D_LOSS_PARAM_TEMPERATURE] = 0.1f;
    l->param[SSL3D_LOSS_PARAM_MARGIN] = 1.0f;
    l->param[SSL3D_LOSS_PARAM_NUM_CLASSES] = 0.0f;
    l->param[SSL3D_LOSS_PARAM_DICE_WEIGHT] = 1.0f;
    l->param[SSL3D_LOSS_PARAM_CE_WEIGHT] = 1.0f;
    *out = l;
    return SSL3D_OK;
}

void ssl3d_loss_release(ssl3d_loss *loss) { free(loss); }

ssl3d_status ssl3d_loss_set_param(ssl3d_ctx *ctx, ssl3d_loss *loss, int32_t param, float value) {
    static const char fn[] = "ssl3d_loss_set_param";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, loss, "%s: loss is NULL", fn);
    SSL3D_CHECK_ARG(ctx, loss->ctx == ctx, "%s: loss belongs to another context", fn);
    SSL3D_CHECK_ARG(ctx, param >= 0 && param < LOSS_NPARAM, "%s: unknown parameter %d", fn, (int)param);
    SSL3D_CHECK_ARG(ctx, uses_param(loss->kind, param), "%s: a %s loss has no parameter %d", fn,
                    kind_names[loss->kind], (int)param);
    switch (param) {
    case SSL3D_LOSS_PARAM_TEMPERATURE: SSL3D_CHECK(loss_check_positive(ctx, fn, "temperature", value, 0)); break;
    case SSL3D_LOSS_PARAM_MARGIN: SSL3D_CHECK(loss_check_positive(ctx, fn, "margin", value, 1)); break;
    case SSL3D_LOSS_PARAM_NUM_CLASSES:
        SSL3D_CHECK_ARG(ctx, value >= 0 && value <= 16777216.0f && value == floorf(value),
                        "%s: num_classes must be a whole number >= 0, got %g", fn, (double)value);
        break;
    default:
        SSL3D_CHECK_ARG(ctx, isfinite(value), "%s: weight must be finite, got %g", fn, (double)value);
    }
    loss->param[param] = value;
    return SSL3D_OK;
}

float ssl3d_loss_param_value(const ssl3d_loss *loss, int32_t param) {
    if (!loss || param < 0 || param >= LOSS_NPARAM) return NAN;
    return loss->param[param];
}

int32_t ssl3d_loss_kind_of(const ssl3d_loss *loss) { return loss ? loss->kind : -1; }
int32_t ssl3d_loss_num_inputs(const ssl3d_loss *loss) { return loss ? kind_inputs[loss->kind] : 0; }

ssl3d_status ssl3d_loss_forward(ssl3d_ctx *ctx, const ssl3d_loss *loss, ssl3d_tensor *const *inputs,
                                int32_t n_inputs, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_loss_forward";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, loss, "%s: loss is NULL", fn);
    SSL3D_CHECK_ARG(ctx, loss->ctx == ctx, "%s: loss belongs to another context", fn);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, inputs, "%s: inputs is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_inputs == kind_inputs[loss->kind], "%s: a %s loss takes %d inputs, got %d", fn,
                    kind_names[loss->kind], (int)kind_inputs[loss->kind], (int)n_inputs);
    const float *p = loss->param;
    int32_t K = (int32_t)p[SSL3D_LOSS_PARAM_NUM_CLASSES];
    if (K > 0 && uses_param(loss->kind, SSL3D_LOSS_PARAM_NUM_CLASSES)) {
        SSL3D_CHECK(ssl3d_check_f32(ctx, inputs[0], fn, "logits"));
        SSL3D_CHECK_SHAPE(ctx, inputs[0]->ndim >= 2 && inputs[0]->shape[1] == K,
                          "%s: the %s loss was configured for %d classes, logits have %lld", fn,
                          kind_names[loss->kind], (int)K, (long long)(inputs[0]->ndim >= 2 ? inputs[0]->shape[1] : 0));
    }
    switch (loss->kind) {
    case SSL3D_LOSS_CROSS_ENTROPY: return ssl3d_cross_entropy(ctx, inputs[0], inputs[1], out);
    case SSL3D_LOSS_BCE_WITH_LOGITS: return ssl3d_bce_with_logits(ctx, inputs[0], inputs[1], out);
    case SSL3D_LOSS_INFONCE:
        return ssl3d_infonce(ctx, inputs[0], inputs[1], inputs[2], p[SSL3D_LOSS_PARAM_TEMPERATURE], out);
    case SSL3D_LOSS_NTXENT: return ssl3d_ntxent(ctx, inputs[0], p[SSL3D_LOSS_PARAM_TEMPERATURE], out);
    case SSL3D_LOSS_TRIPLET:
        return ssl3d_triplet(ctx, inputs[0], inputs[1], inputs[2], p[SSL3D_LOSS_PARAM_MARGIN], out);
    case SSL3D_LOSS_TRIPLET_BATCH_HARD: return ssl3d_triplet_batch_hard(ctx, inputs[0], p[SSL3D_LOSS_PARAM_MARGIN], out);
    case SSL3D_LOSS_SOFT_DICE: return ssl3d_soft_dice(ctx, inputs[0], inputs[1], out);
    default:
        return loss_dice_ce_weighted(ctx, inputs[0], inputs[1], p[SSL3D_LOSS_PARAM_DICE_WEIGHT],
                                     p[SSL3D_LOSS_PARAM_CE_WEIGHT], out);
    }
}
