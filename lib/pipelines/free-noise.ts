/**
 * FreeNoise (Qiu et al. 2023), as diffusers' AnimateDiffFreeNoiseMixin and FreeNoiseTransformerBlock: the
 * whole video goes through the UNet in one call, and inside every motion module the temporal attentions
 * run on windows of `contextLength` frames (every `contextStride` frames; a last window moved back to end
 * on the last frame), averaged per frame with the window weighting before the feed-forward. The noise is
 * drawn for all frames and, with 'shuffle_context', each stride of frames past the first window is a
 * shuffled copy of frames one window earlier, so windows see correlated noise. Prompts are interpolated
 * per frame (one text embedding per frame, [F, 77, C]).
 *
 * Policy lives here: the windows, their weights and the noise. The exported UNet (scripts/animatorch_export/
 * motion_module.py) only applies the windows and weights it is given, through its optional inputs
 * free_noise_windows and free_noise_weights (model.yaml unet.inputs).
 */
import { InvalidParameterError } from '../errors';
import type { Generator } from '../generator';
import type { ModelManifest } from '../model-manifest';
import { assertKnownKeys } from '../suggest';
import { type Device, type Tensor, tidy } from '../tensor';
import { cat, randperm, tensor } from '../tensor-factories';
import { assertInteger, assertOneOf, isPlainObject } from '../validate';
import type { Keyframe } from './prompt-travel';

export const FREE_NOISE_WEIGHTING_SCHEMES = ['flat', 'pyramid', 'delayed_reverse_sawtooth'] as const;
export type FreeNoiseWeightingScheme = (typeof FREE_NOISE_WEIGHTING_SCHEMES)[number];
export const FREE_NOISE_NOISE_TYPES = ['shuffle_context', 'repeat_context', 'random'] as const;
export type FreeNoiseNoiseType = (typeof FREE_NOISE_NOISE_TYPES)[number];

export interface FreeNoiseOptions {
  /** Frames per attention window. Default 16 (diffusers), at most the motion module's maximum frames. */
  contextLength?: number;
  /** Frames between window starts. Default 4. */
  contextStride?: number;
  /** How overlapping windows are averaged. Default 'pyramid'. */
  weightingScheme?: FreeNoiseWeightingScheme;
  /** Default 'shuffle_context'. */
  noiseType?: FreeNoiseNoiseType;
}

export type ResolvedFreeNoise = Required<FreeNoiseOptions>;

export const FREE_NOISE_KEYS = ['contextLength', 'contextStride', 'weightingScheme', 'noiseType'] as const;

/** freeNoise: true (diffusers' defaults) or options; checked, with defaults resolved. */
export function resolveFreeNoise(v: unknown): ResolvedFreeNoise | undefined {
  if (v === undefined || v === false) return undefined;
  if (v !== true && !isPlainObject(v)) throw new InvalidParameterError('freeNoise', `true or { ${FREE_NOISE_KEYS.join(', ')} }`, v);
  const o = (v === true ? {} : v) as FreeNoiseOptions;
  assertKnownKeys('freeNoise', o, FREE_NOISE_KEYS);
  const r: ResolvedFreeNoise = {
    contextLength: o.contextLength ?? 16,
    contextStride: o.contextStride ?? 4,
    weightingScheme: o.weightingScheme ?? 'pyramid',
    noiseType: o.noiseType ?? 'shuffle_context',
  };
  assertInteger('freeNoise.contextLength', r.contextLength, 1);
  assertInteger('freeNoise.contextStride', r.contextStride, 1);
  assertOneOf('freeNoise.weightingScheme', r.weightingScheme, FREE_NOISE_WEIGHTING_SCHEMES);
  assertOneOf('freeNoise.noiseType', r.noiseType, FREE_NOISE_NOISE_TYPES);
  return r;
}

/** generate()'s checks of freeNoise against the model and the frame count. */
export function checkFreeNoise(manifest: ModelManifest, v: unknown, numFrames: number): ResolvedFreeNoise | undefined {
  const f = resolveFreeNoise(v);
  if (!f) return undefined;
  if (!manifest.unet.inputs.includes('free_noise_windows'))
    throw new InvalidParameterError('freeNoise', `a model exported with FreeNoise inputs (model '${manifest.name}' predates them; export it again)`, v);
  const max = manifest.motionModule.maxFrames;
  if (max !== undefined && f.contextLength > max) throw new InvalidParameterError('freeNoise.contextLength', `at most ${max} (the motion module's maximum frames)`, f.contextLength);
  if (numFrames < f.contextLength) throw new InvalidParameterError('numFrames', `at least freeNoise.contextLength (${f.contextLength})`, numFrames);
  return f;
}

/** Weights of the positions in one window (diffusers' _get_frame_weights). */
export function freeNoiseFrameWeights(length: number, scheme: FreeNoiseWeightingScheme): number[] {
  assertInteger('length', length, 1);
  const up = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  if (scheme === 'flat') return new Array<number>(length).fill(1);
  if (scheme === 'pyramid') {
    if (length % 2 === 0) return [...up(length / 2), ...up(length / 2).reverse()];
    const mid = (length + 1) / 2;
    return [...up(mid - 1), mid, ...up(mid - 1).reverse()];
  }
  if (length % 2 === 0) {
    const mid = length / 2;
    return [...new Array<number>(mid - 1).fill(0.01), mid, ...up(mid).reverse()];
  }
  // odd: diffusers' comment ([0.01, 0.01, 3, 2, 1] for 5); its code gives length + 1 weights, which it cannot use
  const mid = (length + 1) / 2;
  return [...new Array<number>(mid - 1).fill(0.01), ...up(mid).reverse()];
}

/**
 * The windows of FreeNoiseTransformerBlock over `numFrames` frames: their starts and, per window, the
 * weights of its outputs and of its counts ([W, 2, L] flattened). A last window moved back to end on the
 * last frame only contributes its frames past the previous window, and adds to their counts the weight
 * of its first new position (diffusers indexes `weights[:, -n]` there, one value, not a slice).
 */
export function freeNoiseWindows(numFrames: number, f: ResolvedFreeNoise): { starts: number[]; weights: number[] } {
  const L = f.contextLength;
  if (numFrames < L) throw new InvalidParameterError('numFrames', `at least freeNoise.contextLength (${L})`, numFrames);
  const w = freeNoiseFrameWeights(L, f.weightingScheme);
  const starts: number[] = [];
  for (let i = 0; i <= numFrames - L; i += f.contextStride) starts.push(i);
  const weights: number[] = [];
  for (const _ of starts) weights.push(...w, ...w);
  const lastEnd = starts[starts.length - 1]! + L;
  if (lastEnd !== numFrames) {
    const n = numFrames - lastEnd;
    starts.push(numFrames - L);
    const keep = (i: number) => i >= L - n;
    weights.push(...w.map((v, i) => (keep(i) ? v : 0)), ...w.map((_, i) => (keep(i) ? w[L - n]! : 0)));
  }
  return { starts, weights };
}

/** The window inputs of the UNet for one video: starts and the weights tensor [W, 2, L] (float32 on `device`). */
export function freeNoiseInputs(numFrames: number, f: ResolvedFreeNoise, device: Device): { starts: number[]; weights: Tensor } {
  const { starts, weights } = freeNoiseWindows(numFrames, f);
  return { starts, weights: tensor(weights, [starts.length, 2, f.contextLength], { device, dtype: 'float32' }) };
}

/**
 * The initial noise [B, C, F, h, w] as diffusers' _prepare_latents_free_noise leaves it, from noise drawn for
 * all frames with `generator`: 'shuffle_context' copies, for each stride of frames from contextLength on, a
 * randperm (drawn next from the same generator) of the frames one window earlier, in order, each copy
 * seeing the previous ones. 'repeat_context' repeats the first window's frames (diffusers 0.42.1 compares
 * the context length with 'repeat_context' there and so returns plain noise; this follows its docstring);
 * 'random' keeps the noise. Consumes `noise`.
 */
export async function freeNoiseLatents(noise: Tensor, f: ResolvedFreeNoise, generator: Generator | undefined): Promise<Tensor> {
  const numFrames = noise.shape[2]!;
  const L = f.contextLength;
  const source = Array.from({ length: numFrames }, (_, i) => i);
  if (f.noiseType === 'random') return noise;
  if (f.noiseType === 'repeat_context') for (let i = L; i < numFrames; i++) source[i] = source[i % L]!;
  else {
    for (let i = L; i < numFrames; i += f.contextStride) {
      const start = Math.max(0, i - L);
      const length = Math.min(numFrames, start + f.contextStride) - start;
      if (length === 0) break;
      const perm = randperm(length, { generator });
      let order: BigInt64Array;
      try {
        order = (await perm.toArray()) as BigInt64Array;
      } finally {
        perm.dispose();
      }
      const copied = Array.from(order, (k) => source[start + Number(k)]!).slice(0, Math.min(numFrames, i + length) - i);
      copied.forEach((s, k) => (source[i + k] = s));
    }
  }
  try {
    return noise.indexSelect(2, source);
  } finally {
    noise.dispose();
  }
}

/**
 * One embedding per frame, [F, T, C] (diffusers' _encode_prompt_free_noise): the last keyframe is repeated
 * on the last frame, and frames between two keyframes get (1 − a)·start + a·end with a = i / (n − 1).
 * The first keyframe must be at frame 0.
 */
export function freeNoiseEmbeddings(keyframes: readonly Keyframe<Tensor>[], numFrames: number, name = 'prompt'): Tensor {
  if (keyframes.length === 0 || keyframes[0]!.frame !== 0)
    throw new InvalidParameterError(name, 'a keyframe at frame 0 with freeNoise (as diffusers)', keyframes.map((k) => k.frame));
  const keys = [...keyframes.filter((k) => k.frame !== numFrames - 1), { frame: numFrames - 1, value: keyframes[keyframes.length - 1]!.value }];
  return tidy(() => {
    const rows: Tensor[] = [];
    for (let s = 0; s + 1 < keys.length; s++) {
      const { frame: a, value: x } = keys[s]!;
      const { frame: b, value: y } = keys[s + 1]!;
      const n = b - a + 1;
      // the segment's last row is the next segment's first (alpha 0 gives it exactly), except for the last
      const last = s + 2 === keys.length ? n : n - 1;
      for (let i = 0; i < last; i++) {
        const alpha = i / (n - 1);
        rows.push(x.mul(1 - alpha).add(y.mul(alpha)));
      }
    }
    return cat(rows, 0);
  });
}

/** What the denoising loop passes the UNet for one video with FreeNoise. dispose() frees it. */
export interface FreeNoiseRun {
  /** Per-frame text states: [F, T, C], or [2F, T, C] = [negative frames, positive frames] with guidance. */
  context: Tensor;
  starts: number[];
  /** [W, 2, L] float32. */
  weights: Tensor;
  dispose(): void;
}

/** The per-frame prompts and the windows of one video: positive keyframes (or one embedding at frame 0) and the negative. */
export function prepareFreeNoise(
  positive: readonly Keyframe<Tensor>[],
  negative: Tensor | undefined,
  numFrames: number,
  f: ResolvedFreeNoise,
  device: Device,
): FreeNoiseRun {
  const temp: Tensor[] = [];
  try {
    const pos = freeNoiseEmbeddings(positive, numFrames);
    temp.push(pos);
    let context = pos;
    if (negative) {
      const neg = freeNoiseEmbeddings([{ frame: 0, value: negative }], numFrames, 'negativePrompt');
      temp.push(neg);
      context = cat([neg, pos], 0);
      temp.push(context);
    }
    const { starts, weights } = freeNoiseInputs(numFrames, f, device);
    for (const t of temp) if (t !== context) t.dispose();
    return { context, starts, weights, dispose: () => (context.dispose(), weights.dispose()) };
  } catch (err) {
    for (const t of temp) t.dispose();
    throw err;
  }
}

/**
 * generate()'s FreeNoise set-up for one video: the initial noise shuffled as `f.noiseType` says (unless the
 * caller gave latents, which diffusers keeps) and the conditioning with its per-frame inputs. Consumes
 * `latents` (also on failure); the caller disposes `freeNoise` of the returned conditioning.
 */
export async function startFreeNoise<C extends { cond?: Tensor; uncond?: Tensor; keyframes?: Keyframe<Tensor>[] }>(
  f: ResolvedFreeNoise,
  latents: Tensor,
  cond: C,
  o: { generator: Generator | undefined; givenLatents: boolean; numFrames: number; doCfg: boolean; device: Device },
): Promise<{ latents: Tensor; cond: C & { freeNoise: FreeNoiseRun } }> {
  let run: FreeNoiseRun;
  try {
    run = prepareFreeNoise(cond.keyframes ?? [{ frame: 0, value: cond.cond! }], o.doCfg ? cond.uncond : undefined, o.numFrames, f, o.device);
  } catch (err) {
    latents.dispose();
    throw err;
  }
  try {
    const noise = o.givenLatents ? latents : await freeNoiseLatents(latents, f, o.generator);
    return { latents: noise, cond: { ...cond, freeNoise: run } };
  } catch (err) {
    run.dispose();
    throw err;
  }
}
