"""ssl3d.pretrain: `ssl3d pretrain` from Python.

Python runs exactly the C calls of the CLI (src/cli/cmd_pretrain.c): the inputs are
prepared by the library's ssl3d_pretrain_inputs_create (include/ssl3d/pretrain_inputs.h:
the loaders, the task, the default batch, the held-out images) and the loop is
ssl3d_pretrain_run (include/ssl3d/pretrain_run.h). No policy of either is repeated here,
so the same arguments give the same loss trajectory, bitwise, as `bin/ssl3d pretrain --log`
(python/tests/test_pretrain.py checks this).
"""
import contextlib
import ctypes as C
import json
import math
import os
import warnings

from ._core import ERR_INVALID_ARG, Context, Error
from ._io import _s
from ._lib import PRETRAIN_LOG_FN, PretrainConfig, PretrainInputsConfig, lib
from ._models import _options


class PretrainResult(dict):
    """Summary of a run: keys "steps", "losses" (one float per step of this call),
    "history" (the per-step records), "proxy_accuracy", "val_loss", "val_samples",
    "chance", "seconds", "checkpoint", "task", "dims". Also readable as attributes."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


def pretrain(manifest, task, dims, out, *, epochs=None, steps=None, batch=None, seed=0, threads=None,
             loader_threads=1, lr=1e-3, weight_decay=0.0, schedule="constant", warmup=0, options=None,
             cases=None, val_fraction=0.1, split_seed=0, val_rounds=4, val_max=256, eval_every=0, save_every=0,
             normalisation="zscore", spacing=0.0, max_seconds=0.0, log=None, progress=None, resume=None):
    """Pretrain an encoder with a proxy task on the train split of ``manifest`` and write
    the checkpoint ``out``, exactly as ``ssl3d pretrain`` with the same options
    (docs/cli.md; the keyword names are the CLI's without dashes). ``options``: task
    options, a dict or "key=value,...". ``cases``: the manifest cases to pretrain on, a list
    of case indices or the path of a case list file (as --cases). ``spacing``: a voxel
    spacing in mm, one for every axis or (D, H, W).
    ``progress(record)`` is called after every step with the record the CLI writes to its
    --log ({"step", "loss", "acc", "lr", "samples_per_s", "train_seconds", "epoch"[, "val_acc",
    "val_loss"]}); returning False stops the run (it is then evaluated and saved as after
    --max-seconds). ``log``: also write those records (and the final one) as JSONL.
    ``batch``: images per step; None takes the task's default, as the CLI does
    (ssl3d/pretrain_inputs.h). Errors name the argument at fault by its config field, e.g.
    "ssl3d_pretrain_inputs_create: config.options 'bogus=1': ...". Returns a PretrainResult."""
    if epochs and steps:
        raise Error(ERR_INVALID_ARG, "pretrain: give epochs or steps, not both")
    if schedule not in ("constant", "cosine"):
        raise Error(ERR_INVALID_ARG, f"pretrain: schedule {schedule!r} is not constant or cosine")
    if not epochs and not steps:
        epochs = 10
    ctx = Context(threads=threads, seed=seed)   # cmd_pretrain: create, threads, seed (the initial weights)
    inputs = C.c_void_p()
    try:
        ic, keep = _inputs_config(manifest, task, dims, batch, seed, loader_threads, options, cases, val_fraction,
                                  split_seed, val_max, normalisation, spacing)
        st = lib.ssl3d_pretrain_inputs_create(ctx.ptr, C.byref(ic), C.byref(inputs))
        if st != 0:
            raise Error(st, ctx.last_error)
        del keep
        if lib.ssl3d_pretrain_inputs_unsplit(inputs):
            warnings.warn("ssl3d.pretrain: a single image cannot be split; no held-out proxy accuracy")
        if epochs:
            steps = epochs * lib.ssl3d_pretrain_inputs_steps_per_epoch(inputs)
        with open(log, "a" if resume else "w") if log else contextlib.nullcontext() as logf:
            return _run(ctx, inputs.value, str(out), steps, val_rounds, lr, weight_decay, schedule, warmup,
                        eval_every, save_every, max_seconds, logf, progress, resume)
    finally:
        lib.ssl3d_pretrain_inputs_release(inputs)   # before its contexts
        ctx.close()


def _inputs_config(manifest, task, dims, batch, seed, loader_threads, options, cases, val_fraction, split_seed,
                   val_max, normalisation, spacing):
    """The ssl3d_pretrain_inputs_config of the keyword arguments, and the Python objects
    its pointers borrow (keep them alive until ssl3d_pretrain_inputs_create returns)."""
    ic = PretrainInputsConfig()
    lib.ssl3d_pretrain_inputs_config_init(C.byref(ic))
    opts = _options(options)
    keep = [_s(os.fsdecode(manifest)), _s(task), _s(opts) if opts else None, _s(normalisation)]
    ic.manifest, ic.task, ic.options, ic.normalisation = keep
    if isinstance(cases, (str, bytes, os.PathLike)):
        keep.append(_s(os.fsdecode(cases)))
        ic.cases_file = keep[-1]
    elif cases is not None:
        arr = (C.c_int64 * max(1, len(cases)))(*cases)
        keep.append(arr)
        ic.cases, ic.n_cases = C.cast(arr, C.POINTER(C.c_int64)), len(cases)
    ic.dims = dims
    ic.batch = 0 if batch is None else batch
    ic.seed, ic.split_seed = seed, split_seed
    sp = (spacing,) * 3 if isinstance(spacing, (int, float)) else tuple(spacing)
    ic.spacing[:] = [float(x) for x in sp]
    ic.loader_threads, ic.val_fraction, ic.val_max = loader_threads, val_fraction, val_max
    return ic, keep


def _run(ctx, inputs, out, steps, val_rounds, lr, wd, schedule, warmup, eval_every, save_every, max_seconds, logf,
         progress, resume):
    """ssl3d_pretrain_run with the prepared inputs; records to logf/progress."""
    cp = ctx.ptr
    cfg = PretrainConfig()
    lib.ssl3d_pretrain_config_init(C.byref(cfg))
    cfg.val_rounds, cfg.steps = val_rounds, steps
    cfg.max_seconds, cfg.lr, cfg.weight_decay, cfg.schedule, cfg.warmup = max_seconds, lr, wd, _s(schedule), warmup
    cfg.eval_every, cfg.save_every = eval_every, save_every
    out_b = _s(out)
    resume_b = _s(str(resume)) if resume else None
    cfg.out, cfg.resume = out_b, resume_b
    st = lib.ssl3d_pretrain_inputs_fill_config(cp, inputs, C.byref(cfg))   # loader, batch, seed, held-out images
    if st != 0:
        raise Error(st, ctx.last_error)
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
    st = lib.ssl3d_pretrain_run(cp, lib.ssl3d_pretrain_inputs_task(inputs), C.byref(cfg), cb, None)
    if failure:
        raise failure[0]
    if st != 0:
        raise Error(st, ctx.last_error)
    res = PretrainResult(final[0])
    del res["final"]
    res["losses"], res["history"] = losses, history
    return res
