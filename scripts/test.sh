#!/usr/bin/env bash
# The test command: set-up, formatting, lints, then every test with
# snapshots checked, never written (CI=true). This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CI=true INSTA_UPDATE=no
cargo fmt --all -- --check
# Lints with and without the optional `gemm` feature (the macros' fast
# path through sharegrad-runtime); tests with it, so its tests run too.
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings
# Benches are built by clippy above; running them is bench/'s job.
cargo test --workspace --all-features --lib --bins --tests --examples
cargo test --workspace --all-features --doc
# No pending snapshot may be left behind.
if find . -path ./target -prune -o \( -name '*.snap.new' -o -name '*.pending-snap' \) -print | grep -q .; then
  echo "error: pending insta snapshots (review with cargo insta review)" >&2
  exit 1
fi
