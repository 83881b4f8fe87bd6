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

typedef struct task_vtable {
    const char *name;
    /* Default options for dims (written with task_opt_default before parsing the user's). */
    void (*defaults)(ssl3d_task *t);
    /* Create the heads (task_add_module) and any state (t->impl) from the resolved
     * options; the encoder exists already. Sets t->chance. */
    ssl3d_status (*init)(ssl3d_ctx *ctx, ssl3d_task *t);
    /* See ssl3d_task_forward. */
    ssl3d_status (*forward)(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                            uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **loss,
                            int64_t *correct, int64_t *total);
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
    void *impl;
};

extern const task_vtable task_rotation_vtable;
extern const task_vtable task_rpl_vtable;
extern const task_vtable task_jigsaw_vtable;
extern const task_vtable task_cpc_vtable;
extern const task_vtable task_exemplar_vtable;

/* Options: defaults are set by vt->defaults; lookups of unknown keys return `fallback`. */
void task_opt_default(ssl3d_task *t, const char *key, double value);
double task_opt(const ssl3d_task *t, const char *key);
int32_t task_opt_int(const ssl3d_task *t, const char *key);
/* Register a head module under `name` (the task takes ownership). */
ssl3d_status task_add_module(ssl3d_task *t, ssl3d_module *m, const char *name);
#endif
