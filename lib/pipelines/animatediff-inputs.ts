/**
 * generate()'s options and defaults, and checkInputs() (diffusers' check_inputs):
 * every argument is validated and resolved before any work, so a bad option
 * fails at once with an error naming it.
 */
import type { Generator, Seed } from '../generator';
import { parseSeed, randomSeed } from '../generator';
import { InvalidParameterError } from '../errors';
import type { ModelManifest } from '../model-manifest';
import type { Scheduler } from '../schedulers/scheduling-utils';
import { type Device, Tensor } from '../tensor';
import type { Module } from '../torchscript-module';
import { assertKnownKeys } from '../suggest';
import { assertInteger, assertNumber, assertOneOf, assertPositive, isPlainObject } from '../validate';
import { resolveTilingOptions, type VaeTilingOptions } from '../video/vae-tiling';
import { CONTEXT_SCHEDULES, type ContextSchedule, FUSE_METHODS, type FuseMethod, resolveContextSettings } from './context-windows';
import type { OutputType } from './pipeline-output';
import type { ProgressCallback } from './progress';
import { isPromptMap, parsePromptMap, type PromptMap } from './prompt-travel';
import { type FreeInitOptions, type ResolvedFreeInit, resolveFreeInit } from './free-init';
import { checkControlNets, checkControlWindows, type ControlNetOptions, type ResolvedControlNet } from './controlnet';
import { checkFreeNoise, type FreeNoiseOptions, type ResolvedFreeNoise } from './free-noise';
import { checkMotionScale } from './motion-scale';
import { checkVideoToVideo, type VideoInput, videoShape } from './video-to-video';
import { checkImageToVideo, type ImageInput } from './image-to-video';

export const DEFAULT_FPS = 8;
/** generate()'s defaults where neither the call nor the model sets them (diffusers' AnimateDiffPipeline and AnimateDiff's configs). */
export const GENERATE_DEFAULTS = { numFrames: 16, numInferenceSteps: 25, guidanceScale: 7.5 } as const;

/** A scheduler by diffusers class name (configured from model.yaml's `scheduler`), with overrides, or an instance. */
export type SchedulerChoice = string | { className: string; config?: Record<string, unknown> } | Scheduler;

export interface GenerateOptions {
  /** A prompt, one per video, or a prompt-travel map { frameIndex: prompt }. Needed unless promptEmbeds is given. */
  prompt?: string | string[] | PromptMap;
  /** Default '' (encoded, as diffusers does) when guidance is on. One, or one per prompt. */
  negativePrompt?: string | string[];
  /** Precomputed text embeddings [N, 77, C] (one row per video) or a prompt-travel map { frameIndex: [1, 77, C] }; replaces `prompt`. Not consumed. */
  promptEmbeds?: Tensor | Record<number | string, Tensor>;
  /** [N or 1, 77, C]; with promptEmbeds and guidance > 1. Not consumed. */
  negativePromptEmbeds?: Tensor;
  /** Default: model.yaml `defaults.width`/`height`, else sample_size × the VAE factor (512 for SD1.5). A multiple of the VAE factor (8). */
  width?: number;
  height?: number;
  /** Default: model.yaml `defaults.num_frames`, else 16. */
  numFrames?: number;
  /** Default: model.yaml `defaults.num_inference_steps`, else 25 (AnimateDiff's configs). */
  numInferenceSteps?: number;
  /** Classifier-free guidance scale; guidance applies when > 1. Default: model.yaml `defaults.guidance_scale`, else 7.5. */
  guidanceScale?: number;
  /** One seed (BigInt/decimal string for 64-bit seeds). Default: a random seed, reported in the result. */
  seed?: Seed;
  /** One video per seed. */
  seeds?: Seed[];
  /** Draw the noise from this generator instead (all videos, in turn). */
  generator?: Generator;
  /** Where seeded noise is drawn: 'cpu' (diffusers; default) or 'cuda' (original AnimateDiff: torch.manual_seed + CUDA randn). */
  generatorDevice?: 'cpu' | 'cuda';
  /** Default: model.yaml's scheduler. */
  scheduler?: SchedulerChoice;
  /** DDIM's eta (noise weight); default 0. */
  eta?: number;
  /** Skip the last k CLIP layers (diffusers clip_skip; A1111 "CLIP skip N" = N − 1). Default 0. */
  clipSkip?: number;
  /** Initial noise [N or 1, 4, F, H/8, W/8] instead of drawing it (multiplied by the scheduler's initNoiseSigma). Not consumed. */
  latents?: Tensor;
  /** Frames per VAE call. Default 16. */
  decodeChunkSize?: number;
  /** Spatial tiles for the VAE: true (64-latent-pixel tiles, 0.25 overlap), { tileSize, overlap } or false (default). */
  vaeTiling?: VaeTilingOptions | boolean;
  /** Frames per context window; longer videos are denoised in overlapping windows. Default 16. */
  contextLength?: number;
  /** Frames shared by neighbouring windows. Default contextLength / 4. */
  contextOverlap?: number;
  /** Default 'uniform'. */
  contextSchedule?: ContextSchedule;
  /** How overlapping windows are averaged. Default 'pyramid'. */
  contextFuseMethod?: FuseMethod;
  onProgress?: ProgressCallback;
  /** Attach a latent RGB preview to each denoise progress event. Default false. */
  preview?: boolean;
  /** Stops between steps: the promise rejects with an AbortError and every tensor is freed. */
  signal?: AbortSignal;
  /** 'uint8' (default), 'float' (0..1) or 'latents' (no decode). */
  outputType?: OutputType;
  /** Recorded in the output. Default: model.yaml `defaults.fps`, else 8. */
  fps?: number;
  /**
   * Video-to-video (diffusers' AnimateDiffVideoToVideoPipeline): the init video, frames [F, H, W, 3] (uint8 or
   * float 0..1), at width × height (default: its size) with numFrames frames (default: its count). Needs a model
   * exported with a VAE encoder. Not consumed.
   */
  video?: VideoInput;
  /** Image-to-video (stable-diffusion.cpp's `--init-img`): a still [H, W, 3] repeated over the frames, then as `video`. Not consumed. */
  image?: ImageInput;
  /** With `image`: keep frame 0 on the image (its latent re-noised to each step's timestep, clean at the end). Default false. */
  anchorFirstFrame?: boolean;
  /** With `video` or `image`: how far it is re-noised, 0..1 (1 = from noise). Default 0.8, as diffusers. */
  strength?: number;
  /** With `video` or `image`: run numInferenceSteps steps whatever the strength (schedule of ⌊steps / strength⌋). Default false. */
  enforceInferenceSteps?: boolean;
  /** FreeInit (diffusers' enable_free_init): true for its defaults, or its options. Default off. */
  freeInit?: FreeInitOptions | boolean;
  /** ControlNets (diffusers' AnimateDiffControlNetPipeline; several are summed as MultiControlNet). */
  controlnet?: ControlNetOptions | ControlNetOptions[];
  /** FreeNoise (diffusers' enable_free_noise) for long videos, instead of the context windows: true or its options. Default off. */
  freeNoise?: FreeNoiseOptions | boolean;
  /** Scales the motion modules' residual: 1 as trained (default), 0 skips them. Other values need unet.inputs' motion_scale. */
  motionScale?: number;
}

/** Every option generate() takes; anything else is a misspelling (rejected with a suggestion). */
export const GENERATE_OPTION_KEYS = [
  'prompt', 'negativePrompt', 'promptEmbeds', 'negativePromptEmbeds', 'width', 'height', 'numFrames', 'numInferenceSteps',
  'guidanceScale', 'seed', 'seeds', 'generator', 'generatorDevice', 'scheduler', 'eta', 'clipSkip', 'latents', 'decodeChunkSize',
  'vaeTiling', 'contextLength', 'contextOverlap', 'contextSchedule', 'contextFuseMethod', 'onProgress', 'preview', 'signal',
  'outputType', 'fps', 'video', 'image', 'anchorFirstFrame', 'strength', 'enforceInferenceSteps', 'freeInit', 'controlnet',
  'freeNoise', 'motionScale',
] as const satisfies readonly (keyof GenerateOptions)[];
// A compile error here means GenerateOptions gained an option the list above lacks.
const everyKeyListed: Exclude<keyof GenerateOptions, (typeof GENERATE_OPTION_KEYS)[number]> extends never ? true : never = true;
void everyKeyListed;

export interface DecodeLatentsOptions {
  decodeChunkSize?: number;
  vaeTiling?: VaeTilingOptions | boolean;
  outputType?: 'uint8' | 'float';
  fps?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface EncodePromptOptions {
  negativePrompt?: string | string[];
  /** Also encode the negative prompt ('' by default). Default true. */
  doClassifierFreeGuidance?: boolean;
  clipSkip?: number;
}

/** generate()'s options, checked and with every default resolved. */
export interface CheckedInputs {
  width: number;
  height: number;
  numFrames: number;
  steps: number;
  guidanceScale: number;
  doCfg: boolean;
  numVideos: number;
  seeds: (bigint | undefined)[];
  outputType: OutputType;
  decodeChunkSize: number;
  vaeTiling: Required<VaeTilingOptions> | false;
  contextLength: number;
  contextOverlap: number;
  contextSchedule: ContextSchedule;
  fuseMethod: FuseMethod;
  clipSkip: number;
  fps: number;
  eta?: number;
  /** Set with `video`. */
  videoToVideo?: { strength: number; enforceInferenceSteps: boolean };
  /** Set with `image` (videoToVideo is set too). */
  imageToVideo?: { anchorFirstFrame: boolean };
  freeInit?: ResolvedFreeInit;
  controlnet?: ResolvedControlNet[];
  freeNoise?: ResolvedFreeNoise;
  motionScale: number;
}

/** What checkInputs needs to know of the pipeline (render() checks jobs with the manifest alone, before loading). */
export interface InputContext {
  readonly manifest: ModelManifest;
  readonly device: Device;
  readonly vaeScaleFactor: number;
  /** Present when the model has a text encoder: the loaded Module, or model.yaml's entry before loading. */
  readonly textEncoder?: Pick<Module, 'forward'> | ModelManifest['textEncoder'];
}

/** The model's own defaults (model.yaml `defaults`, e.g. the demo model's 8 frames): second after the call's options. */
export interface ModelDefaults {
  width?: number;
  height?: number;
  numFrames?: number;
  numInferenceSteps?: number;
  guidanceScale?: number;
  fps?: number;
}

/** model.yaml `defaults` (snake_case, as diffusers names the arguments) in generate()'s terms. */
export function modelDefaults(manifest: ModelManifest): ModelDefaults {
  const raw = manifest.raw.defaults;
  const d = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const num = (k: string) => (typeof d[k] === 'number' ? (d[k] as number) : undefined);
  return {
    width: num('width'),
    height: num('height'),
    numFrames: num('num_frames'),
    numInferenceSteps: num('num_inference_steps'),
    guidanceScale: num('guidance_scale'),
    fps: num('fps'),
  };
}

/** 1. Validates every argument before any work, and resolves defaults. */
export function checkInputs(p: InputContext, o: GenerateOptions): CheckedInputs {
  if (!isPlainObject(o as unknown)) throw new InvalidParameterError('options', 'an options object', o);
  assertKnownKeys('generate()', o, GENERATE_OPTION_KEYS);
  const m = p.manifest;
  const s = p.vaeScaleFactor;
  const d = modelDefaults(m);
  const ishape = checkImageToVideo(o)?.shape;
  let vshape = o.video !== undefined ? videoShape(o.video) : undefined;
  const height = o.height ?? vshape?.[1] ?? ishape?.[0] ?? d.height ?? m.sampleSize[0] * s;
  const width = o.width ?? vshape?.[2] ?? ishape?.[1] ?? d.width ?? m.sampleSize[1] * s;
  for (const [name, v] of [['height', height], ['width', width]] as const) {
    assertInteger(name, v, s);
    if (v % s !== 0) throw new InvalidParameterError(name, `a multiple of ${s}`, v);
  }
  const numFrames = o.numFrames ?? vshape?.[0] ?? d.numFrames ?? GENERATE_DEFAULTS.numFrames;
  assertInteger('numFrames', numFrames, 1);
  const steps = o.numInferenceSteps ?? d.numInferenceSteps ?? GENERATE_DEFAULTS.numInferenceSteps;
  assertInteger('numInferenceSteps', steps, 1);
  const imageToVideo = checkImageToVideo(o, { width, height });
  if (imageToVideo) vshape = [numFrames, height, width];
  const videoToVideo = checkVideoToVideo(p, o, vshape, { numFrames, height, width, steps });
  const freeInit = resolveFreeInit(o.freeInit);
  const controlnet = checkControlNets(p, o.controlnet, { numFrames, height, width });
  const freeNoise = checkFreeNoise(m, o.freeNoise, numFrames);
  const motionScale = checkMotionScale(m, o.motionScale);
  // diffusers' video-to-video re-applies strength to each FreeInit iteration's schedule; not reproduced yet.
  if (freeNoise && videoToVideo) throw new InvalidParameterError('freeNoise', 'to be left out with video or image (FreeNoise is for text-to-video here)', o.freeNoise);
  if (freeInit && videoToVideo) throw new InvalidParameterError('freeInit', 'to be left out with video or image (FreeInit is for text-to-video here)', o.freeInit);
  const guidanceScale = o.guidanceScale ?? d.guidanceScale ?? GENERATE_DEFAULTS.guidanceScale;
  assertNumber('guidanceScale', guidanceScale, 0);
  if (!Number.isFinite(guidanceScale)) throw new InvalidParameterError('guidanceScale', 'a finite number >= 0', guidanceScale);
  const doCfg = guidanceScale > 1;
  const outputType = o.outputType ?? 'uint8';
  assertOneOf('outputType', outputType, ['uint8', 'float', 'latents'] as const);
  const decodeChunkSize = o.decodeChunkSize ?? 16;
  assertInteger('decodeChunkSize', decodeChunkSize, 1);
  const vaeTiling = resolveTilingOptions(o.vaeTiling);
  const ctx = resolveContextSettings({ contextLength: o.contextLength, contextOverlap: o.contextOverlap, contextSchedule: o.contextSchedule });
  assertOneOf('contextSchedule', ctx.contextSchedule, CONTEXT_SCHEDULES);
  const maxFrames = m.motionModule.maxFrames;
  if (maxFrames !== undefined && ctx.contextLength > maxFrames && numFrames > maxFrames && !freeNoise)
    throw new InvalidParameterError('contextLength', `at most ${maxFrames} (the motion module's maximum frames)`, ctx.contextLength);
  checkControlWindows(controlnet, Math.min(numFrames, ctx.contextLength), !!freeNoise);
  const fuseMethod = o.contextFuseMethod ?? 'pyramid';
  assertOneOf('contextFuseMethod', fuseMethod, FUSE_METHODS);
  const clipSkip = o.clipSkip ?? 0;
  checkClipSkip(m, clipSkip);
  const fps = o.fps ?? d.fps ?? DEFAULT_FPS;
  assertPositive('fps', fps);
  if (o.eta !== undefined) assertNumber('eta', o.eta, 0);
  if (o.generatorDevice !== undefined) {
    assertOneOf('generatorDevice', o.generatorDevice, ['cpu', 'cuda'] as const);
    if (o.generatorDevice === 'cuda' && !p.device.startsWith('cuda'))
      throw new InvalidParameterError('generatorDevice', `'cpu' (the pipeline runs on '${p.device}')`, o.generatorDevice);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function', o.onProgress);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new InvalidParameterError('signal', 'an AbortSignal', o.signal);
  if (o.scheduler !== undefined) checkSchedulerChoice(o.scheduler);

  // Prompts and embeddings; each source says how many videos it describes (1 broadcasts).
  const counts: [string, number][] = [];
  const travel = isPromptMap(o.prompt) || isPromptMap(o.promptEmbeds);
  if (o.promptEmbeds !== undefined) {
    if (o.prompt !== undefined) throw new InvalidParameterError('prompt', 'to be left out when promptEmbeds is given', o.prompt);
    if (o.promptEmbeds instanceof Tensor) {
      checkEmbeds(m, 'promptEmbeds', o.promptEmbeds);
      counts.push(['promptEmbeds', o.promptEmbeds.shape[0]!]);
    } else if (isPlainObject(o.promptEmbeds)) {
      const keys = parsePromptMap(Object.fromEntries(Object.keys(o.promptEmbeds).map((k) => [k, ''])), numFrames, 'promptEmbeds');
      for (const k of keys) {
        const t = (o.promptEmbeds as Record<string, unknown>)[String(k.frame)] ?? (o.promptEmbeds as Record<string, unknown>)[k.frame];
        if (!(t instanceof Tensor)) throw new InvalidParameterError(`promptEmbeds[${k.frame}]`, 'a Tensor [1, T, C]', t);
        checkEmbeds(m, `promptEmbeds[${k.frame}]`, t);
        if (t.shape[0] !== 1) throw new InvalidParameterError(`promptEmbeds[${k.frame}]`, 'a Tensor [1, T, C]', t.shape);
      }
    } else throw new InvalidParameterError('promptEmbeds', 'a Tensor [N, T, C] or { frameIndex: Tensor [1, T, C] }', o.promptEmbeds);
    if (doCfg && o.negativePromptEmbeds === undefined && o.negativePrompt === undefined && !p.textEncoder)
      throw new InvalidParameterError('negativePromptEmbeds', 'a Tensor when guidanceScale > 1 and the model has no text encoder', undefined);
  } else {
    if (o.prompt === undefined) throw new InvalidParameterError('prompt', 'a string, an array of strings or { frameIndex: prompt } (or pass promptEmbeds)', undefined);
    if (typeof o.prompt === 'string') counts.push(['prompt', 1]);
    else if (Array.isArray(o.prompt)) {
      if (o.prompt.length === 0 || !o.prompt.every((p) => typeof p === 'string'))
        throw new InvalidParameterError('prompt', 'a non-empty array of strings', o.prompt);
      counts.push(['prompt', o.prompt.length]);
    } else if (isPromptMap(o.prompt)) parsePromptMap(o.prompt, numFrames);
    else throw new InvalidParameterError('prompt', 'a string, an array of strings or { frameIndex: prompt }', o.prompt);
    if (!p.textEncoder) throw new InvalidParameterError('prompt', `promptEmbeds: model '${m.name}' has no text encoder (exported without one)`, o.prompt);
  }
  const promptCount = counts.length ? counts[0]![1] : 1;
  if (o.negativePrompt !== undefined) {
    checkNegativePrompt(o.negativePrompt, promptCount);
    if (o.negativePromptEmbeds !== undefined) throw new InvalidParameterError('negativePrompt', 'to be left out when negativePromptEmbeds is given', o.negativePrompt);
    if (!p.textEncoder) throw new InvalidParameterError('negativePrompt', `negativePromptEmbeds: model '${m.name}' has no text encoder`, o.negativePrompt);
  }
  if (o.negativePromptEmbeds !== undefined) {
    checkEmbeds(m, 'negativePromptEmbeds', o.negativePromptEmbeds);
    const n = o.negativePromptEmbeds.shape[0]!;
    if (n !== 1 && n !== promptCount)
      throw new InvalidParameterError('negativePromptEmbeds', `a batch of 1 or ${promptCount} (as promptEmbeds)`, o.negativePromptEmbeds.shape);
    if (o.promptEmbeds instanceof Tensor && o.promptEmbeds.shape[1] !== o.negativePromptEmbeds.shape[1])
      throw new InvalidParameterError('negativePromptEmbeds', `the same shape as promptEmbeds [${o.promptEmbeds.shape.join(', ')}]`, o.negativePromptEmbeds.shape);
  }
  if (travel && counts.some(([, n]) => n > 1)) throw new InvalidParameterError('prompt', 'a single prompt map (prompt travel renders one prompt per video)', o.prompt);

  // Noise sources.
  const sources = (['seed', 'seeds', 'generator'] as const).filter((k) => o[k] !== undefined);
  if (sources.length > 1) throw new InvalidParameterError(sources.join(', '), 'only one of seed, seeds and generator to be given', undefined);
  let seeds: (bigint | undefined)[] = [];
  if (o.seeds !== undefined) {
    if (!Array.isArray(o.seeds) || o.seeds.length === 0) throw new InvalidParameterError('seeds', 'a non-empty array of seeds', o.seeds);
    seeds = o.seeds.map((sd, i) => parseSeed(sd, `seeds[${i}]`));
    counts.push(['seeds', seeds.length]);
  } else if (o.seed !== undefined) seeds = [parseSeed(o.seed)];
  if (o.generator !== undefined) {
    if (typeof o.generator !== 'object' || o.generator === null || !('native' in o.generator)) throw new InvalidParameterError('generator', 'a Generator', o.generator);
  }
  if (o.latents !== undefined) {
    const shape = [m.inChannels, numFrames, height / s, width / s];
    if (!(o.latents instanceof Tensor) || o.latents.disposed) throw new InvalidParameterError('latents', `a Tensor [N, ${shape.join(', ')}]`, o.latents);
    if (o.latents.ndim !== 5 || o.latents.shape.slice(1).some((d, i) => d !== shape[i]))
      throw new InvalidParameterError('latents', `shape [N, ${shape.join(', ')}] (from numFrames, height, width)`, o.latents.shape);
    counts.push(['latents', o.latents.shape[0]!]);
  }
  const numVideos = Math.max(1, ...counts.map(([, n]) => n));
  for (const [name, n] of counts)
    if (n !== 1 && n !== numVideos)
      throw new InvalidParameterError(name, `1 or ${numVideos} entries (to match ${counts.find(([, k]) => k === numVideos)![0]})`, `${n}`);
  // With given latents a seed only feeds the stochastic schedulers' step noise.
  if (o.generator === undefined) {
    if (seeds.length === 0 && o.latents === undefined) seeds = [randomSeed()];
    if (seeds.length > 0) seeds = Array.from({ length: numVideos }, (_, i) => seeds[seeds.length === 1 ? 0 : i]);
  }

  return {
    width,
    height,
    numFrames,
    steps,
    guidanceScale,
    doCfg,
    numVideos,
    seeds,
    outputType,
    decodeChunkSize,
    vaeTiling,
    ...ctx,
    fuseMethod,
    clipSkip,
    fps,
    eta: o.eta,
    ...(videoToVideo && { videoToVideo }),
    ...(imageToVideo && { imageToVideo: { anchorFirstFrame: imageToVideo.anchorFirstFrame } }),
    ...(freeInit && { freeInit }),
    ...(controlnet && { controlnet }),
    ...(freeNoise && { freeNoise }),
    motionScale,
  };
}

/** A negative prompt (one, or one per prompt) as a list; '' when none is given, as diffusers encodes it. */
export function checkNegativePrompt(negativePrompt: unknown, promptCount: number): string[] {
  if (negativePrompt === undefined) return [''];
  const negs = typeof negativePrompt === 'string' ? [negativePrompt] : negativePrompt;
  if (!Array.isArray(negs) || negs.length === 0 || !negs.every((p) => typeof p === 'string'))
    throw new InvalidParameterError('negativePrompt', 'a string or an array of strings', negativePrompt);
  if (negs.length !== 1 && negs.length !== promptCount)
    throw new InvalidParameterError('negativePrompt', `1 or ${promptCount} prompts (as many as prompt)`, `${negs.length} prompts`);
  return negs as string[];
}

/** Prompt embeddings [N, T, cross_attention_dim]. */
export function checkEmbeds(manifest: ModelManifest, name: string, t: unknown): asserts t is Tensor {
  const c = manifest.crossAttentionDim;
  if (!(t instanceof Tensor) || t.disposed) throw new InvalidParameterError(name, `a Tensor [N, T, ${c}]`, t);
  if (t.ndim !== 3 || t.shape[2] !== c || t.shape[0]! < 1 || t.shape[1]! < 1)
    throw new InvalidParameterError(name, `shape [N, T, ${c}] (cross_attention_dim ${c})`, t.shape);
}

/** clip_skip leaves at least one text encoder layer. */
export function checkClipSkip(manifest: ModelManifest, clipSkip: number): void {
  const layers = manifest.textEncoder?.numLayers;
  assertInteger('clipSkip', clipSkip, 0, layers !== undefined ? layers - 1 : Infinity);
}

export function checkSchedulerChoice(choice: unknown): void {
  if (typeof choice === 'string') return;
  if (isPlainObject(choice) && typeof choice.className === 'string') {
    if (choice.config !== undefined && !isPlainObject(choice.config)) throw new InvalidParameterError('scheduler.config', 'an object', choice.config);
    return;
  }
  if (typeof choice === 'object' && choice !== null && typeof (choice as Scheduler).step === 'function' && typeof (choice as Scheduler).setTimesteps === 'function') return;
  throw new InvalidParameterError('scheduler', 'a scheduler class name, { className, config } or a Scheduler', choice);
}
