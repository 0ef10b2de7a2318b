#!/usr/bin/env python3
"""Combines criterion's results for benches/kernels.rs with
bench/pytorch_baseline.py's JSON into one Markdown table (standard library
only). Called by bench/report.sh; usage:

    combine.py CRITERION_DIR PYTORCH_JSON [PEAK_GFLOPS]

Times are criterion's median point estimates. "x hand" and "x PyTorch" are
speed-ups: the other's time divided by this row's time (above 1: this row is
faster).
"""

import json
import os
import sys

FLOPS = {}
C2 = 2 * 9 * 8 * 64 * 64 * 56 * 56
C1 = 2 * 7 * ((1 << 20) - 6)
MP = 3 * 8 * 64 * 56 * 56
DW = 2 * 9 * 8 * 64 * 56 * 56
FLOPS.update(
    conv2d_fwd=C2, conv2d_bwd=2 * C2, conv1d_fwd=C1, conv1d_bwd=2 * C1,
    maxpool_fwd=MP, maxpool_bwd=MP, depthwise_fwd=DW, depthwise_bwd=2 * DW,
)
WORKLOADS = [
    ("conv2d", "conv2d N=8 C=K=64 56x56 3x3 pad 1"),
    ("conv1d", "conv1d n=2^20 k=7 valid"),
    ("maxpool", "max-pool 2x2/2 8x64x112x112"),
    ("depthwise", "depthwise 3x3 pad 1 8x64x56x56"),
]


def crit(base, group, bench):
    path = os.path.join(base, group, bench, "new", "estimates.json")
    try:
        with open(path) as fh:
            return json.load(fh)["median"]["point_estimate"] / 1e9
    except (OSError, KeyError, ValueError):
        return None


def fmt_ms(t):
    return "—" if t is None else (f"{t * 1e3:.2f}" if t >= 1e-3 else f"{t * 1e3:.3f}")


def ratio(other, t):
    return "—" if other is None or t is None else f"{other / t:.2f}"


def main():
    base, pt_path = sys.argv[1], sys.argv[2]
    peak = float(sys.argv[3]) if len(sys.argv) > 3 else 78.0
    try:
        with open(pt_path) as fh:
            pt = json.load(fh)
    except (OSError, ValueError):
        pt = {"available": False, "reason": "no results file"}
    have_pt = pt.get("available", False)
    pt_threads = [str(t) for t in pt.get("threads", [])]
    all_t = pt_threads[-1] if pt_threads else None

    def torch(name, threads):
        if not have_pt:
            return None
        return pt["seconds"].get(name, {}).get(threads)

    def torch_sum(w, threads):
        a, b = torch(f"{w}_fwd", threads), torch(f"{w}_bwd", threads)
        return None if a is None or b is None else a + b

    rows = []
    times = {}
    for w, title in WORKLOADS:
        for part in ("fwd", "bwd", "fwd+bwd"):
            names = [f"{w}_fwd", f"{w}_bwd"] if part == "fwd+bwd" else [f"{w}_{part}"]
            flops = sum(FLOPS[n] for n in names)
            variants = ["generated", "generated_2threads", "hand"]
            if w == "conv2d":
                variants[1:1] = ["generated_gemm"]
                variants[3:3] = ["generated_gemm_2threads"]
            for v in variants:
                ts = [crit(base, n, v) for n in names]
                t = None if None in ts else sum(ts)
                times[(w, part, v)] = t
            hand = times[(w, part, "hand")]
            pt1 = torch(names[0], "1") if len(names) == 1 else torch_sum(w, "1")
            ptn = None
            if all_t and all_t != "1":
                ptn = torch(names[0], all_t) if len(names) == 1 else torch_sum(w, all_t)
            for v in variants:
                t = times[(w, part, v)]
                gf = None if t is None else flops / t / 1e9
                label = {"generated": "generated, 1 thread", "generated_2threads":
                         "generated, 2 threads", "hand": "hand-written, 1 thread",
                         "generated_gemm": "generated --gemm, 1 thread",
                         "generated_gemm_2threads": "generated --gemm, 2 threads"}[v]
                pct = "—" if gf is None or w in ("conv1d", "maxpool") or "2threads" in v else f"{100 * gf / peak:.1f}%"
                rows.append([title if part == "fwd" and v == variants[0] else "", part, label, fmt_ms(t),
                             "—" if gf is None else f"{gf:.2f}", ratio(hand, t), ratio(pt1, t), ratio(ptn, t), pct])
            if have_pt:
                for th, tt in (("1", pt1), (all_t, ptn)):
                    if th is None or tt is None or (th == all_t and all_t == "1"):
                        continue
                    gf = flops / tt / 1e9
                    pct = "—" if w in ("conv1d", "maxpool") or th != "1" else f"{100 * gf / peak:.1f}%"
                    rows.append(["", part, f"PyTorch, {th} thread{'s' if th != '1' else ''}", fmt_ms(tt),
                                 f"{gf:.2f}", ratio(hand, tt), ratio(pt1, tt), ratio(ptn, tt), pct])

    head = ["workload", "pass", "implementation", "time (ms)", "GFLOP/s", "x hand",
            "x PyTorch 1T", f"x PyTorch {all_t or '?'}T", "% of 1-core peak"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print("x hand / x PyTorch: the other's time divided by this row's (above 1: this row is faster).")
    print(f"% of peak: of {peak:g} GFLOP/s (one core, f32, see bench/report.sh); not given for the memory-bound conv1d and max-pool.")
    if not have_pt:
        print(f"PyTorch: skipped ({pt.get('reason', 'unknown')}).")
    else:
        print(f"PyTorch {pt.get('version')} ({pt.get('cpu_capability')}), threads {pt.get('threads')}.")

    # Targets of issue 5.
    print()
    print("Targets (issue 5), generated code:")

    def status(ok):
        return "n/a" if ok is None else ("MET" if ok else "NOT MET")

    p1 = torch("conv2d_bwd", "1")
    for v, how in (("generated", "self-contained"), ("generated_gemm", "--gemm")):
        g = times[("conv2d", "bwd", v)]
        ok = None if g is None or p1 is None else g <= p1
        print(f"- conv2d backward >= PyTorch 1 thread ({how}): {status(ok)} (generated {fmt_ms(g)} ms, "
              f"PyTorch {fmt_ms(p1)} ms, speed {ratio(p1, g)}x)")
        gf = None if g is None else FLOPS["conv2d_bwd"] / g / 1e9
        ok = None if gf is None else gf >= 0.5 * peak
        print(f"- conv2d backward >= 50% of peak ({how}): {status(ok)} ({'—' if gf is None else f'{gf:.2f}'} "
              f"GFLOP/s = {'—' if gf is None else f'{100 * gf / peak:.1f}'}% of {peak:g})")
    for w in ("conv1d", "maxpool"):
        gt, pt1s = times[(w, "fwd+bwd", "generated")], torch_sum(w, "1")
        ok = None if gt is None or pt1s is None else pt1s / gt >= 10
        print(f"- {w} fwd+bwd >= 10x PyTorch 1 thread: {status(ok)} (generated {fmt_ms(gt)} ms, PyTorch {fmt_ms(pt1s)} ms, "
              f"speed {ratio(pt1s, gt)}x)")
        if w == "maxpool":
            parts = [crit(base, "maxpool_floor", b) for b in ("read_input", "copy_seed_to_output", "add_into_gradient")]
            if None not in parts:
                need = "—" if pt1s is None else fmt_ms(pt1s / 10)
                print(f"  memory floor for max-pool fwd+bwd with this API (read the input; read the seed and write the "
                      f"output; add into the gradient, reading and writing it): "
                      f"{' + '.join(fmt_ms(t) for t in parts)} = {fmt_ms(sum(parts))} ms; 10x PyTorch needs {need} ms")
    for part in ("fwd", "bwd"):
        for v, how in (("generated", "self-contained"), ("generated_gemm", "--gemm")):
            t1, t2 = times[("conv2d", part, v)], times[("conv2d", part, f"{v}_2threads")]
            ok = None if t1 is None or t2 is None else t1 / t2 >= 1.7
            print(f"- conv2d {part}, 2 threads >= 1.7x 1 thread ({how}): {status(ok)} (speed-up {ratio(t1, t2)}x)")

    # Expansion time.
    print()
    print("Expansion time (median):")
    print("| model | statements | compile (ms) | macro path: compile + LaTeX + tokens (ms) | CLI path: compile + formatted f32 source (ms) |")
    print("|---|---|---|---|---|")
    stmts = {"seed": 4, "chain10": 20, "chain25": 50, "chain50": 100, "chain100": 200}
    ex = {}
    for m, k in stmts.items():
        ts = tuple(crit(base, f"expand_{p}", m) for p in ("compile", "macro", "cli"))
        ex[m] = ts
        print(f"| {m} | {k} | " + " | ".join(fmt_ms(t) for t in ts) + " |")
    import math
    for i, path in enumerate(("compile", "macro", "cli")):
        t = {L: ex[f"chain{L}"][i] for L in (10, 25, 50, 100)}
        if None in t.values():
            continue
        slope = math.log(t[100] / t[10]) / math.log(10)
        print(f"- {path}: time(50)/time(10) = {t[50] / t[10]:.2f} (linear: 5.0), time(100)/time(50) = "
              f"{t[100] / t[50]:.2f} (linear: 2.0), log-log slope 10..100 layers = {slope:.2f} (linear: 1.0); "
              f"per layer at 100: {t[100] / 100 * 1e3:.2f} ms")
    seed = ex["seed"][1]
    if seed is not None:
        print(f"- seed, macro path: {fmt_ms(seed)} ms: {'under' if seed < 0.05 else 'OVER'} the 50 ms target")


if __name__ == "__main__":
    main()
