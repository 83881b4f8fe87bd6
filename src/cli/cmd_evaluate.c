/* `ssl3d evaluate`: metrics of a fine-tuned model, or of an ensemble of models (--model
 * repeated: probabilities averaged, as nnU-Net predicts with its cross-validation models),
 * on a manifest's labelled cases (segment: Dice per class per volume; classify: accuracy,
 * AUC, QWK), optionally writing the predicted masks as NIfTI in the source geometry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ssl3d.h"
#include "ssl3d/finetune.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_util.h"

#define MAX_MODELS 64

static void usage(FILE *f) {
    fprintf(f,
        "usage: ssl3d evaluate --model MODEL [--model MODEL ...] --data MANIFEST [--split test] [--json]\n"
        "                      [--predictions DIR]\n"
        "\n"
        "Evaluate a model written by `ssl3d finetune` on the labelled cases of a manifest:\n"
        "CSV: the named split (default test); MSD dataset.json: every labelled case (or --split\n"
        "val for an explicit \"validation\" list), or the cases listed in --cases FILE.\n"
        "With --model given several times, the models are evaluated as one ensemble, as nnU-Net\n"
        "predicts with its cross-validation models: the softmax probabilities of every model\n"
        "(each with its own sliding windows, and with --tta over its mirror images) averaged,\n"
        "then the argmax. The models must agree on kind, dims, input channels, classes and input\n"
        "normalisation; levels, filters and patch size may differ.\n"
        "\n"
        "  --model MODEL        model file from ssl3d finetune; repeat for an ensemble (at most %d)\n"
        "  --data MANIFEST      MSD dataset.json or CSV file,label,split\n"
        "  --split S            train, val, test or all (default test; for MSD, test and all mean\n"
        "                       every labelled case)\n"
        "  --cases FILE         evaluate the cases listed (one per line: index, image path or\n"
        "                       file name) instead of a split\n"
        "  --json               one JSON object on stdout: segmentation {\"dice\": {\"1\": m, ...},\n"
        "                       \"dice_sd\": {...}, \"dice_mean\": m, \"dice_mean_sd\": s, \"cases\": n}\n"
        "                       (means over volumes, background excluded); classification\n"
        "                       {\"accuracy\": a, \"auc\": a, \"qwk\": k, \"cases\": n}; an ensemble adds\n"
        "                       \"models\": n\n"
        "  --predictions DIR    write each predicted label map to DIR/<image file name> (NIfTI,\n"
        "                       geometry of the source image); DIR is created if needed\n"
        "  --window N           sliding-window size, a multiple of 2^levels (default: whole volume\n"
        "                       unless it is large, then the model's patch); 0 = whole volume\n"
        "  --overlap X          sliding-window overlap in [0,1) (default 0.5)\n"
        "  --tta                segmentation: test-time mirroring, softmax averaged over the volume\n"
        "                       and its mirror images along every axis combination (8 passes in\n"
        "                       3D, 4 for a 2D model), as nnU-Net; with an ensemble, every model's\n"
        "                       mirror images\n"
        "  --threads T          compute threads (default: all cores)\n"
        "  --backend cpu|cuda   where the model runs (default cpu); cuda needs the CUDA plugin, a\n"
        "                       driver and a device (`ssl3d info --backends`, docs/cuda.md); no\n"
        "                       fall-back to the CPU\n"
        "                       (the model runs there; images and metrics stay on the host)\n"
        "  --help               this text\n", MAX_MODELS);
}

/* Model file -> model; 1 (message printed) on failure. */
static int load_model(ssl3d_ctx *ctx, const char *path, ssl3d_ftmodel **out) {
    ssl3d_checkpoint *ck = NULL;
    if (ssl3d_checkpoint_load(ctx, path, &ck) != SSL3D_OK) {
        fprintf(stderr, "ssl3d evaluate: --model: %s\n", ssl3d_ctx_last_error(ctx));
        return 1;
    }
    int rc = 0;
    if (ssl3d_ftmodel_create_from_checkpoint(ctx, ck, out) != SSL3D_OK) {
        fprintf(stderr, "ssl3d evaluate: --model %s: %s\n", path, ssl3d_ctx_last_error(ctx));
        rc = 1;
    }
    ssl3d_checkpoint_release(ck);
    return rc;
}

/* The first setting in which two models of an ensemble differ and must not (the library
 * refuses them too, by index: here the message can name the files); NULL when none. */
static const char *model_difference(const ssl3d_ftmodel *a, const ssl3d_ftmodel *b) {
    if (ssl3d_ftmodel_kind(a) != ssl3d_ftmodel_kind(b)) return "kind";
    if (ssl3d_ftmodel_dims(a) != ssl3d_ftmodel_dims(b)) return "dims";
    if (ssl3d_ftmodel_in_channels(a) != ssl3d_ftmodel_in_channels(b)) return "input channels";
    if (ssl3d_ftmodel_classes(a) != ssl3d_ftmodel_classes(b)) return "classes";
    if (ssl3d_ftmodel_input_norm(a) != ssl3d_ftmodel_input_norm(b)) return "input normalisation";
    return NULL;
}

#define NEED_ARG() do { if (i + 1 >= argc) { fprintf(stderr, "ssl3d evaluate: option %s needs a value\n", a); return 2; } } while (0)

int cmd_evaluate(int argc, char **argv) {
    const char *model_files[MAX_MODELS], *data = NULL, *split_s = NULL, *cases_file = NULL, *pred_dir = NULL;
    const char *backend_name = "cpu";
    int json = 0, tta = 0, n_models = 0;
    long window = -1, threads = 0;
    double overlap = 0.5;
    static const char *const repeatable[] = { "--model", NULL };
    if (cli_reject_repeats("evaluate", argc, argv, repeatable)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model")) {
            NEED_ARG();
            if (n_models == MAX_MODELS) {
                fprintf(stderr, "ssl3d evaluate: --model given more than %d times\n", MAX_MODELS); return 2;
            }
            model_files[n_models++] = argv[++i];
        }
        else if (!strcmp(a, "--data")) { NEED_ARG(); data = argv[++i]; }
        else if (!strcmp(a, "--split")) { NEED_ARG(); split_s = argv[++i]; }
        else if (!strcmp(a, "--cases")) { NEED_ARG(); cases_file = argv[++i]; }
        else if (!strcmp(a, "--predictions")) { NEED_ARG(); pred_dir = argv[++i]; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--tta")) tta = 1;
        else if (!strcmp(a, "--backend")) { NEED_ARG(); backend_name = argv[++i]; }
        else if (!strcmp(a, "--window")) {
            NEED_ARG();
            window = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || window < 0 || window > 65536) {
                fprintf(stderr, "ssl3d evaluate: --window '%s' must be an integer >= 0\n", argv[i]); return 2;
            }
        } else if (!strcmp(a, "--overlap")) {
            NEED_ARG();
            overlap = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(overlap >= 0 && overlap < 1)) {
                fprintf(stderr, "ssl3d evaluate: --overlap '%s' must be a number in [0, 1)\n", argv[i]); return 2;
            }
        } else if (!strcmp(a, "--threads")) {
            NEED_ARG();
            threads = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || threads < 1 || threads > 1024) {
                fprintf(stderr, "ssl3d evaluate: --threads '%s' must be an integer in [1, 1024]\n", argv[i]); return 2;
            }
        } else {
            fprintf(stderr, "ssl3d evaluate: unknown %s '%s' (see ssl3d evaluate --help)\n",
                    a[0] == '-' ? "option" : "argument", a);
            return 2;
        }
    }
    if (!n_models || !data) {
        fprintf(stderr, "ssl3d evaluate: missing %s (usage: ssl3d evaluate --model MODEL --data MANIFEST ...)\n",
                !n_models ? "--model" : "--data");
        return 2;
    }
    int32_t split = SSL3D_SPLIT_TEST;
    if (split_s) {
        if (!strcmp(split_s, "train")) split = SSL3D_SPLIT_TRAIN;
        else if (!strcmp(split_s, "val") || !strcmp(split_s, "valid") || !strcmp(split_s, "validation")) split = SSL3D_SPLIT_VAL;
        else if (!strcmp(split_s, "test")) split = SSL3D_SPLIT_TEST;
        else if (!strcmp(split_s, "all")) split = -1;
        else { fprintf(stderr, "ssl3d evaluate: --split '%s': expected train, val, test or all\n", split_s); return 2; }
        if (cases_file) { fprintf(stderr, "ssl3d evaluate: give --split or --cases, not both\n"); return 2; }
    }
    ssl3d_ctx *ctx = NULL;
    int32_t backend = SSL3D_BACKEND_CPU;
    { int brc = cli_backend_parse("evaluate", backend_name, &backend); if (brc) return brc; }
    if (cli_backend_ctx("evaluate", backend, &ctx)) return 1;
    if (threads > 0) ssl3d_ctx_set_threads(ctx, (int32_t)threads);
    int rc = 1;
    ssl3d_ftmodel *ms[MAX_MODELS] = { NULL }, *m = NULL;
    ssl3d_manifest *man = NULL;
    ssl3d_ftresult *r = NULL;
    int64_t *cases = NULL, n = 0;
    for (int i = 0; i < n_models; i++) {
        if (load_model(ctx, model_files[i], &ms[i])) goto done;
        const char *diff = i ? model_difference(ms[0], ms[i]) : NULL;
        if (diff) {
            fprintf(stderr, "ssl3d evaluate: --model %s differs from --model %s in %s: the models of an ensemble must "
                    "agree on kind, dims, input channels, classes and input normalisation\n", model_files[i], model_files[0], diff);
            goto done;
        }
    }
    m = ms[0];
    if (ssl3d_manifest_load(ctx, data, 0, &man) != SSL3D_OK) {
        fprintf(stderr, "ssl3d evaluate: --data: %s\n", ssl3d_ctx_last_error(ctx)); goto done;
    }
    if ((ssl3d_ftmodel_kind(m) == SSL3D_FT_SEGMENT) != (ssl3d_manifest_kind(man) == SSL3D_MANIFEST_MSD)) {
        fprintf(stderr, "ssl3d evaluate: --data %s: a %s model needs %s\n", data,
                ssl3d_ftmodel_kind(m) == SSL3D_FT_SEGMENT ? "segmentation" : "classification",
                ssl3d_ftmodel_kind(m) == SSL3D_FT_SEGMENT ? "an MSD dataset.json with label maps" : "a CSV manifest");
        goto done;
    }
    if (pred_dir && ssl3d_ftmodel_kind(m) != SSL3D_FT_SEGMENT) {
        fprintf(stderr, "ssl3d evaluate: --predictions is for segmentation models\n"); goto done;
    }
    if (tta && ssl3d_ftmodel_kind(m) != SSL3D_FT_SEGMENT) {
        fprintf(stderr, "ssl3d evaluate: --tta is for segmentation models\n"); goto done;
    }
    for (int i = 0; i < n_models; i++) {
        if (tta) ssl3d_ftmodel_set_tta(ctx, ms[i], 1);
        if (window > 0 && window % (1L << ssl3d_ftmodel_levels(ms[i]))) {
            fprintf(stderr, "ssl3d evaluate: --window %ld is not a multiple of 2^levels = %d%s%s\n", window,
                    1 << ssl3d_ftmodel_levels(ms[i]), n_models > 1 ? " of --model " : "", n_models > 1 ? model_files[i] : "");
            goto done;
        }
    }
    cases = malloc((size_t)(ssl3d_manifest_count(man) + 1) * sizeof *cases);
    if (!cases) { fprintf(stderr, "ssl3d evaluate: out of memory\n"); goto done; }
    if (ssl3d_ft_select_cases(ctx, man, split, cases_file, cases, ssl3d_manifest_count(man), &n) != SSL3D_OK) {
        fprintf(stderr, "ssl3d evaluate: %s%s\n", cases_file ? "--cases: " : "", ssl3d_ctx_last_error(ctx)); goto done;
    }
    if (n > ssl3d_manifest_count(man)) {
        fprintf(stderr, "ssl3d evaluate: --cases %s lists more entries than the manifest has cases\n", cases_file);
        goto done;
    }
    if (n == 0) {
        fprintf(stderr, "ssl3d evaluate: --data %s: no labelled cases in %s\n", data,
                cases_file ? cases_file : split_s ? split_s : "the test split");
        goto done;
    }
    if (pred_dir && mkdir(pred_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ssl3d evaluate: --predictions %s: cannot create (%s)\n", pred_dir, strerror(errno)); goto done;
    }
    if (ssl3d_ft_evaluate_ensemble(ctx, ms, n_models, man, cases, n, (int32_t)window, (float)overlap, pred_dir, &r) !=
        SSL3D_OK) {
        fprintf(stderr, "ssl3d evaluate: %s\n", ssl3d_ctx_last_error(ctx)); goto done;
    }
    if (json) printf("%s\n", ssl3d_ftresult_json(r));
    else if (ssl3d_ftmodel_kind(m) == SSL3D_FT_SEGMENT) {
        double v, s;
        if (n_models > 1) printf("models: %d\n", n_models);
        printf("cases: %lld\n", (long long)n);
        for (int32_t k = 1; k < ssl3d_ftmodel_classes(m); k++) {
            char key[32], keys[32];
            snprintf(key, sizeof key, "dice.%d", (int)k);
            snprintf(keys, sizeof keys, "dice_sd.%d", (int)k);
            ssl3d_ftresult_get(ctx, r, key, &v);
            ssl3d_ftresult_get(ctx, r, keys, &s);
            printf("dice class %d: %.4f +- %.4f\n", (int)k, v, s);
        }
        ssl3d_ftresult_get(ctx, r, "dice_mean", &v);
        ssl3d_ftresult_get(ctx, r, "dice_mean_sd", &s);
        printf("dice mean: %.4f +- %.4f\n", v, s);
    } else {
        double acc, auc, qwk;
        ssl3d_ftresult_get(ctx, r, "accuracy", &acc);
        ssl3d_ftresult_get(ctx, r, "auc", &auc);
        ssl3d_ftresult_get(ctx, r, "qwk", &qwk);
        if (n_models > 1) printf("models: %d\n", n_models);
        printf("cases: %lld\naccuracy: %.4f\nauc: %.4f\nqwk: %.4f\n", (long long)n, acc, auc, qwk);
    }
    rc = 0;
done:
    ssl3d_ftresult_release(r);
    free(cases);
    ssl3d_manifest_release(man);
    for (int i = 0; i < n_models; i++) ssl3d_ftmodel_release(ms[i]);
    ssl3d_ctx_release(ctx);
    return rc;
}
