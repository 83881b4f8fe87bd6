#define _GNU_SOURCE
#include "harness.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 4096
typedef struct { const char *name, *file; th_fn fn; } th_test;
static th_test tests[MAX_TESTS];
static int n_tests, failures;
static char tmpdir[256];

/* Every test gets a time limit, so a hung test fails with its name instead of hanging
 * CI: SSL3D_TEST_TIMEOUT seconds (default 300; 0 = none). */
#define DEFAULT_TIMEOUT_S 300
static int timeout_s = DEFAULT_TIMEOUT_S;
static const char *current_test;

static void on_alarm(int sig) {   /* no-fork mode: only async-signal-safe calls */
    (void)sig;
    static const char msg[] = "    timed out: ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, current_test, strlen(current_test)) < 0 || write(2, "\n", 1) < 0) {}
    _exit(124);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void th_register(const char *name, const char *file, th_fn fn) {
    if (n_tests < MAX_TESTS) tests[n_tests++] = (th_test){ name, file, fn };
}

void th_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

int th_failures(void) { return failures; }

void th_skip(const char *reason) {
    fprintf(stderr, "    skipped: %s\n", reason);
    fflush(stderr);
    exit(77);
}

ssl3d_ctx *th_ctx(int threads, uint64_t seed) {
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return NULL;
    ssl3d_ctx_set_threads(ctx, threads);
    ssl3d_ctx_set_seed(ctx, seed);
    return ctx;
}

ssl3d_tensor *th_tensor(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, const float *data) {
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_from_data(ctx, SSL3D_F32, ndim, shape, data, &t) != SSL3D_OK) return NULL;
    return t;
}

ssl3d_tensor *th_iota(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape) {
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, ndim, shape, &t) != SSL3D_OK) return NULL;
    float *p = ssl3d_tensor_host_data(t);
    for (int64_t i = 0; i < ssl3d_tensor_numel(t); i++) p[i] = (float)i;
    return t;
}

const float *th_f32(ssl3d_tensor *t) { return ssl3d_tensor_host_data(t); }
const int32_t *th_i32(ssl3d_tensor *t) { return ssl3d_tensor_host_data(t); }

ssl3d_tensor *th_randn(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, int requires_grad) {
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, ndim, shape, &t) != SSL3D_OK) return NULL;
    ssl3d_tensor_fill_normal(ctx, t, 0.0f, 1.0f);
    if (requires_grad) ssl3d_tensor_set_requires_grad(ctx, t, 1);
    return t;
}

/* The values of t as bytes: its host memory, or a copy read on ctx into *copy (the
 * caller frees it); NULL when it cannot be read. Every dtype has 4-byte elements. */
static const void *tensor_bytes(ssl3d_ctx *ctx, const ssl3d_tensor *t, void **copy) {
    *copy = NULL;
    const void *host = ssl3d_tensor_host_data((ssl3d_tensor *)t);
    if (host) return host;
    const int64_t nbytes = ssl3d_tensor_numel(t) * 4;
    if (!ctx || !(*copy = malloc((size_t)nbytes)) || ssl3d_tensor_read(ctx, t, *copy, nbytes) != SSL3D_OK) return NULL;
    return *copy;
}

int th_tensors_identical(ssl3d_ctx *ctx, const ssl3d_tensor *a, const ssl3d_tensor *b) {
    if (!a || !b) {
        th_fail(__FILE__, __LINE__, "th_tensors_identical: tensor %s is NULL", a ? "b" : "a");
        return 0;
    }
    if (ssl3d_tensor_dtype(a) != ssl3d_tensor_dtype(b) || ssl3d_tensor_ndim(a) != ssl3d_tensor_ndim(b)) return 0;
    for (int32_t i = 0; i < ssl3d_tensor_ndim(a); i++)
        if (ssl3d_tensor_dim(a, i) != ssl3d_tensor_dim(b, i)) return 0;
    void *ca = NULL, *cb = NULL;
    const void *x = tensor_bytes(ctx, a, &ca), *y = x ? tensor_bytes(ctx, b, &cb) : NULL;
    int same = 0;
    if (!x || !y)
        th_fail(__FILE__, __LINE__, "th_tensors_identical: cannot read tensor %s: %s", x ? "b" : "a",
                ctx ? ssl3d_ctx_last_error(ctx) : "it is in device memory and no context was given");
    else
        same = memcmp(x, y, (size_t)ssl3d_tensor_numel(a) * 4) == 0;
    free(ca);
    free(cb);
    return same;
}

const char *th_data_dir(void) {
    static char buf[1024];
    const char *env = getenv("SSL3D_DATA");
    snprintf(buf, sizeof buf, "%s", env && *env ? env : "../shared/data");
    struct stat sb;
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? buf : NULL;
}

const char *th_tmpdir(void) { return tmpdir; }

static int run_one(const th_test *t, int fork_tests) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ssl3d-test-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    int rc;
    current_test = t->name;
    if (!fork_tests) {
        failures = 0;
        signal(SIGALRM, on_alarm);
        alarm((unsigned)timeout_s);
        t->fn();
        alarm(0);
        rc = failures ? 1 : 0;
    } else {
        fflush(stdout); fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0);            /* its own group: a timeout also ends what it started */
            failures = 0;
            t->fn();
            fflush(stderr);
            exit(failures ? 1 : 0);   /* exit, not _exit: LeakSanitizer runs at exit */
        }
        if (pid > 0) setpgid(pid, pid);
        int status = 0, timed_out = 0;
        const double t0 = now_s();
        for (;;) {   /* poll, so the limit needs neither signals nor threads in the runner */
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid || w < 0) break;
            if (timeout_s > 0 && now_s() - t0 > timeout_s) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                timed_out = 1;
                break;
            }
            struct timespec nap = { 0, 1000000 };
            nanosleep(&nap, NULL);
        }
        if (timed_out) { fprintf(stderr, "    timed out after %d s: %s (SSL3D_TEST_TIMEOUT)\n", timeout_s, t->name); rc = 1; }
        else if (WIFEXITED(status)) rc = WEXITSTATUS(status);
        else { fprintf(stderr, "    crashed with signal %d\n", WTERMSIG(status)); rc = 1; }
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) { /* leftover temp dir is harmless */ }
    return rc;
}

int main(int argc, char **argv) {
    int fork_tests = getenv("SSL3D_TEST_NOFORK") ? 0 : 1;
    const char *to = getenv("SSL3D_TEST_TIMEOUT");
    if (to && *to) timeout_s = atoi(to) > 0 ? atoi(to) : 0;
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        const th_test *t = &tests[i];
        if (filter && !strstr(t->name, filter) && !strstr(t->file, filter)) continue;
        int rc = run_one(t, fork_tests);
        const char *tag = rc == 0 ? "PASS" : rc == 77 ? "SKIP" : "FAIL";
        printf("%s %s (%s)\n", tag, t->name, t->file);
        fflush(stdout);
        if (rc == 0) passed++; else if (rc == 77) skipped++; else failed++;
    }
    printf("%d skipped\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int th_self_exe(char *buf, size_t cap) {
    if (cap < 2) return 0;
    const ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) return 0;   /* cap - 1 bytes read: maybe truncated */
    buf[n] = '\0';
    return 1;
}

int th_run(const char *cmd, char *out, size_t cap) {
    char full[8192];
    if ((size_t)snprintf(full, sizeof full, "%s 2>&1", cmd) >= sizeof full) return -1;
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
