/*
 * pretrain — `ssl3d pretrain` from C: the inputs prepared by ssl3d_pretrain_inputs_create
 * (the loader of the manifest, the task, the task's default batch, the held-out images),
 * then the loop ssl3d_pretrain_run. The same arguments give the losses of
 *
 *   ssl3d pretrain --task TASK --dims DIMS --data MANIFEST --out OUT --steps STEPS \
 *                  --threads THREADS [--opt OPTIONS] --log ...
 *
 * bitwise (python/tests/test_examples.py checks it). Usage:
 *
 *   ./bin/pretrain MANIFEST TASK DIMS OUT [STEPS [THREADS [OPTIONS]]]
 *
 * Every log record of the loop is printed as it comes (one JSON object per line).
 */
#include <stdio.h>
#include <stdlib.h>
#include "ssl3d.h"

static int32_t print_record(void *user, const char *json) {
    (void)user;
    printf("%s\n", json);
    return 0;   /* go on */
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MANIFEST TASK DIMS OUT [STEPS [THREADS [OPTIONS]]]\n", argv[0]);
        return 2;
    }
    const uint64_t seed = 0;
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) { fprintf(stderr, "no CPU context\n"); return 1; }
    if (argc > 6) ssl3d_ctx_set_threads(ctx, atoi(argv[6]));
    ssl3d_ctx_set_seed(ctx, seed);   /* the task's initial weights, as the CLI's --seed */

    ssl3d_pretrain_inputs_config ic;
    ssl3d_pretrain_inputs_config_init(&ic);   /* the CLI's defaults: zscore, 10% held out, ... */
    ic.manifest = argv[1];
    ic.task = argv[2];
    ic.dims = atoi(argv[3]);
    ic.options = argc > 7 ? argv[7] : NULL;
    ic.seed = seed;
    ssl3d_pretrain_inputs *in = NULL;
    int rc = 0;
    if (ssl3d_pretrain_inputs_create(ctx, &ic, &in) != SSL3D_OK) {
        fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx));   /* names the config field at fault */
        rc = 1;
    } else {
        if (ssl3d_pretrain_inputs_unsplit(in)) fprintf(stderr, "warning: one image: no held-out proxy accuracy\n");
        fprintf(stderr, "%lld training items, batch %d, %lld held out\n",
                (long long)ssl3d_pretrain_inputs_train_count(in), (int)ssl3d_pretrain_inputs_batch(in),
                (long long)ssl3d_pretrain_inputs_val_count(in));
        ssl3d_pretrain_config pc;
        ssl3d_pretrain_config_init(&pc);   /* lr 1e-3, constant schedule, 4 evaluation rounds */
        pc.steps = argc > 5 ? atoll(argv[5]) : ssl3d_pretrain_inputs_steps_per_epoch(in) * 10;   /* --epochs 10 */
        pc.out = argv[4];
        if (ssl3d_pretrain_inputs_fill_config(ctx, in, &pc) != SSL3D_OK ||
            ssl3d_pretrain_run(ctx, ssl3d_pretrain_inputs_task(in), &pc, print_record, NULL) != SSL3D_OK) {
            fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx));
            rc = 1;
        }
    }
    ssl3d_pretrain_inputs_release(in);   /* the loader, the task, the held-out images */
    ssl3d_ctx_release(ctx);
    return rc;
}
