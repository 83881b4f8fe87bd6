/* `ssl3d bench`: the benchmark workloads of SPEC "Benchmark workloads" (W1a-e conv,
 * W2-W5 training steps, S1-S3 sample construction, IO hippocampus read), optionally
 * side by side with the reference scripts (PyTorch / NumPy / nibabel) run in the same
 * invocation with the same thread count.
 *
 * Every workload group runs in its own forked child, so that its peak resident memory
 * (wait4 ru_maxrss of the child) is its own; the parent never runs library code (no
 * OpenMP pool exists before a fork). Reference scripts likewise run one process per
 * group (torch_ref.py --only W2, ...), right after our group, so that the two see about
 * the same machine load and their peaks compare per workload. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cblas.h>
#include <cjson/cJSON.h>
#include "ssl3d.h"
#include "cli.h"
#include "bench_conv.h"
#include "bench_io.h"
#include "bench_samples.h"
#include "bench_train.h"
#include "bench_task.h"
#include "cli_util.h"

#define PYTHON "/usr/bin/python3"
/* PyTorch equivalents of W6/W7 (this repository; run `ssl3d bench` from the source tree). */
#define TASK_REF_PY "docs/bench/task_ref.py"

typedef struct {
    int threads, repeat, phases;
    int backend;                /* ssl3d_backend_kind of W1-W5 (S1-S3 and IO are host work) */
    const char *only, *json_path, *ref_dir;
    char hippo_dir[4096];       /* "" when the data set is absent */
} bench_opts;

/* ------------------------------------------------------------------ child processes */

/* Output, exit status and peak RSS of a finished child. */
typedef struct {
    char *out;                  /* its stdout (ref scripts) or JSON fragment (ours), NUL-terminated */
    int ok;                     /* exited with status 0 */
    double peak_mb;             /* ru_maxrss of that child alone */
} child_result;

static char *read_all_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) return NULL;
        if (n + 1 >= cap) {
            char *g = realloc(buf, cap * 2);
            if (!g) { free(buf); return NULL; }
            buf = g; cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n - 1);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    return buf;
}

/* Wait for pid after reading its pipe to the end. */
static child_result finish_child(pid_t pid, int rfd) {
    child_result r = { NULL, 0, 0.0 };
    r.out = read_all_fd(rfd);
    close(rfd);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    r.peak_mb = ru.ru_maxrss / 1024.0;   /* KiB on Linux */
    return r;
}

typedef int (*group_fn)(const bench_opts *o, const char *arg, FILE *json);

/* Run fn in a forked child; the child writes "{" fragment "}" to a pipe. */
static child_result run_ours(group_fn fn, const bench_opts *o, const char *arg) {
    child_result r = { NULL, 0, 0.0 };
    int fds[2];
    fflush(stdout); fflush(stderr);
    if (pipe(fds) != 0) { perror("bench: pipe"); return r; }
    pid_t pid = fork();
    if (pid < 0) { perror("bench: fork"); close(fds[0]); close(fds[1]); return r; }
    if (pid == 0) {
        close(fds[0]);
        FILE *f = fdopen(fds[1], "w");
        if (!f) _exit(1);
        fputc('{', f);
        int rc = fn(o, arg, f);
        fputs("}\n", f);
        fclose(f);
        fflush(stdout);
        _exit(rc);
    }
    close(fds[1]);
    return finish_child(pid, fds[0]);
}

/* Run argv (a reference script) with its stdout captured, stderr passed through, and
 * the BLAS/OpenMP thread counts of its environment set to `threads`. */
static child_result run_exec(char *const *argv, int threads, int quiet) {
    child_result r = { NULL, 0, 0.0 };
    int fds[2];
    fflush(stdout); fflush(stderr);
    if (pipe(fds) != 0) { perror("bench: pipe"); return r; }
    pid_t pid = fork();
    if (pid < 0) { perror("bench: fork"); close(fds[0]); close(fds[1]); return r; }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        close(fds[1]);
        if (quiet) {
            FILE *null = freopen("/dev/null", "w", stderr);
            (void)null;
        }
        char t[16];
        snprintf(t, sizeof t, "%d", threads);
        setenv("OMP_NUM_THREADS", t, 1);
        setenv("OPENBLAS_NUM_THREADS", t, 1);
        setenv("MKL_NUM_THREADS", t, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    return finish_child(pid, fds[0]);
}

static int python_can_import(const char *modules) {
    char code[256];
    snprintf(code, sizeof code, "import %s", modules);
    char *argv[] = { (char *)PYTHON, (char *)"-c", code, NULL };
    child_result r = run_exec(argv, 1, 1);
    free(r.out);
    return r.ok;
}

/* ------------------------------------------------------------------ our groups */

static int group_w1(const bench_opts *o, const char *arg, FILE *json) {
    (void)arg;
    return bench_w1(o->backend, o->threads, o->repeat, json);
}
static int group_train(const bench_opts *o, const char *arg, FILE *json) {
    return bench_train(atoi(arg + 1), o->backend, o->threads, o->repeat, o->phases, json);
}
static int group_task(const bench_opts *o, const char *arg, FILE *json) {
    return bench_task(atoi(arg + 1), o->threads, o->repeat, json);
}
static int group_samples(const bench_opts *o, const char *arg, FILE *json) {
    (void)arg;
    return bench_samples(o->threads, o->repeat, json);
}
static int group_io(const bench_opts *o, const char *arg, FILE *json) {
    (void)arg;
    return bench_io(o->hippo_dir, o->threads, o->repeat, json);
}

/* ------------------------------------------------------------------ results */

typedef struct {
    cJSON *root;        /* the --json document */
    cJSON *ours;        /* root.workloads */
    cJSON *ref;         /* root.reference.workloads */
    cJSON *ref_info;    /* root.reference */
    cJSON *skipped;     /* root.skipped: name -> reason */
    int failures;
} results;

static double num_or(const cJSON *obj, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Move every object member of `from` into `to`, adding peak_rss_mb (the group's peak)
 * where it is missing; returns how many were moved. */
static int merge_entries(cJSON *to, cJSON *from, double peak_mb) {
    int n = 0;
    cJSON *e = from ? from->child : NULL;
    while (e) {
        cJSON *next = e->next;
        if (cJSON_IsObject(e) && e->string) {
            char *name = strdup(e->string);
            cJSON *item = cJSON_DetachItemViaPointer(from, e);
            if (!cJSON_GetObjectItemCaseSensitive(item, "peak_rss_mb")) cJSON_AddNumberToObject(item, "peak_rss_mb", peak_mb);
            else cJSON_ReplaceItemInObjectCaseSensitive(item, "peak_rss_mb", cJSON_CreateNumber(peak_mb));
            cJSON_DeleteItemFromObjectCaseSensitive(to, name);
            cJSON_AddItemToObject(to, name, item);
            free(name);
            n++;
        }
        e = next;
    }
    return n;
}

static void run_our_group(results *res, const char *label, group_fn fn, const bench_opts *o, const char *arg) {
    child_result r = run_ours(fn, o, arg);
    cJSON *frag = r.out ? cJSON_Parse(r.out) : NULL;
    if (!r.ok || !frag) {
        fprintf(stderr, "bench: %s failed%s\n", label, frag ? "" : " (no result)");
        cJSON_AddStringToObject(res->skipped, label, "failed (see stderr)");
        res->failures++;
    } else {
        merge_entries(res->ours, frag, r.peak_mb);
        printf("  %s peak RSS %.1f MB (own process)\n", label, r.peak_mb);
    }
    cJSON_Delete(frag);
    free(r.out);
}

/* Run a reference script, take its "workloads" (and its version keys into ref_info). */
static void run_ref_group(results *res, const char *label, char *const *argv, const bench_opts *o) {
    printf("  reference %s ...\n", label);
    child_result r = run_exec(argv, o->threads, 0);
    cJSON *doc = r.out ? cJSON_Parse(r.out) : NULL;
    cJSON *wl = doc ? cJSON_GetObjectItemCaseSensitive(doc, "workloads") : NULL;
    if (!r.ok || !cJSON_IsObject(wl)) {
        fprintf(stderr, "bench: reference %s failed\n", label);
        char key[128];
        snprintf(key, sizeof key, "reference %s", label);
        cJSON_AddStringToObject(res->skipped, key, "failed (see stderr)");
    } else {
        /* The script's own process-wide peak is the same quantity as ours (one group per
         * process); use the wait4 value for both sides. */
        cJSON_DeleteItemFromObjectCaseSensitive(wl, "peak_rss_mb");
        for (cJSON *e = wl->child; e; e = e->next)
            if (cJSON_IsObject(e))
                printf("  ref %-28s %9.2f ms (min %.2f, max %.2f)\n", e->string, num_or(e, "ms", -1),
                       num_or(e, "ms_min", -1), num_or(e, "ms_max", -1));
        printf("  reference %s peak RSS %.1f MB (own process)\n", label, r.peak_mb);
        merge_entries(res->ref, wl, r.peak_mb);
        for (cJSON *e = doc->child; e; e = e->next)
            if (cJSON_IsString(e) && e->string && !cJSON_GetObjectItemCaseSensitive(res->ref_info, e->string))
                cJSON_AddStringToObject(res->ref_info, e->string, e->valuestring);
    }
    cJSON_Delete(doc);
    free(r.out);
}

/* ------------------------------------------------------------------ selection */

/* Group ids: W1 W2 W3 W4 W5 S IO. A token selects a group when one is a prefix of the
 * other ("S1" -> S, "W1c" -> W1, "W" -> all W). */
static int selected(const char *only, const char *group) {
    if (!only || !*only) return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", only);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t a = strlen(t), b = strlen(group), m = a < b ? a : b;
        if (m > 0 && strncasecmp(t, group, m) == 0) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ machine */

static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t') p++;
                p[strcspn(p, "\n")] = '\0';
                snprintf(out, cap, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

static int dir_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------------------ table */

/* Reference name for one of ours: the _alloc variant of S3 compares with numpy's S3
 * (which allocates its 10 outputs every run). */
static const cJSON *ref_entry(const results *res, const char *name) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(res->ref, name);
    if (r) return r;
    size_t n = strlen(name);
    if (n > 6 && strcmp(name + n - 6, "_alloc") == 0) {
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(n - 6), name);
        return cJSON_GetObjectItemCaseSensitive(res->ref, base);
    }
    return NULL;
}

static void add_ratios_and_print(results *res) {
    printf("\n%-32s %10s %10s %7s %10s %10s %7s %8s %8s\n", "workload", "ours ms", "ref ms", "ratio", "ours min",
           "ref min", "ratio", "ours MB", "ref MB");
    for (cJSON *e = res->ours->child; e; e = e->next) {
        double ms = num_or(e, "ms", -1), mn = num_or(e, "ms_min", -1), peak = num_or(e, "peak_rss_mb", -1);
        const cJSON *r = ref_entry(res, e->string);
        char refms[32] = "-", ratio[32] = "-", refmb[32] = "-", refmin[32] = "-", ratiomin[32] = "-";
        if (r) {
            double rms = num_or(r, "ms", -1), rmn = num_or(r, "ms_min", -1), rpk = num_or(r, "peak_rss_mb", -1);
            if (rms > 0) {
                snprintf(refms, sizeof refms, "%.2f", rms);
                snprintf(ratio, sizeof ratio, "%.2f", ms / rms);
                cJSON_AddNumberToObject(e, "ref_ms", rms);
                cJSON_AddNumberToObject(e, "ratio", ms / rms);
            }
            if (rmn > 0 && mn > 0) {   /* the least disturbed runs: useful on a loaded machine */
                snprintf(refmin, sizeof refmin, "%.2f", rmn);
                snprintf(ratiomin, sizeof ratiomin, "%.2f", mn / rmn);
                cJSON_AddNumberToObject(e, "ref_ms_min", rmn);
                cJSON_AddNumberToObject(e, "ratio_min", mn / rmn);
            }
            if (rpk > 0) {
                snprintf(refmb, sizeof refmb, "%.0f", rpk);
                cJSON_AddNumberToObject(e, "ref_peak_rss_mb", rpk);
            }
        }
        printf("%-32s %10.2f %10s %7s %10.2f %10s %7s %8.0f %8s\n", e->string, ms, refms, ratio, mn, refmin, ratiomin,
               peak, refmb);
    }
    for (cJSON *e = res->skipped->child; e; e = e->next)
        printf("%-32s skipped: %s\n", e->string, e->valuestring);
    printf("(ratio = ours / reference on medians, then on minima, < 1 is faster; MB = peak RSS of the\n"
           " process running that group; the reference's includes its interpreter and imports)\n");
}

/* ------------------------------------------------------------------ command */

static void usage(FILE *f) {
    fprintf(f,
            "usage: ssl3d bench [--threads T] [--repeat N] [--only W1,W2,...,S1,IO] [--json FILE]\n"
            "                   [--reference DIR] [--phases] [--backend cpu|cuda]\n"
            "  Runs W1a-e (conv), W2-W5 (training steps), W6-W7 (CPC and exemplar 3D steps with\n"
            "  the task defaults), S1-S3 (sample construction) and IO\n"
            "  (hippocampus read; $SSL3D_DATA or ../shared/data) and prints median ms and the\n"
            "  peak RSS of each group. --reference DIR (holding torch_ref.py, numpy_ref.py) also\n"
            "  runs the reference scripts with " PYTHON ", same threads, and prints ratios\n"
            "  (W6-W7: " TASK_REF_PY " of this source tree). Every workload warms up until\n"
            "  its page faults settle, then reports median, min and max of N timed runs.\n"
            "  The CPU kernels (SSL3D_CPU_ISA) and OpenBLAS kernel (OPENBLAS_CORETYPE) in use\n"
            "  are printed and recorded; set ONEDNN_MAX_CPU_ISA=AVX2 to cap the reference's.\n"
            "  --phases prints the time of each phase of the W2-W5 steps and the process CPU time per step.\n"
            "  --backend cpu|cuda (default cpu): where W1-W5 run (docs/cuda.md). With cuda the torch\n"
            "  references are skipped (they run on the CPU); S1-S3 and IO are host work.\n");
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    memset(&o, 0, sizeof o);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = ncpu > 0 ? (int)ncpu : 1;
    o.repeat = 5;
    if (cli_reject_repeats("bench", argc, argv, NULL)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--threads") && has) o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--repeat") && has) o.repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--only") && has) o.only = argv[++i];
        else if (!strcmp(a, "--json") && has) o.json_path = argv[++i];
        else if (!strcmp(a, "--reference") && has) o.ref_dir = argv[++i];
        else if (!strcmp(a, "--phases")) o.phases = 1;
        else if (!strcmp(a, "--backend") && has) {
            const char *b = argv[++i];
            if (!strcmp(b, "cpu")) o.backend = SSL3D_BACKEND_CPU;
            else if (!strcmp(b, "cuda")) o.backend = SSL3D_BACKEND_CUDA;
            else {
                fprintf(stderr, "ssl3d bench: --backend must be cpu or cuda, got '%s'\n", b);
                return 2;
            }
        }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else {
            fprintf(stderr, "ssl3d bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.threads < 1 || o.threads > 1024) { fprintf(stderr, "ssl3d bench: --threads must be 1..1024\n"); return 2; }
    if (o.repeat < 1 || o.repeat > 10000) { fprintf(stderr, "ssl3d bench: --repeat must be 1..10000\n"); return 2; }
    static const char *const all_groups[] = { "W1", "W2", "W3", "W4", "W5", "W6", "W7", "S", "IO" };
    int any = 0;
    for (int g = 0; g < 9; g++) any |= selected(o.only, all_groups[g]);
    if (!any) {
        fprintf(stderr, "ssl3d bench: --only %s selects no workload (known: W1..W7, W1a..W1e, S1..S3, IO)\n", o.only);
        return 2;
    }
    char device[1024] = "";
    if (ssl3d_backend_probe(o.backend, device, sizeof device) != SSL3D_OK) {
        fprintf(stderr, "ssl3d bench: --backend %s is unavailable: %s\n", o.backend == SSL3D_BACKEND_CUDA ? "cuda" : "cpu",
                device);
        return 1;
    }
    if (o.ref_dir && !dir_exists(o.ref_dir)) {
        fprintf(stderr, "ssl3d bench: --reference %s: not a directory\n", o.ref_dir);
        return 2;
    }

    /* Hippocampus data: $SSL3D_DATA, else ../shared/data. */
    const char *data = getenv("SSL3D_DATA");
    const char *cands[2] = { data, "../shared/data" };
    for (int i = 0; i < 2 && !o.hippo_dir[0]; i++) {
        if (!cands[i] || !*cands[i]) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/hippocampus", cands[i]);
        if (dir_exists(p)) snprintf(o.hippo_dir, sizeof o.hippo_dir, "%s", p);
    }

    /* Machine and BLAS description. */
    char model[256];
    cpu_model(model, sizeof model);
    struct utsname un;
    const char *kernel = uname(&un) == 0 ? un.release : "?";
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    const char *corename = openblas_get_corename();
    const char *blascfg = openblas_get_config();
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", localtime(&now));

    results res;
    res.root = cJSON_CreateObject();
    cJSON_AddStringToObject(res.root, "library", "libssl3d");
    cJSON_AddStringToObject(res.root, "version", ssl3d_version());
    cJSON_AddStringToObject(res.root, "date", when);
    cJSON_AddStringToObject(res.root, "machine", model);
    cJSON_AddNumberToObject(res.root, "cores_online", (double)ncpu);
    cJSON_AddStringToObject(res.root, "kernel", kernel);
    cJSON_AddNumberToObject(res.root, "threads", o.threads);
    cJSON_AddNumberToObject(res.root, "repeat", o.repeat);
    cJSON_AddStringToObject(res.root, "backend", o.backend == SSL3D_BACKEND_CUDA ? "cuda" : "cpu");
    cJSON_AddStringToObject(res.root, "device", device);
    if (coretype) cJSON_AddStringToObject(res.root, "openblas_coretype", coretype);
    else cJSON_AddNullToObject(res.root, "openblas_coretype");
    cJSON_AddStringToObject(res.root, "openblas_corename", corename ? corename : "?");
    cJSON_AddStringToObject(res.root, "openblas_config", blascfg ? blascfg : "?");
    /* Which CPU kernels run (instruction set picked at run time, or SSL3D_CPU_ISA), and the
     * reference's oneDNN ISA cap if one is set (ONEDNN_MAX_CPU_ISA=AVX2 for AVX2 runs). */
    char kernels[512] = "";
    ssl3d_backend_probe(SSL3D_BACKEND_CPU, kernels, sizeof kernels);
    const char *isa_env = getenv("SSL3D_CPU_ISA"), *dnn_isa = getenv("ONEDNN_MAX_CPU_ISA");
    cJSON_AddStringToObject(res.root, "cpu_kernels", kernels);
    if (isa_env && *isa_env) cJSON_AddStringToObject(res.root, "ssl3d_cpu_isa", isa_env);
    else cJSON_AddNullToObject(res.root, "ssl3d_cpu_isa");
    if (dnn_isa && *dnn_isa) cJSON_AddStringToObject(res.root, "onednn_max_cpu_isa", dnn_isa);
    else cJSON_AddNullToObject(res.root, "onednn_max_cpu_isa");
    res.ours = cJSON_AddObjectToObject(res.root, "workloads");
    res.skipped = cJSON_AddObjectToObject(res.root, "skipped");
    res.ref_info = NULL;
    res.ref = NULL;
    res.failures = 0;

    printf("ssl3d bench %s: %s (%ld cores online), %d threads, %d timed runs\n", ssl3d_version(), model, ncpu,
           o.threads, o.repeat);
    printf("OpenBLAS kernel %s (OPENBLAS_CORETYPE=%s), %s\n", corename ? corename : "?", coretype ? coretype : "(unset)",
           blascfg ? blascfg : "");
    printf("CPU kernels: %s\n", kernels);
    if (dnn_isa && *dnn_isa) printf("reference: ONEDNN_MAX_CPU_ISA=%s\n", dnn_isa);
    if (o.backend == SSL3D_BACKEND_CUDA) printf("backend cuda: %s\n", device);

    /* Which references can run. */
    char torch_py[4096] = "", numpy_py[4096] = "";
    int have_torch = 0, have_numpy = 0, have_nib = 0;
    if (o.ref_dir) {
        res.ref_info = cJSON_AddObjectToObject(res.root, "reference");
        res.ref = cJSON_AddObjectToObject(res.ref_info, "workloads");
        snprintf(torch_py, sizeof torch_py, "%s/torch_ref.py", o.ref_dir);
        snprintf(numpy_py, sizeof numpy_py, "%s/numpy_ref.py", o.ref_dir);
        have_torch = file_exists(torch_py) && python_can_import("torch");
        have_numpy = file_exists(numpy_py) && python_can_import("numpy, scipy");
        have_nib = o.hippo_dir[0] && python_can_import("nibabel, numpy");
        if (!have_torch) cJSON_AddStringToObject(res.skipped, "reference W1-W5", "torch_ref.py or torch for " PYTHON " missing");
        if (!have_numpy) cJSON_AddStringToObject(res.skipped, "reference S1-S3", "numpy_ref.py or numpy/scipy for " PYTHON " missing");
        if (!have_nib && o.hippo_dir[0])
            cJSON_AddStringToObject(res.skipped, "reference IO", "nibabel for " PYTHON " missing (apt-get install python3-nibabel)");
        printf("reference: %s: torch %s, numpy+scipy %s, nibabel %s\n", o.ref_dir, have_torch ? "yes" : "no",
               have_numpy ? "yes" : "no", have_nib ? "yes" : "no");
    }
    if (!res.ref) {   /* keep the table code uniform */
        res.ref_info = cJSON_CreateObject();
        res.ref = cJSON_AddObjectToObject(res.ref_info, "workloads");
    }
    char threads_s[16], repeat_s[16];
    snprintf(threads_s, sizeof threads_s, "%d", o.threads);
    snprintf(repeat_s, sizeof repeat_s, "%d", o.repeat);

    static const char *const train_groups[] = { "W2", "W3", "W4", "W5" };
    if (selected(o.only, "W1")) {
        printf("\n== W1 (conv3d forward + backward)\n");
        run_our_group(&res, "W1", group_w1, &o, "W1");
        if (have_torch && o.backend == SSL3D_BACKEND_CUDA) {
            printf("  torch W1 reference skipped: it runs on the CPU, not comparable with cuda\n");
            cJSON_AddStringToObject(res.skipped, "torch W1", "the reference runs on the CPU; --backend cuda");
        } else if (have_torch) {
            char *av[] = { (char *)PYTHON, torch_py, (char *)"--threads", threads_s, (char *)"--repeat", repeat_s,
                           (char *)"--only", (char *)"W1", NULL };
            run_ref_group(&res, "torch W1", av, &o);
        }
    }
    for (int g = 0; g < 4; g++) {
        if (!selected(o.only, train_groups[g])) continue;
        printf("\n== %s (training step)\n", train_groups[g]);
        run_our_group(&res, train_groups[g], group_train, &o, train_groups[g]);
        if (have_torch && o.backend == SSL3D_BACKEND_CUDA) {
            printf("  torch %s reference skipped: it runs on the CPU, not comparable with cuda\n", train_groups[g]);
            char key[32];
            snprintf(key, sizeof key, "torch %s", train_groups[g]);
            cJSON_AddStringToObject(res.skipped, key, "the reference runs on the CPU; --backend cuda");
        } else if (have_torch) {
            char *av[] = { (char *)PYTHON, torch_py, (char *)"--threads", threads_s, (char *)"--repeat", repeat_s,
                           (char *)"--only", (char *)train_groups[g], NULL };
            char label[32];
            snprintf(label, sizeof label, "torch %s", train_groups[g]);
            run_ref_group(&res, label, av, &o);
        }
    }
    static const char *const task_groups[] = { "W6", "W7" };
    char task_py[4096] = "";
    int have_task_ref = 0;
    if (o.ref_dir && have_torch) {   /* the task references live in this repository */
        snprintf(task_py, sizeof task_py, "%s", TASK_REF_PY);
        have_task_ref = file_exists(task_py);
        if (!have_task_ref) cJSON_AddStringToObject(res.skipped, "reference W6-W7", TASK_REF_PY " not found (run from the source tree)");
    }
    for (int g = 0; g < 2; g++) {
        if (!selected(o.only, task_groups[g])) continue;
        printf("\n== %s (proxy-task training step, task defaults)\n", task_groups[g]);
        run_our_group(&res, task_groups[g], group_task, &o, task_groups[g]);
        const char *name = bench_task_name(atoi(task_groups[g] + 1));
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(res.ours, name);
        const cJSON *opt = e ? cJSON_GetObjectItemCaseSensitive(e, "options") : NULL;
        if (have_task_ref && cJSON_IsString(opt)) {
            char images[16];
            snprintf(images, sizeof images, "%d", (int)num_or(e, "images", 4));
            char *av[] = { (char *)PYTHON, task_py, (char *)"--threads", threads_s, (char *)"--repeat", repeat_s,
                           (char *)"--only", (char *)task_groups[g], (char *)"--images", images, (char *)"--options",
                           opt->valuestring, NULL };
            char label[32];
            snprintf(label, sizeof label, "torch %s", task_groups[g]);
            run_ref_group(&res, label, av, &o);
        }
    }
    if (selected(o.only, "S")) {
        printf("\n== S1-S3 (sample construction)\n");
        run_our_group(&res, "S", group_samples, &o, "S");
        if (have_numpy) {
            char *av[] = { (char *)PYTHON, numpy_py, (char *)"--repeat", repeat_s, NULL };
            run_ref_group(&res, "numpy S1-S3", av, &o);
        }
    }
    if (selected(o.only, "IO")) {
        printf("\n== IO (hippocampus, 200 images + 200 labels)\n");
        if (!o.hippo_dir[0]) {
            printf("  skipped: no hippocampus data ($SSL3D_DATA or ../shared/data)\n");
            cJSON_AddStringToObject(res.skipped, BENCH_IO_NAME, "no data ($SSL3D_DATA or ../shared/data)");
        } else {
            run_our_group(&res, "IO", group_io, &o, "IO");
            if (have_nib) {
                char *av[] = { (char *)PYTHON, (char *)"-c", (char *)bench_io_nibabel_py, o.hippo_dir, repeat_s, NULL };
                run_ref_group(&res, "nibabel IO", av, &o);
            }
        }
    }

    add_ratios_and_print(&res);
    if (!o.ref_dir) cJSON_Delete(res.ref_info);

    int rc = res.failures ? 1 : 0;
    if (o.json_path) {
        char *text = cJSON_Print(res.root);
        FILE *f = text ? fopen(o.json_path, "w") : NULL;
        if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0) {
            fprintf(stderr, "ssl3d bench: cannot write %s: %s\n", o.json_path, strerror(errno));
            rc = 1;
        }
        if (f && fclose(f) != 0) rc = 1;
        else if (f) printf("wrote %s\n", o.json_path);
        cJSON_free(text);
    }
    cJSON_Delete(res.root);
    return rc;
}
