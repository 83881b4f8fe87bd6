#!/usr/bin/env python3
"""RetinaMNIST with the retina's anatomy destroyed and the fundus outline kept.

A fundus photograph is a bright disc on a dark background, and in RetinaMNIST's 28x28 images
the dark corners are not zero (compression noise), so the loader's foreground box is the whole
image and the grid tasks' corner patches show a dark corner at a place that tells their
position. This writes a copy of the training images in which each image's pixels brighter than
THRESHOLD (the disc; max over R, G, B) are permuted among themselves -- whole RGB triplets, a
seeded permutation per image -- while the dark background stays where it is. Intensity
statistics and the disc's outline survive; vessels, optic disc and macula do not. A proxy task
that still beats chance on these images reads the outline, not the retina.

usage: shuffle_disc.py DATA_DIR OUT_DIR [SEED] [THRESHOLD]
  DATA_DIR  the RetinaMNIST folder (labels.csv with file,label,split), e.g. ../shared/data/retinamnist_28
  OUT_DIR   gets train/*.png (training split only) and labels.csv; never commit it
  SEED      default 1; THRESHOLD default 15 (of 255)
Needs numpy and Pillow (Debian: python3-numpy python3-pil)."""
import csv
import os
import sys

import numpy as np
from PIL import Image


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    src, out = argv[1], argv[2]
    seed = int(argv[3]) if len(argv) > 3 else 1
    threshold = int(argv[4]) if len(argv) > 4 else 15
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    with open(os.path.join(src, "labels.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    disc_share = []
    for i, r in enumerate(rows):
        img = np.asarray(Image.open(os.path.join(src, r["file"])).convert("RGB")).copy()
        disc = img.max(axis=2) > threshold                  # (H, W) bool
        rng = np.random.default_rng([seed, i])               # one stream per image
        pixels = img[disc]                                   # (n, 3)
        img[disc] = pixels[rng.permutation(len(pixels))]
        Image.fromarray(img).save(os.path.join(out, r["file"]))
        disc_share.append(disc.mean())
    with open(os.path.join(out, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "split"])
        for r in rows:
            w.writerow([r["file"], r["label"], "train"])
    print("%d images, disc share %.3f (min %.3f, max %.3f), seed %d, threshold %d"
          % (len(rows), np.mean(disc_share), np.min(disc_share), np.max(disc_share), seed, threshold))


if __name__ == "__main__":
    main(sys.argv)
