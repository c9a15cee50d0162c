#!/usr/bin/env python3
"""Reference edge maps from OpenCV (cv2.cvtColor RGB2GRAY, cv2.Canny, cv2.threshold) for lib/video/control-preprocess.ts,
written as the small fixture test/fixtures/control-preprocess.json that test/control-preprocess.test.ts compares with exactly.

    python scripts/reference/control_preprocess.py > test/fixtures/control-preprocess.json   # the venv of scripts/requirements-torch2.txt

The input frames are a formula of the pixel position (shapes with soft gradients and texture), computed the same
way by the test, so the fixture holds only settings and OpenCV's outputs (base64).
"""

import base64
import json
import sys

import cv2
import numpy as np

F, H, W = 3, 40, 56
CANNY = [(100, 200), (30, 90), (180, 60)]  # the last swapped: OpenCV orders them
THRESHOLDS = [(128, False), (90, True)]


def input_frames() -> np.ndarray:
    """uint8 [F, H, W, 3]: a disc and a bar over a gradient with texture, moving with f (the test computes it too)."""
    f, y, x, c = np.meshgrid(np.arange(F), np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    disc = ((x - 18 - 5 * f) ** 2 + (y - 20) ** 2) < 120
    bar = (np.abs(x - 40 + 3 * f) < 4) & (y > 6)
    v = 40 + 2 * x + y + ((x * 7 + y * 3 + c * 11) % 13) * 3 + disc * (90 + 30 * c) + bar * (150 - 40 * c)
    return np.clip(v, 0, 255).astype(np.uint8)


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def main() -> int:
    frames = input_frames()
    gray = np.stack([cv2.cvtColor(fr, cv2.COLOR_RGB2GRAY) for fr in frames])
    canny = {f"{lo},{hi}": b64(np.stack([cv2.Canny(g, lo, hi) for g in gray])) for lo, hi in CANNY}
    threshold = {f"{t},{int(inv)}": b64(np.stack([cv2.threshold(g, t, 255, cv2.THRESH_BINARY_INV if inv else cv2.THRESH_BINARY)[1] for g in gray]))
                 for t, inv in THRESHOLDS}
    json.dump({"opencv": cv2.__version__, "shape": [F, H, W], "gray": b64(gray), "canny": canny, "threshold": threshold}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
