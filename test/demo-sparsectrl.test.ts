/**
 * The demo SparseCtrl (models/demo/sparsectrl, scribble kind) steers the demo model from one or two keyframes:
 * the keyframe is the object's mask (white on black) on frame 0, or on frames 0 and 7, and the rendered object
 * must be there on those frames (and, with two, travel from the first toward the second).
 *
 * Positions and seeds are held out: test/utils/object-path.ts draws the paths from its own generator (seed 5151),
 * the sampling seeds (940000 + 13 k) were never used in training; only the keyframes' masks reach the model.
 * A case holds when the object's centroid (test/utils/object-position.ts) is within NEAR px of the keyframe
 * object's centre on every keyframe frame, and with two keyframes the object moves from the first toward the
 * second: the last keyframe's centroid has covered at least half the way from the first one's (projected on
 * first -> second), and on no frame between has the object fallen back by more than BACK of that way (nor
 * vanished: a frame without object has no progress and fails). With the SparseCtrl,
 * >= 8 of 10 cases must hold; without it (negative control: same prompts and seeds), at most 2 of 10 may.
 * ANIMATORCH_DEMO_SPARSECTRL_CASES=N runs N cases instead of 10, ANIMATORCH_DEMO_SPARSECTRL_STEPS the DDIM
 * steps (default 10). Measured when written (models/demo/README.md): 19/20 with the SparseCtrl, 1/20 without.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import { type ControlNet, loadControlNet } from '../lib/pipelines/controlnet-model';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import { PALETTE } from './utils/clip-analyzer';
import { maskFrames, type Path, type PathFamily, randomPath, type Shape, seededRandom } from './utils/object-path';
import { objectCentres } from './utils/object-position';

const MODEL_DIR = process.env.ANIMATORCH_DEMO_MODEL ?? path.resolve(__dirname, '..', 'models', 'demo');
const SPARSECTRL_DIR = path.join(MODEL_DIR, 'sparsectrl');
const S = 64;
const F = 8;
const STEPS = Number(process.env.ANIMATORCH_DEMO_SPARSECTRL_STEPS ?? 10);
const BASE = { width: S, height: S, numFrames: F, numInferenceSteps: STEPS, guidanceScale: 6, outputType: 'uint8' } as const;
/** Tolerance (pixels) between the rendered centroid and the keyframe object's centre on a keyframe frame. */
const NEAR = 6;
/** Two keyframes: how far (share of the way between them) the object may fall back on the frames between. */
const BACK = 0.25;
const N = Number(process.env.ANIMATORCH_DEMO_SPARSECTRL_CASES ?? 10);

const FAMILIES: PathFamily[] = ['diagonal', 'zigzag'];
const KEYS = [[0, F - 1], [0]];
const SHAPES: [Shape, string][] = [['circle', 'ball'], ['square', 'square'], ['triangle', 'triangle'], ['circle', 'circle'], ['square', 'box']];
const COLORS = Object.keys(PALETTE);
const FRAME = S * S * 3;

interface Case {
  keys: number[];
  prompt: string;
  seed: number;
  path: Path;
  /** the keyframes: uint8 [K, S, S, 3] */
  images: Uint8Array;
  /** the object's mask on every frame of the path (only the judge's self-check sees the frames between) */
  masks: Uint8Array;
}

function cases(n: number): Case[] {
  const rand = seededRandom(5151);
  return Array.from({ length: n }, (_, k) => {
    const [shape, word] = SHAPES[k % SHAPES.length]!;
    const color = COLORS[(k * 5 + 1) % COLORS.length]!;
    const p = randomPath(FAMILIES[k % FAMILIES.length]!, rand, F);
    const keys = KEYS[k % KEYS.length]!;
    const masks = maskFrames(shape, p, 8.5, S);
    const images = new Uint8Array(keys.length * FRAME);
    keys.forEach((f, i) => images.set(masks.subarray(f * FRAME, (f + 1) * FRAME), i * FRAME));
    return { keys, prompt: `a ${color} ${word}`, seed: 940_000 + 13 * k, path: p, images, masks };
  });
}

/** Whether the render puts the object on the keyframes (see the header), and a line saying why. */
function judge(frames: Uint8Array, c: Case): { ok: boolean; line: string } {
  const at = objectCentres(frames, F, S, S).map((v) => (v ? { x: v.x + 0.5, y: v.y + 0.5 } : null));
  const d = c.keys.map((f) => (at[f] ? Math.hypot(at[f]!.x - c.path[f]!.x, at[f]!.y - c.path[f]!.y) : Infinity));
  let ok = d.every((v) => v <= NEAR);
  let progress = '';
  if (c.keys.length === 2) {
    // how far along first -> second keyframe the object is on each frame (0 at the first, 1 at the second)
    const [a, b] = c.keys as [number, number];
    const [vx, vy] = [c.path[b]!.x - c.path[a]!.x, c.path[b]!.y - c.path[a]!.y];
    const along = at.map((v) => (v ? ((v.x - c.path[a]!.x) * vx + (v.y - c.path[a]!.y) * vy) / (vx * vx + vy * vy) : NaN));
    const p = at[a] && at[b] ? along[b]! - along[a]! : -Infinity;
    // on every frame, never back by more than BACK of the way it has come
    const steady = along.every((v, f) => v >= Math.max(...along.slice(0, f + 1)) - BACK);
    ok &&= p >= 0.5 && steady;
    progress = `, progress ${p.toFixed(2)}${steady ? '' : ' GOES BACK'} (per frame ${along.map((v) => v.toFixed(2)).join(' ')})`;
  }
  return { ok, line: `keyframes [${c.keys.join(', ')}] at ${d.map((v) => v.toFixed(1)).join(' / ')} px${progress}` };
}

describe('bundled demo model + demo SparseCtrl: the object is where one or two keyframes put it', () => {
  let pipe: AnimateDiffPipeline;
  let net: ControlNet;
  const list = cases(N);
  beforeAll(async () => {
    pipe = await loadPipeline(MODEL_DIR);
    net = await loadControlNet(SPARSECTRL_DIR, { device: pipe.device });
  });
  afterAll(() => {
    pipe?.dispose();
    net?.dispose();
  });

  const run = async (withControl: boolean) => {
    const rows: string[] = [];
    let ok = 0;
    for (const c of list) {
      const controlnet = withControl ? [{ model: net, images: { frames: c.images, shape: [c.keys.length, S, S, 3] }, frameIndices: c.keys }] : undefined;
      const out = (await pipe.generate({ ...BASE, prompt: c.prompt, seed: c.seed, ...(controlnet && { controlnet }) })).frames;
      const j = judge(out, c);
      ok += j.ok ? 1 : 0;
      rows.push(`${j.ok ? 'ok  ' : 'MISS'} "${c.prompt}" seed ${c.seed}: ${j.line}`);
    }
    console.log(`demo sparsectrl ${withControl ? 'with' : 'WITHOUT'} the SparseCtrl, ${STEPS} steps: ${ok}/${list.length} on the keyframes\n  ${rows.join('\n  ')}`);
    return { ok, rows };
  };

  it('the keyframes are where the paths say, and the judge accepts them (the check measures what it claims)', () => {
    for (const c of list) {
      // the keyframes are the path's masks on their frames, and the whole path's masks pass
      c.keys.forEach((f, i) => expect(c.images.subarray(i * FRAME, (i + 1) * FRAME)).toEqual(c.masks.subarray(f * FRAME, (f + 1) * FRAME)));
      const clip = c.masks;
      expect(judge(clip, c).ok, c.prompt).toBe(true);
      // judged against the path run backwards (two keyframes: swapped) or shifted by 10 px (one), it fails
      const wrong = c.keys.length === 2 ? [...c.path].reverse() : c.path.map((p) => ({ x: p.x + 10, y: p.y }));
      expect(judge(clip, { ...c, path: wrong }).ok, c.prompt).toBe(false);
    }
  });

  it(`with the SparseCtrl the object is on the keyframes (>= 80% of ${N} cases)`, async () => {
    const { ok, rows } = await run(true);
    expect(ok, rows.join('\n')).toBeGreaterThanOrEqual(Math.ceil(0.8 * N));
  }, 60_000 + 20_000 * N);

  it(`without it, the same prompts and seeds are not (<= 20% of ${N} cases)`, async () => {
    const { ok, rows } = await run(false);
    expect(ok, rows.join('\n')).toBeLessThanOrEqual(Math.floor(0.2 * N));
  }, 60_000 + 20_000 * N);
});
