/* `ssl3d protocol`: the data-efficiency protocol. For every method x label fraction x
 * seed it runs `ssl3d finetune` then `ssl3d evaluate --json` as subprocesses in its own
 * directory of a resumable run directory, then writes results.csv (one row per run),
 * summary.csv / summary.md (mean +- sample sd over seeds), comparisons.csv (paired
 * differences against scratch and the random-encoder control, with confidence intervals
 * and paired t-tests) and gnuplot plots of the test metric and of the differences against
 * the label fraction and of the validation metric against the epoch. --from-results
 * writes the same reports from earlier results.csv files without running anything. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ssl3d.h"
#include "ssl3d/metrics.h"
#include "cli.h"
#include "cli_util.h"
#include "cli_backend.h"
#include "protocol.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: ssl3d protocol --kind segment|classify --data MANIFEST --run-dir DIR\n"
        "                      [--method NAME[=CKPT]]... [--control NAME=CKPT]... [options]\n"
        "                      [-- FINETUNE OPTIONS...]\n"
        "       ssl3d protocol --from-results RESULTS_CSV... --run-dir DIR [--control NAME]...\n"
        "                      [--metric LIST] [--level L] [--no-plots]\n"
        "\n"
        "The data-efficiency protocol: each method is fine-tuned on nested random subsets of the\n"
        "labelled training cases (--fractions, one subset chain per seed, drawn by `finetune\n"
        "--fraction F --seed S`) and evaluated on the held-out test set, which is never used for\n"
        "training or model selection. Every run is `ssl3d finetune` + `ssl3d evaluate --json` in\n"
        "DIR/runs/METHOD/fPCT/sSEED/; a run whose eval.json exists is not redone, so the same\n"
        "command resumes an interrupted protocol (or adds methods, fractions, seeds).\n"
        "\n"
        "required:\n"
        "  --kind segment|classify  passed to finetune\n"
        "  --data MANIFEST          MSD dataset.json or CSV file,label,split\n"
        "  --run-dir DIR            run directory (created; reused to resume)\n"
        "methods:\n"
        "  --method NAME[=CKPT]     repeatable; NAME alone trains from scratch, NAME=CKPT starts\n"
        "                           from the encoder of a pretraining checkpoint (--init CKPT).\n"
        "                           NAME: letters, digits, '_', '-', '.'. Default: one method\n"
        "                           \"scratch\"\n"
        "  --control NAME=CKPT      repeatable; the random-encoder control: CKPT holds an\n"
        "                           UNTRAINED encoder of the same architecture (e.g. `ssl3d\n"
        "                           pretrain --lr 0`, which only fills the batch-norm running\n"
        "                           statistics), fine-tuned with the same --mode as the\n"
        "                           pretrained methods: it measures what the schedule alone\n"
        "                           gives. Every pretrained method is compared with scratch\n"
        "                           and with the control, the control with scratch\n"
        "  --mode frozen|warmup|scratch   finetune --mode of the methods with a checkpoint\n"
        "                           (default warmup); methods without one use scratch\n"
        "protocol:\n"
        "  --fractions LIST         label percentages, comma-separated (default 5,10,25,50,100)\n"
        "  --seeds LIST             seeds, comma-separated (default 0,1,2,3,4)\n"
        "  --metric LIST            metrics compared, keys of evaluate --json, comma-separated\n"
        "                           (default dice_mean for segment, auc for classify); the\n"
        "                           first is also the plots' and the validation curve's (its\n"
        "                           val_* key of the training log), e.g. --metric auc,qwk\n"
        "  --level L                confidence level of the intervals, 0 < L < 1 (default 0.95)\n"
        "  --test-fraction F        MSD manifests (no labelled test split): a seeded share of\n"
        "                           the labelled cases held out as the test set (default 0.25),\n"
        "                           written to DIR/test_cases.txt; the rest, DIR/pool_cases.txt,\n"
        "                           is passed to finetune --cases and the test set to evaluate\n"
        "                           --cases. CSV manifests use their train/val/test splits\n"
        "  --split-seed S           seed of that test split (default 0)\n"
        "programs and output:\n"
        "  --ssl3d PROG             program run as `PROG finetune` / `PROG evaluate` (default:\n"
        "                           this ssl3d)\n"
        "  --backend cpu|cuda       passed to every finetune and evaluate run (default cpu); cuda\n"
        "                           is probed first and the protocol stops with the reason when it\n"
        "                           is unavailable (docs/cuda.md)\n"
        "  --gnuplot PROG           (default gnuplot); --no-plots writes data and scripts only\n"
        "  --dry-run                print the commands of the runs still to do, run nothing\n"
        "  --report-only            run nothing: write the reports from the finished runs of\n"
        "                           DIR (unfinished or never-run cells are left out), e.g. one\n"
        "                           report over methods that were run at different fractions\n"
        "  --from-results FILE      repeatable: run nothing; read results.csv files of earlier\n"
        "                           protocol calls (the first row of a method, fraction and seed\n"
        "                           wins; a duplicate with another value is an error) and write\n"
        "                           the reports into DIR. Methods with an init are pretrained,\n"
        "                           except those named by --control NAME\n"
        "  --quiet                  no progress lines\n"
        "  -- OPTIONS...            everything after -- is passed to every finetune\n"
        "                           (e.g. -- --epochs 50 --batch 2 --patch 32), except what\n"
        "                           the protocol sets per run: --kind --data --out --fraction\n"
        "                           --seed --log --mode --init --cases --backend (an error)\n"
        "\n"
        "outputs in DIR: results.csv (method,init,fraction,seed,status, every metric of\n"
        "evaluate --json, epochs, best_epoch, best_val, train_seconds), summary.csv and\n"
        "summary.md (mean and sample sd over seeds, runs whose best epoch was the last, then\n"
        "the comparison tables), comparisons.csv (per metric, method, baseline and fraction:\n"
        "pairs = seeds both finished, the per-seed differences, their mean, a Student-t\n"
        "confidence interval with pairs-1 df, the two-sided paired t-test p-value; n/a where\n"
        "undefined: one pair, or equal differences), metric_vs_fraction.png, diff_vs_BASELINE.png\n"
        "(mean difference and interval vs fraction), convergence_fPCT.png (validation metric per\n"
        "epoch), their .dat/.gp files, protocol.cfg (settings a resume must match).\n"
        "Exit status: 0 all runs ok, 1 a run failed (its row says which step; logs are in its\n"
        "directory) or an output could not be written, 2 usage error.\n");
}

/* ---------------------------------------------------------------- option parsing */

static int parse_list(const char *opt, const char *text, double *out, int cap, int *n, int integers) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) goto bad;
    *n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        errno = 0;
        double v = strtod(tok, &end);
        if (end == tok || *end || errno || *n >= cap || !isfinite(v)) goto bad;
        if (integers && (v < 0 || v > (double)LONG_MAX / 2 || v != floor(v))) goto bad;
        out[(*n)++] = v;
    }
    if (*n == 0) goto bad;
    return 1;
bad:
    fprintf(stderr, "ssl3d protocol: %s '%s': expected a comma-separated list of %s (at most %d)\n", opt, text,
            integers ? "non-negative integers" : "numbers", cap);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int valid_name(const char *s, size_t len) {
    if (len == 0 || len >= 64 || s[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* --metric LIST into o->metrics; o->metric is the first. */
static int parse_metrics(proto_opts *o, const char *list) {
    char buf[512];
    o->n_metrics = 0;
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf) goto bad;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (o->n_metrics >= PROTO_MAX_METRICS || !*tok || strlen(tok) >= sizeof o->metrics[0]) goto bad;
        snprintf(o->metrics[o->n_metrics++], sizeof o->metrics[0], "%s", tok);
    }
    if (o->n_metrics == 0) goto bad;
    o->metric = o->metrics[0];
    return 1;
bad:
    fprintf(stderr, "ssl3d protocol: --metric '%s': expected a comma-separated list of at most %d metric keys\n", list,
            PROTO_MAX_METRICS);
    return 0;
}

/* --from-results: the options that make sense without running anything. --control NAME
 * (no checkpoint) names the control among the files' methods; methods come from the files. */
static int parse_report_only(proto_opts *o, const char *metrics) {
    if (o->kind || o->data || o->dry_run || o->report_only || o->n_extra) {
        fprintf(stderr, "ssl3d protocol: --from-results runs nothing: %s cannot be used with it\n",
                o->kind ? "--kind" : o->data ? "--data" : o->dry_run ? "--dry-run" : o->report_only ? "--report-only"
                : "-- FINETUNE OPTIONS");
        return 2;
    }
    for (int m = 0; m < o->n_methods; m++) {
        if (o->methods[m].role != PROTO_CONTROL || o->methods[m].ckpt) {
            fprintf(stderr, "ssl3d protocol: --from-results takes its methods from the files: use --control NAME "
                            "(no checkpoint) to name the control, not --method %s\n", o->methods[m].name);
            return 2;
        }
        o->control_names[o->n_control_names++] = o->methods[m].name;
    }
    /* the names live in o->methods, which proto_read_results refills: keep copies */
    static char names[PROTO_MAX_METHODS][64];
    for (int i = 0; i < o->n_control_names; i++) {
        snprintf(names[i], sizeof names[i], "%s", o->control_names[i]);
        o->control_names[i] = names[i];
    }
    o->n_methods = 0;
    if (metrics && !parse_metrics(o, metrics)) return 2;
    return 0;
}

static int parse_args(int argc, char **argv, proto_opts *o) {
    const char *fractions = "5,10,25,50,100", *seeds = "0,1,2,3,4", *metrics = NULL;
    o->mode = "warmup";
    o->level = 0.95;
    o->gnuplot = "gnuplot";
    o->backend = "cpu";
    o->test_fraction = 0.25;
    static const char *const repeatable[] = { "--method", "--control", "--from-results", NULL };
    if (cli_reject_repeats("protocol", argc, argv, repeatable)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) { o->extra = argv + i + 1; o->n_extra = argc - i - 1; break; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return -1; }
        if (!strcmp(a, "--no-plots")) { o->no_plots = 1; continue; }
        if (!strcmp(a, "--dry-run")) { o->dry_run = 1; continue; }
        if (!strcmp(a, "--report-only")) { o->report_only = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        static const char *with_value[] = { "--kind", "--data", "--run-dir", "--method", "--mode", "--fractions",
                                            "--seeds", "--metric", "--test-fraction", "--split-seed", "--ssl3d", "--backend",
                                            "--gnuplot", "--control", "--level", "--from-results" };
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++) known |= !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "ssl3d protocol: unknown option '%s' (see ssl3d protocol --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) { fprintf(stderr, "ssl3d protocol: option %s needs a value\n", a); return 2; }
        const char *v = argv[++i];
        if (!strcmp(a, "--kind")) o->kind = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--run-dir")) o->dir = v;
        else if (!strcmp(a, "--mode")) o->mode = v;
        else if (!strcmp(a, "--fractions")) fractions = v;
        else if (!strcmp(a, "--seeds")) seeds = v;
        else if (!strcmp(a, "--metric")) metrics = v;
        else if (!strcmp(a, "--from-results")) {
            if (o->n_inputs >= PROTO_MAX_INPUTS) {
                fprintf(stderr, "ssl3d protocol: at most %d --from-results files\n", PROTO_MAX_INPUTS);
                return 2;
            }
            o->inputs[o->n_inputs++] = v;
        } else if (!strcmp(a, "--level")) {
            char *end;
            o->level = strtod(v, &end);
            if (end == v || *end || !(o->level > 0 && o->level < 1)) {
                fprintf(stderr, "ssl3d protocol: --level '%s': expected a number in (0, 1), e.g. 0.95\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--ssl3d")) o->prog = v;
        else if (!strcmp(a, "--backend")) {
            int32_t kind;
            int brc = cli_backend_parse("protocol", v, &kind);
            if (brc) return brc;
            o->backend = v;
        }
        else if (!strcmp(a, "--gnuplot")) o->gnuplot = v;
        else if (!strcmp(a, "--test-fraction")) {
            char *end;
            o->test_fraction = strtod(v, &end);
            if (end == v || *end || !(o->test_fraction > 0 && o->test_fraction < 1)) {
                fprintf(stderr, "ssl3d protocol: --test-fraction '%s': expected a number in (0, 1)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--split-seed")) {
            double s;
            int n;
            if (!parse_list(a, v, &s, 1, &n, 1)) return 2;
            o->split_seed = (long)s;
        } else if (!strcmp(a, "--method") || !strcmp(a, "--control")) {
            int control = !strcmp(a, "--control");
            if (o->n_methods >= PROTO_MAX_METHODS) {
                fprintf(stderr, "ssl3d protocol: at most %d --method and --control options\n", PROTO_MAX_METHODS);
                return 2;
            }
            const char *eq = strchr(v, '=');
            size_t len = eq ? (size_t)(eq - v) : strlen(v);
            if (!valid_name(v, len) || (eq && !eq[1])) {
                fprintf(stderr, "ssl3d protocol: %s '%s': expected NAME%s, NAME made of letters, "
                                "digits, '_', '-', '.' (at most 63)\n", a, v, control ? "=CKPT" : " or NAME=CKPT");
                return 2;
            }
            proto_method *m = &o->methods[o->n_methods++];
            memcpy(m->name, v, len);
            m->name[len] = 0;
            m->ckpt = eq ? eq + 1 : NULL;
            m->role = control ? PROTO_CONTROL : m->ckpt ? PROTO_PRETRAINED : PROTO_SCRATCH;
            for (int j = 0; j < o->n_methods - 1; j++)
                if (!strcmp(o->methods[j].name, m->name)) {
                    fprintf(stderr, "ssl3d protocol: method %s given twice (--method / --control)\n", m->name);
                    return 2;
                }
        }
    }
    /* The protocol sets these for every run; a copy after "--" would be a second value that
     * finetune rejects (and that, taken, would change a run's seed, fraction or files). */
    static const char *const per_run[] = { "--kind", "--data", "--out", "--fraction", "--seed", "--log",
                                           "--mode", "--init", "--cases", "--backend", NULL };
    for (int i = 0; i < o->n_extra; i++)
        for (const char *const *r = per_run; *r; r++)
            if (!strcmp(o->extra[i], *r)) {
                fprintf(stderr, "ssl3d protocol: '%s' after '--': the protocol sets %s for each run (use the "
                                "protocol's own options)\n", *r, *r);
                return 2;
            }
    /* ... and twice there is as wrong as anywhere (argv[0] of the check is the "--"). */
    static const char *const ft_repeatable[] = { "--aug", NULL };
    if (o->n_extra && cli_reject_repeats("protocol", o->n_extra + 1, o->extra - 1, ft_repeatable)) return 2;
    if (!o->dir) {
        fprintf(stderr, "ssl3d protocol: missing --run-dir (usage: ssl3d protocol --kind segment|classify --data "
                        "MANIFEST --run-dir DIR ...)\n");
        return 2;
    }
    if (o->n_inputs) return parse_report_only(o, metrics);
    if (!o->kind || !o->data) {
        fprintf(stderr, "ssl3d protocol: missing %s (usage: ssl3d protocol --kind segment|classify --data MANIFEST "
                        "--run-dir DIR ...)\n", !o->kind ? "--kind" : !o->data ? "--data" : "--run-dir");
        return 2;
    }
    if (strcmp(o->kind, "segment") && strcmp(o->kind, "classify")) {
        fprintf(stderr, "ssl3d protocol: --kind '%s': expected segment or classify\n", o->kind);
        return 2;
    }
    if (strcmp(o->mode, "frozen") && strcmp(o->mode, "warmup") && strcmp(o->mode, "scratch")) {
        fprintf(stderr, "ssl3d protocol: --mode '%s': expected frozen, warmup or scratch\n", o->mode);
        return 2;
    }
    for (int m = 0; m < o->n_methods; m++)
        if (o->methods[m].role == PROTO_CONTROL && !o->methods[m].ckpt) {
            fprintf(stderr, "ssl3d protocol: --control %s: expected NAME=CKPT (the random encoder's checkpoint)\n",
                    o->methods[m].name);
            return 2;
        }
    if (!parse_metrics(o, metrics ? metrics : !strcmp(o->kind, "segment") ? "dice_mean" : "auc")) return 2;
    if (o->n_methods == 0) {
        snprintf(o->methods[0].name, sizeof o->methods[0].name, "scratch");
        o->n_methods = 1;
    }
    if (!parse_list("--fractions", fractions, o->fractions, PROTO_MAX_FRACTIONS, &o->n_fractions, 0)) return 2;
    qsort(o->fractions, (size_t)o->n_fractions, sizeof *o->fractions, cmp_double);
    for (int f = 0; f < o->n_fractions; f++) {
        if (!(o->fractions[f] > 0 && o->fractions[f] <= 100) || (f && o->fractions[f] == o->fractions[f - 1])) {
            fprintf(stderr, "ssl3d protocol: --fractions '%s': percentages must be distinct, in (0, 100]\n",
                    fractions);
            return 2;
        }
        o->fractions[f] /= 100.0;
    }
    double sv[PROTO_MAX_SEEDS];
    if (!parse_list("--seeds", seeds, sv, PROTO_MAX_SEEDS, &o->n_seeds, 1)) return 2;
    for (int s = 0; s < o->n_seeds; s++) {
        o->seeds[s] = (long)sv[s];
        for (int t = 0; t < s; t++)
            if (o->seeds[t] == o->seeds[s]) {
                fprintf(stderr, "ssl3d protocol: --seeds '%s': seed %ld given twice\n", seeds, o->seeds[s]);
                return 2;
            }
    }
    return 0;
}

/* ---------------------------------------------------------------- run directory */

/* Settings that every run of a directory shares: written on the first call, compared on
 * a resume (methods, fractions and seeds may change: each run has its own directory). */
static int check_config(const proto_opts *o) {
    char text[8192], path[PROTO_PATH];
    int n = snprintf(text, sizeof text, "kind=%s\ndata=%s\nmode=%s\ntest_fraction=%g\nsplit_seed=%ld\nfinetune_options=",
                     o->kind, o->data, o->mode, o->test_fraction, o->split_seed);
    for (int i = 0; i < o->n_extra && n < (int)sizeof text; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%s", i ? " " : "", o->extra[i]);
    if (n >= (int)sizeof text - 2) { fprintf(stderr, "ssl3d protocol: finetune options too long\n"); return 2; }
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/protocol.cfg", o->dir);
    char *old = proto_slurp(path);
    if (old) {
        int same = !strcmp(old, text);
        if (!same)
            fprintf(stderr, "ssl3d protocol: --run-dir %s was made with other settings (%s):\n%s"
                            "now:\n%s(use another --run-dir, or the same settings to resume)\n", o->dir, path, old, text);
        free(old);
        return same ? 0 : 2;
    }
    if (o->report_only) {
        fprintf(stderr, "ssl3d protocol: --report-only: %s has no protocol.cfg (nothing was run there)\n", o->dir);
        return 1;
    }
    if (o->dry_run) return 0;
    if (proto_write_atomic(path, text) != 0) {
        fprintf(stderr, "ssl3d protocol: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* The checkpoint of a method must stay the same across resumes. */
static int check_method(const proto_opts *o, const proto_method *m) {
    char dir[PROTO_PATH], path[PROTO_PATH + 16];
    snprintf(dir, sizeof dir, "%s/runs/%s", o->dir, m->name);
    snprintf(path, sizeof path, "%s/init.txt", dir);
    char want[PROTO_PATH + 2];
    snprintf(want, sizeof want, "%s\n", m->ckpt ? m->ckpt : "");
    char *old = proto_slurp(path);
    if (old) {
        int same = !strcmp(old, want);
        if (!same)
            fprintf(stderr, "ssl3d protocol: method %s was run with --init '%.*s' in %s, now '%s'\n", m->name,
                    (int)strcspn(old, "\n"), old, o->dir, m->ckpt ? m->ckpt : "");
        free(old);
        return same ? 0 : 2;
    }
    if (o->dry_run || o->report_only) return 0;
    if (proto_mkdirs(dir) != 0 || proto_write_atomic(path, want) != 0) {
        fprintf(stderr, "ssl3d protocol: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int write_cases(const char *path, const char *what, const int64_t *idx, int64_t n) {
    size_t cap = 256 + (size_t)n * 24;
    char *text = malloc(cap);
    if (!text) return -1;
    size_t len = (size_t)snprintf(text, cap, "# %s: case indices of the manifest (ssl3d protocol)\n", what);
    for (int64_t i = 0; i < n; i++) len += (size_t)snprintf(text + len, cap - len, "%lld\n", (long long)idx[i]);
    int rc = proto_write_atomic(path, text);
    free(text);
    return rc;
}

/* MSD: hold out a seeded test set of the labelled cases. CSV: use the splits. */
static int prepare_cases(proto_opts *o) {
    ssl3d_ctx *ctx = NULL;
    ssl3d_manifest *man = NULL;
    int rc = 1;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) {
        fprintf(stderr, "ssl3d protocol: cannot create a CPU context\n");
        return 1;
    }
    if (ssl3d_manifest_load(ctx, o->data, 0, &man) != SSL3D_OK) {
        fprintf(stderr, "ssl3d protocol: --data: %s\n", ssl3d_ctx_last_error(ctx));
        ssl3d_ctx_release(ctx);
        return 1;
    }
    o->msd = ssl3d_manifest_kind(man) == SSL3D_MANIFEST_MSD;
    int64_t n = ssl3d_manifest_count(man), np = 0, ntr = 0, nte = 0;
    int64_t *pool = malloc((size_t)(n ? n : 1) * sizeof *pool), *tr = malloc((size_t)(n ? n : 1) * sizeof *tr),
            *te = malloc((size_t)(n ? n : 1) * sizeof *te);
    if (!pool || !tr || !te) { fprintf(stderr, "ssl3d protocol: out of memory\n"); goto done; }
    if (!o->msd) {
        if (ssl3d_manifest_count_split(man, SSL3D_SPLIT_TEST) == 0) {
            fprintf(stderr, "ssl3d protocol: --data %s has no test split: the protocol needs held-out test cases\n",
                    o->data);
            goto done;
        }
        rc = 0;
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (ssl3d_manifest_case_label_path(man, i) && ssl3d_manifest_case_split(man, i) != SSL3D_SPLIT_TEST)
            pool[np++] = i;
    if (np < 2) {
        fprintf(stderr, "ssl3d protocol: --data %s has %lld labelled cases; the protocol needs at least 2\n", o->data,
                (long long)np);
        goto done;
    }
    if (ssl3d_split_train_val(ctx, pool, np, o->test_fraction, (uint64_t)o->split_seed, tr, &ntr, te, &nte) !=
        SSL3D_OK) {
        fprintf(stderr, "ssl3d protocol: %s\n", ssl3d_ctx_last_error(ctx));
        goto done;
    }
    snprintf(o->pool_file, sizeof o->pool_file, "%s/pool_cases.txt", o->dir);
    snprintf(o->test_file, sizeof o->test_file, "%s/test_cases.txt", o->dir);
    if (!o->dry_run && !o->report_only && (write_cases(o->pool_file, "training pool (fractions are drawn from it)", tr, ntr) != 0 ||
                        write_cases(o->test_file, "held-out test set", te, nte) != 0)) {
        fprintf(stderr, "ssl3d protocol: cannot write %s\n", o->pool_file);
        goto done;
    }
    if (!o->quiet)
        fprintf(stderr, "ssl3d protocol: %lld labelled cases: %lld training pool, %lld test (%s)\n", (long long)np,
                (long long)ntr, (long long)nte, o->test_file);
    rc = 0;
done:
    free(pool); free(tr); free(te);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
    return rc;
}

/* ---------------------------------------------------------------- one run */

static void print_cmd(char **argv) {
    for (int i = 0; argv[i]; i++) printf("%s%s", i ? " " : "", argv[i]);
    printf("\n");
}

/* Loads a finished run; 1 when eval.json exists and parses. */
static int load_done(const proto_opts *o, const char *rd, proto_result *r) {
    char path[PROTO_PATH + 32];
    snprintf(path, sizeof path, "%s/eval.json", rd);
    char *json = proto_slurp(path);
    int ok = json && proto_parse_eval(json, r) == 0;
    free(json);
    if (!ok) return 0;
    snprintf(path, sizeof path, "%s/train.jsonl", rd);
    proto_parse_log(path, proto_val_key(o->metric), r);
    r->status = 0;
    return 1;
}

static void run_one(const proto_opts *o, int m, int f, int s, proto_result *r) {
    char rd[PROTO_PATH], model[PROTO_PATH + 32], logp[PROTO_PATH + 32], ftlog[PROTO_PATH + 32],
        ok_mark[PROTO_PATH + 32], evjson[PROTO_PATH + 32], evpart[PROTO_PATH + 32], evlog[PROTO_PATH + 32];
    proto_run_dir(o, m, f, s, rd, sizeof rd);
    snprintf(model, sizeof model, "%s/model.safetensors", rd);
    snprintf(logp, sizeof logp, "%s/train.jsonl", rd);
    snprintf(ftlog, sizeof ftlog, "%s/finetune.log", rd);
    snprintf(ok_mark, sizeof ok_mark, "%s/finetune.ok", rd);
    snprintf(evjson, sizeof evjson, "%s/eval.json", rd);
    snprintf(evpart, sizeof evpart, "%s/eval.json.part", rd);
    snprintf(evlog, sizeof evlog, "%s/evaluate.log", rd);
    char frac[32], seed[32];
    snprintf(frac, sizeof frac, "%.17g", o->fractions[f]);
    snprintf(seed, sizeof seed, "%ld", o->seeds[s]);
    const proto_method *me = &o->methods[m];

    char *ft[48 + 512];
    int n = 0;
    ft[n++] = (char *)o->prog; ft[n++] = "finetune";
    ft[n++] = "--kind"; ft[n++] = (char *)o->kind;
    ft[n++] = "--data"; ft[n++] = (char *)o->data;
    ft[n++] = "--out"; ft[n++] = model;
    ft[n++] = "--fraction"; ft[n++] = frac;
    ft[n++] = "--seed"; ft[n++] = seed;
    ft[n++] = "--log"; ft[n++] = logp;
    ft[n++] = "--mode"; ft[n++] = me->ckpt ? (char *)o->mode : "scratch";
    if (me->ckpt) { ft[n++] = "--init"; ft[n++] = (char *)me->ckpt; }
    if (o->msd) { ft[n++] = "--cases"; ft[n++] = (char *)o->pool_file; }
    /* Only a non-default backend is passed: CPU runs keep their command lines. */
    if (strcmp(o->backend, "cpu")) { ft[n++] = "--backend"; ft[n++] = (char *)o->backend; }
    for (int i = 0; i < o->n_extra && i < 512; i++) ft[n++] = o->extra[i];
    ft[n] = NULL;
    char *ev[18];
    int k = 0;
    ev[k++] = (char *)o->prog; ev[k++] = "evaluate";
    ev[k++] = "--model"; ev[k++] = model;
    ev[k++] = "--data"; ev[k++] = (char *)o->data;
    ev[k++] = "--json";
    if (o->msd) { ev[k++] = "--cases"; ev[k++] = (char *)o->test_file; }
    else { ev[k++] = "--split"; ev[k++] = "test"; }
    if (strcmp(o->backend, "cpu")) { ev[k++] = "--backend"; ev[k++] = (char *)o->backend; }
    ev[k] = NULL;

    int need_ft = !proto_exists(ok_mark);
    if (o->dry_run) {
        if (need_ft) print_cmd(ft);
        print_cmd(ev);
        r->status = -1;
        r->failed_step = "dry-run";
        return;
    }
    if (proto_mkdirs(rd) != 0) {
        fprintf(stderr, "ssl3d protocol: cannot create %s\n", rd);
        r->status = 1;
        r->failed_step = "mkdir";
        return;
    }
    if (need_ft) {
        remove(logp);
        int rc = proto_spawn(ft, NULL, NULL, ftlog);
        if (rc != 0) { r->status = rc; r->failed_step = "finetune"; return; }
        if (proto_write_atomic(ok_mark, "finetune exited 0\n") != 0) { r->status = 1; r->failed_step = "finetune"; return; }
    }
    int rc = proto_spawn(ev, NULL, evpart, evlog);
    if (rc != 0) { r->status = rc; r->failed_step = "evaluate"; return; }
    char *json = proto_slurp(evpart);
    int ok = json && proto_parse_eval(json, r) == 0;
    free(json);
    if (!ok) {
        fprintf(stderr, "ssl3d protocol: %s: evaluate --json printed no JSON object of numbers\n", evpart);
        r->status = 1;
        r->failed_step = "evaluate";
        return;
    }
    if (rename(evpart, evjson) != 0) { r->status = 1; r->failed_step = "evaluate"; return; }
    proto_parse_log(logp, proto_val_key(o->metric), r);
    r->status = 0;
}

static const double *metric_of(const proto_result *r, const char *key) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->keys[i], key)) return &r->vals[i];
    return NULL;
}

/* --from-results: the reports of earlier results.csv files, nothing run. */
static int report_only(proto_opts *o) {
    proto_result *res = NULL;
    if (proto_read_results(o, &res)) return 1;
    if (!o->n_metrics) {
        /* default: dice_mean when the files have it (segmentation), else auc */
        int total = o->n_methods * o->n_fractions * o->n_seeds, dice = 0;
        for (int i = 0; i < total && !dice; i++) dice = proto_find_val(&res[i], "dice_mean") != NULL;
        snprintf(o->metrics[0], sizeof o->metrics[0], "%s", dice ? "dice_mean" : "auc");
        o->n_metrics = 1;
        o->metric = o->metrics[0];
    }
    int bad = 0;
    if (proto_mkdirs(o->dir) != 0) {
        fprintf(stderr, "ssl3d protocol: --run-dir %s: cannot create (%s)\n", o->dir, strerror(errno));
        bad = 1;
    } else {
        bad = proto_report(o, res, o->quiet ? NULL : stdout);
    }
    free(res);
    return bad;
}

int cmd_protocol(int argc, char **argv) {
    proto_opts *o = calloc(1, sizeof *o);
    if (!o) { fprintf(stderr, "ssl3d protocol: out of memory\n"); return 1; }
    int rc = parse_args(argc, argv, o);
    if (rc) { free(o); return rc < 0 ? 0 : rc; }
    if (o->n_inputs) {
        rc = report_only(o);
        free(o);
        return rc;
    }
    static char self[PROTO_PATH];
    if (!o->prog) {
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        if (len <= 0) { fprintf(stderr, "ssl3d protocol: cannot find this program (give --ssl3d PROG)\n"); free(o); return 1; }
        self[len] = 0;
        o->prog = self;
    }
    /* A device that is not there fails every run the same way: say so once, up front. */
    int32_t backend = SSL3D_BACKEND_CPU;
    cli_backend_parse("protocol", o->backend, &backend);
    char why[1024] = "";
    if (!o->dry_run && !o->report_only && ssl3d_backend_probe(backend, why, sizeof why) != SSL3D_OK) {
        fprintf(stderr, "ssl3d protocol: --backend %s is unavailable: %s\n", o->backend, why);
        free(o);
        return 1;
    }
    /* Before anything is written into the run directory: a protocol.cfg recorded with a
     * --data that cannot be read would block every later resume. */
    if (!o->data[0] || !cli_file_readable(o->data)) {
        fprintf(stderr, "ssl3d protocol: --data '%s': no such readable file\n", o->data);
        free(o);
        return 1;
    }
    if (!o->dry_run && !o->report_only && proto_mkdirs(o->dir) != 0) {
        fprintf(stderr, "ssl3d protocol: --run-dir %s: cannot create (%s)\n", o->dir, strerror(errno));
        free(o);
        return 1;
    }
    rc = check_config(o);
    for (int m = 0; !rc && m < o->n_methods; m++) rc = check_method(o, &o->methods[m]);
    if (!rc) rc = prepare_cases(o);
    if (rc) { free(o); return rc; }

    int total = o->n_methods * o->n_fractions * o->n_seeds, failed = 0, absent = 0, i = 0;
    proto_result *res = calloc((size_t)total, sizeof *res);
    if (!res) { fprintf(stderr, "ssl3d protocol: out of memory\n"); free(o); return 1; }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int m = 0; m < o->n_methods; m++)
        for (int f = 0; f < o->n_fractions; f++)
            for (int s = 0; s < o->n_seeds; s++, i++) {
                proto_result *r = &res[i];
                char rd[PROTO_PATH], pct[32];
                proto_run_dir(o, m, f, s, rd, sizeof rd);
                proto_pct(o->fractions[f], pct, sizeof pct);
                int cached = load_done(o, rd, r);
                if (!cached && o->report_only) {
                    /* --report-only: a run not finished is left out, not run, not a failure */
                    r->status = -1;
                    r->failed_step = "absent";
                    absent++;
                    continue;
                }
                if (!cached) run_one(o, m, f, s, r);
                if (o->dry_run) continue;
                failed += r->status != 0;
                if (o->quiet) continue;
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                double el = (double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec);
                const double *v = metric_of(r, o->metric);
                if (r->status == 0)
                    fprintf(stderr, "ssl3d protocol: [%d/%d] %s %s%% seed %ld: %s %s = %.4f (%.0f s elapsed)\n", i + 1,
                            total, o->methods[m].name, pct, o->seeds[s], cached ? "done before," : "ok,", o->metric,
                            v ? *v : NAN, el);
                else
                    fprintf(stderr, "ssl3d protocol: [%d/%d] %s %s%% seed %ld: %s FAILED (exit %d; logs in %s)\n",
                            i + 1, total, o->methods[m].name, pct, o->seeds[s], r->failed_step, r->status, rd);
            }
    int bad = 0;
    if (!o->dry_run) {
        bad = proto_report(o, res, o->quiet ? NULL : stdout);
        if (!o->quiet)
            fprintf(stderr, "ssl3d protocol: %d of %d runs ok%s; results in %s/results.csv, summary.md, "
                            "comparisons.csv, *.png\n", total - failed - absent, total - absent,
                    absent ? " (the others not finished, left out)" : "", o->dir);
    }
    for (int j = 0; j < total; j++) free(res[j].val_curve);
    free(res);
    free(o);
    return failed || bad ? 1 : 0;
}
