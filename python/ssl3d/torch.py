"""PyTorch interop: libssl3d's networks as torch.nn.Modules with the same layers and the
same tensor names (docs/checkpoints.md), loaded from and saved to libssl3d checkpoints.

    import ssl3d.torch
    enc = ssl3d.torch.load_encoder("rotation.safetensors")   # pretrained by libssl3d
    feats = enc(x)                                           # (N, C_b, D/2^L, H/2^L, W/2^L)
    unet = ssl3d.torch.load_unet("rotation.safetensors", classes=3)
    ... fine-tune in PyTorch / MONAI ...
    ssl3d.torch.save_checkpoint(unet, "unet.safetensors")     # a libssl3d model file

Names: the state_dict keys equal the checkpoint's tensor names ("down0.conv1.weight",
"down0.norm1.running_mean", ...; a UNet's are prefixed "encoder." / "decoder.", a task
network's "encoder." / "head."), except that PyTorch's BatchNorm also keeps a
"num_batches_tracked" counter, which libssl3d does not store: loading sets it to 0 and
saving leaves it out. Checkpoints are read and written with NumPy (ssl3d.safetensors),
so this module needs neither libssl3d nor the `safetensors` package at run time.

Layers (docs/architecture.md): a block is conv3 (padding 1, bias) -> norm -> ReLU, twice;
norm is BatchNorm (eps 1e-5, momentum 0.1), GroupNorm with min(8, C) groups (lowered
until they divide C), instance norm as GroupNorm(C, C) with affine weights, or none. The
encoder follows each of its `levels` blocks with max-pool 2 (floor), then a bottleneck
block; the decoder upsamples with ConvTranspose (kernel 2, stride 2), concatenates
[upsampled, skip] and runs a block, and ends with a 1x1 conv.
"""
import torch
import torch.nn.functional as F
from torch import nn

from . import safetensors as st

NORMS = ("batch", "group", "instance", "none")
LIB_VERSION = "0.1.0"


def _conv(dims, cin, cout, k, **kw):
    return (nn.Conv3d if dims == 3 else nn.Conv2d)(cin, cout, k, **kw)


def _norm(kind, dims, c):
    if kind == "batch":
        return (nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d)(c, eps=1e-5, momentum=0.1)
    if kind == "group":
        g = min(c, 8)
        while c % g:
            g -= 1
        return nn.GroupNorm(g, c, eps=1e-5)
    if kind == "instance":
        return nn.GroupNorm(c, c, eps=1e-5)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} ({', '.join(NORMS)})")


class Block(nn.Module):
    """conv3 -> norm -> ReLU -> conv3 -> norm -> ReLU (names conv1, norm1, conv2, norm2)."""

    def __init__(self, dims, cin, cout, norm):
        super().__init__()
        self.conv1 = _conv(dims, cin, cout, 3, padding=1)
        self.norm1 = _norm(norm, dims, cout)
        self.conv2 = _conv(dims, cout, cout, 3, padding=1)
        self.norm2 = _norm(norm, dims, cout)

    def forward(self, x):
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(x)))


class Encoder(nn.Module):
    """The U-Net encoder of libssl3d (ssl3d_encoder_create): blocks down0..down{L-1} of
    f*2^l filters, each followed by max-pool 2, then `bottleneck` of 2*f*2^(L-1)."""

    def __init__(self, dims=3, in_channels=1, filters=16, levels=4, norm="batch"):
        super().__init__()
        self.dims, self.in_channels, self.filters, self.levels, self.norm = dims, in_channels, filters, levels, norm
        c = in_channels
        for lvl in range(levels):
            setattr(self, f"down{lvl}", Block(dims, c, filters << lvl, norm))
            c = filters << lvl
        self.bottleneck = Block(dims, c, 2 * c, norm)
        self.out_channels = 2 * c

    def forward(self, x, return_skips=False):
        """x (N, C, D, H, W) -> bottleneck; with return_skips also [level outputs before pooling]."""
        pool = F.max_pool3d if self.dims == 3 else F.max_pool2d
        skips = []
        for lvl in range(self.levels):
            s = getattr(self, f"down{lvl}")(x)
            skips.append(s)
            x = pool(s, 2)
        b = self.bottleneck(x)
        return (b, skips) if return_skips else b


class Decoder(nn.Module):
    """The U-Net decoder (ssl3d_decoder_create): up{l} (ConvTranspose 2/2), dec{l}
    (block over [upsampled, skip]) from the deepest level, then `head` (1x1 conv)."""

    def __init__(self, encoder, classes):
        super().__init__()
        dims, c = encoder.dims, encoder.out_channels
        self.levels = encoder.levels
        for lvl in reversed(range(self.levels)):
            co = encoder.filters << lvl
            setattr(self, f"up{lvl}", (nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d)(c, co, 2, stride=2))
            setattr(self, f"dec{lvl}", Block(dims, 2 * co, co, encoder.norm))
            c = co
        self.head = _conv(dims, c, classes, 1)

    def forward(self, bottleneck, skips):
        h = bottleneck
        for lvl in reversed(range(self.levels)):
            u = getattr(self, f"up{lvl}")(h)
            h = getattr(self, f"dec{lvl}")(torch.cat([u, skips[lvl]], 1))
        return self.head(h)


class UNet(nn.Module):
    """encoder + decoder: logits (N, classes, D, H, W); sizes must be multiples of 2^levels.
    Its names are those of a libssl3d segmentation model file ("encoder.*", "decoder.*")."""

    def __init__(self, dims=3, in_channels=1, classes=2, filters=16, levels=4, norm="batch"):
        super().__init__()
        self.encoder = Encoder(dims, in_channels, filters, levels, norm)
        self.decoder = Decoder(self.encoder, classes)
        self.classes = classes

    def forward(self, x):
        b, skips = self.encoder(x, return_skips=True)
        return self.decoder(b, skips)


class MLP(nn.Module):
    """linear -> ReLU -> linear (fc1, fc2), or one linear layer (fc) when hidden = 0."""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.hidden = hidden
        if hidden > 0:
            self.fc1, self.fc2 = nn.Linear(in_features, hidden), nn.Linear(hidden, out_features)
        else:
            self.fc = nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x))) if self.hidden > 0 else self.fc(x)


def _gap(x):
    return x.mean(dim=tuple(range(2, x.dim())))


class RotationNet(nn.Module):
    """The rotation task network: encoder -> global average pool -> MLP head -> logits."""

    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x):
        return self.head(_gap(self.encoder(x)))


class Classifier(nn.Module):
    """A libssl3d classification model (ssl3d_ftmodel classify): encoder -> global average
    pool -> MLP head -> K logits (K-1 for an ordinal model). Names "encoder.*", "head.*"."""

    def __init__(self, dims=3, in_channels=1, classes=2, filters=16, levels=4, norm="batch", hidden=0,
                 ordinal=False):
        super().__init__()
        self.encoder = Encoder(dims, in_channels, filters, levels, norm)
        self.head = MLP(self.encoder.out_channels, hidden, classes - 1 if ordinal else classes)
        self.classes, self.ordinal = classes, bool(ordinal)

    def forward(self, x):
        return self.head(_gap(self.encoder(x)))


class JigsawNet(nn.Module):
    """The jigsaw task network: every patch of x (B, K, C, p, p, p) through the encoder
    and global average pool, a puzzle's K embeddings concatenated in slot order
    (B, K*C_b) -> MLP head -> logits over the permutations."""

    def __init__(self, encoder, head, permutations=None):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.permutations = permutations   # int (P, K), not a parameter; "jigsaw.permutations" in files

    def forward(self, x):
        B, K = x.shape[:2]
        f = _gap(self.encoder(x.flatten(0, 1)))
        return self.head(f.reshape(B, K * f.shape[1]))


# ---------------------------------------------------------------- loading

def _spec(tensors, meta, prefix):
    """Architecture of the encoder under `prefix` (as ssl3d_ftmodel_encoder_spec)."""
    w = tensors.get(prefix + "down0.conv1.weight")
    if w is None or w.ndim not in (4, 5):
        raise ValueError(f"no encoder in the checkpoint (no 4- or 5-d tensor '{prefix}down0.conv1.weight')")
    levels = 0
    while f"{prefix}down{levels}.conv1.weight" in tensors:
        levels += 1
    if prefix + "down0.norm1.running_mean" in tensors:
        norm = "batch"
    elif prefix + "down0.norm1.weight" in tensors:
        opts, mnorm = meta.get("options", ""), meta.get("norm", "")
        norm = "instance" if ("norm=instance" in opts or "norm=2" in opts or mnorm == "instance") else "group"
    else:
        norm = "none"
    return dict(dims=w.ndim - 2, in_channels=int(w.shape[1]), filters=int(w.shape[0]), levels=levels, norm=norm)


def _load_into(module, tensors, prefix=""):
    """Copy the checkpoint tensors `prefix + name` into module.state_dict() (strict)."""
    sd = module.state_dict()
    new = {}
    for name, ref in sd.items():
        if name.endswith("num_batches_tracked"):
            new[name] = torch.zeros_like(ref)
            continue
        key = prefix + name
        if key not in tensors:
            raise KeyError(f"checkpoint has no tensor '{key}'")
        a = torch.from_numpy(tensors[key].copy())
        if tuple(a.shape) != tuple(ref.shape):
            raise ValueError(f"tensor '{key}' has shape {tuple(a.shape)}, the module needs {tuple(ref.shape)}")
        new[name] = a.to(ref.dtype)
    module.load_state_dict(new, strict=True)
    return module


def load_encoder(path, prefix="encoder."):
    """torch Encoder with the weights and norm statistics of the encoder stored in a
    libssl3d checkpoint (pretraining checkpoint or model file). The architecture comes
    from the tensor shapes. Returned in training mode (call .eval() for inference)."""
    tensors, meta = st.load(path)
    enc = Encoder(**_spec(tensors, meta, prefix))
    return _load_into(enc, tensors, prefix)


def load_unet(path, classes=None):
    """torch UNet from a libssl3d checkpoint: a segmentation model file (encoder and
    decoder), or any checkpoint with an encoder (pretraining) plus `classes`, which gives
    a fresh decoder (PyTorch's initialisation) on the pretrained encoder."""
    tensors, meta = st.load(path)
    spec = _spec(tensors, meta, "encoder.")
    has_dec = "decoder.head.weight" in tensors
    if classes is None:
        if not has_dec:
            raise ValueError(f"{path} has no decoder: pass classes= to put a new one on its encoder")
        classes = int(tensors["decoder.head.weight"].shape[0])
    net = UNet(spec["dims"], spec["in_channels"], classes, spec["filters"], spec["levels"], spec["norm"])
    _load_into(net.encoder, tensors, "encoder.")
    if has_dec:
        _load_into(net.decoder, tensors, "decoder.")
        net.ssl3d_metadata = meta   # patch, normalisation: kept when saved again
    return net


def load_classifier(path):
    """torch Classifier from a libssl3d classification model file (`ssl3d finetune --kind
    classify`, ssl3d.FineTuneModel.save)."""
    tensors, meta = st.load(path)
    if meta.get("kind") != "classify":
        raise ValueError(f"{path}: not a classification model file (metadata kind = {meta.get('kind')!r})")
    spec = _spec(tensors, meta, "encoder.")
    net = Classifier(classes=int(meta["classes"]), hidden=int(meta["hidden"]), ordinal=meta.get("ordinal") == "1",
                     **spec)
    _load_into(net, tensors)
    net.ssl3d_metadata = meta
    return net


def _mlp_from(tensors, prefix):
    if prefix + "fc1.weight" in tensors:
        w1, w2 = tensors[prefix + "fc1.weight"], tensors[prefix + "fc2.weight"]
        return MLP(w1.shape[1], w1.shape[0], w2.shape[0])
    w = tensors[prefix + "fc.weight"]
    return MLP(w.shape[1], 0, w.shape[0])


def load_task(path):
    """The task network of a rotation or jigsaw pretraining checkpoint (RotationNet /
    JigsawNet, heads included), e.g. to continue pretraining in PyTorch."""
    tensors, meta = st.load(path)
    kind = meta.get("task")
    enc = _load_into(Encoder(**_spec(tensors, meta, "encoder.")), tensors, "encoder.")
    head = _load_into(_mlp_from(tensors, "head."), tensors, "head.")
    if kind == "rotation":
        net = RotationNet(enc, head)
    elif kind == "jigsaw":
        net = JigsawNet(enc, head, torch.from_numpy(tensors["jigsaw.permutations"].astype("int64")))
    else:
        raise ValueError(f"{path}: task {kind!r}: load_task supports rotation and jigsaw")
    net.ssl3d_metadata = meta
    return net


# ---------------------------------------------------------------- saving

def state_dict_to_numpy(state_dict, prefix=""):
    """{prefix + name: float32/int32 NumPy array}, without BatchNorm's num_batches_tracked."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in state_dict.items()
            if not k.endswith("num_batches_tracked")}


def save_checkpoint(module, path, metadata=None):
    """Write a torch module of these architectures as a libssl3d checkpoint:
    Encoder -> tensors "encoder.*" (what ssl3d_ftmodel_load_encoder, `ssl3d finetune
    --init` and ssl3d.Encoder.from_checkpoint read); UNet / Classifier -> a segmentation /
    classification model file (`ssl3d evaluate --model`, ssl3d.FineTuneModel.load); RotationNet / JigsawNet loaded
    by load_task -> a pretraining checkpoint with the original task metadata
    (ssl3d.Task.from_checkpoint). ``metadata`` adds or overrides string entries."""
    meta = {"format": "pt", "ssl3d_version": LIB_VERSION}
    if isinstance(module, Encoder):
        tensors = state_dict_to_numpy(module.state_dict(), "encoder.")
        meta.update(dims=str(module.dims), options=f"norm={module.norm}",
                    architecture=f"unet-encoder f={module.filters} levels={module.levels}")
    elif isinstance(module, UNet):
        e = module.encoder
        tensors = state_dict_to_numpy(module.state_dict())
        meta.update({"format": "ssl3d-finetune", "kind": "segment", "dims": str(e.dims),
                     "in_channels": str(e.in_channels), "classes": str(module.classes), "levels": str(e.levels),
                     "filters": str(e.filters), "norm": e.norm, "hidden": "0", "ordinal": "0", "patch": "0",
                     "normalisation": "zscore", "library_version": LIB_VERSION})
        src = getattr(module, "ssl3d_metadata", {})
        meta.update({k: src[k] for k in ("patch", "normalisation") if k in src})
    elif isinstance(module, Classifier):
        e = module.encoder
        tensors = state_dict_to_numpy(module.state_dict())
        meta.update({"format": "ssl3d-finetune", "kind": "classify", "dims": str(e.dims),
                     "in_channels": str(e.in_channels), "classes": str(module.classes), "levels": str(e.levels),
                     "filters": str(e.filters), "norm": e.norm, "hidden": str(module.head.hidden),
                     "ordinal": "1" if module.ordinal else "0", "patch": "0", "normalisation": "minmax",
                     "library_version": LIB_VERSION})
        src = getattr(module, "ssl3d_metadata", {})
        meta.update({k: src[k] for k in ("patch", "normalisation") if k in src})
    elif isinstance(module, (RotationNet, JigsawNet)):
        tensors = state_dict_to_numpy(module.state_dict())
        meta = dict(getattr(module, "ssl3d_metadata", {}))
        if not meta.get("task"):
            raise ValueError("save_checkpoint: a task network needs the metadata of the checkpoint it came from "
                             "(build it with load_task)")
        if isinstance(module, JigsawNet):
            tensors["jigsaw.permutations"] = module.permutations.cpu().numpy().astype("int32")
    else:
        raise TypeError(f"save_checkpoint: {type(module).__name__} is not an ssl3d.torch Encoder, UNet, Classifier, "
                        "RotationNet or JigsawNet (use ssl3d.safetensors.save for other state dicts)")
    meta.update(metadata or {})
    st.save(path, tensors, meta)
