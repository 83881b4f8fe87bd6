/* `ssl3d finetune`: fine-tune a (pretrained) encoder for segmentation or classification
 * on a manifest, log one JSON line per epoch, save the best-validation model. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ssl3d.h"
#include "ssl3d/finetune.h"
#include "cli.h"
#include "cli_dist.h"
#include "cli_backend.h"
#include "cli_util.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ssl3d finetune --kind segment|classify --data MANIFEST --out MODEL [options]\n"
        "\n"
        "Fine-tune a U-Net encoder (fresh, or pretrained with --init) for segmentation (encoder +\n"
        "U-Net decoder, soft Dice + cross-entropy, random patches) or classification (encoder +\n"
        "global average pool + MLP, cross-entropy, or K-1 sigmoids with BCE for --ordinal). Each\n"
        "epoch ends with a validation pass; the weights with the best validation metric are saved.\n"
        "Validation cases: the CSV val split, else a seeded --val-fraction of the training pool.\n"
        "The test split is never used. docs/finetune.md has the details.\n"
        "\n"
        "required:\n"
        "  --kind segment|classify  task\n"
        "  --data MANIFEST          MSD dataset.json (segment) or CSV file,label,split (classify)\n"
        "  --out MODEL              model file to write (safetensors, atomic), rewritten at every\n"
        "                           new best epoch, so a stopped run leaves its best so far\n"
        "model:\n"
        "  --init CKPT              start from the encoder of a checkpoint (tensors encoder.*); its\n"
        "                           architecture (dims, channels, filters, levels, norm) is used\n"
        "  --dims 2|3               2: a 2D network (slice-wise for volumes); default 3, 2 for PNG data\n"
        "  --filters F              base filters (default 16 in 3D, 32 in 2D; classify: 8 for\n"
        "                           volumes of at most 32^3)\n"
        "  --levels L               encoder levels (default 4; classify: the most, up to 4, that\n"
        "                           keep >= 7 voxels per side, 2 for 28^3); sizes are padded to\n"
        "                           multiples of 2^L\n"
        "  --norm batch|group|instance|none   normalisation layers (default batch)\n"
        "  --classes K              classes (default: CSV max label + 1; MSD \"labels\" count)\n"
        "  --hidden H               classifier MLP hidden width, 0 = one linear layer (default 256)\n"
        "  --ordinal                ordinal grading: K-1 sigmoids, targets [y>0, y>1, ...]\n"
        "training:\n"
        "  --mode scratch|frozen|warmup   scratch: train everything (default); frozen: encoder\n"
        "                           never updated; warmup: encoder frozen for --warmup-epochs,\n"
        "                           then all layers with a fresh optimiser\n"
        "  --warmup-epochs N        (default 5)\n"
        "  --frozen-norm eval|train encoder norm layers while frozen: eval (running statistics,\n"
        "                           encoder unchanged; default) or train (batch statistics)\n"
        "  --epochs N               (default 20)\n"
        "  --batch B                (default: auto, --voxel-budget / patch voxels in [2, 16];\n"
        "                           classify: budget / image voxels in [2, 64])\n"
        "  --steps-per-epoch N      (default: training cases / batch, rounded up)\n"
        "  --patch N                segment: training patch size, multiple of 2^levels (default:\n"
        "                           auto, the cube of the median training shape within the budget);\n"
        "                           classify: pad/crop every image to N (default: as stored)\n"
        "  --voxel-budget N         voxels per training step for the auto patch/batch (default\n"
        "                           128000 for segment, 524288 for classify)\n"
        "  --deep-supervision on|off   segment, --levels >= 3: nnU-Net's deep supervision (default\n"
        "                           off): 1x1 conv heads on the decoder outputs at 1/2 .. 1/2^(L-2)\n"
        "                           resolution, loss sum_l w_l (Dice+CE) against the label map\n"
        "                           subsampled by 2^l, w_l ~ 1/2^l summing to 1; training-only\n"
        "                           (inference and the model file use the full-resolution output)\n"
        "optimiser and schedule:\n"
        "  --optimizer adam|sgd     default adam; sgd: nnU-Net's SGD with Nesterov momentum\n"
        "  --lr X                   base learning rate (default adam 2e-3 segment, 1e-3 classify;\n"
        "                           sgd 1e-2)\n"
        "  --momentum X             SGD momentum (default 0.99)\n"
        "  --no-nesterov            plain momentum instead of Nesterov\n"
        "  --weight-decay X         (default 3e-5 for sgd, 0 for adam)\n"
        "  --schedule poly|cosine|constant   per-step learning rate over the whole run\n"
        "                           (default poly: lr * (1 - t/T)^0.9)\n"
        "  --poly-power X           exponent of poly (default 0.9)\n"
        "  --grad-clip X            clip the global gradient norm at X, 0 = off (default 12)\n"
        "  --lr-warmup N            linear warm-up steps (default: 2%% of the run)\n"
        "augmentation (image and label map together; labels nearest-neighbour):\n"
        "  --augment nnunet|none    nnunet (default for segment): rotation p 0.2 (+-30 deg per\n"
        "                           axis), scaling p 0.2 (0.7-1.4), noise p 0.1, blur p 0.2,\n"
        "                           brightness p 0.15, contrast p 0.15, gamma p 0.4; none: only\n"
        "                           the mirroring of --flip (default for classify)\n"
        "  --aug KEY=V[,KEY=V]      override one transform: mirror_prob, rot_prob, rot_deg,\n"
        "                           scale_prob, scale_lo, scale_hi, noise_prob, noise_std,\n"
        "                           blur_prob, brightness_prob, contrast_prob, gamma_prob,\n"
        "                           elastic_prob, elastic_alpha, elastic_sigma_lo, elastic_sigma_hi\n"
        "  --elastic P              elastic deformation with probability P (= --aug elastic_prob=P;\n"
        "                           default 0, off as in nnU-Net): a smooth random displacement\n"
        "                           field (uniform noise smoothed by a Gaussian of sigma 9-13\n"
        "                           voxels, elastic_sigma_lo/hi), largest displacement ~ U(0, 5)\n"
        "                           voxels (elastic_alpha), one resampling with rotation/scaling\n"
        "  --balance none|sample    classify: sample every class equally often (default none)\n"
        "  --class-weights auto|W0,W1,...   classify: class-weighted loss (default off): the loss\n"
        "                           is (1/N) sum_n w[y_n] L_n over a batch; auto: w_k = n / (classes\n"
        "                           present x n_k) from the training subset's labels (inverse\n"
        "                           class frequency, mean weight 1); or one weight per class\n"
        "  --fg-prob P              segment: share of patches centred on foreground (default 0.33)\n"
        "  --flip / --no-flip       random flips (each spatial axis with p 0.5); default on for\n"
        "                           segment, off for classify (a flip may change the class)\n"
        "  --normalisation zscore|minmax|none   per-image intensity normalisation (default zscore\n"
        "                           for segment: over non-zero voxels; minmax for classify)\n"
        "  --select dice|acc|auc|qwk   validation metric for model selection (default dice for\n"
        "                           segment, auc (one-vs-rest macro) for classify, qwk for\n"
        "                           --ordinal); acc is won by the majority class on imbalanced data\n"
        "data selection:\n"
        "  --fraction F             train on a random F of the labelled training cases (0 < F <= 1),\n"
        "                           nested across fractions for one --seed (default 1)\n"
        "  --seed S                 seed of weights, subsets, validation split, patches (default 0)\n"
        "  --val-fraction V         share of the pool held out for validation when the manifest has\n"
        "                           no val split (default 0.2)\n"
        "  --cases FILE             restrict the training pool to the cases listed (one per line:\n"
        "                           index, image path or file name)\n"
        "validation inference:\n"
        "  --window N               sliding-window size (default: whole volume unless it is large,\n"
        "                           then the patch size); 0 = whole volume\n"
        "  --overlap X              sliding-window overlap in [0,1) (default 0.5)\n"
        "  --val-every N            validate every N epochs and after the last (default 1)\n"
        "  --tta                    test-time mirroring in validation (8 mirrored passes in 3D)\n"
        "other:\n"
        "  --threads T              compute threads (default: all cores)\n"
        "  --backend cpu|cuda       where the model runs (default cpu); cuda needs the CUDA plugin,\n"
        "                           a driver and a device (`ssl3d info --backends`, docs/cuda.md);\n"
        "                           no fall-back to the CPU\n"
        "                           (the model, loss and optimiser run there; data, augmentation\n"
        "                           and metrics stay on the host, one batch copied per step;\n"
        "                           the next step's batch is uploaded while a step computes)\n"
        "  --no-prefetch            with a device backend: upload each batch when its step starts\n"
        "                           instead (same results; for timing the overlap)\n"
        "  --resume FILE            resumable run: the training state is written to FILE after\n"
        "                           every epoch; when FILE exists (same options), training\n"
        "                           continues after its last epoch, bitwise as uninterrupted,\n"
        "                           and --log is appended to (a finished run trains nothing\n"
        "                           and reports its best epoch again); under mpirun any rank\n"
        "                           count may resume it\n"
        "  --log FILE.jsonl         one JSON object per epoch: {\"epoch\", \"loss\", \"val_dice\" or\n"
        "                           \"val_acc\"/\"val_auc\"/\"val_qwk\", \"best\", \"phase\", ...}, then a\n"
        "                           summary line {\"final\": true, \"best_epoch\", \"best_val\", ...}\n"
        "  --quiet                  no progress on stderr\n"
        "data-parallel (`mpirun -np N ssl3d finetune ...`, docs/distributed.md):\n"
        "                           --batch is the global batch (a multiple of N), split over\n"
        "                           the ranks; rank 0 writes the log and the model\n"
        "  --sync-bn                batch norm statistics of the global batch, not of each\n"
        "                           rank's share\n"
        "  --comm mpi|nccl|auto     how gradients are averaged: MPI (host memory) or NCCL (device\n"
        "                           memory, --backend cuda, the CUDA plugin built with NCCL);\n"
        "                           auto (default): nccl for --backend cuda when available, else\n"
        "                           mpi. Each rank uses device (local rank mod devices)\n"
        "  --help                   this text\n");
}

typedef struct log_state {
    FILE *log;
    int quiet;
    char last_line[1024];
    /* the model file is rewritten at every new best, so a stopped run leaves its best so far */
    ssl3d_ctx *ctx;
    ssl3d_ftmodel *m;
    const char *out, *opts, *init;
    int save_failed;
} log_state;

static int save_model(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const char *out, const char *opts, const char *init) {
    ssl3d_checkpoint *ck = NULL;
    int ok = ssl3d_checkpoint_create(ctx, &ck) == SSL3D_OK && ssl3d_ftmodel_save(ctx, m, ck) == SSL3D_OK &&
             ssl3d_checkpoint_set_meta(ctx, ck, "train_options", opts) == SSL3D_OK &&
             (!init || ssl3d_checkpoint_set_meta(ctx, ck, "init", init) == SSL3D_OK) &&
             ssl3d_checkpoint_save(ctx, ck, out) == SSL3D_OK;
    ssl3d_checkpoint_release(ck);
    return ok;
}

static int32_t on_epoch(void *user, const char *json) {
    log_state *ls = user;
    if (ls->log) { fprintf(ls->log, "%s\n", json); fflush(ls->log); }
    snprintf(ls->last_line, sizeof ls->last_line, "%s", json);
    if (!ls->quiet) fprintf(stderr, "ssl3d finetune: %s\n", json);
    /* At a new best the model holds exactly the weights that were selected. */
    if (strstr(json, "\"best\": true") && cli_dist_is_root() && !save_model(ls->ctx, ls->m, ls->out, ls->opts, ls->init)) {
        ls->save_failed = 1;
        return 1;   /* stop: the error names --out below */
    }
    return 0;
}

/* Value after `"key": ` in a JSON line, as text up to ',' or '}'. */
static void json_field(const char *json, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    snprintf(out, cap, "null");
    if (!p) return;
    p += strlen(pat);
    size_t n = strcspn(p, ",}");
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* A rerun of a finished resumable run trains no epoch, so no epoch line carries the best
 * epoch: it comes from the resume state's counters (written after every epoch,
 * finetune_resume.c), as the fragment {"best_epoch": N, "best_val": X} for json_field. */
static void best_from_state(ssl3d_ctx *ctx, const char *path, char *line, size_t cap) {
    ssl3d_checkpoint *ck = NULL;
    const char *be = NULL, *bv = NULL, *hb = NULL;
    line[0] = 0;
    if (ssl3d_checkpoint_load(ctx, path, &ck) == SSL3D_OK && ssl3d_checkpoint_get_meta(ctx, ck, "best_epoch", &be) == SSL3D_OK &&
        ssl3d_checkpoint_get_meta(ctx, ck, "best_metric", &bv) == SSL3D_OK &&
        ssl3d_checkpoint_get_meta(ctx, ck, "have_best", &hb) == SSL3D_OK) {
        const double v = strtod(bv, NULL);
        if (atoi(hb) && isfinite(v)) snprintf(line, cap, "{\"best_epoch\": %d, \"best_val\": %.6g}", atoi(be), v);
        else snprintf(line, cap, "{\"best_epoch\": %d, \"best_val\": null}", atoi(be));
    }
    ssl3d_checkpoint_release(ck);
}

/* A JSON string literal of s (quotes, backslashes and control characters escaped). */
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

#define NEED_ARG() do { if (i + 1 >= argc) { fprintf(stderr, "ssl3d finetune: option %s needs a value\n", a); return 2; } } while (0)

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "ssl3d finetune: %s '%s' must be an integer in [%ld, %ld]\n", opt, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_double(const char *opt, const char *v, double *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end) {
        fprintf(stderr, "ssl3d finetune: %s '%s' is not a number\n", opt, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int fail(ssl3d_ctx *ctx, const char *what) {
    fprintf(stderr, "ssl3d finetune%s: %s%s%s\n", cli_dist_tag(), what ? what : "", what ? ": " : "", ssl3d_ctx_last_error(ctx));
    return 1;
}

int cmd_finetune(int argc, char **argv) {
    const char *select_s = NULL, *resume = NULL, *backend_name = "cpu", *comm_name = "auto";
    const char *kind_s = NULL, *data = NULL, *out = NULL, *init = NULL, *log_path = NULL, *cases_file = NULL;
    long dims = 0, filters = 0, levels = 4, classes = 0, hidden = 256, threads = 0, norm = 0;
    int ordinal = 0, quiet = 0, norm_given = 0, filters_given = 0, levels_given = 0, sync_bn = 0;
    char opts[2048] = "";
    size_t ol = 0;
#define ADD_OPT(...) do { ol += (size_t)snprintf(opts + ol, sizeof opts - ol, __VA_ARGS__); } while (0)
    static const char *const repeatable[] = { "--aug", NULL };   /* each adds KEY=VALUE pairs */
    if (cli_reject_repeats("finetune", argc, argv, repeatable)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long lv;
        double dv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--kind")) { NEED_ARG(); kind_s = argv[++i]; }
        else if (!strcmp(a, "--data")) { NEED_ARG(); data = argv[++i]; }
        else if (!strcmp(a, "--out")) { NEED_ARG(); out = argv[++i]; }
        else if (!strcmp(a, "--init")) { NEED_ARG(); init = argv[++i]; }
        else if (!strcmp(a, "--log")) { NEED_ARG(); log_path = argv[++i]; }
        else if (!strcmp(a, "--resume")) {
            NEED_ARG();
            resume = argv[++i];
            if (!*resume || strchr(resume, ',')) { fprintf(stderr, "ssl3d finetune: --resume '%s': a file name without commas\n", resume); return 2; }
            ADD_OPT("resume=%s,", resume);
        }
        else if (!strcmp(a, "--cases")) { NEED_ARG(); cases_file = argv[++i]; }
        else if (!strcmp(a, "--dims")) { NEED_ARG(); if (!parse_long(a, argv[++i], 2, 3, &dims)) return 2; }
        else if (!strcmp(a, "--filters")) { NEED_ARG(); if (!parse_long(a, argv[++i], 1, 4096, &filters)) return 2; filters_given = 1; }
        else if (!strcmp(a, "--levels")) { NEED_ARG(); if (!parse_long(a, argv[++i], 1, 8, &levels)) return 2; levels_given = 1; }
        else if (!strcmp(a, "--classes")) { NEED_ARG(); if (!parse_long(a, argv[++i], 2, 4096, &classes)) return 2; }
        else if (!strcmp(a, "--hidden")) { NEED_ARG(); if (!parse_long(a, argv[++i], 0, 65536, &hidden)) return 2; }
        else if (!strcmp(a, "--threads")) { NEED_ARG(); if (!parse_long(a, argv[++i], 1, 1024, &threads)) return 2; }
        else if (!strcmp(a, "--backend")) { NEED_ARG(); backend_name = argv[++i]; }
        else if (!strcmp(a, "--norm")) {
            NEED_ARG();
            const char *v = argv[++i];
            static const char *nn[] = { "batch", "group", "instance", "none" };
            norm = -1;
            for (int k = 0; k < 4; k++) if (!strcmp(v, nn[k])) norm = k;
            if (norm < 0) { fprintf(stderr, "ssl3d finetune: --norm '%s': expected batch, group, instance or none\n", v); return 2; }
            norm_given = 1;
        }
        else if (!strcmp(a, "--ordinal")) ordinal = 1;
        else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--sync-bn")) sync_bn = 1;
        else if (!strcmp(a, "--comm")) { NEED_ARG(); comm_name = argv[++i]; }
        else if (!strcmp(a, "--no-flip")) ADD_OPT("flip=0,");
        else if (!strcmp(a, "--flip")) ADD_OPT("flip=1,");
        else if (!strcmp(a, "--mode")) { NEED_ARG(); ADD_OPT("mode=%s,", argv[++i]); }
        else if (!strcmp(a, "--frozen-norm")) { NEED_ARG(); ADD_OPT("frozen_norm=%s,", argv[++i]); }
        else if (!strcmp(a, "--normalisation") || !strcmp(a, "--normalization")) { NEED_ARG(); ADD_OPT("normalisation=%s,", argv[++i]); }
        else if (!strcmp(a, "--select")) { NEED_ARG(); select_s = argv[++i]; ADD_OPT("select=%s,", select_s); }
        else if (!strcmp(a, "--tta")) ADD_OPT("tta=1,");
        else if (!strcmp(a, "--deep-supervision")) {
            NEED_ARG();
            const char *v = argv[++i];
            if (strcmp(v, "on") && strcmp(v, "off")) {
                fprintf(stderr, "ssl3d finetune: --deep-supervision '%s': expected on or off\n", v);
                return 2;
            }
            /* off adds nothing: option strings (and resume files) of runs without it stay as they were */
            if (!strcmp(v, "on")) ADD_OPT("deep_supervision=1,");
        }
        else if (!strcmp(a, "--no-nesterov")) ADD_OPT("nesterov=0,");
        else if (!strcmp(a, "--no-prefetch")) ADD_OPT("prefetch=0,");
        else if (!strcmp(a, "--augment") || !strcmp(a, "--optimizer") || !strcmp(a, "--optimiser") ||
                 !strcmp(a, "--schedule") || !strcmp(a, "--balance")) {
            NEED_ARG();
            ADD_OPT("%s=%s,", !strcmp(a, "--optimiser") ? "optimizer" : a + 2, argv[++i]);
        } else if (!strcmp(a, "--elastic")) {
            NEED_ARG();
            if (!parse_double(a, argv[++i], &dv)) return 2;
            if (!(dv >= 0 && dv <= 1)) {
                fprintf(stderr, "ssl3d finetune: --elastic '%s': expected a probability in [0, 1]\n", argv[i]);
                return 2;
            }
            ADD_OPT("elastic_prob=%.17g,", dv);
        } else if (!strcmp(a, "--class-weights")) {
            NEED_ARG();
            char cwv[512];
            snprintf(cwv, sizeof cwv, "%s", argv[++i]);
            /* the library's list separator is ':' (',' separates its options) */
            for (char *p = cwv; *p; p++) if (*p == ',') *p = ':';
            if (!*cwv || strlen(argv[i]) >= sizeof cwv || strpbrk(cwv, " =")) {
                fprintf(stderr, "ssl3d finetune: --class-weights '%s': expected auto or W0,W1,... (one weight per class)\n",
                        argv[i]);
                return 2;
            }
            ADD_OPT("class_weights=%s,", cwv);
        } else if (!strcmp(a, "--aug")) {
            NEED_ARG();
            const char *v = argv[++i];
            if (!*v || strchr(v, ' ')) { fprintf(stderr, "ssl3d finetune: --aug '%s': expected KEY=VALUE[,KEY=VALUE]\n", v); return 2; }
            ADD_OPT("%s,", v);
        }
        else if (!strcmp(a, "--warmup-epochs") || !strcmp(a, "--epochs") || !strcmp(a, "--batch") ||
                 !strcmp(a, "--patch") || !strcmp(a, "--steps-per-epoch") || !strcmp(a, "--window") ||
                 !strcmp(a, "--seed") || !strcmp(a, "--lr-warmup") || !strcmp(a, "--val-every") ||
                 !strcmp(a, "--voxel-budget")) {
            NEED_ARG();
            if (!parse_long(a, argv[++i], !strcmp(a, "--window") ? -1 : 0, 1000000000L, &lv)) return 2;
            char key[32];
            snprintf(key, sizeof key, "%s", a + 2);
            for (char *p = key; *p; p++) if (*p == '-') *p = '_';
            ADD_OPT("%s=%ld,", key, lv);
        } else if (!strcmp(a, "--lr") || !strcmp(a, "--weight-decay") || !strcmp(a, "--fraction") ||
                   !strcmp(a, "--val-fraction") || !strcmp(a, "--fg-prob") || !strcmp(a, "--overlap") ||
                   !strcmp(a, "--momentum") || !strcmp(a, "--poly-power") || !strcmp(a, "--grad-clip")) {
            NEED_ARG();
            if (!parse_double(a, argv[++i], &dv)) return 2;
            char key[32];
            snprintf(key, sizeof key, "%s", a + 2);
            for (char *p = key; *p; p++) if (*p == '-') *p = '_';
            ADD_OPT("%s=%.17g,", key, dv);
        } else {
            fprintf(stderr, "ssl3d finetune: unknown %s '%s' (see ssl3d finetune --help)\n",
                    a[0] == '-' ? "option" : "argument", a);
            return 2;
        }
        if (ol >= sizeof opts) { fprintf(stderr, "ssl3d finetune: too many options\n"); return 2; }
    }
    if (!kind_s || !data || !out) {
        fprintf(stderr, "ssl3d finetune: missing %s (usage: ssl3d finetune --kind segment|classify --data MANIFEST "
                        "--out MODEL ...)\n", !kind_s ? "--kind" : !data ? "--data" : "--out");
        return 2;
    }
    int kind;
    if (!strcmp(kind_s, "segment")) kind = SSL3D_FT_SEGMENT;
    else if (!strcmp(kind_s, "classify")) kind = SSL3D_FT_CLASSIFY;
    else { fprintf(stderr, "ssl3d finetune: --kind '%s': expected segment or classify\n", kind_s); return 2; }
    if (ordinal && kind != SSL3D_FT_CLASSIFY) { fprintf(stderr, "ssl3d finetune: --ordinal needs --kind classify\n"); return 2; }
    long seed = 0;
    { const char *p = strstr(opts, "seed="); if (p) seed = atol(p + 5); }

    ssl3d_ctx *ctx = NULL;
    int32_t backend = SSL3D_BACKEND_CPU;
    { int brc = cli_backend_parse("finetune", backend_name, &backend); if (brc) return brc; }
    if (cli_dist_comm_parse("finetune", comm_name)) return 2;
    if (cli_backend_ctx("finetune", backend, &ctx)) return 1;
    if (threads > 0) ssl3d_ctx_set_threads(ctx, (int32_t)threads);
    ssl3d_ctx_set_seed(ctx, (uint64_t)seed);
    int rc = 1;
    ssl3d_manifest *man = NULL;
    ssl3d_checkpoint *ick = NULL;
    ssl3d_ftmodel *m = NULL;
    ssl3d_image *first = NULL;
    int64_t *pool = NULL, n_pool = 0;
    log_state ls = { 0 };
    ls.quiet = quiet || !cli_dist_is_root();
    /* Under mpirun: --batch is the global batch, split over the ranks by ssl3d_ft_train;
     * rank 0 alone writes the log and the model. */
    if (cli_dist_attach("finetune", ctx, threads > 0, comm_name)) goto done;
    ssl3d_ctx_set_sync_batch_norm(ctx, sync_bn);
    if (ssl3d_manifest_load(ctx, data, 0, &man) != SSL3D_OK) { rc = fail(ctx, "--data"); goto done; }
    if (kind == SSL3D_FT_SEGMENT && ssl3d_manifest_kind(man) != SSL3D_MANIFEST_MSD) {
        fprintf(stderr, "ssl3d finetune: --data %s: segmentation needs an MSD dataset.json with label maps\n", data);
        goto done;
    }
    if (kind == SSL3D_FT_CLASSIFY && ssl3d_manifest_kind(man) != SSL3D_MANIFEST_CSV) {
        fprintf(stderr, "ssl3d finetune: --data %s: classification needs a CSV manifest (file,label,split)\n", data);
        goto done;
    }
    if (cases_file) {
        int64_t n = ssl3d_manifest_count(man);
        pool = malloc((size_t)(n + 1) * sizeof *pool);
        if (!pool) { fprintf(stderr, "ssl3d finetune: out of memory\n"); goto done; }
        if (ssl3d_ft_select_cases(ctx, man, -1, cases_file, pool, n, &n_pool) != SSL3D_OK) { rc = fail(ctx, "--cases"); goto done; }
        if (n_pool > n) { fprintf(stderr, "ssl3d finetune: --cases %s lists more entries than the manifest has cases\n", cases_file); goto done; }
        if (n_pool == 0) { fprintf(stderr, "ssl3d finetune: --cases %s lists no case\n", cases_file); goto done; }
    }
    /* Architecture: from --init, else options; channels and dims from the first case. */
    int64_t firstcase = -1;
    for (int64_t i = 0; i < ssl3d_manifest_count(man) && firstcase < 0; i++)
        if (ssl3d_manifest_case_split(man, i) != SSL3D_SPLIT_TEST) firstcase = i;
    if (firstcase < 0) { fprintf(stderr, "ssl3d finetune: --data %s has no training cases\n", data); goto done; }
    if (ssl3d_manifest_case_read(ctx, man, firstcase, 0, &first, NULL) != SSL3D_OK) { rc = fail(ctx, NULL); goto done; }
    int64_t d4[4];
    ssl3d_image_dims(ctx, first, d4);
    int32_t cin = (int32_t)d4[0];
    if (!dims) dims = strcmp(ssl3d_image_format(first), "png") ? 3 : 2;
    if (init) {
        int32_t cd, cc, cf, cl, cn;
        if (ssl3d_checkpoint_load(ctx, init, &ick) != SSL3D_OK) { rc = fail(ctx, "--init"); goto done; }
        if (ssl3d_ftmodel_encoder_spec(ctx, ick, &cd, &cc, &cf, &cl, &cn) != SSL3D_OK) {
            fprintf(stderr, "ssl3d finetune: --init %s: %s\n", init, ssl3d_ctx_last_error(ctx)); goto done;
        }
        const char *bad = NULL;
        long badv = 0, have = 0;
        if (cd != dims) { bad = "--dims"; badv = dims; have = cd; }
        else if (cc != cin) { bad = "the data's channels"; badv = cin; have = cc; }
        else if (filters_given && cf != filters) { bad = "--filters"; badv = filters; have = cf; }
        else if (levels_given && cl != levels) { bad = "--levels"; badv = levels; have = cl; }
        else if (norm_given && cn != norm) { bad = "--norm"; badv = norm; have = cn; }
        if (bad) {
            fprintf(stderr, "ssl3d finetune: --init %s: its encoder has %ld where %s gives %ld\n", init, have, bad, badv);
            goto done;
        }
        filters = cf; levels = cl; norm = cn;
    }
    if (kind == SSL3D_FT_CLASSIFY && !init) {
        /* Small images (MedMNIST 28^3, 28x28): an architecture that costs seconds per
         * epoch — levels so that the bottleneck keeps >= 7 voxels per side (28 -> 2),
         * and 8 base filters for volumes of at most 32^3 (the protocol's AdrenalMNIST3D
         * setting, test AUC 0.86; the 16-filter 4-level default cost ~5x more per epoch). */
        int64_t side = d4[2] < d4[3] ? d4[2] : d4[3];
        if (dims == 3 && d4[1] < side) side = d4[1];
        if (!levels_given) {
            long l = 1;
            while (l < 4 && side / (1L << (l + 1)) >= 7) l++;
            levels = l;
        }
        if (!filters && dims == 3 && d4[1] * d4[2] * d4[3] <= 32 * 32 * 32) filters = 8;
    }
    if (!filters) filters = dims == 3 ? 16 : 32;
    if (!classes) {
        classes = kind == SSL3D_FT_CLASSIFY ? ssl3d_manifest_num_classes(man) : ssl3d_manifest_num_label_names(man);
        if (classes < 2) {
            fprintf(stderr, "ssl3d finetune: --data %s: cannot tell the number of classes (give --classes K)\n", data);
            goto done;
        }
    }
    if (ssl3d_ftmodel_create(ctx, kind, (int32_t)dims, cin, (int32_t)classes, (int32_t)filters, (int32_t)levels,
                             (int32_t)norm, (int32_t)hidden, ordinal, &m) != SSL3D_OK) { rc = fail(ctx, NULL); goto done; }
    if (ick && ssl3d_ftmodel_load_encoder(ctx, m, ick, NULL) != SSL3D_OK) { rc = fail(ctx, "--init"); goto done; }
    if (log_path && cli_dist_is_root()) {
        FILE *rf = resume ? fopen(resume, "rb") : NULL;   /* resuming: keep the earlier epochs' lines */
        if (rf) fclose(rf);
        ls.log = fopen(log_path, rf ? "a" : "w");
        if (!ls.log) { fprintf(stderr, "ssl3d finetune: --log %s: cannot open (%s)\n", log_path, strerror(errno)); goto done; }
    }
    if (ol && opts[ol - 1] == ',') opts[ol - 1] = 0;
    if (cli_dist_size() > 1 && cli_dist_is_root())
        fprintf(stderr, "ssl3d finetune: data-parallel over %d ranks (each batch split between them)\n",
                (int)cli_dist_size());
    ls.ctx = ctx; ls.m = m; ls.out = out; ls.opts = opts; ls.init = init;
    if (ssl3d_ft_train(ctx, m, man, pool, n_pool, opts, on_epoch, &ls) != SSL3D_OK) {
        const char *e = ssl3d_ctx_last_error(ctx);
        /* Option errors come back from the library with the option's key: name the flag. */
        if (strstr(e, "ssl3d_ft_train: option") || strstr(e, "ssl3d_ft_train: mode=") ||
            strstr(e, "ssl3d_ft_train: patch=") || strstr(e, "ssl3d_ft_train: frozen_norm=") ||
            strstr(e, "ssl3d_ft_train: select=") || strstr(e, "ssl3d_ft_train: normalisation=") ||
            strstr(e, "ssl3d_ft_train: window="))
            fprintf(stderr, "ssl3d finetune%s: bad option value: %s\n", cli_dist_tag(), e);
        else fprintf(stderr, "ssl3d finetune%s: %s\n", cli_dist_tag(), e);
        rc = 1;
        goto done;
    }
    if (!cli_dist_is_root()) { rc = 0; goto done; }   /* rank 0 alone writes the model */
    if (ls.save_failed || !save_model(ctx, m, out, opts, init)) { rc = fail(ctx, "--out"); goto done; }
    if (!ls.last_line[0] && resume) {   /* every epoch was done already */
        best_from_state(ctx, resume, ls.last_line, sizeof ls.last_line);
        if (!quiet) fprintf(stderr, "ssl3d finetune: --resume %s: every epoch was done already\n", resume);
    }
    if (ls.log) {
        char val[64];
        char be[32];
        json_field(ls.last_line, "best_val", val, sizeof val);
        json_field(ls.last_line, "best_epoch", be, sizeof be);
        fprintf(ls.log, "{\"final\": true, \"best_epoch\": %s, \"best_val\": %s, \"model\": ", be, val);
        json_string(ls.log, out);
        fprintf(ls.log, "}\n");
    }
    if (!quiet) {
        char be[32];
        json_field(ls.last_line, "best_epoch", be, sizeof be);
        fprintf(stderr, "ssl3d finetune: best epoch %s, model written to %s\n", be, out);
    }
    rc = 0;
done:
    if (ls.log) fclose(ls.log);
    free(pool);
    ssl3d_image_release(first);
    ssl3d_ftmodel_release(m);
    ssl3d_checkpoint_release(ick);
    ssl3d_manifest_release(man);
    cli_dist_detach(ctx);
    ssl3d_ctx_release(ctx);
    return rc;
}
