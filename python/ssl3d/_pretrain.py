"""ssl3d.pretrain: the pretraining loop of `ssl3d pretrain`, over the public per-step API.

This MIRRORS src/cli/cmd_pretrain.c (data loading, task creation) and src/cli/cli_train.c
(the step loop, validation, checkpoint) call for call, so that the same arguments give
the same loss trajectory, bitwise, as `bin/ssl3d pretrain --log` (python/tests checks
this). Change one, change the other. Step s:
    images = loader batch s; lr = schedule(optimiser step count);
    ssl3d_task_forward(training=1, seed, index=s); backward; Adam step; zero grad.
"""
import ctypes as C
import json
import math
import time
import warnings

from ._core import ERR_INVALID_ARG, Context, Error
from ._io import Checkpoint, _s
from ._lib import lib
from ._models import Task, _options

EVAL_SEED_MIX = 0x4556414C9E3779B9   # cli_train.c: evaluation draws use seed ^ "EVAL"
LOADER_TRAIN, LOADER_VAL, LOADER_ALL = 0, 1, 2
ZSCORE, CROP_NONZERO, MINMAX = 1, 2, 4   # loader flags (ssl3d/loader.h)
TASK_ROTATION, TASK_RPL, TASK_JIGSAW, TASK_CPC, TASK_EXEMPLAR = 0, 1, 2, 3, 4   # ssl3d/pretrain.h


class PretrainResult(dict):
    """Summary of a run: keys "steps", "losses" (one float per step of this call),
    "history" (the per-step records), "proxy_accuracy", "val_loss", "val_samples",
    "chance", "seconds", "checkpoint", "task", "dims". Also readable as attributes."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


def _num(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


class _Run:
    """The state of cli_train (one run)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.handles = []   # (release, ptr), released in reverse order

    def keep(self, release, ptr):
        self.handles.append((release, ptr))
        return ptr

    def check(self, st, what):
        if st != 0:
            raise Error(st, f"{what}: {self.ctx.last_error}")

    def release_all(self):
        for release, ptr in reversed(self.handles):
            release(ptr)
        self.handles.clear()


def _loader(run, manifest, subset, cases, dims, val_fraction, split_seed):
    ctx = run.ctx.ptr
    p = C.c_void_p()
    run.check(lib.ssl3d_loader_create(ctx, _s(manifest), subset, C.byref(p)), f"--data {manifest}")
    L = run.keep(lib.ssl3d_loader_release, p.value)
    if cases is not None:
        arr = (C.c_int64 * len(cases))(*cases)
        run.check(lib.ssl3d_loader_set_cases(ctx, L, arr, len(cases)), f"--data {manifest}")
    run.check(lib.ssl3d_loader_set_dims(ctx, L, dims), f"--data {manifest}")
    run.check(lib.ssl3d_loader_set_split(ctx, L, val_fraction, split_seed), f"--data {manifest}")
    return L


def pretrain(manifest, task, dims, out, *, epochs=None, steps=None, batch=None, seed=0, threads=None,
             loader_threads=1, lr=1e-3, weight_decay=0.0, schedule="constant", warmup=0, options=None,
             cases=None, val_fraction=0.1, split_seed=0, val_rounds=4, val_max=256, eval_every=0, save_every=0,
             normalisation="zscore", spacing=0.0, max_seconds=0.0, log=None, progress=None, resume=None):
    """Pretrain an encoder with a proxy task on the train split of ``manifest`` and write
    the checkpoint ``out``, exactly as ``ssl3d pretrain`` with the same options
    (docs/cli.md; the keyword names are the CLI's without dashes). ``options``: task
    options, a dict or "key=value,...". ``cases``: manifest case indices to pretrain on.
    ``progress(record)`` is called after every step with the record the CLI writes to its
    --log ({"step", "loss", "acc", "lr", "samples_per_s", "train_seconds", "epoch"[, "val_acc",
    "val_loss"]}); returning False stops the run (it is then evaluated and saved as after
    --max-seconds). ``log``: also write those records (and the final one) as JSONL.
    ``batch``: images per step; None takes the task's default, as the CLI does
    (_default_batch). Returns a PretrainResult."""
    if epochs and steps:
        raise Error(ERR_INVALID_ARG, "pretrain: give epochs or steps, not both")
    if schedule not in ("constant", "cosine"):
        raise Error(ERR_INVALID_ARG, f"pretrain: schedule {schedule!r} is not constant or cosine")
    if normalisation not in ("zscore", "minmax", "none"):
        raise Error(ERR_INVALID_ARG, f"pretrain: normalisation {normalisation!r} is not zscore, minmax or none")
    if not epochs and not steps:
        epochs = 10
    k = C.c_int32()
    if lib.ssl3d_task_kind_parse(_s(task), C.byref(k)) != 0:
        raise Error(ERR_INVALID_ARG, f"pretrain: unknown task {task!r} (rotation, rpl, jigsaw, cpc, exemplar)")
    ctx = Context(threads=threads, seed=seed)   # cmd_pretrain: create, threads, seed
    run = _Run(ctx)
    logf = open(log, "a" if resume else "w") if log else None
    try:
        return _pretrain(run, str(manifest), k.value, task, dims, str(out), epochs, steps, batch, seed,
                         loader_threads, lr, weight_decay, schedule, warmup, _options(options), cases,
                         val_fraction, split_seed, val_rounds, val_max, eval_every, save_every, normalisation,
                         spacing, max_seconds, logf, progress, resume)
    finally:
        run.release_all()
        if logf:
            logf.close()
        ctx.close()


def _pretrain(run, data, kind, task_name, dims, out, epochs, steps, batch, seed, loader_threads, lr, wd, schedule,
              warmup, opts, cases, val_fraction, split_seed, val_rounds, val_max, eval_every, save_every,
              normalisation, spacing, max_seconds, logf, progress, resume):
    ctx = run.ctx
    cp = ctx.ptr
    sp = (C.c_double * 3)(spacing, spacing, spacing) if spacing > 0 else None
    train = _loader(run, data, LOADER_TRAIN, cases, dims, val_fraction, split_seed)
    # Peek at one image with a throwaway loader: its channel count fixes the task's input.
    p0 = lib.ssl3d_loader_volume_path(train, 0)
    peek = C.c_void_p()
    run.check(lib.ssl3d_loader_create_files(cp, (C.c_char_p * 1)(p0), 1, LOADER_ALL, C.byref(peek)), f"--data {data}")
    first = C.c_void_p()
    try:
        run.check(lib.ssl3d_loader_set_dims(cp, peek.value, 3), f"--data {data}")
        run.check(lib.ssl3d_loader_item(cp, peek.value, 0, C.byref(first)), f"--data {data}")
    finally:
        lib.ssl3d_loader_release(peek.value)
    channels = lib.ssl3d_tensor_dim(first.value, 0)
    lib.ssl3d_tensor_release(first.value)
    tp = C.c_void_p()
    run.check(lib.ssl3d_task_create(cp, kind, dims, channels, _s(opts) if opts else None, C.byref(tp)),
              f"--opt {opts}" if opts else f"--task {task_name}")
    task = Task(ctx, tp.value)
    min_size = _task_min_size(ctx, task)
    if batch is None:
        batch = _default_batch(kind, dims)
    # The same preparation as fine-tuning: whole-image normalisation, no crop to the non-zero
    # box (the tasks place their crops in the foreground themselves).
    flags = {"zscore": ZSCORE, "minmax": MINMAX, "none": 0}[normalisation]
    n_items = C.c_int64()
    run.check(lib.ssl3d_loader_set_preprocess(cp, train, flags, min_size, sp), f"--data {data}")
    run.check(lib.ssl3d_loader_set_batch(cp, train, batch, seed), f"--data {data}")
    run.check(lib.ssl3d_loader_set_threads(cp, train, loader_threads, 4), f"--data {data}")
    run.check(lib.ssl3d_loader_count(cp, train, C.byref(n_items)), f"--data {data}")
    per_epoch = (n_items.value + batch - 1) // batch
    if epochs:
        steps = epochs * per_epoch

    val_imgs = []
    if val_fraction > 0 and lib.ssl3d_loader_num_volumes(train) > 0:
        nv = C.c_int64()
        try:
            val = _loader(run, data, LOADER_VAL, cases, dims, val_fraction, split_seed)
            run.check(lib.ssl3d_loader_set_preprocess(cp, val, flags, min_size, sp), f"--data {data}")
            run.check(lib.ssl3d_loader_set_threads(cp, val, loader_threads, 1), f"--data {data}")
            run.check(lib.ssl3d_loader_count(cp, val, C.byref(nv)), f"--data {data}")
        except Error:
            if lib.ssl3d_loader_num_volumes(train) > 1:
                raise
            warnings.warn("ssl3d.pretrain: a single image cannot be split; no held-out proxy accuracy")
            nv.value = 0
        n_val = min(nv.value, val_max)
        for i in range(n_val):
            t = C.c_void_p()
            run.check(lib.ssl3d_loader_item(cp, val, i if n_val == nv.value else i * nv.value // n_val,
                                            C.byref(t)), f"--data {data}: validation images")
            val_imgs.append(run.keep(lib.ssl3d_tensor_release, t.value))
    val_arr = (C.c_void_p * max(1, len(val_imgs)))(*val_imgs)

    # ---- cli_train_run
    t0 = time.perf_counter()
    opt = _make_optim(run, task, lr, wd)
    start = _restore(run, task, opt, str(resume), seed) if resume else 0
    sched = C.c_void_p()
    if schedule == "cosine":
        if steps <= warmup:
            raise Error(ERR_INVALID_ARG, f"pretrain: schedule cosine needs more steps ({steps}) than warmup ({warmup})")
        st = lib.ssl3d_lr_schedule_create_cosine(cp, lr, warmup, steps, lr * 0.01, C.byref(sched))
    else:
        st = lib.ssl3d_lr_schedule_create_constant(cp, lr, warmup, C.byref(sched))
    run.check(st, "learning-rate schedule")
    run.keep(lib.ssl3d_lr_schedule_release, sched.value)
    chance = [task.chance]
    imgs = (C.c_void_p * batch)()
    if start >= steps and max_seconds <= 0:
        warnings.warn(f"ssl3d.pretrain: the checkpoint is already at step {start} of {steps}: nothing to train")
    train_time, last_val, samples, step = 0.0, math.nan, 0, start
    history, losses, stop = [], [], False

    def evaluate():
        return _evaluate(run, task, val_arr, len(val_imgs), val_rounds, batch, seed, chance)

    while (train_time < max_seconds and step < steps) if max_seconds > 0 else step < steps:
        if stop:
            break
        ts = time.perf_counter()
        run.check(lib.ssl3d_loader_batch(cp, train, step, imgs), "loading a batch")
        loss, correct, total = C.c_void_p(), C.c_int64(), C.c_int64()
        lv = C.c_float(math.nan)
        st = lib.ssl3d_optim_apply_schedule(cp, opt, sched.value)
        if st == 0:
            st = lib.ssl3d_task_forward(cp, task.ptr, imgs, batch, seed, step, 1, C.byref(loss), C.byref(correct),
                                        C.byref(total))
        for i in range(batch):
            lib.ssl3d_tensor_release(imgs[i])
            imgs[i] = None
        if st == 0:
            st = lib.ssl3d_tensor_read(cp, loss.value, C.byref(lv), 4)
        if st == 0:
            st = lib.ssl3d_backward(cp, loss.value)
        lib.ssl3d_tensor_release(loss.value)
        if st == 0:
            st = lib.ssl3d_optim_step(cp, opt)
        if st == 0:
            st = lib.ssl3d_optim_zero_grad(cp, opt)
        if st != 0:
            msg = ctx.last_error
            lib.ssl3d_tape_reset(cp)
            hint = "" if math.isfinite(lv.value) else " (the loss is not finite; try a smaller lr)"
            raise Error(st, f"step {step}{hint}: {msg}")
        train_time += time.perf_counter() - ts
        samples += total.value
        sps = samples / train_time if train_time > 0 else 0.0
        acc = correct.value / total.value if total.value else math.nan
        rec = {"step": step, "loss": _num(lv.value), "acc": _num(acc), "lr": float(lib.ssl3d_optim_lr(opt)),
               "samples_per_s": sps, "train_seconds": train_time}
        if per_epoch > 0:
            rec["epoch"] = step // per_epoch
        if eval_every > 0 and val_imgs and (step + 1) % eval_every == 0 and step + 1 < steps:
            va, vl, _ = evaluate()
            last_val = va
            rec["val_acc"], rec["val_loss"] = _num(va), _num(vl)
        history.append(rec)
        losses.append(lv.value)
        if logf:
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
        if progress is not None and progress(dict(rec)) is False:
            stop = True
        if save_every > 0 and (step + 1) % save_every == 0 and step + 1 < steps:
            _save(run, task, opt, step + 1, out, seed, batch, lr, schedule)
        step += 1
    _save(run, task, opt, step, out, seed, batch, lr, schedule)
    proxy_acc, val_loss, val_samples = math.nan, math.nan, 0
    if val_imgs:
        proxy_acc, val_loss, val_samples = evaluate()
    seconds = time.perf_counter() - t0
    final = {"final": True, "steps": step, "proxy_accuracy": _num(proxy_acc), "chance": chance[0],
             "seconds": seconds, "val_loss": _num(val_loss), "val_samples": val_samples, "task": task.kind,
             "dims": task.dims, "checkpoint": out}
    if logf:
        logf.write(json.dumps(final) + "\n")
    res = PretrainResult(final)
    del res["final"]
    res["losses"], res["history"] = losses, history
    return res


def _task_min_size(ctx, task):
    """cmd_pretrain.c task_min_size: CPC and exemplar need a whole window of input_size."""
    v = C.c_double()
    if (lib.ssl3d_task_kind_of(task.ptr) in (TASK_CPC, TASK_EXEMPLAR) and
            lib.ssl3d_task_option(ctx.ptr, task.ptr, b"input_size", C.byref(v)) == 0 and v.value >= 1):
        return int(v.value)
    lib.ssl3d_ctx_clear_error(ctx.ptr)
    return 1


def _default_batch(kind, dims):
    """cmd_pretrain.c task_default_batch: images per step of each task (docs/tasks.md)."""
    three = dims == 3
    return {TASK_ROTATION: 8 if three else 32, TASK_RPL: 16 if three else 32, TASK_JIGSAW: 8 if three else 16,
            TASK_CPC: 4 if three else 16}.get(kind, 8 if three else 16)


def _make_optim(run, task, lr, wd):
    """Adam over the trainable tensors of every module, in module and tensor order."""
    cp = run.ctx.ptr
    o = C.c_void_p()
    run.check(lib.ssl3d_optim_create_adam(cp, lr, 0.9, 0.999, 1e-8, wd, C.byref(o)), "creating the optimiser")
    run.keep(lib.ssl3d_optim_release, o.value)
    for m in range(lib.ssl3d_task_module_count(task.ptr)):
        mod = lib.ssl3d_task_module(task.ptr, m)
        n = C.c_int32()
        run.check(lib.ssl3d_module_params(cp, mod, None, 0, C.byref(n)), "listing parameters")
        if n.value == 0:
            continue
        arr, got = (C.c_void_p * n.value)(), C.c_int32()
        run.check(lib.ssl3d_module_params(cp, mod, arr, n.value, C.byref(got)), "listing parameters")
        run.check(lib.ssl3d_optim_add_params(cp, o.value, arr, got.value, 0), "adding parameters to the optimiser")
    return o.value


def _save(run, task, opt, step, out, seed, batch, lr, schedule):
    """The checkpoint of cli_train.c: task tensors + metadata, "optim.*" state, "step",
    "pretrain.*" metadata."""
    ctx = run.ctx
    with Checkpoint(ctx) as ck:
        ctx.check(lib.ssl3d_task_save(ctx.ptr, task.ptr, ck.ptr))
        for i in range(lib.ssl3d_optim_num_state(opt)):
            name, t = C.c_char_p(), C.c_void_p()
            ctx.check(lib.ssl3d_optim_state_at(ctx.ptr, opt, i, C.byref(name), C.byref(t)))
            ctx.check(lib.ssl3d_checkpoint_add_tensor(ctx.ptr, ck.ptr, b"optim." + (name.value or b""), t.value))
        ck.set_meta("step", str(step))
        ck.set_meta("pretrain.seed", str(seed))
        ck.set_meta("pretrain.batch", str(batch))
        ck.set_meta("pretrain.lr", "%.9g" % lr)
        ck.set_meta("pretrain.schedule", schedule)
        try:
            ck.save(out)
        except Error as e:
            raise Error(e.status, f"writing the checkpoint {out}: {e.message}") from None


def _restore(run, task, opt, path, seed):
    """cli_train.c restore(): task tensors, optimiser state and the step of a checkpoint."""
    ctx = run.ctx
    what = f"resume {path}"
    with Checkpoint(ctx, path) as ck:
        meta = ck.metadata()
        if "task" in meta and meta["task"] != task.kind:
            raise Error(ERR_INVALID_ARG, f"{what}: the checkpoint is a '{meta['task']}' task, not '{task.kind}'")
        st = lib.ssl3d_task_load(ctx.ptr, task.ptr, ck.ptr)
        if st != 0:
            raise Error(st, f"{what}: {ctx.last_error} (use the same task, dims and options as the run that wrote it)")
        for i in range(lib.ssl3d_optim_num_state(opt)):
            name, t = C.c_char_p(), C.c_void_p()
            ctx.check(lib.ssl3d_optim_state_at(ctx.ptr, opt, i, C.byref(name), C.byref(t)))
            st = lib.ssl3d_checkpoint_copy_into(ctx.ptr, ck.ptr, b"optim." + name.value, t.value)
            if st != 0:
                raise Error(st, f"{what}: optimiser state: {ctx.last_error}")
        step = meta.get("step", "")
        if not step.isdigit():
            raise Error(ERR_INVALID_ARG, f'{what}: no valid "step" metadata (not written by ssl3d pretrain?)')
        if "pretrain.seed" in meta and meta["pretrain.seed"] != str(seed):
            warnings.warn(f"ssl3d.pretrain: {what} was trained with seed {meta['pretrain.seed']}, this run uses "
                          f"{seed}: the samples will differ from an uninterrupted run")
    return int(step)


def _evaluate(run, task, val, n_val, rounds, batch, seed, chance):
    """cli_train.c evaluate(): proxy accuracy and mean loss on the held-out images with
    deterministic evaluation samples; changes no state."""
    cp = run.ctx.ptr
    correct = total = chunks = 0
    loss_sum = chance_sum = 0.0
    prev = lib.ssl3d_set_grad_enabled(cp, 0)
    try:
        for r in range(rounds):
            i = 0
            while i < n_val:
                left = n_val - i
                n = left if left <= batch + 1 else batch   # a lone trailing image joins this chunk
                index = r * (n_val + 1) + i
                sub = C.cast(C.byref(val, i * C.sizeof(C.c_void_p)), C.POINTER(C.c_void_p))
                loss, c, tot = C.c_void_p(), C.c_int64(), C.c_int64()
                st = lib.ssl3d_task_forward(cp, task.ptr, sub, n, seed ^ EVAL_SEED_MIX, index, 0, C.byref(loss),
                                            C.byref(c), C.byref(tot))
                run.check(st, "validation")
                lv = C.c_float()
                lib.ssl3d_tensor_read(cp, loss.value, C.byref(lv), 4)
                lib.ssl3d_tensor_release(loss.value)
                loss_sum += lv.value
                chunks += 1
                correct += c.value
                total += tot.value
                chance_sum += lib.ssl3d_task_chance(task.ptr) * tot.value
                i += n
    finally:
        lib.ssl3d_set_grad_enabled(cp, prev)
        lib.ssl3d_tape_reset(cp)
    if total:
        chance[0] = chance_sum / total
    return (correct / total if total else math.nan, loss_sum / chunks if chunks else math.nan, total)
