"""ssl3d.pretrain and the CLI make the same library calls: the same seeded run gives the same loss
trajectory as `bin/ssl3d pretrain --log`, bitwise, and the same checkpoint tensors."""
import json
import subprocess

import numpy as np
import pytest

import ssl3d
from conftest import BIN, need_bin, write_dataset

OPTS = {"filters": 4, "levels": 2, "input_size": 16, "hidden": 8}


def cli_losses(log):
    recs = [json.loads(line) for line in open(log)]
    return [r for r in recs if not r.get("final")], [r for r in recs if r.get("final")]


@pytest.mark.parametrize("task,opts,extra", [
    ("rotation", OPTS, {"schedule": "cosine", "warmup": 2, "lr": 3e-3}),
    ("jigsaw", {"filters": 4, "levels": 1, "grid": 2, "cell": 8, "jitter": 2, "permutations": 4, "hidden": 8}, {}),
    # input_size 24 > the volumes' sides: the CLI pads CPC/exemplar images to the window.
    ("exemplar", {"filters": 4, "levels": 1, "input_size": 24}, {}),
    # No --batch: the task's default batch (ssl3d_pretrain_inputs_create), in 3D and in 2D.
    ("rotation", OPTS, {"batch": None}),
    ("rotation", {"filters": 4, "levels": 1, "input_size": 8, "hidden": 8}, {"batch": None, "dims": 2, "val_max": 3}),
    # --cases FILE (cases= a path), minmax normalisation, a split seed, resampling.
    ("rotation", OPTS, {"cases": "CASES", "normalisation": "minmax", "split_seed": 3, "spacing": 1.5}),
])
def test_pretrain_matches_cli_bitwise(tiny_dataset, tmp_path, task, opts, extra):
    need_bin()
    steps, eval_every = 5, 2
    optstr = ",".join(f"{k}={v}" for k, v in opts.items())
    batch = extra.pop("batch", 2)
    dims = extra.pop("dims", 3)
    if extra.get("cases") == "CASES":
        extra["cases"] = tmp_path / "cases.txt"
        extra["cases"].write_text("# cases 0, 2, 3, 4 of the five\n0\nimg2.nii.gz\n3\n4\n")
    cmd = [str(BIN), "pretrain", "--task", task, "--dims", str(dims), "--threads", "1",
           "--loader-threads", "1", "--val-fraction", "0.34", "--seed", "7", "--steps", str(steps),
           "--eval-every", str(eval_every), "--opt", optstr, "--data", str(tiny_dataset),
           "--out", str(tmp_path / "cli.safetensors"), "--log", str(tmp_path / "cli.jsonl")]
    if batch is not None:
        cmd += ["--batch", str(batch)]
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli, cli_final = cli_losses(tmp_path / "cli.jsonl")
    seen = []
    res = ssl3d.pretrain(tiny_dataset, task, dims, tmp_path / "py.safetensors", steps=steps, batch=batch, threads=1,
                         loader_threads=1, val_fraction=0.34, seed=7, eval_every=eval_every, options=opts,
                         log=tmp_path / "py.jsonl", progress=seen.append, **extra)
    assert len(cli) == steps and len(res.losses) == steps and len(seen) == steps
    for c, p in zip(cli, res.history):
        assert c["step"] == p["step"]
        # Bitwise: the CLI prints the float32 loss as a double; so does Python.
        assert np.float32(c["loss"]) == np.float32(p["loss"]), (c, p)
        assert c["acc"] == p["acc"] and np.float32(c["lr"]) == np.float32(p["lr"])
        assert ("val_acc" in c) == ("val_acc" in p)
        if "val_acc" in c:
            assert c["val_acc"] == p["val_acc"] and np.float32(c["val_loss"]) == np.float32(p["val_loss"])
    assert len(set(res.losses)) > 1, "the losses should change from step to step"
    assert cli_final[0]["proxy_accuracy"] == res.proxy_accuracy
    assert cli_final[0]["val_samples"] == res.val_samples
    # Same checkpoint contents (tensors and optimiser state), read by the C reader.
    with ssl3d.Context() as ctx:
        a, b = ssl3d.Checkpoint(ctx, tmp_path / "cli.safetensors"), ssl3d.Checkpoint(ctx, tmp_path / "py.safetensors")
        assert a.names() == b.names() and len(a.names()) > 10
        for n in a.names():
            assert np.array_equal(a[n], b[n]), n
        ma, mb = a.metadata(), b.metadata()
        assert ma == mb, set(ma.items()) ^ set(mb.items())


def test_pretrain_progress_can_stop(tiny_dataset, tmp_path):
    calls = []

    def progress(rec):
        calls.append(rec["step"])
        return rec["step"] < 1   # stop after step 1

    res = ssl3d.pretrain(tiny_dataset, "rotation", 3, tmp_path / "s.safetensors", steps=6, batch=2, threads=1,
                         val_fraction=0, options=OPTS, progress=progress)
    assert calls == [0, 1] and res.steps == 2
    with ssl3d.Context() as ctx:
        assert ssl3d.Checkpoint(ctx, tmp_path / "s.safetensors").metadata()["step"] == "2"


def test_pretrain_errors_name_the_culprit(tiny_dataset, tmp_path):
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.pretrain(tmp_path / "missing.json", "rotation", 3, tmp_path / "x.safetensors", steps=1)
    assert e.value.status_name == "SSL3D_ERR_IO" and "missing.json" in str(e.value)
    assert "config.manifest" in str(e.value)
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.pretrain(tiny_dataset, "rotation", 3, tmp_path / "x.safetensors", steps=1, options={"bogus": 1})
    assert e.value.status_name == "SSL3D_ERR_INVALID_ARG" and "bogus" in str(e.value)
    assert "config.options" in str(e.value)
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.pretrain(tiny_dataset, "rotashun", 3, tmp_path / "x.safetensors", steps=1)
    assert "rotashun" in str(e.value)
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.pretrain(tiny_dataset, "rotation", 3, tmp_path / "x.safetensors", steps=1, normalisation="unit")
    assert e.value.status_name == "SSL3D_ERR_INVALID_ARG" and "'unit'" in str(e.value)
    with pytest.raises(ssl3d.Error) as e:
        ssl3d.pretrain(tiny_dataset, "rotation", 3, tmp_path / "x.safetensors", steps=1, cases=[1, 1])
    assert "config.cases" in str(e.value) and "twice" in str(e.value)
    assert not (tmp_path / "x.safetensors").exists()


def test_pretrain_single_image_warns(tmp_path):
    """One image cannot be split: the library says so (ssl3d_pretrain_inputs_unsplit), the
    CLI and Python warn, and both train without held-out images, identically."""
    need_bin()
    man = write_dataset(tmp_path, n=1)
    r = subprocess.run([str(BIN), "pretrain", "--task", "rotation", "--dims", "3", "--threads", "1", "--batch", "2",
                        "--steps", "2", "--opt", ",".join(f"{k}={v}" for k, v in OPTS.items()), "--data", str(man),
                        "--out", str(tmp_path / "c.safetensors"), "--log", str(tmp_path / "c.jsonl")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "single image cannot be split" in r.stderr, r.stderr
    with pytest.warns(UserWarning, match="single image cannot be split"):
        res = ssl3d.pretrain(man, "rotation", 3, tmp_path / "p.safetensors", steps=2, batch=2, threads=1,
                             options=OPTS)
    cli, cli_final = cli_losses(tmp_path / "c.jsonl")
    assert res.val_samples == 0 == cli_final[0]["val_samples"]
    assert [np.float32(c["loss"]) for c in cli] == [np.float32(x) for x in res.losses]


def test_python_resumes_a_cli_run_bitwise(tiny_dataset, tmp_path):
    """3 steps by the CLI, resumed by Python to 6 == 6 uninterrupted CLI steps."""
    need_bin()
    common = ["--task", "rotation", "--dims", "3", "--batch", "2", "--threads", "1", "--loader-threads", "1",
              "--val-fraction", "0.34", "--seed", "3", "--opt", ",".join(f"{k}={v}" for k, v in OPTS.items()),
              "--data", str(tiny_dataset)]
    for name, steps in (("full", 6), ("part", 3)):
        r = subprocess.run([str(BIN), "pretrain", *common, "--steps", str(steps), "--out",
                            str(tmp_path / f"{name}.safetensors"), "--log", str(tmp_path / f"{name}.jsonl")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    full, _ = cli_losses(tmp_path / "full.jsonl")
    res = ssl3d.pretrain(tiny_dataset, "rotation", 3, tmp_path / "part.safetensors", steps=6, batch=2, threads=1,
                         val_fraction=0.34, seed=3, options=OPTS, resume=tmp_path / "part.safetensors")
    assert [h["step"] for h in res.history] == [3, 4, 5] and res.steps == 6
    assert [np.float32(h["loss"]) for h in full[3:]] == [np.float32(x) for x in res.losses]
    with ssl3d.Context() as ctx:
        a, b = ssl3d.Checkpoint(ctx, tmp_path / "full.safetensors"), ssl3d.Checkpoint(ctx, tmp_path / "part.safetensors")
        assert all(np.array_equal(a[n], b[n]) for n in a.names())
    with pytest.raises(ssl3d.Error) as e:   # a checkpoint of another task
        ssl3d.pretrain(tiny_dataset, "jigsaw", 3, tmp_path / "x.safetensors", steps=6, batch=2, threads=1,
                       options={"filters": 4, "levels": 1, "grid": 2, "cell": 8, "jitter": 2},
                       resume=tmp_path / "part.safetensors")
    assert "task: the checkpoint has rotation, this run has jigsaw" in e.value.message
    assert "part.safetensors" in e.value.message


def test_config_structs_match_the_library_layout():
    """The ctypes mirrors of ssl3d_pretrain_config and ssl3d_pretrain_inputs_config have the
    C layout: _init writes the C sizeof into .size, and the defaults land in their fields."""
    import ctypes as C
    from ssl3d._lib import PretrainConfig, PretrainInputsConfig, lib
    pc, ic = PretrainConfig(), PretrainInputsConfig()
    lib.ssl3d_pretrain_config_init(C.byref(pc))
    lib.ssl3d_pretrain_inputs_config_init(C.byref(ic))
    assert pc.size == C.sizeof(pc) and pc.val_rounds == 4 and pc.lr == 1e-3 and pc.schedule == b"constant"
    assert ic.size == C.sizeof(ic) and ic.version == 1
    assert (ic.normalisation, ic.loader_threads, ic.val_fraction, ic.val_max) == (b"zscore", 1, 0.1, 256)
    assert list(ic.spacing) == [0, 0, 0] and ic.data_ctx is None and ic.batch == 0
