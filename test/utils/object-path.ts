/**
 * Paths no demo caption describes, and the masks that steer the demo ControlNet along them
 * (models/demo/controlnet). The formulas are those of scripts/demo/paths.py (diagonal, circle, zig-zag), drawn
 * here from a seeded generator of their own, so the test's paths are ones training never drew.
 * The masks: the object's anti-aliased shape in white on black, 3 channels, as scripts/demo/clips.py renders it.
 */

export type PathFamily = 'diagonal' | 'circle' | 'zigzag';
export type Shape = 'circle' | 'square' | 'triangle';
/** Per-frame object centre in pixels (x right, y down; pixel k covers [k, k + 1)). */
export type Path = { x: number; y: number }[];

/** mulberry32: a small seeded generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LO = 14;
const HI = 50;
const clamp = (v: number) => Math.min(HI, Math.max(LO, v));

/** A random path of `family` over `frames` frames of 64x64 (centre within [14, 50]). */
export function randomPath(family: PathFamily, rand: () => number, frames: number): Path {
  const u = (a: number, b: number) => a + (b - a) * rand();
  const t = (i: number) => i / (frames - 1);
  let pts: Path;
  if (family === 'diagonal') {
    let [x0, y0, x1, y1] = [u(LO, 22), u(LO, 22), u(42, HI), u(42, HI)];
    if (rand() < 0.5) [x0, x1] = [64 - x0, 64 - x1];
    if (rand() < 0.5) [y0, y1] = [64 - y0, 64 - y1];
    if (rand() < 0.5) [x0, x1, y0, y1] = [x1, x0, y1, y0];
    pts = Array.from({ length: frames }, (_, i) => ({ x: x0 + (x1 - x0) * t(i), y: y0 + (y1 - y0) * t(i) }));
  } else if (family === 'circle') {
    const [cx, cy, r, a0] = [u(29, 35), u(29, 35), u(12, 15), u(0, 2 * Math.PI)];
    const sweep = u(1.5 * Math.PI, 2 * Math.PI) * (rand() < 0.5 ? 1 : -1);
    pts = Array.from({ length: frames }, (_, i) => {
      const a = a0 + (sweep * i) / frames;
      return { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
    });
  } else {
    let [x0, x1] = [u(LO, 20), u(44, HI)];
    if (rand() < 0.5) [x0, x1] = [x1, x0];
    const [mid, amp] = [u(29, 35), u(10, 13)];
    const sign = rand() < 0.5 ? 1 : -1;
    const tri = [-1, 0, 1, 0];
    pts = Array.from({ length: frames }, (_, i) => ({ x: x0 + (x1 - x0) * t(i), y: mid + sign * amp * tri[i % 4]! }));
  }
  return pts.map((p) => ({ x: clamp(p.x), y: clamp(p.y) }));
}

/** Signed distance to the edge of a shape of radius r at (cx, cy), as shape_mask() in scripts/demo/clips.py. */
function edgeDistance(shape: Shape, dx: number, dy: number, r: number): number {
  if (shape === 'circle') return Math.hypot(dx, dy) - r;
  if (shape === 'square') return Math.max(Math.abs(dx), Math.abs(dy)) - 0.9 * r;
  const R = 1.2 * r;
  return Math.max(dy - R / 2, -0.866 * dx - 0.5 * dy - R / 2, 0.866 * dx - 0.5 * dy - R / 2);
}

/** The object's mask along `path`: uint8 RGB [F, size, size, 3], white (anti-aliased) on black. */
export function maskFrames(shape: Shape, path: Path, radius: number, size: number): Uint8Array {
  const out = new Uint8Array(path.length * size * size * 3);
  path.forEach((p, f) => {
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const cover = Math.min(1, Math.max(0, 0.5 - edgeDistance(shape, x + 0.5 - p.x, y + 0.5 - p.y, radius)));
        out.fill(Math.round(255 * cover), ((f * size + y) * size + x) * 3, ((f * size + y) * size + x) * 3 + 3);
      }
  });
  return out;
}
