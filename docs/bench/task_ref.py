#!/usr/bin/env python3
"""PyTorch equivalents of `ssl3d bench` W6 and W7: one training step of the CPC and the
exemplar proxy task (3D) with libssl3d's task defaults, which `ssl3d bench --reference`
passes in (--options, --images) so that both build the same model.

  W6 CPC: B images (1, S, S, S) -> G^3 patches of side p = 2*floor(S/(G+1)) (stride p/2)
     -> U-Net encoder (conv3-BN-ReLU x2 per level, max-pool 2, bottleneck 2x filters)
     -> global average pool -> linear (code) = z; context: a one-layer GRU (hidden) over
     the 10 latents of row i-1's mirrored 3x3 block and the patch itself; per step l a
     linear predictor; InfoNCE of the true z_(i+l) against `negatives` other latents.
  W7 exemplar: B images -> two augmented views each (flip, rot90, rotation + zoom by
     trilinear resampling, contrast/brightness) -> encoder -> GAP -> linear-ReLU-linear
     -> L2 normalise -> triplet loss with the hardest negative of the batch.
  A step = zero the gradients, build the samples, forward, loss, backward, Adam (lr 1e-4).

Usage: task_ref.py --only W6|W7 [--threads 2] [--repeat 5] [--images B] [--options k=v,...]
Prints {"torch": version, "threads": n, "workloads": {name: {"ms", "ms_min", "ms_max"}}}.
"""
import argparse, json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                         nn.Conv3d(cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class Encoder(nn.Module):
    def __init__(self, filters, levels):
        super().__init__()
        chans, c, layers = [filters << l for l in range(levels)], 1, []
        for co in chans:
            layers.append(block(c, co)); c = co
        self.levels = nn.ModuleList(layers)
        self.bottleneck = block(c, 2 * c)
        self.out_channels = 2 * c

    def forward(self, x):
        for b in self.levels:
            x = F.max_pool3d(b(x), 2)
        return self.bottleneck(x).flatten(2).mean(2)      # GAP of the bottleneck


def mirror(v, n):
    if v < 0:
        return -v
    return 2 * (n - 1) - v if v >= n else v


def cpc_step(opt, B):
    S, G, code, hidden = int(opt["input_size"]), int(opt["grid"]), int(opt["code_size"]), int(opt["hidden"])
    steps, neg, temp = int(opt["steps"]), int(opt["negatives"]), float(opt["temperature"])
    p = 2 * (S // (G + 1))
    enc = Encoder(int(opt["filters"]), int(opt["levels"]))
    proj, gru = nn.Linear(enc.out_channels, code), nn.GRU(code, hidden, batch_first=True)
    preds = nn.ModuleList(nn.Linear(hidden, code) for _ in range(steps))
    params = [q for m in (enc, proj, gru, preds) for q in m.parameters()]
    adam = torch.optim.Adam(params, lr=1e-4)
    images = torch.randn(B, 1, S, S, S)
    n = G ** 3
    ctx_idx = []                                           # (M, 10): 3x3 block of row i-1, then the patch
    for b in range(B):
        for i in range(G):
            for j in range(G):
                for k in range(G):
                    seq = [b * n + (mirror(i - 1, G) * G + mirror(j + dj, G)) * G + mirror(k + dk, G)
                           for dj in (-1, 0, 1) for dk in (-1, 0, 1)]
                    ctx_idx.append(seq + [b * n + (i * G + j) * G + k])
    ctx_idx = torch.tensor(ctx_idx)
    rows = [[b * n + (i * G + j) * G + k for b in range(B) for i in range(G - l) for j in range(G) for k in range(G)]
            for l in range(1, steps + 1)]

    def step():
        adam.zero_grad(set_to_none=True)
        pt = images.unfold(2, p, p // 2).unfold(3, p, p // 2).unfold(4, p, p // 2)[:, :, :G, :G, :G]
        pt = pt.permute(0, 2, 3, 4, 1, 5, 6, 7).reshape(B * n, 1, p, p, p).contiguous()
        z = proj(enc(pt))                                    # (M, code)
        _, h = gru(z[ctx_idx])                               # (1, M, hidden)
        c = h[0]
        losses = []
        for l in range(1, steps + 1):
            r = torch.tensor(rows[l - 1])
            tgt = r + l * G * G
            negs = torch.randint(0, B * n - 1, (len(r), neg))
            negs = negs + (negs >= tgt[:, None]).long()      # never the positive
            cand = torch.cat([tgt[:, None], negs], 1)        # (R, 1 + neg)
            scores = torch.einsum("rc,rkc->rk", preds[l - 1](c[r]), z[cand]) / temp
            losses.append(F.cross_entropy(scores, torch.zeros(len(r), dtype=torch.long), reduction="sum"))
        loss = sum(losses) / sum(len(x) for x in rows)
        loss.backward()
        adam.step()
    return step


def random_rotation(n):
    q = F.normalize(torch.randn(n, 4), dim=1)               # uniform unit quaternions
    w, x, y, z = q.unbind(1)
    return torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1).view(n, 3, 3)


def exemplar_step(opt, B):
    S, code, hidden, margin = int(opt["input_size"]), int(opt["code_size"]), int(opt["hidden"]), float(opt["margin"])
    enc = Encoder(int(opt["filters"]), int(opt["levels"]))
    head = nn.Sequential(nn.Linear(enc.out_channels, hidden), nn.ReLU(), nn.Linear(hidden, code))
    adam = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=1e-4)
    images = torch.randn(B, 1, S, S, S)

    def views():
        x = images.repeat(2, 1, 1, 1, 1)                     # rows b and B + b: image b's views
        x = torch.where(torch.rand(2 * B, 1, 1, 1, 1) < 0.5, x.flip(4), x)
        x = torch.where(torch.rand(2 * B, 1, 1, 1, 1) < 0.5, x.rot90(1, (3, 4)), x)
        zoom = torch.empty(2 * B, 1, 1).uniform_(0.8, 1.2)
        theta = torch.cat([random_rotation(2 * B) / zoom, torch.zeros(2 * B, 3, 1)], 2)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        c = torch.empty(2 * B, 1, 1, 1, 1).uniform_(0.5, 1.5)
        return x * c + torch.empty(2 * B, 1, 1, 1, 1).uniform_(-0.125, 0.125)

    same = torch.arange(2 * B) % B
    same = same[:, None] == same[None, :]

    def step():
        adam.zero_grad(set_to_none=True)
        z = F.normalize(head(enc(views())), dim=1)
        d = torch.cdist(z, z).pow(2)
        pos = d[torch.arange(2 * B), (torch.arange(2 * B) + B) % (2 * B)]
        hardest = d.masked_fill(same, float("inf")).min(1).values
        F.relu(pos - hardest + margin).mean().backward()
        adam.step()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", required=True, choices=["W6", "W7"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--images", type=int, default=0)
    ap.add_argument("--options", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    defaults = {"W6": "input_size=64,filters=16,levels=3,grid=4,code_size=128,hidden=256,steps=2,negatives=31,"
                      "temperature=1",
                "W7": "input_size=48,filters=16,levels=4,code_size=128,hidden=256,margin=1,batch=8"}
    opt = dict(kv.split("=") for kv in defaults[a.only].split(","))
    opt.update(dict(kv.split("=") for kv in a.options.split(",") if kv))
    if a.only == "W6":
        name, step = "W6_cpc3d_step", cpc_step(opt, a.images or 4)
    else:
        name, step = "W7_exemplar3d_step", exemplar_step(opt, a.images or int(float(opt["batch"])))
    for _ in range(2):
        step()
    ts = []
    for _ in range(a.repeat):
        t = time.perf_counter(); step(); ts.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"torch": torch.__version__, "threads": a.threads,
                      "workloads": {name: {"ms": statistics.median(ts), "ms_min": min(ts), "ms_max": max(ts)}}}))


if __name__ == "__main__":
    main()
