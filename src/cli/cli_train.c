/* The CLI adapter of the pretraining loop (cli_train.h): the loop is ssl3d_pretrain_run;
 * here its JSON records become the --log lines (rewritten by cJSON exactly as before the
 * loop moved into the library), the progress line and stderr warnings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli_train.h"
#include "cli_dist.h"
#include "ssl3d/comm.h"

typedef struct log_state {
    cli_train *t;
    cli_progress prog;
    int64_t records;        /* step records seen: steps done in this process */
    double last_val;
    int failed;             /* a log line could not be written (error printed) */
} log_state;

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A step record: log line + progress line; the final record: log line + results. */
static int32_t on_record(void *user, const char *json) {
    log_state *s = user;
    cli_train *t = s->t;
    cJSON *o = cJSON_Parse(json);
    if (!o) { s->failed = cli_error(t->cmd, "internal error: bad log record %s", json); return 1; }
    const cJSON *w = cJSON_GetObjectItem(o, "warning");
    if (cJSON_IsString(w)) {
        cli_progress_print(&s->prog, "ssl3d %s: warning: %s", t->cmd, w->valuestring);
        cJSON_Delete(o);
        return 0;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItem(o, "final"))) {
        t->steps_done = (int64_t)num(o, "steps");
        t->proxy_accuracy = num(o, "proxy_accuracy");
        t->val_loss = num(o, "val_loss");
        t->chance = num(o, "chance");
        t->seconds = num(o, "seconds");
        t->val_samples = (int64_t)num(o, "val_samples");
        if (cli_jsonl_write(t->cmd, t->log, o)) s->failed = 1;
        return s->failed;
    }
    const int64_t step = (int64_t)num(o, "step");
    const double lv = num(o, "loss"), acc = num(o, "acc"), sps = num(o, "samples_per_s");
    const double train_time = num(o, "train_seconds");
    const int evaluated = cJSON_GetObjectItem(o, "val_acc") != NULL;
    if (evaluated) s->last_val = num(o, "val_acc");
    if (cli_jsonl_write(t->cmd, t->log, o)) { s->failed = 1; return 1; }
    const int64_t done = ++s->records;
    double remain = t->max_seconds > 0 ? t->max_seconds - train_time
                                       : (double)(t->steps - step - 1) * (train_time / (double)done);
    if (remain < 0) remain = 0;
    char valbuf[48] = "", eta[32];
    if (isfinite(s->last_val)) snprintf(valbuf, sizeof valbuf, "  val acc %.3f", s->last_val);
    int plain = t->print_every <= 1 || (step + 1) % t->print_every == 0 || step + 1 == t->steps || evaluated;
    if (t->max_seconds > 0)
        cli_progress_update(&s->prog, plain, "step %lld  loss %.4f  acc %.3f%s  %.1f samples/s  ETA %s",
                            (long long)step + 1, lv, acc, valbuf, sps, cli_format_duration(remain, eta, sizeof eta));
    else
        cli_progress_update(&s->prog, plain, "step %lld/%lld  loss %.4f  acc %.3f%s  %.1f samples/s  ETA %s",
                            (long long)step + 1, (long long)t->steps, lv, acc, valbuf, sps,
                            cli_format_duration(remain, eta, sizeof eta));
    return 0;
}

static ssl3d_status batch_from_callback(void *user, ssl3d_ctx *ctx, int64_t step, int32_t n, ssl3d_tensor **images) {
    (void)n;   /* the CLI's callbacks fill the whole batch: they run without a communicator */
    const cli_train *t = user;
    return t->batch(t->ud, ctx, step, images);
}

/* A resume refused for a setting that differs from the checkpoint's (pretrain_run.c,
 * same_settings: "ssl3d_pretrain_run: resume CKPT: <setting>: the checkpoint has X, this
 * run has Y (...)"), said with the option that sets it; other errors as they are. */
static int resume_error(const cli_train *t, const char *msg) {
    static const struct { const char *setting, *option; } map[] = {
        { "task", "--task" }, { "dims", "--dims" }, { "config.batch", "--batch" }, { "config.lr", "--lr" },
        { "config.weight_decay", "--weight-decay" }, { "config.schedule", "--schedule" },
        { "config.warmup", "--warmup" },
    };
    static const char HAS[] = ": the checkpoint has ", MINE[] = ", this run has ", END[] = " (resume with ";
    char prefix[1200];
    snprintf(prefix, sizeof prefix, "ssl3d_pretrain_run: resume %s: ", t->resume);
    const size_t np = strlen(prefix);
    if (strncmp(msg, prefix, np)) return cli_error(t->cmd, "%s", msg);
    const char *setting = msg + np, *has = strstr(setting, HAS), *mine = has ? strstr(has, MINE) : NULL;
    const char *end = mine ? strstr(mine, END) : NULL;
    if (!end) return cli_error(t->cmd, "%s", msg);
    const char *theirs = has + sizeof HAS - 1;
    mine += sizeof MINE - 1;
    const int ns = (int)(has - setting), nt = (int)(mine - (sizeof MINE - 1) - theirs), nm = (int)(end - mine);
    char option[120] = "";
    if (!strncmp(setting, "option ", 7)) snprintf(option, sizeof option, "--opt %.*s", ns - 7, setting + 7);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if ((int)strlen(map[i].setting) == ns && !strncmp(setting, map[i].setting, (size_t)ns))
            snprintf(option, sizeof option, "%s", map[i].option);
    if (ns == 11 && !strncmp(setting, "in_channels", 11))
        return cli_error(t->cmd, "--resume %s: the checkpoint was trained on %.*s-channel images, the images of "
                         "--data have %.*s channels", t->resume, nt, theirs, nm, mine);
    if (!option[0]) return cli_error(t->cmd, "%s", msg);
    return cli_error(t->cmd, "--resume %s: %s: the checkpoint was trained with %.*s, the command line has %.*s "
                     "(resume with the options of the run that wrote it)", t->resume, option, nt, theirs, nm, mine);
}

/* The file (and, in 2D, the axial slice) that image k of the task call of an error came
 * from: the library names an image by its place in the call ("ssl3d_task_forward:
 * images[k]") in training step s (item idx[first + k] of loader batch s, first = this
 * rank's share) or in the validation of held-out images [i, ...) (held-out image i + k).
 * NULL when the message is not such an error or the inputs are not a manifest's. */
static const char *image_file(const cli_train *t, const ssl3d_pretrain_config *c, const char *msg, const char **after,
                              int64_t *slice) {
    static const char IMAGE[] = "ssl3d_task_forward: images[", STEP[] = "ssl3d_pretrain_run: step ",
                      VAL[] = "ssl3d_pretrain_run: validation, held-out images [";
    const char *at = strstr(msg, IMAGE);
    if (!t->inputs || !at) return NULL;
    char *end = NULL;
    const long long k = strtoll(at + sizeof IMAGE - 1, &end, 10);
    if (k < 0 || *end != ']') return NULL;
    *after = end + 1;
    if (!strncmp(msg, VAL, sizeof VAL - 1))
        return ssl3d_pretrain_inputs_val_path(t->inputs, strtoll(msg + sizeof VAL - 1, NULL, 10) + k, slice);
    if (strncmp(msg, STEP, sizeof STEP - 1)) return NULL;
    const long long s = strtoll(msg + sizeof STEP - 1, NULL, 10);
    int64_t first = 0, n = c->batch;
    if (cli_dist_size() > 1 && ssl3d_comm_shard(c->batch, cli_dist_rank(), cli_dist_size(), &first, &n) != SSL3D_OK)
        return NULL;
    ssl3d_loader *loader = ssl3d_pretrain_inputs_loader(t->inputs);
    int64_t *idx = malloc((size_t)c->batch * sizeof *idx);
    const char *path = NULL;
    if (idx && k < n && ssl3d_loader_batch_indices(c->data_ctx ? c->data_ctx : t->ctx, loader, s, idx) == SSL3D_OK)
        path = ssl3d_loader_item_path(loader, idx[first + k], slice);
    free(idx);
    return path;
}

/* An error of the loop, with the file of the image at fault when it names one by its place
 * in a task call (image_file). */
static int run_error(const cli_train *t, const ssl3d_pretrain_config *c) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ssl3d_ctx_last_error(t->ctx));   /* a copy: image_file may set errors */
    static const char RESUME[] = "ssl3d_pretrain_run: resume ";
    if (t->resume && !strncmp(msg, RESUME, sizeof RESUME - 1)) return resume_error(t, msg);
    const char *after = NULL;
    int64_t slice = -1;
    const char *path = image_file(t, c, msg, &after, &slice);
    if (!path) return cli_error(t->cmd, "%s", msg);
    char where[64] = "";
    if (slice >= 0) snprintf(where, sizeof where, ", axial slice %lld", (long long)slice);
    return cli_error(t->cmd, "%.*s (%s%s)%s", (int)(after - msg), msg, path, where, after);
}

int cli_train_run(cli_train *t) {
    /* Option errors keep the CLI's option names and usage exit status. */
    if (!strcmp(t->schedule, "cosine") && t->steps <= t->warmup)
        return cli_usage_error(t->cmd, "--schedule cosine needs more steps (%lld) than --warmup (%lld)",
                               (long long)t->steps, (long long)t->warmup);
    ssl3d_pretrain_config c;
    ssl3d_pretrain_config_init(&c);
    c.loader = t->loader;
    if (!t->loader) { c.batch_fn = batch_from_callback; c.batch_user = t; }
    c.batch = t->batch_size;
    c.val_rounds = t->val_rounds;
    c.seed = t->seed;
    c.steps = t->steps;
    c.max_seconds = t->max_seconds;
    c.lr = t->lr;
    c.weight_decay = t->weight_decay;
    c.schedule = t->schedule;
    c.warmup = t->warmup;
    c.eval_every = t->eval_every;
    c.save_every = t->save_every;
    c.steps_per_epoch = t->steps_per_epoch;
    c.val = t->val;
    c.n_val = t->n_val;
    c.out = t->out;
    c.resume = t->resume;
    c.meta = t->meta;
    c.data_ctx = t->data_ctx;
    if (t->inputs && ssl3d_pretrain_inputs_fill_config(t->ctx, t->inputs, &c) != SSL3D_OK)
        return cli_error(t->cmd, "%s", ssl3d_ctx_last_error(t->ctx));
    log_state s = { .t = t, .last_val = NAN };
    cli_progress_init(&s.prog, stderr);
    t->proxy_accuracy = t->val_loss = NAN;
    t->chance = ssl3d_task_chance(t->task);
    ssl3d_status st = ssl3d_pretrain_run(t->ctx, t->task, &c, on_record, &s);
    cli_progress_done(&s.prog);
    if (s.failed) return 1;
    return st == SSL3D_OK ? 0 : run_error(t, &c);
}
