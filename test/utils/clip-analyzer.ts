/**
 * A tiny analyzer for the demo model's clips (one flat-colored object on a flat background):
 * which palette color the object has, and how it moves between the first and the last frames
 * (centroid direction, or size change). Mirrors `analyze()` in scripts/demo/train.py; the
 * "agrees with the training analyzer" test in test/demo-model.test.ts keeps the two equal.
 */

export type Rgb = readonly [number, number, number];
export type Motion = 'left' | 'right' | 'up' | 'down' | 'growing' | 'shrinking' | 'still';

/** The object colors of scripts/demo/clips.py (0..255). */
export const PALETTE: Readonly<Record<string, Rgb>> = {
  red: [225, 35, 35],
  green: [40, 200, 60],
  blue: [45, 90, 235],
  yellow: [235, 220, 40],
  white: [240, 240, 240],
  purple: [165, 60, 215],
};

export interface ClipAnalysis {
  /** Nearest palette color to the object's mean color; null when no object was found. */
  color: string | null;
  motion: Motion | null;
  /** Object's mean color (0..1) and the background's (median of the border pixels). */
  objectRgb?: Rgb;
  backgroundRgb: Rgb;
  /** Fraction of pixels (all frames) that differ from the background. */
  objectFraction: number;
  /** Centroid shift in pixels from the first two frames to the last two (+x right, +y down). */
  dx?: number;
  dy?: number;
  /** Object area of the last two frames / area of the first two. */
  areaRatio?: number;
}

export interface AnalyzeOptions {
  /** Sum of |channel difference| (0..3) above which a pixel belongs to the object. Default 0.3. */
  threshold?: number;
  /** Area ratio above which (or below 1/x) the object grows (shrinks). Default 1.6. */
  sizeRatio?: number;
  /** Centroid shift (pixels) under which the object counts as still. Default 5. */
  minShift?: number;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** `frames`: uint8 RGB, [F, H, W, 3] row-major. */
export function analyzeClip(frames: Uint8Array, numFrames: number, height: number, width: number, options: AnalyzeOptions = {}): ClipAnalysis {
  const { threshold = 0.3, sizeRatio = 1.6, minShift = 5 } = options;
  if (frames.length !== numFrames * height * width * 3) throw new RangeError(`analyzeClip: expected ${numFrames * height * width * 3} bytes, got ${frames.length}`);
  const px = (f: number, y: number, x: number, c: number) => frames[((f * height + y) * width + x) * 3 + c]! / 255;

  // background: per-channel median of every frame's border pixels
  const border: number[][] = [[], [], []];
  for (let f = 0; f < numFrames; f++) {
    for (let x = 0; x < width; x++) for (const y of [0, height - 1]) for (let c = 0; c < 3; c++) border[c]!.push(px(f, y, x, c));
    for (let y = 0; y < height; y++) for (const x of [0, width - 1]) for (let c = 0; c < 3; c++) border[c]!.push(px(f, y, x, c));
  }
  const bg = border.map(median) as unknown as Rgb;

  const mask = new Uint8Array(numFrames * height * width);
  const sum = [0, 0, 0];
  let count = 0;
  for (let f = 0; f < numFrames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let d = 0;
        for (let c = 0; c < 3; c++) d += Math.abs(px(f, y, x, c) - bg[c]!);
        if (d > threshold) {
          mask[(f * height + y) * width + x] = 1;
          for (let c = 0; c < 3; c++) sum[c]! += px(f, y, x, c);
          count++;
        }
      }
    }
  }
  const out: ClipAnalysis = { color: null, motion: null, backgroundRgb: bg, objectFraction: count / mask.length };
  if (count < 4) return out;
  const rgb = sum.map((s) => s / count) as unknown as Rgb;
  out.objectRgb = rgb;
  let best = Infinity;
  for (const [name, p] of Object.entries(PALETTE)) {
    const d = p.reduce((acc, v, c) => acc + (v / 255 - rgb[c]!) ** 2, 0);
    if (d < best) {
      best = d;
      out.color = name;
    }
  }

  // centroid + area over the first two and the last two frames
  const stats = (fs: number[]) => {
    let a = 0;
    let sx = 0;
    let sy = 0;
    for (const f of fs) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          if (mask[(f * height + y) * width + x]) {
            a++;
            sx += x;
            sy += y;
          }
        }
      }
    }
    a /= fs.length;
    return a < 2 ? null : { x: sx / fs.length / a, y: sy / fs.length / a, area: a };
  };
  const first = stats(numFrames > 1 ? [0, 1] : [0]);
  const last = stats(numFrames > 1 ? [numFrames - 2, numFrames - 1] : [0]);
  if (!first || !last) return out;
  const dx = last.x - first.x;
  const dy = last.y - first.y;
  const ratio = last.area / first.area;
  Object.assign(out, { dx, dy, areaRatio: ratio });
  if (ratio > sizeRatio) out.motion = 'growing';
  else if (ratio < 1 / sizeRatio) out.motion = 'shrinking';
  else if (Math.max(Math.abs(dx), Math.abs(dy)) < minShift) out.motion = 'still';
  else if (Math.abs(dx) >= Math.abs(dy)) out.motion = dx > 0 ? 'right' : 'left';
  else out.motion = dy > 0 ? 'down' : 'up';
  return out;
}

/** Draws a synthetic clip (filled disc moving from (x0, y0, r0) to (x1, y1, r1)) - for testing the analyzer itself. */
export function drawDiscClip(
  numFrames: number,
  size: number,
  color: Rgb,
  background: Rgb,
  from: { x: number; y: number; r: number },
  to: { x: number; y: number; r: number },
): Uint8Array {
  const out = new Uint8Array(numFrames * size * size * 3);
  for (let f = 0; f < numFrames; f++) {
    const t = numFrames > 1 ? f / (numFrames - 1) : 0;
    const cx = from.x + (to.x - from.x) * t;
    const cy = from.y + (to.y - from.y) * t;
    const r = from.r + (to.r - from.r) * t;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r;
        const c = inside ? color : background;
        out.set(c, ((f * size + y) * size + x) * 3);
      }
    }
  }
  return out;
}
