"""The Python API against the C results and its error behaviour: images read as the C
reader and `ssl3d info` read them, NumPy memory rules, errors with the library's message
for missing and hostile files and for misuse, no leaks over 1,000 create/release cycles,
encode(), fine-tuning and evaluation against `ssl3d evaluate`, and PyTorch -> libssl3d
export."""
import gc
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import ssl3d
from conftest import BIN, REPO, need_bin, write_nifti

DATA = REPO.parent / "shared" / "data"
TINY_TASK = {"filters": 4, "levels": 2, "input_size": 16, "hidden": 8}


def info(path):
    need_bin()
    r = subprocess.run([str(BIN), "info", str(path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def write_png_grey(path, a):
    """8-bit grey PNG by hand (zlib + CRCs), independent of libssl3d."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    h, w = a.shape
    raw = b"".join(b"\0" + a[y].astype(np.uint8).tobytes() for y in range(h))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- images

def test_nifti_read_matches_written_array_and_cli(ctx, tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.normal(size=(5, 6, 7)).astype(np.float32)          # (z, y, x) on disk
    p = tmp_path / "las.nii.gz"
    # sform: voxel x points Left (-x world), y Anterior, z Superior, spacing 2 x 3 x 4 mm.
    write_nifti(p, vol, srow=[[-2, 0, 0, 10], [0, 3, 0, -5], [0, 0, 4, 1]], pixdim=(2, 3, 4))
    img = ssl3d.read_image(ctx, p)
    # Canonical RAS+: the x axis is flipped so that W points Right.
    assert img.data.shape == (1, 5, 6, 7) and img.shape == (1, 5, 6, 7)
    assert np.array_equal(img.data[0], vol[:, :, ::-1])
    assert img.orientation == "LAS" and img.format == "nifti1" and img.datatype == "float32"
    assert img.spacing == pytest.approx((4, 3, 2))
    assert img.affine[0, 0] == pytest.approx(2) and img.affine[0, 3] == pytest.approx(10 - 2 * 6)
    ci = info(p)
    assert ci["shape"] == list(img.shape) and ci["orientation"] == img.orientation
    assert ci["min"] == pytest.approx(float(img.data.min())) and ci["max"] == pytest.approx(float(img.data.max()))


def test_png_read_matches_written_array(ctx, tmp_path):
    a = (np.arange(12 * 9).reshape(9, 12) * 2 % 256).astype(np.uint8)
    write_png_grey(tmp_path / "g.png", a)
    img = ssl3d.read_image(ctx, tmp_path / "g.png")
    assert img.shape == (1, 1, 9, 12) and img.format == "png"
    np.testing.assert_allclose(img.data[0, 0], a.astype(np.float32) / 255.0, rtol=1e-6)
    assert info(tmp_path / "g.png")["shape"] == [1, 1, 9, 12]


def test_real_image_matches_cli(ctx):
    man = DATA / "hippocampus" / "dataset.json"
    if not man.exists():
        pytest.skip("../shared/data/hippocampus is absent")
    path = DATA / "hippocampus" / json.loads(man.read_text())["training"][0]["image"]
    img = ssl3d.read_image(ctx, path)
    ci = info(path)
    assert ci["shape"] == list(img.shape) and ci["datatype"] == img.datatype
    assert ci["min"] == pytest.approx(float(img.data.min()), rel=1e-6)
    assert ci["max"] == pytest.approx(float(img.data.max()), rel=1e-6)


# ---------------------------------------------------------------- NumPy memory rules

def test_image_data_is_a_readonly_zero_copy_view(ctx, tmp_path):
    write_nifti(tmp_path / "a.nii", np.ones((2, 3, 4), np.float32))
    img = ssl3d.read_image(ctx, tmp_path / "a.nii")
    assert img.data.ctypes.data == ssl3d._clib.ssl3d_image_data(img.ptr)   # no copy
    assert not img.data.flags.writeable
    with pytest.raises(ValueError):
        img.data[0, 0, 0, 0] = 5
    kept = img.data
    img.close()                                        # the array keeps the image's memory
    assert kept.sum() == 24 and img.data is None
    with pytest.raises(ssl3d.Error, match="after close"):
        img.ptr


def test_tensor_numpy_view_writes_through_and_outlives_close(tmp_path):
    ctx = ssl3d.Context(threads=1)
    t = ctx.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    v = t.numpy()
    v[1, 2, 3] = -7.0                                       # the view IS the tensor memory
    assert t.numpy(copy=True)[1, 2, 3] == -7.0
    src = np.zeros(4, np.float32)
    t2 = ctx.tensor(src)
    src[0] = 3                                              # from NumPy: a copy
    assert t2.numpy()[0] == 0
    ctx.close()                                             # the view keeps its tensor alive
    assert v[1, 2, 3] == -7.0 and v.sum() == np.arange(24).sum() - 23 - 7
    with pytest.raises(ssl3d.Error) as e:
        t.numpy()
    assert e.value.status_name == "SSL3D_ERR_STATE" and "closed" in e.value.message
    del v, t
    gc.collect()


# ---------------------------------------------------------------- errors

def test_missing_file_errors_name_the_file(ctx, tmp_path):
    p = tmp_path / "nope.nii.gz"
    for call in (lambda: ssl3d.read_image(ctx, p), lambda: ssl3d.Checkpoint(ctx, p),
                 lambda: ssl3d.Task.from_checkpoint(ctx, p), lambda: ssl3d.Manifest(ctx, p)):
        with pytest.raises(ssl3d.Error) as e:
            call()
        assert e.value.status_name == "SSL3D_ERR_IO" and str(p) in e.value.message, e.value
        assert str(e.value).startswith("SSL3D_ERR_IO: ")


def test_hostile_files_raise_format_errors(ctx, tmp_path):
    # NIfTI claiming 30000^3 voxels in a file of a few hundred bytes
    p = tmp_path / "huge.nii"
    write_nifti(p, np.zeros((2, 2, 2), np.float32))
    b = bytearray(p.read_bytes())
    struct.pack_into("<4h", b, 40, 3, 30000, 30000, 30000)
    p.write_bytes(bytes(b))
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.read_image(ctx, p)
    assert e.value.status_name == "SSL3D_ERR_FORMAT" and "huge.nii" in e.value.message
    # safetensors whose header length points past the end of the file
    q = tmp_path / "bad.safetensors"
    q.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.Checkpoint(ctx, q)
    assert e.value.status_name == "SSL3D_ERR_FORMAT" and "bad.safetensors" in e.value.message
    with pytest.raises(ValueError, match="bad.safetensors"):
        ssl3d.safetensors.load(q)


def test_misuse_wrong_dtype_shape_and_use_after_close(ctx):
    enc = ssl3d.Encoder.create(ctx, 3, 1, 4, 2)
    with pytest.raises(ssl3d.Error) as e:               # float64 is refused, not silently cast
        ctx.tensor(np.zeros((1, 1, 8, 8, 8)))
    assert e.value.status_name == "SSL3D_ERR_DTYPE" and "float64" in e.value.message
    with pytest.raises(ssl3d.Error) as e:               # int32 tensor into a conv: the C check
        enc.forward(ctx.tensor(np.zeros((1, 1, 8, 8, 8), np.int32)))
    assert e.value.status_name == "SSL3D_ERR_DTYPE" and "ssl3d_encoder_forward" in e.value.message
    with pytest.raises(ssl3d.Error) as e:               # wrong channel count: the C message
        enc.forward(np.zeros((1, 2, 8, 8, 8), np.float32))
    assert e.value.status_name == "SSL3D_ERR_SHAPE" and "(1,2,8,8,8)" in e.value.message.replace(" ", "")
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.encode(enc, np.zeros((8, 8), np.float32))
    assert e.value.status_name == "SSL3D_ERR_SHAPE" and "(8, 8)" in e.value.message
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.encode(enc, np.zeros((1, 8, 8, 8), np.int64))
    assert e.value.status_name == "SSL3D_ERR_DTYPE"
    t = ctx.tensor(np.zeros(3, np.float32))
    with pytest.raises(ssl3d.Error) as e:
        t.write(np.zeros(4))
    assert e.value.status_name == "SSL3D_ERR_SHAPE"
    t.close()
    with pytest.raises(ssl3d.Error, match="after close"):
        t.numpy()
    task = ssl3d.Task.create(ctx, "rotation", 3, 1, TINY_TASK)
    borrowed = task.encoder
    task.close()
    with pytest.raises(ssl3d.Error, match="after close"):
        borrowed.forward(np.zeros((1, 1, 8, 8, 8), np.float32))
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.Task.create(ctx, "rotation", 3, 1, {"levels": 99})
    assert e.value.status_name == "SSL3D_ERR_INVALID_ARG" and "levels" in e.value.message
    ctx.close()
    with pytest.raises(ssl3d.Error, match="context"):
        enc.forward(np.zeros((1, 1, 8, 8, 8), np.float32))


# ---------------------------------------------------------------- lifetimes and leaks

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def cycle(i):
    """Create a context, tensors (1 MiB), an encoder, a forward pass and views; release
    them explicitly, by `with`, or by dropping references (the GC, in any order, even
    through a reference cycle)."""
    ctx = ssl3d.Context(threads=1, seed=i)
    x = ctx.tensor(np.full((1, 1, 64, 64, 64), 0.5, np.float32))
    enc = ssl3d.Encoder.create(ctx, 3, 1, 2, 1)
    with ctx.no_grad():
        b = enc.forward(np.ones((1, 1, 4, 4, 4), np.float32))
    v = x.numpy()
    if i % 3 == 0:
        with ctx:
            pass
    elif i % 3 == 1:
        holder = {"ctx": ctx, "x": x, "b": b, "enc": enc}
        holder["self"] = holder        # a reference cycle: freed by the cycle collector
    return float(v[0, 0, 0, 0, 0])


def test_no_leaks_over_1000_create_release_cycles():
    for i in range(100):               # warm-up: allocator pools, OpenMP and BLAS threads
        cycle(i)
    gc.collect()
    before = rss_kib()
    for i in range(1000):
        assert cycle(i) == 0.5
    gc.collect()
    grown = rss_kib() - before
    # One leaked context or 1 MiB tensor per cycle would add ~1000 MiB.
    assert grown < 16 * 1024, f"RSS grew by {grown} KiB over 1000 cycles"


# ---------------------------------------------------------------- encode

def test_encode_maps_and_pooled(ctx):
    task = ssl3d.Task.create(ctx, "rotation", 3, 1, TINY_TASK)
    vol = np.random.default_rng(1).normal(size=(1, 16, 12, 8)).astype(np.float32)
    maps = ssl3d.encode(task, vol)
    pooled = ssl3d.encode(task, vol, pooled=True)
    assert maps.shape == (16, 4, 3, 2) and pooled.shape == (16,)
    np.testing.assert_allclose(pooled, maps.mean(axis=(1, 2, 3)), rtol=1e-5, atol=1e-6)
    batch = ssl3d.encode(task.encoder, np.stack([vol, 2 * vol]), pooled=True)
    assert batch.shape == (2, 16) and np.allclose(batch[0], pooled, atol=1e-6)
    _, skips = ssl3d.encode(task, vol, skips=True)
    assert [s.shape for s in skips] == [(4, 16, 12, 8), (8, 8, 6, 4)]
    assert ctx.tape_size() == 0       # inference records nothing


# ---------------------------------------------------------------- fine-tuning

def test_finetune_and_evaluate_match_cli(seg_dataset, tmp_path):
    need_bin()
    with ssl3d.Context(threads=1, seed=0) as ctx:
        m = ssl3d.FineTuneModel.create(ctx, "segment", 3, 1, 2, filters=4, levels=2)
        seen = []
        hist = ssl3d.finetune(m, seg_dataset, {"epochs": 2, "batch": 2, "patch": 16, "seed": 1}, callback=seen.append)
        assert [h["epoch"] for h in hist] == [1, 2]
        assert seen == hist and all(np.isfinite(h["loss"]) for h in hist) and "val_dice" in hist[0]
        # returning False from the callback stops training after that epoch
        assert len(ssl3d.finetune(m, seg_dataset, {"epochs": 3, "batch": 2, "patch": 16},
                                  callback=lambda r: False)) == 1
        res = ssl3d.evaluate(m, seg_dataset)
        assert res["cases"] == 6 and 0 <= res["dice_mean"] <= 1
        m.save(tmp_path / "m.safetensors")
        # a callback that raises stops training and the exception comes back
        with pytest.raises(ZeroDivisionError):
            ssl3d.finetune(m, seg_dataset, {"epochs": 3, "batch": 2, "patch": 16}, callback=lambda r: 1 / 0)
    r = subprocess.run([str(BIN), "evaluate", "--model", str(tmp_path / "m.safetensors"), "--data", str(seg_dataset),
                        "--json", "--threads", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)
    assert cli["cases"] == res["cases"] and cli["dice_mean"] == pytest.approx(res["dice_mean"], abs=1e-12)


def test_evaluate_ensemble_matches_cli(seg_dataset, tmp_path):
    """A list of models is one ensemble (ssl3d_ft_evaluate_ensemble), as `ssl3d evaluate
    --model A --model B`; a list of one is the model alone; models that disagree raise."""
    need_bin()
    with ssl3d.Context(threads=1, seed=3) as ctx:
        a = ssl3d.FineTuneModel.create(ctx, "segment", 3, 1, 2, filters=4, levels=2, norm="instance")
        b = ssl3d.FineTuneModel.create(ctx, "segment", 3, 1, 2, filters=6, levels=1, norm="instance")
        a.save(tmp_path / "a.safetensors")
        b.save(tmp_path / "b.safetensors")
        alone, one = ssl3d.evaluate(a, seg_dataset), ssl3d.evaluate([a], seg_dataset)
        both = ssl3d.evaluate((a, b), seg_dataset)
        assert one == alone and "models" not in alone
        assert both["models"] == 2 and both["cases"] == 6 and both["dice_mean"] != alone["dice_mean"]
        three = ssl3d.FineTuneModel.create(ctx, "segment", 3, 1, 3, filters=4, levels=2)
        with pytest.raises(ssl3d.Error, match="model 1 has classes 3"):
            ssl3d.evaluate([a, three], seg_dataset)
        with pytest.raises(ssl3d.Error, match="empty"):
            ssl3d.evaluate([], seg_dataset)
    r = subprocess.run([str(BIN), "evaluate", "--model", str(tmp_path / "a.safetensors"), "--model",
                        str(tmp_path / "b.safetensors"), "--data", str(seg_dataset), "--json", "--threads", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == both


# ---------------------------------------------------------------- PyTorch -> libssl3d

def test_torch_unet_and_encoder_export_load_in_the_library(tmp_path):
    torch = pytest.importorskip("torch")
    import ssl3d.torch as st
    torch.manual_seed(0)
    net = st.UNet(dims=3, in_channels=1, classes=3, filters=4, levels=2, norm="batch")
    with torch.no_grad():                       # as if fine-tuned in PyTorch
        for name, b in net.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 2)
            elif name.endswith("running_mean"):
                b.normal_(0, 0.3)
    net.eval()
    st.save_checkpoint(net, tmp_path / "unet.safetensors")
    st.save_checkpoint(net.encoder, tmp_path / "enc.safetensors")
    x = np.random.default_rng(0).normal(size=(2, 1, 8, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
        ref_b = net.encoder(torch.from_numpy(x)).numpy()
    with ssl3d.Context(threads=1) as ctx:
        m = ssl3d.FineTuneModel.load(ctx, tmp_path / "unet.safetensors")
        assert (m.kind, m.classes, m.dims) == ("segment", 3, 3)
        with ctx.no_grad():
            y = m.forward(x, training=False).numpy()
        assert np.abs(y - ref).max() / np.abs(ref).max() < 1e-4
        enc = ssl3d.Encoder.from_checkpoint(ctx, tmp_path / "enc.safetensors")
        b = ssl3d.encode(enc, x)
        assert np.abs(b - ref_b).max() / np.abs(ref_b).max() < 1e-4
        # and a model file written by the library loads back into torch unchanged
        m.save(tmp_path / "again.safetensors")
    again = st.load_unet(tmp_path / "again.safetensors")
    for k, v in net.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]) or k.endswith("num_batches_tracked"), k


def test_torch_task_round_trip(tmp_path):
    pytest.importorskip("torch")
    import ssl3d.torch as st
    with ssl3d.Context(threads=1, seed=3) as ctx:
        task = ssl3d.Task.create(ctx, "jigsaw", 3, 1, {"filters": 4, "levels": 1, "grid": 2, "cell": 8, "jitter": 2,
                                                      "permutations": 4, "hidden": 8})
        task.save(tmp_path / "j.safetensors")
        net = st.load_task(tmp_path / "j.safetensors")
        with __import__("torch").no_grad():
            net.head.fc1.weight.mul_(2)
        st.save_checkpoint(net, tmp_path / "j2.safetensors")
        back = ssl3d.Task.from_checkpoint(ctx, tmp_path / "j2.safetensors")
        w = dict(back.modules())["head"].state_dict()["fc1.weight"]
        assert np.array_equal(w, 2 * dict(task.modules())["head"].state_dict()["fc1.weight"])
        ck = ssl3d.Checkpoint(ctx, tmp_path / "j2.safetensors")
        assert np.array_equal(ck["jigsaw.permutations"], ssl3d.Checkpoint(ctx, tmp_path / "j.safetensors")[
            "jigsaw.permutations"])


# ---------------------------------------------------------------- packaging

def test_library_lookup_and_pip_install(tmp_path):
    env = dict(os.environ, SSL3D_LIBRARY=str(tmp_path / "nowhere.so"), PYTHONPATH=str(REPO / "python"))
    r = subprocess.run([sys.executable, "-c", "import ssl3d"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode != 0 and "nowhere.so" in r.stderr and "SSL3D_LIBRARY" in r.stderr, r.stderr
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    env.pop("SSL3D_LIBRARY", None)   # the build tree next to the package
    r = subprocess.run([sys.executable, "-c", "import ssl3d; print(ssl3d.library_path)"], capture_output=True,
                       text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and os.path.samefile(r.stdout.strip(), REPO / "lib" / "libssl3d.so.0"), r.stderr
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not installed")
    # Offline here, hence no build isolation; `pip install ./python` is the same build.
    src = tmp_path / "src"                       # build from a copy: leave the checkout clean
    shutil.copytree(REPO / "python", src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                        "--no-deps", "--target", str(tmp_path / "site"), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), SSL3D_LIBRARY=str(REPO / "lib" / "libssl3d.so.0"))
    r = subprocess.run([sys.executable, "-c", "import ssl3d; print(ssl3d.__file__, ssl3d.library_version())"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and str(tmp_path / "site") in r.stdout and "0.1.0" in r.stdout, r.stderr
    assert (tmp_path / "site" / "ssl3d" / "torch.py").exists()
