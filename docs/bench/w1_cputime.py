#!/usr/bin/env python3
"""PyTorch side of docs/bench/w1_cputime.c: the W1 conv steps timed in process CPU time.
Usage: OMP_NUM_THREADS=1 /usr/bin/python3 docs/bench/w1_cputime.py [repeat 7] [threads 1]
       (ONEDNN_MAX_CPU_ISA=AVX2 for the AVX2 comparison; W1_ONLY=W1c,W1d picks workloads).
Prints median (min, max) of the CPU time and of the wall time per step, as w1_cputime.c."""
import sys, time, statistics, os
import torch, torch.nn as nn

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
for name, ci, co, sp in [("W1a", 1, 16, (48, 64, 48)), ("W1b", 16, 16, (48, 64, 48)), ("W1c", 32, 32, (24, 32, 24)),
                         ("W1d", 64, 64, (12, 16, 12)), ("W1e", 128, 128, (6, 8, 6))]:
    if os.environ.get("W1_ONLY") and name not in os.environ["W1_ONLY"]: continue
    x = torch.randn(2, ci, *sp, requires_grad=ci > 1)
    conv, g = nn.Conv3d(ci, co, 3, padding=1), torch.randn(2, co, *sp)
    ts, walls = [], []
    for r in range(reps + 2):                 # 2 warm-up steps
        t, w = time.process_time(), time.perf_counter()
        conv.zero_grad(set_to_none=True); x.grad = None
        conv(x).backward(g)
        if r >= 2:
            ts.append((time.process_time() - t) * 1e3)
            walls.append((time.perf_counter() - w) * 1e3)
    gflop = (3 if ci > 1 else 2) * 2 * 2 * sp[0] * sp[1] * sp[2] * ci * co * 27 / 1e9
    med, wmed = statistics.median(ts), statistics.median(walls)
    print(f"{name} torch cpu-ms {med:.2f} (min {min(ts):.2f}, max {max(ts):.2f}) {gflop / (med / 1e3):.1f} GFLOP/s "
          f"per CPU-second; wall-ms {wmed:.2f} (min {min(walls):.2f}, max {max(walls):.2f}) {gflop / (wmed / 1e3):.1f} "
          f"GFLOP/s; {torch.get_num_threads()} threads, ONEDNN_MAX_CPU_ISA {os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}")
