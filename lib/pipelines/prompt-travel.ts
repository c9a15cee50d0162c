/**
 * Prompt travel: prompts keyed by frame ({ 0: 'spring', 16: 'winter' }). Each
 * keyframe's prompt is encoded once; a frame between two keyframes gets the
 * linear interpolation of their embeddings. Before the first and after the last
 * keyframe the nearest keyframe holds, unless `loop` is set (looped context
 * schedule): then the last keyframe travels on to the first across the wrap.
 *
 * The UNet takes one text embedding per video (not per frame), so the pipeline
 * conditions each context window on the embedding at its centre frame, as
 * animatediff-cli-prompt-travel does; frameEmbeddings() gives all frames.
 */
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { stack } from '../tensor-factories';
import { assertInteger, isPlainObject } from '../validate';

/** Frame index (integer, as a number or decimal string key) -> prompt. */
export type PromptMap = Record<number | string, string>;

export interface Keyframe<T> {
  frame: number;
  value: T;
}

export const isPromptMap = (v: unknown): v is PromptMap => isPlainObject(v);

/** Sorted keyframes from a prompt map; keys must be integers in [0, numFrames). */
export function parsePromptMap(map: PromptMap, numFrames: number, name = 'prompt'): Keyframe<string>[] {
  if (!isPlainObject(map)) throw new InvalidParameterError(name, 'an object { frameIndex: prompt }', map);
  const keyframes: Keyframe<string>[] = [];
  for (const [key, value] of Object.entries(map)) {
    const frame = Number(key);
    if (!/^\d+$/.test(key.trim()) || !Number.isSafeInteger(frame) || frame >= numFrames)
      throw new InvalidParameterError(`${name}[${JSON.stringify(key)}]`, `a frame index in [0, ${numFrames - 1}]`, key);
    if (typeof value !== 'string') throw new InvalidParameterError(`${name}[${key}]`, 'a string', value);
    keyframes.push({ frame, value });
  }
  if (keyframes.length === 0) throw new InvalidParameterError(name, 'at least one keyframe', map);
  return keyframes.sort((a, b) => a.frame - b.frame);
}

/**
 * Which two keyframes (indices into the sorted `frames`) surround `frame` and how
 * far along from the first to the second it lies (0..1).
 */
export function keyframeMix(frames: readonly number[], frame: number, options: { numFrames: number; loop?: boolean }): { from: number; to: number; t: number } {
  const { numFrames, loop = false } = options;
  assertInteger('numFrames', numFrames, 1);
  if (!Number.isFinite(frame)) throw new InvalidParameterError('frame', 'a frame index', frame);
  if (frames.length === 0) throw new InvalidParameterError('frames', 'at least one keyframe', frames);
  const n = frames.length;
  let next = frames.findIndex((f) => f > frame);
  if (next === -1) next = n; // past the last keyframe
  const prev = next - 1; // -1: before the first keyframe
  if (n === 1) return { from: 0, to: 0, t: 0 };
  if (!loop) {
    if (prev < 0) return { from: 0, to: 0, t: 0 };
    if (next >= n) return { from: n - 1, to: n - 1, t: 0 };
    return { from: prev, to: next, t: (frame - frames[prev]!) / (frames[next]! - frames[prev]!) };
  }
  // Looped: the segment from the last keyframe wraps around to the first.
  const from = (prev + n) % n;
  const to = next % n;
  const fromFrame = frames[from]!;
  const span = (frames[to]! - fromFrame + numFrames) % numFrames || numFrames;
  const dist = (frame - fromFrame + numFrames) % numFrames;
  return { from, to, t: dist / span };
}

/** The embedding at `frame`: lerp between the surrounding keyframes' embeddings (a new tensor). */
export function interpolateEmbeddings(
  keyframes: readonly Keyframe<Tensor>[],
  frame: number,
  options: { numFrames: number; loop?: boolean },
): Tensor {
  const { from, to, t } = keyframeMix(
    keyframes.map((k) => k.frame),
    frame,
    options,
  );
  const a = keyframes[from]!.value;
  if (t === 0 || from === to) return a.clone();
  return a.lerp(keyframes[to]!.value, t);
}

/** Embeddings for every frame, stacked on a new leading dim: [numFrames, ...embedding shape]. */
export function frameEmbeddings(keyframes: readonly Keyframe<Tensor>[], options: { numFrames: number; loop?: boolean }): Tensor {
  return tidy(() =>
    stack(
      Array.from({ length: options.numFrames }, (_, f) => interpolateEmbeddings(keyframes, f, options)),
      0,
    ),
  );
}
