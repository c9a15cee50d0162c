"""Procedural training clips for the bundled demo model (``models/demo``).

A clip is 8 frames of 64x64 RGB: one flat-colored shape (circle, square, triangle) on a flat
background, moving left / right / up / down, growing, shrinking or standing still.
Captions come from templates with paraphrases; ``HELD_OUT`` lists phrasings that are NEVER
used for training (the end-to-end test in ``test/demo-model.test.ts`` uses them).

    /usr/bin/python3 scripts/demo/clips.py        # prints a few sample captions
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

SIZE = 64
FRAMES = 8

COLORS: Dict[str, Tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (40, 200, 60),
    "blue": (45, 90, 235),
    "yellow": (235, 220, 40),
    "white": (240, 240, 240),
    "purple": (165, 60, 215),
}
BACKGROUNDS: Dict[str, Tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "gray": (95, 95, 95),
    "dark blue": (15, 20, 75),
    "dark green": (15, 55, 25),
}
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down", "growing", "shrinking", "still")

SHAPE_WORDS = {
    "circle": ["circle", "ball", "dot", "disc", "round ball"],
    "square": ["square", "box", "block", "cube"],
    "triangle": ["triangle", "triangle shape"],
}
MOTION_WORDS = {
    "left": ["moving left", "moves left", "moves to the left", "sliding left", "going left", "travels left",
             "drifting to the left", "slides to the left", "moving to the left", "rolling left"],
    "right": ["moving right", "moves right", "moves to the right", "sliding right", "going right", "travels right",
              "drifting to the right", "slides to the right", "moving to the right", "rolling right"],
    "up": ["moving up", "moves up", "moving upward", "rises", "rising", "going up", "floats up", "moves upwards",
           "flying up", "slides up"],
    "down": ["moving down", "moves down", "moving downward", "falls", "falling", "going down", "sinks down",
             "drops down", "moves downwards", "slides down"],
    "growing": ["growing", "grows", "getting bigger", "expanding", "grows larger", "becoming bigger", "gets bigger",
                "inflating"],
    "shrinking": ["shrinking", "shrinks", "getting smaller", "contracting", "becoming smaller", "gets smaller",
                  "deflating", "shrinks away"],
    "still": ["standing still", "not moving", "staying still", "resting", "static", "stays in place", "motionless",
              "sitting still"],
}
TEMPLATES = [
    "a {color} {shape} {motion}",
    "{color} {shape} {motion}",
    "the {color} {shape} {motion}",
    "a {color} {shape} {motion} on a {bg} background",
    "{color} {shape} {motion}, {bg} background",
    "a {color} {shape} {motion} over {bg}",
]

# Phrasings that never appear verbatim in training captions (the test uses these).
HELD_OUT_TEMPLATES = [
    "there is a {color} {shape} that {motion}",
    "video of a {color} {shape} {motion}",
]
HELD_OUT_MOTION_WORDS = {
    "left": ["heading left", "drifts left"],
    "right": ["heading right", "drifts right"],
    "up": ["heading up", "climbs up"],
    "down": ["heading down", "drifts down"],
    "growing": ["grows bigger", "getting larger"],
    "shrinking": ["shrinks smaller", "getting tinier"],
    "still": ["stays still", "not moving at all"],
}


@dataclass
class ClipSpec:
    shape: str
    color: str
    motion: str
    background: str
    # per-frame centre (x, y) and radius in pixels
    xs: np.ndarray
    ys: np.ndarray
    rs: np.ndarray


def caption(spec: ClipSpec, rng: random.Random) -> str:
    tpl = rng.choice(TEMPLATES)
    return tpl.format(
        color=spec.color,
        shape=rng.choice(SHAPE_WORDS[spec.shape]),
        motion=rng.choice(MOTION_WORDS[spec.motion]),
        bg=spec.background,
    )


def random_spec(rng: random.Random, shape: Optional[str] = None, color: Optional[str] = None,
                motion: Optional[str] = None, background: Optional[str] = None) -> ClipSpec:
    shape = shape or rng.choice(SHAPES)
    color = color or rng.choice(list(COLORS))
    motion = motion or rng.choice(MOTIONS)
    background = background or rng.choice(list(BACKGROUNDS))
    t = np.linspace(0.0, 1.0, FRAMES)
    r = rng.uniform(7.0, 10.5)
    if motion in ("left", "right", "up", "down"):
        start = rng.uniform(11.0, 20.0)
        travel = rng.uniform(24.0, 64.0 - 2 * start)
        along = start + travel * t
        if motion in ("left", "up"):
            along = SIZE - along
        across = np.full(FRAMES, rng.uniform(14.0, 50.0))
        xs, ys = (along, across) if motion in ("left", "right") else (across, along)
        rs = np.full(FRAMES, r)
    elif motion in ("growing", "shrinking"):
        r0, r1 = rng.uniform(4.0, 6.0), rng.uniform(13.0, 17.0)
        rs = r0 + (r1 - r0) * t
        if motion == "shrinking":
            rs = rs[::-1].copy()
        xs = np.full(FRAMES, rng.uniform(26.0, 38.0))
        ys = np.full(FRAMES, rng.uniform(26.0, 38.0))
    else:
        xs = np.full(FRAMES, rng.uniform(16.0, 48.0))
        ys = np.full(FRAMES, rng.uniform(16.0, 48.0))
        rs = np.full(FRAMES, r)
    return ClipSpec(shape, color, motion, background, xs, ys, rs)


_GRID = np.stack(np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5, indexing="xy"), 0)  # [2, H, W]: x, y


def shape_mask(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1], [H, W]."""
    dx = _GRID[0] - cx
    dy = _GRID[1] - cy
    if shape == "circle":
        d = np.sqrt(dx * dx + dy * dy) - r
    elif shape == "square":
        s = r * 0.9
        d = np.maximum(np.abs(dx), np.abs(dy)) - s
    else:  # upward triangle inscribed in a circle of radius 1.15 r
        R = r * 1.2
        # three edges: bottom (y = cy + R/2), and two slanted ones
        n1 = dy - R / 2.0
        n2 = (-0.866 * dx - 0.5 * dy) - R / 2.0
        n3 = (0.866 * dx - 0.5 * dy) - R / 2.0
        d = np.maximum(np.maximum(n1, n2), n3)
    return np.clip(0.5 - d, 0.0, 1.0)


def render(spec: ClipSpec) -> Tuple[np.ndarray, np.ndarray]:
    """-> (frames [F, H, W, 3] float32 in [0, 1], masks [F, H, W] float32)."""
    bg = np.array(BACKGROUNDS[spec.background], np.float32) / 255.0
    fg = np.array(COLORS[spec.color], np.float32) / 255.0
    frames = np.empty((FRAMES, SIZE, SIZE, 3), np.float32)
    masks = np.empty((FRAMES, SIZE, SIZE), np.float32)
    for i in range(FRAMES):
        m = shape_mask(spec.shape, float(spec.xs[i]), float(spec.ys[i]), float(spec.rs[i]))
        masks[i] = m
        frames[i] = bg + (fg - bg) * m[..., None]
    return frames, masks


def make_dataset(n: int, seed: int):
    """n clips -> (videos uint8 [n, F, H, W, 3], masks uint8 [n, F, H, W], specs list, rng)."""
    rng = random.Random(seed)
    videos = np.empty((n, FRAMES, SIZE, SIZE, 3), np.uint8)
    masks = np.empty((n, FRAMES, SIZE, SIZE), np.uint8)
    specs: List[ClipSpec] = []
    for k in range(n):
        # balanced cycling over shape x color x motion, random everything else
        combo = k % (len(SHAPES) * len(COLORS) * len(MOTIONS))
        shape = SHAPES[combo % len(SHAPES)]
        color = list(COLORS)[(combo // len(SHAPES)) % len(COLORS)]
        motion = MOTIONS[combo // (len(SHAPES) * len(COLORS))]
        spec = random_spec(rng, shape, color, motion)
        f, m = render(spec)
        videos[k] = np.round(f * 255.0).astype(np.uint8)
        masks[k] = np.round(m * 255.0).astype(np.uint8)
        specs.append(spec)
    return videos, masks, specs


def held_out_prompt(shape: str, color: str, motion: str, rng: random.Random) -> str:
    tpl = rng.choice(HELD_OUT_TEMPLATES)
    words = rng.choice(HELD_OUT_MOTION_WORDS[motion])
    return tpl.format(color=color, shape=rng.choice(SHAPE_WORDS[shape][:2]), motion=words)


if __name__ == "__main__":
    rng = random.Random(0)
    for _ in range(10):
        print(caption(random_spec(rng), rng))
