#!/usr/bin/env bash
# The main job: derive a model (default: the seed's example, embedded in the
# binary) into out/: NAME.tex, NAME.pdf and NAME.rs.
#   bash scripts/derive.sh [FILE.eq] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --quiet --release -p sharegrad-cli -- derive "$@"
