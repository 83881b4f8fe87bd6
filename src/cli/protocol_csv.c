/* `ssl3d protocol --from-results`: read results.csv files written by earlier protocol
 * calls (possibly several, e.g. a main run and a control run that share the scratch rows)
 * back into methods x fractions x seeds, so that the same report code computes the
 * summary and the paired comparisons without running anything. Runs whose epochs,
 * best_epoch or best_val columns are missing (older files) keep them unknown. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "protocol.h"

#define MAX_COLS (PROTO_MAX_KEYS + 16)

/* Splits one CSV line in place into fields (RFC 4180 quotes, "" inside quotes). */
static int split_csv(char *line, char **fields, int cap) {
    int n = 0;
    char *r = line;
    while (n < cap) {
        char *w = r;
        fields[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r) break;
                if (*r == '"' && r[1] == '"') { *w++ = '"'; r += 2; continue; }
                if (*r == '"') { r++; break; }
                *w++ = *r++;
            }
            while (*r && *r != ',') r++;   /* stray text after the closing quote */
        } else {
            while (*r && *r != ',') *w++ = *r++;
        }
        int more = *r == ',';
        *w = 0;
        if (!more) break;
        r++;
    }
    return n;
}

typedef struct {
    int method;
    double fraction;
    long seed;
    proto_result r;
} row;

static int find_method(const proto_opts *o, const char *name) {
    for (int m = 0; m < o->n_methods; m++)
        if (!strcmp(o->methods[m].name, name)) return m;
    return -1;
}

static int is_control(const proto_opts *o, const char *name) {
    for (int i = 0; i < o->n_control_names; i++)
        if (!strcmp(o->control_names[i], name)) return 1;
    return 0;
}

static int parse_num(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && !*end && !errno && isfinite(*v);
}

/* Appends the rows of one file. */
static int read_file(proto_opts *o, const char *path, row **rows, int *n_rows, int *cap_rows) {
    static char inits[PROTO_MAX_METHODS][PROTO_PATH];
    char *text = proto_slurp(path);
    if (!text) { fprintf(stderr, "ssl3d protocol: --from-results %s: cannot read\n", path); return 1; }
    char *hdr[MAX_COLS], *f[MAX_COLS];
    char *save = NULL, *line = strtok_r(text, "\r\n", &save);
    int nh = line ? split_csv(line, hdr, MAX_COLS) : 0;
    int c_method = -1, c_init = -1, c_frac = -1, c_seed = -1, c_status = -1, c_ep = -1, c_best_ep = -1, c_best = -1,
        c_sec = -1;
    for (int i = 0; i < nh; i++) {
        const char *h = hdr[i];
        if (!strcmp(h, "method")) c_method = i;
        else if (!strcmp(h, "init")) c_init = i;
        else if (!strcmp(h, "fraction")) c_frac = i;
        else if (!strcmp(h, "seed")) c_seed = i;
        else if (!strcmp(h, "status")) c_status = i;
        else if (!strcmp(h, "epochs")) c_ep = i;
        else if (!strcmp(h, "best_epoch")) c_best_ep = i;
        else if (!strcmp(h, "best_val")) c_best = i;
        else if (!strcmp(h, "train_seconds")) c_sec = i;
    }
    if (c_method < 0 || c_init < 0 || c_frac < 0 || c_seed < 0 || c_status < 0) {
        fprintf(stderr, "ssl3d protocol: --from-results %s: not a results.csv of ssl3d protocol (the header needs "
                        "method,init,fraction,seed,status)\n", path);
        free(text);
        return 1;
    }
    int lineno = 1;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        lineno++;
        int nf = split_csv(line, f, MAX_COLS);
        double frac, seed;
        if (nf != nh || !parse_num(f[c_frac], &frac) || !(frac > 0 && frac <= 1) || !parse_num(f[c_seed], &seed) ||
            seed < 0 || seed != floor(seed)) {
            fprintf(stderr, "ssl3d protocol: --from-results %s line %d: expected %d fields with a fraction in (0, 1] "
                            "and a non-negative integer seed\n", path, lineno, nh);
            free(text);
            return 1;
        }
        int m = find_method(o, f[c_method]);
        if (m < 0) {
            size_t len = strlen(f[c_method]);
            if (o->n_methods >= PROTO_MAX_METHODS || len == 0 || len >= sizeof o->methods[0].name) {
                fprintf(stderr, "ssl3d protocol: --from-results %s line %d: method '%s': at most %d methods of "
                                "1-63 characters\n", path, lineno, f[c_method], PROTO_MAX_METHODS);
                free(text);
                return 1;
            }
            m = o->n_methods++;
            proto_method *me = &o->methods[m];
            snprintf(me->name, sizeof me->name, "%s", f[c_method]);
            snprintf(inits[m], sizeof inits[m], "%s", f[c_init]);
            me->ckpt = inits[m][0] ? inits[m] : NULL;
            me->role = is_control(o, me->name) ? PROTO_CONTROL : me->ckpt ? PROTO_PRETRAINED : PROTO_SCRATCH;
        }
        if (*n_rows == *cap_rows) {
            int nc = *cap_rows ? *cap_rows * 2 : 256;
            row *g = realloc(*rows, (size_t)nc * sizeof *g);
            if (!g) { fprintf(stderr, "ssl3d protocol: out of memory\n"); free(text); return 1; }
            *rows = g;
            *cap_rows = nc;
        }
        row *w = &(*rows)[(*n_rows)++];
        memset(w, 0, sizeof *w);
        w->method = m;
        w->fraction = frac;
        w->seed = (long)seed;
        proto_result *r = &w->r;
        r->best_val = NAN;
        if (strcmp(f[c_status], "ok")) {
            /* "finetune failed (3)" -> step and exit status */
            const char *paren = strchr(f[c_status], '(');
            r->status = paren ? atoi(paren + 1) : 1;
            if (r->status == 0) r->status = 1;
            r->failed_step = !strncmp(f[c_status], "finetune", 8) ? "finetune"
                             : !strncmp(f[c_status], "evaluate", 8) ? "evaluate" : "run";
            continue;
        }
        for (int i = 0; i < nh; i++) {
            double v;
            if (i == c_method || i == c_init || i == c_frac || i == c_seed || i == c_status || !parse_num(f[i], &v))
                continue;
            if (i == c_ep) r->epochs = (int)v;
            else if (i == c_best_ep) r->best_epoch = (int)v;
            else if (i == c_best) r->best_val = v;
            else if (i == c_sec) r->train_seconds = v;
            else if (r->n < PROTO_MAX_KEYS && strlen(hdr[i]) < sizeof r->keys[0]) {
                snprintf(r->keys[r->n], sizeof r->keys[0], "%s", hdr[i]);
                r->vals[r->n++] = v;
            }
        }
    }
    free(text);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int proto_read_results(proto_opts *o, proto_result **out) {
    row *rows = NULL;
    int n_rows = 0, cap = 0;
    o->n_methods = o->n_fractions = o->n_seeds = 0;
    for (int i = 0; i < o->n_inputs; i++)
        if (read_file(o, o->inputs[i], &rows, &n_rows, &cap)) { free(rows); return 1; }
    for (int i = 0; i < n_rows; i++) {
        int seen_f = 0, seen_s = 0;
        for (int k = 0; k < o->n_fractions; k++) seen_f |= o->fractions[k] == rows[i].fraction;
        for (int k = 0; k < o->n_seeds; k++) seen_s |= o->seeds[k] == rows[i].seed;
        if ((!seen_f && o->n_fractions >= PROTO_MAX_FRACTIONS) || (!seen_s && o->n_seeds >= PROTO_MAX_SEEDS)) {
            fprintf(stderr, "ssl3d protocol: --from-results: more than %d fractions or %d seeds\n", PROTO_MAX_FRACTIONS,
                    PROTO_MAX_SEEDS);
            free(rows);
            return 1;
        }
        if (!seen_f) o->fractions[o->n_fractions++] = rows[i].fraction;
        if (!seen_s) o->seeds[o->n_seeds++] = rows[i].seed;
    }
    for (int i = 0; i < o->n_control_names; i++)
        if (find_method(o, o->control_names[i]) < 0) {
            fprintf(stderr, "ssl3d protocol: --control %s: no such method in the --from-results files\n",
                    o->control_names[i]);
            free(rows);
            return 1;
        }
    if (n_rows == 0) {
        fprintf(stderr, "ssl3d protocol: --from-results: no rows\n");
        free(rows);
        return 1;
    }
    qsort(o->fractions, (size_t)o->n_fractions, sizeof *o->fractions, cmp_double);
    qsort(o->seeds, (size_t)o->n_seeds, sizeof *o->seeds, cmp_long);
    size_t total = (size_t)o->n_methods * (size_t)o->n_fractions * (size_t)o->n_seeds;
    proto_result *res = calloc(total, sizeof *res);
    char *have = calloc(total, 1);
    if (!res || !have) { fprintf(stderr, "ssl3d protocol: out of memory\n"); free(res); free(have); free(rows); return 1; }
    for (size_t i = 0; i < total; i++) { res[i].status = -1; res[i].failed_step = "absent"; }
    int rc = 0;
    for (int i = 0; i < n_rows && !rc; i++) {
        int f = 0, s = 0;
        while (o->fractions[f] != rows[i].fraction) f++;
        while (o->seeds[s] != rows[i].seed) s++;
        size_t at = ((size_t)rows[i].method * (size_t)o->n_fractions + (size_t)f) * (size_t)o->n_seeds + (size_t)s;
        if (!have[at]) {
            res[at] = rows[i].r;
            have[at] = 1;
            continue;
        }
        /* a duplicate (e.g. the scratch rows repeated in a control run's file) must agree */
        int same = res[at].status == rows[i].r.status && res[at].n == rows[i].r.n;
        for (int k = 0; k < rows[i].r.n && same; k++) {
            const double *x = proto_find_val(&res[at], rows[i].r.keys[k]);
            same = x && *x == rows[i].r.vals[k];
        }
        if (!same) {
            fprintf(stderr, "ssl3d protocol: --from-results: two different rows for %s, fraction %g, seed %ld\n",
                    o->methods[rows[i].method].name, rows[i].fraction, rows[i].seed);
            rc = 1;
        }
    }
    free(have);
    free(rows);
    if (rc) { free(res); return 1; }
    *out = res;
    return 0;
}
