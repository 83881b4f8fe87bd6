/* Shared helpers of the ssl3d subcommands (see cli_util.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli_util.h"
#include "cli_dist.h"

/* ---------------------------------------------------------------- errors */

static void vmsg(const char *cmd, const char *fmt, va_list ap) {
    fprintf(stderr, "ssl3d %s%s: ", cmd, cli_dist_tag());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    return 2;
}

/* ---------------------------------------------------------------- options */

cli_opt *cli_find(cli_opt *opts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    return NULL;
}

static int in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int set_value(const char *cmd, cli_opt *o, const char *v) {
    char *end = NULL;
    switch (o->kind) {
    case CLI_STR:
        if (!*v) return cli_usage_error(cmd, "option --%s: empty value", o->name);
        *(const char **)o->dst = v;
        return 0;
    case CLI_CHOICE:
        if (!in_choices(o->choices, v))
            return cli_usage_error(cmd, "option --%s: '%s' is not one of %s", o->name, v, o->choices);
        *(const char **)o->dst = v;
        return 0;
    case CLI_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return cli_usage_error(cmd, "option --%s: '%s' is not an integer", o->name, v);
        if (o->lo <= o->hi && ((double)x < o->lo || (double)x > o->hi))
            return cli_usage_error(cmd, "option --%s: %lld is out of range [%.0f, %.0f]", o->name, x, o->lo, o->hi);
        *(int64_t *)o->dst = x;
        return 0;
    }
    case CLI_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return cli_usage_error(cmd, "option --%s: '%s' is not a number", o->name, v);
        if (o->lo <= o->hi && (x < o->lo || x > o->hi))
            return cli_usage_error(cmd, "option --%s: %g is out of range [%g, %g]", o->name, x, o->lo, o->hi);
        *(double *)o->dst = x;
        return 0;
    }
    case CLI_FLAG:
        *(int *)o->dst = 1;
        return 0;
    }
    return 2;
}

/* Length of the option name of argument a ("--name" or "--name=value"), 0 if a is no option. */
static size_t option_name_len(const char *a) {
    if (a[0] != '-' || a[1] != '-' || !a[2]) return 0;
    const char *eq = strchr(a, '=');
    return eq ? (size_t)(eq - a) : strlen(a);
}

int cli_reject_repeats(const char *cmd, int argc, char **argv, const char *const *repeatable) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        size_t len = option_name_len(argv[i]);
        if (!len) continue;
        int allowed = 0;
        for (const char *const *r = repeatable; r && *r && !allowed; r++)
            allowed = strlen(*r) == len && !strncmp(*r, argv[i], len);
        if (allowed) continue;
        for (int j = 1; j < i; j++)
            if (option_name_len(argv[j]) == len && !strncmp(argv[j], argv[i], len))
                return cli_usage_error(cmd, "option %.*s given twice; give it once", (int)len, argv[i]);
    }
    return 0;
}

int cli_parse(const char *cmd, const cli_help *help, int argc, char **argv, cli_opt *opts, int n_opts,
              const char **positional, int max_pos, int *n_pos) {
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(stdout, cmd, help, opts, n_opts);
            return -1;
        }
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            cli_opt *o = NULL;
            for (int k = 0; k < n_opts; k++)
                if (strlen(opts[k].name) == len && !strncmp(opts[k].name, name, len)) o = &opts[k];
            if (!o)
                return cli_usage_error(cmd, "unknown option '%.*s' (see ssl3d %s --help)", (int)(len + 2), a, cmd);
            if (o->seen && o->kind != CLI_FLAG)
                return cli_usage_error(cmd, "option --%s given twice", o->name);
            o->seen = 1;
            if (o->kind == CLI_FLAG) {
                if (eq) return cli_usage_error(cmd, "option --%s takes no value", o->name);
                *(int *)o->dst = 1;
                continue;
            }
            const char *v = eq ? eq + 1 : NULL;
            if (!v) {
                if (i + 1 >= argc) return cli_usage_error(cmd, "option --%s needs a value (%s)", o->name,
                                                          o->metavar ? o->metavar : "VALUE");
                v = argv[++i];
            }
            int rc = set_value(cmd, o, v);
            if (rc) return rc;
            continue;
        }
        if (a[0] == '-' && a[1])
            return cli_usage_error(cmd, "unknown option '%s' (see ssl3d %s --help)", a, cmd);
        if (np >= max_pos || !positional)
            return cli_usage_error(cmd, "unexpected argument '%s' (see ssl3d %s --help)", a, cmd);
        positional[np++] = a;
    }
    if (n_pos) *n_pos = np;
    return 0;
}

void cli_print_help(FILE *f, const char *cmd, const cli_help *help, const cli_opt *opts, int n_opts) {
    fprintf(f, "usage: ssl3d %s %s\n", cmd, help && help->synopsis ? help->synopsis : "[OPTIONS]");
    if (help && help->description) fprintf(f, "\n%s\n", help->description);
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < n_opts; i++) {
        char head[64];
        const char *mv = opts[i].kind == CLI_FLAG ? "" : opts[i].kind == CLI_CHOICE ? opts[i].choices
                                                       : opts[i].metavar ? opts[i].metavar : "VALUE";
        snprintf(head, sizeof head, "--%s%s%s", opts[i].name, *mv ? " " : "", mv);
        if (strlen(head) > 24) fprintf(f, "  %s\n  %-24s ", head, "");
        else fprintf(f, "  %-24s ", head);
        /* Continuation lines of the help text are indented under the first. */
        for (const char *p = opts[i].help; *p; p++) {
            fputc(*p, f);
            if (*p == '\n') fprintf(f, "  %-24s ", "");
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-24s this text\n", "--help");
    if (help && help->epilogue) fprintf(f, "\n%s\n", help->epilogue);
}

/* ---------------------------------------------------------------- time */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *cli_format_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e9) { snprintf(buf, cap, "?"); return buf; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
    return buf;
}

/* ---------------------------------------------------------------- progress */

void cli_progress_init(cli_progress *p, FILE *f) {
    const char *env = getenv("SSL3D_PROGRESS");
    p->f = f;
    p->tty = isatty(fileno(f)) && !(env && !strcmp(env, "plain"));
    p->open_line = 0;
    p->last_len = 0;
}

void cli_progress_update(cli_progress *p, int plain_too, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->tty) {
        size_t n = strlen(line);
        fprintf(p->f, "\r%s", line);
        for (size_t k = n; k < p->last_len; k++) fputc(' ', p->f);
        p->last_len = n;
        p->open_line = 1;
    } else if (plain_too) {
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
}

void cli_progress_done(cli_progress *p) {
    if (p->open_line) fputc('\n', p->f);
    p->open_line = 0;
    p->last_len = 0;
    fflush(p->f);
}

void cli_progress_print(cli_progress *p, const char *fmt, ...) {
    cli_progress_done(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->f, fmt, ap);
    va_end(ap);
    fputc('\n', p->f);
    fflush(p->f);
}

/* ---------------------------------------------------------------- JSONL */

int cli_jsonl_open(const char *cmd, cli_jsonl *j, const char *path, int append) {
    j->f = fopen(path, append ? "a" : "w");
    j->path = NULL;
    if (!j->f) return cli_error(cmd, "%s: cannot open the log file for writing (%s)", path, strerror(errno));
    j->path = strdup(path);
    return 0;
}

int cli_jsonl_write(const char *cmd, cli_jsonl *j, cJSON *obj) {
    if (!j || !j->f) { cJSON_Delete(obj); return 0; }
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!s) return cli_error(cmd, "%s: out of memory formatting a log line", j->path);
    int bad = fprintf(j->f, "%s\n", s) < 0 || fflush(j->f) != 0;
    cJSON_free(s);
    if (bad) return cli_error(cmd, "%s: cannot write the log file (%s)", j->path, strerror(errno));
    return 0;
}

int cli_jsonl_close(const char *cmd, cli_jsonl *j) {
    int rc = 0;
    if (j->f && fclose(j->f) != 0) rc = cli_error(cmd, "%s: cannot write the log file (%s)", j->path, strerror(errno));
    j->f = NULL;
    free(j->path);
    j->path = NULL;
    return rc;
}

int cli_file_readable(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

int cli_dir_writable(const char *path) {
    if (!path || !*path) return 0;
    char *dir = strdup(path);
    if (!dir) return 0;
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    struct stat st;
    int ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
    free(dir);
    return ok;
}
