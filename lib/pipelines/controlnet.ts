/**
 * generate({ controlnet }): ControlNets steering each frame, following diffusers' AnimateDiffControlNetPipeline
 * (and MultiControlNetModel for several):
 * - conditioning frames: control_video_processor (do_normalize=False): RGB, uint8 / 255 or float 0..1, resized to the
 *   render's size as it resizes arrays and tensors (F.interpolate, nearest);
 * - each step i of n, a ControlNet runs with scale × keep, keep = 0 when i / n < guidanceStart or
 *   (i + 1) / n > guidanceEnd (controlnet_keep); a net whose scale is 0 at a step is skipped (its residuals are 0);
 * - under classifier-free guidance it sees the same batch as the UNet [negative, positive] (and its frames twice);
 *   in guess mode it sees the positive half only and the negative half gets zero residuals (diffusers'
 *   StableDiffusionControlNetPipeline; its AnimateDiff pipeline fails on that batch mismatch), with
 *   diffusers' guess-mode scales logspace(-1, 0) inside the module;
 * - the residuals of several ControlNets are summed and added to the UNet's down-block skips and mid block.
 * With context windows the conditioning frames are sliced per window; each ControlNet is loaded once per call.
 *
 * SparseCtrl (diffusers' AnimateDiffSparseControlNetPipeline): `images` on `frameIndices` instead of `frames`,
 * turned into a condition and mask by sparse-control.ts (per video: an RGB one samples the VAE posterior); it sees
 * the same batch as a ControlNet (its condition shared by both CFG halves, as diffusers broadcasts it), and the
 * condition and mask are sliced per context window. diffusers runs one SparseCtrl alone; several nets, SparseCtrl
 * or not, are summed as MultiControlNet sums ControlNets. guidanceStart/End apply as for a ControlNet (diffusers'
 * SparseCtrl pipeline has no such option: the defaults 0 and 1 are its behaviour).
 */
import { InvalidParameterError } from '../errors';
import type { ModelManifest } from '../model-manifest';
import { assertKnownKeys } from '../suggest';
import { type Device, type DType, Tensor, tidy } from '../tensor';
import { cat, zerosLike } from '../tensor-factories';
import { assertNumber, isPlainObject } from '../validate';
import { parseSeed, type Seed } from '../generator';
import { gatherWindow } from './context-windows';
import { ControlNet, loadControlNet } from './controlnet-model';
import { type VideoInput, videoShape } from './video-to-video';
import { framesToSize, pixelsToFloat } from './pixels';
import { checkKeyframes, type EncodeMoments, SparseKeyframes } from './sparse-control';

export interface ControlNetOptions {
  /** An exported ControlNet folder (loaded for this call) or a ControlNet from loadControlNet() (stays loaded). */
  model: string | ControlNet;
  /** ControlNet: one conditioning image per frame, [numFrames, H, W, 3] (uint8 0..255 or float 0..1); resized (nearest) to the render's size. */
  frames?: VideoInput;
  /** SparseCtrl: keyframe images [K, H, W, 3] (RGB pictures or scribbles, as the SparseCtrl takes); resized likewise. */
  images?: VideoInput;
  /** SparseCtrl: the frame of each image (controlnet_frame_indices). Default [0] for one image. */
  frameIndices?: number[];
  /**
   * RGB SparseCtrl: seed of the keyframes' VAE posterior sample (diffusers draws it from torch's global RNG).
   * Default: the video's seed; with a caller's `generator`, its initialSeed (every video of the call); with
   * neither (`latents` alone), 0.
   */
  keyframeSeed?: Seed;
  /** controlnet_conditioning_scale. Default 1. */
  scale?: number;
  /** control_guidance_start: the fraction of the steps before which this ControlNet is off. Default 0. */
  guidanceStart?: number;
  /** control_guidance_end: the fraction of the steps after which it is off. Default 1. */
  guidanceEnd?: number;
  /** guess_mode: the ControlNet sees the positive prompt only, its residuals scaled 0.1 (shallow) .. 1 (mid). Default false. */
  guessMode?: boolean;
}

export const CONTROLNET_OPTION_KEYS = ['model', 'frames', 'images', 'frameIndices', 'keyframeSeed', 'scale', 'guidanceStart', 'guidanceEnd', 'guessMode'] as const satisfies readonly (keyof ControlNetOptions)[];

export interface ResolvedControlNet {
  model: string | ControlNet;
  /** What the options ask for: frames (a ControlNet) or images + frameIndices (a SparseCtrl). */
  kind: 'controlnet' | 'sparsectrl';
  frames?: VideoInput;
  images?: VideoInput;
  frameIndices?: number[];
  keyframeSeed?: Seed;
  /** The most frames one forward sees (numFrames, or the context length); set by checkControlWindows. */
  window?: number;
  scale: number;
  guidanceStart: number;
  guidanceEnd: number;
  guessMode: boolean;
}

/** What checking needs of the pipeline. */
interface ControlContext {
  readonly manifest: ModelManifest;
}

/** Validates generate()'s `controlnet` (an option object or a list of them) before any work. */
export function checkControlNets(p: ControlContext, value: unknown, r: { numFrames: number; height: number; width: number }): ResolvedControlNet[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return undefined;
  if (!p.manifest.unet.inputs.includes('down_block_additional_residuals'))
    throw new InvalidParameterError('controlnet', `a model whose UNet takes ControlNet residuals (re-export '${p.manifest.name}' with this animatorch)`, 'a ControlNet');
  return list.map((o: unknown, i) => {
    const name = list.length > 1 || Array.isArray(value) ? `controlnet[${i}]` : 'controlnet';
    if (!isPlainObject(o)) throw new InvalidParameterError(name, '{ model, frames | images + frameIndices, scale?, guidanceStart?, guidanceEnd?, guessMode? }', o);
    assertKnownKeys(name, o, CONTROLNET_OPTION_KEYS);
    const c = o as unknown as ControlNetOptions;
    const kind = c.images !== undefined || c.frameIndices !== undefined ? 'sparsectrl' : 'controlnet';
    if (typeof c.model === 'string') {
      if (c.model === '') throw new InvalidParameterError(`${name}.model`, 'a ControlNet folder or a loaded ControlNet', c.model);
    } else if (!(c.model instanceof ControlNet) || c.model.disposed)
      throw new InvalidParameterError(`${name}.model`, 'a ControlNet folder or a loaded ControlNet', c.model);
    else checkModel(p, c.model, name, kind);
    let frameIndices: number[] | undefined;
    if (kind === 'sparsectrl') {
      if (c.frames !== undefined) throw new InvalidParameterError(`${name}.frames`, 'to be left out with images + frameIndices (SparseCtrl)', '(given)');
      frameIndices = checkKeyframes(name, c.images, c.frameIndices, r);
      if (c.keyframeSeed !== undefined) parseSeed(c.keyframeSeed, `${name}.keyframeSeed`);
    } else {
      if (c.keyframeSeed !== undefined) throw new InvalidParameterError(`${name}.keyframeSeed`, 'to be given with images + frameIndices (SparseCtrl)', c.keyframeSeed);
      checkFrames(name, c.frames, r);
    }
    const scale = c.scale ?? 1;
    assertNumber(`${name}.scale`, scale);
    if (!Number.isFinite(scale)) throw new InvalidParameterError(`${name}.scale`, 'a finite number', scale);
    const guidanceStart = c.guidanceStart ?? 0;
    const guidanceEnd = c.guidanceEnd ?? 1;
    assertNumber(`${name}.guidanceStart`, guidanceStart, 0, 1);
    assertNumber(`${name}.guidanceEnd`, guidanceEnd, 0, 1);
    if (guidanceStart >= guidanceEnd) throw new InvalidParameterError(`${name}.guidanceStart`, `less than guidanceEnd (${guidanceEnd})`, guidanceStart);
    const guessMode = c.guessMode ?? false;
    if (typeof guessMode !== 'boolean') throw new InvalidParameterError(`${name}.guessMode`, 'a boolean', guessMode);
    return { model: c.model, kind, frames: c.frames, images: c.images, frameIndices, keyframeSeed: c.keyframeSeed, scale, guidanceStart, guidanceEnd, guessMode };
  });
}

/**
 * A SparseCtrl's motion modules see a context window (or the whole video): at most its max_frames, and
 * not under FreeNoise (diffusers' SparseCtrl pipeline has none; its motion modules would see every frame).
 */
export function checkControlWindows(resolved: ResolvedControlNet[] | undefined, window: number, freeNoise: boolean): void {
  for (const [i, r] of (resolved ?? []).entries()) {
    if (r.kind !== 'sparsectrl') continue;
    const name = resolved!.length > 1 ? `controlnet[${i}]` : 'controlnet';
    if (freeNoise) throw new InvalidParameterError('freeNoise', `to be left out with a SparseCtrl (${name})`, '(given)');
    r.window = window;
    if (typeof r.model !== 'string') checkWindow(r.model, window, name);
  }
}

function checkWindow(net: ControlNet, window: number, name: string): void {
  const max = net.manifest.maxFrames;
  if (max !== undefined && window > max)
    throw new InvalidParameterError(`${name}.model`, `a SparseCtrl for ${window} frames at once (set contextLength to at most ${max}, its motion modules' length)`, `'${net.manifest.name}' (max_frames ${max})`);
}

function checkFrames(name: string, frames: unknown, r: { numFrames: number; height: number; width: number }): void {
  if (frames === undefined) throw new InvalidParameterError(`${name}.frames`, `conditioning frames [${r.numFrames}, ${r.height}, ${r.width}, 3] (or images + frameIndices for a SparseCtrl)`, undefined);
  let shape: [number, number, number];
  try {
    shape = videoShape(frames);
  } catch (err) {
    throw new InvalidParameterError(`${name}.frames`, 'frames [F, H, W, 3] (uint8 0..255 or float 0..1) as { frames, shape } or a Tensor', (err as InvalidParameterError).actual ?? frames);
  }
  if (shape[0] !== r.numFrames) throw new InvalidParameterError(`${name}.frames`, `${r.numFrames} frames (numFrames)`, `${shape[0]} frames`);
}

function checkModel(p: ControlContext, net: ControlNet, name: string, kind: 'controlnet' | 'sparsectrl'): void {
  const m = net.manifest;
  if (m.kind !== kind)
    throw new InvalidParameterError(
      `${name}.model`,
      kind === 'sparsectrl' ? 'a SparseCtrl for images + frameIndices' : 'a ControlNet for per-frame frames (a SparseCtrl takes images + frameIndices)',
      `${m.kind === 'sparsectrl' ? 'SparseCtrl' : 'ControlNet'} '${m.name}'`,
    );
  if (m.crossAttentionDim !== p.manifest.crossAttentionDim)
    throw new InvalidParameterError(`${name}.model`, `a ControlNet for cross_attention_dim ${p.manifest.crossAttentionDim} (the model's)`, `'${m.name}' with ${m.crossAttentionDim}`);
  if (m.inChannels !== p.manifest.inChannels)
    throw new InvalidParameterError(`${name}.model`, `a ControlNet for ${p.manifest.inChannels} latent channels`, `'${m.name}' with ${m.inChannels}`);
  if (m.kind === 'sparsectrl') {
    if (m.condition === 'latents' && !p.manifest.vae.encoderFile)
      throw new InvalidParameterError(`${name}.model`, `a scribble SparseCtrl ('${p.manifest.name}' has no VAE encoder to encode RGB keyframes; re-export it with this animatorch)`, `RGB SparseCtrl '${m.name}'`);
    if (m.conditioningChannels !== (m.condition === 'latents' ? p.manifest.inChannels : 3))
      throw new InvalidParameterError(`${name}.model`, `a SparseCtrl taking ${m.condition === 'latents' ? `${p.manifest.inChannels}-channel latents` : 'RGB images'}`, `'${m.name}' with ${m.conditioningChannels} channels`);
  } else if (m.conditioningChannels !== 3)
    throw new InvalidParameterError(`${name}.model`, 'a ControlNet taking RGB images (3 conditioning channels)', `'${m.name}' with ${m.conditioningChannels}`);
}

interface PreparedNet {
  net: ControlNet;
  /** ControlNet: its frames [1, 3, F, H, W] float32 0..1 on the pipeline's device; SparseCtrl: the video's condition. */
  frames?: Tensor;
  /** SparseCtrl: its keyframes, and the video's mask [1, 1, F, ...] (set by startVideo). */
  keyframes?: SparseKeyframes;
  mask?: Tensor;
  scale: number;
  guidanceStart: number;
  guidanceEnd: number;
  guessMode: boolean;
}

/** What preparing needs of the pipeline: its device, and the VAE encoder for RGB SparseCtrl keyframes. */
type PrepareContext = ControlContext & { readonly device: Device; readonly dtype: DType; readonly encodeMoments?: EncodeMoments };

/** The call's ControlNets, loaded, with their conditioning frames on the device. dispose() frees what the call loaded. */
export class ControlState {
  private constructor(
    readonly nets: PreparedNet[],
    private readonly owned: ControlNet[],
  ) {}

  static async prepare(p: PrepareContext, resolved: ResolvedControlNet[], size: { height: number; width: number }, signal?: AbortSignal): Promise<ControlState> {
    const state = new ControlState([], []);
    try {
      for (const [i, r] of resolved.entries()) {
        let net: ControlNet;
        if (typeof r.model === 'string') {
          net = await loadControlNet(r.model, { device: p.device, dtype: p.dtype, signal });
          state.owned.push(net);
          checkModel(p, net, resolved.length > 1 ? `controlnet[${i}]` : 'controlnet', r.kind);
          if (r.window !== undefined) checkWindow(net, r.window, resolved.length > 1 ? `controlnet[${i}]` : 'controlnet');
        } else net = r.model;
        const settings = { scale: r.scale, guidanceStart: r.guidanceStart, guidanceEnd: r.guidanceEnd, guessMode: r.guessMode || net.manifest.globalPoolConditions };
        if (r.kind === 'sparsectrl') {
          const keyframes = await SparseKeyframes.prepare(r.images!, r.frameIndices!, net.manifest.condition === 'latents', p.encodeMoments, p.device, size, r.keyframeSeed);
          state.nets.push({ net, keyframes, ...settings });
        } else state.nets.push({ net, frames: await preprocessControlFrames(r.frames!, p.device, size), ...settings });
      }
      return state;
    } catch (err) {
      state.dispose();
      throw err;
    }
  }

  /** Builds each SparseCtrl's condition and mask for the next video (seed: its seed or the caller's generator's initial seed, the default keyframeSeed). */
  async startVideo(numFrames: number, seed: bigint | undefined, scalingFactor: number, device: Device): Promise<void> {
    for (const n of this.nets) {
      if (!n.keyframes) continue;
      n.frames?.dispose();
      n.mask?.dispose();
      n.frames = n.mask = undefined;
      [n.frames, n.mask] = await n.keyframes.condition(numFrames, scalingFactor, seed, device);
    }
  }

  dispose(): void {
    for (const n of this.nets) for (const t of [n.frames, n.mask, n.keyframes]) t?.dispose();
    for (const net of this.owned) net.dispose();
    this.nets.length = 0;
    this.owned.length = 0;
  }
}

/** control_video_processor.preprocess_video (no normalisation) at `size`: [1, 3, F, H, W] float32 0..1. */
export async function preprocessControlFrames(video: VideoInput, device: Device, size?: { height: number; width: number }): Promise<Tensor> {
  return pixelsToFloat(video instanceof Tensor ? video : { data: video.frames, shape: video.shape }, device, (x) => framesToSize(x, size).permute([1, 0, 2, 3]).unsqueeze(0).contiguous());
}

/** diffusers' controlnet_keep[i]: 0 outside [guidanceStart, guidanceEnd] of the steps, else 1. */
export function controlnetKeep(i: number, numSteps: number, start: number, end: number): number {
  return i / numSteps < start || (i + 1) / numSteps > end ? 0 : 1;
}

/** One step's ControlNet inputs: the UNet's batch, and what the guess-mode nets see. */
export interface ControlStepInput {
  stepIndex: number;
  numSteps: number;
  /** The window's latents (scaled) [1, 4, f, h, w] and the UNet batch (doubled under guidance). */
  x: Tensor;
  input: Tensor;
  /** Timesteps for the UNet batch and for one row. */
  ts: Tensor;
  ts1: Tensor;
  /** The UNet's text context and the positive row alone. */
  context: Tensor;
  positive: Tensor;
  doCfg: boolean;
  window: readonly number[];
}

/**
 * The summed residuals of every ControlNet active at this step (down residuals then the mid one, folded
 * [(B·f), C, h', w']), or undefined when none is. The caller owns them.
 */
export async function controlResiduals(state: ControlState, s: ControlStepInput): Promise<Tensor[] | undefined> {
  let sum: Tensor[] | undefined;
  try {
    for (const n of state.nets) {
      const scale = n.scale * controlnetKeep(s.stepIndex, s.numSteps, n.guidanceStart, n.guidanceEnd);
      if (scale === 0) continue;
      const outs = await runNet(n, s, scale);
      if (!sum) sum = outs;
      else {
        const prev = sum;
        sum = tidy(() => prev.map((t, k) => t.add(outs[k]!)));
        for (const t of [...prev, ...outs]) t.dispose();
      }
    }
    return sum;
  } catch (err) {
    for (const t of sum ?? []) t.dispose();
    throw err;
  }
}

async function runNet(n: PreparedNet, s: ControlStepInput, scale: number): Promise<Tensor[]> {
  const temp: Tensor[] = [];
  try {
    const slice = (t: Tensor) => {
      if (s.window.length === t.shape[2]) return t;
      const w = gatherWindow(t, s.window);
      temp.push(w);
      return w;
    };
    const frames = slice(n.frames!);
    const positiveOnly = n.guessMode && s.doCfg;
    let cond = frames;
    // a SparseCtrl's condition (batch 1) is broadcast over the CFG batch inside the module, as diffusers does
    const extra = n.mask ? [slice(n.mask)] : [];
    if (s.doCfg && !positiveOnly && !n.mask) temp.push((cond = cat([frames, frames], 0)));
    const out = positiveOnly
      ? await n.net.module.forward(s.x, s.ts1, s.positive, cond, ...extra, scale, n.guessMode)
      : await n.net.module.forward(s.input, s.ts, s.context, cond, ...extra, scale, n.guessMode);
    if (!Array.isArray(out) || !out.every((t) => t instanceof Tensor)) throw new Error(`controlnet '${n.net.manifest.name}': expected forward to return a list of Tensors`);
    const outs = out as Tensor[];
    if (!positiveOnly) return outs;
    // guess mode under guidance: the negative half gets no residuals
    const full = tidy(() => outs.map((t) => cat([zerosLike(t), t], 0)));
    for (const t of outs) t.dispose();
    return full;
  } finally {
    for (const t of temp) t.dispose();
  }
}
