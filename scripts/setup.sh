#!/usr/bin/env bash
# Installs what sharegrad's documents and tests need on a fresh Debian
# machine: pdflatex (texlive-latex-base + texlive-latex-recommended),
# pdftoppm (poppler-utils) and KaTeX (npm). Idempotent; quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v pdflatex >/dev/null 2>&1 || need_apt+=(texlive-latex-base texlive-latex-recommended)
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (a few minutes on a fresh machine)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if [ ! -f node_modules/katex/package.json ]; then
  echo "setup: installing KaTeX from npm" >&2
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi
