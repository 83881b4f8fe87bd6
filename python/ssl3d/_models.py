"""Modules (encoder, decoder, MLP), proxy tasks, fine-tuning models, encode()."""
import ctypes as C
import json

import numpy as np

from ._core import ERR_DTYPE, ERR_INVALID_ARG, ERR_SHAPE, ERR_STATE, Error, Tensor, _Handle, _Owned
from ._io import Checkpoint, Manifest, _s
from ._lib import EPOCH_FN, lib

NORMS = {"batch": 0, "group": 1, "instance": 2, "none": 3}
NORM_NAMES = {v: k for k, v in NORMS.items()}


def _norm_code(norm):
    if isinstance(norm, str):
        if norm not in NORMS:
            raise Error(ERR_INVALID_ARG, f"unknown norm {norm!r} (batch, group, instance, none)")
        return NORMS[norm]
    return int(norm)


def _as_input(ctx, x, what="x"):
    """A float32 Tensor from a Tensor or a real-valued array (one copy)."""
    if isinstance(x, Tensor):
        return x
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise Error(ERR_DTYPE, f"{what}: array of dtype {a.dtype}, expected floating point (float32)")
    return ctx.tensor(a, dtype=np.float32)


class Module:
    """A libssl3d module (encoder, decoder, MLP): named parameters and buffers with the
    names of docs/checkpoints.md. Owned, or borrowed from a task / model (then it keeps
    its owner alive and dies with it)."""

    def __init__(self, ctx, ptr, owner=None):
        self.ctx = ctx
        if owner is None:
            self._h = ctx.own(ptr, lib.ssl3d_module_release)
        else:
            self._h = _Handle(ptr, None, None, parent=owner)

    @property
    def ptr(self):
        if self.ctx.closed or not self._h.alive():
            raise Error(ERR_STATE, "module used after close() (of it, its owner or its context)")
        return self._h.ptr

    def close(self):
        if self._h.release is not None:
            self._h.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def tensors(self):
        """{name: Tensor} of every parameter and buffer (the Tensors share the module's
        memory: writing them changes the module)."""
        p, out = self.ptr, {}
        for i in range(lib.ssl3d_module_tensor_count(p)):
            out[lib.ssl3d_module_tensor_name(p, i).decode()] = Tensor._wrap(self.ctx, lib.ssl3d_module_tensor(p, i),
                                                                             retain=True)
        return out

    def parameters(self):
        """The trainable tensors, in module order."""
        p = self.ptr
        return [Tensor._wrap(self.ctx, lib.ssl3d_module_tensor(p, i), retain=True)
                for i in range(lib.ssl3d_module_tensor_count(p)) if lib.ssl3d_module_tensor_trainable(p, i)]

    def state_dict(self):
        """{name: NumPy copy} of every tensor."""
        return {k: t.numpy(copy=True) for k, t in self.tensors().items()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the module's tensors by name (shapes must match)."""
        mine = self.tensors()
        if strict:
            missing, extra = set(mine) - set(state), set(state) - set(mine)
            if missing or extra:
                raise Error(ERR_INVALID_ARG, f"load_state_dict: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for k, t in mine.items():
            if k in state:
                a = np.asarray(state[k])
                if tuple(a.shape) != t.shape:
                    raise Error(ERR_SHAPE, f"load_state_dict: '{k}' has shape {tuple(a.shape)}, the module {t.shape}")
                t.write(a)

    def zero_grad(self):
        self.ctx.check(lib.ssl3d_module_zero_grad(self.ctx.ptr, self.ptr))

    @property
    def num_parameters(self):
        return int(lib.ssl3d_module_param_numel(self.ptr))


class Encoder(Module):
    """The U-Net encoder: ``levels`` blocks [conv3 -> norm -> ReLU] x 2 each followed by
    max-pool 2, filters f*2^l, then a bottleneck block of 2*f*2^(levels-1) filters."""

    @classmethod
    def create(cls, ctx, dims=3, in_channels=1, filters=16, levels=4, norm="batch"):
        p = C.c_void_p()
        ctx.check(lib.ssl3d_encoder_create(ctx.ptr, dims, in_channels, filters, levels, _norm_code(norm), C.byref(p)))
        return cls(ctx, p.value)

    @classmethod
    def from_checkpoint(cls, ctx, path, prefix="encoder."):
        """The encoder stored under ``prefix`` in a pretraining checkpoint or model file
        (architecture read from the tensor shapes, as ssl3d_ftmodel_encoder_spec)."""
        with Checkpoint(ctx, path) as ck:
            v = [C.c_int32() for _ in range(5)]
            if prefix == "encoder.":
                ctx.check(lib.ssl3d_ftmodel_encoder_spec(ctx.ptr, ck.ptr, *[C.byref(x) for x in v]))
                dims, cin, f, levels, norm = (x.value for x in v)
            else:
                raise Error(ERR_INVALID_ARG, "from_checkpoint: only the 'encoder.' prefix is supported")
            enc = cls.create(ctx, dims, cin, f, levels, norm)
            for name, t in enc.tensors().items():
                ctx.check(lib.ssl3d_checkpoint_copy_into(ctx.ptr, ck.ptr, _s(prefix + name), t.ptr))
        return enc

    @property
    def dims(self):
        """2 or 3 (from the rank of the first convolution weight, (Cout, Cin, k..))."""
        return int(lib.ssl3d_tensor_ndim(lib.ssl3d_module_tensor(self.ptr, 0))) - 2

    @property
    def out_channels(self):
        return int(lib.ssl3d_encoder_out_channels(self.ptr))

    @property
    def levels(self):
        return int(lib.ssl3d_encoder_levels(self.ptr))

    def forward(self, x, training=False, skips=False):
        """x (N,C,D,H,W) / (N,C,H,W) -> bottleneck Tensor, or (bottleneck, [skip_0, ...])."""
        x = _as_input(self.ctx, x)
        b = C.c_void_p()
        L = self.levels
        sk = (C.c_void_p * L)() if skips else None
        self.ctx.check(lib.ssl3d_encoder_forward(self.ctx.ptr, self.ptr, x.ptr, int(bool(training)), C.byref(b), sk))
        out = Tensor._wrap(self.ctx, b.value)
        if skips:
            return out, [Tensor._wrap(self.ctx, sk[i]) for i in range(L)]
        return out


class Decoder(Module):
    """The U-Net decoder matching an encoder: per level from the deepest, transposed
    conv 2/2 -> concat skip -> block; then a 1x1 conv to class logits."""

    @classmethod
    def create(cls, ctx, encoder, classes):
        p = C.c_void_p()
        ctx.check(lib.ssl3d_decoder_create(ctx.ptr, encoder.ptr, classes, C.byref(p)))
        return cls(ctx, p.value)

    def forward(self, bottleneck, skips, training=False):
        sk = (C.c_void_p * len(skips))(*[s.ptr for s in skips])
        out = C.c_void_p()
        self.ctx.check(lib.ssl3d_decoder_forward(self.ctx.ptr, self.ptr, bottleneck.ptr, sk, int(bool(training)),
                                                 C.byref(out)))
        return Tensor._wrap(self.ctx, out.value)


class MLP(Module):
    """linear -> ReLU -> linear (fc1, fc2), or one linear layer (fc) when hidden = 0."""

    @classmethod
    def create(cls, ctx, in_features, hidden, out_features):
        p = C.c_void_p()
        ctx.check(lib.ssl3d_mlp_create(ctx.ptr, in_features, hidden, out_features, C.byref(p)))
        return cls(ctx, p.value)

    def forward(self, x):
        x = _as_input(self.ctx, x)
        out = C.c_void_p()
        self.ctx.check(lib.ssl3d_mlp_forward(self.ctx.ptr, self.ptr, x.ptr, C.byref(out)))
        return Tensor._wrap(self.ctx, out.value)


def _options(options):
    if options is None or isinstance(options, str):
        return options
    return ",".join(f"{k}={v}" for k, v in options.items())


class Task(_Owned):
    """A self-supervised proxy task (rotation, rpl, jigsaw, cpc, exemplar): the shared
    encoder and its heads. ``options``: a dict or "key=value,..." string (docs/tasks.md)."""
    _what = "task"

    def __init__(self, ctx, ptr):
        self.ctx = ctx
        self._h = ctx.own(ptr, lib.ssl3d_task_release)

    @classmethod
    def create(cls, ctx, kind, dims=3, in_channels=1, options=None):
        k = C.c_int32()
        if lib.ssl3d_task_kind_parse(_s(kind), C.byref(k)) != 0:
            raise Error(ERR_INVALID_ARG, f"unknown task {kind!r} (rotation, rpl, jigsaw, cpc, exemplar)")
        o = _options(options)
        p = C.c_void_p()
        ctx.check(lib.ssl3d_task_create(ctx.ptr, k.value, dims, in_channels, _s(o) if o else None, C.byref(p)))
        return cls(ctx, p.value)

    @classmethod
    def from_checkpoint(cls, ctx, path):
        """The task saved in a pretraining checkpoint, weights restored."""
        with Checkpoint(ctx, path) as ck:
            p = C.c_void_p()
            ctx.check(lib.ssl3d_task_create_from_checkpoint(ctx.ptr, ck.ptr, C.byref(p)))
        return cls(ctx, p.value)

    @property
    def kind(self):
        return lib.ssl3d_task_kind_name(lib.ssl3d_task_kind_of(self.ptr)).decode()

    @property
    def dims(self):
        return int(lib.ssl3d_task_dims(self.ptr))

    @property
    def chance(self):
        return float(lib.ssl3d_task_chance(self.ptr))

    def option(self, key):
        v = C.c_double()
        self.ctx.check(lib.ssl3d_task_option(self.ctx.ptr, self.ptr, _s(key), C.byref(v)))
        return v.value

    @property
    def encoder(self):
        """The shared encoder (borrowed: valid while the task lives)."""
        return Encoder(self.ctx, lib.ssl3d_task_encoder(self.ptr), owner=self._h)

    def modules(self):
        """[(name, Module)]: "encoder" first, then the heads."""
        p, out = self.ptr, []
        for i in range(lib.ssl3d_task_module_count(p)):
            name = lib.ssl3d_task_module_name(p, i).decode()
            cls = Encoder if i == 0 else Module
            m = lib.ssl3d_task_module(p, i)
            if i > 0 and lib.ssl3d_module_kind_of(m) == 2:
                cls = MLP
            out.append((name, cls(self.ctx, m, owner=self._h)))
        return out

    def forward(self, images, seed=0, index=0, training=True):
        """Build a batch of samples from ``images`` (each (C,D,H,W) / (C,H,W) float32) and
        run the task: returns (loss Tensor, correct, total)."""
        ts = [_as_input(self.ctx, im, "images") for im in images]
        arr = (C.c_void_p * len(ts))(*[t.ptr for t in ts])
        loss, c, n = C.c_void_p(), C.c_int64(), C.c_int64()
        self.ctx.check(lib.ssl3d_task_forward(self.ctx.ptr, self.ptr, arr, len(ts), seed, index, int(bool(training)),
                                              C.byref(loss), C.byref(c), C.byref(n)))
        return Tensor._wrap(self.ctx, loss.value), c.value, n.value

    def save(self, path, metadata=None):
        """Write the task's tensors and metadata (ssl3d_task_save) to a checkpoint."""
        with Checkpoint(self.ctx) as ck:
            self.ctx.check(lib.ssl3d_task_save(self.ctx.ptr, self.ptr, ck.ptr))
            for k, v in (metadata or {}).items():
                ck.set_meta(k, v)
            ck.save(path)

    def load(self, path):
        """Restore tensors saved by ``save`` into this task (same kind, dims, options)."""
        with Checkpoint(self.ctx, path) as ck:
            self.ctx.check(lib.ssl3d_task_load(self.ctx.ptr, self.ptr, ck.ptr))


class FineTuneModel(_Owned):
    """A fine-tuning model (ssl3d_ftmodel): segment (encoder -> U-Net decoder) or
    classify (encoder -> global average pool -> MLP)."""
    _what = "model"

    def __init__(self, ctx, ptr):
        self.ctx = ctx
        self._h = ctx.own(ptr, lib.ssl3d_ftmodel_release)

    @classmethod
    def create(cls, ctx, kind="segment", dims=3, in_channels=1, classes=2, filters=16, levels=4, norm="batch",
               hidden=0, ordinal=False):
        kinds = {"segment": 0, "classify": 1}
        if kind not in kinds:
            raise Error(ERR_INVALID_ARG, f"FineTuneModel: kind {kind!r} is not segment or classify")
        p = C.c_void_p()
        ctx.check(lib.ssl3d_ftmodel_create(ctx.ptr, kinds[kind], dims, in_channels, classes, filters, levels,
                                           _norm_code(norm), hidden, int(bool(ordinal)), C.byref(p)))
        return cls(ctx, p.value)

    @classmethod
    def load(cls, ctx, path):
        """A model file written by ``save`` or `ssl3d finetune`."""
        with Checkpoint(ctx, path) as ck:
            p = C.c_void_p()
            ctx.check(lib.ssl3d_ftmodel_create_from_checkpoint(ctx.ptr, ck.ptr, C.byref(p)))
        return cls(ctx, p.value)

    @property
    def kind(self):
        return ("segment", "classify")[lib.ssl3d_ftmodel_kind(self.ptr)]

    @property
    def dims(self):
        return int(lib.ssl3d_ftmodel_dims(self.ptr))

    @property
    def classes(self):
        return int(lib.ssl3d_ftmodel_classes(self.ptr))

    @property
    def encoder(self):
        return Encoder(self.ctx, lib.ssl3d_ftmodel_encoder(self.ptr), owner=self._h)

    @property
    def head(self):
        """The decoder (segment) or MLP head (classify), borrowed."""
        cls = Decoder if self.kind == "segment" else MLP
        return cls(self.ctx, lib.ssl3d_ftmodel_head(self.ptr), owner=self._h)

    def load_encoder(self, path, prefix="encoder."):
        """Copy pretrained encoder weights from a checkpoint (architecture must match)."""
        with Checkpoint(self.ctx, path) as ck:
            self.ctx.check(lib.ssl3d_ftmodel_load_encoder(self.ctx.ptr, self.ptr, ck.ptr, _s(prefix)))

    def forward(self, x, training=False, encoder_training=None):
        """Logits for a batch x (N,C,D,H,W) / (N,C,H,W)."""
        x = _as_input(self.ctx, x)
        et = training if encoder_training is None else encoder_training
        out = C.c_void_p()
        self.ctx.check(lib.ssl3d_ftmodel_forward(self.ctx.ptr, self.ptr, x.ptr, int(bool(training)), int(bool(et)),
                                                 C.byref(out)))
        return Tensor._wrap(self.ctx, out.value)

    def save(self, path):
        with Checkpoint(self.ctx) as ck:
            self.ctx.check(lib.ssl3d_ftmodel_save(self.ctx.ptr, self.ptr, ck.ptr))
            ck.save(path)


def encode(model, volume, pooled=False, skips=False):
    """Run the encoder of ``model`` (an Encoder, Task or FineTuneModel) on ``volume``
    ((C,D,H,W) or a batch (N,C,D,H,W); 2D encoders (C,H,W) / (N,C,H,W)) in evaluation mode
    without recording gradients. Returns NumPy arrays (copies): the bottleneck feature
    maps (N, C_b, D/2^L, ...), or with pooled=True their global average (N, C_b); with
    skips=True also the list of per-level feature maps. An unbatched volume gives
    unbatched results."""
    enc = model if isinstance(model, Encoder) else model.encoder
    ctx = enc.ctx
    a = volume.numpy() if isinstance(volume, Tensor) else np.asarray(volume)
    if a.dtype.kind != "f":
        raise Error(ERR_DTYPE, f"encode: volume of dtype {a.dtype}, expected floating point (float32)")
    dims = enc.dims
    if a.ndim == dims + 1:
        batched, a = False, a[None]
    elif a.ndim == dims + 2:
        batched = True
    else:
        want = "(C,D,H,W) or (N,C,D,H,W)" if dims == 3 else "(C,H,W) or (N,C,H,W)"
        raise Error(ERR_SHAPE, f"encode: volume of shape {a.shape}, expected {want} for this {dims}D encoder")
    with ctx.no_grad():
        x = ctx.tensor(a, dtype=np.float32)
        out = enc.forward(x, training=False, skips=skips)
        b, sk = (out if skips else (out, []))
        if pooled:
            p = C.c_void_p()
            ctx.check(lib.ssl3d_global_avgpool(ctx.ptr, b.ptr, C.byref(p)))
            b = Tensor._wrap(ctx, p.value)
    res = b.numpy(copy=True)
    sks = [s.numpy(copy=True) for s in sk]
    if not batched:
        res, sks = res[0], [s[0] for s in sks]
    return (res, sks) if skips else res


def finetune(model, manifest, options=None, callback=None, pool_cases=None):
    """Fine-tune ``model`` on a manifest (ssl3d_ft_train). ``options``: dict or
    "key=value,..." (docs/finetune.md: mode, epochs, batch, lr, fraction, patch, ...).
    ``callback(record)`` receives each epoch's dict ({"epoch", "loss", "val_dice" or
    "val_acc", "best", ...}); returning False stops training early. Returns the list of
    epoch records; the best weights are restored into ``model``."""
    ctx = model.ctx
    man = manifest if isinstance(manifest, Manifest) else Manifest(ctx, manifest)
    history, failure = [], []

    def on_epoch(_user, text):
        try:
            rec = json.loads(text.decode())
            history.append(rec)
            if callback is not None and callback(rec) is False:
                return 1
            return 0
        except BaseException as e:   # an exception cannot cross the C frames: stop, re-raise after
            failure.append(e)
            return 1

    cb = EPOCH_FN(on_epoch)
    pc = (C.c_int64 * len(pool_cases))(*pool_cases) if pool_cases is not None else None
    o = _options(options)
    st = lib.ssl3d_ft_train(ctx.ptr, model.ptr, man.ptr, pc, len(pool_cases) if pool_cases is not None else 0,
                            _s(o) if o else None, cb, None)
    if failure:
        raise failure[0]
    ctx.check(st)
    return history


def evaluate(model, manifest, cases=None, split="test", window=-1, overlap=0.5, pred_dir=None):
    """Evaluate ``model`` on cases of a manifest (default: the labelled cases of
    ``split``) with ssl3d_ft_evaluate. ``model`` may also be a list or tuple of models of
    one context, evaluated as one ensemble (ssl3d_ft_evaluate_ensemble: the softmax
    probabilities averaged over the models, as nnU-Net predicts with its cross-validation
    models; the result gains "models": n for n > 1). Returns the result dict: segment
    {"dice": {...}, "dice_mean", "dice_sd", "cases", ...}; classify {"accuracy", "auc",
    "qwk", "cases"}."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise Error(ERR_INVALID_ARG, "evaluate: an empty list of models")
    ctx = models[0].ctx
    if any(m.ctx is not ctx for m in models):
        raise Error(ERR_INVALID_ARG, "evaluate: the models of an ensemble must belong to one context")
    man = manifest if isinstance(manifest, Manifest) else Manifest(ctx, manifest)
    if cases is None:
        cases = man.select_cases(split)
    arr = (C.c_int64 * max(1, len(cases)))(*cases)
    r = C.c_void_p()
    pd = _s(pred_dir) if pred_dir else None
    if isinstance(model, (list, tuple)):
        ptrs = (C.c_void_p * len(models))(*[m.ptr for m in models])
        ctx.check(lib.ssl3d_ft_evaluate_ensemble(ctx.ptr, ptrs, len(models), man.ptr, arr, len(cases), window,
                                                 overlap, pd, C.byref(r)))
    else:
        ctx.check(lib.ssl3d_ft_evaluate(ctx.ptr, model.ptr, man.ptr, arr, len(cases), window, overlap, pd,
                                        C.byref(r)))
    try:
        return json.loads(lib.ssl3d_ftresult_json(r.value).decode())
    finally:
        lib.ssl3d_ftresult_release(r.value)
