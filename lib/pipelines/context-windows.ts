/**
 * Sliding context windows: videos longer than the motion module's context are
 * denoised as overlapping windows of `contextLength` frames, and the noise
 * predictions of overlapping windows are averaged per frame with weights
 * (AnimateDiff-Evolved / animatediff-cli's scheme, written for animatorch).
 *
 * - 'uniform': windows start every `contextLength - contextOverlap` frames; the
 *   last one is moved back so it ends on the last frame. Same windows each step.
 * - 'looped': the video is treated as a loop (the last frame precedes the first);
 *   windows wrap around, and their start shifts from step to step by the
 *   ordered-halving sequence so seams never stay on the same frames.
 *
 * With `numFrames <= contextLength` both give one window of all frames.
 */
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { cat, tensor, zeros } from '../tensor-factories';
import { assertInteger, assertOneOf } from '../validate';

export const CONTEXT_SCHEDULES = ['uniform', 'looped'] as const;
export type ContextSchedule = (typeof CONTEXT_SCHEDULES)[number];
export const FUSE_METHODS = ['pyramid', 'flat'] as const;
export type FuseMethod = (typeof FUSE_METHODS)[number];

export const DEFAULT_CONTEXT_LENGTH = 16;

export interface ContextWindowOptions {
  /** Frames per window. Default 16. */
  contextLength?: number;
  /** Frames shared by neighbouring windows; less than contextLength. Default contextLength / 4 (4 for 16). */
  contextOverlap?: number;
  /** Default 'uniform'. */
  contextSchedule?: ContextSchedule;
  /** The denoising step (0-based); shifts the 'looped' windows. Default 0. */
  step?: number;
}

/** Resolved, validated window settings. */
export interface ContextSettings {
  contextLength: number;
  contextOverlap: number;
  contextSchedule: ContextSchedule;
}

export function resolveContextSettings(options: ContextWindowOptions = {}, prefix = ''): ContextSettings {
  const contextLength = options.contextLength ?? DEFAULT_CONTEXT_LENGTH;
  assertInteger(`${prefix}contextLength`, contextLength, 1);
  const contextOverlap = options.contextOverlap ?? Math.floor(contextLength / 4);
  assertInteger(`${prefix}contextOverlap`, contextOverlap, 0, contextLength - 1);
  const contextSchedule = options.contextSchedule ?? 'uniform';
  assertOneOf(`${prefix}contextSchedule`, contextSchedule, CONTEXT_SCHEDULES);
  return { contextLength, contextOverlap, contextSchedule };
}

/**
 * The bit-reversed binary fraction of `step` (0, 1/2, 1/4, 3/4, 1/8, ...): spreads
 * successive steps' window offsets evenly over the loop.
 */
export function orderedHalving(step: number): number {
  assertInteger('step', step, 0);
  let v = BigInt(step);
  let rev = 0n;
  for (let i = 0; i < 64; i++) {
    rev = (rev << 1n) | (v & 1n);
    v >>= 1n;
  }
  return Number(rev) / 2 ** 64;
}

/** The frame indices of each window, in order; every frame is in at least one window. */
export function contextWindows(numFrames: number, options: ContextWindowOptions = {}): number[][] {
  assertInteger('numFrames', numFrames, 1);
  const { contextLength: L, contextOverlap: overlap, contextSchedule } = resolveContextSettings(options);
  const step = options.step ?? 0;
  assertInteger('step', step, 0);
  if (numFrames <= L) return [range(0, numFrames)];
  const stride = L - overlap;
  const windows: number[][] = [];
  if (contextSchedule === 'uniform') {
    for (let start = 0; ; start += stride) {
      if (start + L >= numFrames) {
        windows.push(range(numFrames - L, numFrames));
        break;
      }
      windows.push(range(start, start + L));
    }
    return windows;
  }
  // looped: windows start at `shift`, `shift + stride`, ... and wrap modulo numFrames,
  // until the loop is closed (the next start would be a full turn past the first).
  const shift = Math.round(numFrames * orderedHalving(step)) % numFrames;
  const seen = new Set<string>();
  for (let start = shift; start < shift + numFrames; start += stride) {
    const w = range(start, start + L).map((f) => f % numFrames);
    const key = w.join(',');
    if (!seen.has(key)) {
      seen.add(key);
      windows.push(w);
    }
  }
  return windows;
}

/**
 * Per-position weights inside one window. 'pyramid' (FreeNoise's weighted
 * average): 1, 2, ..., up to the middle and back down, so frames near a window's
 * edge count less; 'flat': all 1.
 */
export function contextWeights(length: number, fuseMethod: FuseMethod = 'pyramid'): number[] {
  assertInteger('length', length, 1);
  assertOneOf('fuseMethod', fuseMethod, FUSE_METHODS);
  if (fuseMethod === 'flat') return new Array<number>(length).fill(1);
  const half = Math.ceil(length / 2);
  return range(0, length).map((i) => Math.min(i + 1, length - i, half));
}

/**
 * Accumulates window predictions ([B, C, L, h, w], frames on dim 2) into a
 * weighted per-frame average over the whole video. Owns its running sum:
 * call `result()` once (which hands the tensor over) or `dispose()`.
 */
export class ContextFuser {
  private sum: Tensor | undefined;
  private readonly totals: number[];

  constructor(
    readonly numFrames: number,
    readonly fuseMethod: FuseMethod = 'pyramid',
  ) {
    assertInteger('numFrames', numFrames, 1);
    assertOneOf('fuseMethod', fuseMethod, FUSE_METHODS);
    this.totals = new Array<number>(numFrames).fill(0);
  }

  /** Adds one window's prediction (not consumed; the caller still owns it). */
  add(window: readonly number[], prediction: Tensor): void {
    if (prediction.ndim !== 5 || prediction.shape[2] !== window.length)
      throw new InvalidParameterError('prediction', `a [B, C, ${window.length}, h, w] tensor for a window of ${window.length} frames`, prediction.shape);
    const w = contextWeights(window.length, this.fuseMethod);
    window.forEach((f, i) => {
      if (!Number.isInteger(f) || f < 0 || f >= this.numFrames) throw new InvalidParameterError('window', `frame indices in [0, ${this.numFrames})`, window);
      this.totals[f]! += w[i]!;
    });
    const next = tidy(() => {
      const weighted = prediction.mul(tensor(w, [1, 1, w.length, 1, 1], { device: prediction.device, dtype: prediction.dtype }));
      // Place the window at its frames (runs of consecutive frames; a looped window has two).
      const parts: Tensor[] = [];
      let frame = 0;
      for (const run of runs(window)) {
        if (run.frame < frame) throw new InvalidParameterError('window', 'frames in increasing order, except for one wrap to 0', window);
        if (run.frame > frame) parts.push(zerosLikeFrames(prediction, run.frame - frame));
        parts.push(weighted.narrow(2, run.pos, run.length));
        frame = run.frame + run.length;
      }
      if (frame < this.numFrames) parts.push(zerosLikeFrames(prediction, this.numFrames - frame));
      const placed = parts.length === 1 ? parts[0]!.clone() : cat(parts, 2);
      return this.sum ? this.sum.add(placed) : placed;
    });
    this.sum?.dispose();
    this.sum = next;
  }

  /** The weighted average [B, C, numFrames, h, w]; throws if a frame got no window. */
  result(): Tensor {
    const missing = this.totals.findIndex((t) => t === 0);
    if (!this.sum || missing >= 0) throw new InvalidParameterError('windows', 'windows covering every frame', `frame ${missing} uncovered`);
    const sum = this.sum;
    this.sum = undefined;
    const out = tidy(() => sum.div(tensor(this.totals, [1, 1, this.numFrames, 1, 1], { device: sum.device, dtype: sum.dtype })));
    sum.dispose();
    return out;
  }

  dispose(): void {
    this.sum?.dispose();
    this.sum = undefined;
  }
}

/** Splits a window's frames into runs of consecutive frames, ordered by frame: {frame, pos (in window), length}. */
function runs(window: readonly number[]): { frame: number; pos: number; length: number }[] {
  const out: { frame: number; pos: number; length: number }[] = [];
  for (let i = 0; i < window.length; i++) {
    const last = out[out.length - 1];
    if (last && window[i] === last.frame + last.length) last.length++;
    else out.push({ frame: window[i]!, pos: i, length: 1 });
  }
  return out.sort((a, b) => a.frame - b.frame);
}

function zerosLikeFrames(t: Tensor, frames: number): Tensor {
  return zeros([t.shape[0]!, t.shape[1]!, frames, t.shape[3]!, t.shape[4]!], { dtype: t.dtype, device: t.device });
}

/** Frames [start, end) of a video tensor [B, C, F, h, w] for one window (a copy when the window wraps). */
export function gatherWindow(video: Tensor, window: readonly number[]): Tensor {
  const rs = runs(window).sort((a, b) => a.pos - b.pos);
  if (rs.length === 1) return video.narrow(2, rs[0]!.frame, rs[0]!.length);
  return tidy(() => cat(rs.map((r) => video.narrow(2, r.frame, r.length)), 2));
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}
