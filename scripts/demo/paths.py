"""Object paths no demo caption describes, for the demo ControlNet (``models/demo/controlnet``).

A path is the object's centre (x, y) in pixels on each of the 8 frames of a 64x64 clip. Families:

* ``diagonal``  a straight line from near one corner towards the opposite one;
* ``circle``    most of a circle (270..360 degrees) around a point near the middle, either way round;
* ``zigzag``    across the frame left<->right while going up and down (a triangle wave, period 4 frames);
* ``arbitrary`` piecewise-linear through 3 or 4 random waypoints.

The centre stays in [14, 50] so that an object of radius <= 10 stays inside the frame.
``scripts/demo/train_controlnet.py`` trains on all four (random parameters from its seed);
``test/demo-controlnet.test.ts`` draws diagonals, circles and zig-zags with the same formulas (in
TypeScript) from seeds training never used.

    /usr/bin/python3 scripts/demo/paths.py    # prints one path of each family
    # 8 mask frames (PNG) of a red ball on a circle, for `animatorch render --controlnet`:
    /usr/bin/python3 scripts/demo/paths.py --masks /tmp/circle --family circle --shape circle --seed 3
"""

from __future__ import annotations

import argparse
import math
import os
import random
import struct
import zlib
from typing import Tuple

import numpy as np

import clips

FAMILIES = ("diagonal", "circle", "zigzag", "arbitrary")
LO, HI = 14.0, 50.0


def diagonal(rng: random.Random) -> Tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, clips.FRAMES)
    x0, y0 = rng.uniform(LO, 22.0), rng.uniform(LO, 22.0)
    x1, y1 = rng.uniform(42.0, HI), rng.uniform(42.0, HI)
    if rng.random() < 0.5:
        x0, x1 = 64.0 - x0, 64.0 - x1
    if rng.random() < 0.5:
        y0, y1 = 64.0 - y0, 64.0 - y1
    if rng.random() < 0.5:
        x0, x1, y0, y1 = x1, x0, y1, y0
    return x0 + (x1 - x0) * t, y0 + (y1 - y0) * t


def circle(rng: random.Random) -> Tuple[np.ndarray, np.ndarray]:
    cx, cy = rng.uniform(29.0, 35.0), rng.uniform(29.0, 35.0)
    r = rng.uniform(12.0, 15.0)
    a0 = rng.uniform(0.0, 2 * math.pi)
    sweep = rng.uniform(1.5 * math.pi, 2 * math.pi) * (1 if rng.random() < 0.5 else -1)
    a = a0 + sweep * np.arange(clips.FRAMES) / clips.FRAMES
    return cx + r * np.cos(a), cy + r * np.sin(a)


def zigzag(rng: random.Random) -> Tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, clips.FRAMES)
    x0, x1 = rng.uniform(LO, 20.0), rng.uniform(44.0, HI)
    if rng.random() < 0.5:
        x0, x1 = x1, x0
    mid, amp = rng.uniform(29.0, 35.0), rng.uniform(10.0, 13.0)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    tri = np.array([-1.0, 0.0, 1.0, 0.0])[np.arange(clips.FRAMES) % 4]
    ys = mid + sign * amp * tri
    return x0 + (x1 - x0) * t, ys


def arbitrary(rng: random.Random) -> Tuple[np.ndarray, np.ndarray]:
    k = rng.choice((3, 4))
    pts = np.array([[rng.uniform(LO, HI), rng.uniform(LO, HI)] for _ in range(k)])
    knots = np.linspace(0.0, 1.0, k)
    t = np.linspace(0.0, 1.0, clips.FRAMES)
    return np.interp(t, knots, pts[:, 0]), np.interp(t, knots, pts[:, 1])


def random_path(family: str, rng: random.Random) -> Tuple[np.ndarray, np.ndarray]:
    xs, ys = {"diagonal": diagonal, "circle": circle, "zigzag": zigzag, "arbitrary": arbitrary}[family](rng)
    return np.clip(xs, LO, HI), np.clip(ys, LO, HI)


def path_spec(family: str, rng: random.Random, shape=None, color=None, background=None) -> clips.ClipSpec:
    """A clip whose object follows a random path of ``family`` (constant size); ``motion`` is the family name."""
    xs, ys = random_path(family, rng)
    r = rng.uniform(7.0, 10.0)
    return clips.ClipSpec(shape or rng.choice(clips.SHAPES), color or rng.choice(list(clips.COLORS)), family,
                          background or rng.choice(list(clips.BACKGROUNDS)), xs, ys, np.full(clips.FRAMES, r))


def write_png(path: str, rgb: np.ndarray) -> None:
    """uint8 [H, W, 3] -> an 8-bit RGB PNG (zlib only: no image library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_masks(out_dir: str, family: str, shape: str, seed: int) -> clips.ClipSpec:
    """The demo ControlNet's condition for one random path: frame_0.png .. frame_7.png, white object on black."""
    spec = path_spec(family, random.Random(seed), shape=shape)
    _, masks = clips.render(spec)
    os.makedirs(out_dir, exist_ok=True)
    for i, m in enumerate(masks):
        write_png(os.path.join(out_dir, f"frame_{i}.png"), np.repeat(np.round(m * 255).astype(np.uint8)[..., None], 3, -1))
    return spec


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masks", metavar="DIR", help="write the mask frames of one path into DIR")
    ap.add_argument("--family", choices=FAMILIES, default="circle")
    ap.add_argument("--shape", choices=clips.SHAPES, default="circle")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.masks:
        sp = write_masks(a.masks, a.family, a.shape, a.seed)
        print(f"{a.masks}: {a.family} ", " ".join(f"({x:.0f},{y:.0f})" for x, y in zip(sp.xs, sp.ys)))
    else:
        rng = random.Random(a.seed)
        for fam in FAMILIES:
            xs, ys = random_path(fam, rng)
            print(fam, " ".join(f"({x:.0f},{y:.0f})" for x, y in zip(xs, ys)))
