/**
 * Video-to-video, as diffusers' AnimateDiffVideoToVideoPipeline: the init video is preprocessed
 * (VideoProcessor: [0, 255] or [0, 1] -> [-1, 1]), encoded by the VAE encoder chunk by chunk with its
 * posterior SAMPLED (mean + std · randn, the call's generator), scaled by the VAE scaling factor, and
 * noised with scheduler.addNoise to the first of the timesteps that `strength` keeps.
 */
import { InvalidParameterError, throwIfAborted } from '../errors';
import type { Generator } from '../generator';
import type { Scheduler } from '../schedulers/scheduling-utils';
import { type Device, Tensor, tidy } from '../tensor';
import { cat } from '../tensor-factories';
import { drawNoise } from './noise';
import type { Module } from '../torchscript-module';
import { assertNumber } from '../validate';
import type { CheckedInputs, GenerateOptions, InputContext } from './animatediff-inputs';
import { pixelsToFloat } from './pixels';

/**
 * An init video: frames channels last [F, H, W, 3], uint8 0..255 (as decoded frames and PIL images) or
 * float 0..1 (diffusers' numpy input), as a `{ frames, shape }` object (VideoFrames) or a Tensor.
 */
export type VideoInput = { frames: Uint8Array | Float32Array; shape: readonly number[] } | Tensor;

/** The video's [F, H, W] (checked to be [F, H, W, 3] with data of that size). */
export function videoShape(video: unknown): [number, number, number] {
  const shape = video instanceof Tensor ? (video.disposed ? undefined : video.shape) : isFrames(video) ? video.shape : undefined;
  if (!shape || shape.length !== 4 || shape[3] !== 3 || shape.slice(0, 3).some((d) => !Number.isInteger(d) || d < 1))
    throw new InvalidParameterError('video', 'frames [F, H, W, 3] (uint8 0..255 or float 0..1) as { frames, shape } or a Tensor', video instanceof Tensor ? video.shape : video);
  if (!(video instanceof Tensor) && (video as { frames: ArrayLike<number> }).frames.length !== shape[0]! * shape[1]! * shape[2]! * 3)
    throw new InvalidParameterError('video', `frames of length F·H·W·3 = ${shape[0]! * shape[1]! * shape[2]! * 3} for shape [${shape.join(', ')}]`, (video as { frames: ArrayLike<number> }).frames.length);
  if (video instanceof Tensor && !['uint8', 'float32', 'float16', 'float64', 'bfloat16'].includes(video.dtype))
    throw new InvalidParameterError('video', 'a uint8 or floating-point Tensor', video.dtype);
  return [shape[0]!, shape[1]!, shape[2]!];
}

function isFrames(v: unknown): v is { frames: Uint8Array | Float32Array; shape: number[] } {
  const o = v as { frames?: unknown; shape?: unknown } | null;
  return !!o && typeof o === 'object' && (o.frames instanceof Uint8Array || o.frames instanceof Float32Array) && Array.isArray(o.shape);
}

/** VideoProcessor.preprocess_video at the video's own size: [F, 3, H, W] float32 in [-1, 1] on `device`. */
export async function preprocessVideo(video: VideoInput, device: Device): Promise<Tensor> {
  // PIL / uint8: x / 255 (pil_to_numpy); then normalize: 2x - 1.
  return pixelsToFloat(video instanceof Tensor ? video : { data: video.frames, shape: video.shape }, device, (x) => x.mul(2).sub(1).permute([0, 3, 1, 2]).contiguous());
}

/**
 * The timesteps `strength` keeps (diffusers' get_timesteps): the last min(⌊steps·strength⌋, steps) steps.
 * With enforceInferenceSteps the schedule is set for ⌊steps / strength⌋ steps and its last `steps` kept.
 */
export function strengthTimesteps(scheduler: Scheduler, numInferenceSteps: number, strength: number, enforceInferenceSteps: boolean): number[] {
  if (enforceInferenceSteps) {
    scheduler.setTimesteps(Math.floor(numInferenceSteps / strength));
    return scheduler.timesteps.slice(-numInferenceSteps);
  }
  scheduler.setTimesteps(numInferenceSteps);
  const initTimestep = Math.min(Math.floor(numInferenceSteps * strength), numInferenceSteps);
  const tStart = Math.max(numInferenceSteps - initTimestep, 0);
  return scheduler.timesteps.slice(tStart * scheduler.order);
}

/**
 * encode_video + prepare_latents: images [F, 3, H, W] -> noised latents [1, 4, F, h, w].
 * The posterior draws (one randn per chunk of `chunkSize` frames) come before the noise, all from `generator`.
 */
export async function encodeVideoLatents(
  encoder: Module,
  images: Tensor,
  opts: {
    chunkSize: number;
    scalingFactor: number;
    scheduler: Scheduler;
    timestep: number;
    generator?: Generator;
    device: Device;
    signal?: AbortSignal;
    /** Sees the clean latents and the noise, both [1, F, C, h, w], before they are mixed (image-to-video's anchor). */
    onEncoded?: (init: Tensor, noise: Tensor) => void;
  },
): Promise<Tensor> {
  const draw = (shape: number[]) => drawNoise(shape, opts.generator, opts.device);
  const samples: Tensor[] = [];
  try {
    const f = images.shape[0]!;
    for (let i = 0; i < f; i += opts.chunkSize) {
      throwIfAborted(opts.signal);
      const chunk = images.narrow(0, i, Math.min(opts.chunkSize, f - i));
      let moments: Tensor[];
      try {
        const out = await encoder.call('moments', chunk);
        if (!Array.isArray(out) || !(out[0] instanceof Tensor) || !(out[1] instanceof Tensor)) throw new Error('vae encoder: expected moments() to return (mean, logvar)');
        moments = out as Tensor[];
      } finally {
        chunk.dispose();
      }
      const [mean, logvar] = moments as [Tensor, Tensor];
      try {
        // DiagonalGaussianDistribution.sample: mean + exp(0.5 · logvar) · randn (logvar clamped to [-30, 20] by the export).
        const eps = await draw(mean.shape);
        try {
          samples.push(tidy(() => mean.astype('float32').add(logvar.astype('float32').mul(0.5).exp().mul(eps))));
        } finally {
          eps.dispose();
        }
      } finally {
        mean.dispose();
        logvar.dispose();
      }
    }
    // [F, 4, h, w] -> [1, F, 4, h, w]; the noise is drawn in that layout, as diffusers does, then permuted.
    const init = tidy(() => cat(samples, 0).mul(opts.scalingFactor).unsqueeze(0));
    try {
      const noise = await draw(init.shape);
      try {
        opts.onEncoded?.(init, noise);
        return tidy(() => opts.scheduler.addNoise(init, noise, opts.timestep).permute([0, 2, 1, 3, 4]).contiguous());
      } finally {
        noise.dispose();
      }
    } finally {
      init.dispose();
    }
  } finally {
    for (const s of samples) s.dispose();
  }
}

/** video, strength, enforceInferenceSteps: the video must be the size and length rendered (no resizing here). */
export function checkVideoToVideo(
  p: InputContext,
  o: GenerateOptions,
  vshape: [number, number, number] | undefined,
  r: { numFrames: number; height: number; width: number; steps: number },
): CheckedInputs['videoToVideo'] {
  if (vshape === undefined) {
    for (const k of ['strength', 'enforceInferenceSteps'] as const)
      if (o[k] !== undefined) throw new InvalidParameterError(k, 'to be given with video (video-to-video) or image (image-to-video)', o[k]);
    return undefined;
  }
  const [f, h, w] = vshape;
  if (f !== r.numFrames) throw new InvalidParameterError('video', `${r.numFrames} frames (numFrames)`, `${f} frames`);
  if (h !== r.height || w !== r.width) throw new InvalidParameterError('video', `frames of ${r.width}x${r.height} (width x height)`, `${w}x${h}`);
  if (o.latents !== undefined) throw new InvalidParameterError('latents', 'to be left out when video is given (the video gives the latents)', o.latents.shape);
  if (!p.manifest.vae.encoderFile) throw new InvalidParameterError(o.image !== undefined ? 'image' : 'video', `a model with a VAE encoder (model '${p.manifest.name}' was exported without vae/encoder.pt)`, 'a video');
  const strength = o.strength ?? 0.8;
  assertNumber('strength', strength, 0, 1);
  const enforceInferenceSteps = o.enforceInferenceSteps ?? false;
  if (typeof enforceInferenceSteps !== 'boolean') throw new InvalidParameterError('enforceInferenceSteps', 'a boolean', enforceInferenceSteps);
  // get_timesteps keeps floor(steps · strength) steps; none would leave the video unchanged but noised.
  if (enforceInferenceSteps ? strength === 0 : Math.floor(r.steps * strength) < 1)
    throw new InvalidParameterError('strength', `at least ${enforceInferenceSteps ? 'above 0' : `1 / numInferenceSteps (${r.steps} steps × strength must keep one step)`}`, strength);
  return { strength, enforceInferenceSteps };
}
