/* Run-time ISA dispatch of the CPU kernels: reproducible training on every ISA path,
 * and a library built without -march=native (AVX-512 instructions only inside the
 * functions of the AVX-512 kernel file). */
#define _GNU_SOURCE
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

/* Force `isa` for contexts created from now on; skips (with a line saying so) when the
 * CPU lacks it. */
static void force_isa(const char *isa) {
    setenv("SSL3D_CPU_ISA", isa, 1);
    char msg[256], why[320];
    if (ssl3d_backend_probe(SSL3D_BACKEND_CPU, msg, sizeof msg) != SSL3D_OK) {
        snprintf(why, sizeof why, "%s path not available on this CPU: %s", isa, msg);
        unsetenv("SSL3D_CPU_ISA");
        SKIP(why);
    }
}

/* Losses of 3 steps of a small 3D encoder (direct and im2col convs, every depth) + MLP. */
static int losses_of(int threads, float out[3]) {
    ssl3d_ctx *ctx = th_ctx(threads, 5);
    if (!ctx) return -1;
    ssl3d_module *enc = NULL, *head = NULL;
    ssl3d_optim *opt = NULL;
    ssl3d_tensor *params[64];
    int32_t n = 0, k = 0;
    int rc = ssl3d_encoder_create(ctx, 3, 1, 8, 3, SSL3D_NORM_BATCH, &enc) ||
             ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(enc), 16, 4, &head) ||
             ssl3d_optim_create_adam(ctx, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt) ||
             ssl3d_module_params(ctx, enc, params, 64, &n) || ssl3d_module_params(ctx, head, params + n, 64 - n, &k) ||
             ssl3d_optim_add_params(ctx, opt, params, n + k, 0);
    int64_t xs[5] = { 2, 1, 16, 20, 16 }, ys[1] = { 2 };
    int32_t y[2] = { 0, 2 };
    for (int s = 0; s < 3 && !rc; s++) {
        ssl3d_tensor *x = th_randn(ctx, 5, xs, 0), *yt = NULL, *f = NULL, *p = NULL, *lg = NULL, *loss = NULL;
        rc = !x || ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, ys, y, &yt) ||
             ssl3d_encoder_forward(ctx, enc, x, 1, &f, NULL) || ssl3d_global_avgpool(ctx, f, &p) ||
             ssl3d_mlp_forward(ctx, head, p, &lg) || ssl3d_cross_entropy(ctx, lg, yt, &loss) ||
             ssl3d_tensor_read(ctx, loss, &out[s], 4) || ssl3d_backward(ctx, loss) ||
             ssl3d_optim_step(ctx, opt) || ssl3d_optim_zero_grad(ctx, opt);
        ssl3d_tensor *all[] = { x, yt, f, p, lg, loss };
        for (int i = 0; i < 6; i++) ssl3d_tensor_release(all[i]);
    }
    ssl3d_optim_release(opt);
    ssl3d_module_release(head);
    ssl3d_module_release(enc);
    ssl3d_ctx_release(ctx);
    return rc ? -1 : 0;
}

static void check_deterministic(const char *isa) {
    force_isa(isa);
    for (int threads = 1; threads <= 2; threads++) {
        float a[3], b[3];
        REQUIRE(losses_of(threads, a) == 0);
        REQUIRE(losses_of(threads, b) == 0);
        CHECK_MSG(memcmp(a, b, sizeof a) == 0, "%s, %d threads: losses %.9g %.9g %.9g then %.9g %.9g %.9g", isa,
                  threads, a[0], a[1], a[2], b[0], b[1], b[2]);
        CHECK(a[0] == a[0] && a[0] > 0.0f);
    }
    unsetenv("SSL3D_CPU_ISA");
}

TEST(isa_generic_training_is_deterministic) { check_deterministic("generic"); }
TEST(isa_avx2_training_is_deterministic) { check_deterministic("avx2"); }
TEST(isa_avx512_training_is_deterministic) { check_deterministic("avx512"); }

/* The paths agree with each other to rounding (each is checked against the double
 * reference in test_conv.c; this is the whole-network view). */
TEST(isa_paths_agree_on_training_losses) {
    float ref[3], got[3];
    force_isa("generic");
    REQUIRE(losses_of(2, ref) == 0);
    const char *others[2] = { "avx2", "avx512" };
    for (int i = 0; i < 2; i++) {
        setenv("SSL3D_CPU_ISA", others[i], 1);
        if (ssl3d_backend_probe(SSL3D_BACKEND_CPU, NULL, 0) != SSL3D_OK) {
            fprintf(stderr, "    (%s path not available on this CPU: not compared)\n", others[i]);
            continue;
        }
        REQUIRE(losses_of(2, got) == 0);
        for (int s = 0; s < 3; s++) CHECK_NEAR(got[s], ref[s], 1e-4 * (1.0 + fabs(ref[s])));
    }
    unsetenv("SSL3D_CPU_ISA");
}

/* Directory of the test binary's ../lib/libssl3d.so (bin/test_ssl3d -> lib/). */
static int shared_object_path(char *out, size_t cap) {
    char exe[1024];
    if (!th_self_exe(exe, sizeof exe)) return -1;
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = 0;
    snprintf(out, cap, "%s/../lib/libssl3d.so", exe);
    return access(out, R_OK) == 0 ? 0 : -1;
}

TEST(isa_avx512_instructions_only_in_avx512_kernels) {
    char so[1200], cmd[1400];
    if (shared_object_path(so, sizeof so) != 0) SKIP("lib/libssl3d.so not built next to this test binary");
    if (system("objdump --version >/dev/null 2>&1") != 0) SKIP("objdump not installed (binutils)");
    snprintf(cmd, sizeof cmd, "objdump -d --no-show-raw-insn '%s'", so);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    /* EVEX-only operands: zmm registers, mask registers, xmm/ymm 16-31, embedded broadcast */
    regex_t evex, func;
    REQUIRE(regcomp(&evex, "%zmm|%k[0-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])|\\{1to", REG_EXTENDED | REG_NOSUB) == 0);
    REQUIRE(regcomp(&func, "^[0-9a-f]+ <([^>]+)>:", REG_EXTENDED) == 0);
    char line[1024], fn[512] = "", first_bad[600] = "";
    long inside = 0, outside = 0;
    while (fgets(line, sizeof line, p)) {
        regmatch_t m[2];
        if (regexec(&func, line, 2, m, 0) == 0) {
            int len = (int)(m[1].rm_eo - m[1].rm_so);
            snprintf(fn, sizeof fn, "%.*s", len < 500 ? len : 500, line + m[1].rm_so);
            continue;
        }
        if (regexec(&evex, line, 0, NULL, 0) != 0) continue;
        if (strstr(fn, "_avx512")) inside++;
        else if (!outside++) snprintf(first_bad, sizeof first_bad, "%.80s: %.400s", fn, line);
    }
    pclose(p);
    regfree(&evex);
    regfree(&func);
    CHECK_MSG(outside == 0, "%ld AVX-512 instructions outside the AVX-512 kernels, first in %s", outside, first_bad);
    CHECK_MSG(inside > 100, "only %ld AVX-512 instructions in the AVX-512 kernels (built without their flags?)", inside);
}
