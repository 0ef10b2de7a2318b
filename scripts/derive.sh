#!/usr/bin/env bash
# The main job: derive a model (default: the seed's example, embedded in the
# binary) into the repository's out/: NAME.tex, NAME.pdf and NAME.rs.
#   bash scripts/derive.sh [FILE.eq] [--out DIR]
# FILE and DIR are paths as the caller wrote them: a relative one is taken
# from the directory the script is run in, not from the repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Only pdflatex: the derivation needs no KaTeX (that is for the tests).
bash "$root/scripts/setup.sh" --derive
# Cargo finds the workspace from --manifest-path, so the binary runs in the
# caller's directory. Without --out the files go to the repository's out/;
# a --out of the caller's comes later and wins (the last one counts).
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" -p sharegrad-cli -- \
  derive --out "$root/out" "$@"
