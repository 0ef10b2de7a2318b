#!/usr/bin/env python3
"""Generated kernels and PyTorch timed in alternating rounds.

bench/report.sh runs the whole criterion suite and then PyTorch, a few
minutes apart; on a shared 2-vCPU machine the load moves both by 20-40%
between such runs, so one table's ratio says as much about the minute it
ran in as about the kernels. Here each round runs the chosen criterion
benchmarks (a few seconds) and, right after, the same workloads in PyTorch
(same process throughout, so its libraries stay loaded), then the next
round. Every round gives a ratio from two measurements seconds apart; the
script prints each round and the median and range of the ratios.

Usage: bench/interleave.py [--rounds R] [--budget S] [--bench BIN] [WORKLOAD ...]
  WORKLOAD   e.g. conv2d_bwd (default: conv2d_fwd conv2d_bwd)
  --bench    the criterion executable of benches/kernels.rs (default: built
             and found through cargo, with RUSTFLAGS="-C target-cpu=native"
             unless RUSTFLAGS is set)
Rows per workload: our `generated_gemm` (1 thread) and
`generated_gemm_2threads` where criterion has them (else `generated`), and
PyTorch on 1 thread and on all cores. Needs torch (see bench/report.sh's
PYTHON); without it, says so and exits 0.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_baseline  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench_binary():
    env = dict(os.environ)
    env.setdefault("RUSTFLAGS", "-C target-cpu=native")
    out = subprocess.run(
        ["cargo", "bench", "--bench", "kernels", "--no-run", "--message-format=json"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg["target"]["name"] == "kernels":
            return msg["executable"]
    sys.exit("interleave.py: cargo built no `kernels` bench executable")


TIME = re.compile(r"^(\S+)\s*\n?\s*time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)
UNIT = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def criterion(binary, workload):
    """Median seconds of the `workload/generated_gemm*` benchmarks by name,
    or of `workload/generated*` when there are none (no contraction)."""
    for prefix in ("generated_gemm", "generated"):
        out = subprocess.run(
            [binary, "--bench", "--noplot", f"^{workload}/{prefix}"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
        # criterion prints the name, then (on the same or the next line) the
        # time estimates [low median high].
        found = {
            name.split("/", 1)[1]: float(value) * UNIT[unit]
            for name, value, unit in TIME.findall(out)
            if name.startswith(workload + "/")
        }
        if found:
            return found
    sys.exit(f"interleave.py: criterion has no benchmark {workload}/generated*")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="*", default=["conv2d_fwd", "conv2d_bwd"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=2.0, help="PyTorch seconds per measurement")
    ap.add_argument("--bench", help="criterion executable of benches/kernels.rs")
    args = ap.parse_args()
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        print(f"interleave.py: skipping: torch is not importable with {sys.executable}: {e}")
        return 0
    torch.set_grad_enabled(False)
    cores = os.cpu_count() or 1
    work = pytorch_baseline.workloads(torch)
    binary = args.bench or bench_binary()
    print(f"PyTorch {torch.__version__}; bench {os.path.basename(binary)}; "
          f"load average {os.getloadavg()[0]:.2f}")
    ratios = {}
    for r in range(1, args.rounds + 1):
        for wl in args.workloads:
            ours = criterion(binary, wl)
            pt = {}
            for t in sorted({1, cores}):
                torch.set_num_threads(t)
                pt[t] = pytorch_baseline.median_time(work[wl], args.budget)
            one = ours.get("generated_gemm", ours.get("generated"))
            two = ours.get("generated_gemm_2threads", ours.get("generated_2threads"))
            row = {"vs PyTorch 1T": pt[1] / one}
            if two:
                row["ours 2T vs 1T"] = one / two
                row["vs PyTorch 2T"] = pt[cores] / two
            for k, v in row.items():
                ratios.setdefault((wl, k), []).append(v)
            print(f"round {r} {wl:<12} ours 1T {one * 1e3:7.2f} ms"
                  + (f", 2T {two * 1e3:7.2f} ms" if two else "")
                  + f"; PyTorch 1T {pt[1] * 1e3:7.2f} ms, {cores}T {pt[cores] * 1e3:7.2f} ms; "
                  + ", ".join(f"{k} {v:.2f}x" for k, v in row.items()), flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f}; per-round ratios (above 1: ours is faster, "
          "or 2 threads beat 1):")
    print("| workload | ratio | median | min | max | rounds |")
    print("|---|---|---|---|---|---|")
    for (wl, k), vs in ratios.items():
        print(f"| {wl} | {k} | {statistics.median(vs):.2f} | {min(vs):.2f} | {max(vs):.2f} | {len(vs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
