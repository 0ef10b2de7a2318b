#!/usr/bin/env python3
"""PyTorch on issue 5's workloads, at the shapes of benches/kernels.rs.

Times forward and backward separately, in f32, on one thread
(torch.set_num_threads(1)) and on all cores, and prints a table: workload,
threads, time, GFLOP/s (2 FLOPs per multiply-add, every tap of a padded
convolution counted, as in benches/kernels.rs; max-pool counts its 3
comparisons per window).

The backward is what autograd runs: aten.convolution_backward (input and
weight gradients, no bias) and aten.max_pool2d_with_indices_backward; the
max-pool forward is aten.max_pool2d_with_indices (the indices the backward
needs).

When torch cannot be imported, prints that it is skipping and why, and
exits 0. `--json FILE` also writes the medians (seconds) for bench/report.sh.
"""

import argparse
import json
import os
import statistics
import sys
import time

CONV2D = dict(n=8, c=64, k=64, h=56, w=56)
CONV1D_N, CONV1D_K = 1 << 20, 7
MAXPOOL = dict(n=8, c=64, h=112, w=112)
DEPTHWISE = dict(n=8, c=64, h=56, w=56)


def flops():
    s = CONV2D
    conv2d = 2 * 9 * s["n"] * s["k"] * s["c"] * s["h"] * s["w"]
    conv1d = 2 * CONV1D_K * (CONV1D_N - CONV1D_K + 1)
    m = MAXPOOL
    maxpool = 3 * m["n"] * m["c"] * (m["h"] // 2) * (m["w"] // 2)
    d = DEPTHWISE
    depthwise = 2 * 9 * d["n"] * d["c"] * d["h"] * d["w"]
    return {
        "conv2d_fwd": conv2d,
        "conv2d_bwd": 2 * conv2d,
        "conv1d_fwd": conv1d,
        "conv1d_bwd": 2 * conv1d,
        "maxpool_fwd": maxpool,
        "maxpool_bwd": maxpool,
        "depthwise_fwd": depthwise,
        "depthwise_bwd": 2 * depthwise,
    }


def workloads(torch):
    """name -> a function of no arguments running it once."""
    F = torch.nn.functional
    aten = torch.ops.aten
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1

    out = {}

    s = CONV2D
    x = rand(s["n"], s["c"], s["h"], s["w"])
    w = rand(s["k"], s["c"], 3, 3)
    g = rand(s["n"], s["k"], s["h"], s["w"])
    out["conv2d_fwd"] = lambda x=x, w=w: F.conv2d(x, w, padding=1)
    out["conv2d_bwd"] = lambda x=x, w=w, g=g: aten.convolution_backward(
        g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False]
    )

    y1 = rand(1, 1, CONV1D_N)
    w1 = rand(1, 1, CONV1D_K)
    g1 = rand(1, 1, CONV1D_N - CONV1D_K + 1)
    out["conv1d_fwd"] = lambda y=y1, w=w1: F.conv1d(y, w)
    out["conv1d_bwd"] = lambda y=y1, w=w1, g=g1: aten.convolution_backward(
        g, y, w, None, [1], [0], [1], False, [0], 1, [True, True, False]
    )

    m = MAXPOOL
    xm = rand(m["n"], m["c"], m["h"], m["w"])
    gm = rand(m["n"], m["c"], m["h"] // 2, m["w"] // 2)
    _, idx = aten.max_pool2d_with_indices(xm, [2, 2], [2, 2])
    out["maxpool_fwd"] = lambda x=xm: aten.max_pool2d_with_indices(x, [2, 2], [2, 2])
    out["maxpool_bwd"] = lambda x=xm, g=gm, i=idx: aten.max_pool2d_with_indices_backward(
        g, x, [2, 2], [2, 2], [0, 0], [1, 1], False, i
    )

    d = DEPTHWISE
    xd = rand(d["n"], d["c"], d["h"], d["w"])
    wd = rand(d["c"], 1, 3, 3)
    gd = rand(d["n"], d["c"], d["h"], d["w"])
    out["depthwise_fwd"] = lambda x=xd, w=wd: F.conv2d(x, w, padding=1, groups=d["c"])
    out["depthwise_bwd"] = lambda x=xd, w=wd, g=gd: aten.convolution_backward(
        g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], d["c"], [True, True, False]
    )
    return out


def median_time(f, budget):
    """Median wall time of `f()` in seconds: 2 warm-up runs, then at least 5
    runs and until `budget` seconds are spent."""
    for _ in range(2):
        f()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per measurement")
    args = ap.parse_args()

    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        print(f"pytorch_baseline: skipping: torch is not importable with {sys.executable}: {e}")
        print("pytorch_baseline: (bench/report.sh uses /work/venv-torch/bin/python when present, or $PYTHON)")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"available": False, "reason": str(e)}, fh)
        return 0

    torch.set_grad_enabled(False)
    cores = os.cpu_count() or 1
    thread_counts = sorted({1, cores})
    fl = flops()
    work = workloads(torch)
    results = {}
    print(f"PyTorch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, f32; threads: {thread_counts}")
    print(f"{'workload':<15} {'threads':>7} {'time (ms)':>10} {'GFLOP/s':>9}")
    for t in thread_counts:
        torch.set_num_threads(t)
        for name, f in work.items():
            sec = median_time(f, args.budget)
            results.setdefault(name, {})[str(t)] = sec
            print(f"{name:<15} {t:>7} {sec * 1e3:>10.3f} {fl[name] / sec / 1e9:>9.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "available": True,
                    "version": torch.__version__,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "threads": thread_counts,
                    "seconds": results,
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
