"""Shared fixtures: the package from this checkout, a context, tiny generated NIfTI data."""
import gzip
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))   # the package in place, whatever is installed
BIN = REPO / "bin" / "ssl3d"

import ssl3d  # noqa: E402


def write_nifti(path, data, srow=None, pixdim=(1.0, 1.0, 1.0), dtype=np.float32):
    """Minimal NIfTI-1 writer, independent of libssl3d: ``data`` is (nz, ny, nx) (x
    fastest on disk) or (nt, nz, ny, nx); ``srow`` a 3x4 sform (sform_code 1), or None
    for no sform/qform (the stored order is kept)."""
    data = np.asarray(data, dtype=dtype)
    dims = list(data.shape[::-1])
    code = {np.dtype(np.float32): (16, 32), np.dtype(np.int16): (4, 16), np.dtype(np.uint8): (2, 8)}[data.dtype]
    h = bytearray(352)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, len(dims), *(dims + [1] * (7 - len(dims))))
    struct.pack_into("<hh", h, 70, *code)
    struct.pack_into("<8f", h, 76, 1.0, *(list(pixdim) + [1.0] * (7 - len(pixdim))))
    struct.pack_into("<f", h, 108, 352.0)
    struct.pack_into("<ff", h, 112, 1.0, 0.0)
    struct.pack_into("<B", h, 123, 2)          # mm
    if srow is not None:
        struct.pack_into("<hh", h, 252, 0, 1)
        struct.pack_into("<12f", h, 280, *np.asarray(srow, dtype=np.float64).ravel())
    h[344:348] = b"n+1\0"
    raw = bytes(h) + data.astype(data.dtype.newbyteorder("<")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(raw)


def blob_volume(k, nx, ny, nz):
    """The volumes of tests/test_loader_util.h: an asymmetric noisy ellipsoid on zeros."""
    v = np.zeros((nz, ny, nx), np.float32)
    s = (12345 + 977 * k) & 0xFFFFFFFF
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                dx, dy, dz = (x - (nx - 1) / 2) / (0.45 * nx), (y - (ny - 1) / 2) / (0.45 * ny), \
                    (z - (nz - 1) / 2) / (0.45 * nz)
                s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
                noise = (s >> 8) / 16777216.0
                ramp = (x + 2 * y + 3 * z) / (nx + 2 * ny + 3 * nz)
                if dx * dx + dy * dy + dz * dz <= 1.0:
                    v[z, y, x] = 100 + 40 * ramp + 10 * noise + 5 * k
    return v


def write_dataset(d, n=5, nx=18, ny=20, nz=17):
    """n volumes and an MSD dataset.json listing them as training cases."""
    d = Path(d)
    for k in range(n):
        write_nifti(d / f"img{k}.nii.gz", blob_volume(k, nx + k % 2, ny, nz + (k % 3 == 2)))
    man = d / "dataset.json"
    man.write_text(json.dumps({"name": "tiny", "modality": {"0": "MRI"}, "labels": {"0": "background"},
                               "training": [{"image": f"./img{k}.nii.gz", "label": f"./img{k}.nii.gz"}
                                            for k in range(n)], "test": []}))
    return man


@pytest.fixture(scope="session")
def seg_dataset(tmp_path_factory):
    """Six 16^3 blobs with label maps (1 inside the brighter core) in an MSD manifest."""
    d = tmp_path_factory.mktemp("seg")
    eye = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    cases = []
    for k in range(6):
        v = blob_volume(k, 16, 16, 16)
        write_nifti(d / f"img{k}.nii.gz", v, srow=eye)
        write_nifti(d / f"lab{k}.nii.gz", (v > 118).astype(np.uint8), srow=eye, dtype=np.uint8)
        cases.append({"image": f"./img{k}.nii.gz", "label": f"./lab{k}.nii.gz"})
    man = d / "dataset.json"
    man.write_text(json.dumps({"name": "seg", "labels": {"0": "background", "1": "core"}, "training": cases,
                               "test": []}))
    return man


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def ctx():
    with ssl3d.Context(threads=1, seed=0) as c:
        yield c


def need_bin():
    if not os.access(BIN, os.X_OK):
        pytest.skip("bin/ssl3d is not built (run make)")
