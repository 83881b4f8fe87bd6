"""The engine against PyTorch: libssl3d's 3D U-Net encoder, full U-Net and the rotation
and jigsaw task networks, rebuilt by ssl3d.torch with the weights of a libssl3d
checkpoint, give the same forward outputs (1e-4) and the same gradients of a loss with
respect to the input and every weight (1e-3) as libssl3d, in training and evaluation
mode (and the same batch-norm running statistics after a training step). Errors are
measured relative to the largest magnitude of the reference: max|a - b| / max|b| (for a
conv bias, the larger of its own and its weight's gradient scale: see compare_grads)."""
import ctypes as C

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ssl3d  # noqa: E402
import ssl3d.torch as st  # noqa: E402
from ssl3d._lib import lib  # noqa: E402

FWD, GRAD = 1e-4, 1e-3


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.abs(b).max()
    assert scale > 0, "reference is all zeros: the comparison would prove nothing"
    return np.abs(a - b).max() / scale


def randomise(module, rng):
    """Non-trivial weights and norm statistics (so that evaluation mode is tested too)."""
    for name, t in module.tensors().items():
        a = t.numpy()
        if name.endswith("running_var"):
            a[...] = rng.uniform(0.5, 2.0, a.shape)
        elif name.endswith("running_mean"):
            a[...] = rng.normal(0, 0.3, a.shape)
        elif ".norm" in name and name.endswith("weight"):
            a[...] = rng.uniform(0.5, 1.5, a.shape)
        elif ".norm" in name and name.endswith("bias"):
            a[...] = rng.normal(0, 0.2, a.shape)


def wsum(ctx, y, w):
    """Loss sum(y * w): its gradient with respect to y is w."""
    out = C.c_void_p()
    wt = ctx.tensor(w)
    ctx.check(lib.ssl3d_weighted_sum(ctx.ptr, y.ptr, wt.ptr, C.byref(out)))
    return ssl3d.Tensor._wrap(ctx, out.value)


def compare_grads(module_tensors, torch_module, training=True, prefix=""):
    named = dict(torch_module.named_parameters())
    n = 0
    for name, t in module_tensors.items():
        if name.endswith(("running_mean", "running_var")):
            continue
        g = named[prefix + name].grad
        assert g is not None, name
        a, b = t.grad(), g.numpy()
        w = name[:-len("bias")] + "weight"
        if name.endswith(".bias") and ".conv" in name and w in module_tensors:
            # A norm after the conv removes a per-channel constant (batch norm in training,
            # group norm with one channel per group): the bias gradient is then exactly 0
            # and both sides hold rounding noise. Measure it against the layer's scale.
            scale = max(np.abs(b).max(), np.abs(module_tensors[w].grad()).max())
            assert np.abs(a - b).max() / scale < GRAD, (name, np.abs(a - b).max() / scale)
        else:
            assert rel(a, b) < GRAD, (name, rel(a, b))
        n += 1
    assert n == len(named), "every torch parameter has a libssl3d counterpart"


def compare_buffers(module_tensors, torch_module, prefix=""):
    sd = torch_module.state_dict()
    for name, t in module_tensors.items():
        if name.endswith(("running_mean", "running_var")):
            assert rel(t.numpy(), sd[prefix + name].numpy()) < FWD, name


@pytest.mark.parametrize("norm,dims", [("batch", 3), ("group", 3), ("instance", 3), ("batch", 2)])
@pytest.mark.parametrize("training", [True, False])
def test_unet_matches_pytorch(tmp_path, norm, dims, training):
    rng = np.random.default_rng(1)
    with ssl3d.Context(threads=1, seed=5) as ctx:
        m = ssl3d.FineTuneModel.create(ctx, "segment", dims=dims, in_channels=2, classes=3, filters=4, levels=2,
                                       norm=norm)
        randomise(m.encoder, rng)
        randomise(m.head, rng)
        m.save(tmp_path / "unet.safetensors")
        net = st.load_unet(tmp_path / "unet.safetensors")
        assert isinstance(net, st.UNet) and net.classes == 3 and net.encoder.dims == dims
        x = rng.normal(size=(2, 2) + (8,) * dims).astype(np.float32)
        w = rng.normal(size=(2, 3) + (8,) * dims).astype(np.float32)
        # libssl3d
        xt = ctx.tensor(x, requires_grad=True)
        y = m.forward(xt, training=training)
        ctx.backward(wsum(ctx, y, w))
        # PyTorch
        net.train(training)
        xp = torch.from_numpy(x).requires_grad_()
        yp = net(xp)
        (yp * torch.from_numpy(w)).sum().backward()
        assert rel(y.numpy(), yp.detach().numpy()) < FWD
        assert rel(xt.grad(), xp.grad.numpy()) < GRAD
        compare_grads({"encoder." + k: v for k, v in m.encoder.tensors().items()} |
                      {"decoder." + k: v for k, v in m.head.tensors().items()}, net, training)
        compare_buffers({"encoder." + k: v for k, v in m.encoder.tensors().items()}, net)


@pytest.mark.parametrize("training", [True, False])
def test_encoder_and_skips_match_pytorch(tmp_path, training):
    rng = np.random.default_rng(2)
    with ssl3d.Context(threads=2, seed=9) as ctx:
        task = ssl3d.Task.create(ctx, "rotation", 3, 1, {"filters": 4, "levels": 3, "input_size": 16, "hidden": 8})
        randomise(task.encoder, rng)
        task.save(tmp_path / "pre.safetensors")
        enc = ssl3d.Encoder.from_checkpoint(ctx, tmp_path / "pre.safetensors")
        tenc = st.load_encoder(tmp_path / "pre.safetensors")
        assert (tenc.dims, tenc.filters, tenc.levels, tenc.norm) == (3, 4, 3, "batch")
        x = rng.normal(size=(2, 1, 16, 12, 8)).astype(np.float32)   # anisotropic on purpose
        xt = ctx.tensor(x, requires_grad=True)
        b, skips = enc.forward(xt, training=training, skips=True)
        wb = rng.normal(size=b.shape).astype(np.float32)
        ctx.backward(wsum(ctx, b, wb))
        tenc.train(training)
        xp = torch.from_numpy(x).requires_grad_()
        bp, sp = tenc(xp, return_skips=True)
        (bp * torch.from_numpy(wb)).sum().backward()
        assert rel(b.numpy(), bp.detach().numpy()) < FWD
        for s, s2 in zip(skips, sp):
            assert rel(s.numpy(), s2.detach().numpy()) < FWD
        assert rel(xt.grad(), xp.grad.numpy()) < GRAD
        compare_grads(enc.tensors(), tenc, training)
        compare_buffers(enc.tensors(), tenc)


def c_pooled(ctx, task, x, training):
    """The task's encoder on x, then global average pooling: (N, C_b) features."""
    b = dict(task.modules())["encoder"].forward(x, training=training)
    f = C.c_void_p()
    ctx.check(lib.ssl3d_global_avgpool(ctx.ptr, b.ptr, C.byref(f)))
    return ssl3d.Tensor._wrap(ctx, f.value)


@pytest.mark.parametrize("training", [True, False])
def test_rotation_head_matches_pytorch(tmp_path, training):
    """Module level (input gradients included) and task level: the loss of
    ssl3d_task_forward equals PyTorch's for exactly one rotation class, with the same
    weight gradients."""
    rng = np.random.default_rng(3)
    with ssl3d.Context(threads=1, seed=4) as ctx:
        task = ssl3d.Task.create(ctx, "rotation", 3, 1, {"filters": 4, "levels": 2, "input_size": 16, "hidden": 8})
        randomise(task.encoder, rng)
        task.save(tmp_path / "rot.safetensors")
        net = st.load_task(tmp_path / "rot.safetensors")
        assert isinstance(net, st.RotationNet)
        net.train(training)
        # module level
        x = rng.normal(size=(3, 1, 16, 16, 16)).astype(np.float32)
        labels = np.array([1, 7, 4], np.int32)
        xt = ctx.tensor(x, requires_grad=True)
        head = dict(task.modules())["head"]
        logits = head.forward(c_pooled(ctx, task, xt, training))
        loss = C.c_void_p()
        lab = ctx.tensor(labels)   # keep a reference while C uses the pointer
        ctx.check(lib.ssl3d_cross_entropy(ctx.ptr, logits.ptr, lab.ptr, C.byref(loss)))
        loss = ssl3d.Tensor._wrap(ctx, loss.value)
        ctx.backward(loss)
        xp = torch.from_numpy(x).requires_grad_()
        lp = net(xp)
        lossp = torch.nn.functional.cross_entropy(lp, torch.from_numpy(labels).long())
        lossp.backward()
        assert rel(logits.numpy(), lp.detach().numpy()) < FWD
        assert abs(loss.item() - lossp.item()) / abs(lossp.item()) < FWD
        assert rel(xt.grad(), xp.grad.numpy()) < GRAD
        tensors = {f"{n}.{k}": v for n, mod in task.modules() for k, v in mod.tensors().items()}
        compare_grads(tensors, net, training)
        # task level: one image of exactly input_size, so the only draw is the class
        for _, mod in task.modules():
            mod.zero_grad()
        net.zero_grad()
        img = rng.normal(size=(1, 16, 16, 16)).astype(np.float32)
        if not training:
            ctx.tape_reset()
        lc, correct, total = task.forward([img], seed=11, index=3, training=training)
        if training:
            ctx.backward(lc)
        else:
            ctx.tape_reset()
        matches, img_t = [], ctx.tensor(img)
        for r in range(lib.ssl3d_rotation_classes(3)):
            rot = C.c_void_p()
            ctx.check(lib.ssl3d_rotation_apply(ctx.ptr, img_t.ptr, r, C.byref(rot)))
            xr = torch.from_numpy(ssl3d.Tensor._wrap(ctx, rot.value).numpy(copy=True)[None])
            with torch.no_grad():
                lr_ = torch.nn.functional.cross_entropy(net(xr), torch.tensor([r])).item()
            if abs(lr_ - lc.item()) <= FWD * abs(lr_):
                matches.append((r, xr))
        assert len(matches) == 1, f"task loss {lc.item()} matches classes {[m[0] for m in matches]}"
        if training:
            r, xr = matches[0]
            torch.nn.functional.cross_entropy(net(xr), torch.tensor([r])).backward()
            compare_grads(tensors, net, training)


def grid_cells(img, n, cell):
    """The n^3 cells (raster order, k fastest) of side `cell` centred in img (C, S, S, S)."""
    off = [(s - n * cell) // 2 for s in img.shape[1:]]
    return [img[:, off[0] + i * cell:off[0] + (i + 1) * cell, off[1] + j * cell:off[1] + (j + 1) * cell,
                off[2] + k * cell:off[2] + (k + 1) * cell] for i in range(n) for j in range(n) for k in range(n)]


@pytest.mark.parametrize("training", [True, False])
def test_jigsaw_head_matches_pytorch(tmp_path, training):
    """The jigsaw network (per-patch encoder, concatenation in slot order, MLP): module
    level with input gradients, and task level (jitter 0: the only draw is the
    permutation, found among the P candidates; the weight gradients agree)."""
    rng = np.random.default_rng(6)
    opts = {"filters": 4, "levels": 1, "grid": 2, "cell": 8, "jitter": 0, "permutations": 5, "hidden": 8}
    with ssl3d.Context(threads=1, seed=8) as ctx:
        task = ssl3d.Task.create(ctx, "jigsaw", 3, 1, opts)
        randomise(task.encoder, rng)
        task.save(tmp_path / "jig.safetensors")
        net = st.load_task(tmp_path / "jig.safetensors")
        assert isinstance(net, st.JigsawNet) and tuple(net.permutations.shape) == (5, 8)
        net.train(training)
        tensors = {f"{n}.{k}": v for n, mod in task.modules() for k, v in mod.tensors().items()}
        # module level: puzzles (B=2, K=8 patches)
        x = rng.normal(size=(2, 8, 1, 8, 8, 8)).astype(np.float32)
        labels = np.array([3, 0], np.int32)
        xt = ctx.tensor(x.reshape(16, 1, 8, 8, 8), requires_grad=True)
        head = dict(task.modules())["head"]
        f = c_pooled(ctx, task, xt, training)
        cat = C.c_void_p()
        ctx.check(lib.ssl3d_reshape(ctx.ptr, f.ptr, 2, (C.c_int64 * 2)(2, 8 * f.shape[1]), C.byref(cat)))
        logits = head.forward(ssl3d.Tensor._wrap(ctx, cat.value))
        loss = C.c_void_p()
        lab = ctx.tensor(labels)   # keep a reference while C uses the pointer
        ctx.check(lib.ssl3d_cross_entropy(ctx.ptr, logits.ptr, lab.ptr, C.byref(loss)))
        ctx.backward(ssl3d.Tensor._wrap(ctx, loss.value))
        xp = torch.from_numpy(x).requires_grad_()
        lp = net(xp)
        torch.nn.functional.cross_entropy(lp, torch.from_numpy(labels).long()).backward()
        assert rel(logits.numpy(), lp.detach().numpy()) < FWD
        assert rel(xt.grad().reshape(x.shape), xp.grad.numpy()) < GRAD
        compare_grads(tensors, net, training)
        # task level
        for _, mod in task.modules():
            mod.zero_grad()
        net.zero_grad()
        img = rng.normal(size=(1, 16, 16, 16)).astype(np.float32)
        lc, _, _ = task.forward([img], seed=2, index=5, training=training)
        if training:
            ctx.backward(lc)
        else:
            ctx.tape_reset()
        cells = grid_cells(img, 2, 8)
        matches = []
        for p, perm in enumerate(net.permutations.tolist()):
            puzzle = torch.from_numpy(np.stack([cells[c] for c in perm])[None].copy())
            with torch.no_grad():
                lp_ = torch.nn.functional.cross_entropy(net(puzzle), torch.tensor([p])).item()
            if abs(lp_ - lc.item()) <= FWD * abs(lp_):
                matches.append((p, puzzle))
        assert len(matches) == 1, f"task loss {lc.item()} matches permutations {[m[0] for m in matches]}"
        if training:
            p, puzzle = matches[0]
            torch.nn.functional.cross_entropy(net(puzzle), torch.tensor([p])).backward()
            compare_grads(tensors, net, training)


@pytest.mark.parametrize("ordinal", [False, True])
def test_classifier_matches_pytorch_and_round_trips(tmp_path, ordinal):
    """A classification model file (encoder -> pool -> MLP): the same logits and gradients
    in PyTorch, and the PyTorch module saved back gives the library the same logits."""
    rng = np.random.default_rng(7)
    with ssl3d.Context(threads=1, seed=2) as ctx:
        m = ssl3d.FineTuneModel.create(ctx, "classify", dims=3, in_channels=1, classes=4, filters=4, levels=2,
                                       hidden=6, ordinal=ordinal)
        randomise(m.encoder, rng)
        m.save(tmp_path / "cls.safetensors")
        net = st.load_classifier(tmp_path / "cls.safetensors")
        assert net.ordinal == ordinal and net.head.hidden == 6
        x = rng.normal(size=(3, 1, 8, 8, 8)).astype(np.float32)
        xt = ctx.tensor(x, requires_grad=True)
        y = m.forward(xt, training=True)
        w = rng.normal(size=y.shape).astype(np.float32)
        ctx.backward(wsum(ctx, y, w))
        net.train()
        xp = torch.from_numpy(x).requires_grad_()
        yp = net(xp)
        (yp * torch.from_numpy(w)).sum().backward()
        assert rel(y.numpy(), yp.detach().numpy()) < FWD
        assert rel(xt.grad(), xp.grad.numpy()) < GRAD
        compare_grads({"encoder." + k: v for k, v in m.encoder.tensors().items()} |
                      {"head." + k: v for k, v in m.head.tensors().items()}, net, True)
        net.eval()
        st.save_checkpoint(net, tmp_path / "back.safetensors")
        back = ssl3d.FineTuneModel.load(ctx, tmp_path / "back.safetensors")
        with ctx.no_grad():
            yb = back.forward(x, training=False).numpy()
        with torch.no_grad():
            ye = net(torch.from_numpy(x)).numpy()
        assert rel(yb, ye) < FWD
