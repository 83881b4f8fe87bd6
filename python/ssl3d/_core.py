"""Errors, the context, handle lifetimes and tensors <-> NumPy.

Lifetime rule of the C library: a context must outlive every tensor and handle made with
it. Here every handle object holds a strong reference to its context's handle, and the C
context is released only once the context was closed (or collected) AND its last handle
was released, so neither the garbage collector (whatever order it finalises a cycle in)
nor an early `close()` can free a context under a live tensor.
"""
import contextlib
import ctypes as C
import weakref

import numpy as np

from ._lib import lib

# Status codes (the values are part of the C ABI).
OK, ERR_INVALID_ARG, ERR_SHAPE, ERR_DTYPE, ERR_NOMEM, ERR_IO, ERR_FORMAT = 0, 1, 2, 3, 4, 5, 6
ERR_BACKEND_UNAVAILABLE, ERR_UNSUPPORTED, ERR_STATE, ERR_NUMERIC, ERR_NOT_FOUND = 7, 8, 9, 10, 11

F32, I32 = 0, 1
_NP_OF = {F32: np.dtype(np.float32), I32: np.dtype(np.int32)}
MAX_DIMS = 8


def status_name(status):
    """'SSL3D_ERR_SHAPE' for status 2, etc."""
    return lib.ssl3d_status_string(int(status)).decode().split(":")[0]


class Error(RuntimeError):
    """A libssl3d call failed (or the package refused a misuse before calling it).

    Attributes: ``status`` (the C status code, an int), ``status_name``
    ("SSL3D_ERR_SHAPE", ...) and ``message`` (the context's last error, which names the
    culprit: the file, option or tensor at fault). ``str(e)`` is "STATUS_NAME: message".
    """

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = status_name(status)
        self.message = message
        super().__init__(f"{self.status_name}: {message}")


# ---------------------------------------------------------------- handle lifetimes

class _CtxHandle:
    """Owns the C context; frees it once dead (closed or collected) and without children."""
    __slots__ = ("ptr", "live", "dead", "_release", "__weakref__")

    def __init__(self, ptr):
        self.ptr, self.live, self.dead, self._release = ptr, 0, False, lib.ssl3d_ctx_release

    def maybe_free(self):
        if self.dead and self.live == 0 and self.ptr:
            p, self.ptr = self.ptr, None
            self._release(p)

    def __del__(self):
        self.dead = True
        self.maybe_free()


class _Handle:
    """Owns one C object (tensor, module, task, ...): ``release(ptr)`` runs exactly once,
    before the context it belongs to can be freed. ``parent`` keeps an owner alive (a
    borrowed module keeps its task); ``views`` are live NumPy views of a tensor's memory."""
    __slots__ = ("ptr", "release", "ctxh", "parent", "views", "__weakref__")

    def __init__(self, ptr, release, ctxh, parent=None):
        self.ptr, self.release, self.ctxh, self.parent = ptr, release, ctxh, parent
        self.views = weakref.WeakSet()
        if ctxh is not None:
            ctxh.live += 1

    def alive(self):
        h = self
        while h is not None:
            if not h.ptr:
                return False
            h = h.parent
        return True

    def free(self):
        if self.ptr:
            p, self.ptr = self.ptr, None
            if self.release is not None:
                self.release(p)
            if self.ctxh is not None:
                self.ctxh.live -= 1
                self.ctxh.maybe_free()

    def __del__(self):
        self.free()


class _Owned:
    """Base of the Python objects that own one library handle through a _Handle of their
    context (self.ctx, self._h): `ptr` refuses use after close() with ssl3d.Error naming
    the object (`_what`), and a `with` block closes it."""
    _what = "object"

    @property
    def ptr(self):
        if self.ctx.closed or not self._h.ptr:
            raise Error(ERR_STATE, f"{self._what} used after close()")
        return self._h.ptr

    def close(self):
        self._h.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _View:
    """Exposes a tensor's host memory to NumPy (__array_interface__) and keeps the
    tensor's handle alive as long as any array made from it lives."""

    def __init__(self, handle, ptr, shape, dtype, readonly):
        self._handle = handle
        self.__array_interface__ = {"version": 3, "shape": tuple(shape), "typestr": dtype.str,
                                    "data": (ptr, bool(readonly))}
        handle.views.add(self)


# ---------------------------------------------------------------- context

class Context:
    """A libssl3d context: backend (CPU), thread count, seeded RNG, autodiff tape and the
    last error message. Everything made with a context belongs to it.

        with ssl3d.Context(threads=2, seed=0) as ctx:
            t = ctx.tensor(np.zeros((1, 1, 8, 8, 8), np.float32))

    ``close()`` (or leaving the ``with`` block) releases every handle of the context that
    no NumPy view still uses and makes further calls on the context and its objects raise
    ``ssl3d.Error``; memory still viewed by NumPy arrays stays valid until they are gone.
    """

    def __init__(self, threads=None, seed=0, backend="cpu"):
        kinds = {"cpu": 0, "cuda": 1}
        if backend not in kinds:
            raise Error(ERR_INVALID_ARG, f"Context: unknown backend {backend!r} (cpu, cuda)")
        p = C.c_void_p()
        st = lib.ssl3d_ctx_create(kinds[backend], C.byref(p))
        if st != OK:
            raise Error(st, lib.ssl3d_ctx_last_error(None).decode() if st != ERR_BACKEND_UNAVAILABLE
                        else f"backend {backend!r} is not available in this build or on this machine")
        self._h = _CtxHandle(p.value)
        self._children = weakref.WeakSet()
        self._closed = False
        if threads is not None:
            self.threads = threads
        self.seed = seed

    # -- state
    @property
    def ptr(self):
        """The raw ssl3d_ctx* (an int) for direct ctypes calls; raises once closed."""
        if self._closed:
            raise Error(ERR_STATE, "the context is closed")
        return self._h.ptr

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Release the context's handles (except tensors viewed by live NumPy arrays,
        released when those go) and the context itself once nothing uses it."""
        if self._closed:
            return
        self._closed = True
        for h in sorted(self._children, key=id):
            if not len(h.views):
                h.free()
        self._h.dead = True
        self._h.maybe_free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<ssl3d.Context closed>" if self._closed else \
            f"<ssl3d.Context threads={self.threads} seed={self.seed}>"

    @property
    def threads(self):
        """Threads used by the context's kernels (OpenMP and BLAS)."""
        return int(lib.ssl3d_ctx_threads(self.ptr))

    @threads.setter
    def threads(self, n):
        self.check(lib.ssl3d_ctx_set_threads(self.ptr, int(n)))

    @property
    def seed(self):
        """Seed of the context's RNG; setting it resets every stream (weights drawn next)."""
        return int(lib.ssl3d_ctx_seed(self.ptr))

    @seed.setter
    def seed(self, s):
        self.check(lib.ssl3d_ctx_set_seed(self.ptr, int(s)))

    @property
    def last_error(self):
        """Message of the last failed call ("" if none)."""
        return lib.ssl3d_ctx_last_error(self.ptr).decode(errors="replace")

    def check(self, status):
        """Raise ssl3d.Error with the context's message when status is not SSL3D_OK."""
        if status != OK:
            raise Error(status, lib.ssl3d_ctx_last_error(self._h.ptr).decode(errors="replace"))

    def own(self, ptr, release, parent=None):
        """Wrap a new C handle of this context so that it is released exactly once,
        before the context. Returns a _Handle (internal)."""
        h = _Handle(ptr, release, self._h, parent)
        self._children.add(h)
        return h

    @contextlib.contextmanager
    def no_grad(self):
        """Disable gradient recording inside the block (evaluation, inference)."""
        prev = lib.ssl3d_set_grad_enabled(self.ptr, 0)
        try:
            yield
        finally:
            if not self._closed:
                lib.ssl3d_set_grad_enabled(self._h.ptr, prev)

    def tape_reset(self):
        lib.ssl3d_tape_reset(self.ptr)

    def tape_size(self):
        return int(lib.ssl3d_tape_size(self.ptr))

    # -- tensors
    def tensor(self, array, dtype=None, requires_grad=False):
        """New tensor holding a COPY of ``array`` (float32 or int32, any shape of 1..8
        dims). Other dtypes raise ssl3d.Error (SSL3D_ERR_DTYPE) unless ``dtype``
        (np.float32 or np.int32) asks for a conversion."""
        a = np.asarray(array)
        if dtype is not None:
            dt = np.dtype(dtype)
            if dt not in (_NP_OF[F32], _NP_OF[I32]):
                raise Error(ERR_DTYPE, f"tensor: dtype must be float32 or int32, got {dt}")
            a = a.astype(dt, copy=False)
        if a.dtype.newbyteorder("=") == _NP_OF[F32]:
            code = F32
        elif a.dtype.newbyteorder("=") == _NP_OF[I32]:
            code = I32
        else:
            raise Error(ERR_DTYPE, f"tensor: array of dtype {a.dtype}, expected float32 or int32 "
                                   f"(convert with .astype(np.float32) or pass dtype=)")
        if not 1 <= a.ndim <= MAX_DIMS:
            raise Error(ERR_SHAPE, f"tensor: array of {a.ndim} dims, expected 1..{MAX_DIMS}")
        a = np.ascontiguousarray(a, dtype=_NP_OF[code])   # native byte order, C order
        shape = (C.c_int64 * a.ndim)(*a.shape)
        p = C.c_void_p()
        self.check(lib.ssl3d_tensor_from_data(self.ptr, code, a.ndim, shape, a.ctypes.data, C.byref(p)))
        t = Tensor._wrap(self, p.value)
        if requires_grad:
            t.requires_grad = True
        return t

    def zeros(self, shape, dtype=np.float32):
        """New zero-filled tensor."""
        dt = np.dtype(dtype)
        code = {v: k for k, v in _NP_OF.items()}.get(dt)
        if code is None:
            raise Error(ERR_DTYPE, f"zeros: dtype must be float32 or int32, got {dt}")
        shape = tuple(int(s) for s in shape)
        p = C.c_void_p()
        self.check(lib.ssl3d_tensor_create(self.ptr, code, len(shape), (C.c_int64 * len(shape))(*shape), C.byref(p)))
        return Tensor._wrap(self, p.value)

    def backward(self, loss):
        """Back-propagate from a one-element tensor through everything recorded."""
        self.check(lib.ssl3d_backward(self.ptr, loss.ptr))


# ---------------------------------------------------------------- tensors

class Tensor:
    """A libssl3d tensor (float32 or int32, row-major) owned by this object.

    NumPy: ``t.numpy()`` is a zero-copy view of the tensor's memory (CPU backend) that
    keeps the tensor alive; ``t.numpy(copy=True)`` or ``np.array(t)`` copies. Tensors
    are created from NumPy arrays by copying (``ctx.tensor(a)``).
    """
    __slots__ = ("ctx", "_h", "__weakref__")

    @classmethod
    def _wrap(cls, ctx, ptr, retain=False):
        """Take ownership of one reference to ``ptr`` (retain=True: take a new one)."""
        if not ptr:
            raise Error(ERR_INVALID_ARG, "NULL tensor")
        if retain:
            lib.ssl3d_tensor_retain(ptr)
        t = cls.__new__(cls)
        t.ctx = ctx
        t._h = ctx.own(ptr, lib.ssl3d_tensor_release)
        return t

    @property
    def ptr(self):
        """The raw ssl3d_tensor* (an int); raises once the tensor or its context is closed."""
        if self.ctx.closed:
            raise Error(ERR_STATE, "tensor used after its context was closed")
        if not self._h.ptr:
            raise Error(ERR_STATE, "tensor used after close()")
        return self._h.ptr

    def close(self):
        """Drop this object's reference now (NumPy views keep the memory until they go)."""
        h, self._h = self._h, _Handle(None, None, None)
        if not len(h.views):
            h.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def shape(self):
        p = self.ptr
        return tuple(int(lib.ssl3d_tensor_dim(p, i)) for i in range(lib.ssl3d_tensor_ndim(p)))

    @property
    def ndim(self):
        return int(lib.ssl3d_tensor_ndim(self.ptr))

    @property
    def dtype(self):
        return _NP_OF[int(lib.ssl3d_tensor_dtype(self.ptr))]

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        if not self._h.ptr or self.ctx.closed:
            return "<ssl3d.Tensor closed>"
        return f"<ssl3d.Tensor {self.dtype} {self.shape}>"

    def numpy(self, copy=False):
        """The values as a NumPy array: a writable zero-copy view of the tensor memory
        (valid however long the array lives: it keeps the tensor alive), or a copy."""
        p = self.ptr
        if copy:
            out = np.empty(self.shape, self.dtype)
            self.ctx.check(lib.ssl3d_tensor_read(self.ctx.ptr, p, out.ctypes.data, out.nbytes))
            return out
        data = lib.ssl3d_tensor_host_data(p)
        if not data:  # device memory: no host pointer
            return self.numpy(copy=True)
        return np.asarray(_View(self._h, data, self.shape, self.dtype, readonly=False))

    def __array__(self, dtype=None):
        a = self.numpy(copy=True)
        return a if dtype is None else a.astype(dtype, copy=False)

    def write(self, array):
        """Overwrite the values from an array of the same shape (converted to the dtype)."""
        a = np.ascontiguousarray(array, dtype=self.dtype)
        if a.shape != self.shape:
            raise Error(ERR_SHAPE, f"write: array of shape {a.shape}, the tensor is {self.shape}")
        self.ctx.check(lib.ssl3d_tensor_write(self.ctx.ptr, self.ptr, a.ctypes.data, a.nbytes))

    def item(self):
        """The value of a one-element tensor as a Python number."""
        a = self.numpy(copy=True)
        if a.size != 1:
            raise Error(ERR_SHAPE, f"item: tensor of shape {a.shape} has {a.size} elements, not 1")
        return a.reshape(()).item()

    @property
    def requires_grad(self):
        return bool(lib.ssl3d_tensor_requires_grad(self.ptr))

    @requires_grad.setter
    def requires_grad(self, on):
        self.ctx.check(lib.ssl3d_tensor_set_requires_grad(self.ctx.ptr, self.ptr, int(bool(on))))

    def grad(self):
        """Copy of the accumulated gradient (zeros if none reached the tensor)."""
        shape = self.shape
        out = np.empty(shape, np.float32)
        self.ctx.check(lib.ssl3d_tensor_read_grad(self.ctx.ptr, self.ptr,
                                                   out.ctypes.data_as(C.POINTER(C.c_float)), out.size))
        return out

    def zero_grad(self):
        self.ctx.check(lib.ssl3d_tensor_zero_grad(self.ctx.ptr, self.ptr))


def out_ptr():
    """A fresh out-parameter for a handle."""
    return C.c_void_p()
