"""ssl3d.pretrain: `ssl3d pretrain` from Python.

The loop itself (steps, schedule, validation, checkpoints, resume) is the library's
ssl3d_pretrain_run (include/ssl3d/pretrain_run.h), the same call the CLI makes. This file
only prepares its inputs the way src/cli/cmd_pretrain.c does (the loaders, the task, the
held-out images, the default batch) -- that part MIRRORS cmd_pretrain.c call for call, so
that the same arguments give the same loss trajectory, bitwise, as `bin/ssl3d pretrain
--log` (python/tests checks this): change one, change the other.
"""
import ctypes as C
import json
import math
import warnings

from ._core import ERR_INVALID_ARG, Context, Error
from ._io import _s
from ._lib import PRETRAIN_LOG_FN, PretrainConfig, lib
from ._models import Task, _options

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


class _Run:
    """The handles of one run, released together."""

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

    # ---- the loop: ssl3d_pretrain_run
    cfg = PretrainConfig()
    lib.ssl3d_pretrain_config_init(C.byref(cfg))
    cfg.loader, cfg.batch, cfg.val_rounds, cfg.seed, cfg.steps = train, batch, val_rounds, seed, steps
    cfg.max_seconds, cfg.lr, cfg.weight_decay, cfg.schedule, cfg.warmup = max_seconds, lr, wd, _s(schedule), warmup
    cfg.eval_every, cfg.save_every, cfg.steps_per_epoch = eval_every, save_every, per_epoch
    cfg.val = C.cast(val_arr, C.POINTER(C.c_void_p))
    cfg.n_val = len(val_imgs)
    out_b = _s(out)
    resume_b = _s(str(resume)) if resume else None
    cfg.out, cfg.resume = out_b, resume_b
    history, losses, final, failure = [], [], [], []

    def on_record(_user, text):
        try:
            rec = json.loads(text.decode())
            if "warning" in rec:
                warnings.warn("ssl3d.pretrain: " + rec["warning"])
                return 0
            if logf:
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
            if rec.get("final"):
                final.append(rec)
                return 0
            history.append(rec)
            losses.append(rec["loss"] if rec["loss"] is not None else math.nan)
            return 1 if progress is not None and progress(dict(rec)) is False else 0
        except BaseException as e:   # an exception cannot cross the C frames: stop, re-raise after
            failure.append(e)
            return 1

    cb = PRETRAIN_LOG_FN(on_record)
    st = lib.ssl3d_pretrain_run(cp, task.ptr, C.byref(cfg), cb, None)
    if failure:
        raise failure[0]
    if st != 0:
        raise Error(st, ctx.last_error)
    res = PretrainResult(final[0])
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
