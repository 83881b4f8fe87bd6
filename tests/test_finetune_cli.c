/* `ssl3d finetune` and `ssl3d evaluate` end to end through bin/ssl3d on tiny generated data
 * (skipped when the program is not built): JSONL log, model file, --init, evaluate --json
 * keys, --predictions, and misuse (exit status 2 or 1 with a message naming the option). */
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "test_finetune_util.h"

/* Run bin/ssl3d ARGS; stdout and stderr go to files; returns the exit status. */
static int run_cli(const char *args, char *out, size_t cap_out, char *err, size_t cap_err) {
    char cmd[4096], po[600], pe[600];
    snprintf(po, sizeof po, "%s/cli.out", th_tmpdir());
    snprintf(pe, sizeof pe, "%s/cli.err", th_tmpdir());
    snprintf(cmd, sizeof cmd, "./bin/ssl3d %s >'%s' 2>'%s'", args, po, pe);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    const char *paths[2] = { po, pe };
    char *bufs[2] = { out, err };
    size_t caps[2] = { cap_out, cap_err };
    for (int i = 0; i < 2; i++) {
        if (!bufs[i]) continue;
        bufs[i][0] = 0;
        FILE *f = fopen(paths[i], "r");
        if (!f) continue;
        size_t n = fread(bufs[i], 1, caps[i] - 1, f);
        bufs[i][n] = 0;
        fclose(f);
    }
    return rc;
}

#define NEED_CLI() do { if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)"); } while (0)

TEST(finetune_cli_segment_end_to_end) {
    NEED_CLI();
    const char *dir = th_tmpdir();
    REQUIRE(tf_make_seg_set(dir, 6, 4) == 0);
    char args[2048], out[8192], err[8192];
    snprintf(args, sizeof args,
             "finetune --kind segment --data %s/dataset.json --out %s/model.safetensors --filters 4 --levels 2 "
             "--patch 8 --epochs 2 --batch 2 --lr 0.005 --threads 2 --seed 1 --log %s/log.jsonl --quiet",
             dir, dir, dir);
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    REQUIRE(rc == 0 || (th_fail(__FILE__, __LINE__, "finetune rc %d: %s", rc, err), 0));
    /* Log: one line per epoch with epoch, loss, val_dice; then the summary. */
    char lp[600];
    snprintf(lp, sizeof lp, "%s/log.jsonl", dir);
    FILE *f = fopen(lp, "r");
    REQUIRE(f);
    char line[1024];
    int n = 0, final = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        CHECK_MSG(o != NULL, "log line %d is not JSON: %s", n + 1, line);
        if (!o) continue;
        if (cJSON_GetObjectItem(o, "final")) {
            final = 1;
            CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "best_epoch")));
        } else {
            n++;
            CHECK(cJSON_GetObjectItem(o, "epoch") && cJSON_GetObjectItem(o, "epoch")->valuedouble == n);
            CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "loss")) && cJSON_IsNumber(cJSON_GetObjectItem(o, "val_dice")));
        }
        cJSON_Delete(o);
    }
    fclose(f);
    CHECK(n == 2 && final);

    /* evaluate --json and --predictions. */
    snprintf(args, sizeof args,
             "evaluate --model %s/model.safetensors --data %s/dataset.json --json --threads 2 --predictions %s/pred",
             dir, dir, dir);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    REQUIRE(rc == 0 || (th_fail(__FILE__, __LINE__, "evaluate rc %d: %s", rc, err), 0));
    cJSON *o = cJSON_Parse(out);
    REQUIRE(o);
    cJSON *dice = cJSON_GetObjectItem(o, "dice");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(dice, "1")) && cJSON_IsNumber(cJSON_GetObjectItem(dice, "2")));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "dice_mean")) && cJSON_GetObjectItem(o, "cases")->valuedouble == 6);
    CHECK(cJSON_GetObjectItem(o, "dice_sd") != NULL);
    cJSON_Delete(o);
    char pp[600];
    snprintf(pp, sizeof pp, "%s/pred/case_005.nii.gz", dir);
    CHECK(access(pp, R_OK) == 0);

    /* --tta: test-time mirroring, same keys. */
    snprintf(args, sizeof args, "evaluate --model %s/model.safetensors --data %s/dataset.json --json --tta", dir, dir);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK_MSG(rc == 0 && strstr(out, "\"dice_mean\"") && strstr(out, "\"cases\":6"), "evaluate --tta rc %d: %s", rc, err);

    /* --cases: evaluate two cases. */
    snprintf(lp, sizeof lp, "%s/two.txt", dir);
    f = fopen(lp, "w");
    fprintf(f, "case_000.nii.gz\n4\n");
    fclose(f);
    snprintf(args, sizeof args, "evaluate --model %s/model.safetensors --data %s/dataset.json --json --cases %s", dir,
             dir, lp);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strstr(out, "\"cases\":2"));

    /* --init from the model file (its encoder.* tensors), frozen mode. */
    snprintf(args, sizeof args,
             "finetune --kind segment --data %s/dataset.json --out %s/m2.safetensors --init %s/model.safetensors "
             "--mode frozen --patch 8 --epochs 1 --threads 2 --quiet --fraction 0.5",
             dir, dir, dir);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK_MSG(rc == 0, "finetune --init rc %d: %s", rc, err);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *a = NULL, *b = NULL;
    char ma[600], mb[600];
    snprintf(ma, sizeof ma, "%s/model.safetensors", dir);
    snprintf(mb, sizeof mb, "%s/m2.safetensors", dir);
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, ma, &a));
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, mb, &b));
    ssl3d_tensor *ta = NULL, *tb = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, a, "encoder.down1.conv2.weight", &ta));
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, b, "encoder.down1.conv2.weight", &tb));
    CHECK(th_tensors_identical(ctx, ta, tb));
    const char *kind = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_get_meta(ctx, b, "kind", &kind));
    CHECK(!strcmp(kind, "segment"));
    ssl3d_tensor_release(ta); ssl3d_tensor_release(tb);
    ssl3d_checkpoint_release(a); ssl3d_checkpoint_release(b);
    ssl3d_ctx_release(ctx);

    /* --init with a different architecture is refused, naming the option. */
    snprintf(args, sizeof args,
             "finetune --kind segment --data %s/dataset.json --out %s/m3.safetensors --init %s/model.safetensors "
             "--filters 8 --epochs 1 --quiet", dir, dir, dir);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK_MSG(rc != 0 && strstr(err, "--filters") && strstr(err, "--init"), "rc %d: %s", rc, err);
}

/* The final log line {"final": true, ...} of a JSONL log (the last one), parsed; NULL. */
static cJSON *last_final_line(const char *path) {
    FILE *f = fopen(path, "r");
    char line[2048];
    cJSON *last = NULL;
    while (f && fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        if (o && cJSON_GetObjectItem(o, "final")) { cJSON_Delete(last); last = o; }
        else cJSON_Delete(o);
    }
    if (f) fclose(f);
    return last;
}

/* Rerunning a finished --resume run trains nothing more and reports the finished run's
 * best epoch and value (from the resume state, not null), and writes the same model. */
TEST(finetune_cli_rerun_of_finished_resume_reports_best) {
    NEED_CLI();
    const char *dir = th_tmpdir();
    REQUIRE(tf_make_seg_set(dir, 6, 4) == 0);
    char args[2048], out[8192], err[8192], lp[600];
    /* lr 0.02: the validation Dice moves, so the best epoch need not be the last */
    snprintf(args, sizeof args,
             "finetune --kind segment --data %s/dataset.json --out %s/m.safetensors --filters 4 --levels 2 --patch 8 "
             "--epochs 3 --batch 2 --steps-per-epoch 1 --lr 0.02 --threads 1 --seed 1 --log %s/log.jsonl --resume "
             "%s/state.safetensors",
             dir, dir, dir, dir);
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    REQUIRE(rc == 0 || (th_fail(__FILE__, __LINE__, "finetune rc %d: %s", rc, err), 0));
    snprintf(lp, sizeof lp, "%s/log.jsonl", dir);
    cJSON *first = last_final_line(lp);
    REQUIRE(first);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp %s/m.safetensors %s/m1.safetensors", dir, dir);
    REQUIRE(system(cmd) == 0);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK_MSG(rc == 0 && strstr(err, "every epoch was done already"), "rerun rc %d: %s", rc, err);
    CHECK_MSG(!strstr(err, "\"epoch\":"), "the rerun trained again: %s", err);
    cJSON *again = last_final_line(lp);
    REQUIRE(again && again != first);
    cJSON *be1 = cJSON_GetObjectItem(first, "best_epoch"), *be2 = cJSON_GetObjectItem(again, "best_epoch");
    cJSON *bv1 = cJSON_GetObjectItem(first, "best_val"), *bv2 = cJSON_GetObjectItem(again, "best_val");
    CHECK_MSG(cJSON_IsNumber(be1) && be1->valueint >= 1 && be1->valueint <= 3, "first run: best_epoch not 1..3");
    CHECK_MSG(cJSON_IsNumber(be2) && cJSON_IsNumber(be1) && be2->valueint == be1->valueint, "rerun: best_epoch %s",
              cJSON_IsNumber(be2) ? "differs" : "is not a number");
    CHECK_MSG(cJSON_IsNumber(bv1) && cJSON_IsNumber(bv2) && bv1->valuedouble == bv2->valuedouble, "rerun: best_val %s",
              cJSON_IsNumber(bv2) ? "differs" : "is not a number");
    cJSON_Delete(first);
    cJSON_Delete(again);
    snprintf(cmd, sizeof cmd, "cmp -s %s/m.safetensors %s/m1.safetensors", dir, dir);
    CHECK_MSG(system(cmd) == 0, "the rerun wrote another model than the finished run's best");
}

TEST(finetune_cli_classify_and_misuse) {
    NEED_CLI();
    const char *dir = th_tmpdir();
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(tf_make_cls_set(ctx, dir, 12, 3, 12, 6, 6, 2) == 0);
    ssl3d_ctx_release(ctx);
    char args[2048], out[16384], err[8192];   /* --help is over 8 KiB */
    snprintf(args, sizeof args,
             "finetune --kind classify --data %s/labels.csv --out %s/c.safetensors --filters 4 --levels 2 --hidden 8 "
             "--epochs 1 --batch 4 --threads 2 --ordinal --elastic 0.5 --class-weights auto --log %s/c.jsonl --quiet", dir, dir, dir);
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    REQUIRE(rc == 0 || (th_fail(__FILE__, __LINE__, "finetune rc %d: %s", rc, err), 0));
    snprintf(args, sizeof args, "evaluate --model %s/c.safetensors --data %s/labels.csv --split test --json", dir, dir);
    rc = run_cli(args, out, sizeof out, err, sizeof err);
    REQUIRE(rc == 0 || (th_fail(__FILE__, __LINE__, "evaluate rc %d: %s", rc, err), 0));
    cJSON *o = cJSON_Parse(out);
    REQUIRE(o);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "accuracy")) && cJSON_IsNumber(cJSON_GetObjectItem(o, "qwk")) &&
          cJSON_GetObjectItem(o, "auc") && cJSON_GetObjectItem(o, "cases")->valuedouble == 6);
    cJSON_Delete(o);
    char lp[600], line[1024];
    snprintf(lp, sizeof lp, "%s/c.jsonl", dir);
    FILE *f = fopen(lp, "r");
    REQUIRE(f && fgets(line, sizeof line, f));
    fclose(f);
    CHECK(strstr(line, "\"val_acc\"") && strstr(line, "\"val_auc\"") && strstr(line, "\"val_qwk\""));

    /* Misuse: usage errors exit 2 naming the option; runtime errors exit 1 naming the file. */
    struct { const char *args; int rc; const char *want; } bad[] = {
        { "finetune", 2, "--kind" },
        { "finetune --kind segment --data x.json", 2, "--out" },
        { "finetune --kind blob --data x.json --out y", 2, "--kind" },
        { "finetune --kind segment --data x.json --out y --epochs", 2, "--epochs" },
        { "finetune --kind segment --data x.json --out y --epochs zero", 2, "--epochs" },
        { "finetune --kind segment --data x.json --out y --bogus", 2, "--bogus" },
        { "finetune --kind segment --data x.json --out y --ordinal", 2, "--ordinal" },
        { "finetune --kind segment --data /nonexistent/dataset.json --out y", 1, "/nonexistent/dataset.json" },
        { "finetune --kind segment --data x.json --out y --optimizer", 2, "--optimizer" },
        { "finetune --kind segment --data x.json --out y --aug 'rot_prob 1'", 2, "--aug" },
        { "finetune --kind segment --data x.json --out y --elastic 1.5", 2, "--elastic '1.5'" },
        { "finetune --kind segment --data x.json --out y --deep-supervision yes", 2, "--deep-supervision 'yes'" },
        { "finetune --kind segment --data x.json --out y --elastic often", 2, "--elastic" },
        { "finetune --kind segment --data x.json --out y --elastic", 2, "--elastic" },
        { "finetune --kind classify --data x.csv --out y --class-weights 'auto x'", 2, "--class-weights" },
        { "finetune --kind classify --data x.csv --out y --class-weights", 2, "--class-weights" },
        { "finetune --kind segment --data x.json --out y --val-every x", 2, "--val-every" },
        { "evaluate --data x.json", 2, "--model" },
        { "evaluate --model m --data x --split nope", 2, "--split" },
        { "evaluate --model /nonexistent/m.safetensors --data x", 1, "/nonexistent/m.safetensors" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = run_cli(bad[i].args, out, sizeof out, err, sizeof err);
        CHECK_MSG(rc == bad[i].rc && strstr(err, bad[i].want), "'%s': rc %d, stderr: %s", bad[i].args, rc, err);
    }
    /* Option values checked by the library still name the option; a segmentation kind on
     * a CSV names the file. */
    struct { const char *kind, *opt, *want, *also; } lib_bad[] = {
        { "classify", "--mode thawed", "mode", "" },
        { "classify", "--fraction 0", "fraction", "" },
        { "classify", "--optimizer nadam", "optimizer=nadam", "" },
        { "classify", "--aug rot_prob=2", "rot_prob=2", "" },
        { "classify", "--aug elastic_sigma_hi=0", "elastic_sigma_hi=0", "" },
        { "classify", "--class-weights 1,2", "class_weights=1:2", "3 weights" },
        { "segment", "", "labels.csv", "" },
    };
    for (size_t i = 0; i < sizeof lib_bad / sizeof *lib_bad; i++) {
        snprintf(args, sizeof args, "finetune --kind %s --data %s/labels.csv --out %s/x %s --quiet", lib_bad[i].kind, dir,
                 dir, lib_bad[i].opt);
        rc = run_cli(args, out, sizeof out, err, sizeof err);
        CHECK_MSG(rc == 1 && strstr(err, lib_bad[i].want) && strstr(err, lib_bad[i].also), "'%s': rc %d: %s", args, rc,
                  err);
    }
    /* --help documents every option. */
    rc = run_cli("finetune --help", out, sizeof out, err, sizeof err);
    const char *opts[] = { "--kind", "--data", "--out", "--init", "--mode", "--warmup-epochs", "--fraction", "--seed",
                           "--epochs", "--batch", "--lr", "--threads", "--dims", "--patch", "--levels", "--filters",
                           "--ordinal", "--val-fraction", "--log", "--cases", "--frozen-norm", "--window",
                           "--optimizer", "--momentum", "--no-nesterov", "--schedule", "--poly-power", "--lr-warmup",
                           "--augment", "--aug", "--balance", "--voxel-budget", "--val-every", "--tta", "--resume",
                           "--elastic", "elastic_alpha", "elastic_sigma_lo", "--class-weights",
                           "--deep-supervision" };
    CHECK(rc == 0);
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) CHECK_MSG(strstr(out, opts[i]) != NULL, "help lacks %s", opts[i]);
    rc = run_cli("evaluate --help", out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strstr(out, "--predictions") && strstr(out, "--split") && strstr(out, "--json") &&
          strstr(out, "--cases") && strstr(out, "--tta"));
}
