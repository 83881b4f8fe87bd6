/* `ssl3d protocol` end to end through bin/ssl3d with a fake `ssl3d finetune/evaluate`
 * (a shell script whose test metric is a known function of fraction, seed and method):
 * CSV rows, mean +- sd summary, resuming without redoing runs, failed runs, the MSD
 * test split, plots, usage errors. Skipped when bin/ssl3d is not built. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

/* Fake ssl3d. finetune: fails for seed 13; writes "fraction seed bonus" as the model
 * (bonus 0.1 with --init; with an init file named rand*, the control's, 0.01, 0.02, 0.03,
 * 0.06 for seeds 0, 1, 2, 3+) and a 3-epoch log with val_dice 0.1, 0.2, 0.3 (seed 4's log
 * keeps epoch 2, the others' best epoch is the last; seed 5's log is finetune's with
 * --val-every 2: val_dice null at epochs 1 and 3, 0.25 (kept) and 0.2, "val_cases" on every
 * line). evaluate:
 * dice_mean = fraction + bonus + seed/100. Every call is appended to calls.txt. */
static const char fake_sh[] =
    "#!/bin/sh\n"
    "D=$(dirname \"$0\")\n"
    "cmd=$1; shift\n"
    "echo \"$cmd $*\" >> \"$D/calls.txt\"\n"
    "case $cmd in\n"
    "finetune)\n"
    "  init=; while [ $# -gt 0 ]; do case $1 in --out) out=$2; shift;; --log) log=$2; shift;;\n"
    "    --fraction) fr=$2; shift;; --seed) seed=$2; shift;; --init) init=$2; shift;; esac; shift; done\n"
    "  [ \"$seed\" = 13 ] && { echo 'fake finetune: boom' >&2; exit 3; }\n"
    "  bonus=0; [ -n \"$init\" ] && bonus=0.1\n"
    "  case ${init##*/} in rand*) case $seed in 0) bonus=0.01;; 1) bonus=0.02;; 2) bonus=0.03;; *) bonus=0.06;; esac;; esac\n"
    "  echo \"$fr $seed $bonus\" > \"$out\"\n"
    "  if [ \"$seed\" = 4 ]; then for e in 1 2 3; do b=true; [ $e = 3 ] && b=false;\n"
    "    echo \"{\\\"epoch\\\": $e, \\\"val_dice\\\": 0.$e, \\\"best\\\": $b}\" >> \"$log\"; done\n"
    "  elif [ \"$seed\" = 5 ]; then for e in 1 2 3 4; do v=null; b=false; [ $e = 2 ] && { v=0.25; b=true; };\n"
    "    [ $e = 4 ] && v=0.2; echo \"{\\\"epoch\\\": $e, \\\"val_dice\\\": $v, \\\"best\\\": $b, \\\"val_cases\\\": 32}\" >> \"$log\"; done\n"
    "  else\n"
    "  for e in 1 2 3; do echo \"{\\\"epoch\\\": $e, \\\"loss\\\": 1, \\\"val_dice\\\": 0.$e, \\\"seconds\\\": 0.5}\" >> \"$log\"; done\n"
    "  fi\n"
    "  echo '{\"final\": true}' >> \"$log\" ;;\n"
    "evaluate)\n"
    "  while [ $# -gt 0 ]; do case $1 in --model) model=$2; shift;; esac; shift; done\n"
    "  read fr seed bonus < \"$model\"\n"
    "  awk -v f=$fr -v s=$seed -v b=$bonus 'BEGIN { printf \"{\\\"dice\\\": {\\\"1\\\": %g, \\\"2\\\": %g}, "
    "\\\"dice_mean\\\": %g, \\\"cases\\\": 4}\\n\", f, f + s / 100, f + b + s / 100 }' ;;\n"
    "esac\n";

static char dir[1024];

static const char *p(const char *name) {
    static char buf[4][1400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int count_lines(const char *path) {
    char *t = slurp(path);
    int n = 0;
    for (char *c = t; c && *c; c++) n += *c == '\n';
    free(t);
    return n;
}

static int contains(const char *path, const char *needle) {
    char *t = slurp(path);
    int yes = t && strstr(t, needle);
    free(t);
    return yes;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static int protocol(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "./bin/ssl3d protocol --ssl3d '%s' %s >'%s' 2>'%s'", p("fake.sh"), args, p("out.txt"),
             p("err.txt"));
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void setup(void) {
    snprintf(dir, sizeof dir, "%s", th_tmpdir());
    write_file(p("fake.sh"), fake_sh);
    chmod(p("fake.sh"), 0755);
    write_file(p("labels.csv"), "file,label,split\na.png,0,train\nb.png,1,train\nc.png,0,val\nd.png,1,test\n");
    const char *files[] = { "a.png", "b.png", "c.png", "d.png", "ck.safetensors" };
    for (int i = 0; i < 5; i++) write_file(p(files[i]), "");
}

/* Value of column `col` in the row of results.csv / summary.csv starting with `prefix`. */
static double field(const char *path, const char *prefix, const char *col) {
    char *t = slurp(path);
    if (!t) return NAN;
    int idx = -1, i = 0;
    char *hdr_end = strchr(t, '\n');
    for (char *c = t, *start = t; c <= hdr_end; c++)
        if (*c == ',' || *c == '\n') {
            if ((size_t)(c - start) == strlen(col) && !strncmp(start, col, strlen(col))) idx = i;
            i++;
            start = c + 1;
        }
    double v = NAN;
    char *row = strstr(t, prefix);
    if (row && idx >= 0) {
        char *c = row;
        for (int k = 0; k < idx && c; k++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
        if (c && *c != ',' && *c != '\n') v = atof(c);
    }
    free(t);
    return v;
}

TEST(protocol_cli_runs_resumes_and_summarises) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    char args[4096];
    snprintf(args, sizeof args,
             "--kind segment --data '%s' --run-dir '%s' --method scratch --method 'pre=%s' --fractions 50,10 "
             "--seeds 0,1 --no-plots -- --epochs 3",
             p("labels.csv"), p("run"), p("ck.safetensors"));
    int rc = protocol(args);
    CHECK_MSG(rc == 0, "protocol exit %d", rc);
    if (rc != 0) { char *e = slurp(p("err.txt")); fprintf(stderr, "%s\n", e ? e : ""); free(e); }
    CHECK(count_lines(p("calls.txt")) == 16);   /* 2 methods x 2 fractions x 2 seeds x 2 steps */
    /* finetune arguments: mode per method, --init, extra options after --; evaluate on the test split */
    CHECK(contains(p("calls.txt"), "--fraction 0.10000000000000001 --seed 1"));
    CHECK(contains(p("calls.txt"), "--mode scratch --epochs 3"));
    CHECK(contains(p("calls.txt"), "--mode warmup --init"));
    CHECK(contains(p("calls.txt"), "--json --split test"));
    /* results.csv: header + 8 rows; values from the fake's formula */
    char res[1400], sum[1400];   /* p() reuses its buffers: keep copies */
    snprintf(res, sizeof res, "%s", p("run/results.csv"));
    snprintf(sum, sizeof sum, "%s", p("run/summary.csv"));
    CHECK(count_lines(res) == 9);
    CHECK(contains(res, "method,init,fraction,seed,status,dice.1,dice.2,dice_mean,cases,epochs,best_epoch,best_val,train_seconds\n"));
    CHECK_NEAR(field(res, "pre,", "dice_mean"), 0.1 + 0.1, 1e-6);              /* first pre row: 10%, seed 0 */
    CHECK(contains(res, ",0.5,1,ok,0.5,0.51,0.61,4,3,3,0.3,1.500\n"));            /* pre, 50%, seed 1 */
    CHECK(contains(res, "scratch,\"\",0.1,0,ok,0.1,0.1,0.1,4,3,3,0.3,1.500\n"));
    /* summary: mean and sample sd over the two seeds */
    CHECK(contains(sum, "method,fraction,runs,dice.1_mean,dice.1_sd,"));
    CHECK_NEAR(field(sum, "pre,0.1,2", "dice_mean_mean"), 0.205, 1e-6);
    CHECK_NEAR(field(sum, "pre,0.1,2", "dice_mean_sd"), 0.01 / sqrt(2.0), 1e-6);
    CHECK_NEAR(field(sum, "scratch,0.5,2", "dice_mean_mean"), 0.505, 1e-6);
    CHECK_NEAR(field(sum, "scratch,0.5,2", "best_val_mean"), 0.3, 1e-9);
    CHECK(contains(p("run/summary.md"), "| pre | 10% | 2/2 |"));
    CHECK(contains(p("out.txt"), "0.2050 ± 0.0071"));
    /* plot data: metric vs fraction per method, validation curve per epoch */
    CHECK(contains(p("run/metric_vs_fraction.dat"), "10 0.205 0.00707107\n50 0.605 0.00707107\n"));
    CHECK(contains(p("run/convergence_f10.dat"), "1 0.1 0 2\n2 0.2 0 2\n3 0.3 0 2\n"));
    CHECK(contains(p("run/metric_vs_fraction.gp"), "index 1 using 1:2:3 with yerrorlines lw 2 title 'pre'"));
    CHECK(contains(p("run/protocol.cfg"), "finetune_options=--epochs 3\n"));

    /* resume: nothing is redone */
    rc = protocol(args);
    CHECK(rc == 0);
    CHECK(count_lines(p("calls.txt")) == 16);
    CHECK(contains(p("err.txt"), "done before"));
    /* a lost evaluation is redone, without fine-tuning again */
    CHECK(remove(p("run/runs/scratch/f50/s1/eval.json")) == 0);
    rc = protocol(args);
    CHECK(rc == 0);
    CHECK(count_lines(p("calls.txt")) == 17);
    /* a new seed whose finetune fails: exit 1, a failed row, the summary keeps 2 runs */
    char args2[4200];
    snprintf(args2, sizeof args2,
             "--kind segment --data '%s' --run-dir '%s' --method scratch --method 'pre=%s' --fractions 10,50 "
             "--seeds 0,1,13 --no-plots -- --epochs 3",
             p("labels.csv"), p("run"), p("ck.safetensors"));
    rc = protocol(args2);
    CHECK(rc == 1);
    CHECK(count_lines(p("calls.txt")) == 17 + 4);
    CHECK(contains(res, "scratch,\"\",0.1,13,finetune failed (3),,,,,,,,\n"));
    CHECK(contains(p("run/runs/scratch/f10/s13/finetune.log"), "fake finetune: boom"));
    CHECK_NEAR(field(sum, "pre,0.1,2", "dice_mean_mean"), 0.205, 1e-6);
    CHECK(contains(p("err.txt"), "FAILED"));
    /* other settings in the same run directory are refused */
    snprintf(args2, sizeof args2, "--kind segment --data '%s' --run-dir '%s' --seeds 0 -- --epochs 4",
             p("labels.csv"), p("run"));
    CHECK(protocol(args2) == 2);
    CHECK(contains(p("err.txt"), "other settings"));
    snprintf(args2, sizeof args2, "--kind segment --data '%s' --run-dir '%s' --method 'pre=%s' -- --epochs 3",
             p("labels.csv"), p("run"), p("other.safetensors"));
    CHECK(protocol(args2) == 2);
    CHECK(contains(p("err.txt"), "method pre was run with --init"));
}

/* Epochs without validation have no point on the convergence curve, and best epoch / value
 * are those of the kept epoch: no other "val_*" field (val_cases) stands in for a null. */
TEST(protocol_cli_epochs_without_validation_have_no_value) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    char args[4096];
    snprintf(args, sizeof args,
             "--kind segment --data '%s' --run-dir '%s' --method scratch --fractions 50 --seeds 5 --no-plots",
             p("labels.csv"), p("run"));
    int rc = protocol(args);
    CHECK_MSG(rc == 0, "protocol exit %d", rc);
    char dat[1400];
    snprintf(dat, sizeof dat, "%s", p("run/convergence_f50.dat"));
    CHECK(contains(dat, "# scratch: epoch mean sd runs\n2 0.25 0 1\n4 0.2 0 1\n"));
    CHECK(!contains(dat, " 32 "));
    CHECK(contains(p("run/results.csv"), ",0.5,5,ok,0.5,0.55,0.55,4,4,2,0.25,"));   /* epochs 4, kept 2 */
}

TEST(protocol_cli_msd_test_split_dry_run_and_plots) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    /* an MSD manifest of 8 labelled cases: 2 held out (25%), 6 in the pool */
    char json[4096] = "{\"name\": \"t\", \"labels\": {\"0\": \"bg\", \"1\": \"fg\"}, \"training\": [";
    for (int i = 0; i < 8; i++) {
        char im[64], lb[64], item[200];
        snprintf(im, sizeof im, "i%d.nii.gz", i);
        snprintf(lb, sizeof lb, "l%d.nii.gz", i);
        write_file(p(im), "");
        write_file(p(lb), "");
        snprintf(item, sizeof item, "%s{\"image\": \"./%s\", \"label\": \"./%s\"}", i ? ", " : "", im, lb);
        strcat(json, item);
    }
    strcat(json, "], \"test\": []}");
    write_file(p("dataset.json"), json);
    char args[4096];
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --fractions 50 --seeds 4 --dry-run",
             p("dataset.json"), p("msd"));
    CHECK(protocol(args) == 0);
    CHECK(contains(p("out.txt"), " finetune --kind segment"));
    CHECK(contains(p("out.txt"), "--cases"));
    CHECK(access(p("msd/runs"), F_OK) != 0);   /* a dry run creates no run */
    CHECK(access(p("calls.txt"), F_OK) != 0);

    int plots = system("gnuplot --version >/dev/null 2>&1") == 0;
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --fractions 50,100 --seeds 4%s",
             p("dataset.json"), p("msd"), plots ? "" : " --no-plots");
    int rc = protocol(args);
    CHECK_MSG(rc == 0, "protocol exit %d", rc);
    CHECK(count_lines(p("msd/pool_cases.txt")) == 1 + 6);
    CHECK(count_lines(p("msd/test_cases.txt")) == 1 + 2);
    /* one seed: summary.md shows values without a "± 0.0000" sample sd */
    CHECK(contains(p("msd/summary.md"), "| scratch | 50% | 1/1 |"));
    CHECK(!contains(p("msd/summary.md"), "± 0.0000"));
    /* seed 4's fake log marks epoch 2 (val 0.2) as the kept model, not the maximum 0.3 */
    CHECK_NEAR(field(p("msd/results.csv"), "scratch,", "best_val"), 0.2, 1e-9);
    CHECK_NEAR(field(p("msd/results.csv"), "scratch,", "best_epoch"), 2, 1e-9);
    CHECK(contains(p("msd/summary.md"), " 0/1 |\n"));   /* best = last: no */
    char cases[2048];
    snprintf(cases, sizeof cases, "--cases %s", p("msd/pool_cases.txt"));
    CHECK(contains(p("calls.txt"), cases));
    snprintf(cases, sizeof cases, "--json --cases %s", p("msd/test_cases.txt"));
    CHECK(contains(p("calls.txt"), cases));
    /* test and pool are disjoint and cover the 8 cases */
    char *a = slurp(p("msd/pool_cases.txt")), *b = slurp(p("msd/test_cases.txt"));
    int seen[8] = { 0 };
    for (char *t = a; t && *t; t = strchr(t, '\n') + 1) { if (*t != '#') seen[atoi(t)]++; if (!strchr(t, '\n')) break; }
    for (char *t = b; t && *t; t = strchr(t, '\n') + 1) { if (*t != '#') seen[atoi(t)]++; if (!strchr(t, '\n')) break; }
    for (int i = 0; i < 8; i++) CHECK(seen[i] == 1);
    free(a); free(b);
    if (plots) {
        const char *pngs[] = { "msd/metric_vs_fraction.png", "msd/convergence_f50.png", "msd/convergence_f100.png" };
        for (int i = 0; i < 3; i++) {
            char *png = slurp(p(pngs[i]));
            CHECK_MSG(png && !memcmp(png, "\x89PNG", 4), "%s is not a PNG", pngs[i]);
            free(png);
        }
    }
}

TEST(protocol_cli_usage_errors) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    char args[4096];
    CHECK(protocol("--kind segment --run-dir x") == 2);
    CHECK(contains(p("err.txt"), "missing --data"));
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --method 'a/b'", p("labels.csv"), p("r"));
    CHECK(protocol(args) == 2);
    CHECK(contains(p("err.txt"), "--method 'a/b'"));
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --fractions 0,10", p("labels.csv"), p("r"));
    CHECK(protocol(args) == 2);
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --seeds 1,x", p("labels.csv"), p("r"));
    CHECK(protocol(args) == 2);
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --mode half", p("labels.csv"), p("r"));
    CHECK(protocol(args) == 2);
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --level 95", p("labels.csv"), p("r"));
    CHECK(protocol(args) == 2);
    CHECK(contains(p("err.txt"), "--level '95': expected a number in (0, 1)"));
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --method a --control a=x", p("labels.csv"),
             p("r"));
    CHECK(protocol(args) == 2);
    CHECK(contains(p("err.txt"), "method a given twice"));
    CHECK(protocol("--kind segment --data x --run-dir y --bogus") == 2);
    CHECK(contains(p("err.txt"), "unknown option '--bogus'"));
    /* a CSV manifest without a test split cannot be used */
    write_file(p("notest.csv"), "file,label,split\na.png,0,train\nb.png,1,val\n");
    snprintf(args, sizeof args, "--kind classify --data '%s' --run-dir '%s'", p("notest.csv"), p("r2"));
    CHECK(protocol(args) == 1);
    CHECK(contains(p("err.txt"), "has no test split"));
    /* an unreadable or empty --data is refused before the run directory records it */
    snprintf(args, sizeof args, "--kind classify --data '' --run-dir '%s'", p("r3"));
    CHECK(protocol(args) == 1);
    CHECK(contains(p("err.txt"), "--data '': no such readable file"));
    CHECK(access(p("r3/protocol.cfg"), F_OK) != 0);
    CHECK(protocol("--help") == 0);
    CHECK(contains(p("out.txt"), "usage: ssl3d protocol"));
}

/* Two protocol calls side by side on one run directory (one method each, as
 * docs/results/finetune/run_protocol.sh does) both succeed: every shared file is written
 * through a per-process temporary name. A leftover "results.csv.tmp" (here a directory,
 * which no fopen can replace) used to make every call fail with "cannot write". */
TEST(protocol_cli_side_by_side_calls_share_a_run_dir) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    mkdir(p("run"), 0755);
    mkdir(p("run/results.csv.tmp"), 0755);
    mkdir(p("run/protocol.cfg.tmp"), 0755);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "for m in a b; do ./bin/ssl3d protocol --ssl3d '%s' --kind segment --data '%s' --run-dir '%s' "
             "--method $m --fractions 50,100 --seeds 0,1 --no-plots --quiet >'%s'.$m 2>&1 & done; "
             "wait %%1; r1=$?; wait %%2; r2=$?; exit $((r1 + r2))",
             p("fake.sh"), p("labels.csv"), p("run"), p("out"));
    int rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "side-by-side calls exit %d", WEXITSTATUS(rc));
    for (const char *m = "a"; *m; m = *m == 'a' ? "b" : "") {
        char path[1500];
        snprintf(path, sizeof path, "%s.%s", p("out"), m);
        char *t = slurp(path);
        CHECK_MSG(t && !strstr(t, "cannot write"), "call %s: %s", m, t ? t : "(no output)");
        free(t);
    }
    /* A report call over both methods runs nothing new and lists all 8 runs. */
    unlink(p("calls.txt"));
    char args[4096];
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --method a --method b "
             "--fractions 50,100 --seeds 0,1 --no-plots", p("labels.csv"), p("run"));
    CHECK(protocol(args) == 0);
    CHECK(access(p("calls.txt"), F_OK) != 0);
    CHECK(count_lines(p("run/results.csv")) == 9);
}

/* Paired comparisons through the CLI: scratch, the random-encoder control and a pretrained
 * method, 4 seeds. With the fake's formula the differences are known exactly:
 *   control - scratch = 0.01, 0.02, 0.03, 0.06: the example of tests/test_stats.c,
 *       mean 0.03, 95% CI [-0.0043743, 0.0643743], p = 0.0691369 (worked there by hand)
 *   pre - scratch = 0.1 at every seed: zero variance, CI [0.1, 0.1], p n/a
 *   pre - control = 0.09, 0.08, 0.07, 0.04: the same deviations mirrored, so the same sd
 *       and half-width: mean 0.07, CI 0.07 -+ 0.0343743 = [0.0356257, 0.1043743],
 *       t = 0.07 / 0.0108012 = 6.48074, p = 0.0074571 (df = 3 closed form as in test_stats.c)
 * Every run's best epoch is its last (3 of 3): flagged. */
TEST(protocol_cli_paired_comparisons_with_control) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    write_file(p("rand.safetensors"), "");
    char args[4096];
    snprintf(args, sizeof args,
             "--kind segment --data '%s' --run-dir '%s' --method scratch --control 'rand=%s' --method 'pre=%s' "
             "--fractions 50 --seeds 0,1,2,3 --no-plots -- --epochs 3",
             p("labels.csv"), p("run"), p("rand.safetensors"), p("ck.safetensors"));
    int rc = protocol(args);
    CHECK_MSG(rc == 0, "protocol exit %d", rc);
    /* the control is fine-tuned like a pretrained method: same --mode, --init its checkpoint */
    char want[2048];
    snprintf(want, sizeof want, "--mode warmup --init %s", p("rand.safetensors"));
    CHECK(contains(p("calls.txt"), want));
    char cmp[1400];
    snprintf(cmp, sizeof cmp, "%s", p("run/comparisons.csv"));
    CHECK(contains(cmp, "metric,method,baseline,baseline_role,fraction,pairs,seeds_ahead,method_mean,baseline_mean,"
                        "mean_diff,sd_diff,ci_low,ci_high,t,df,p_value,best_last_runs,per_seed_diff\n"));
    /* three comparisons: rand - scratch, pre - scratch, pre - rand (no scratch - rand) */
    CHECK(count_lines(cmp) == 4);
    CHECK_NEAR(field(cmp, "dice_mean,rand,scratch,scratch,0.5,4,4,", "mean_diff"), 0.03, 1e-6);
    CHECK_NEAR(field(cmp, "dice_mean,rand,scratch,", "ci_low"), -0.0043743, 1e-6);
    CHECK_NEAR(field(cmp, "dice_mean,rand,scratch,", "ci_high"), 0.0643743, 1e-6);
    CHECK_NEAR(field(cmp, "dice_mean,rand,scratch,", "p_value"), 0.0691369, 1e-6);
    CHECK_NEAR(field(cmp, "dice_mean,rand,scratch,", "df"), 3, 0);
    CHECK(contains(cmp, ",8/8,s0:+0.01 s1:+0.02 s2:+0.03 s3:+0.06\n"));
    CHECK(contains(cmp, "dice_mean,pre,scratch,scratch,0.5,4,4,0.615,0.515,0.1,0,0.1,0.1,n/a,3,n/a,8/8,"));
    CHECK(contains(cmp, "dice_mean,pre,rand,control,0.5,4,4,"));
    CHECK_NEAR(field(cmp, "dice_mean,pre,rand,", "ci_low"), 0.0356257, 1e-6);
    CHECK_NEAR(field(cmp, "dice_mean,pre,rand,", "t"), 6.48074, 1e-5);
    CHECK_NEAR(field(cmp, "dice_mean,pre,rand,", "p_value"), 0.0074571, 1e-6);
    CHECK(!contains(cmp, "nan") && !contains(cmp, "inf"));
    /* summary.md: flags and the comparison tables */
    char md[1400];
    snprintf(md, sizeof md, "%s", p("run/summary.md"));
    CHECK(contains(md, " 4/4 ! |\n"));
    CHECK(contains(md, "dice_mean − scratch (scratch):"));
    CHECK(contains(md, "| rand | +0.030 [-0.004, +0.064] p=0.069 (4/4) ! |"));
    CHECK(contains(md, "| pre | +0.100 [+0.100, +0.100] p n/a (4/4) ! |"));
    CHECK(contains(md, "dice_mean − rand (control):"));
    CHECK(contains(md, "| pre | +0.070 [+0.036, +0.104] p=0.007 (4/4) ! |"));
    CHECK(!contains(md, "nan"));
    CHECK(contains(p("out.txt"), "dice_mean − rand (control):"));   /* printed as well */
    /* difference plots: one per baseline, the mean and the interval per fraction */
    CHECK(contains(p("run/diff_vs_scratch.dat"), "# rand - scratch: fraction_pct mean_diff ci_low ci_high pairs\n"
                                                 "50 0.03 -0.00437435 0.0643743 4\n"));
    CHECK(contains(p("run/diff_vs_rand.gp"), "using 1:2:3:4 with yerrorlines lw 2 title 'pre'"));
    /* a 90% level narrows the interval: t_{0.95,3} = 2.353363 */
    snprintf(args, sizeof args,
             "--kind segment --data '%s' --run-dir '%s' --method scratch --control 'rand=%s' --method 'pre=%s' "
             "--fractions 50 --seeds 0,1,2,3 --no-plots --level 0.9 -- --epochs 3",
             p("labels.csv"), p("run"), p("rand.safetensors"), p("ck.safetensors"));
    CHECK(protocol(args) == 0);
    CHECK_NEAR(field(cmp, "dice_mean,rand,scratch,", "ci_high"), 0.03 + 2.353363 * sqrt(0.0014 / 3) / 2, 1e-6);
    CHECK(count_lines(p("calls.txt")) == 24);   /* 3 methods x 4 seeds x 2 steps: nothing redone */
    /* scratch alone at 100% (2 seeds), then one report over everything: --report-only runs
     * nothing and leaves out the cells never run */
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --method scratch --fractions 100 "
             "--seeds 0,1 --no-plots -- --epochs 3", p("labels.csv"), p("run"));
    CHECK(protocol(args) == 0);
    CHECK(count_lines(p("calls.txt")) == 28);
    snprintf(args, sizeof args,
             "--kind segment --data '%s' --run-dir '%s' --method scratch --control 'rand=%s' --method 'pre=%s' "
             "--fractions 50,100 --seeds 0,1,2,3 --no-plots --report-only -- --epochs 3",
             p("labels.csv"), p("run"), p("rand.safetensors"), p("ck.safetensors"));
    rc = protocol(args);
    CHECK_MSG(rc == 0, "report-only exit %d", rc);
    CHECK(count_lines(p("calls.txt")) == 28);
    CHECK(contains(md, "| scratch | 100% | 2/2 |"));
    CHECK(contains(md, "| scratch | 50% | 4/4 |"));
    CHECK(!contains(md, "| pre | 100% |"));
    CHECK(contains(md, "| pre | +0.100 [+0.100, +0.100] p n/a (4/4) ! | – |"));
    CHECK(count_lines(p("run/results.csv")) == 1 + 12 + 2);
    CHECK(contains(p("err.txt"), "14 of 14 runs ok (the others not finished, left out)"));
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --report-only", p("labels.csv"), p("r3"));
    CHECK(protocol(args) == 1);
    CHECK(contains(p("err.txt"), "has no protocol.cfg"));
    CHECK(access(p("r3"), F_OK) != 0);
    /* a control needs its checkpoint */
    snprintf(args, sizeof args, "--kind segment --data '%s' --run-dir '%s' --control rand", p("labels.csv"), p("r2"));
    CHECK(protocol(args) == 2);
    CHECK(contains(p("err.txt"), "--control rand: expected NAME=CKPT"));
}

/* --from-results: reports from results.csv files alone (two files sharing rows, as the
 * control run's file repeats the scratch rows), one pair (n/a interval and p), cells only
 * some methods ran, conflicting duplicates refused. */
TEST(protocol_cli_from_results_reanalysis) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    setup();
    write_file(p("a.csv"), "method,init,fraction,seed,status,dice_mean,epochs,best_val,train_seconds\n"
                           "scratch,\"\",0.1,0,ok,0.5,6,0.4,1\n"
                           "scratch,\"\",0.1,1,ok,0.6,6,0.4,1\n"
                           "scratch,\"\",1,0,ok,0.8,6,0.4,1\n"
                           "pre,\"/x/p,q.safetensors\",0.1,0,ok,0.55,6,0.4,1\n"
                           "pre,\"/x/p,q.safetensors\",0.1,1,finetune failed (3),,,,\n");
    write_file(p("b.csv"), "method,init,fraction,seed,status,dice_mean,epochs,best_val,train_seconds\n"
                           "scratch,\"\",0.1,0,ok,0.5,6,0.4,1\n"
                           "rnd,\"/x/r.safetensors\",0.1,0,ok,0.45,6,0.4,1\n"
                           "rnd,\"/x/r.safetensors\",0.1,1,ok,0.65,6,0.4,1\n");
    char args[4096];
    snprintf(args, sizeof args, "--from-results '%s' --from-results '%s' --control rnd --run-dir '%s' --no-plots",
             p("a.csv"), p("b.csv"), p("re"));
    int rc = protocol(args);
    CHECK_MSG(rc == 0, "protocol exit %d", rc);
    char cmp[1400], md[1400];
    snprintf(cmp, sizeof cmp, "%s", p("re/comparisons.csv"));
    snprintf(md, sizeof md, "%s", p("re/summary.md"));
    /* pre - scratch at 10%: one pair (seed 1 failed) -> difference only */
    CHECK(contains(cmp, "dice_mean,pre,scratch,scratch,0.1,1,1,0.55,0.5,0.05,n/a,n/a,n/a,n/a,0,n/a,n/a,s0:+0.05\n"));
    CHECK(contains(md, "| pre | +0.050 [n/a] p n/a (1/1) | – |"));
    /* rnd is the control: compared with scratch (2 pairs: -0.05, +0.05), pre with it */
    CHECK(contains(cmp, "dice_mean,rnd,scratch,scratch,0.1,2,1,0.55,0.55,"));
    CHECK_NEAR(field(cmp, "dice_mean,rnd,scratch,", "mean_diff"), 0, 1e-12);
    CHECK_NEAR(field(cmp, "dice_mean,rnd,scratch,", "sd_diff"), 0.0707107, 1e-6);
    CHECK_NEAR(field(cmp, "dice_mean,rnd,scratch,", "p_value"), 1.0, 1e-12);
    /* t_{0.975,1} = 12.706205: CI 0 -+ 12.706205 * 0.0707107 / sqrt(2) */
    CHECK_NEAR(field(cmp, "dice_mean,rnd,scratch,", "ci_high"), 12.706205 * 0.05, 1e-6);
    CHECK(contains(cmp, "dice_mean,pre,rnd,control,0.1,1,1,"));
    /* scratch alone at 100%: in the summary, no comparison; pre has no 100% row */
    CHECK(contains(md, "| scratch | 100% | 1/1 |"));
    CHECK(!contains(md, "| pre | 100% |"));
    CHECK(contains(md, "| pre | 10% | 1/2 |"));
    CHECK(contains(md, "Re-analysis of"));
    CHECK(!contains(cmp, ",scratch,scratch,1,"));   /* nothing to compare at 100% */
    CHECK(contains(p("re/results.csv"), "pre,\"/x/p,q.safetensors\",0.1,1,finetune failed (3),"));
    CHECK(!contains(md, "nan"));
    /* a duplicate row with another value is refused, naming the run */
    write_file(p("c.csv"), "method,init,fraction,seed,status,dice_mean\nscratch,\"\",0.1,0,ok,0.51\n");
    snprintf(args, sizeof args, "--from-results '%s' --from-results '%s' --run-dir '%s'", p("a.csv"), p("c.csv"),
             p("re2"));
    CHECK(protocol(args) == 1);
    CHECK(contains(p("err.txt"), "two different rows for scratch, fraction 0.1, seed 0"));
    /* options that need a run are refused; --control must name a method of the files */
    snprintf(args, sizeof args, "--from-results '%s' --kind segment --run-dir '%s'", p("a.csv"), p("re3"));
    CHECK(protocol(args) == 2);
    snprintf(args, sizeof args, "--from-results '%s' --control nope --run-dir '%s'", p("a.csv"), p("re3"));
    CHECK(protocol(args) == 1);
    CHECK(contains(p("err.txt"), "--control nope: no such method"));
    write_file(p("d.csv"), "method,seed\nx,1\n");
    snprintf(args, sizeof args, "--from-results '%s' --run-dir '%s'", p("d.csv"), p("re3"));
    CHECK(protocol(args) == 1);
    CHECK(contains(p("err.txt"), "not a results.csv"));
}
