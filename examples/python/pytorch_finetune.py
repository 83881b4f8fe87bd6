#!/usr/bin/env python3
"""Pretrain with libssl3d, fine-tune in PyTorch, evaluate with libssl3d (the round trip of
docs/python.md).

    /usr/bin/python3 examples/python/pytorch_finetune.py DATASET.json OUTDIR [--steps N] [--epochs N]

DATASET.json is an MSD manifest with label maps (e.g. ../shared/data/hippocampus/dataset.json).
1. ssl3d.pretrain: rotation proxy task on the images (labels unused) -> OUTDIR/rotation.safetensors
2. ssl3d.torch.load_unet: the pretrained encoder plus a new decoder as a torch.nn.Module
   (as many classes as the label maps have),
   fine-tuned with a plain PyTorch loop (Adam, cross-entropy) on random 16^3 crops
3. ssl3d.torch.save_checkpoint -> OUTDIR/unet.safetensors, a libssl3d model file, evaluated
   by libssl3d (ssl3d.evaluate = `ssl3d evaluate --model`): mean Dice over the labelled cases.
Set PYTHONPATH=python (or pip install ./python) so that `import ssl3d` finds the package.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import ssl3d  # noqa: E402
import ssl3d.torch  # noqa: E402


def crops(images, labels, n, size, rng):
    """n random (image, label) crops of size^3 (images are padded when smaller)."""
    xs, ys = [], []
    for _ in range(n):
        k = rng.integers(len(images))
        img, lab = images[k], labels[k]
        pad = [(0, 0)] + [(0, max(0, size - s)) for s in img.shape[1:]]
        img, lab = np.pad(img, pad), np.pad(lab, pad[1:])
        o = [rng.integers(s - size + 1) for s in img.shape[1:]]
        sl = tuple(slice(a, a + size) for a in o)
        xs.append(img[(slice(None),) + sl])
        ys.append(lab[sl])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys).astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("outdir")
    ap.add_argument("--steps", type=int, default=50, help="pretraining steps")
    ap.add_argument("--epochs", type=int, default=20, help="PyTorch fine-tuning steps")
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", type=int, default=40, help="use the first N labelled cases (fine-tuning and evaluation)")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    ckpt = os.path.join(a.outdir, "rotation.safetensors")
    opts = {"filters": a.filters, "levels": 2, "input_size": 16, "hidden": 16}

    # 1. pretrain in libssl3d (the same loop as `ssl3d pretrain`)
    res = ssl3d.pretrain(a.manifest, "rotation", 3, ckpt, steps=a.steps, batch=2, threads=a.threads, options=opts,
                         progress=lambda r: print(f"pretrain step {r['step']} loss {r['loss']:.4f}")
                         if r["step"] % 10 == 0 else None)
    print(f"pretrained {res.steps} steps, proxy accuracy {res.proxy_accuracy:.3f} (chance {res.chance:.3f})")

    # 2. fine-tune in PyTorch: the pretrained encoder + a fresh decoder (classes from the label maps)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    with ssl3d.Context(threads=a.threads) as ctx:
        man = ssl3d.Manifest(ctx, a.manifest)
        cases = man.select_cases(None)[:a.cases]
        images, labels = [], []
        for i in cases:   # read through libssl3d: canonical orientation, z-scored as the library does
            img = ssl3d.read_image(ctx, man.image_paths(i)[0])
            lab = ssl3d.read_image(ctx, man.label_path(i))
            x = img.data.copy()
            nz = x != 0
            x[nz] = (x[nz] - x[nz].mean()) / (x[nz].std() + 1e-8)
            images.append(x)
            labels.append(lab.data[0].astype(np.int64))
    classes = int(max(lab.max() for lab in labels)) + 1
    net = ssl3d.torch.load_unet(ckpt, classes=classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    net.train()
    for step in range(a.epochs):
        x, y = crops(images, labels, 2, 16, rng)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"pytorch step {step} loss {loss.item():.4f}")

    # 3. back to libssl3d: a model file that `ssl3d evaluate` reads
    model = os.path.join(a.outdir, "unet.safetensors")
    ssl3d.torch.save_checkpoint(net.eval(), model)
    with ssl3d.Context(threads=a.threads) as ctx:
        m = ssl3d.FineTuneModel.load(ctx, model)
        r = ssl3d.evaluate(m, a.manifest, cases=cases)
    print(f"libssl3d evaluation of the PyTorch-fine-tuned model: mean Dice {r['dice_mean']:.4f} on {r['cases']} cases")


if __name__ == "__main__":
    main()
