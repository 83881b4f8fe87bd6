"""Reading and writing safetensors files with NumPy only (no libssl3d, no `safetensors`
package): what ssl3d.torch uses for checkpoints.

Layout: 8-byte little-endian u64 N, N bytes of JSON header {name: {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the data buffer.
``save`` writes what libssl3d writes (docs/checkpoints.md): metadata first, tensors in
bytewise name order packed without gaps, header padded with spaces to a multiple of 8.
``load`` checks the structure (offsets inside the buffer, sizes = elements x dtype size,
no overlaps or holes) and raises ValueError naming the file and tensor otherwise; the C
reader (ssl3d.Checkpoint) is the thorough validator.
"""
import json
import struct

import numpy as np

_DT = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
       "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_NAME = {np.dtype(v).newbyteorder("<") if v not in ("i1", "u1", "?") else np.dtype(v): k for k, v in _DT.items()}
HEADER_MAX = 100_000_000


def load(path):
    """(tensors, metadata): {name: NumPy array (a copy, native byte order)}, {str: str}.
    BF16 tensors are widened to float32 exactly."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes, not a safetensors file")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > HEADER_MAX or 8 + n > len(buf):
        raise ValueError(f"{path}: header length {n} is past the end of the file or too large")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: __metadata__ is not an object of strings")
    data = memoryview(buf)[8 + n:]
    out, spans = {}, []
    for name, e in header.items():
        try:
            dt, shape, (b, end) = e["dtype"], [int(s) for s in e["shape"]], e["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor '{name}': entry needs dtype, shape and data_offsets") from None
        if dt != "BF16" and dt not in _DT:
            raise ValueError(f"{path}: tensor '{name}': unsupported dtype {dt!r}")
        if any(s < 0 for s in shape) or not (0 <= b <= end <= len(data)):
            raise ValueError(f"{path}: tensor '{name}': bad shape {shape} or data_offsets {[b, end]}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        size = 2 if dt == "BF16" else np.dtype(_DT[dt]).itemsize
        if count * size != end - b:
            raise ValueError(f"{path}: tensor '{name}': {end - b} bytes for {count} elements of {dt}")
        raw = bytes(data[b:end])
        if dt == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, _DT[dt]).astype(np.dtype(_DT[dt]).newbyteorder("="))
        out[name] = a.reshape(shape)
        spans.append((b, end, name))
    spans.sort()
    pos = 0
    for b, end, name in spans:
        if b != pos:
            raise ValueError(f"{path}: tensor '{name}' {'overlaps' if b < pos else 'leaves a hole before it'}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes after the last tensor")
    return out, meta


def save(path, tensors, metadata=None):
    """Write {name: array} (+ {str: str} metadata) as libssl3d does; float64 arrays are
    stored as F32 and int64 as I32 (libssl3d's dtypes) unless they are already 32-bit."""
    names = sorted(tensors, key=lambda s: s.encode())
    arrays, header, off = [], {}, 0
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata, key=lambda s: s.encode())}
    for name in names:
        a = np.asarray(tensors[name])
        if a.dtype.kind == "f":
            a = a.astype("<f4")
        elif a.dtype.kind in "iub":
            a = a.astype("<i4")
        else:
            raise ValueError(f"save: tensor '{name}' has dtype {a.dtype}, not float or integer")
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "F32" if a.dtype.kind == "f" else "I32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        arrays.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for raw in arrays:
            f.write(raw)
    import os
    os.replace(tmp, path)
