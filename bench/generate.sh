#!/usr/bin/env bash
# Regenerates the kernels that benches/kernels.rs includes, from the models
# in bench/models/, with `sharegrad rust --type f32`:
#   bench/models/NAME.eq -> benches/generated/kernels_NAME.rs
# and conv2d once more with `--gemm` (contractions lowered to
# sharegrad-runtime's GEMM) -> benches/generated/kernels_conv2d_gemm.rs
# With --check, writes nothing and fails when a committed file differs from
# what the generator emits now (run it in CI or after changing codegen).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [[ "${1:-}" == "--check" ]]; then check=1; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --release -p sharegrad-cli
bin="$CARGO_TARGET_DIR/release/sharegrad"
mkdir -p benches/generated
status=0
for job in conv2d conv1d maxpool2d depthwise conv2d:gemm; do
    model="${job%%:*}"
    src="bench/models/$model.eq"
    flags=(--type f32)
    dst="benches/generated/kernels_$model.rs"
    if [[ "$job" == *:gemm ]]; then
        flags+=(--gemm)
        dst="benches/generated/kernels_${model}_gemm.rs"
    fi
    tmp="$(mktemp)"
    "$bin" rust "$src" "${flags[@]}" >"$tmp"
    if [[ $check == 1 ]]; then
        if ! diff -u "$dst" "$tmp" >/dev/null 2>&1; then
            echo "stale: $dst (run bench/generate.sh)" >&2
            status=1
        fi
        rm -f "$tmp"
    else
        mv "$tmp" "$dst"
        echo "wrote $dst"
    fi
done
exit $status
