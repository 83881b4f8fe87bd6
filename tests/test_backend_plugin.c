/* The CUDA backend plugin's loading and probing (src/backend/plugin_loader.c): every way
 * it can be unavailable gets its own clear reason, never a crash or a silent CPU context.
 * The fake plugins are built by the Makefile from tests/plugins/fake_plugin.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "../src/backend/backend.h"

#ifndef SSL3D_TEST_PLUGIN_DIR
#error "SSL3D_TEST_PLUGIN_DIR is set by the Makefile"
#endif

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Probe CUDA with SSL3D_CUDA_PLUGIN set to `file` (NULL: unset); msg gets the reason. */
static ssl3d_status probe_with(const char *file, char *msg, size_t cap) {
    if (file) setenv("SSL3D_CUDA_PLUGIN", file, 1);
    else unsetenv("SSL3D_CUDA_PLUGIN");
    return ssl3d_backend_probe(SSL3D_BACKEND_CUDA, msg, cap);
}

static void fake_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/fake_%s.so", SSL3D_TEST_PLUGIN_DIR, name);
}

/* ctx_create(CUDA) must fail cleanly and leave its out-parameter alone. */
static void check_create_fails(void) {
    ssl3d_ctx *ctx = (ssl3d_ctx *)0x1;
    CHECK(ssl3d_ctx_create(SSL3D_BACKEND_CUDA, &ctx) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK(ctx == (ssl3d_ctx *)0x1);
}

TEST(cuda_plugin_env_pointing_nowhere_is_not_found) {
    char msg[1024];
    const char *nowhere = "/nonexistent/dir/libssl3d-cuda.so.0";
    CHECK(probe_with(nowhere, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "plugin not found:"), "reason: %s", msg);
    CHECK_MSG(strstr(msg, nowhere) != NULL, "reason does not name the path: %s", msg);
    check_create_fails();
}

TEST(cuda_plugin_with_wrong_abi_is_refused) {
    char file[PATH_MAX], msg[1024], want[64];
    fake_path(file, sizeof file, "wrong_abi");
    REQUIRE(access(file, R_OK) == 0);
    CHECK(probe_with(file, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "plugin ABI mismatch:"), "reason: %s", msg);
    snprintf(want, sizeof want, "expects %d", SSL3D_BACKEND_ABI_VERSION);
    CHECK_MSG(strstr(msg, "ABI 999") && strstr(msg, want) && strstr(msg, file), "reason: %s", msg);
    check_create_fails();
}

TEST(cuda_plugin_without_entry_point_is_refused) {
    char file[PATH_MAX], msg[1024];
    fake_path(file, sizeof file, "no_entry");
    REQUIRE(access(file, R_OK) == 0);
    CHECK(probe_with(file, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "plugin invalid:") && strstr(msg, "ssl3d_backend_plugin_entry"), "reason: %s", msg);
    check_create_fails();
}

TEST(cuda_plugin_with_missing_slot_is_refused) {
    char file[PATH_MAX], msg[1024];
    fake_path(file, sizeof file, "incomplete");
    REQUIRE(access(file, R_OK) == 0);
    CHECK(probe_with(file, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "plugin invalid:") && strstr(msg, "conv.conv_forward"), "reason: %s", msg);
    check_create_fails();
}

TEST(cuda_plugin_missing_cuda_library_is_named) {
    char file[PATH_MAX], msg[1024];
    fake_path(file, sizeof file, "needs_lib");
    REQUIRE(access(file, R_OK) == 0);
    CHECK(probe_with(file, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "CUDA libraries not loadable:") && strstr(msg, "libcudnn_fake.so.99"),
              "reason: %s", msg);
    check_create_fails();
}

TEST(cuda_plugin_without_device_reports_its_reason_and_stays_loaded) {
    char file[PATH_MAX], msg[1024];
    fake_path(file, sizeof file, "no_device");
    REQUIRE(access(file, R_OK) == 0);
    CHECK(probe_with(file, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "no CUDA device: fake plugin"), "reason: %s", msg);
    check_create_fails();
    /* Loaded once and kept: a later probe reaches the same table even though the
     * environment now points nowhere. */
    CHECK(probe_with("/nonexistent/x.so", msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "no CUDA device: fake plugin"), "reason: %s", msg);
}

/* Path of the real plugin as the loader finds it from this test program (bin/ -> lib/). */
static int real_plugin(char *buf, size_t cap) {
    char exe[PATH_MAX - 64];
    if (!th_self_exe(exe, sizeof exe)) return 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = '\0';
    snprintf(buf, cap, "%s/../lib/libssl3d-cuda.so.0", exe);
    return access(buf, F_OK) == 0;
}

TEST(cuda_plugin_built_here_reports_driver_or_device) {
    char file[PATH_MAX], msg[1024];
    static char skip[1200];
    if (!real_plugin(file, sizeof file)) SKIP("CUDA plugin not built (no nvcc, or make CUDA=0)");
    ssl3d_status st = probe_with(NULL, msg, sizeof msg);
    if (st == SSL3D_OK) {
        snprintf(skip, sizeof skip, "a CUDA device is present (%s)", msg);
        SKIP(skip);
    }
    CHECK(st == SSL3D_ERR_BACKEND_UNAVAILABLE);
    /* The plugin and its CUDA libraries loaded: what is missing is the hardware side. */
    CHECK_MSG(starts_with(msg, "no NVIDIA driver:") || starts_with(msg, "no CUDA device:") ||
              starts_with(msg, "driver too old:") || starts_with(msg, "compute capability too old:"),
              "reason: %s", msg);
    check_create_fails();
}

TEST(cuda_plugin_search_names_the_paths_tried) {
    char file[PATH_MAX], msg[1024];
    if (real_plugin(file, sizeof file)) SKIP("the real CUDA plugin is built next to this program");
    CHECK(probe_with(NULL, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "plugin not found:") && strstr(msg, "/../lib/libssl3d-cuda.so.0") &&
              strstr(msg, "loader path"), "reason: %s", msg);
}

TEST(backend_probe_cpu_and_unknown_kind) {
    char msg[256];
    CHECK(ssl3d_backend_probe(SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_OK);
    CHECK_MSG(strstr(msg, "cpu") != NULL, "cpu probe: %s", msg);
    CHECK(ssl3d_backend_probe(42, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(starts_with(msg, "unknown backend kind 42"), "reason: %s", msg);
    /* A small buffer is truncated, still NUL-terminated. */
    char tiny[8];
    CHECK(ssl3d_backend_probe(42, tiny, sizeof tiny) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK(strlen(tiny) == sizeof tiny - 1);
}

extern const ssl3d_backend ssl3d_cpu_backend;

static void no_upload_wait(void *state, int64_t ticket) { (void)state; (void)ticket; }

TEST(backend_validate_names_the_missing_slot) {
    char msg[256];
    CHECK(ssl3d_backend_validate(&ssl3d_cpu_backend, SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_OK);
    CHECK(ssl3d_backend_validate(&ssl3d_cpu_backend, SSL3D_BACKEND_CUDA, msg, sizeof msg) ==
          SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(strstr(msg, "kind 0"), "%s", msg);
    ssl3d_backend t = ssl3d_cpu_backend;
    t.dot = NULL;
    CHECK(ssl3d_backend_validate(&t, SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(strstr(msg, "dot"), "%s", msg);
    t = ssl3d_cpu_backend;
    t.optim = NULL;   /* the CPU claims OP_OPTIM */
    CHECK(ssl3d_backend_validate(&t, SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(strstr(msg, "optim.*"), "%s", msg);
    t = ssl3d_cpu_backend;
    t.upload_wait = no_upload_wait;   /* an upload_wait without upload_begin */
    CHECK(ssl3d_backend_validate(&t, SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK_MSG(strstr(msg, "upload_begin/upload_wait"), "%s", msg);
    t = ssl3d_cpu_backend;
    t.abi_version = SSL3D_BACKEND_ABI_VERSION + 1;
    CHECK(ssl3d_backend_validate(&t, SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK(ssl3d_backend_validate(NULL, SSL3D_BACKEND_CPU, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE);
}

/* Link hygiene, checked by the same script CI runs (tools/check-cuda-plugin.sh). */
TEST(cuda_plugin_links_cudnn_cublas_and_exports_only_its_entry) {
    char file[PATH_MAX], cmd[2 * PATH_MAX + 64];
    if (!real_plugin(file, sizeof file)) SKIP("CUDA plugin not built (no nvcc, or make CUDA=0)");
    char *slash = strrchr(file, '/');
    REQUIRE(slash);
    *slash = '\0';   /* the lib directory */
    snprintf(cmd, sizeof cmd, "%s/../tools/check-cuda-plugin.sh %s >/dev/null", file, file);
    CHECK_MSG(system(cmd) == 0, "%s failed (run it for the reason)", cmd);
}

/* `ssl3d bench --backend`: a bad name is a usage error; an unavailable CUDA backend is
 * one clear message with the probe's reason, before any work. */
TEST(cli_bench_backend_option_reports_cuda_unavailability) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    char msg[1024], out[4096];
    FILE *p = popen("./bin/ssl3d bench --backend gpu --only W1 2>&1", "r");
    REQUIRE(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    CHECK_MSG(strstr(out, "--backend must be cpu or cuda, got 'gpu'") != NULL, "%s", out);
    unsetenv("SSL3D_CUDA_PLUGIN");
    if (ssl3d_backend_probe(SSL3D_BACKEND_CUDA, msg, sizeof msg) == SSL3D_OK) SKIP("a CUDA device is present");
    p = popen("./bin/ssl3d bench --backend cuda --only W1 --repeat 1 2>&1", "r");
    REQUIRE(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK_MSG(strstr(out, "--backend cuda is unavailable: ") && strstr(out, msg), "%s", out);
}

/* Run `cmd` (a shell command) with the fake no-device plugin, so the result is the same
 * with or without a GPU; the output in out. */
static int run_no_device(const char *cmd, char *out, size_t cap) {
    char plugin[PATH_MAX], line[PATH_MAX * 6];
    fake_path(plugin, sizeof plugin, "no_device");
    snprintf(line, sizeof line, "SSL3D_CUDA_PLUGIN='%s' %s", plugin, cmd);
    return th_run(line, out, cap);
}

/* pretrain, finetune, evaluate and protocol take --backend: a bad name is a usage error
 * (2); an unavailable CUDA backend is exit 1 with one line naming the backend and the
 * probe's reason, before anything is written: no silent CPU fall-back. */
TEST(cli_training_commands_backend_option_reports_cuda_unavailability) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    char plugin[PATH_MAX];
    fake_path(plugin, sizeof plugin, "no_device");
    REQUIRE(access(plugin, R_OK) == 0);
    const char *dir = th_tmpdir();
    char man[PATH_MAX], model[PATH_MAX], out[PATH_MAX], rundir[PATH_MAX];
    snprintf(man, sizeof man, "%s/m.csv", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    snprintf(rundir, sizeof rundir, "%s/run", dir);
    FILE *f = fopen(man, "w");
    REQUIRE(f);
    fputs("img.nii.gz,0,train\n", f);
    fclose(f);
    f = fopen(model, "w");
    REQUIRE(f);
    fclose(f);
    struct { const char *cmd, *args; } cases[] = {
        { "pretrain", "--task rotation --dims 3 --data %s --out %s" },
        { "finetune", "--kind classify --data %s --out %s" },
        { "evaluate", "--data %s --model %s" },
        { "protocol", "--kind classify --data %s --method scratch --run-dir %s" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *second = !strcmp(cases[i].cmd, "evaluate") ? model
                             : !strcmp(cases[i].cmd, "protocol") ? rundir : out;
        char args[PATH_MAX * 3], cmd[PATH_MAX * 4], text[4096], want[256];
        snprintf(args, sizeof args, cases[i].args, man, second);
        snprintf(cmd, sizeof cmd, "./bin/ssl3d %s %s --backend gpu 2>&1", cases[i].cmd, args);
        int rc = run_no_device(cmd, text, sizeof text);
        CHECK_MSG(rc == 2, "%s --backend gpu: exit %d: %s", cases[i].cmd, rc, text);
        CHECK_MSG(strstr(text, "--backend") && strstr(text, "gpu"), "%s: %s", cases[i].cmd, text);
        snprintf(cmd, sizeof cmd, "./bin/ssl3d %s %s --backend cuda 2>&1", cases[i].cmd, args);
        rc = run_no_device(cmd, text, sizeof text);
        snprintf(want, sizeof want, "ssl3d %s: --backend cuda is unavailable: no CUDA device: fake plugin", cases[i].cmd);
        CHECK_MSG(rc == 1, "%s --backend cuda: exit %d: %s", cases[i].cmd, rc, text);
        CHECK_MSG(strstr(text, want) != NULL, "%s: %s", cases[i].cmd, text);
        CHECK_MSG(access(out, F_OK) != 0 && access(rundir, F_OK) != 0, "%s wrote output: %s", cases[i].cmd, text);
        /* --backend cpu gets past the backend: the (empty) model or missing image fails next. */
        snprintf(cmd, sizeof cmd, "./bin/ssl3d %s %s --backend cpu 2>&1", cases[i].cmd, args);
        rc = run_no_device(cmd, text, sizeof text);
        CHECK_MSG(rc != 0 && !strstr(text, "unavailable"), "%s --backend cpu: exit %d: %s", cases[i].cmd, rc, text);
    }
}

/* protocol passes a non-default --backend to every finetune and evaluate run (shown by
 * --dry-run, which neither probes nor runs anything); the CPU default adds nothing. */
TEST(cli_protocol_passes_backend_to_its_runs) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    const char *dir = th_tmpdir();
    ssl3d_ctx *ctx = th_ctx(1, 1);
    char path[PATH_MAX], man[PATH_MAX], cmd[PATH_MAX * 3], text[8192];
    snprintf(man, sizeof man, "%s/m.csv", dir);
    FILE *f = fopen(man, "w");
    REQUIRE(f);
    fputs("file,label,split\n", f);
    const int64_t shape[3] = { 1, 8, 8 };
    float v[64];
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 64; k++) v[k] = (float)((k * (i + 3)) % 17) / 17.0f;
        ssl3d_tensor *t = NULL;
        snprintf(path, sizeof path, "%s/i%d.png", dir, i);
        REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 3, shape, v, &t));
        REQUIRE_OK(ctx, ssl3d_png_write(ctx, path, t, 8));
        ssl3d_tensor_release(t);
        fprintf(f, "i%d.png,%d,%s\n", i, i % 2, i < 2 ? "train" : "test");
    }
    fclose(f);
    ssl3d_ctx_release(ctx);
    for (int cuda = 0; cuda < 2; cuda++) {
        snprintf(cmd, sizeof cmd, "./bin/ssl3d protocol --kind classify --data '%s' --method scratch --run-dir '%s/run' "
                 "--seeds 0 --fractions 100 --dry-run%s 2>&1", man, dir, cuda ? " --backend cuda" : "");
        int rc = run_no_device(cmd, text, sizeof text);
        CHECK_MSG(rc == 0, "exit %d: %s", rc, text);
        const char *ft = strstr(text, " finetune "), *ev = strstr(text, " evaluate ");
        CHECK_MSG(ft && ev, "%s", text);
        if (!ft || !ev) continue;
        const char *ft_end = strchr(ft, '\n'), *ev_end = strchr(ev, '\n');
        const char *b1 = strstr(ft, "--backend cuda"), *b2 = strstr(ev, "--backend cuda");
        const int in_ft = b1 && (!ft_end || b1 < ft_end), in_ev = b2 && (!ev_end || b2 < ev_end);
        CHECK_MSG(in_ft == cuda && in_ev == cuda, "--backend%s: %s", cuda ? " cuda" : " (default)", text);
        CHECK(!strstr(text, "--backend cpu"));
    }
}
