#!/usr/bin/env python3
"""Using libssl3d from Python through ctypes, with NumPy zero-copy views of tensors.

    python3 examples/python/ssl3d_ffi.py [path/to/libssl3d.so.0]

Only the standard library and NumPy are needed; the library is found at lib/libssl3d.so.0
(the build tree) unless a path is given. The binding is deliberately thin: every call returns
an ssl3d_status, and ssl3d_ctx_last_error() explains a failure.
"""
import ctypes as C
import os
import sys

import numpy as np

LIB = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "lib", "libssl3d.so.0")
lib = C.CDLL(LIB)

ctx_p, tensor_p, module_p = C.c_void_p, C.c_void_p, C.c_void_p
lib.ssl3d_version.restype = C.c_char_p
lib.ssl3d_status_string.restype = C.c_char_p
lib.ssl3d_ctx_last_error.restype = C.c_char_p
lib.ssl3d_ctx_last_error.argtypes = [ctx_p]
lib.ssl3d_ctx_create.argtypes = [C.c_int32, C.POINTER(ctx_p)]
lib.ssl3d_ctx_release.argtypes = [ctx_p]
lib.ssl3d_ctx_set_seed.argtypes = [ctx_p, C.c_uint64]
lib.ssl3d_ctx_set_threads.argtypes = [ctx_p, C.c_int32]
lib.ssl3d_tensor_from_data.argtypes = [ctx_p, C.c_int32, C.c_int32, C.POINTER(C.c_int64), C.c_void_p, C.POINTER(tensor_p)]
lib.ssl3d_tensor_release.argtypes = [tensor_p]
lib.ssl3d_tensor_host_data.argtypes = [tensor_p]
lib.ssl3d_tensor_host_data.restype = C.c_void_p
lib.ssl3d_tensor_numel.argtypes = [tensor_p]
lib.ssl3d_tensor_numel.restype = C.c_int64
lib.ssl3d_tensor_ndim.argtypes = [tensor_p]
lib.ssl3d_tensor_dim.argtypes = [tensor_p, C.c_int32]
lib.ssl3d_tensor_dim.restype = C.c_int64
lib.ssl3d_encoder_create.argtypes = [ctx_p, C.c_int32, C.c_int32, C.c_int32, C.c_int32, C.c_int32, C.POINTER(module_p)]
lib.ssl3d_encoder_forward.argtypes = [ctx_p, module_p, tensor_p, C.c_int32, C.POINTER(tensor_p), C.c_void_p]
lib.ssl3d_module_release.argtypes = [module_p]
lib.ssl3d_rotation_apply.argtypes = [ctx_p, tensor_p, C.c_int32, C.POINTER(tensor_p)]

F32 = 0


class Error(RuntimeError):
    pass


def check(ctx, status):
    if status != 0:
        raise Error(f"{lib.ssl3d_status_string(status).decode()}: {lib.ssl3d_ctx_last_error(ctx).decode()}")


def tensor_from_numpy(ctx, a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    shape = (C.c_int64 * a.ndim)(*a.shape)
    t = tensor_p()
    check(ctx, lib.ssl3d_tensor_from_data(ctx, F32, a.ndim, shape, a.ctypes.data, C.byref(t)))
    return t


def numpy_view(t):
    """Zero-copy NumPy view of a CPU tensor (valid while the tensor lives)."""
    shape = tuple(lib.ssl3d_tensor_dim(t, i) for i in range(lib.ssl3d_tensor_ndim(t)))
    ptr = C.cast(lib.ssl3d_tensor_host_data(t), C.POINTER(C.c_float))
    return np.ctypeslib.as_array(ptr, shape=shape)


def main():
    print("libssl3d", lib.ssl3d_version().decode())
    ctx = ctx_p()
    check(None, lib.ssl3d_ctx_create(0, C.byref(ctx)))
    try:
        check(ctx, lib.ssl3d_ctx_set_seed(ctx, 7))
        check(ctx, lib.ssl3d_ctx_set_threads(ctx, 2))
        vol = np.arange(4 * 4 * 4, dtype=np.float32).reshape(1, 4, 4, 4)
        t = tensor_from_numpy(ctx, vol)
        rot = tensor_p()
        check(ctx, lib.ssl3d_rotation_apply(ctx, t, 1, C.byref(rot)))
        r = numpy_view(rot)
        print("rotation class 1 changed the volume:", not np.array_equal(r, vol), "sum kept:", r.sum() == vol.sum())
        enc = module_p()
        check(ctx, lib.ssl3d_encoder_create(ctx, 3, 1, 4, 2, 0, C.byref(enc)))
        x = tensor_from_numpy(ctx, np.random.default_rng(0).standard_normal((2, 1, 8, 8, 8)))
        b = tensor_p()
        check(ctx, lib.ssl3d_encoder_forward(ctx, enc, x, 1, C.byref(b), None))
        print("bottleneck shape:", numpy_view(b).shape)
        try:  # errors come back as statuses with a message naming the culprit
            check(ctx, lib.ssl3d_encoder_forward(ctx, enc, t, 1, C.byref(b), None))
        except Error as e:
            print("expected error:", e)
        for h in (t, rot, x, b):
            lib.ssl3d_tensor_release(h)
        lib.ssl3d_module_release(enc)
    finally:
        lib.ssl3d_ctx_release(ctx)
    print("ok")


if __name__ == "__main__":
    main()
