"""Images, manifests and checkpoints through the C readers."""
import ctypes as C

import numpy as np

from ._core import ERR_INVALID_ARG, ERR_NOT_FOUND, ERR_STATE, Error, Tensor, _Handle, _Owned, _View
from ._lib import lib

SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST = 0, 1, 2
_SPLITS = {"train": SPLIT_TRAIN, "val": SPLIT_VAL, "test": SPLIT_TEST, None: -1, "all": -1}


def _s(x):
    return x.encode() if isinstance(x, str) else bytes(x)


class Image:
    """An image read by libssl3d: ``data`` is a read-only float32 NumPy view (C, D, H, W)
    in canonical RAS+ voxel order (zero-copy; it keeps the image alive), with its
    geometry: ``spacing`` (D, H, W) in mm, ``affine`` (4x4, canonical index (w, h, d, 1)
    -> world mm), ``orientation`` of the stored axes ("LPS", ...), ``format``,
    ``datatype``, ``path``, ``nonfinite`` (NaN/Inf voxels replaced by 0 on request)."""

    def __init__(self, ctx, ptr):
        self.ctx = ctx
        self._h = ctx.own(ptr, lib.ssl3d_image_release)
        dims = (C.c_int64 * 4)()
        ctx.check(lib.ssl3d_image_dims(ctx.ptr, ptr, dims))
        sp = (C.c_double * 3)()
        ctx.check(lib.ssl3d_image_spacing(ctx.ptr, ptr, sp))
        af = (C.c_double * 16)()
        ctx.check(lib.ssl3d_image_affine(ctx.ptr, ptr, af))
        self.shape = tuple(int(d) for d in dims)
        self.spacing = tuple(sp)
        self.affine = np.array(af[:], dtype=np.float64).reshape(4, 4)
        self.format = lib.ssl3d_image_format(ptr).decode()
        self.datatype = lib.ssl3d_image_datatype(ptr).decode()
        self.orientation = lib.ssl3d_image_orientation(ptr).decode()
        self.path = lib.ssl3d_image_path(ptr).decode()
        self.nonfinite = int(lib.ssl3d_image_nonfinite_count(ptr))
        self.data = np.asarray(_View(self._h, lib.ssl3d_image_data(ptr), self.shape, np.dtype(np.float32),
                                     readonly=True))

    @property
    def ptr(self):
        if self.ctx.closed or not self._h.ptr:
            raise Error(ERR_STATE, "image used after close()")
        return self._h.ptr

    def close(self):
        """Release the image now; arrays taken from ``data`` earlier keep their memory."""
        self.data = None
        h, self._h = self._h, _Handle(None, None, None)
        if not len(h.views):
            h.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<ssl3d.Image {self.format} {self.shape} spacing={self.spacing}>"


def read_image(ctx, path, nonfinite_to_zero=False):
    """Read a NIfTI (.nii, .nii.gz, .hdr/.img) or PNG file into an ``Image``
    (``image.data`` is the (C, D, H, W) float32 array). Errors name the file:
    SSL3D_ERR_IO (missing/unreadable), SSL3D_ERR_FORMAT (malformed or hostile),
    SSL3D_ERR_NUMERIC (NaN/Inf voxels unless nonfinite_to_zero)."""
    p = C.c_void_p()
    ctx.check(lib.ssl3d_image_read(ctx.ptr, _s(path), 1 if nonfinite_to_zero else 0, C.byref(p)))
    return Image(ctx, p.value)


class Manifest(_Owned):
    """A dataset manifest: MSD dataset.json or CSV ``file,label,split``."""
    _what = "manifest"

    def __init__(self, ctx, path, check_files=True):
        self.ctx, self.path = ctx, str(path)
        p = C.c_void_p()
        ctx.check(lib.ssl3d_manifest_load(ctx.ptr, _s(path), 0 if check_files else 1, C.byref(p)))
        self._h = ctx.own(p.value, lib.ssl3d_manifest_release)

    def __len__(self):
        return int(lib.ssl3d_manifest_count(self.ptr))

    def image_paths(self, i):
        """Resolved image file(s) of case i (one per channel)."""
        p = self.ptr
        return [lib.ssl3d_manifest_case_image(p, i, j).decode() for j in range(lib.ssl3d_manifest_case_num_images(p, i))]

    def label_path(self, i):
        """Resolved label-map path of case i (MSD), or None."""
        s = lib.ssl3d_manifest_case_label_path(self.ptr, i)
        return s.decode() if s else None

    def label(self, i):
        """Integer class label of case i (CSV), -1 when none."""
        return int(lib.ssl3d_manifest_case_label(self.ptr, i))

    def select_cases(self, split=None, cases_file=None):
        """Labelled case indices of a split ("train", "val", "test", None = every labelled
        case) or listed in ``cases_file`` (ssl3d_ft_select_cases)."""
        if split not in _SPLITS:
            raise Error(ERR_INVALID_ARG, f"select_cases: split {split!r} is not train, val, test or None")
        n = C.c_int64()
        f = _s(cases_file) if cases_file is not None else None
        self.ctx.check(lib.ssl3d_ft_select_cases(self.ctx.ptr, self.ptr, _SPLITS[split], f, None, 0, C.byref(n)))
        idx = (C.c_int64 * max(1, n.value))()
        self.ctx.check(lib.ssl3d_ft_select_cases(self.ctx.ptr, self.ptr, _SPLITS[split], f, idx, n.value,
                                                 C.byref(n)))
        return [int(i) for i in idx[:n.value]]


class Checkpoint(_Owned):
    """A safetensors checkpoint read or written by the C library (validated on load)."""
    _what = "checkpoint"

    def __init__(self, ctx, path=None):
        self.ctx = ctx
        p = C.c_void_p()
        if path is None:
            ctx.check(lib.ssl3d_checkpoint_create(ctx.ptr, C.byref(p)))
        else:
            ctx.check(lib.ssl3d_checkpoint_load(ctx.ptr, _s(path), C.byref(p)))
        self._h = ctx.own(p.value, lib.ssl3d_checkpoint_release)

    def names(self):
        p = self.ptr
        return [lib.ssl3d_checkpoint_tensor_name(p, i).decode() for i in range(lib.ssl3d_checkpoint_tensor_count(p))]

    def metadata(self):
        p, out = self.ptr, {}
        for i in range(lib.ssl3d_checkpoint_meta_count(p)):
            k = lib.ssl3d_checkpoint_meta_key(p, i)
            v = C.c_char_p()
            self.ctx.check(lib.ssl3d_checkpoint_get_meta(self.ctx.ptr, p, k, C.byref(v)))
            out[k.decode()] = v.value.decode()
        return out

    def tensor(self, name):
        """The stored tensor ``name`` as a new Tensor (SSL3D_ERR_NOT_FOUND if absent)."""
        t = C.c_void_p()
        self.ctx.check(lib.ssl3d_checkpoint_get_tensor(self.ctx.ptr, self.ptr, _s(name), C.byref(t)))
        return Tensor._wrap(self.ctx, t.value)

    def __getitem__(self, name):
        try:
            return self.tensor(name).numpy()
        except Error as e:
            if e.status == ERR_NOT_FOUND:
                raise KeyError(name) from e
            raise

    def add(self, name, tensor):
        """Store a copy of a Tensor (or a float32/int32 array) under ``name``."""
        if not isinstance(tensor, Tensor):
            tensor = self.ctx.tensor(tensor)
        self.ctx.check(lib.ssl3d_checkpoint_add_tensor(self.ctx.ptr, self.ptr, _s(name), tensor.ptr))

    def set_meta(self, key, value):
        self.ctx.check(lib.ssl3d_checkpoint_set_meta(self.ctx.ptr, self.ptr, _s(key), _s(str(value))))

    def save(self, path):
        """Write atomically (temporary file + rename)."""
        self.ctx.check(lib.ssl3d_checkpoint_save(self.ctx.ptr, self.ptr, _s(path)))

