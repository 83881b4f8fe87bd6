/* The library is a well-behaved guest: training and reading leave the host program's
 * OpenMP thread count, OpenBLAS thread count and nifti_clib debug level as they were. */
#include <dirent.h>
#include <fcntl.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cblas.h>
#include "harness.h"
#include "test_nifti_util.h"

/* A few training steps of a small 3D encoder + MLP head (conv, pooling, linear GEMMs). */
static int train_steps(int threads, int steps) {
    ssl3d_ctx *ctx = th_ctx(threads, 7);
    if (!ctx) return -1;
    ssl3d_module *enc = NULL, *head = NULL;
    ssl3d_optim *opt = NULL;
    ssl3d_tensor *params[64];
    int32_t n = 0, k = 0;
    int rc = ssl3d_encoder_create(ctx, 3, 1, 8, 2, SSL3D_NORM_BATCH, &enc) ||
             ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(enc), 16, 4, &head) ||
             ssl3d_optim_create_adam(ctx, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt) ||
             ssl3d_module_params(ctx, enc, params, 64, &n) || ssl3d_module_params(ctx, head, params + n, 64 - n, &k) ||
             ssl3d_optim_add_params(ctx, opt, params, n + k, 0);
    int64_t xs[5] = { 2, 1, 16, 16, 16 }, ys[1] = { 2 };
    int32_t y[2] = { 1, 3 };
    for (int s = 0; s < steps && !rc; s++) {
        ssl3d_tensor *x = th_randn(ctx, 5, xs, 0), *yt = NULL, *f = NULL, *p = NULL, *lg = NULL, *loss = NULL;
        rc = !x || ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, ys, y, &yt) ||
             ssl3d_encoder_forward(ctx, enc, x, 1, &f, NULL) || ssl3d_global_avgpool(ctx, f, &p) ||
             ssl3d_mlp_forward(ctx, head, p, &lg) || ssl3d_cross_entropy(ctx, lg, yt, &loss) ||
             ssl3d_backward(ctx, loss) || ssl3d_optim_step(ctx, opt) || ssl3d_optim_zero_grad(ctx, opt);
        ssl3d_tensor *all[] = { x, yt, f, p, lg, loss };
        for (int i = 0; i < 6; i++) ssl3d_tensor_release(all[i]);
    }
    ssl3d_optim_release(opt);
    ssl3d_module_release(head);
    ssl3d_module_release(enc);
    ssl3d_ctx_release(ctx);
    return rc ? -1 : 0;
}

TEST(guest_keeps_callers_openmp_and_openblas_threads) {
    /* host wants 1 thread, context uses 2 (the case of the issue) and the reverse */
    const int host[2] = { 1, 3 }, ctx_threads[2] = { 2, 1 };
    for (int c = 0; c < 2; c++) {
        omp_set_num_threads(host[c]);
        const int blas_before = openblas_get_num_threads();
        REQUIRE(train_steps(ctx_threads[c], 2) == 0);
        CHECK_MSG(omp_get_max_threads() == host[c], "host set %d OpenMP threads, finds %d after training with %d",
                  host[c], omp_get_max_threads(), ctx_threads[c]);
        CHECK_MSG(openblas_get_num_threads() == blas_before, "OpenBLAS threads %d before training, %d after",
                  blas_before, openblas_get_num_threads());
        /* and inside a host parallel region */
        int inner = 0;
        #pragma omp parallel num_threads(2)
        #pragma omp single
        inner = omp_get_max_threads();
        CHECK(inner == host[c]);
    }
}

/* Threads of this process (entries of /proc/self/task); -1 when unreadable. */
static int process_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Pointwise convolutions and linear layers large enough (M*N*K > 262144) that OpenBLAS,
 * called outside a parallel region, would size itself from the host's OpenMP count. */
static int blas_steps(int threads) {
    ssl3d_ctx *ctx = th_ctx(threads, 11);
    if (!ctx) return -1;
    const int64_t xs[5] = { 2, 64, 16, 16, 16 }, ws[5] = { 64, 64, 1, 1, 1 }, as[2] = { 256, 512 }, ls[2] = { 512, 512 };
    ssl3d_tensor *x = th_randn(ctx, 5, xs, 1), *w = th_randn(ctx, 5, ws, 1), *a = th_randn(ctx, 2, as, 1);
    ssl3d_tensor *lw = th_randn(ctx, 2, ls, 1), *y = NULL, *z = NULL, *s1 = NULL, *s2 = NULL, *tot = NULL;
    int rc = !x || !w || !a || !lw || ssl3d_conv(ctx, x, w, NULL, 1, 0, &y) || ssl3d_linear(ctx, a, lw, NULL, &z) ||
             ssl3d_mean(ctx, y, &s1) || ssl3d_mean(ctx, z, &s2) || ssl3d_axpby(ctx, 1.0f, s1, 1.0f, s2, &tot) ||
             ssl3d_backward(ctx, tot);
    ssl3d_tensor *all[] = { x, w, a, lw, y, z, s1, s2, tot };
    for (int i = 0; i < 9; i++) ssl3d_tensor_release(all[i]);
    ssl3d_ctx_release(ctx);
    return rc ? -1 : 0;
}

/* A 1-thread context in a host running 1 OpenMP thread runs on the calling thread: it
 * starts no OpenMP thread (it used to open a 2-thread region around every OpenBLAS call
 * so that OpenBLAS stayed serial), even for large GEMMs, and leaves the counts alone; a
 * 2-thread context in a 3-thread host uses its 2 threads, not the host's 3. */
TEST(guest_one_thread_context_starts_no_thread) {
    const int before = process_threads();
    if (before != 1) SKIP("the process already has other threads (SSL3D_TEST_NOFORK?): nothing to count");
    omp_set_num_threads(1);
    const int blas_before = openblas_get_num_threads();
    REQUIRE(train_steps(1, 2) == 0);
    REQUIRE(blas_steps(1) == 0);
    CHECK_MSG(process_threads() == 1, "a 1-thread context left %d threads in the process", process_threads());
    CHECK(omp_get_max_threads() == 1);
    CHECK_MSG(openblas_get_num_threads() == blas_before, "OpenBLAS threads %d before, %d after", blas_before,
              openblas_get_num_threads());
    omp_set_num_threads(3);
    REQUIRE(blas_steps(2) == 0);
    CHECK_MSG(process_threads() == 2, "a 2-thread context left %d threads in the process", process_threads());
    CHECK(omp_get_max_threads() == 3 && openblas_get_num_threads() == blas_before);
}

/* Run fn with stderr going to a file; returns how many bytes it printed (-1 on error). */
static long stderr_bytes_of(void (*fn)(void *), void *arg) {
    char path[512];
    snprintf(path, sizeof path, "%s/stderr.txt", th_tmpdir());
    fflush(stderr);
    const int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (saved < 0 || fd < 0) return -1;
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

typedef struct { ssl3d_ctx *ctx; const char *path, *out; int ok; } read_job;

static void read_and_write(void *a) {
    read_job *j = a;
    ssl3d_image *img = NULL;
    ssl3d_tensor *t = NULL;
    j->ok = ssl3d_image_read(j->ctx, j->path, 0, &img) == SSL3D_OK &&
            ssl3d_image_to_tensor(j->ctx, img, 3, &t) == SSL3D_OK &&
            ssl3d_nifti_write(j->ctx, j->out, t, img, SSL3D_NIFTI_FLOAT32) == SSL3D_OK;
    /* a missing file: an error for the context, never a message from nifti_clib */
    ssl3d_image *none = NULL;
    j->ok = j->ok && ssl3d_image_read(j->ctx, "/nonexistent/x.nii", 0, &none) != SSL3D_OK;
    ssl3d_tensor_release(t);
    ssl3d_image_release(img);
}

static void nifti_direct_read(void *a) {
    (void)a;
    nifti_image *nim = nifti_image_read("/nonexistent/y.nii", 0);   /* prints at debug level >= 1 */
    if (nim) nifti_image_free(nim);
}

TEST(guest_keeps_nifti_debug_level) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t dims[4] = { 3, 4, 3, 2 };
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in.nii.gz", th_tmpdir());
    snprintf(out, sizeof out, "%s/out.nii.gz", th_tmpdir());
    REQUIRE(tn_write(in, 1, dims, DT_FLOAT32, v, &TN_PLAIN) == 0);   /* sets level 0 itself */
    nifti_set_debug_level(1);                                         /* the host's choice */
    read_job j = { ctx, in, out, 0 };
    long printed = stderr_bytes_of(read_and_write, &j);
    CHECK(j.ok);
    CHECK_MSG(printed == 0, "the library printed %ld bytes to stderr while reading/writing", printed);
    /* nifti_clib still reports errors at the host's level 1 */
    long direct = stderr_bytes_of(nifti_direct_read, NULL);
    CHECK_MSG(direct > 0, "nifti_clib's debug level was changed by the library (no message at level 1)");
    ssl3d_ctx_release(ctx);
}
