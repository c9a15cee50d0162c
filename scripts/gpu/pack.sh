#!/bin/bash
# Packs what a GPU machine without node needs for scripts/gpu/check.sh into .gpu/ (git-ignored):
# this node binary, node_modules and the built dist/ (xz), and optionally diffusers' source for
# scripts/compare_diffusers.py. Stays under the device tool's 64 MiB carry limit (about 45 MiB).
#   bash scripts/gpu/pack.sh [DIFFUSERS_SRC_DIR]     (a diffusers checkout's src/, optional)
# then, with the device tool: run(carry: [".gpu"], command: "bash scripts/gpu/check.sh")
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d dist ] && [ -d node_modules ] || { echo "run npm ci && npm run build:ts first" >&2; exit 1; }
rm -rf .gpu && mkdir .gpu
xz -9 -T0 -c "$(command -v node)" > .gpu/node.xz
# typescript and the sharp/esbuild binaries for other platforms are not needed there: dist/ is built.
tar -cf - --exclude=node_modules/typescript dist node_modules | xz -6 -T0 > .gpu/node_modules.tar.xz
if [ $# -ge 1 ]; then
  tar -C "$1" -cf - --exclude='__pycache__' diffusers | xz -6 -T0 > .gpu/diffusers.tar.xz
fi
du -ch .gpu/* | tail -n +1
