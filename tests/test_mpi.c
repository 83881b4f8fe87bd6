/* Data-parallel training under mpirun, end to end through bin/ssl3d (docs/distributed.md):
 * 2 ranks x global batch 4 give the gradients, the losses and the final weights of 1 process
 * with batch 4 (group norm), for 20 steps of rotation 3D pretraining -- a job killed and
 * resumed from its checkpoint gives those of the uninterrupted one -- and of segmentation
 * fine-tuning (killed and resumed too, by 2 ranks or by 1 process); the same with batch
 * norm and --sync-bn; a rank that fails on a bad input file stops the whole job with a message
 * naming the file, in bounded time.
 * Skips, saying why, where mpirun or the MPI plugin (lib/ssl3d-mpi.so) is missing. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "test_loader_util.h"
#include "test_finetune_util.h"

#define BIN "./bin/ssl3d"
#define MPIRUN "mpirun --allow-run-as-root --oversubscribe -np 2 "
/* A hung job fails the test (exit status 124) instead of hanging `make test`. */
#define MPIRUN_T "timeout 120 " MPIRUN
/* Losses: relative; weights: absolute on values of order 1 (relative above 1). */
#define LOSS_TOL 1e-5
#define WEIGHT_TOL 1e-4
/* The first step's gradients, per tensor, relative to the tensor's largest element. 2 ranks
 * sum a batch's per-sample gradients in another order than 1 process ((s0+s1)+(s2+s3) against
 * ((s0+s1)+s2)+s3, in every layer's weight gradient and in the allreduce): measured 1.0e-6 at
 * worst (a 4-element group-norm weight), 1e-7..5e-7 elsewhere. A lost, repeated or unaveraged
 * share is off by 1e-1..1 -- also where Adam's invariance to the gradient's scale hides it. */
#define GRAD_TOL 1e-5
/* The same float rounding difference, carried through 20 Adam steps of rotation pretraining,
 * stays at 1e-7 in the losses up to step 14 and then jumps (one step moves weights from 2e-7
 * apart to 8e-5): any two runs that sum in different orders show it, 1 process with
 * --threads 1 against --threads 2 as much as 1 process against 2 ranks, with the im2col and
 * with the direct convolution kernels (measured: losses 1.1e-5 relative at step 17, weights
 * 1.5e-4..2.9e-4). The 1e-5 / 1e-4 are below that floor; these are 4x / 3x above it,
 * and 100x below what a different batch does to a loss (1e-2). */
#define TRAJ_LOSS_TOL 5e-5
#define TRAJ_WEIGHT_TOL 1e-3

static void need_mpi(void) {
    if (access(BIN, X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        SKIP("mpirun not found: MPI tests skipped (apt-get install openmpi-bin libopenmpi-dev)");
    if (access("lib/ssl3d-mpi.so", R_OK) != 0) SKIP("lib/ssl3d-mpi.so is not built (make needs mpicc)");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Values of `key` in the log's non-final lines, indexed by `index_key` (the last line for an
 * index wins: a resumed run appends to the log of the killed one). Returns max index + 1. */
static int read_log(const char *path, const char *index_key, const char *key, double *v, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        if (!o) { n = -1; break; }
        cJSON *s = cJSON_GetObjectItem(o, index_key), *l = cJSON_GetObjectItem(o, key);
        if (!cJSON_GetObjectItem(o, "final") && cJSON_IsNumber(s) && cJSON_IsNumber(l) && s->valueint >= 0 &&
            s->valueint < cap) {
            v[s->valueint] = l->valuedouble;
            if (s->valueint + 1 > n) n = s->valueint + 1;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    return n;
}

/* The youngest child process of `pid` (mpirun's ranks are its children), or -1. */
static pid_t last_child(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long c = -1, last = -1;
    while (fscanf(f, "%ld", &c) == 1) last = c;
    fclose(f);
    return (pid_t)last;
}

/* Run `cmd` (an mpirun line, without exec) in the background; once `watch` exists (within
 * 60 s), SIGKILL mpirun's youngest child (rank 1), and check that the whole job stops, in
 * bounded time and with a failure status. */
static void kill_rank_once_written(const char *cmd, const char *watch) {
    char sh[4200];
    snprintf(sh, sizeof sh, "exec %s", cmd);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { execl("/bin/sh", "sh", "-c", sh, (char *)NULL); _exit(127); }
    struct stat st;
    const double t0 = now_s();
    while (stat(watch, &st) != 0 && now_s() - t0 < 60) usleep(1000);
    pid_t victim = last_child(pid);
    CHECK_MSG(victim > 0, "no rank process under mpirun %d", (int)pid);
    if (victim > 0) kill(victim, SIGKILL);
    else kill(pid, SIGTERM);
    int status = 0;
    const double t1 = now_s();
    waitpid(pid, &status, 0);
    CHECK_MSG(now_s() - t1 < 30, "mpirun took %.1f s to stop after a rank was killed", now_s() - t1);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

static void check_losses_tol(const char *what, const double *a, const double *b, int n, double tol) {
    for (int i = 0; i < n; i++)
        CHECK_MSG(fabs(a[i] - b[i]) <= tol * fabs(a[i]), "%s: loss %d: %.9g vs %.9g (tolerance %g relative)", what, i,
                  a[i], b[i], tol);
}

static void check_losses(const char *what, const double *a, const double *b, int n) {
    check_losses_tol(what, a, b, n, LOSS_TOL);
}

/* Biases of the convolutions that feed a norm layer (conv1/conv2 of every encoder and
 * decoder block): group norm removes any per-channel constant, so their gradient is zero
 * in exact arithmetic and what remains is rounding noise (~1e-10) -- which Adam, dividing
 * by sqrt(v), turns into steps of about lr in a random direction. Any two runs that round
 * differently (another thread count, another rank count) disagree there by ~lr per step;
 * comparing them would compare noise. Every other tensor is compared. */
static int noise_only(const char *name) {
    return strstr(name, ".conv1.bias") || strstr(name, ".conv2.bias");
}

/* Every tensor of checkpoint b equals a's within tol (same names; noise_only tensors
 * excepted). Returns the number of values compared. */
static int64_t check_same_weights_tol(const char *what, const char *pa, const char *pb, double tol) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *a = NULL, *b = NULL;
    int64_t compared = 0;
    if (ssl3d_checkpoint_load(ctx, pa, &a) != SSL3D_OK || ssl3d_checkpoint_load(ctx, pb, &b) != SSL3D_OK) {
        th_fail(__FILE__, __LINE__, "%s: %s", what, ssl3d_ctx_last_error(ctx));
    } else {
        CHECK_MSG(ssl3d_checkpoint_tensor_count(a) == ssl3d_checkpoint_tensor_count(b), "%s: tensor counts differ", what);
        double worst = 0;
        const char *worst_name = "";
        for (int64_t i = 0; i < ssl3d_checkpoint_tensor_count(a); i++) {
            const char *name = ssl3d_checkpoint_tensor_name(a, i);
            if (noise_only(name)) continue;
            ssl3d_tensor *ta = NULL, *tb = NULL;
            if (ssl3d_checkpoint_get_tensor(ctx, a, name, &ta) != SSL3D_OK ||
                ssl3d_checkpoint_get_tensor(ctx, b, name, &tb) != SSL3D_OK ||
                ssl3d_tensor_numel(ta) != ssl3d_tensor_numel(tb)) {
                th_fail(__FILE__, __LINE__, "%s: tensor %s missing or reshaped", what, name);
            } else if (ssl3d_tensor_dtype(ta) == SSL3D_F32) {
                const float *x = ssl3d_tensor_host_data(ta), *y = ssl3d_tensor_host_data(tb);
                for (int64_t k = 0; k < ssl3d_tensor_numel(ta); k++, compared++) {
                    double d = fabs((double)x[k] - y[k]) / fmax(1.0, fabs((double)x[k]));
                    if (!(d <= worst)) { worst = d; worst_name = name; }
                }
            } else {
                CHECK_MSG(!memcmp(ssl3d_tensor_host_data(ta), ssl3d_tensor_host_data(tb),
                                  (size_t)ssl3d_tensor_numel(ta) * 4), "%s: %s differs", what, name);
            }
            ssl3d_tensor_release(ta);
            ssl3d_tensor_release(tb);
        }
        CHECK_MSG(worst <= tol, "%s: weights differ by %.3g in %s (tolerance %g)", what, worst, worst_name, tol);
    }
    ssl3d_checkpoint_release(a);
    ssl3d_checkpoint_release(b);
    ssl3d_ctx_release(ctx);
    return compared;
}

static int64_t check_same_weights(const char *what, const char *pa, const char *pb) {
    return check_same_weights_tol(what, pa, pb, WEIGHT_TOL);
}

/* The gradients of the first step, read back from Adam's first moment in the checkpoints
 * of two 1-step runs (m = (1 - beta1) g: every "optim.adam.m.*" tensor), agree to GRAD_TOL
 * of each tensor's largest element. Tensors whose gradient is rounding noise (noise_only:
 * their largest element is below 1e-5 of the largest of all; measured 2e-9 against 1.3e-2,
 * the smallest real one 2.2e-4) are skipped. Returns the number of tensors compared. */
static int check_same_first_grads(const char *what, const char *pa, const char *pb) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *a = NULL, *b = NULL;
    int compared = 0;
    if (ssl3d_checkpoint_load(ctx, pa, &a) != SSL3D_OK || ssl3d_checkpoint_load(ctx, pb, &b) != SSL3D_OK) {
        th_fail(__FILE__, __LINE__, "%s: %s", what, ssl3d_ctx_last_error(ctx));
    } else {
        const int64_t nt = ssl3d_checkpoint_tensor_count(a);
        double top = 0, worst = 0;
        const char *worst_name = "";
        for (int pass = 0; pass < 2; pass++)   /* pass 0: the largest gradient of all */
            for (int64_t i = 0; i < nt; i++) {
                const char *name = ssl3d_checkpoint_tensor_name(a, i);
                if (strncmp(name, "optim.adam.m.", 13) != 0) continue;
                ssl3d_tensor *ta = NULL, *tb = NULL;
                if (ssl3d_checkpoint_get_tensor(ctx, a, name, &ta) != SSL3D_OK ||
                    ssl3d_checkpoint_get_tensor(ctx, b, name, &tb) != SSL3D_OK ||
                    ssl3d_tensor_numel(ta) != ssl3d_tensor_numel(tb) || ssl3d_tensor_dtype(ta) != SSL3D_F32) {
                    th_fail(__FILE__, __LINE__, "%s: tensor %s missing or reshaped", what, name);
                } else {
                    const float *x = ssl3d_tensor_host_data(ta), *y = ssl3d_tensor_host_data(tb);
                    double big = 0, diff = 0;
                    for (int64_t k = 0; k < ssl3d_tensor_numel(ta); k++) {
                        big = fmax(big, fabs((double)x[k]));
                        diff = fmax(diff, fabs((double)x[k] - y[k]));
                    }
                    if (pass == 0) top = fmax(top, big);
                    else if (big >= 1e-5 * top) {
                        compared++;
                        if (!(diff <= worst * big)) { worst = diff / big; worst_name = name; }
                    }
                }
                ssl3d_tensor_release(ta);
                ssl3d_tensor_release(tb);
            }
        CHECK_MSG(top > 0, "%s: no gradient in %s", what, pa);
        CHECK_MSG(worst <= GRAD_TOL, "%s: first-step gradients differ by %.3g of the largest in %s", what, worst,
                  worst_name);
    }
    ssl3d_checkpoint_release(a);
    ssl3d_checkpoint_release(b);
    ssl3d_ctx_release(ctx);
    return compared;
}

#define PRE "pretrain --task rotation --dims 3 --batch 4 --threads 1 --seed 3 --lr 0.003 --val-fraction 0.25 " \
            "--opt filters=4,levels=2,input_size=16,hidden=8,norm=group"

TEST(mpi_pretrain_matches_one_process_also_after_kill_and_resume) {
    need_mpi();
    const char *d = th_tmpdir();
    char man[1024], cmd[4096], out[16384], p[1024], q[1024];
    REQUIRE(tl_write_dataset(d, 8, 18, 20, 17, man, sizeof man) == 0);
    /* one step each: the gradients themselves, before Adam carries them on */
    snprintf(cmd, sizeof cmd, BIN " " PRE " --data %s --steps 1 --out %s/one1.safetensors", man, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " PRE " --data %s --steps 1 --out %s/two1.safetensors", man, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(p, sizeof p, "%s/one1.safetensors", d);
    snprintf(q, sizeof q, "%s/two1.safetensors", d);
    CHECK(check_same_first_grads("pretrain, step 0", p, q) >= 20);   /* 24 of the 28 tensors */
    snprintf(cmd, sizeof cmd, BIN " " PRE " --data %s --steps 20 --out %s/one.safetensors --log %s/one.jsonl", man, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " PRE " --data %s --steps 20 --out %s/two.safetensors --log %s/two.jsonl",
             man, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    CHECK_MSG(strstr(out, "2 ranks x 2"), "no rank split announced: %s", out);
    double a[32], b[32], c[32];
    snprintf(p, sizeof p, "%s/one.jsonl", d);
    REQUIRE(read_log(p, "step", "loss", a, 32) == 20);
    snprintf(p, sizeof p, "%s/two.jsonl", d);
    REQUIRE(read_log(p, "step", "loss", b, 32) == 20);
    check_losses("pretrain, step 0", a, b, 1);   /* the same weights: only the summation order differs */
    check_losses_tol("pretrain", a, b, 20, TRAJ_LOSS_TOL);
    snprintf(p, sizeof p, "%s/one.safetensors", d);
    snprintf(q, sizeof q, "%s/two.safetensors", d);
    CHECK(check_same_weights_tol("pretrain", p, q, TRAJ_WEIGHT_TOL) > 1000);

    /* Kill rank 1 of a long 2-rank job (SIGKILL) once the job has written its first
     * checkpoint (every 10 steps), then resume it to step 20 with 2 ranks. Rank 0 measures
     * the proxy accuracy after every step (--eval-every 1, 20 rounds: it changes no training
     * state) only to make steps slow enough that the kill lands before step 20. */
    snprintf(cmd, sizeof cmd, MPIRUN BIN " " PRE " --data %s --steps 100000 --save-every 10 --eval-every 1 "
             "--val-rounds 20 --out %s/k.safetensors --log %s/k.jsonl >%s/k.out 2>&1", man, d, d, d);
    snprintf(p, sizeof p, "%s/k.safetensors", d);
    struct stat st;
    kill_rank_once_written(cmd, p);
    REQUIRE(stat(p, &st) == 0 || (th_fail(__FILE__, __LINE__, "no checkpoint within 60 s"), 0));
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *ck = NULL;
    const char *v = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &ck));   /* whole, never half-written */
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "step", &v));
    long killed_at = v ? atol(v) : -1;
    ssl3d_checkpoint_release(ck);
    ssl3d_ctx_release(ctx);
    REQUIRE(killed_at == 10 ||
            (th_fail(__FILE__, __LINE__, "the killed run's checkpoint is at step %ld, want 10", killed_at), 0));
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " PRE " --data %s --steps 20 --resume %s/k.safetensors --out %s/k.safetensors "
             "--log %s/k.jsonl", man, d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(p, sizeof p, "%s/k.jsonl", d);
    REQUIRE(read_log(p, "step", "loss", c, 32) >= 20);
    /* the same ranks and threads, so the same rounding: the uninterrupted 2-rank run's numbers */
    check_losses("pretrain killed and resumed vs uninterrupted", b, c, 20);
    snprintf(p, sizeof p, "%s/two.safetensors", d);
    snprintf(q, sizeof q, "%s/k.safetensors", d);
    check_same_weights("pretrain killed and resumed vs uninterrupted", p, q);
}

/* --sync-bn: batch norm with the global batch's statistics gives the losses of 1 process
 * (without it each rank normalises its own 2 images, and the losses differ). */
TEST(mpi_pretrain_sync_bn_matches_one_process) {
    need_mpi();
    const char *d = th_tmpdir();
    char man[1024], cmd[4096], out[16384], p[1024];
    REQUIRE(tl_write_dataset(d, 8, 18, 20, 17, man, sizeof man) == 0);
#define BN "pretrain --task rotation --dims 3 --batch 4 --threads 1 --seed 3 --lr 0.003 --val-fraction 0 --steps 10 " \
           "--opt filters=4,levels=2,input_size=16,hidden=8,norm=batch"
    const char *runs[3] = { BIN " " BN, MPIRUN_T BIN " " BN " --sync-bn", MPIRUN_T BIN " " BN };
    double loss[3][16];
    for (int r = 0; r < 3; r++) {
        snprintf(cmd, sizeof cmd, "%s --data %s --out %s/bn%d.safetensors --log %s/bn%d.jsonl", runs[r], man, d, r, d, r);
        REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
        snprintf(p, sizeof p, "%s/bn%d.jsonl", d, r);
        REQUIRE(read_log(p, "step", "loss", loss[r], 16) == 10);
    }
    check_losses("pretrain --sync-bn", loss[0], loss[1], 10);
    double worst = 0;
    for (int i = 0; i < 10; i++) worst = fmax(worst, fabs(loss[2][i] - loss[0][i]) / fabs(loss[0][i]));
    CHECK_MSG(worst > 1e-4, "per-rank batch norm: losses differ by only %.3g", worst);
#undef BN
}

#define FT "finetune --kind segment --filters 4 --levels 2 --norm group --patch 8 --batch 4 --epochs 10 " \
           "--steps-per-epoch 2 --lr 0.005 --threads 1 --seed 1 --quiet"

TEST(mpi_finetune_matches_one_process) {
    need_mpi();
    const char *d = th_tmpdir();
    char cmd[4096], out[16384], p[1024], q[1024];
    REQUIRE(tf_make_seg_set(d, 8, 5) == 0);
    snprintf(cmd, sizeof cmd, BIN " " FT " --data %s/dataset.json --out %s/one.safetensors --log %s/one.jsonl", d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " FT " --data %s/dataset.json --out %s/two.safetensors --log %s/two.jsonl", d,
             d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    CHECK_MSG(strstr(out, "data-parallel over 2 ranks"), "no rank split announced: %s", out);
    double a[16], b[16];
    snprintf(p, sizeof p, "%s/one.jsonl", d);
    REQUIRE(read_log(p, "epoch", "loss", a, 16) == 11);   /* epochs 1..10 */
    snprintf(p, sizeof p, "%s/two.jsonl", d);
    REQUIRE(read_log(p, "epoch", "loss", b, 16) == 11);
    check_losses("finetune", a + 1, b + 1, 10);
    CHECK(a[10] < a[1]);   /* it trained */
    snprintf(p, sizeof p, "%s/one.safetensors", d);
    snprintf(q, sizeof q, "%s/two.safetensors", d);
    CHECK(check_same_weights("finetune", p, q) > 1000);
}

/* Deep supervision: its heads are parameters like the others (broadcast from rank 0, their
 * gradients averaged), so 2 ranks still train what one process trains. Heads left out of
 * the averaging drift apart per rank and the decoder's averaged gradient with them. */
#define FTDS "finetune --kind segment --filters 2 --levels 3 --norm group --patch 8 --batch 4 --epochs 4 " \
             "--steps-per-epoch 2 --lr 0.005 --threads 1 --seed 1 --quiet --deep-supervision on"

TEST(mpi_finetune_deep_supervision_matches_one_process) {
    need_mpi();
    const char *d = th_tmpdir();
    char cmd[4096], out[16384], p[1024], q[1024];
    REQUIRE(tf_make_seg_set(d, 8, 5) == 0);
    snprintf(cmd, sizeof cmd, BIN " " FTDS " --data %s/dataset.json --out %s/one.safetensors --log %s/one.jsonl", d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " FTDS " --data %s/dataset.json --out %s/two.safetensors --log %s/two.jsonl",
             d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    double a[8], b[8];
    snprintf(p, sizeof p, "%s/one.jsonl", d);
    REQUIRE(read_log(p, "epoch", "loss", a, 8) == 5);   /* epochs 1..4 */
    snprintf(p, sizeof p, "%s/two.jsonl", d);
    REQUIRE(read_log(p, "epoch", "loss", b, 8) == 5);
    check_losses("finetune --deep-supervision on", a + 1, b + 1, 4);
    snprintf(p, sizeof p, "%s/one.safetensors", d);
    snprintf(q, sizeof q, "%s/two.safetensors", d);
    CHECK(check_same_weights("finetune --deep-supervision on", p, q) > 100);
}
#undef FTDS

/* `key` of the log's final line ({"final": true, ...}) as text ("" when there is none). */
static void read_final(const char *path, const char *key, char *v, size_t cap) {
    FILE *f = fopen(path, "r");
    char line[4096];
    v[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line), *x = o ? cJSON_GetObjectItem(o, key) : NULL;
        if (o && cJSON_GetObjectItem(o, "final") && x) {
            char *t = cJSON_PrintUnformatted(x);
            snprintf(v, cap, "%s", t ? t : "");
            free(t);
        }
        cJSON_Delete(o);
    }
    if (f) fclose(f);
}

/* Fine-tuning, 20 epochs of 1 step, resumable (--resume: the state after every epoch).
 * --tta (8 mirrored validation passes, no effect on training) only makes epochs slow
 * enough (~50 ms) that the kill below lands long before the last one. */
#define FTR "finetune --kind segment --filters 4 --levels 2 --norm group --patch 8 --batch 4 --epochs 20 " \
            "--steps-per-epoch 1 --lr 0.005 --threads 1 --seed 1 --quiet --tta"

/* Rank 1 of a 2-rank fine-tuning job is killed (SIGKILL) once rank 0 has written the
 * first resume state; resumed with 2 ranks, the job ends with the epoch losses, validation
 * Dice, best epoch and final weights of an uninterrupted 2-rank job (same ranks and
 * threads: the same rounding, measured equal); resumed by 1 process instead, with those
 * of the uninterrupted job to the tolerances of 2 ranks against 1 process. */
TEST(mpi_finetune_kill_and_resume_matches_uninterrupted) {
    need_mpi();
    const char *d = th_tmpdir();
    char cmd[4096], out[16384], p[1024], q[1024];
    REQUIRE(tf_make_seg_set(d, 8, 5) == 0);
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " FTR " --data %s/dataset.json --resume %s/u.state --out %s/u.safetensors "
             "--log %s/u.jsonl", d, d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, MPIRUN BIN " " FTR " --data %s/dataset.json --resume %s/k.state --out %s/k.safetensors "
             "--log %s/k.jsonl >%s/k.out 2>&1", d, d, d, d, d);
    snprintf(p, sizeof p, "%s/k.state", d);
    kill_rank_once_written(cmd, p);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *ck = NULL;
    const char *v = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &ck));   /* whole, never half-written */
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "epoch", &v));
    const long killed_at = v ? atol(v) : -1;
    ssl3d_checkpoint_release(ck);
    ssl3d_ctx_release(ctx);
    REQUIRE((killed_at >= 1 && killed_at < 20) ||
            (th_fail(__FILE__, __LINE__, "the killed run's state is at epoch %ld, want 1..19", killed_at), 0));
    /* the 1-process resume starts from the same killed state */
    snprintf(cmd, sizeof cmd, "cp %s/k.state %s/k1.state && cp %s/k.jsonl %s/k1.jsonl", d, d, d, d);
    REQUIRE(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " FTR " --data %s/dataset.json --resume %s/k.state --out %s/k.safetensors "
             "--log %s/k.jsonl", d, d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, BIN " " FTR " --data %s/dataset.json --resume %s/k1.state --out %s/k1.safetensors "
             "--log %s/k1.jsonl", d, d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    const char *runs[2] = { "k", "k1" };
    double u[24], ud[24];
    snprintf(p, sizeof p, "%s/u.jsonl", d);
    REQUIRE(read_log(p, "epoch", "loss", u, 24) == 21);   /* epochs 1..20 */
    REQUIRE(read_log(p, "epoch", "val_dice", ud, 24) == 21);
    char ube[32], ubv[64], be[32], bv[64];
    read_final(p, "best_epoch", ube, sizeof ube);
    read_final(p, "best_val", ubv, sizeof ubv);
    CHECK_MSG(atoi(ube) >= 1, "uninterrupted run: final best_epoch '%s'", ube);
    for (int r = 0; r < 2; r++) {
        const double tol = r == 0 ? 0 : LOSS_TOL;   /* 2 ranks: bitwise, as printed */
        double c[24], cd[24];
        char what[64];
        snprintf(what, sizeof what, "finetune killed at epoch %ld, resumed by %s", killed_at, r ? "1 process" : "2 ranks");
        snprintf(p, sizeof p, "%s/%s.jsonl", d, runs[r]);
        REQUIRE(read_log(p, "epoch", "loss", c, 24) == 21);
        REQUIRE(read_log(p, "epoch", "val_dice", cd, 24) == 21);
        check_losses_tol(what, u + 1, c + 1, 20, tol);
        read_final(p, "best_epoch", be, sizeof be);
        read_final(p, "best_val", bv, sizeof bv);
        if (r == 0) {   /* 1 process: a voxel that flips moves a Dice by more than the weights' 1e-7 (measured: none) */
            for (int e = 1; e <= 20; e++)
                CHECK_MSG(ud[e] == cd[e], "%s: epoch %d: val_dice %.9g vs %.9g", what, e, ud[e], cd[e]);
            CHECK_MSG(!strcmp(be, ube) && !strcmp(bv, ubv), "%s: best epoch %s (%s), uninterrupted %s (%s)", what, be, bv,
                      ube, ubv);
        }
        /* the saved models are the best epochs' weights: comparable when the same epoch won */
        snprintf(p, sizeof p, "%s/u.safetensors", d);
        snprintf(q, sizeof q, "%s/%s.safetensors", d, runs[r]);
        if (r == 0 || !strcmp(be, ube)) CHECK(check_same_weights_tol(what, p, q, r ? WEIGHT_TOL : 0) > 1000);
    }
}

TEST(mpi_rank_failure_stops_the_job_naming_the_file) {
    need_mpi();
    const char *d = th_tmpdir();
    char man[1024], cmd[4096], out[16384], p[1024];
    REQUIRE(tl_write_dataset(d, 6, 18, 20, 17, man, sizeof man) == 0);
    snprintf(p, sizeof p, "%s/img3.nii.gz", d);
    REQUIRE(truncate(p, 200) == 0);   /* a truncated gzip stream: read only when its batch comes */
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " pretrain --task rotation --dims 3 --batch 4 --threads 1 "
             "--val-fraction 0 --opt filters=4,levels=2,input_size=16,hidden=8 --data %s --steps 200 "
             "--out %s/bad.safetensors", man, d);
    const double t0 = now_s();
    int rc = th_run(cmd, out, sizeof out);
    const double took = now_s() - t0;
    CHECK_MSG(rc != 0 && rc != 124, "exit status %d (124: the job hung until timeout killed it): %s", rc, out);
    CHECK_MSG(took < 60, "the job took %.1f s to stop", took);   /* 120 s: timeout killed it */
    CHECK_MSG(strstr(out, "img3.nii.gz") && strstr(out, "[rank "), "no rank message naming the file: %s", out);
    CHECK_MSG(strstr(out, "stopping all 2 ranks"), "no job stop announced: %s", out);
    snprintf(p, sizeof p, "%s/bad.safetensors", d);
    CHECK(access(p, F_OK) != 0);   /* no checkpoint from a failed job */
}

/* --comm: a bad name is a usage error (2); nccl on a CPU context stops the whole job with
 * one message per rank, in bounded time (auto on a CPU context is MPI: every other test). */
TEST(mpi_comm_option_errors) {
    need_mpi();
    const char *d = th_tmpdir();
    char man[1024], cmd[4096], out[16384];
    REQUIRE(tl_write_dataset(d, 4, 18, 20, 17, man, sizeof man) == 0);
#define SMALL "pretrain --task rotation --dims 3 --batch 2 --threads 1 --val-fraction 0 --steps 2 " \
              "--opt filters=4,levels=2,input_size=16,hidden=8"
    snprintf(cmd, sizeof cmd, BIN " " SMALL " --data %s --out %s/c.safetensors --comm gloo", man, d);
    CHECK(th_run(cmd, out, sizeof out) == 2);
    CHECK_MSG(strstr(out, "--comm") && strstr(out, "gloo"), "%s", out);
    snprintf(cmd, sizeof cmd, BIN " finetune --kind segment --data %s --out %s/f.safetensors --comm gloo", man, d);
    CHECK(th_run(cmd, out, sizeof out) == 2);
    CHECK_MSG(strstr(out, "--comm must be mpi, nccl or auto, got 'gloo'"), "%s", out);
    snprintf(cmd, sizeof cmd, MPIRUN_T BIN " " SMALL " --data %s --out %s/n.safetensors --comm nccl", man, d);
    int rc = th_run(cmd, out, sizeof out);
    CHECK_MSG(rc != 0 && rc != 124, "exit status %d: %s", rc, out);
    CHECK_MSG(strstr(out, "--comm nccl needs --backend cuda"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s/n.safetensors", d);
    CHECK(access(cmd, F_OK) != 0);
#undef SMALL
}
