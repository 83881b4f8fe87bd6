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
 * (bonus 0.1 with --init) and a 3-epoch log with val_dice 0.1, 0.2, 0.3. evaluate:
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
    "  echo \"$fr $seed $bonus\" > \"$out\"\n"
    "  if [ \"$seed\" = 4 ]; then for e in 1 2 3; do b=true; [ $e = 3 ] && b=false;\n"
    "    echo \"{\\\"epoch\\\": $e, \\\"val_dice\\\": 0.$e, \\\"best\\\": $b}\" >> \"$log\"; done\n"
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
