/* `ssl3d protocol`: reading each run's results, and writing results.csv, the mean +- sd
 * summary (summary.csv, summary.md, followed by the paired comparisons of
 * protocol_compare.c) and the plots (gnuplot scripts, data, PNGs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ssl3d.h"
#include "ssl3d/metrics.h"
#include "protocol.h"

static void add_key(proto_result *r, const char *key, double v) {
    if (r->n >= PROTO_MAX_KEYS || strlen(key) >= sizeof r->keys[0]) return;
    snprintf(r->keys[r->n], sizeof r->keys[0], "%s", key);
    r->vals[r->n++] = v;
}

int proto_parse_eval(const char *json, proto_result *r) {
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return -1; }
    r->n = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        if (cJSON_IsNumber(it)) {
            add_key(r, it->string, it->valuedouble);
        } else if (cJSON_IsObject(it)) {
            for (cJSON *sub = it->child; sub; sub = sub->next) {
                if (!cJSON_IsNumber(sub)) continue;
                char key[96];
                snprintf(key, sizeof key, "%s.%s", it->string, sub->string);
                add_key(r, key, sub->valuedouble);
            }
        }
    }
    cJSON_Delete(root);
    return r->n > 0 ? 0 : -1;
}

const char *proto_val_key(const char *metric) {
    if (!strcmp(metric, "dice_mean")) return "val_dice";
    if (!strcmp(metric, "accuracy")) return "val_acc";
    if (!strcmp(metric, "auc")) return "val_auc";
    if (!strcmp(metric, "qwk")) return "val_qwk";
    return NULL;
}

/* Validation value of one log line: val_key; for a metric without one, the first "val_*"
 * number that is a metric. An epoch that skipped validation (finetune --val-every) logs
 * val_key as null: it has no value, and no other "val_*" field stands in for it
 * ("val_cases", the validation set's size, once did: 32 in every curve of protocol v2). */
static int line_val(cJSON *o, const char *val_key, double *v) {
    cJSON *x = NULL;
    if (val_key) x = cJSON_GetObjectItemCaseSensitive(o, val_key);
    else
        for (x = o->child; x; x = x->next)
            if (x->string && !strncmp(x->string, "val_", 4) && strcmp(x->string, "val_cases") && cJSON_IsNumber(x))
                break;
    if (!cJSON_IsNumber(x)) return 0;
    *v = x->valuedouble;
    return 1;
}

void proto_parse_log(const char *path, const char *val_key, proto_result *r) {
    r->epochs = 0;
    r->best_epoch = 0;
    r->best_val = NAN;
    r->train_seconds = 0;
    free(r->val_curve);
    r->val_curve = NULL;
    char *text = proto_slurp(path);
    if (!text) return;
    double *curve = malloc(PROTO_MAX_EPOCHS * sizeof *curve);
    if (!curve) { free(text); return; }
    for (int e = 0; e < PROTO_MAX_EPOCHS; e++) curve[e] = NAN;
    /* best_val is the metric of the epoch finetune kept (the last line with "best": true),
     * which is not the maximum of this metric when finetune --select uses another one
     * (e.g. --metric auc with --ordinal, which selects on qwk); logs without "best" keys
     * fall back to the maximum. */
    int have_best = 0, selected_epoch = 0, max_epoch = 0;
    double selected = NAN;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        cJSON *ep = cJSON_GetObjectItemCaseSensitive(o, "epoch");
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "seconds");
        cJSON *best = cJSON_GetObjectItemCaseSensitive(o, "best");
        double v;
        if (cJSON_IsObject(o) && cJSON_IsNumber(ep) && ep->valuedouble >= 1 && ep->valuedouble <= PROTO_MAX_EPOCHS) {
            int e = (int)ep->valuedouble;
            if (e > r->epochs) r->epochs = e;
            if (cJSON_IsBool(best)) have_best = 1;
            if (line_val(o, val_key, &v) && isfinite(v)) {
                curve[e - 1] = v;
                if (isnan(r->best_val) || v > r->best_val) { r->best_val = v; max_epoch = e; }
                if (cJSON_IsTrue(best)) { selected = v; selected_epoch = e; }
            }
            if (cJSON_IsNumber(sec)) r->train_seconds += sec->valuedouble;
        }
        cJSON_Delete(o);
    }
    free(text);
    if (have_best && !isnan(selected)) r->best_val = selected;
    r->best_epoch = have_best && !isnan(selected) ? selected_epoch : max_epoch;
    r->val_curve = curve;
}

/* ---------------------------------------------------------------- tables */

typedef struct { int n; char keys[PROTO_MAX_KEYS * 2][48]; } keyset;

static int key_index(const keyset *k, const char *key) {
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->keys[i], key)) return i;
    return -1;
}

const double *proto_find_val(const proto_result *r, const char *key) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->keys[i], key)) return &r->vals[i];
    return NULL;
}

int proto_best_is_last(const proto_result *r) {
    return r->status == 0 && r->epochs > 0 && r->best_epoch == r->epochs;
}

#define RES(m, f, s) (&res[((m) * o->n_fractions + (f)) * o->n_seeds + (s)])

FILE *proto_open_out(const proto_opts *o, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", o->dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "ssl3d protocol: cannot write %s\n", path);
    return f;
}

static int write_results_csv(const proto_opts *o, proto_result *res, const keyset *ks) {
    char path[PROTO_PATH];
    FILE *f = proto_open_out(o, "results.csv", path, sizeof path);
    if (!f) return 1;
    fprintf(f, "method,init,fraction,seed,status");
    for (int k = 0; k < ks->n; k++) fprintf(f, ",%s", ks->keys[k]);
    fprintf(f, ",epochs,best_epoch,best_val,train_seconds\n");
    for (int m = 0; m < o->n_methods; m++)
        for (int fr = 0; fr < o->n_fractions; fr++)
            for (int s = 0; s < o->n_seeds; s++) {
                proto_result *r = RES(m, fr, s);
                if (r->status == -1) continue;   /* not run: a --from-results cell no file has */
                /* init path quoted CSV-style (may contain commas) */
                fprintf(f, "%s,\"", o->methods[m].name);
                for (const char *c = o->methods[m].ckpt ? o->methods[m].ckpt : ""; *c; c++)
                    fprintf(f, *c == '"' ? "\"\"" : "%c", *c);
                fprintf(f, "\",%g,%ld,", o->fractions[fr], o->seeds[s]);
                if (r->status == 0) fprintf(f, "ok");
                else fprintf(f, "%s failed (%d)", r->failed_step ? r->failed_step : "run", r->status);
                for (int k = 0; k < ks->n; k++) {
                    const double *v = r->status == 0 ? proto_find_val(r, ks->keys[k]) : NULL;
                    if (v) fprintf(f, ",%.6g", *v); else fprintf(f, ",");
                }
                if (r->status == 0 && r->epochs > 0) {
                    fprintf(f, ",%d,", r->epochs);
                    if (r->best_epoch > 0) fprintf(f, "%d", r->best_epoch);
                    fprintf(f, ",");
                    if (!isnan(r->best_val)) fprintf(f, "%.6g", r->best_val);
                    fprintf(f, ",%.3f\n", r->train_seconds);
                } else {
                    fprintf(f, ",,,,\n");
                }
            }
    if (fclose(f) != 0) { fprintf(stderr, "ssl3d protocol: cannot write %s\n", path); return 1; }
    return 0;
}

/* mean and sample sd over the ok seeds of (m, f) of one value; returns the count. */
static int64_t stat_of(ssl3d_ctx *ctx, const proto_opts *o, proto_result *res, int m, int fr, const char *key,
                       int best_val, double *mean, double *sd) {
    ssl3d_metric_accum *acc = NULL;
    if (ssl3d_metric_accum_create(ctx, 1, &acc) != SSL3D_OK) return 0;
    for (int s = 0; s < o->n_seeds; s++) {
        proto_result *r = RES(m, fr, s);
        if (r->status != 0) continue;
        const double *v = best_val ? (isnan(r->best_val) ? NULL : &r->best_val) : proto_find_val(r, key);
        if (v && isfinite(*v)) ssl3d_metric_accum_add(ctx, acc, v, 1);
    }
    int64_t n = ssl3d_metric_accum_count(acc);
    if (n > 0) {
        ssl3d_metric_accum_mean(ctx, acc, mean, 1);
        ssl3d_metric_accum_sd(ctx, acc, sd, 1);
    }
    ssl3d_metric_accum_release(acc);
    return n;
}

static int ok_runs(const proto_opts *o, proto_result *res, int m, int fr, int *tried) {
    int n = 0;
    *tried = 0;
    for (int s = 0; s < o->n_seeds; s++) {
        n += RES(m, fr, s)->status == 0;
        *tried += RES(m, fr, s)->status != -1;
    }
    return n;
}

/* Runs of (m, f) whose best epoch was the last, and runs whose best epoch is known. */
static int best_last_runs(const proto_opts *o, proto_result *res, int m, int fr, int *known) {
    int n = 0;
    *known = 0;
    for (int s = 0; s < o->n_seeds; s++) {
        proto_result *r = RES(m, fr, s);
        if (r->status != 0 || r->best_epoch <= 0) continue;
        (*known)++;
        n += proto_best_is_last(r);
    }
    return n;
}

static int write_summary(ssl3d_ctx *ctx, const proto_opts *o, proto_result *res, const keyset *ks, FILE *out) {
    char pc[PROTO_PATH], pm[PROTO_PATH];
    FILE *c = proto_open_out(o, "summary.csv", pc, sizeof pc), *md = c ? proto_open_out(o, "summary.md", pm, sizeof pm) : NULL;
    if (!c || !md) { if (c) fclose(c); return 1; }
    fprintf(c, "method,fraction,runs");
    for (int k = 0; k < ks->n; k++) fprintf(c, ",%s_mean,%s_sd", ks->keys[k], ks->keys[k]);
    fprintf(c, ",best_val_mean,best_val_sd,best_last_runs\n");
    if (o->n_inputs) {
        fprintf(md, "Re-analysis of");
        for (int i = 0; i < o->n_inputs; i++) fprintf(md, "%s %s", i ? "," : "", o->inputs[i]);
        fprintf(md, ".\n\n");
    }
    fprintf(md, "Test metrics, mean ± sample sd over seeds");
    if (o->kind && o->data) fprintf(md, " (%s on %s)", o->kind, o->data);
    fprintf(md, "; a cell of one run shows its value only. \"best = last\": runs whose best validation "
                "epoch (the one kept) was their last, i.e. runs that may have stopped while still improving "
                "(k/n of the runs whose log says).\n\n| method | labels | runs |");
    for (int k = 0; k < ks->n; k++) fprintf(md, " %s |", ks->keys[k]);
    fprintf(md, " best val | best = last |\n|---|---|---|");
    for (int k = 0; k <= ks->n + 1; k++) fprintf(md, "---|");
    fprintf(md, "\n");
    for (int m = 0; m < o->n_methods; m++)
        for (int fr = 0; fr < o->n_fractions; fr++) {
            char pct[32];
            proto_pct(o->fractions[fr], pct, sizeof pct);
            int tried, runs = ok_runs(o, res, m, fr, &tried);
            if (!tried) continue;   /* a cell nobody ran (--from-results: e.g. scratch-only 100%) */
            fprintf(c, "%s,%g,%d", o->methods[m].name, o->fractions[fr], runs);
            fprintf(md, "| %s | %s%% | %d/%d |", o->methods[m].name, pct, runs, tried);
            for (int k = 0; k <= ks->n; k++) {
                double mean = 0, sd = 0;
                int64_t n = stat_of(ctx, o, res, m, fr, k < ks->n ? ks->keys[k] : NULL, k == ks->n, &mean, &sd);
                if (n > 0) {
                    fprintf(c, ",%.6g,%.6g", mean, sd);
                    /* one run has no sample sd: print the value alone, not "± 0" */
                    if (n > 1) fprintf(md, " %.4f ± %.4f |", mean, sd);
                    else fprintf(md, " %.4f |", mean);
                } else {
                    fprintf(c, ",,");
                    fprintf(md, " – |");
                }
            }
            int known, last = best_last_runs(o, res, m, fr, &known);
            if (known) fprintf(c, ",%d\n", last), fprintf(md, " %d/%d%s |\n", last, known, last ? " !" : "");
            else fprintf(c, ",\n"), fprintf(md, " – |\n");
        }
    fprintf(md, "\n");
    int cmp_bad = proto_compare(o, res, md);   /* prints its own messages */
    int bad = fclose(c) != 0;
    bad |= fclose(md) != 0;
    if (bad) { fprintf(stderr, "ssl3d protocol: cannot write %s\n", pc); return 1; }
    if (out) {
        char *text = proto_slurp(pm);
        if (text) fputs(text, out);
        free(text);
    }
    return cmp_bad;
}

/* ---------------------------------------------------------------- plots */

void proto_gp_header(FILE *g, const char *png, const char *title, const char *xlabel, const char *ylabel) {
    fprintf(g, "set terminal png size 960,640\nset output '%s'\nset title \"%s\" noenhanced\n", png, title);
    fprintf(g, "set xlabel \"%s\" noenhanced\nset ylabel \"%s\" noenhanced\nset grid\nset key bottom right noenhanced\n",
            xlabel, ylabel);
}

int proto_run_gnuplot(const proto_opts *o, const char *script) {
    if (o->no_plots) return 0;
    char *argv[] = { (char *)o->gnuplot, (char *)script, NULL };
    char err[PROTO_PATH];
    snprintf(err, sizeof err, "%s/gnuplot.log", o->dir);
    int rc = proto_spawn(argv, o->dir, NULL, err);
    if (rc != 0)
        fprintf(stderr, "ssl3d protocol: %s %s failed (exit %d; see %s); plot data and script are kept\n",
                o->gnuplot, script, rc, err);
    return rc != 0;
}

static int plot_metric_vs_fraction(ssl3d_ctx *ctx, const proto_opts *o, proto_result *res) {
    char pd[PROTO_PATH], pg[PROTO_PATH];
    FILE *d = proto_open_out(o, "metric_vs_fraction.dat", pd, sizeof pd);
    FILE *g = d ? proto_open_out(o, "metric_vs_fraction.gp", pg, sizeof pg) : NULL;
    if (!d || !g) { if (d) fclose(d); return 1; }
    char ylabel[128];
    snprintf(ylabel, sizeof ylabel, "test %s (mean +- sd over seeds)", o->metric);
    proto_gp_header(g, "metric_vs_fraction.png", "Data efficiency", "labelled training cases (%)", ylabel);
    fprintf(g, "set logscale x\nset xtics (");
    for (int fr = 0; fr < o->n_fractions; fr++) fprintf(g, "%s%g", fr ? ", " : "", o->fractions[fr] * 100);
    fprintf(g, ")\nset offsets graph 0.05, graph 0.05, 0, 0\nplot ");
    int block = 0;
    for (int m = 0; m < o->n_methods; m++) {
        int rows = 0;
        for (int fr = 0; fr < o->n_fractions; fr++) {
            double mean, sd;
            if (stat_of(ctx, o, res, m, fr, o->metric, 0, &mean, &sd) == 0) continue;
            if (!rows) fprintf(d, "# %s: fraction_pct mean sd\n", o->methods[m].name);
            fprintf(d, "%g %.6g %.6g\n", o->fractions[fr] * 100, mean, sd);
            rows++;
        }
        if (!rows) continue;
        fprintf(d, "\n\n");
        fprintf(g, "%s'metric_vs_fraction.dat' index %d using 1:2:3 with yerrorlines lw 2 title '%s'",
                block ? ", \\\n     " : "", block, o->methods[m].name);
        block++;
    }
    if (!block) fprintf(g, "NaN notitle");
    fprintf(g, "\n");
    int bad = fclose(d) != 0;
    bad |= fclose(g) != 0;
    if (bad) return 1;
    return block ? proto_run_gnuplot(o, "metric_vs_fraction.gp") : 0;
}

static int plot_convergence(const proto_opts *o, proto_result *res, int fr) {
    char pct[32], name[96], pd[PROTO_PATH], pg[PROTO_PATH];
    proto_pct(o->fractions[fr], pct, sizeof pct);
    snprintf(name, sizeof name, "convergence_f%s.dat", pct);
    FILE *d = proto_open_out(o, name, pd, sizeof pd);
    snprintf(name, sizeof name, "convergence_f%s.gp", pct);
    FILE *g = d ? proto_open_out(o, name, pg, sizeof pg) : NULL;
    if (!d || !g) { if (d) fclose(d); return 1; }
    char png[96], title[128];
    snprintf(png, sizeof png, "convergence_f%s.png", pct);
    snprintf(title, sizeof title, "Validation metric per epoch, %s%% of the labels", pct);
    char ylabel[128];
    const char *vk = proto_val_key(o->metric);
    snprintf(ylabel, sizeof ylabel, "validation %s (mean +- sd over seeds)", vk ? vk : "metric");
    proto_gp_header(g, png, title, "epoch", ylabel);
    fprintf(g, "plot ");
    int block = 0;
    for (int m = 0; m < o->n_methods; m++) {
        int rows = 0, max_ep = 0;
        for (int s = 0; s < o->n_seeds; s++) {
            proto_result *r = RES(m, fr, s);
            if (r->status == 0 && r->val_curve && r->epochs > max_ep) max_ep = r->epochs;
        }
        for (int e = 0; e < max_ep; e++) {
            double sum = 0, sq = 0;
            int n = 0;
            for (int s = 0; s < o->n_seeds; s++) {
                proto_result *r = RES(m, fr, s);
                if (r->status != 0 || !r->val_curve || e >= r->epochs || isnan(r->val_curve[e])) continue;
                sum += r->val_curve[e];
                n++;
            }
            if (!n) continue;
            double mean = sum / n;
            for (int s = 0; s < o->n_seeds; s++) {
                proto_result *r = RES(m, fr, s);
                if (r->status != 0 || !r->val_curve || e >= r->epochs || isnan(r->val_curve[e])) continue;
                sq += (r->val_curve[e] - mean) * (r->val_curve[e] - mean);
            }
            if (!rows) fprintf(d, "# %s: epoch mean sd runs\n", o->methods[m].name);
            fprintf(d, "%d %.6g %.6g %d\n", e + 1, mean, n > 1 ? sqrt(sq / (n - 1)) : 0.0, n);
            rows++;
        }
        if (!rows) continue;
        fprintf(d, "\n\n");
        fprintf(g, "%s'%s' index %d using 1:2:3 with yerrorlines lw 2 title '%s'", block ? ", \\\n     " : "",
                strrchr(pd, '/') + 1, block, o->methods[m].name);
        block++;
    }
    if (!block) fprintf(g, "NaN notitle");
    fprintf(g, "\n");
    int bad = fclose(d) != 0;
    bad |= fclose(g) != 0;
    if (bad) return 1;
    return block ? proto_run_gnuplot(o, strrchr(pg, '/') + 1) : 0;
}

int proto_report(const proto_opts *o, proto_result *res, FILE *summary_out) {
    keyset *ks = calloc(1, sizeof *ks);
    ssl3d_ctx *ctx = NULL;
    if (!ks || ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) {
        free(ks);
        fprintf(stderr, "ssl3d protocol: out of memory\n");
        return 1;
    }
    int total = o->n_methods * o->n_fractions * o->n_seeds;
    for (int i = 0; i < total; i++)
        for (int k = 0; k < res[i].n; k++)
            if (res[i].status == 0 && key_index(ks, res[i].keys[k]) < 0 && ks->n < PROTO_MAX_KEYS * 2)
                snprintf(ks->keys[ks->n++], sizeof ks->keys[0], "%s", res[i].keys[k]);
    int bad = write_results_csv(o, res, ks);
    bad |= write_summary(ctx, o, res, ks, summary_out);
    bad |= plot_metric_vs_fraction(ctx, o, res);
    /* --from-results has no per-epoch curves */
    for (int fr = 0; fr < o->n_fractions && !o->n_inputs; fr++) bad |= plot_convergence(o, res, fr);
    ssl3d_ctx_release(ctx);
    free(ks);
    return bad;
}
