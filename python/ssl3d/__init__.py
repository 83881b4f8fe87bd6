"""ssl3d — Python bindings of libssl3d (self-supervised 3D/2D CNN pretraining and
fine-tuning for medical images), pure Python over the C ABI with ctypes.

    import ssl3d
    with ssl3d.Context(threads=2, seed=0) as ctx:
        img = ssl3d.read_image(ctx, "case.nii.gz")        # img.data: (C, D, H, W) float32
        task = ssl3d.Task.from_checkpoint(ctx, "rotation.safetensors")
        feats = ssl3d.encode(task, img.data, pooled=True) # (C_b,) NumPy

    ssl3d.pretrain("dataset.json", "rotation", 3, "rotation.safetensors", steps=100)

Every failed call raises ssl3d.Error carrying the library's message. docs/python.md
describes the package, the NumPy memory rules and the PyTorch round trip
(ssl3d.torch, imported separately).
"""
from ._core import Context, Error, Tensor, status_name
from ._io import Checkpoint, Image, Manifest, read_image
from ._lib import lib as _clib
from ._lib import path as library_path
from ._models import MLP, Decoder, Encoder, FineTuneModel, Module, Task, encode, evaluate, finetune
from ._pretrain import PretrainResult, pretrain
from . import safetensors

__version__ = "0.1.0"


def library_version():
    """Version string of the loaded libssl3d (e.g. "0.1.0")."""
    return _clib.ssl3d_version().decode()


__all__ = ["Context", "Error", "Tensor", "Checkpoint", "Image", "Manifest", "read_image", "Module", "Encoder",
           "Decoder", "MLP", "Task", "FineTuneModel", "encode", "finetune", "evaluate", "pretrain",
           "PretrainResult", "library_path", "library_version", "status_name"]
