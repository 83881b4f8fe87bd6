/* `ssl3d demo` (what `make demo` runs): pretrain a 3D proxy task for a few minutes on the
 * real brain MRI templates of Debian's mricron-data, and report the proxy accuracy on
 * held-out crops against chance.
 *
 * Data: the intensity templates (not the label atlases) in /usr/share/mricron/templates,
 * read by the library's loader (z-score over the brain, crop to the non-zero box), then
 * resampled so that each volume's longest side is --extent voxels (the templates have
 * 0.5 and 1 mm voxels, and one is a macaque brain). Hold-out by position: the anterior
 * --val-part of every volume (along the canonical H axis, posterior -> anterior) is
 * never trained on; validation uses fixed cubes cut from it on a grid, the training
 * task draws random crops from the posterior part. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ssl3d.h"
#include "ssl3d/loader.h"
#include "../core/rng.h"
#include "cli.h"
#include "cli_train.h"

static const char *CMD = "demo";
/* The last one is held out by default (--holdout volume). */
static const char *const TEMPLATES[] = { "ch2.nii.gz", "ch2bet.nii.gz", "inia19-t1-brain.nii.gz", "ch2better.nii.gz" };
#define N_TEMPLATES 4
#define DEMO_STREAM UINT64_C(0x44454d4f00000000)

static const cli_help HELP = {
    "[--seconds N] [--task TASK] [--out CKPT] [OPTIONS]",
    "Pretrain a 3D proxy task (default rotation) for --seconds on random crops of the brain\n"
    "MRI templates of Debian's mricron-data (/usr/share/mricron/templates: ch2, ch2bet,\n"
    "ch2better, inia19-t1-brain; `make demo` installs the package), then report the proxy\n"
    "accuracy on held-out crops (the anterior part of every volume, never trained on)\n"
    "against chance, and write the checkpoint.",
    "The log (--log) has the format of `ssl3d pretrain --log`. Exit status: 0 ok, 1 runtime\n"
    "error, 2 usage error.",
};

typedef struct {
    ssl3d_tensor **train;
    int64_t n_train;
    int32_t batch;
    uint64_t seed;
} demo_data;

/* Batch of step s: images drawn uniformly (with replacement) from the training parts. */
static ssl3d_status demo_batch(void *ud, ssl3d_ctx *ctx, int64_t step, ssl3d_tensor **images) {
    (void)ctx;
    demo_data *d = ud;
    ssl3d_rng r;
    ssl3d_rng_init(&r, d->seed, DEMO_STREAM + (uint64_t)step);
    for (int32_t k = 0; k < d->batch; k++)
        images[k] = ssl3d_tensor_retain(d->train[ssl3d_rng_below(&r, (uint32_t)d->n_train)]);
    return SSL3D_OK;
}

/* Fraction of non-zero voxels (brain) of a tensor. */
static double nonzero_fraction(ssl3d_ctx *ctx, ssl3d_tensor *t) {
    int64_t n = ssl3d_tensor_numel(t), nz = 0;
    float *v = malloc((size_t)n * sizeof(float));
    if (!v || ssl3d_tensor_read(ctx, t, v, n * 4) != SSL3D_OK) { free(v); return 0; }
    for (int64_t i = 0; i < n; i++) nz += v[i] != 0.0f;
    free(v);
    return (double)nz / (double)n;
}

int cmd_demo(int argc, char **argv) {
    const char *task_name = "rotation", *out = NULL, *dir = "/usr/share/mricron/templates", *log_path = NULL;
    const char *opts = NULL, *holdout = "volume";
    double seconds = 180, lr = 1e-3, val_part = 0.4;
    int64_t threads = 0, seed = 0, batch = 8, extent = 48, size = 32, max_val = 64, val_rounds = 5;
    cli_opt o[] = {
        { "seconds", CLI_DOUBLE, &seconds, "N", "training time in seconds (default 180)", 1, 1e7, NULL, 0 },
        { "task", CLI_CHOICE, &task_name, NULL, "proxy task (default rotation)", 0, 0, "rotation|rpl|jigsaw|cpc|exemplar", 0 },
        { "out", CLI_STR, &out, "CKPT", "checkpoint (default ./demo-TASK.safetensors)", 0, 0, NULL, 0 },
        { "templates", CLI_STR, &dir, "DIR", "template directory (default /usr/share/mricron/templates)", 0, 0, NULL, 0 },
        { "threads", CLI_INT, &threads, "T", "compute threads (default: all cores)", 1, 1024, NULL, 0 },
        { "seed", CLI_INT, &seed, "S", "seed (default 0)", 0, 9.2e18, NULL, 0 },
        { "batch", CLI_INT, &batch, "B", "crops per step (default 8)", 1, 4096, NULL, 0 },
        { "lr", CLI_DOUBLE, &lr, "X", "Adam learning rate (default 1e-3)", 0, 10, NULL, 0 },
        { "extent", CLI_INT, &extent, "N", "resample each volume so its longest side is N voxels (default 48)", 16, 1024, NULL, 0 },
        { "size", CLI_INT, &size, "N", "crop side = the task's input_size (default 32)", 8, 512, NULL, 0 },
        { "holdout", CLI_CHOICE, &holdout, NULL, "validate on the last template, never trained on (volume, default), "
          "or on the anterior --val-part of every template (anterior)", 0, 0, "volume|anterior", 0 },
        { "val-part", CLI_DOUBLE, &val_part, "F", "held-out anterior fraction of every volume (default 0.4)", 0.05, 0.9, NULL, 0 },
        { "val-crops", CLI_INT, &max_val, "N", "at most N held-out cubes (default 64)", 1, 100000, NULL, 0 },
        { "val-rounds", CLI_INT, &val_rounds, "N", "evaluation passes over the held-out cubes (default 5)", 1, 1000, NULL, 0 },
        { "opt", CLI_STR, &opts, "K=V,...", "task options (default filters=8,levels=3,hidden=64,input_size=--size)", 0, 0, NULL, 0 },
        { "log", CLI_STR, &log_path, "FILE.jsonl", "JSON log (as ssl3d pretrain --log)", 0, 0, NULL, 0 },
    };
    const int n_o = (int)(sizeof o / sizeof o[0]);
    int rc = cli_parse(CMD, &HELP, argc, argv, o, n_o, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    char out_buf[256], opt_buf[512];
    if (!out) { snprintf(out_buf, sizeof out_buf, "./demo-%s.safetensors", task_name); out = out_buf; }
    if (!cli_dir_writable(out)) return cli_error(CMD, "--out %s: its directory does not exist or is not writable", out);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_error(CMD, "%s is missing: run `make demo` as root to install mricron-data "
                         "(or: sudo apt-get install mricron-data)", dir);
    const char *paths[N_TEMPLATES];
    char path_buf[N_TEMPLATES][1024];
    int n_paths = 0;
    for (int i = 0; i < N_TEMPLATES; i++) {
        snprintf(path_buf[n_paths], sizeof path_buf[n_paths], "%s/%s", dir, TEMPLATES[i]);
        if (cli_file_readable(path_buf[n_paths])) { paths[n_paths] = path_buf[n_paths]; n_paths++; }
    }
    if (n_paths == 0)
        return cli_error(CMD, "%s has none of ch2.nii.gz, ch2bet.nii.gz, ch2better.nii.gz, inia19-t1-brain.nii.gz: "
                         "run `make demo` as root to install mricron-data", dir);
    if (!opts) {
        snprintf(opt_buf, sizeof opt_buf, "filters=8,levels=3,hidden=64%s,input_size=%lld",
                 strcmp(task_name, "rotation") ? "" : ",samples_per_image=1", (long long)size);
        if (strcmp(task_name, "rotation") != 0) snprintf(opt_buf, sizeof opt_buf, "filters=8,levels=3");
        opts = opt_buf;
    }

    ssl3d_ctx *ctx = NULL;
    ssl3d_loader *L = NULL;
    ssl3d_task *task = NULL;
    ssl3d_tensor *train[N_TEMPLATES] = { 0 }, **val = NULL;
    int64_t n_train = 0, n_val = 0;
    cli_jsonl log = { 0 };
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return cli_error(CMD, "cannot create a context");
    if (threads) ssl3d_ctx_set_threads(ctx, (int32_t)threads);
    ssl3d_ctx_set_seed(ctx, (uint64_t)seed);
    const double t_load = cli_now();
    val = calloc((size_t)max_val, sizeof *val);
    int32_t kind = 0;
    ssl3d_task_kind_parse(task_name, &kind);
    if (!val) { rc = cli_error(CMD, "out of memory"); goto done; }
    if (ssl3d_loader_create_files(ctx, paths, n_paths, SSL3D_LOADER_ALL, &L) != SSL3D_OK ||
        ssl3d_loader_set_split(ctx, L, 0, 0) != SSL3D_OK ||
        ssl3d_loader_set_threads(ctx, L, n_paths > 1 ? 2 : 0, 1) != SSL3D_OK) {
        rc = cli_error(CMD, "%s", ssl3d_ctx_last_error(ctx));
        goto done;
    }
    if (ssl3d_task_create(ctx, kind, 3, 1, opts, &task) != SSL3D_OK) {
        rc = cli_usage_error(CMD, "--%s %s: %s", opts == opt_buf ? "task" : "opt", opts == opt_buf ? task_name : opts,
                             ssl3d_ctx_last_error(ctx));
        goto done;
    }
    double isz = 0;
    int64_t S = size;
    if (ssl3d_task_option(ctx, task, "input_size", &isz) == SSL3D_OK && isz >= 1) S = (int64_t)isz;
    fprintf(stderr, "ssl3d demo: reading %d templates from %s ...\n", n_paths, dir);
    for (int v = 0; v < n_paths; v++) {
        ssl3d_tensor *x = NULL, *r = NULL, *part = NULL;
        ssl3d_status st = ssl3d_loader_item(ctx, L, v, &x);
        if (st != SSL3D_OK) { rc = cli_error(CMD, "%s", ssl3d_ctx_last_error(ctx)); goto done; }
        /* Resample to `extent` voxels along the longest side. */
        int64_t longest = 0;
        for (int a = 1; a < 4; a++) if (ssl3d_tensor_dim(x, a) > longest) longest = ssl3d_tensor_dim(x, a);
        double in[3] = { 1, 1, 1 }, to[3];
        for (int a = 0; a < 3; a++) to[a] = (double)longest / (double)extent;
        st = ssl3d_resample_spacing(ctx, x, in, to, &r);
        ssl3d_tensor_release(x);
        if (st != SSL3D_OK) { rc = cli_error(CMD, "%s: resampling: %s", paths[v], ssl3d_ctx_last_error(ctx)); goto done; }
        const int64_t D = ssl3d_tensor_dim(r, 1), H = ssl3d_tensor_dim(r, 2), W = ssl3d_tensor_dim(r, 3);
        const int whole_volume = !strcmp(holdout, "volume") && n_paths > 1;
        if (whole_volume) {
            /* Whole volumes: all but the last train; the last gives the held-out cubes. */
            if (D < S || H < S || W < S) {
                fprintf(stderr, "ssl3d demo: skipping %s: %lldx%lldx%lld voxels is smaller than %lld^3 crops\n", paths[v],
                        (long long)D, (long long)H, (long long)W, (long long)S);
                ssl3d_tensor_release(r);
                continue;
            }
            if (v < n_paths - 1) {
                train[n_train++] = r;
                fprintf(stderr, "  %s: %lldx%lldx%lld voxels after resampling; training volume\n", paths[v],
                        (long long)D, (long long)H, (long long)W);
                continue;
            }
            const int64_t stride = S / 8 > 0 ? S / 8 : 1;   /* many overlapping held-out cubes */
            for (int64_t z = 0; st == SSL3D_OK && z + S <= D && n_val < max_val; z += stride)
                for (int64_t h = 0; st == SSL3D_OK && h + S <= H && n_val < max_val; h += stride)
                    for (int64_t w = 0; st == SSL3D_OK && w + S <= W && n_val < max_val; w += stride) {
                        int64_t o3[3] = { z, h, w }, s3[3] = { S, S, S };
                        ssl3d_tensor *cube = NULL;
                        st = ssl3d_crop(ctx, r, o3, s3, 0.0f, &cube);
                        if (st == SSL3D_OK && nonzero_fraction(ctx, cube) >= 0.3) val[n_val++] = cube;
                        else ssl3d_tensor_release(cube);
                    }
            ssl3d_tensor_release(r);
            if (st != SSL3D_OK) { rc = cli_error(CMD, "%s: %s", paths[v], ssl3d_ctx_last_error(ctx)); goto done; }
            fprintf(stderr, "  %s: %lldx%lldx%lld voxels after resampling; held out (validation cubes only)\n",
                    paths[v], (long long)D, (long long)H, (long long)W);
            continue;
        }
        int64_t h_val = (int64_t)llround(val_part * (double)H);
        if (h_val < S) h_val = S;
        const int64_t h_train = H - h_val;
        if (h_train < S / 2 || D < S || W < S) {
            fprintf(stderr, "ssl3d demo: skipping %s: %lldx%lldx%lld voxels is too small for %lld^3 crops\n", paths[v],
                    (long long)D, (long long)H, (long long)W, (long long)S);
            ssl3d_tensor_release(r);
            continue;
        }
        /* Posterior part (H < h_train) for training. */
        int64_t off[3] = { 0, 0, 0 }, sz[3] = { D, h_train, W };
        st = ssl3d_crop(ctx, r, off, sz, 0.0f, &part);
        if (st == SSL3D_OK) train[n_train++] = part;
        /* Anterior part: cubes on a grid with stride S/2, centred along H, mostly brain. */
        const int64_t h0 = h_train + (h_val - S) / 2, stride = S / 2;
        for (int64_t z = 0; st == SSL3D_OK && z + S <= D && n_val < max_val; z += stride)
            for (int64_t w = 0; st == SSL3D_OK && w + S <= W && n_val < max_val; w += stride) {
                int64_t o3[3] = { z, h0, w }, s3[3] = { S, S, S };
                ssl3d_tensor *cube = NULL;
                st = ssl3d_crop(ctx, r, o3, s3, 0.0f, &cube);
                if (st == SSL3D_OK && nonzero_fraction(ctx, cube) >= 0.5) val[n_val++] = cube;
                else ssl3d_tensor_release(cube);
            }
        ssl3d_tensor_release(r);
        if (st != SSL3D_OK) { rc = cli_error(CMD, "%s: %s", paths[v], ssl3d_ctx_last_error(ctx)); goto done; }
        fprintf(stderr, "  %s: %lldx%lldx%lld voxels after resampling; posterior %lld rows train, anterior %lld "
                "held out\n", paths[v], (long long)D, (long long)H, (long long)W, (long long)h_train, (long long)h_val);
    }
    if (n_train == 0) { rc = cli_error(CMD, "no template is large enough for %lld^3 crops (lower --size)", (long long)S); goto done; }
    if (log_path && cli_jsonl_open(CMD, &log, log_path, 0)) { rc = 1; goto done; }
    fprintf(stderr, "ssl3d demo: %s 3D, %lld training volumes, %lld held-out %lld^3 cubes, batch %lld, %.0f s of "
            "training (data ready in %.1f s); chance %.4f\n", task_name, (long long)n_train, (long long)n_val,
            (long long)S, (long long)batch, seconds, cli_now() - t_load, ssl3d_task_chance(task));

    demo_data dd = { train, n_train, (int32_t)batch, (uint64_t)seed };
    const char *meta[] = { "demo.templates", dir, NULL, NULL };
    cli_train t = { 0 };
    t.cmd = CMD; t.ctx = ctx; t.task = task; t.batch = demo_batch; t.ud = &dd;
    t.batch_size = (int32_t)batch; t.seed = (uint64_t)seed;
    t.val = val; t.n_val = n_val; t.val_rounds = (int32_t)val_rounds; t.eval_every = 0;
    t.lr = lr; t.schedule = "constant"; t.warmup = 20;
    t.steps = INT64_MAX / 4; t.max_seconds = seconds; t.out = out;
    t.log = log_path ? &log : NULL; t.print_every = 10; t.meta = meta;
    rc = cli_train_run(&t);
    if (!rc)
        printf("demo: %s 3D, %lld steps in %.0f s: held-out proxy accuracy %.3f on %lld samples "
               "(chance %.3f, %.1fx chance); checkpoint %s\n", task_name, (long long)t.steps_done, t.seconds,
               t.proxy_accuracy, (long long)t.val_samples, t.chance, t.proxy_accuracy / t.chance, out);
done:
    if (log.f && cli_jsonl_close(CMD, &log) && !rc) rc = 1;
    for (int64_t i = 0; i < n_train; i++) ssl3d_tensor_release(train[i]);
    for (int64_t i = 0; val && i < n_val; i++) ssl3d_tensor_release(val[i]);
    free(val);
    ssl3d_task_release(task);
    ssl3d_loader_release(L);
    ssl3d_ctx_release(ctx);
    return rc;
}
