/**
 * SparseCtrl keyframes, as diffusers' AnimateDiffSparseControlNetPipeline prepares them:
 * - prepare_image: the images (control_image_processor, do_normalize=False: uint8 / 255 or float 0..1, resized
 *   to the render's size as it resizes arrays, nearest); for an RGB SparseCtrl (use_simplified_condition_embedding) 2x - 1, VAE-encoded, the posterior
 *   SAMPLED and scaled by the VAE scaling factor; a scribble SparseCtrl takes the pixels;
 * - prepare_sparse_control_conditioning: a zero condition [1, C, F, ...] holding keyframe k at frameIndices[k],
 *   and a mask [1, 1, F, ...] that is 1 on those frames.
 * diffusers draws the posterior sample from torch's GLOBAL RNG; here it comes from a generator seeded with
 * keyframeSeed (default: the video's seed, or the initial seed of the caller's generator), which is what
 * torch.manual_seed(keyframeSeed) before the call gives. Not drawn from the caller's generator itself: that
 * would shift the denoising noise it draws next.
 */
import { InvalidParameterError } from '../errors';
import { createGenerator, parseSeed, type Seed } from '../generator';
import { type Device, Tensor, tidy } from '../tensor';
import { cat, tensor, zeros } from '../tensor-factories';
import { drawNoise } from './noise';
import { framesToSize, pixelsToFloat } from './pixels';
import { type VideoInput, videoShape } from './video-to-video';

/** The VAE posterior of images [K, 3, H, W] in [-1, 1]: (mean, logvar), each [K, 4, h, w]. */
export type EncodeMoments = (images: Tensor) => Promise<[Tensor, Tensor]>;

/** Checks images + frameIndices for `numFrames` frames; returns the indices. */
export function checkKeyframes(name: string, images: unknown, frameIndices: unknown, r: { numFrames: number }): number[] {
  let shape: [number, number, number];
  try {
    shape = videoShape(images);
  } catch (err) {
    throw new InvalidParameterError(`${name}.images`, 'keyframe images [K, H, W, 3] (uint8 0..255 or float 0..1) as { frames, shape } or a Tensor', (err as InvalidParameterError).actual ?? images);
  }
  const indices = frameIndices ?? (shape[0] === 1 ? [0] : undefined);
  if (!Array.isArray(indices) || indices.length === 0)
    throw new InvalidParameterError(`${name}.frameIndices`, `the frame of each of the ${shape[0]} images (default [0] for one image)`, frameIndices);
  for (const i of indices)
    if (!Number.isInteger(i) || i < 0 || i >= r.numFrames) throw new InvalidParameterError(`${name}.frameIndices`, `frame numbers 0..${r.numFrames - 1}`, indices);
  if (new Set(indices).size !== indices.length) throw new InvalidParameterError(`${name}.frameIndices`, 'distinct frame numbers', indices);
  if (indices.length !== shape[0]) throw new InvalidParameterError(`${name}.frameIndices`, `one frame number per image (${shape[0]} images)`, indices);
  return indices as number[];
}

/** One SparseCtrl's keyframes, ready for sparseCondition(). dispose() frees them. */
export class SparseKeyframes {
  private constructor(
    readonly frameIndices: readonly number[],
    /** scribble: the pixels [1, 3, K, H, W]; RGB: the posterior's mean and logvar [K, 4, h, w]. */
    private readonly pixels: Tensor | undefined,
    private readonly moments: [Tensor, Tensor] | undefined,
    private readonly keyframeSeed: bigint | undefined,
  ) {}

  /** prepare_image up to the posterior (RGB) or the pixels (scribble). */
  static async prepare(
    images: VideoInput,
    frameIndices: readonly number[],
    latents: boolean,
    encode: EncodeMoments | undefined,
    device: Device,
    size: { height: number; width: number },
    keyframeSeed?: Seed,
  ): Promise<SparseKeyframes> {
    const seed = keyframeSeed === undefined ? undefined : parseSeed(keyframeSeed, 'keyframeSeed');
    if (!latents) {
      const pixels = await pixelsToFloat(video(images), device, (x) => framesToSize(x, size).permute([1, 0, 2, 3]).unsqueeze(0).contiguous());
      return new SparseKeyframes(frameIndices, pixels, undefined, seed);
    }
    if (!encode) throw new Error('sparsectrl: an RGB SparseCtrl needs the model\'s VAE encoder');
    const scaled = await pixelsToFloat(video(images), device, (x) => framesToSize(x, size).mul(2).sub(1).contiguous());
    try {
      return new SparseKeyframes(frameIndices, undefined, await encode(scaled), seed);
    } finally {
      scaled.dispose();
    }
  }

  /**
   * The condition [1, C, numFrames, ...] and mask [1, 1, numFrames, ...] for one video (videoSeed: its seed or
   * the caller's generator's initial seed, the default keyframeSeed). The caller owns both.
   */
  async condition(numFrames: number, scalingFactor: number, videoSeed: bigint | undefined, device: Device): Promise<[Tensor, Tensor]> {
    let keyframes: Tensor;
    if (this.pixels) keyframes = this.pixels;
    else {
      const [mean, logvar] = this.moments!;
      // DiagonalGaussianDistribution.sample: mean + exp(0.5 · logvar) · randn, drawn on the CPU as torch does.
      // No seed at all (the caller's latents, no seed, no generator): 0, fixed so that the render is reproducible.
      const eps = await drawNoise(mean.shape, createGenerator(this.keyframeSeed ?? videoSeed ?? 0n), device);
      try {
        keyframes = tidy(() => mean.astype('float32').add(logvar.astype('float32').mul(0.5).exp().mul(eps)).mul(scalingFactor).permute([1, 0, 2, 3]).unsqueeze(0));
      } finally {
        eps.dispose();
      }
    }
    try {
      const k = this.frameIndices.length;
      // frame f takes keyframe k where frameIndices[k] = f, else the appended zero frame
      const pick: number[] = new Array(numFrames).fill(k);
      this.frameIndices.forEach((f, i) => (pick[f] = i));
      const flags = new Float32Array(numFrames);
      for (const f of this.frameIndices) flags[f] = 1;
      const [, c, , h, w] = keyframes.shape as [number, number, number, number, number];
      return tidy(() => {
        const padded = cat([keyframes.astype('float32'), zeros([1, c, 1, h, w], { device })], 2);
        const cond = padded.indexSelect(2, pick).contiguous();
        const mask = tensor(flags, [1, 1, numFrames, 1, 1], { device }).expand([1, 1, numFrames, h, w]).contiguous();
        return [cond, mask] as [Tensor, Tensor];
      });
    } finally {
      if (keyframes !== this.pixels) keyframes.dispose();
    }
  }

  dispose(): void {
    this.pixels?.dispose();
    for (const t of this.moments ?? []) t.dispose();
  }
}

function video(v: VideoInput): Tensor | { data: Uint8Array | Float32Array; shape: readonly number[] } {
  return v instanceof Tensor ? v : { data: v.frames, shape: v.shape };
}
