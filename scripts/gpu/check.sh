#!/bin/bash
# The GPU figures of issue #9 (see scripts/gpu/pack.sh for what a machine without node needs):
#   build    CUDA build of the addon against the machine's pip torch
#   prebuild the tagged CUDA prebuild (npm run prebuilds: prebuilds/linux-x64/animatorch.libtorch-*.cu*.node
#            and its .json), copied to $OUT to bring back and ship beside the CPU one
#   tests    the test suite (CUDA tests included)
#   export   full-size random exports: float16 (default attention), float16 frozen, float16 math attention
#   bench    UNet step of each export and the pipeline (addon vs Python on the same TorchScript file)
#   compare  scripts/compare_diffusers.py with torch.compile, when diffusers was packed
# Stages run in the order given (default: all). A device call may run 10 minutes and the machine
# stays warm only briefly between calls, so split them and issue the calls back to back, e.g.
#   bash scripts/gpu/check.sh build tests   then   bash scripts/gpu/check.sh export bench   then   ... compare
# Logs go to $OUT (the device tool brings them back); each stage runs even if an earlier one failed.
#   GPU_CHECK_PRESET=tiny-v2 GPU_CHECK_DEVICE=cpu bash scripts/gpu/check.sh    (a dry run without a GPU)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-check-out}
PRESET=${GPU_CHECK_PRESET:-sd15-v2}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
DTYPE=${GPU_CHECK_DTYPE:-$([ "$DEVICE" = cpu ] && echo float32 || echo float16)}
SIZE=${GPU_CHECK_SIZE:-$([ "${PRESET#sd15}" != "$PRESET" ] && echo 512 || echo 64)}
MODELS=/tmp/gpu-check-models
PY=${ANIMATORCH_PYTHON:-}
for c in python3 /usr/bin/python3; do [ -z "$PY" ] && "$c" -c "import torch" 2>/dev/null && PY=$(command -v "$c"); done
[ -n "$PY" ] || { echo "no python3 with torch found (set ANIMATORCH_PYTHON)" >&2; exit 1; }
# One BLAS thread beside the OpenMP ones, as `npm run bench` does (bench/run.mjs says why).
export ANIMATORCH_PYTHON=$PY PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p "$OUT" "$MODELS"
step() { echo; echo "=== $1 ($(date +%T))"; }

if [ -f .gpu/node.xz ] && ! command -v node > /dev/null; then
  mkdir -p /tmp/gpu-node && xz -dc .gpu/node.xz > /tmp/gpu-node/node && chmod +x /tmp/gpu-node/node
fi
export PATH=/tmp/gpu-node:$PATH
[ -d node_modules ] || { [ -f .gpu/node_modules.tar.xz ] && tar -xJf .gpu/node_modules.tar.xz; }

build() {
  step "machine"
  node --version
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  # The setup CI's torch 2.x leg builds against (.ci/torch2): say when this machine's torch differs.
  local pinned
  pinned=$(sed -n 's/^torch==//p' scripts/requirements-torch2.txt)
  "$PY" -c "import sys, torch; v = torch.__version__.split('+')[0]; print('pinned torch', sys.argv[1], '(same)' if v == sys.argv[1] else '(this machine has ' + v + ': pip install -r scripts/requirements-torch2.txt for the CI setup)')" "$pinned"
  # Build against the torch that $PY imports (pip's CUDA libtorch there), not whatever CMake finds first.
  local cmake_dir
  cmake_dir=$("$PY" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
  [ -f "$cmake_dir/Torch/TorchConfig.cmake" ] && export LIBTORCH=$cmake_dir
  step "build (LIBTORCH=${LIBTORCH:-unset, CMake search order})"
  local t0=$SECONDS
  node node_modules/cmake-js/bin/cmake-js compile --log-level warn > "$OUT/build.log" 2>&1
  echo "build rc=$? in $((SECONDS - t0)) s"
  grep -E "animatorch:|error" "$OUT/build.log" | head -20
  node -e "const a = require('./dist'); console.log(JSON.stringify(a.versions()), 'cuda', a.cuda.isAvailable(), a.cuda.deviceCount())"
}

prebuild() {
  step "prebuild (the CUDA flavour, tagged like the CPU one)"
  local t0=$SECONDS cmake_dir
  cmake_dir=$("$PY" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
  [ -f "$cmake_dir/Torch/TorchConfig.cmake" ] && export LIBTORCH=$cmake_dir
  node scripts/prebuild.mjs > "$OUT/prebuild.log" 2>&1
  echo "prebuild rc=$? in $((SECONDS - t0)) s"
  tail -n 1 "$OUT/prebuild.log"
  cp prebuilds/linux-x64/animatorch.libtorch-*.cu*.{node,json} "$OUT/" 2>/dev/null
}

tests() {
  step "tests"
  node node_modules/vitest/vitest.mjs run > "$OUT/vitest.log" 2>&1
  echo "vitest rc=$?"
  grep -iE "cuda|×|Test Files|Tests " "$OUT/vitest.log" | tail -20
}

export_one() { # name, extra flags...
  local name=$1 t0=$SECONDS
  shift
  "$PY" scripts/export_random_model.py --preset "$PRESET" --dtype "$DTYPE" --device "$DEVICE" --no-reference --quiet \
    --out "$MODELS/$name.tmp" "$@" && rm -rf "${MODELS:?}/$name" && mv "$MODELS/$name.tmp" "$MODELS/$name" \
    && echo "$name: exported in $((SECONDS - t0)) s"
}

export_models() {
  step "export $PRESET $DTYPE on $DEVICE"
  export_one default
  export_one frozen --freeze
  export_one math --attention-backend math
}

bench() {
  for name in default frozen math; do
    [ -f "$MODELS/$name/model.yaml" ] || continue
    step "UNet step ($name), $SIZE px, 16 frames"
    BENCH_DEVICE=$DEVICE node bench/unet-step.mjs "$MODELS/$name" --size "$SIZE" --frames 16 2>&1 | tee "$OUT/unet-step-$name.txt"
  done
  step "pipeline: 25 steps, 16 frames, $SIZE px, end to end; VAE decode tiled and untiled"
  BENCH_MODEL=$MODELS/default BENCH_DEVICE=$DEVICE BENCH_SIZE=$SIZE BENCH_DECODE_SIZE=$SIZE BENCH_FRAMES=16 BENCH_STEPS=25 \
    node --expose-gc bench/pipeline.mjs 2>&1 | tee "$OUT/pipeline.txt"
}

compare() {
  [ -f .gpu/diffusers.tar.xz ] || { echo "compare: no .gpu/diffusers.tar.xz (bash scripts/gpu/pack.sh DIFFUSERS_SRC)"; return; }
  step "diffusers comparison"
  mkdir -p /tmp/gpu-diffusers && tar -C /tmp/gpu-diffusers -xJf .gpu/diffusers.tar.xz
  PYTHONPATH=/tmp/gpu-diffusers "$PY" scripts/compare_diffusers.py --preset "$PRESET" --device "$DEVICE" --dtype "$DTYPE" \
    --size "$SIZE" $([ "$DEVICE" = cpu ] || echo --compile) --json "$OUT/compare.json" 2>&1 \
    | grep -v "were passed to UNetMotionModel" | tee "$OUT/compare.txt"
}

[ $# -gt 0 ] || set -- build tests export bench compare
for s in "$@"; do
  case $s in
    build | prebuild | tests | bench | compare) "$s" ;;
    export) export_models ;;
    *) echo "unknown stage '$s' (build, prebuild, tests, export, bench, compare)" >&2; exit 2 ;;
  esac
done
