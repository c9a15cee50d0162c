#!/bin/bash
# The GPU figures of issue #9 in one device call (see scripts/gpu/pack.sh for what it carries):
# CUDA build of the addon against the machine's pip torch, the test suite (CUDA tests included),
# a full-size random float16 export, the UNet-step and pipeline benchmarks (addon vs Python on the
# same TorchScript file) and, when diffusers was packed, scripts/compare_diffusers.py.
# Logs and JSON go to $OUT (the device tool brings them back). Every step runs even if one fails.
#   GPU_CHECK_PRESET=tiny-v2 GPU_CHECK_DEVICE=cpu bash scripts/gpu/check.sh    (a dry run without a GPU)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-check-out}
PRESET=${GPU_CHECK_PRESET:-sd15-v2}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
DTYPE=${GPU_CHECK_DTYPE:-$([ "$DEVICE" = cpu ] && echo float32 || echo float16)}
SIZE=${GPU_CHECK_SIZE:-$([ "${PRESET#sd15}" != "$PRESET" ] && echo 512 || echo 64)}
PY=${ANIMATORCH_PYTHON:-}
for c in python3 /usr/bin/python3; do [ -z "$PY" ] && "$c" -c "import torch" 2>/dev/null && PY=$(command -v "$c"); done
[ -n "$PY" ] || { echo "no python3 with torch found (set ANIMATORCH_PYTHON)" >&2; exit 1; }
export ANIMATORCH_PYTHON=$PY PYTHONUNBUFFERED=1
mkdir -p "$OUT"
step() { echo; echo "=== $1"; }

if [ -f .gpu/node.xz ]; then
  mkdir -p /tmp/gpu-node && xz -dc .gpu/node.xz > /tmp/gpu-node/node && chmod +x /tmp/gpu-node/node
  export PATH=/tmp/gpu-node:$PATH
fi
[ -f .gpu/node_modules.tar.xz ] && tar -xJf .gpu/node_modules.tar.xz
step "machine"; node --version; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

# Build against the torch that $PY imports (pip's CUDA libtorch there), not whatever CMake finds first.
TORCH_CMAKE=$("$PY" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
[ -f "$TORCH_CMAKE/Torch/TorchConfig.cmake" ] && export LIBTORCH=$TORCH_CMAKE
step "build (LIBTORCH=${LIBTORCH:-unset, CMake search order})"
t0=$(date +%s)
node node_modules/cmake-js/bin/cmake-js compile --log-level warn > "$OUT/build.log" 2>&1; rc=$?
grep -E "animatorch:|error" "$OUT/build.log" | head -20; echo "build rc=$rc in $(( $(date +%s) - t0 )) s"
node -e "const a = require('./dist'); console.log(JSON.stringify(a.versions()), 'cuda', a.cuda.isAvailable(), a.cuda.deviceCount())"

step "tests"
node node_modules/vitest/vitest.mjs run > "$OUT/vitest.log" 2>&1; echo "vitest rc=$?"
grep -E "✓.*cuda|×|Test Files|Tests " "$OUT/vitest.log" | tail -20

step "export $PRESET $DTYPE on $DEVICE"
MODEL=/tmp/gpu-check-$PRESET-$DTYPE
t0=$(date +%s)
"$PY" scripts/export_random_model.py --preset "$PRESET" --dtype "$DTYPE" --device "$DEVICE" --no-reference --quiet --out "$MODEL" \
  && echo "export in $(( $(date +%s) - t0 )) s"

step "UNet step, $SIZE px, 16 frames"
BENCH_DEVICE=$DEVICE node bench/unet-step.mjs "$MODEL" --size "$SIZE" --frames 16 2>&1 | tee "$OUT/unet-step.txt"

step "pipeline: 25 steps, 16 frames, $SIZE px, end to end; VAE decode tiled and untiled"
BENCH_MODEL=$MODEL BENCH_DEVICE=$DEVICE BENCH_SIZE=$SIZE BENCH_DECODE_SIZE=$SIZE BENCH_FRAMES=16 BENCH_STEPS=25 \
  node --expose-gc bench/pipeline.mjs 2>&1 | tee "$OUT/pipeline.txt"

if [ -f .gpu/diffusers.tar.xz ]; then
  step "diffusers comparison"
  mkdir -p /tmp/gpu-diffusers && tar -C /tmp/gpu-diffusers -xJf .gpu/diffusers.tar.xz
  PYTHONPATH=/tmp/gpu-diffusers "$PY" scripts/compare_diffusers.py --preset "$PRESET" --device "$DEVICE" --dtype "$DTYPE" \
    --size "$SIZE" $([ "$DEVICE" = cpu ] || echo --compile) --json "$OUT/compare.json" 2>&1 | grep -v "were passed to UNetMotionModel" | tee "$OUT/compare.txt"
fi
