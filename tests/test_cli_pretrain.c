/* `ssl3d pretrain` end to end on tiny generated NIfTI volumes: the JSONL log, the final
 * summary, bitwise resumption, and error messages for bad options and missing files.
 * Runs bin/ssl3d (skips when it is not built). */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "test_loader_util.h"

#define BIN "./bin/ssl3d"
#define TINY "--task rotation --dims 3 --batch 2 --threads 1 --loader-threads 1 --val-fraction 0.34 " \
             "--opt filters=4,levels=2,input_size=16,hidden=8"

static void need_bin(void) {
    if (access(BIN, X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
}

/* Losses of the non-final lines of a log, by step; returns the number of lines. */
static int read_log(const char *path, double *loss, int cap, cJSON **final) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    *final = NULL;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        if (!o) { n = -1; break; }
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "final"))) { cJSON_Delete(*final); *final = o; continue; }
        cJSON *s = cJSON_GetObjectItem(o, "step"), *l = cJSON_GetObjectItem(o, "loss");
        if (cJSON_IsNumber(s) && cJSON_IsNumber(l) && s->valueint >= 0 && s->valueint < cap) {
            loss[s->valueint] = l->valuedouble;
            n++;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    return n;
}

static char man[1024];
static void make_data(void) { REQUIRE(tl_write_dataset(th_tmpdir(), 5, 18, 20, 17, man, sizeof man) == 0); }

TEST(cli_pretrain_log_and_summary) {
    need_bin();
    make_data();
    char cmd[4096], out[8192];
    const char *d = th_tmpdir();
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --out %s/m.safetensors --steps 4 --eval-every 2 "
             "--log %s/log.jsonl", man, d, d);
    int rc = th_run(cmd, out, sizeof out);
    REQUIRE(rc == 0 || (printf("%s\n", out), 0));
    double loss[16];
    cJSON *fin = NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/log.jsonl", d);
    CHECK(read_log(p, loss, 16, &fin) == 4);
    REQUIRE(fin);
    const char *keys[] = { "steps", "proxy_accuracy", "chance", "seconds" };
    for (int i = 0; i < 4; i++) CHECK_MSG(cJSON_IsNumber(cJSON_GetObjectItem(fin, keys[i])), "final: no %s", keys[i]);
    CHECK(cJSON_GetObjectItem(fin, "steps")->valueint == 4);
    CHECK_NEAR(cJSON_GetObjectItem(fin, "chance")->valuedouble, 0.1, 1e-12);
    double a = cJSON_GetObjectItem(fin, "proxy_accuracy")->valuedouble;
    CHECK(a >= 0 && a <= 1);
    cJSON_Delete(fin);
    /* Every step line has step, loss, acc, lr, samples_per_s; step 1 has val_acc. */
    FILE *f = fopen(p, "r");
    REQUIRE(f);
    char line[4096];
    int lines = 0, with_val = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        REQUIRE(o);
        if (!cJSON_GetObjectItem(o, "final")) {
            const char *k[] = { "step", "loss", "acc", "lr", "samples_per_s" };
            for (int i = 0; i < 5; i++) CHECK_MSG(cJSON_GetObjectItem(o, k[i]), "line %d: no %s", lines, k[i]);
            if (cJSON_GetObjectItem(o, "val_acc")) with_val++;
        }
        cJSON_Delete(o);
        lines++;
    }
    fclose(f);
    CHECK(lines == 5);
    CHECK(with_val == 1);
    struct stat st;
    snprintf(p, sizeof p, "%s/m.safetensors", d);
    CHECK(stat(p, &st) == 0 && st.st_size > 1000);
    /* The checkpoint holds the task, the optimiser state and the step. */
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *ck = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, p, &ck));
    const char *v = NULL;
    CHECK_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "step", &v));
    CHECK(v && !strcmp(v, "4"));
    int32_t dt = -1;
    CHECK_OK(ctx, ssl3d_checkpoint_tensor_info(ctx, ck, "optim.optim.step", &dt, NULL, NULL, 0));
    ssl3d_task *task = NULL;
    CHECK_OK(ctx, ssl3d_task_create_from_checkpoint(ctx, ck, &task));
    ssl3d_task_release(task);
    ssl3d_checkpoint_release(ck);
    ssl3d_ctx_release(ctx);
}

TEST(cli_pretrain_resume_is_bitwise) {
    need_bin();
    make_data();
    char cmd[4096], out[8192], p[1024];
    const char *d = th_tmpdir();
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --out %s/full.safetensors --steps 6 --log %s/full.jsonl",
             man, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --out %s/part.safetensors --steps 3 --log %s/part.jsonl",
             man, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --out %s/part.safetensors --steps 6 --log %s/part.jsonl "
             "--resume %s/part.safetensors", man, d, d, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    double a[8], b[8];
    cJSON *fa = NULL, *fb = NULL;
    snprintf(p, sizeof p, "%s/full.jsonl", d);
    CHECK(read_log(p, a, 8, &fa) == 6);
    snprintf(p, sizeof p, "%s/part.jsonl", d);
    CHECK(read_log(p, b, 8, &fb) == 6);
    for (int s = 0; s < 6; s++) CHECK_MSG(a[s] == b[s], "step %d: loss %.17g vs resumed %.17g", s, a[s], b[s]);
    REQUIRE(fa && fb);
    CHECK(cJSON_GetObjectItem(fa, "proxy_accuracy")->valuedouble == cJSON_GetObjectItem(fb, "proxy_accuracy")->valuedouble);
    cJSON_Delete(fa);
    cJSON_Delete(fb);
    /* Same final weights and optimiser state: identical files. */
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/full.safetensors", d);
    snprintf(pb, sizeof pb, "%s/part.safetensors", d);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", pa, pb);
    CHECK_MSG(system(cmd) == 0, "checkpoints of the full and resumed runs differ");
    /* The crop region options change no tensor: a resume with others is refused, naming them. */
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY ",region=inner,fg_level=0.25 --data %s --out %s/inner.safetensors "
             "--steps 1", man, d);
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    const char *again[3] = { "", ",region=inner", ",fg_level=0.25" };
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, BIN " pretrain " TINY "%s --data %s --out %s/inner2.safetensors --steps 2 "
                 "--resume %s/inner.safetensors", again[k], man, d, d);
        CHECK_MSG(th_run(cmd, out, sizeof out) == 1 &&
                  strstr(out, k == 1 ? "--opt fg_level: the checkpoint was trained with 0.25, the command line has 0"
                                     : "--opt region: the checkpoint was trained with inner, the command line has box"),
                  "%s: %s", again[k], out);
    }
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY ",fg_level=0.25,region=inner --data %s --out %s/inner2.safetensors "
             "--steps 2 --resume %s/inner.safetensors", man, d, d);
    CHECK_MSG(th_run(cmd, out, sizeof out) == 0, "%s", out);
}

/* --resume refuses every recorded setting that differs from the command line's (task, dims,
 * each task option, batch, lr, weight decay, schedule, warm-up) with one message naming the
 * option and both values, and still resumes when only what may change differs (steps,
 * threads, evaluation and saving, the seed: a warning). */
TEST(cli_pretrain_resume_refuses_other_options) {
    need_bin();
    make_data();
    char cmd[4096], out[8192];
    const char *d = th_tmpdir();
#define RESUMABLE "--task %s --dims %s --batch %s --lr %s --schedule %s --warmup %s --weight-decay %s " \
                  "--loader-threads 1 --val-fraction 0.34 --data %s --out %s/%s.safetensors --steps %s " \
                  "--opt filters=4,levels=2%s"
    snprintf(cmd, sizeof cmd, BIN " pretrain " RESUMABLE " --threads 1", "rotation", "3", "2", "0.001", "constant", "0",
             "0", man, d, "base", "1", ",input_size=16,hidden=8");
    REQUIRE(th_run(cmd, out, sizeof out) == 0 || (printf("%s\n", out), 0));
    struct { const char *task, *dims, *batch, *lr, *schedule, *warmup, *wd, *opt, *want; } bad[] = {
        { "rpl", "3", "2", "0.001", "constant", "0", "0", ",grid=3,cell=4,jitter=0",
          "--task: the checkpoint was trained with rotation, the command line has rpl" },
        { "rotation", "2", "2", "0.001", "constant", "0", "0", ",input_size=16,hidden=8",
          "--dims: the checkpoint was trained with 3, the command line has 2" },
        { "rotation", "3", "2", "0.001", "constant", "0", "0", ",input_size=16,hidden=16",   /* a tensor's shape */
          "--opt hidden: the checkpoint was trained with 8, the command line has 16" },
        { "rotation", "3", "2", "0.001", "constant", "0", "0", ",input_size=16,hidden=8,norm=group",   /* no tensor's shape */
          "--opt norm: the checkpoint was trained with batch, the command line has group" },
        { "rotation", "3", "2", "0.001", "constant", "0", "0", ",input_size=16,hidden=8,samples_per_image=2",
          "--opt samples_per_image: the checkpoint was trained with 1, the command line has 2" },
        { "rotation", "3", "3", "0.001", "constant", "0", "0", ",input_size=16,hidden=8",
          "--batch: the checkpoint was trained with 2, the command line has 3" },
        { "rotation", "3", "2", "0.002", "constant", "0", "0", ",input_size=16,hidden=8",
          "--lr: the checkpoint was trained with 0.001, the command line has 0.002" },
        { "rotation", "3", "2", "0.001", "cosine", "0", "0", ",input_size=16,hidden=8",
          "--schedule: the checkpoint was trained with constant, the command line has cosine" },
        { "rotation", "3", "2", "0.001", "constant", "1", "0", ",input_size=16,hidden=8",
          "--warmup: the checkpoint was trained with 0, the command line has 1" },
        { "rotation", "3", "2", "0.001", "constant", "0", "0.01", ",input_size=16,hidden=8",
          "--weight-decay: the checkpoint was trained with 0, the command line has 0.01" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, BIN " pretrain " RESUMABLE " --threads 1 --resume %s/base.safetensors", bad[i].task,
                 bad[i].dims, bad[i].batch, bad[i].lr, bad[i].schedule, bad[i].warmup, bad[i].wd, man, d, "again", "3",
                 bad[i].opt, d);
        const int rc = th_run(cmd, out, sizeof out);
        CHECK_MSG(rc == 1 && strstr(out, bad[i].want) && strstr(out, "ssl3d pretrain: --resume ") &&
                  strstr(out, "base.safetensors"), "case %zu: exit %d: %s", i, rc, out);
        CHECK_MSG(!strstr(out, "ssl3d_pretrain_run"), "case %zu: the library's words: %s", i, out);
    }
    /* Free to change: steps, threads, evaluation, saving, the seed (warned about). */
    snprintf(cmd, sizeof cmd, BIN " pretrain " RESUMABLE " --resume %s/base.safetensors --threads 2 --eval-every 1 "
             "--save-every 1 --val-rounds 2 --seed 5", "rotation", "3", "2", "0.001", "constant", "0", "0", man, d,
             "again", "3", ",input_size=16,hidden=8", d);
    CHECK_MSG(th_run(cmd, out, sizeof out) == 0 && strstr(out, "trained with seed 0, this run uses 5"), "%s", out);
#undef RESUMABLE
}

/* A volume of nx x ny x nz (W, H, D as stored) whose axial slices are a 12 x 12 square of
 * 100 + noise, except those in [bad_lo, bad_hi), which hold a 2 x 2 one: too small for the
 * RPL grid of 3 cells of 4 (12 voxels) in 2D, and in 3D when bad covers every slice. */
static int write_blocks(const char *path, int64_t nx, int64_t ny, int64_t nz, int64_t bad_lo, int64_t bad_hi) {
    int64_t dims[4] = { 3, nx, ny, nz };
    float *v = calloc((size_t)(nx * ny * nz), sizeof(float));
    if (!v) return -1;
    for (int64_t z = 0; z < nz; z++) {
        const int64_t side = z >= bad_lo && z < bad_hi ? 2 : 12;
        for (int64_t y = 1; y < 1 + side; y++)
            for (int64_t x = 2; x < 2 + side; x++) v[(z * ny + y) * nx + x] = 100.0f + (float)((x * 7 + y * 3 + z) % 11);
    }
    int rc = tn_write(path, 1, dims, NIFTI_TYPE_FLOAT32, v, &TN_PLAIN);
    free(v);
    return rc;
}

/* A task call refused for one bad image names the file it came from (and its axial slice
 * in 2D), not only its place in the call: in a training step (3D: the one bad volume of a
 * batch of five; 2D: the one bad slice of a volume) and in the validation of the held-out
 * images (the held-out volume made bad). */
TEST(cli_pretrain_names_the_file_of_a_bad_image) {
    need_bin();
    make_data();
    char cmd[4096], out[8192], p[1024];
    const char *d = th_tmpdir();
#define RPL "--task rpl --threads 1 --loader-threads 1 --steps 1 --opt filters=4,levels=2,grid=3,cell=4,jitter=0"
    /* 3D training: img3 of the five volumes has a 2-voxel foreground box. */
    snprintf(p, sizeof p, "%s/img3.nii.gz", d);
    REQUIRE(write_blocks(p, 18, 20, 17, 0, 17) == 0);
    snprintf(cmd, sizeof cmd, BIN " pretrain " RPL " --dims 3 --batch 5 --val-fraction 0 --data %s "
             "--out %s/o.safetensors", man, d);
    CHECK_MSG(th_run(cmd, out, sizeof out) == 1 && strstr(out, "ssl3d pretrain: ") && strstr(out, "step 0") &&
              strstr(out, "/img3.nii.gz)") && strstr(out, "too small"), "%s", out);
    for (int k = 0; k < 5; k++) {
        char other[32];
        snprintf(other, sizeof other, "img%d.nii.gz", k);
        if (k != 3) CHECK_MSG(!strstr(out, other), "names %s too: %s", other, out);
    }
    /* 2D training: slice 2 of the four slices of one volume. */
    snprintf(p, sizeof p, "%s/slices.nii.gz", d);
    REQUIRE(write_blocks(p, 16, 16, 4, 2, 3) == 0);
    char csv[1024];
    snprintf(csv, sizeof csv, "%s/slices.csv", d);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "file,label,split\nslices.nii.gz,,train\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, BIN " pretrain " RPL " --dims 2 --batch 4 --val-fraction 0 --data %s "
             "--out %s/o2.safetensors", csv, d);
    CHECK_MSG(th_run(cmd, out, sizeof out) == 1 && strstr(out, "/slices.nii.gz, axial slice 2)"), "%s", out);
    /* Validation: the held-out volume (asked of a loader with the same split) made bad. */
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_loader *val = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &val));
    REQUIRE_OK(ctx, ssl3d_loader_set_split(ctx, val, 0.2, 0));
    REQUIRE(ssl3d_loader_num_volumes(val) == 1);
    const char *held = ssl3d_loader_volume_path(val, 0);
    char name[256];
    snprintf(name, sizeof name, "%s", strrchr(held, '/') ? strrchr(held, '/') + 1 : held);
    ssl3d_loader_release(val);
    ssl3d_ctx_release(ctx);
    snprintf(p, sizeof p, "%s/img3.nii.gz", d);   /* img3 good again */
    REQUIRE(tl_write_volume(p, 3, 18, 20, 17) == 0);
    snprintf(p, sizeof p, "%.700s/%s", d, name);
    REQUIRE(write_blocks(p, 18, 20, 17, 0, 17) == 0);
    snprintf(cmd, sizeof cmd, BIN " pretrain " RPL " --dims 3 --batch 2 --val-fraction 0.2 --data %s "
             "--out %s/o3.safetensors", man, d);
    char want[300];
    snprintf(want, sizeof want, "/%.250s)", name);
    CHECK_MSG(th_run(cmd, out, sizeof out) == 1 && strstr(out, "validation, held-out images [0, 1)") &&
              strstr(out, want), "%s: %s", name, out);
#undef RPL
}

/* Each bad invocation fails with its exit status and a message containing `want`. */
TEST(cli_pretrain_errors) {
    need_bin();
    make_data();
    const char *d = th_tmpdir();
    struct { const char *args; int rc; const char *want; } cases[] = {
        { "--task rotation --dims 3 --out X", 2, "missing --data" },
        { "--task spin --dims 3 --data M --out X", 2, "--task: 'spin' is not one of" },
        { "--task rotation --dims 4 --data M --out X", 2, "--dims: 4 is out of range" },
        { "--task rotation --dims 3 --data M --out X --steps abc", 2, "--steps: 'abc' is not an integer" },
        { "--task rotation --dims 3 --data M --out X --bogus 1", 2, "unknown option '--bogus'" },
        { "--task rotation --dims 3 --data M", 2, "missing --out" },
        { "--task rotation --dims 3 --data M --out X --steps 2 --epochs 1", 2, "not both" },
        { "--task rotation --dims 3 --data /nonexistent/dataset.json --out X", 1, "/nonexistent/dataset.json" },
        { "--task rotation --dims 3 --data M --out X --steps 1 --opt filters=4,bogus=1", 2, "bogus" },
        { "--task rotation --dims 3 --data M --out X --steps 1 --resume /nonexistent/r.safetensors", 1,
          "/nonexistent/r.safetensors" },
        { "--task rotation --dims 3 --data M --out /nonexistent/dir/o.safetensors --steps 1 "
          "--opt filters=4,levels=2,input_size=16,hidden=8 --threads 1", 1, "/nonexistent/dir/o.safetensors" },
        { "--task rotation --dims 3 --data M --out X --log /nonexistent/dir/l.jsonl --steps 1 "
          "--opt filters=4,levels=2,input_size=16", 1, "/nonexistent/dir/l.jsonl" },
        /* an inner region (the top 1% of the range) too small for the grid: named, and not
         * blamed on the loss */
        { "--task rpl --dims 3 --data M --out X --steps 1 --threads 1 "
          "--opt filters=4,levels=2,grid=3,cell=4,jitter=0,region=inner,fg_level=0.99", 1,
          "region=inner, fg_level=0.99" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048], cmd[4096], out[8192];
        /* M and X stand for the manifest and an output path. */
        char *w = args;
        for (const char *s = cases[i].args; *s && w < args + sizeof args - 1100; s++) {
            if (*s == 'M' && (s[1] == ' ' || !s[1]) && s[-1] == ' ') w += sprintf(w, "%s", man);
            else if (*s == 'X' && (s[1] == ' ' || !s[1]) && s[-1] == ' ') w += sprintf(w, "%s/e.safetensors", d);
            else *w++ = *s;
        }
        *w = 0;
        snprintf(cmd, sizeof cmd, BIN " pretrain %s", args);
        int rc = th_run(cmd, out, sizeof out);
        CHECK_MSG(rc == cases[i].rc, "case %zu (%s): exit %d, want %d: %s", i, cases[i].args, rc, cases[i].rc, out);
        CHECK_MSG(strstr(out, cases[i].want) != NULL, "case %zu: message lacks '%s': %s", i, cases[i].want, out);
        CHECK_MSG(strstr(out, "ssl3d pretrain:") != NULL, "case %zu: message lacks the command: %s", i, out);
        CHECK_MSG(strstr(out, "not finite") == NULL, "case %zu: blames the loss: %s", i, out);
    }
    /* --help documents every option and exits 0. */
    char out[16384];
    CHECK(th_run(BIN " pretrain --help", out, sizeof out) == 0);
    const char *opts[] = { "--task", "--dims", "--data", "--out", "--epochs", "--steps", "--batch", "--seed",
                           "--threads", "--log", "--lr", "--opt", "--resume", "--val-fraction", "--eval-every" };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) CHECK_MSG(strstr(out, opts[i]), "help lacks %s", opts[i]);
}

TEST(cli_pretrain_2d_csv) {
    need_bin();
    make_data();
    char cmd[4096], out[8192], csv[1024];
    const char *d = th_tmpdir();
    snprintf(csv, sizeof csv, "%s/data.csv", d);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "file,label,split\n");
    for (int k = 0; k < 5; k++) fprintf(f, "img%d.nii.gz,,%s\n", k, k == 4 ? "test" : "train");
    fclose(f);
    snprintf(cmd, sizeof cmd, BIN " pretrain --task rotation --dims 2 --batch 4 --threads 1 --data %s --out "
             "%s/m2.safetensors --steps 3 --opt filters=4,levels=2,input_size=16,hidden=8 --log %s/l2.jsonl",
             csv, d, d);
    int rc = th_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    double loss[8];
    cJSON *fin = NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/l2.jsonl", d);
    CHECK(read_log(p, loss, 8, &fin) == 3);
    REQUIRE(fin);
    CHECK_NEAR(cJSON_GetObjectItem(fin, "chance")->valuedouble, 0.25, 1e-12);
    cJSON_Delete(fin);
}

/* --cases: pretraining on cases 1, 3, 4 of a five-case manifest gives bitwise the losses of
 * pretraining on a manifest listing only those three; a bad entry is an error naming it.
 * --normalisation minmax runs, and changes the losses. */
TEST(cli_pretrain_cases_and_normalisation) {
    need_bin();
    make_data();
    const char *d = th_tmpdir();
    char sub[1024], list[1024], cmd[4096], out[8192], p[1024];
    snprintf(sub, sizeof sub, "%s/sub.json", d);
    snprintf(list, sizeof list, "%s/cases.txt", d);
    FILE *f = fopen(sub, "w");
    REQUIRE(f);
    fprintf(f, "{\"name\": \"sub\", \"modality\": {\"0\": \"MRI\"}, \"labels\": {\"0\": \"bg\", \"1\": \"fg\"},\n"
               " \"training\": [");
    const int pick[3] = { 1, 3, 4 };
    for (int i = 0; i < 3; i++)
        fprintf(f, "%s{\"image\": \"./img%d.nii.gz\", \"label\": \"./img%d.nii.gz\"}", i ? ", " : "", pick[i], pick[i]);
    fprintf(f, "], \"test\": []}\n");
    fclose(f);
    f = fopen(list, "w");
    REQUIRE(f);
    fprintf(f, "# three of the five cases\n1\nimg3.nii.gz\n4\n");
    fclose(f);
    double la[8] = { 0 }, lb[8] = { 0 }, lc[8] = { 0 };
    cJSON *fin = NULL;
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --cases %s --out %s/ca.safetensors --steps 3 "
             "--log %s/ca.jsonl", man, list, d, d);
    int rc = th_run(cmd, out, sizeof out);
    REQUIRE(rc == 0 || (printf("%s\n", out), 0));
    CHECK_MSG(strstr(out, "on 2 training volumes (1 held out)") != NULL, "%s", out);
    snprintf(p, sizeof p, "%s/ca.jsonl", d);
    CHECK(read_log(p, la, 8, &fin) == 3);
    cJSON_Delete(fin);
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --out %s/cb.safetensors --steps 3 --log %s/cb.jsonl",
             sub, d, d);
    rc = th_run(cmd, out, sizeof out);
    REQUIRE(rc == 0 || (printf("%s\n", out), 0));
    snprintf(p, sizeof p, "%s/cb.jsonl", d);
    CHECK(read_log(p, lb, 8, &fin) == 3);
    cJSON_Delete(fin);
    for (int s = 1; s <= 3; s++) CHECK_MSG(la[s] == lb[s], "step %d: --cases %.9g, sub-manifest %.9g", s, la[s], lb[s]);

    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --out %s/cc.safetensors --steps 3 "
             "--normalisation minmax --log %s/cc.jsonl", sub, d, d);
    rc = th_run(cmd, out, sizeof out);
    REQUIRE(rc == 0 || (printf("%s\n", out), 0));
    snprintf(p, sizeof p, "%s/cc.jsonl", d);
    CHECK(read_log(p, lc, 8, &fin) == 3);
    cJSON_Delete(fin);
    CHECK_MSG(lc[1] != lb[1], "minmax and zscore gave the same first loss %.9g", lc[1]);

    f = fopen(list, "w");
    REQUIRE(f);
    fprintf(f, "1\nnot_a_case.nii.gz\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, BIN " pretrain " TINY " --data %s --cases %s --out %s/cd.safetensors --steps 1", man,
             list, d);
    rc = th_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 1 && strstr(out, "not_a_case.nii.gz") && strstr(out, "--cases"), "exit %d: %s", rc, out);
}
