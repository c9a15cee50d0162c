// Canny edges and the grayscale threshold against OpenCV (cv2.Canny, cv2.threshold, cvtColor RGB2GRAY):
// test/fixtures/control-preprocess.json, written by scripts/reference/control_preprocess.py.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../lib/errors';
import { cannyFrames, rgbToGray, thresholdFrames } from '../lib/video/control-preprocess';

const ref = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'control-preprocess.json'), 'utf8')) as {
  shape: [number, number, number];
  gray: string;
  canny: Record<string, string>;
  threshold: Record<string, string>;
};
const [F, H, W] = ref.shape;
const shape = [F, H, W, 3];
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
/** One channel of RGB frames (all three are equal). */
const firstChannel = (rgb: Uint8Array) => rgb.filter((_, i) => i % 3 === 0);

/** The reference script's input_frames(). */
function inputFrames(): Uint8Array {
  const out = new Uint8Array(F * H * W * 3);
  let i = 0;
  for (let f = 0; f < F; f++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++) {
          const disc = (x - 18 - 5 * f) ** 2 + (y - 20) ** 2 < 120 ? 1 : 0;
          const bar = Math.abs(x - 40 + 3 * f) < 4 && y > 6 ? 1 : 0;
          const v = 40 + 2 * x + y + ((x * 7 + y * 3 + c * 11) % 13) * 3 + disc * (90 + 30 * c) + bar * (150 - 40 * c);
          out[i++] = Math.min(255, Math.max(0, v));
        }
  return out;
}

describe('ControlNet preprocessing against OpenCV', () => {
  const frames = inputFrames();

  it('grayscale as cvtColor RGB2GRAY, exactly', () => {
    expect(rgbToGray(frames, F * H * W)).toEqual(bytes(ref.gray));
  });

  for (const key of Object.keys(ref.canny)) {
    it(`Canny (${key}) as cv2.Canny, pixel for pixel`, () => {
      const [low, high] = key.split(',').map(Number) as [number, number];
      const got = firstChannel(cannyFrames(frames, shape, { low, high }));
      const want = bytes(ref.canny[key]!);
      const edges = want.reduce((n, v) => n + (v ? 1 : 0), 0);
      expect(edges).toBeGreaterThan(50);
      expect(got.reduce((n, v, i) => n + (v !== want[i] ? 1 : 0), 0)).toBe(0);
    });
  }

  for (const key of Object.keys(ref.threshold)) {
    it(`threshold (${key}) as cv2.threshold`, () => {
      const [threshold, inv] = key.split(',').map(Number) as [number, number];
      expect(firstChannel(thresholdFrames(frames, shape, { threshold, invert: inv === 1 }))).toEqual(bytes(ref.threshold[key]!));
    });
  }

  it('rejects frames whose shape does not match, by name', () => {
    expect(() => cannyFrames(frames, [F, H, W, 4])).toThrow(InvalidParameterError);
    expect(() => thresholdFrames(frames, shape, { threshold: 300 })).toThrow(/threshold/);
  });
});
