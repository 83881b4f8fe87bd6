/* `ssl3d protocol`: paired comparisons of every method against the baselines.
 *
 * A baseline is a method of a lower role (proto_role): scratch, then the random-encoder
 * control; pretrained methods are compared with both, the control with scratch. For one
 * (metric, method, baseline, fraction) cell the pairs are the seeds both runs finished:
 * the same seed draws the same validation cases and the same nested label subset, so
 * d_s = metric(method, s) - metric(baseline, s) removes the subset-to-subset variation
 * that dominates small label fractions. Reported: the d_s, their mean, a confidence
 * interval of the mean (Student t, n-1 df) and the two-sided paired t-test p-value
 * (ssl3d_paired_t); "n/a" where a value is undefined (one pair: no interval; all d_s
 * equal: no p-value). Outputs: comparisons.csv, tables in summary.md, and
 * diff_vs_BASELINE.png (mean difference with its interval against the label fraction). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ssl3d.h"
#include "protocol.h"

#define RES(m, f, s) (&res[((m) * o->n_fractions + (f)) * o->n_seeds + (s)])

typedef struct {
    int n, ahead;             /* pairs, pairs with d > 0 */
    int best_last, best_known; /* runs of the pairs whose best epoch was the last / is known */
    long seeds[PROTO_MAX_SEEDS];
    double a[PROTO_MAX_SEEDS], b[PROTO_MAX_SEEDS];
    double v[SSL3D_PAIRED_NVALUES];
    int32_t defined;
} cell;

static const char *role_name(proto_role r) {
    return r == PROTO_SCRATCH ? "scratch" : r == PROTO_CONTROL ? "control" : "pretrained";
}

/* Pairs of method m against baseline b at fraction f on metric key, and their statistics;
 * 0 when there is no pair (or the statistics failed, which finite inputs never do). */
static int make_cell(ssl3d_ctx *ctx, const proto_opts *o, proto_result *res, const char *key, int m, int b, int f,
                     cell *c) {
    memset(c, 0, sizeof *c);
    for (int s = 0; s < o->n_seeds; s++) {
        proto_result *rm = RES(m, f, s), *rb = RES(b, f, s);
        if (rm->status != 0 || rb->status != 0) continue;
        const double *x = proto_find_val(rm, key), *y = proto_find_val(rb, key);
        if (!x || !y || !isfinite(*x) || !isfinite(*y)) continue;
        c->seeds[c->n] = o->seeds[s];
        c->a[c->n] = *x;
        c->b[c->n] = *y;
        c->ahead += *x > *y;
        c->best_last += proto_best_is_last(rm) + proto_best_is_last(rb);
        c->best_known += (rm->best_epoch > 0) + (rb->best_epoch > 0);
        c->n++;
    }
    if (c->n == 0) return 0;
    return ssl3d_paired_t(ctx, c->a, c->b, c->n, o->level, c->v, &c->defined) == SSL3D_OK;
}

static void csv_num(FILE *f, int defined, double v) {
    if (defined) fprintf(f, ",%.6g", v);
    else fprintf(f, ",n/a");
}

static void write_csv_row(FILE *f, const proto_opts *o, const char *key, int m, int b, int fr, const cell *c) {
    double ma = 0, mb = 0;
    for (int i = 0; i < c->n; i++) ma += c->a[i], mb += c->b[i];
    int ci = (c->defined & SSL3D_PAIRED_HAS_CI) != 0, pv = (c->defined & SSL3D_PAIRED_HAS_P) != 0;
    fprintf(f, "%s,%s,%s,%s,%g,%d,%d", key, o->methods[m].name, o->methods[b].name, role_name(o->methods[b].role),
            o->fractions[fr], c->n, c->ahead);
    fprintf(f, ",%.6g,%.6g,%.6g", ma / c->n, mb / c->n, c->v[SSL3D_PAIRED_MEAN]);
    csv_num(f, ci, c->v[SSL3D_PAIRED_SD]);
    csv_num(f, ci, c->v[SSL3D_PAIRED_CI_LOW]);
    csv_num(f, ci, c->v[SSL3D_PAIRED_CI_HIGH]);
    csv_num(f, pv, c->v[SSL3D_PAIRED_T]);
    fprintf(f, ",%d", c->n - 1);
    csv_num(f, pv, c->v[SSL3D_PAIRED_P]);
    if (c->best_known) fprintf(f, ",%d/%d,", c->best_last, c->best_known);
    else fprintf(f, ",n/a,");
    for (int i = 0; i < c->n; i++) fprintf(f, "%ss%ld:%+.6g", i ? " " : "", c->seeds[i], c->a[i] - c->b[i]);
    fprintf(f, "\n");
}

static void write_md_cell(FILE *md, const cell *c) {
    fprintf(md, " %+.3f", c->v[SSL3D_PAIRED_MEAN]);
    if (c->defined & SSL3D_PAIRED_HAS_CI)
        fprintf(md, " [%+.3f, %+.3f]", c->v[SSL3D_PAIRED_CI_LOW], c->v[SSL3D_PAIRED_CI_HIGH]);
    else
        fprintf(md, " [n/a]");
    if (c->defined & SSL3D_PAIRED_HAS_P) {
        double p = c->v[SSL3D_PAIRED_P];
        if (p < 0.001) fprintf(md, " p<0.001");
        else fprintf(md, " p=%.3f", p);
    } else {
        fprintf(md, " p n/a");
    }
    fprintf(md, " (%d/%d)%s |", c->ahead, c->n, c->best_last ? " !" : "");
}

/* diff_vs_BASELINE.{dat,gp,png}: the primary metric's mean difference of every method
 * against baseline b, with its confidence interval (a point without bars where there is
 * none), against the label fraction. */
static int plot_diff(ssl3d_ctx *ctx, const proto_opts *o, proto_result *res, int b) {
    char name[128], pd[PROTO_PATH], pg[PROTO_PATH];
    snprintf(name, sizeof name, "diff_vs_%s.dat", o->methods[b].name);
    FILE *d = proto_open_out(o, name, pd, sizeof pd);
    snprintf(name, sizeof name, "diff_vs_%s.gp", o->methods[b].name);
    FILE *g = d ? proto_open_out(o, name, pg, sizeof pg) : NULL;
    if (!d || !g) { if (d) fclose(d); return 1; }
    char png[128], title[192], ylabel[192];
    snprintf(png, sizeof png, "diff_vs_%s.png", o->methods[b].name);
    snprintf(title, sizeof title, "Paired difference against %s (the %s baseline)", o->methods[b].name,
             role_name(o->methods[b].role));
    snprintf(ylabel, sizeof ylabel, "test %s, method - %s (mean, %g%% CI over seeds)", o->metric, o->methods[b].name,
             100 * o->level);
    proto_gp_header(g, png, title, "labelled training cases (%)", ylabel);
    fprintf(g, "set logscale x\nset xtics (");
    for (int fr = 0; fr < o->n_fractions; fr++) fprintf(g, "%s%g", fr ? ", " : "", o->fractions[fr] * 100);
    fprintf(g, ")\nset offsets graph 0.05, graph 0.05, 0, 0\nplot 0 with lines lc rgb 'black' notitle");
    int block = 0;
    for (int m = 0; m < o->n_methods; m++) {
        if (o->methods[m].role <= o->methods[b].role) continue;
        int rows = 0;
        for (int fr = 0; fr < o->n_fractions; fr++) {
            cell c;
            if (!make_cell(ctx, o, res, o->metric, m, b, fr, &c)) continue;
            int ci = (c.defined & SSL3D_PAIRED_HAS_CI) != 0;
            if (!rows) fprintf(d, "# %s - %s: fraction_pct mean_diff ci_low ci_high pairs\n", o->methods[m].name,
                               o->methods[b].name);
            /* jitter x a little per method so that overlapping bars stay readable */
            fprintf(d, "%.6g %.6g %.6g %.6g %d\n", o->fractions[fr] * 100 * (1 + 0.015 * block),
                    c.v[SSL3D_PAIRED_MEAN], ci ? c.v[SSL3D_PAIRED_CI_LOW] : c.v[SSL3D_PAIRED_MEAN],
                    ci ? c.v[SSL3D_PAIRED_CI_HIGH] : c.v[SSL3D_PAIRED_MEAN], c.n);
            rows++;
        }
        if (!rows) continue;
        fprintf(d, "\n\n");
        fprintf(g, ", \\\n     '%s' index %d using 1:2:3:4 with yerrorlines lw 2 title '%s'", strrchr(pd, '/') + 1,
                block, o->methods[m].name);
        block++;
    }
    fprintf(g, "\n");
    int bad = fclose(d) != 0;
    bad |= fclose(g) != 0;
    if (bad) return 1;
    return block ? proto_run_gnuplot(o, strrchr(pg, '/') + 1) : 0;
}

int proto_compare(const proto_opts *o, proto_result *res, FILE *md) {
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) {
        fprintf(stderr, "ssl3d protocol: cannot create a CPU context\n");
        return 1;
    }
    char path[PROTO_PATH];
    FILE *f = proto_open_out(o, "comparisons.csv", path, sizeof path);
    if (!f) { ssl3d_ctx_release(ctx); return 1; }
    fprintf(f, "metric,method,baseline,baseline_role,fraction,pairs,seeds_ahead,method_mean,baseline_mean,mean_diff,"
               "sd_diff,ci_low,ci_high,t,df,p_value,best_last_runs,per_seed_diff\n");
    int any = 0, bad = 0;
    for (int k = 0; k < o->n_metrics; k++)
        for (int b = 0; b < o->n_methods; b++) {
            if (o->methods[b].role == PROTO_PRETRAINED) continue;
            int header = 0;
            for (int m = 0; m < o->n_methods; m++) {
                if (o->methods[m].role <= o->methods[b].role) continue;
                cell c[PROTO_MAX_FRACTIONS];
                int have = 0;
                for (int fr = 0; fr < o->n_fractions; fr++) {
                    c[fr].n = 0;
                    if (make_cell(ctx, o, res, o->metrics[k], m, b, fr, &c[fr])) {
                        write_csv_row(f, o, o->metrics[k], m, b, fr, &c[fr]);
                        have++;
                    }
                }
                if (!have) continue;
                if (!any) {
                    fprintf(md, "Paired differences, method − baseline, over the seeds both finished (same seed = "
                                "same validation cases and nested label subset): mean [%g%% confidence interval, "
                                "Student t with pairs − 1 df], two-sided paired t-test p, (seeds ahead / pairs). "
                                "n/a: undefined (one pair has no interval; equal differences have no p-value). "
                                "\" !\": at least one of the paired runs had its best epoch at its last epoch "
                                "(may have stopped while still improving). Every value, with the per-seed "
                                "differences: comparisons.csv.\n\n", 100 * o->level);
                    any = 1;
                }
                if (!header) {
                    fprintf(md, "%s − %s (%s):\n\n| method |", o->metrics[k], o->methods[b].name,
                            role_name(o->methods[b].role));
                    for (int fr = 0; fr < o->n_fractions; fr++) {
                        char pct[32];
                        proto_pct(o->fractions[fr], pct, sizeof pct);
                        fprintf(md, " %s%% |", pct);
                    }
                    fprintf(md, "\n|---|");
                    for (int fr = 0; fr < o->n_fractions; fr++) fprintf(md, "---|");
                    fprintf(md, "\n");
                    header = 1;
                }
                fprintf(md, "| %s |", o->methods[m].name);
                for (int fr = 0; fr < o->n_fractions; fr++) {
                    if (c[fr].n) write_md_cell(md, &c[fr]);
                    else fprintf(md, " – |");
                }
                fprintf(md, "\n");
            }
            if (header) fprintf(md, "\n");
        }
    if (fclose(f) != 0) { fprintf(stderr, "ssl3d protocol: cannot write %s\n", path); bad = 1; }
    for (int b = 0; b < o->n_methods; b++)
        if (o->methods[b].role != PROTO_PRETRAINED) bad |= plot_diff(ctx, o, res, b);
    ssl3d_ctx_release(ctx);
    return bad;
}
