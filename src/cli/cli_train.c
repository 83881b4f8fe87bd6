/* The pretraining loop shared by `ssl3d pretrain` and `ssl3d demo` (cli_train.h).
 *
 * Step s: images = batch(s); lr from the schedule; ssl3d_task_forward(training=1,
 * index=s); backward; optimiser step; zero grad. Everything a step depends on is a
 * function of (seed, s) and the state saved in the checkpoint (task tensors, optimiser
 * moments and step counts, step), so a resumed run reproduces an uninterrupted one
 * bitwise. Validation never changes that state (training=0, no tape). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli_train.h"
#include "cli_dist.h"

/* Evaluation draws come from their own seed (the run's seed mixed with "EVAL") with small
 * indices: the tasks bound the index (CPC < 2^39, exemplar < 2^38, sample keys index << 16),
 * so a large index offset is not an option. */
#define EVAL_SEED_MIX UINT64_C(0x4556414c9e3779b9)

static int lib_error(const cli_train *t, const char *what) {
    return cli_error(t->cmd, "%s: %s", what, ssl3d_ctx_last_error(t->ctx));
}

/* Adam over the trainable tensors of every module, in module and tensor order. */
static int make_optim(cli_train *t, ssl3d_optim **out) {
    ssl3d_optim *opt = NULL;
    if (ssl3d_optim_create_adam(t->ctx, (float)t->lr, 0.9f, 0.999f, 1e-8f, (float)t->weight_decay, &opt) != SSL3D_OK)
        return lib_error(t, "creating the optimiser");
    for (int32_t m = 0; m < ssl3d_task_module_count(t->task); m++) {
        ssl3d_module *mod = ssl3d_task_module(t->task, m);
        int32_t n = 0;
        if (ssl3d_module_params(t->ctx, mod, NULL, 0, &n) != SSL3D_OK) { ssl3d_optim_release(opt); return lib_error(t, "listing parameters"); }
        if (n == 0) continue;
        ssl3d_tensor **p = malloc((size_t)n * sizeof *p);
        int32_t got = 0;
        ssl3d_status st = p ? ssl3d_module_params(t->ctx, mod, p, n, &got) : SSL3D_ERR_NOMEM;
        if (st == SSL3D_OK) st = ssl3d_optim_add_params(t->ctx, opt, p, got, 0);
        free(p);
        if (st != SSL3D_OK) { ssl3d_optim_release(opt); return lib_error(t, "adding parameters to the optimiser"); }
    }
    *out = opt;
    return 0;
}

static int save(cli_train *t, ssl3d_optim *opt, int64_t step) {
    ssl3d_checkpoint *ck = NULL;
    char buf[64];
    ssl3d_status st = ssl3d_checkpoint_create(t->ctx, &ck);
    if (st == SSL3D_OK) st = ssl3d_task_save(t->ctx, t->task, ck);
    for (int32_t i = 0; st == SSL3D_OK && i < ssl3d_optim_num_state(opt); i++) {
        const char *name = NULL;
        ssl3d_tensor *s = NULL;
        st = ssl3d_optim_state_at(t->ctx, opt, i, &name, &s);
        char full[300];
        snprintf(full, sizeof full, "optim.%s", name ? name : "");
        if (st == SSL3D_OK) st = ssl3d_checkpoint_add_tensor(t->ctx, ck, full, s);
    }
    snprintf(buf, sizeof buf, "%lld", (long long)step);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(t->ctx, ck, "step", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)t->seed);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(t->ctx, ck, "pretrain.seed", buf);
    snprintf(buf, sizeof buf, "%d", (int)t->batch_size);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(t->ctx, ck, "pretrain.batch", buf);
    snprintf(buf, sizeof buf, "%.9g", t->lr);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(t->ctx, ck, "pretrain.lr", buf);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_set_meta(t->ctx, ck, "pretrain.schedule", t->schedule);
    for (int i = 0; st == SSL3D_OK && t->meta && t->meta[i] && t->meta[i + 1]; i += 2)
        st = ssl3d_checkpoint_set_meta(t->ctx, ck, t->meta[i], t->meta[i + 1]);
    if (st == SSL3D_OK) st = ssl3d_checkpoint_save(t->ctx, ck, t->out);
    ssl3d_checkpoint_release(ck);
    if (st != SSL3D_OK) return cli_error(t->cmd, "writing the checkpoint %s: %s", t->out, ssl3d_ctx_last_error(t->ctx));
    return 0;
}

/* Restore task tensors, optimiser state and the step from t->resume. */
static int restore(cli_train *t, ssl3d_optim *opt, int64_t *step) {
    ssl3d_checkpoint *ck = NULL;
    if (ssl3d_checkpoint_load(t->ctx, t->resume, &ck) != SSL3D_OK)
        return cli_error(t->cmd, "--resume %s: %s", t->resume, ssl3d_ctx_last_error(t->ctx));
    const char *v = NULL;
    int rc = 0;
    if (ssl3d_checkpoint_get_meta(t->ctx, ck, "task", &v) == SSL3D_OK &&
        strcmp(v, ssl3d_task_kind_name(ssl3d_task_kind_of(t->task))) != 0)
        rc = cli_error(t->cmd, "--resume %s: the checkpoint is a '%s' task, not '%s'", t->resume, v,
                       ssl3d_task_kind_name(ssl3d_task_kind_of(t->task)));
    if (!rc && ssl3d_task_load(t->ctx, t->task, ck) != SSL3D_OK)
        rc = cli_error(t->cmd, "--resume %s: %s (use the same --task, --dims and --opt as the run that wrote it)",
                       t->resume, ssl3d_ctx_last_error(t->ctx));
    for (int32_t i = 0; !rc && i < ssl3d_optim_num_state(opt); i++) {
        const char *name = NULL;
        ssl3d_tensor *s = NULL;
        char full[300];
        if (ssl3d_optim_state_at(t->ctx, opt, i, &name, &s) != SSL3D_OK) { rc = lib_error(t, "optimiser state"); break; }
        snprintf(full, sizeof full, "optim.%s", name);
        if (ssl3d_checkpoint_copy_into(t->ctx, ck, full, s) != SSL3D_OK)
            rc = cli_error(t->cmd, "--resume %s: optimiser state: %s", t->resume, ssl3d_ctx_last_error(t->ctx));
    }
    if (!rc) {
        char *end = NULL;
        long long s = -1;
        if (ssl3d_checkpoint_get_meta(t->ctx, ck, "step", &v) == SSL3D_OK) s = strtoll(v, &end, 10);
        if (s < 0 || !end || *end)
            rc = cli_error(t->cmd, "--resume %s: no valid \"step\" metadata (not written by ssl3d pretrain?)", t->resume);
        else *step = s;
    }
    if (!rc && ssl3d_checkpoint_get_meta(t->ctx, ck, "pretrain.seed", &v) == SSL3D_OK &&
        strtoull(v, NULL, 10) != t->seed)
        fprintf(stderr, "ssl3d %s: warning: --resume %s was trained with --seed %s, this run uses %llu: the samples "
                "will differ from an uninterrupted run\n", t->cmd, t->resume, v, (unsigned long long)t->seed);
    ssl3d_checkpoint_release(ck);
    return rc;
}

/* Proxy accuracy and mean loss on the validation images with evaluation samples. */
static int evaluate(cli_train *t, double *acc, double *loss, int64_t *samples) {
    int64_t correct = 0, total = 0, chunks = 0;
    double loss_sum = 0, chance_sum = 0;
    int prev = ssl3d_set_grad_enabled(t->ctx, 0);
    int rc = 0;
    for (int32_t r = 0; !rc && r < t->val_rounds; r++)
        for (int64_t i = 0, next = 0; !rc && i < t->n_val; i = next) {
            int64_t left = t->n_val - i;
            /* A lone trailing image joins this chunk: exemplar and CPC need >= 2 images per call. */
            int32_t n = (int32_t)(left <= t->batch_size + 1 ? left : t->batch_size);
            next = i + n;
            ssl3d_tensor *l = NULL;
            int64_t c = 0, tot = 0;
            uint64_t index = (uint64_t)r * (uint64_t)(t->n_val + 1) + (uint64_t)i;
            if (ssl3d_task_forward(t->ctx, t->task, t->val + i, n, t->seed ^ EVAL_SEED_MIX, index, 0, &l, &c, &tot) !=
                SSL3D_OK) {
                rc = lib_error(t, "validation");
                break;
            }
            float lv = 0;
            ssl3d_tensor_read(t->ctx, l, &lv, 4);
            ssl3d_tensor_release(l);
            loss_sum += lv;
            chunks++;
            correct += c;
            total += tot;
            /* The chance of a call can depend on its size (exemplar: 1/(2n-1)): weight by samples. */
            chance_sum += ssl3d_task_chance(t->task) * (double)tot;
        }
    ssl3d_set_grad_enabled(t->ctx, prev);
    ssl3d_tape_reset(t->ctx);
    *acc = total ? (double)correct / (double)total : NAN;
    *loss = chunks ? loss_sum / (double)chunks : NAN;
    *samples = total;
    if (!rc && total) t->chance = chance_sum / (double)total;
    return rc;
}

static cJSON *num_or_null(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

int cli_train_run(cli_train *t) {
    const double t0 = cli_now();
    ssl3d_optim *opt = NULL;
    ssl3d_lr_schedule *sched = NULL;
    int rc = make_optim(t, &opt);
    int64_t start = 0;
    if (!rc && t->resume) rc = restore(t, opt, &start);
    /* Data-parallel: each rank trains on its B/ranks images of every global batch, starting
     * from rank 0's weights; only rank 0 evaluates, logs and writes (docs/distributed.md). */
    const int32_t ranks = ssl3d_ctx_comm_size(t->ctx), rank = ssl3d_ctx_comm_rank(t->ctx);
    const int32_t local_batch = t->batch_size / ranks;
    const int root = rank == 0;
    if (!rc && t->batch_size % ranks)
        rc = cli_usage_error(t->cmd, "--batch %d does not split evenly over %d ranks", (int)t->batch_size, (int)ranks);
    if (!rc && ssl3d_task_set_image_offset(t->ctx, t->task, (int64_t)rank * local_batch) != SSL3D_OK)
        rc = cli_usage_error(t->cmd, "--batch %d: %s", (int)t->batch_size, ssl3d_ctx_last_error(t->ctx));
    if (!rc && cli_dist_broadcast_task(t->ctx, t->task) != SSL3D_OK) rc = lib_error(t, "broadcasting the weights");
    if (!rc) {
        ssl3d_status st;
        if (!strcmp(t->schedule, "cosine")) {
            if (t->steps <= t->warmup)
                rc = cli_usage_error(t->cmd, "--schedule cosine needs more steps (%lld) than --warmup (%lld)",
                                     (long long)t->steps, (long long)t->warmup);
            st = rc ? SSL3D_OK : ssl3d_lr_schedule_create_cosine(t->ctx, (float)t->lr, t->warmup, t->steps,
                                                                  (float)(t->lr * 0.01), &sched);
        } else {
            st = ssl3d_lr_schedule_create_constant(t->ctx, (float)t->lr, t->warmup, &sched);
        }
        if (!rc && st != SSL3D_OK) rc = lib_error(t, "learning-rate schedule");
    }
    if (!rc && root && start >= t->steps && t->max_seconds <= 0)
        fprintf(stderr, "ssl3d %s: the checkpoint is already at step %lld of %lld: nothing to train\n", t->cmd,
                (long long)start, (long long)t->steps);
    t->chance = ssl3d_task_chance(t->task);
    cli_progress prog;
    cli_progress_init(&prog, stderr);
    ssl3d_tensor **imgs = calloc((size_t)t->batch_size, sizeof *imgs);
    if (!root) t->n_val = 0;
    if (!imgs && !rc) rc = cli_error(t->cmd, "out of memory");
    double train_time = 0, last_val = NAN;
    int64_t samples = 0, step = start;
    char eta[32];
    for (; !rc && (t->max_seconds > 0 ? train_time < t->max_seconds && step < t->steps : step < t->steps); step++) {
        const double ts = cli_now();
        ssl3d_ctx *dctx = t->data_ctx ? t->data_ctx : t->ctx;
        if (t->batch(t->ud, dctx, step, imgs) != SSL3D_OK) {
            rc = cli_error(t->cmd, "loading a batch: %s", ssl3d_ctx_last_error(dctx));
            break;
        }
        ssl3d_tensor *loss = NULL;
        int64_t correct = 0, total = 0;
        float lv = NAN;
        ssl3d_status st = ssl3d_optim_apply_schedule(t->ctx, opt, sched);
        if (st == SSL3D_OK)
            st = ssl3d_task_forward(t->ctx, t->task, imgs, local_batch, t->seed, (uint64_t)step, 1, &loss,
                                    &correct, &total);
        for (int32_t k = 0; k < local_batch; k++) { ssl3d_tensor_release(imgs[k]); imgs[k] = NULL; }
        if (st == SSL3D_OK) st = ssl3d_tensor_read(t->ctx, loss, &lv, 4);
        if (st == SSL3D_OK) st = ssl3d_backward(t->ctx, loss);
        ssl3d_tensor_release(loss);
        double clock = train_time + (cli_now() - ts);
        if (st == SSL3D_OK) st = cli_dist_average_step(t->ctx, t->task, &lv, &correct, &total, &clock);
        if (st == SSL3D_OK) st = ssl3d_optim_step(t->ctx, opt);
        if (st == SSL3D_OK) st = ssl3d_optim_zero_grad(t->ctx, opt);
        if (st != SSL3D_OK) {
            rc = cli_error(t->cmd, "step %lld%s: %s", (long long)step, isfinite(lv) ? "" : " (the loss is not finite;"
                           " try a smaller --lr)", ssl3d_ctx_last_error(t->ctx));
            ssl3d_tape_reset(t->ctx);
            break;
        }
        train_time = ranks > 1 ? clock : train_time + (cli_now() - ts);   /* ranks agree on when to stop */
        samples += total;
        const int64_t done = step + 1 - start;
        const double sps = train_time > 0 ? (double)samples / train_time : 0;
        const double acc = total ? (double)correct / (double)total : NAN;
        double val_acc = NAN, val_loss = NAN;
        int64_t vs = 0;
        int evaluated = 0;
        if (t->eval_every > 0 && t->n_val > 0 && (step + 1) % t->eval_every == 0 && step + 1 < t->steps) {
            if ((rc = evaluate(t, &val_acc, &val_loss, &vs)) != 0) break;
            last_val = val_acc;
            evaluated = 1;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)step);
        cJSON_AddItemToObject(o, "loss", num_or_null(lv));
        cJSON_AddItemToObject(o, "acc", num_or_null(acc));
        cJSON_AddNumberToObject(o, "lr", (double)ssl3d_optim_lr(opt));
        cJSON_AddNumberToObject(o, "samples_per_s", sps);
        cJSON_AddNumberToObject(o, "train_seconds", train_time);   /* training time so far (this process) */
        if (t->steps_per_epoch > 0) cJSON_AddNumberToObject(o, "epoch", (double)(step / t->steps_per_epoch));
        if (evaluated) {
            cJSON_AddItemToObject(o, "val_acc", num_or_null(val_acc));
            cJSON_AddItemToObject(o, "val_loss", num_or_null(val_loss));
        }
        if (!root) cJSON_Delete(o);
        else if ((rc = cli_jsonl_write(t->cmd, t->log, o)) != 0) break;
        double remain = t->max_seconds > 0 ? t->max_seconds - train_time
                                           : (double)(t->steps - step - 1) * (train_time / (double)done);
        if (remain < 0) remain = 0;
        char valbuf[48] = "";
        if (isfinite(last_val)) snprintf(valbuf, sizeof valbuf, "  val acc %.3f", last_val);
        int plain = t->print_every <= 1 || (step + 1) % t->print_every == 0 || step + 1 == t->steps || evaluated;
        if (root && t->max_seconds > 0)
            cli_progress_update(&prog, plain, "step %lld  loss %.4f  acc %.3f%s  %.1f samples/s  ETA %s",
                                (long long)step + 1, lv, acc, valbuf, sps, cli_format_duration(remain, eta, sizeof eta));
        else if (root)
            cli_progress_update(&prog, plain, "step %lld/%lld  loss %.4f  acc %.3f%s  %.1f samples/s  ETA %s",
                                (long long)step + 1, (long long)t->steps, lv, acc, valbuf, sps,
                                cli_format_duration(remain, eta, sizeof eta));
        if (root && t->save_every > 0 && (step + 1) % t->save_every == 0 && step + 1 < t->steps)
            if ((rc = save(t, opt, step + 1)) != 0) break;
    }
    cli_progress_done(&prog);
    t->steps_done = step;
    if (!rc && root) rc = save(t, opt, step);
    t->proxy_accuracy = NAN;
    t->val_loss = NAN;
    t->val_samples = 0;
    if (!rc && t->n_val > 0) rc = evaluate(t, &t->proxy_accuracy, &t->val_loss, &t->val_samples);
    t->seconds = cli_now() - t0;
    if (!rc && root) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "final", 1);
        cJSON_AddNumberToObject(o, "steps", (double)step);
        cJSON_AddItemToObject(o, "proxy_accuracy", num_or_null(t->proxy_accuracy));
        cJSON_AddNumberToObject(o, "chance", t->chance);
        cJSON_AddNumberToObject(o, "seconds", t->seconds);
        cJSON_AddItemToObject(o, "val_loss", num_or_null(t->val_loss));
        cJSON_AddNumberToObject(o, "val_samples", (double)t->val_samples);
        cJSON_AddStringToObject(o, "task", ssl3d_task_kind_name(ssl3d_task_kind_of(t->task)));
        cJSON_AddNumberToObject(o, "dims", (double)ssl3d_task_dims(t->task));
        cJSON_AddStringToObject(o, "checkpoint", t->out);
        rc = cli_jsonl_write(t->cmd, t->log, o);
    }
    free(imgs);
    ssl3d_lr_schedule_release(sched);
    ssl3d_optim_release(opt);
    return rc;
}
