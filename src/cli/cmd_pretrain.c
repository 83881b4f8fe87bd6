/* `ssl3d pretrain`: pretrain an encoder with one of the five proxy tasks on the images
 * of a manifest (train split; a seeded fraction of the images is held out to measure
 * the proxy accuracy), writing a checkpoint and a JSONL log. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ssl3d.h"
#include "ssl3d/loader.h"
#include "cli.h"
#include "cli_train.h"
#include "cli_dist.h"
#include "cli_backend.h"

static const char *CMD = "pretrain";

static const cli_help HELP = {
    "--task TASK --dims 2|3 --data MANIFEST --out CKPT [OPTIONS]",
    "Pretrain a U-Net encoder with a self-supervised proxy task. MANIFEST is an MSD\n"
    "dataset.json (its \"training\" images; labels are not read) or a CSV file,label,split\n"
    "(its train rows). Images are z-scored over their non-zero voxels (see --normalisation)\n"
    "and otherwise left whole, as `ssl3d finetune` prepares them; the tasks take their crops\n"
    "inside each image's foreground (non-zero) box, so padding and the image border carry no\n"
    "label (CPC and exemplar pad images smaller than input_size). In 2D every axial slice is\n"
    "an image. --val-fraction of the images is held out (seeded by\n"
    "--split-seed) and the proxy accuracy is measured on them with deterministic evaluation\n"
    "samples.\n"
    "Step s trains on batch s of a seeded shuffle and draws its samples from (--seed, s),\n"
    "so --resume continues a run exactly as if it had not stopped.\n"
    "Data-parallel: `mpirun -np N ssl3d pretrain ...` splits every batch of --batch (the\n"
    "global batch, a multiple of N) over N ranks and averages the gradients; rank 0 writes\n"
    "the log and the checkpoint (docs/distributed.md).",
    "Log (--log): one JSON object per step {\"step\", \"loss\", \"acc\", \"lr\", \"samples_per_s\",\n"
    "\"train_seconds\", \"epoch\"[, \"val_acc\", \"val_loss\"]}, then {\"final\": true, \"steps\", \"proxy_accuracy\",\n"
    "\"chance\", \"seconds\", \"val_loss\", \"val_samples\", \"task\", \"dims\", \"checkpoint\"}.\n"
    "Checkpoint (safetensors): the task's tensors and metadata (ssl3d_task_save), the Adam\n"
    "state under \"optim.*\" and metadata \"step\", \"pretrain.*\". Task options (--opt), e.g.\n"
    "filters=16,levels=4,norm=batch|group|instance|none,input_size=32,hidden=256,\n"
    "samples_per_image=1 (rotation), grid=3,cell=24,jitter=8 (rpl, jigsaw),\n"
    "permutations=100 (jigsaw), region=box|inner,fg_level=0 (every task: crops inside the\n"
    "non-zero box, or with region=inner inside the largest square / cube of voxels above\n"
    "fg_level of each channel's range, for an object's outline on a non-zero background):\n"
    "docs/tasks.md lists them all.\n"
    "An image a task refuses (e.g. a crop region too small for the grid) is named by its file\n"
    "(and axial slice in 2D).\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.",
};

/* An error of ssl3d_pretrain_inputs_create, whose message starts with the config field at
 * fault ("ssl3d_pretrain_inputs_create: config.<field> ..."), said with the option that
 * set the field; a bad task or --opt is a usage error (exit 2) as the other option errors. */
static int inputs_error(ssl3d_ctx *ctx) {
    static const struct { const char *field, *option; int usage; } map[] = {
        { "manifest", "--data", 0 }, { "cases_file", "--cases", 0 }, { "options", "--opt", 1 },
        { "task", "--task", 1 }, { "dims", "--dims", 1 }, { "batch", "--batch", 1 },
        { "normalisation", "--normalisation", 1 }, { "spacing", "--spacing", 1 },
        { "loader_threads", "--loader-threads", 1 }, { "val_fraction", "--val-fraction", 1 },
        { "val_max", "--val-max", 1 },
    };
    static const char prefix[] = "ssl3d_pretrain_inputs_create: config.";
    const char *msg = ssl3d_ctx_last_error(ctx);
    if (!strncmp(msg, prefix, sizeof prefix - 1)) {
        const char *f = msg + sizeof prefix - 1;
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
            const size_t n = strlen(map[i].field);
            if (strncmp(f, map[i].field, n) || (f[n] != ' ' && f[n] != ':')) continue;
            return map[i].usage ? cli_usage_error(CMD, "%s%s", map[i].option, f + n)
                                : cli_error(CMD, "%s%s", map[i].option, f + n);
        }
    }
    return cli_error(CMD, "%s", msg);
}

int cmd_pretrain(int argc, char **argv) {
    const char *task_name = NULL, *data = NULL, *out = NULL, *log_path = NULL, *opts = NULL, *resume = NULL;
    const char *cases_file = NULL;
    const char *schedule = "constant", *normalisation = "zscore", *backend_name = "cpu", *comm_name = "auto";
    int64_t dims = 0, epochs = 0, steps = 0, batch = 0, seed = 0, threads = 0, loader_threads = 1, eval_every = 0;
    int64_t save_every = 0, warmup = 0, split_seed = 0, val_rounds = 4, print_every = 10, val_max = 256;
    double lr = 1e-3, wd = 0, val_fraction = 0.1, spacing = 0, max_seconds = 0;
    int sync_bn = 0;
    cli_opt o[] = {
        { "task", CLI_CHOICE, &task_name, NULL, "proxy task (required)", 0, 0, "rotation|rpl|jigsaw|cpc|exemplar", 0 },
        { "dims", CLI_INT, &dims, "2|3", "3: volumes; 2: axial slices (required)", 2, 3, NULL, 0 },
        { "data", CLI_STR, &data, "MANIFEST", "dataset.json (MSD) or CSV file,label,split (required)", 0, 0, NULL, 0 },
        { "out", CLI_STR, &out, "CKPT", "checkpoint to write (.safetensors, atomic) (required)", 0, 0, NULL, 0 },
        { "epochs", CLI_INT, &epochs, "N", "train N epochs (passes over the training images)", 1, 1e9, NULL, 0 },
        { "max-seconds", CLI_DOUBLE, &max_seconds, "S", "also stop after S seconds of training (then evaluate and save;\n--resume continues)", 1e-3, 1e9, NULL, 0 },
        { "steps", CLI_INT, &steps, "N", "train until step N (total, also when resuming);\none of --epochs/--steps, default --epochs 10", 1, 1e12, NULL, 0 },
        { "batch", CLI_INT, &batch, "B", "images per step (default per task, 3D / 2D: rotation 8 / 32,\nrpl 16 / 32, jigsaw 8 / 16, cpc 4 / 16, exemplar 8 / 16)", 1, 65536, NULL, 0 },
        { "seed", CLI_INT, &seed, "S", "seed of the weights, the shuffle and the samples (default 0)", 0, 9.2e18, NULL, 0 },
        { "threads", CLI_INT, &threads, "T", "compute threads (default: all cores)", 1, 1024, NULL, 0 },
        { "backend", CLI_CHOICE, &backend_name, NULL, CLI_BACKEND_HELP, 0, 0, "cpu|cuda", 0 },
        { "loader-threads", CLI_INT, &loader_threads, "N", "image decoding threads ahead of training (default 1; 0: none)", 0, 64, NULL, 0 },
        { "log", CLI_STR, &log_path, "FILE.jsonl", "JSON log, one object per step + a final summary\n(appended to when resuming)", 0, 0, NULL, 0 },
        { "lr", CLI_DOUBLE, &lr, "X", "Adam learning rate (default 1e-3)", 0, 10, NULL, 0 },
        { "weight-decay", CLI_DOUBLE, &wd, "X", "Adam L2 weight decay (default 0)", 0, 10, NULL, 0 },
        { "schedule", CLI_CHOICE, &schedule, NULL, "learning-rate schedule (default constant);\ncosine decays to lr/100 at the last step", 0, 0, "constant|cosine", 0 },
        { "warmup", CLI_INT, &warmup, "N", "linear warm-up steps (default 0)", 0, 1e12, NULL, 0 },
        { "cases", CLI_STR, &cases_file, "FILE", "pretrain only on these cases of the manifest (one per line: index,\nimage path or file name; e.g. a protocol's pool_cases.txt)", 0, 0, NULL, 0 },
        { "opt", CLI_STR, &opts, "K=V,...", "task options (see below)", 0, 0, NULL, 0 },
        { "resume", CLI_STR, &resume, "CKPT", "continue the run that wrote CKPT; refused, naming the option, when\n--task, --dims, --opt, --batch, --lr, --weight-decay, --schedule or\n--warmup differ from CKPT's (--steps, --threads, --seed, ... may change)", 0, 0, NULL, 0 },
        { "val-fraction", CLI_DOUBLE, &val_fraction, "F", "held-out fraction of the images (default 0.1; 0: none)", 0, 0.95, NULL, 0 },
        { "split-seed", CLI_INT, &split_seed, "S", "seed of the train/validation split (default 0)", 0, 9.2e18, NULL, 0 },
        { "val-rounds", CLI_INT, &val_rounds, "N", "evaluation passes over the held-out images (default 4)", 1, 1000, NULL, 0 },
        { "val-max", CLI_INT, &val_max, "N", "use at most N held-out images (default 256)", 1, 1e9, NULL, 0 },
        { "eval-every", CLI_INT, &eval_every, "N", "also measure the proxy accuracy every N steps (default: at the end)", 1, 1e12, NULL, 0 },
        { "save-every", CLI_INT, &save_every, "N", "also write the checkpoint every N steps", 1, 1e12, NULL, 0 },
        { "normalisation", CLI_CHOICE, &normalisation, NULL, "per-image intensity normalisation (default zscore: over the\nnon-zero voxels; minmax: to [0,1], for binary masks)", 0, 0, "zscore|minmax|none", 0 },
        { "spacing", CLI_DOUBLE, &spacing, "MM", "resample the images to this isotropic voxel spacing", 0, 100, NULL, 0 },
        { "comm", CLI_CHOICE, &comm_name, NULL, CLI_COMM_HELP " (docs/distributed.md)", 0, 0, "mpi|nccl|auto", 0 },
        { "sync-bn", CLI_FLAG, &sync_bn, NULL, "under mpirun: batch norm statistics of the global batch, not of\neach rank's share (docs/distributed.md)", 0, 0, NULL, 0 },
        { "print-every", CLI_INT, &print_every, "N", "progress line every N steps when not on a terminal (default 10)", 1, 1e12, NULL, 0 },
    };
    const int n_o = (int)(sizeof o / sizeof o[0]);
    int rc = cli_parse(CMD, &HELP, argc, argv, o, n_o, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!task_name) return cli_usage_error(CMD, "missing --task (rotation|rpl|jigsaw|cpc|exemplar)");
    if (!dims) return cli_usage_error(CMD, "missing --dims (2 or 3)");
    if (!data) return cli_usage_error(CMD, "missing --data MANIFEST");
    if (!out) return cli_usage_error(CMD, "missing --out CKPT");
    if (epochs && steps) return cli_usage_error(CMD, "give --epochs or --steps, not both");
    if (!cli_file_readable(data)) return cli_error(CMD, "--data %s: no such readable file", data);
    if (cases_file && !cli_file_readable(cases_file)) return cli_error(CMD, "--cases %s: no such readable file", cases_file);
    if (resume && !cli_file_readable(resume)) return cli_error(CMD, "--resume %s: no such readable file", resume);
    if (!epochs && !steps) epochs = 10;
    if (!cli_dir_writable(out)) return cli_error(CMD, "--out %s: its directory does not exist or is not writable", out);

    ssl3d_ctx *ctx = NULL, *dctx = NULL;   /* the model's context; the images' (host memory) */
    ssl3d_pretrain_inputs *in = NULL;
    cli_jsonl log = { 0 };
    int32_t backend = SSL3D_BACKEND_CPU;
    if ((rc = cli_backend_parse(CMD, backend_name, &backend)) != 0) return rc;
    if ((rc = cli_backend_ctx(CMD, backend, &ctx)) != 0) return rc;
    if (threads) ssl3d_ctx_set_threads(ctx, (int32_t)threads);
    ssl3d_ctx_set_seed(ctx, (uint64_t)seed);
    if (cli_dist_attach(CMD, ctx, threads != 0, comm_name)) { rc = 1; goto done; }
    ssl3d_ctx_set_sync_batch_norm(ctx, sync_bn);
    /* Images are decoded, prepared and cut into samples in host memory: on a device
     * backend they live in a CPU context of their own and each batch is uploaded. */
    if (backend == SSL3D_BACKEND_CPU) dctx = ctx;
    else if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &dctx) != SSL3D_OK) {
        rc = cli_error(CMD, "cannot create a host context for the images");
        goto done;
    } else if (threads) ssl3d_ctx_set_threads(dctx, (int32_t)threads);
    /* The loop's inputs, prepared as in every front end (ssl3d/pretrain_inputs.h): the
     * loaders, the task, the batch, the held-out images. */
    ssl3d_pretrain_inputs_config ic;
    ssl3d_pretrain_inputs_config_init(&ic);
    ic.manifest = data;
    ic.cases_file = cases_file;
    ic.dims = (int32_t)dims;
    ic.batch = (int32_t)batch;
    ic.task = task_name;
    ic.options = opts;
    ic.seed = (uint64_t)seed;
    ic.normalisation = normalisation;
    for (int a = 0; a < 3; a++) ic.spacing[a] = spacing;
    ic.loader_threads = (int32_t)loader_threads;
    ic.val_fraction = val_fraction;
    ic.split_seed = (uint64_t)split_seed;
    ic.val_max = val_max;
    ic.data_ctx = dctx;
    if (ssl3d_pretrain_inputs_create(ctx, &ic, &in) != SSL3D_OK) { rc = inputs_error(ctx); goto done; }
    if (ssl3d_pretrain_inputs_unsplit(in))
        fprintf(stderr, "ssl3d %s: warning: a single image cannot be split; no held-out proxy accuracy\n", CMD);
    ssl3d_task *task = ssl3d_pretrain_inputs_task(in);
    batch = ssl3d_pretrain_inputs_batch(in);
    const int64_t per_epoch = ssl3d_pretrain_inputs_steps_per_epoch(in);
    if (epochs) steps = epochs * per_epoch;
    if (log_path && cli_dist_is_root() && cli_jsonl_open(CMD, &log, log_path, resume != NULL)) { rc = 1; goto done; }
    char ranks_s[64] = "";
    if (cli_dist_size() > 1)
        snprintf(ranks_s, sizeof ranks_s, " (%d ranks x %lld)", (int)cli_dist_size(), (long long)batch / cli_dist_size());
    if (cli_dist_is_root())
        fprintf(stderr, "ssl3d %s: %s %dD on %lld training %s (%lld held out), batch %lld%s, %lld steps, "
            "%lld encoder parameters, chance %.4f\n", CMD, task_name, (int)dims,
            (long long)ssl3d_pretrain_inputs_train_count(in), dims == 3 ? "volumes" : "slices",
            (long long)ssl3d_pretrain_inputs_val_count(in), (long long)batch, ranks_s, (long long)steps,
            (long long)ssl3d_module_param_numel(ssl3d_task_encoder(task)), ssl3d_task_chance(task));

    cli_train t = { 0 };
    t.cmd = CMD; t.ctx = ctx; t.task = task; t.inputs = in;   /* loader, batch, seed, held-out images */
    t.val_rounds = (int32_t)val_rounds; t.eval_every = eval_every;
    t.lr = lr; t.weight_decay = wd; t.schedule = schedule; t.warmup = warmup;
    if (max_seconds > 0) t.max_seconds = max_seconds;
    t.steps = steps; t.out = out; t.save_every = save_every;
    t.resume = resume; t.log = log_path ? &log : NULL; t.print_every = print_every;
    rc = cli_train_run(&t);
    if (!rc && cli_dist_is_root())
        printf("pretrain: %lld steps in %.1f s, proxy accuracy %.4f on %lld held-out samples (chance %.4f); "
               "checkpoint %s\n", (long long)t.steps_done, t.seconds, t.proxy_accuracy, (long long)t.val_samples,
               t.chance, out);
done:
    if (log.f && cli_jsonl_close(CMD, &log) && !rc) rc = 1;
    ssl3d_pretrain_inputs_release(in);
    if (dctx != ctx) ssl3d_ctx_release(dctx);
    cli_dist_detach(ctx);
    ssl3d_ctx_release(ctx);
    return rc;
}
