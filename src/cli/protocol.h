/* `ssl3d protocol`: the data-efficiency protocol (methods x label fractions x seeds),
 * each run a `finetune` + `evaluate` subprocess, a resumable run directory, a results
 * CSV, a mean +- sd summary, paired comparisons against the baselines (scratch, the
 * random-encoder control) with confidence intervals and p-values, and gnuplot plots.
 * Shared between cmd_protocol.c (options, test split, the run loop), protocol_exec.c
 * (subprocesses and files), protocol_report.c (results, summary, plots),
 * protocol_compare.c (paired comparisons) and protocol_csv.c (re-reading results.csv
 * files for --from-results). */
#ifndef SSL3D_CLI_PROTOCOL_H
#define SSL3D_CLI_PROTOCOL_H
#include <stdio.h>

#define PROTO_MAX_METHODS 16
#define PROTO_MAX_FRACTIONS 16
#define PROTO_MAX_SEEDS 64
#define PROTO_MAX_KEYS 64
#define PROTO_MAX_EPOCHS 1000
#define PROTO_PATH 4096
#define PROTO_MAX_METRICS 8
#define PROTO_MAX_INPUTS 16

/* What a method is in the comparisons: every method is compared with each baseline of a
 * lower role (pretrained vs control and vs scratch, control vs scratch). */
typedef enum {
    PROTO_SCRATCH = 0,        /* --method NAME: no checkpoint, finetune --mode scratch */
    PROTO_CONTROL = 1,        /* --control NAME=CKPT: a random (untrained) encoder through the
                                 same --mode as the pretrained ones: what the schedule alone gives */
    PROTO_PRETRAINED = 2      /* --method NAME=CKPT */
} proto_role;

typedef struct {
    char name[64];            /* [A-Za-z0-9_.-]+: a directory name and a plot title */
    const char *ckpt;         /* --init checkpoint, NULL for training from scratch */
    proto_role role;
} proto_method;

/* Result of one (method, fraction, seed) run. */
typedef struct {
    int status;                        /* 0 ok, else the failing step's exit status */
    const char *failed_step;           /* "finetune" / "evaluate" / NULL */
    int n;                             /* metrics from evaluate --json, flattened */
    char keys[PROTO_MAX_KEYS][48];     /* "dice_mean", "dice.1", "auc", ... */
    double vals[PROTO_MAX_KEYS];
    int epochs;                        /* from the training log */
    int best_epoch;                    /* epoch finetune kept (0: unknown) */
    double best_val, train_seconds;    /* best validation metric, sum of epoch seconds */
    double *val_curve;                 /* [epochs] validation metric per epoch (malloc'd) */
} proto_result;

typedef struct {
    const char *kind, *data, *dir, *prog, *mode, *metric, *gnuplot;
    const char *backend;               /* --backend of the finetune and evaluate runs: "cpu" or "cuda" */
    /* --metric LIST: metrics[0] == metric is the primary one (plots, progress, validation
     * curve); paired comparisons are made for every one of them */
    char metrics[PROTO_MAX_METRICS][48];
    int n_metrics;
    double level;             /* confidence level of the intervals (--level, default 0.95) */
    /* --from-results FILE...: report on earlier results.csv files, run nothing */
    const char *inputs[PROTO_MAX_INPUTS];
    int n_inputs;
    const char *control_names[PROTO_MAX_METHODS];   /* --control NAME in --from-results mode */
    int n_control_names;
    proto_method methods[PROTO_MAX_METHODS];
    int n_methods;
    double fractions[PROTO_MAX_FRACTIONS];
    int n_fractions;
    long seeds[PROTO_MAX_SEEDS];
    int n_seeds;
    char **extra;             /* finetune options after "--" */
    int n_extra;
    int msd;                  /* MSD manifest: test set carved out, passed with --cases */
    double test_fraction;
    long split_seed;
    int no_plots, dry_run, report_only, quiet;
    char pool_file[PROTO_PATH], test_file[PROTO_PATH];
} proto_opts;

/* ---- protocol_exec.c */
/* Run argv (argv[0] a path or a name on PATH) in directory cwd (NULL: this one), with
 * stdout to out_path (NULL: /dev/null) and stderr appended to err_path (NULL: inherited). Returns the exit status, 127 when
 * it cannot be started, 128+signal when killed. */
int proto_spawn(char *const argv[], const char *cwd, const char *out_path, const char *err_path);
/* mkdir -p; 0 on success. */
int proto_mkdirs(const char *path);
int proto_exists(const char *path);
/* Whole file into a malloc'd NUL-terminated string, or NULL. */
char *proto_slurp(const char *path);
/* Write text atomically (temporary file + rename); 0 on success. */
int proto_write_atomic(const char *path, const char *text);
/* Run directory of one run: DIR/runs/METHOD/fPCT/sSEED. */
void proto_run_dir(const proto_opts *o, int m, int f, int s, char *out, size_t cap);
/* Fraction as a percent label: 5, 12.5, 100. */
void proto_pct(double fraction, char *out, size_t cap);

/* ---- protocol_report.c */
/* Parse evaluate's JSON (numbers, and objects of numbers flattened as "key.sub"). 0 ok. */
int proto_parse_eval(const char *json, proto_result *r);
/* Read the training log (JSON lines with "epoch", a validation metric, "seconds"). */
void proto_parse_log(const char *path, const char *val_key, proto_result *r);
/* Validation-log key of a metric: dice_mean -> val_dice, accuracy -> val_acc, ... */
const char *proto_val_key(const char *metric);
/* results.csv, summary.csv, summary.md, plot data and scripts, and the plots (gnuplot).
 * res is indexed [(m * n_fractions + f) * n_seeds + s]. Returns 0, or 1 when a file
 * could not be written (message printed). */
int proto_report(const proto_opts *o, proto_result *res, FILE *summary_out);
/* Value of a metric key in one run, NULL when absent. */
const double *proto_find_val(const proto_result *r, const char *key);
/* 1 when the run's best (kept) epoch was its last one: the run may have stopped while
 * still improving. */
int proto_best_is_last(const proto_result *r);
/* gnuplot header lines and running a script in the run dir (0 ok or --no-plots). */
void proto_gp_header(FILE *g, const char *png, const char *title, const char *xlabel, const char *ylabel);
int proto_run_gnuplot(const proto_opts *o, const char *script);
FILE *proto_open_out(const proto_opts *o, const char *name, char *path, size_t cap);

/* ---- protocol_compare.c */
/* comparisons.csv, the comparison tables appended to summary.md (md, open) and the
 * difference plots diff_vs_BASELINE.png. Returns 0, or 1 when a file could not be written. */
int proto_compare(const proto_opts *o, proto_result *res, FILE *md);

/* ---- protocol_csv.c */
/* --from-results: read the results.csv files o->inputs into o's methods / fractions / seeds
 * (order of first appearance; fractions sorted; seeds sorted) and *res (malloc'd, indexed as
 * in proto_report). The first row of a (method, fraction, seed) wins; a later duplicate
 * with another status or metric value is an error. Returns 0, or 1 with a message naming the file. */
int proto_read_results(proto_opts *o, proto_result **res);
#endif
