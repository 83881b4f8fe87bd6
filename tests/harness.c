#define _GNU_SOURCE
#include "harness.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 4096
typedef struct { const char *name, *file; th_fn fn; } th_test;
static th_test tests[MAX_TESTS];
static int n_tests, failures;
static char tmpdir[256];

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

ssl3d_tensor *th_randn(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, int requires_grad) {
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, ndim, shape, &t) != SSL3D_OK) return NULL;
    ssl3d_tensor_fill_normal(ctx, t, 0.0f, 1.0f);
    if (requires_grad) ssl3d_tensor_set_requires_grad(ctx, t, 1);
    return t;
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
    if (!fork_tests) {
        failures = 0;
        t->fn();
        rc = failures ? 1 : 0;
    } else {
        fflush(stdout); fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            failures = 0;
            t->fn();
            fflush(stderr);
            exit(failures ? 1 : 0);   /* exit, not _exit: LeakSanitizer runs at exit */
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status)) rc = WEXITSTATUS(status);
        else { fprintf(stderr, "    crashed with signal %d\n", WTERMSIG(status)); rc = 1; }
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) { /* leftover temp dir is harmless */ }
    return rc;
}

int main(int argc, char **argv) {
    int fork_tests = getenv("SSL3D_TEST_NOFORK") ? 0 : 1;
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
