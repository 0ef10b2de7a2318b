#!/usr/bin/env bash
# Installs what sharegrad's documents and tests need on a fresh Debian
# machine: pdflatex (texlive-latex-base + texlive-latex-recommended) and
# KaTeX (npm). Idempotent; quick when done.
#   bash scripts/setup.sh            everything (scripts/test.sh)
#   bash scripts/setup.sh --derive   only pdflatex (scripts/derive.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
all=1
case "${1-}" in
  "") ;;
  --derive) all=0 ;;
  *) echo "usage: bash scripts/setup.sh [--derive]" >&2; exit 2 ;;
esac
need_apt=()
command -v pdflatex >/dev/null 2>&1 || need_apt+=(texlive-latex-base texlive-latex-recommended)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (a few minutes on a fresh machine)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
[ "$all" -eq 1 ] || exit 0
# KaTeX counts as installed when Node resolves it from tests/katex/ the way
# tests/katex/check.js will (this repository's node_modules, a parent's,
# NODE_PATH or Node's global folders).
if ! node -e 'require.resolve("katex", { paths: ["tests/katex"] })' >/dev/null 2>&1; then
  echo "setup: installing KaTeX from npm" >&2
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi
