#!/usr/bin/env bash
# Issue 5's benchmark table in one go:
#   1. regenerates benches/generated/kernels_*.rs from bench/models/*.eq with
#      the current generator (bench/generate.sh; --no-regen keeps them);
#   2. runs the criterion bench benches/kernels.rs (generated kernels next to
#      hand-written loop nests, and the expansion-time benchmarks);
#   3. runs bench/pytorch_baseline.py (PyTorch, 1 thread and all cores) when
#      torch is importable;
#   4. prints the combined Markdown table and the status of issue 5's targets
#      (bench/combine.py).
# Environment:
#   CARGO_TARGET_DIR  default target/
#   RUSTFLAGS         default "-C target-cpu=native" (AVX2 + FMA here, as
#                     PyTorch uses); set RUSTFLAGS= to build for the baseline
#                     x86-64 target instead
#   PYTHON            python with torch; default /work/venv-torch/bin/python
#                     when present, else python3
#   PEAK_GFLOPS       single-core f32 peak; default: the clock /proc/cpuinfo
#                     shows x 64 FLOP/cycle with AVX-512 (2 FMA units x 16
#                     lanes x 2), x 32 with AVX2 + FMA (2 x 8 x 2)
# Options: --no-regen, --no-bench (only re-combine the last results),
# anything after -- goes to criterion (e.g. -- conv2d).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
export RUSTFLAGS="${RUSTFLAGS--C target-cpu=native}"
regen=1
bench=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-regen) regen=0 ;;
        --no-bench) bench=0 ;;
        --) shift; break ;;
        *) echo "report.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /work/venv-torch/bin/python ]]; then PYTHON=/work/venv-torch/bin/python; else PYTHON=python3; fi
fi
if [[ -z "${PEAK_GFLOPS:-}" ]]; then
    mhz=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
    if grep -qw avx512f /proc/cpuinfo; then per=64; elif grep -qw fma /proc/cpuinfo; then per=32; else per=16; fi
    PEAK_GFLOPS=$(awk -v m="$mhz" -v p="$per" 'BEGIN {printf "%.0f", m * p / 1000}')
    echo "== peak: ${mhz# } MHz x $per FLOP/cycle = $PEAK_GFLOPS GFLOP/s (one core, f32; PEAK_GFLOPS overrides)"
fi
out="$CARGO_TARGET_DIR/bench-report"
mkdir -p "$out"

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== RUSTFLAGS='$RUSTFLAGS'  $(rustc --version)"
if [[ $regen == 1 ]]; then
    bench/generate.sh
fi
echo "== generated kernels measured (md5): $(cd benches/generated && md5sum kernels_*.rs | awk '{printf "%s %.8s  ", $2, $1}')"
echo "== core/src/codegen.rs md5: $(md5sum core/src/codegen.rs | cut -c1-8), git HEAD $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ $bench == 1 ]]; then
    cargo bench --bench kernels -- --noplot "$@" 2>&1 | tee "$out/criterion.log"
    "$PYTHON" bench/pytorch_baseline.py --json "$out/pytorch.json" | tee "$out/pytorch.log"
fi
echo
echo "== date: $(date -u +%Y-%m-%dT%H:%MZ), load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/combine.py "$CARGO_TARGET_DIR/criterion" "$out/pytorch.json" "$PEAK_GFLOPS" | tee "$out/table.md"
