"""The example programs run, with small sizes, so that they cannot rot."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import BIN, REPO


def run(cmd, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300, **kw)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_c_example_train_rotation():
    exe = REPO / "bin" / "train_rotation"
    if not os.access(exe, os.X_OK):
        pytest.skip("bin/train_rotation is not built (run make)")
    out = run([str(exe), "2", "1"])
    steps = [line for line in out.splitlines() if line.startswith("step")]
    assert len(steps) == 2, out
    assert all(0 < float(line.split()[-1]) < 10 for line in steps), out


def test_c_example_pretrain_matches_cli(tiny_dataset, tmp_path):
    """examples/pretrain.c (ssl3d_pretrain_inputs_create + ssl3d_pretrain_run) gives the
    losses of `ssl3d pretrain` with the same arguments, bitwise: a C program gets what the
    CLI does without repeating its choices (the default batch here)."""
    exe = REPO / "bin" / "pretrain"
    if not os.access(exe, os.X_OK) or not os.access(BIN, os.X_OK):
        pytest.skip("bin/pretrain or bin/ssl3d is not built (run make)")
    opts = "filters=4,levels=1,input_size=16,hidden=8"
    out = run([str(exe), str(tiny_dataset), "rotation", "3", str(tmp_path / "c.safetensors"), "3", "1", opts])
    recs = [json.loads(line) for line in out.splitlines()]
    run([str(BIN), "pretrain", "--task", "rotation", "--dims", "3", "--data", str(tiny_dataset), "--out",
         str(tmp_path / "cli.safetensors"), "--steps", "3", "--threads", "1", "--opt", opts, "--log",
         str(tmp_path / "cli.jsonl")])
    cli = [json.loads(line) for line in open(tmp_path / "cli.jsonl")]
    steps = [r for r in recs if "step" in r]
    assert len(steps) == 3 and len(cli) == 4
    assert [np.float32(r["loss"]) for r in steps] == [np.float32(r["loss"]) for r in cli[:3]]
    assert recs[-1]["final"] and recs[-1]["proxy_accuracy"] == cli[-1]["proxy_accuracy"]


def test_python_ctypes_example():
    out = run([sys.executable, "examples/python/ssl3d_ffi.py", str(REPO / "lib" / "libssl3d.so.0")])
    assert "bottleneck shape: (2, 16, 2, 2, 2)" in out and out.rstrip().endswith("ok"), out


def test_python_pytorch_round_trip_example(seg_dataset, tmp_path):
    pytest.importorskip("torch")
    out = run([sys.executable, "examples/python/pytorch_finetune.py", str(seg_dataset), str(tmp_path), "--steps", "2",
               "--epochs", "2", "--filters", "4", "--threads", "1", "--cases", "6"])
    assert "pretrained 2 steps" in out and "mean Dice" in out and "on 6 cases" in out, out
    assert (tmp_path / "unet.safetensors").exists()


def test_julia_example():
    if shutil.which("julia") is None:
        pytest.skip("julia is not installed (not packaged in Debian 12): examples/julia was not run")
    out = run(["julia", "examples/julia/ssl3d_ccall.jl"])
    assert "order ok" in out, out
