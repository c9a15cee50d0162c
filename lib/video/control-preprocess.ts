/**
 * ControlNet conditioning from ordinary frames: Canny edges (OpenCV's cv2.Canny on the grayscale frame,
 * bit for bit) and a plain grayscale threshold (scribble / lineart style), on RGB uint8 frames
 * [F, H, W, 3]; each returns RGB frames of the same shape, white (255) where the condition is on.
 */
import { InvalidParameterError } from '../errors';

/** OpenCV's cvtColor RGB2GRAY for 8-bit: (4899 R + 9617 G + 1868 B + 2^13) >> 14. */
export function rgbToGray(rgb: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += 3) out[i] = (4899 * rgb[j]! + 9617 * rgb[j + 1]! + 1868 * rgb[j + 2]! + 8192) >> 14;
  return out;
}

/** One channel -> RGB (the value in all three). */
function grayToRgb(gray: Uint8Array): Uint8Array {
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = gray[i]!;
  return out;
}

const TG22 = 13573; // round(tan(22.5°) · 2^15), as OpenCV
const SHIFT = 15;

/**
 * cv2.Canny(gray, low, high) with apertureSize 3 and L1 gradient: 3x3 Sobel (replicated border), |dx| + |dy|,
 * non-maximum suppression along the quantised gradient direction (OpenCV's asymmetric > / >= ties), then
 * hysteresis (8-connected). Returns 0 / 255.
 */
export function cannyGray(gray: Uint8Array, height: number, width: number, low: number, high: number): Uint8Array {
  if (low > high) [low, high] = [high, low];
  const lo = Math.floor(low);
  const hi = Math.floor(high);
  const at = (y: number, x: number) => gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))]!;
  const dx = new Int32Array(height * width);
  const dy = new Int32Array(height * width);
  const mag = new Int32Array((height + 2) * (width + 2)); // zero border: outside the image has no gradient
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const gx = at(y - 1, x + 1) - at(y - 1, x - 1) + 2 * (at(y, x + 1) - at(y, x - 1)) + at(y + 1, x + 1) - at(y + 1, x - 1);
      const gy = at(y + 1, x - 1) - at(y - 1, x - 1) + 2 * (at(y + 1, x) - at(y - 1, x)) + at(y + 1, x + 1) - at(y - 1, x + 1);
      dx[y * width + x] = gx;
      dy[y * width + x] = gy;
      mag[(y + 1) * (width + 2) + x + 1] = Math.abs(gx) + Math.abs(gy);
    }
  const W = width + 2;
  // 0: candidate (weak local maximum), 1: not an edge, 2: edge
  const map = new Uint8Array(height * width).fill(1);
  const stack: number[] = [];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const k = (y + 1) * W + x + 1;
      const m = mag[k]!;
      if (m <= lo) continue;
      const xs = dx[y * width + x]!;
      const ys = dy[y * width + x]!;
      const ax = Math.abs(xs);
      const ay = Math.abs(ys) * 2 ** SHIFT;
      const tg22x = ax * TG22;
      let max: boolean;
      if (ay < tg22x) max = m > mag[k - 1]! && m >= mag[k + 1]!;
      else {
        const tg67x = tg22x + ax * 2 ** (SHIFT + 1);
        if (ay > tg67x) max = m > mag[k - W]! && m >= mag[k + W]!;
        else {
          const s = xs < 0 !== ys < 0 ? -1 : 1;
          max = m > mag[k - W - s]! && m > mag[k + W + s]!;
        }
      }
      if (!max) continue;
      if (m > hi) {
        map[y * width + x] = 2;
        stack.push(y * width + x);
      } else map[y * width + x] = 0;
    }
  while (stack.length) {
    const p = stack.pop()!;
    const y = Math.floor(p / width);
    const x = p - y * width;
    for (let oy = -1; oy <= 1; oy++)
      for (let ox = -1; ox <= 1; ox++) {
        const yy = y + oy;
        const xx = x + ox;
        if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
        const q = yy * width + xx;
        if (map[q] === 0) {
          map[q] = 2;
          stack.push(q);
        }
      }
  }
  const out = new Uint8Array(height * width);
  for (let i = 0; i < out.length; i++) out[i] = map[i] === 2 ? 255 : 0;
  return out;
}

export interface CannyOptions {
  /** Hysteresis thresholds on |dx| + |dy| of the 3x3 Sobel. Default 100 and 200 (the usual ControlNet canny settings). */
  low?: number;
  high?: number;
}

function checkFrames(name: string, frames: Uint8Array, shape: readonly number[]): [number, number, number] {
  if (!(frames instanceof Uint8Array)) throw new InvalidParameterError(name, 'uint8 RGB frames [F, H, W, 3]', frames);
  const [f, h, w, c] = shape;
  if (shape.length !== 4 || c !== 3 || f! * h! * w! * 3 !== frames.length) throw new InvalidParameterError(`${name} shape`, `[F, H, W, 3] matching the data (${frames.length} bytes)`, shape);
  return [f!, h!, w!];
}

/** Canny edges of each frame (grayscale first), as RGB frames: the conditioning of Canny ControlNets. */
export function cannyFrames(frames: Uint8Array, shape: readonly number[], options: CannyOptions = {}): Uint8Array {
  const [f, h, w] = checkFrames('canny', frames, shape);
  const low = options.low ?? 100;
  const high = options.high ?? 200;
  for (const [k, v] of [['low', low], ['high', high]] as const) if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidParameterError(`canny ${k}`, 'a number >= 0', v);
  const out = new Uint8Array(frames.length);
  const n = h * w;
  for (let k = 0; k < f; k++) out.set(grayToRgb(cannyGray(rgbToGray(frames.subarray(3 * n * k, 3 * n * (k + 1)), n), h, w, low, high)), 3 * n * k);
  return out;
}

export interface ThresholdOptions {
  /** Gray level (0..255) above which a pixel is on. Default 128. */
  threshold?: number;
  /** On where the frame is DARK (black strokes on white paper become white scribbles on black). Default false. */
  invert?: boolean;
}

/** A plain grayscale threshold (cv2.threshold THRESH_BINARY, or _INV): 255 where gray > threshold, else 0, as RGB. */
export function thresholdFrames(frames: Uint8Array, shape: readonly number[], options: ThresholdOptions = {}): Uint8Array {
  const [f, h, w] = checkFrames('threshold', frames, shape);
  const t = options.threshold ?? 128;
  if (typeof t !== 'number' || !(t >= 0 && t <= 255)) throw new InvalidParameterError('threshold', 'a number in [0, 255]', t);
  const gray = rgbToGray(frames, f * h * w);
  for (let i = 0; i < gray.length; i++) gray[i] = gray[i]! > t !== !!options.invert ? 255 : 0;
  return grayToRgb(gray);
}
