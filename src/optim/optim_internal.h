/* Private structure of the optimiser handle, shared by the files of src/optim. */
#ifndef SSL3D_OPTIM_INTERNAL_H
#define SSL3D_OPTIM_INTERNAL_H
#include "../core/internal.h"
#include "../backend/optim_kernels.h"

#define OPTIM_NAME_CAP 40

typedef struct optim_group {
    int32_t id;
    int32_t frozen;
    float lr_scale;
} optim_group;

typedef struct optim_param {
    ssl3d_tensor *p;          /* retained */
    int32_t group;            /* group id */
    ssl3d_tensor *buf[2];     /* SGD: momentum (or NULL); Adam: m, v */
    ssl3d_tensor *step;       /* Adam: int32 (1) per-parameter step count; else NULL */
} optim_param;

typedef struct optim_state_entry {
    char name[OPTIM_NAME_CAP];
    ssl3d_tensor *t;          /* borrowed from the params / the optimiser */
} optim_state_entry;

struct ssl3d_optim {
    ssl3d_ctx *ctx;
    int32_t kind;
    float lr, momentum, weight_decay, beta1, beta2, eps;
    int32_t nesterov;
    ssl3d_tensor *step;       /* int32 (1): "optim.step" */
    optim_param *params;
    int32_t n_params, cap_params;
    optim_group *groups;
    int32_t n_groups, cap_groups;
    optim_state_entry *state; /* rebuilt when parameters are added */
    int32_t n_state;
};

/* The group record for id, created (unfrozen, scale 1) when `create`; NULL if absent
 * or out of memory (error set when ctx is given). */
optim_group *optim_group_get(ssl3d_ctx *ctx, ssl3d_optim *opt, int32_t id, int create);
/* Rebuild opt->state from the parameters. */
ssl3d_status optim_state_rebuild(ssl3d_ctx *ctx, ssl3d_optim *opt);
/* Read / write a one-element int32 tensor. */
int32_t optim_read_i32(ssl3d_ctx *ctx, const ssl3d_tensor *t);
void optim_write_i32(ssl3d_ctx *ctx, ssl3d_tensor *t, int32_t v);
/* Argument check shared by the entry points. */
ssl3d_status optim_check(ssl3d_ctx *ctx, const ssl3d_optim *opt, const char *fn);
#endif
