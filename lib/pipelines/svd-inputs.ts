/**
 * StableVideoDiffusionPipeline.generate()'s options, their defaults (diffusers' __call__ defaults) and
 * checkSvdInputs(): every option validated and resolved before any work.
 */
import { InvalidParameterError } from '../errors';
import { type Generator, parseSeed, randomSeed, type Seed } from '../generator';
import type { ModelManifest } from '../model-manifest';
import { assertKnownKeys } from '../suggest';
import { Tensor } from '../tensor';
import { assertInteger, assertNumber, assertOneOf, assertPositive, isPlainObject } from '../validate';
import type { SchedulerChoice } from './animatediff-inputs';
import type { OutputType } from './pipeline-output';
import type { ProgressCallback } from './progress';
import { type ImageInput, imageShape } from './svd-image';

/** diffusers' StableVideoDiffusionPipeline.__call__ defaults. */
export const SVD_DEFAULTS = {
  numInferenceSteps: 25,
  minGuidanceScale: 1.0,
  maxGuidanceScale: 3.0,
  fps: 7,
  motionBucketId: 127,
  noiseAugStrength: 0.02,
} as const;

export interface SvdGenerateOptions {
  /** The conditioning image [H, W, 3] (uint8 or float 0..1); its size is the video's (diffusers' PIL input at height × width). Not consumed. */
  image?: ImageInput;
  /** CLIP image embeddings [1, 1, D] (or [1, D]) instead of encoding `image` (as promptEmbeds for text). Not consumed. */
  imageEmbeds?: Tensor;
  /** VAE latents of the noise-augmented image [1, 4, h, w] (unscaled mean, as the VAE encoder returns), instead of encoding `image`. Not consumed. */
  imageLatents?: Tensor;
  /** Default: the image's size (needed with imageEmbeds + imageLatents: 8 × the latents' size). Multiples of the VAE factor (8). */
  width?: number;
  height?: number;
  /** Default: the UNet's num_frames (14 for SVD, 25 for SVD-XT). */
  numFrames?: number;
  /** Default 25. */
  numInferenceSteps?: number;
  /** Guidance ramps linearly over the frames from min (first frame) to max (last); guidance applies when max > 1. Defaults 1 and 3. */
  minGuidanceScale?: number;
  maxGuidanceScale?: number;
  /** Frames per second: the UNet is conditioned on fps − 1, and the output records it. Default 7. */
  fps?: number;
  /** More motion with higher values (0..255 in training). Default 127. */
  motionBucketId?: number;
  /** Noise added to the image before the VAE encodes it. Default 0.02. */
  noiseAugStrength?: number;
  /** Frames per temporal-decoder call (each chunk decoded as one clip). Default: all frames. */
  decodeChunkSize?: number;
  /** One seed (BigInt/decimal string for 64-bit seeds). Default: a random seed, reported in the result. */
  seed?: Seed;
  /** Draw the noise from this generator instead (first the noise augmentation, then the latents, as diffusers). */
  generator?: Generator;
  /** Initial noise [1, F, 4, h, w] instead of drawing it (multiplied by the scheduler's initNoiseSigma). Not consumed. */
  latents?: Tensor;
  /** Default: model.yaml's scheduler (SVD's EulerDiscrete, Karras sigmas, v-prediction). */
  scheduler?: SchedulerChoice;
  onProgress?: ProgressCallback;
  /** Attach a latent RGB preview to each denoise progress event. Default false. */
  preview?: boolean;
  /** Stops between steps: the promise rejects with an AbortError and every tensor is freed. */
  signal?: AbortSignal;
  /** 'uint8' (default), 'float' (0..1) or 'latents' ([1, F, 4, h, w], no decode). */
  outputType?: OutputType;
}

export const SVD_OPTION_KEYS = [
  'image', 'imageEmbeds', 'imageLatents', 'width', 'height', 'numFrames', 'numInferenceSteps', 'minGuidanceScale', 'maxGuidanceScale',
  'fps', 'motionBucketId', 'noiseAugStrength', 'decodeChunkSize', 'seed', 'generator', 'latents', 'scheduler', 'onProgress', 'preview',
  'signal', 'outputType',
] as const satisfies readonly (keyof SvdGenerateOptions)[];
const everyKeyListed: Exclude<keyof SvdGenerateOptions, (typeof SVD_OPTION_KEYS)[number]> extends never ? true : never = true;
void everyKeyListed;

export interface SvdCheckedInputs {
  width: number;
  height: number;
  numFrames: number;
  steps: number;
  minGuidanceScale: number;
  maxGuidanceScale: number;
  doCfg: boolean;
  fps: number;
  motionBucketId: number;
  noiseAugStrength: number;
  decodeChunkSize: number;
  seed?: bigint;
  outputType: OutputType;
}

/** What checkSvdInputs needs of the pipeline. */
export interface SvdInputContext {
  manifest: ModelManifest;
  numFrames: number;
  imageEmbedDim: number;
  vaeScaleFactor: number;
}

function checkTensor(name: string, t: unknown, shapes: number[][], what: string): Tensor {
  if (!(t instanceof Tensor) || t.disposed) throw new InvalidParameterError(name, what, t);
  if (!shapes.some((s) => s.length === t.ndim && s.every((d, i) => d < 0 || d === t.shape[i]))) throw new InvalidParameterError(name, what, t.shape);
  return t;
}

export function checkSvdInputs(ctx: SvdInputContext, o: SvdGenerateOptions): SvdCheckedInputs {
  if (!isPlainObject(o as unknown)) throw new InvalidParameterError('options', 'an options object', o);
  assertKnownKeys('generate()', o, SVD_OPTION_KEYS);
  const s = ctx.vaeScaleFactor;
  let size: [number, number] | undefined;
  if (o.image !== undefined) size = imageShape(o.image);
  if (o.imageEmbeds !== undefined) checkTensor('imageEmbeds', o.imageEmbeds, [[1, 1, ctx.imageEmbedDim], [1, ctx.imageEmbedDim]], `a Tensor [1, 1, ${ctx.imageEmbedDim}] (CLIP image embeddings)`);
  if (o.imageLatents !== undefined) {
    const t = checkTensor('imageLatents', o.imageLatents, [[1, 4, -1, -1]], 'a Tensor [1, 4, h, w] (VAE latents of the image)');
    const latentSize: [number, number] = [t.shape[2]! * s, t.shape[3]! * s];
    if (size && (size[0] !== latentSize[0] || size[1] !== latentSize[1]))
      throw new InvalidParameterError('imageLatents', `latents of the image's size (${size[0] / s}×${size[1] / s})`, t.shape);
    size ??= latentSize;
  }
  if (o.image === undefined && (o.imageEmbeds === undefined || o.imageLatents === undefined))
    throw new InvalidParameterError('image', 'an image (or both imageEmbeds and imageLatents)', o.image);
  const height = o.height ?? size![0];
  const width = o.width ?? size![1];
  assertInteger('height', height, s);
  assertInteger('width', width, s);
  if (height % s !== 0 || width % s !== 0) throw new InvalidParameterError(height % s ? 'height' : 'width', `a multiple of ${s}`, height % s ? height : width);
  if (height !== size![0] || width !== size![1])
    throw new InvalidParameterError(o.height !== undefined && height !== size![0] ? 'height' : 'width', `the image's size ${size![1]}×${size![0]} (resize the image first)`, `${width}×${height}`);
  const numFrames = o.numFrames ?? ctx.numFrames;
  assertInteger('numFrames', numFrames, 1);
  const steps = o.numInferenceSteps ?? SVD_DEFAULTS.numInferenceSteps;
  assertInteger('numInferenceSteps', steps, 1);
  const minGuidanceScale = o.minGuidanceScale ?? SVD_DEFAULTS.minGuidanceScale;
  const maxGuidanceScale = o.maxGuidanceScale ?? SVD_DEFAULTS.maxGuidanceScale;
  assertNumber('minGuidanceScale', minGuidanceScale);
  assertNumber('maxGuidanceScale', maxGuidanceScale);
  const fps = o.fps ?? SVD_DEFAULTS.fps;
  assertPositive('fps', fps);
  const motionBucketId = o.motionBucketId ?? SVD_DEFAULTS.motionBucketId;
  assertNumber('motionBucketId', motionBucketId);
  const noiseAugStrength = o.noiseAugStrength ?? SVD_DEFAULTS.noiseAugStrength;
  assertNumber('noiseAugStrength', noiseAugStrength);
  if (noiseAugStrength < 0) throw new InvalidParameterError('noiseAugStrength', 'a number >= 0', noiseAugStrength);
  const decodeChunkSize = o.decodeChunkSize ?? numFrames;
  assertInteger('decodeChunkSize', decodeChunkSize, 1);
  const outputType = o.outputType ?? 'uint8';
  assertOneOf('outputType', outputType, ['uint8', 'float', 'latents'] as const);
  if (o.latents !== undefined) checkTensor('latents', o.latents, [[1, numFrames, 4, height / s, width / s]], `a Tensor [1, ${numFrames}, 4, ${height / s}, ${width / s}]`);
  if (o.preview !== undefined && typeof o.preview !== 'boolean') throw new InvalidParameterError('preview', 'a boolean', o.preview);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function', o.onProgress);
  const seed = o.generator || o.latents ? undefined : o.seed !== undefined ? parseSeed(o.seed) : randomSeed();
  return {
    width, height, numFrames, steps, minGuidanceScale, maxGuidanceScale, doCfg: maxGuidanceScale > 1, fps, motionBucketId,
    noiseAugStrength, decodeChunkSize, seed, outputType,
  };
}
