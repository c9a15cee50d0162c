/**
 * AnimateDiffPipeline: text-to-video with an exported AnimateDiff model folder
 * (model.yaml + TorchScript UNet, VAE decoder and optional text encoder).
 *
 * generate() follows diffusers' AnimateDiffPipeline.__call__ step by step:
 * 1. check inputs, 2. encode the prompt, 3. set the scheduler's timesteps,
 * 4. prepare latents, 5. denoise (classifier-free guidance as one UNet call on
 * the batch [negative, positive]), 6. decode latents, 7. postprocess to frames.
 * Additions: sliding context windows for long videos, prompt travel, tiled VAE
 * decoding, progress events with latent previews, AbortSignal support, and
 * several videos (one per seed/prompt) rendered one after another.
 */
import path from 'node:path';
import { AbortError, InvalidParameterError, throwIfAborted } from '../errors';
import { assertDtypeSupported } from '../device';
import { createGenerator, type Generator, parseSeed, randomSeed, type Seed } from '../generator';
import { checkModelFiles, MANIFEST_FILE, ModelManifestError, readModelManifest, type ModelManifest, type SchedulerConfig } from '../model-manifest';
import { createScheduler } from '../schedulers';
import type { Scheduler, SchedulerOutput } from '../schedulers/scheduling-utils';
import { assertDevice, assertDtype, cat, type Device, type DType, full, randn, Tensor, tensor, tidy } from '../tensor';
import { type CLIPTokenizer, loadClipTokenizer } from '../tokenizers/clip';
import { loadModule, type Module } from '../torchscript-module';
import { assertInteger, assertNumber, assertOneOf, isPlainObject } from '../validate';
import { FrameBuffer } from '../video/video-processor';
import { latentPreview } from '../video/latent-preview';
import { decodeFrames, resolveTilingOptions, type VaeTilingOptions } from '../video/vae-tiling';
import {
  CONTEXT_SCHEDULES,
  ContextFuser,
  type ContextSchedule,
  contextWindows,
  FUSE_METHODS,
  type FuseMethod,
  gatherWindow,
  resolveContextSettings,
} from './context-windows';
import type { AnimateDiffLatentsOutput, AnimateDiffPipelineOutput, OutputType, VideoFrames } from './pipeline-output';
import { VaeDecodeError } from './pipeline-output';
import { emitProgress, type ProgressCallback, ProgressTracker } from './progress';
import { interpolateEmbeddings, isPromptMap, type Keyframe, parsePromptMap, type PromptMap } from './prompt-travel';

export const DEFAULT_FPS = 8;
/** generate()'s defaults where neither the call nor the model sets them (diffusers' AnimateDiffPipeline and AnimateDiff's configs). */
export const GENERATE_DEFAULTS = { numFrames: 16, numInferenceSteps: 25, guidanceScale: 7.5 } as const;

export interface LoadPipelineOptions {
  /** Where the models run. Default 'cpu'. */
  device?: Device;
  /** Weights dtype (e.g. 'float16' on CUDA). Default: as exported (model.yaml `dtype`). */
  dtype?: DType;
  /** Rejects with an AbortError if aborted before loading finishes. */
  signal?: AbortSignal;
  /**
   * Hash the module files (UNet, VAE decoder, text encoder) and compare with model.yaml's sha256 before
   * loading (reads every byte once more: seconds for a full-size model). Their sizes are always checked.
   * Default false.
   */
  verify?: boolean;
}

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
  /** Default: model.yaml sample_size × 8 (512 for SD1.5). Multiple of 8. */
  width?: number;
  height?: number;
  /** Default 16. */
  numFrames?: number;
  /** Default 25 (AnimateDiff's configs). */
  numInferenceSteps?: number;
  /** Classifier-free guidance scale; guidance applies when > 1. Default 7.5. */
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
  /** Recorded in the output. Default 8. */
  fps?: number;
}

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

export interface AnimateDiffComponents {
  manifest: ModelManifest;
  unet: Module;
  vae: Module;
  textEncoder?: Module;
  tokenizer?: CLIPTokenizer;
  device: Device;
  dtype: DType;
}

type Result = AnimateDiffPipelineOutput<Uint8Array> | AnimateDiffPipelineOutput<Float32Array> | AnimateDiffLatentsOutput;

/** Text conditioning of one video: a fixed embedding or keyframes to travel between. */
interface Conditioning {
  /** [1, T, C] */
  cond?: Tensor;
  keyframes?: Keyframe<Tensor>[];
  /** [1, T, C], present when guidance is on. */
  uncond?: Tensor;
  /** [2, T, C] = [uncond, cond], precomputed for fixed prompts with guidance. */
  pair?: Tensor;
}

interface Checked {
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
}

export class AnimateDiffPipeline {
  readonly manifest: ModelManifest;
  readonly unet: Module;
  readonly vae: Module;
  readonly textEncoder?: Module;
  readonly tokenizer?: CLIPTokenizer;
  readonly device: Device;
  readonly dtype: DType;
  private disposedFlag = false;

  /** Takes ownership of the modules (dispose() frees them). Use loadPipeline() to load a folder. */
  constructor(components: AnimateDiffComponents) {
    this.manifest = components.manifest;
    this.unet = components.unet;
    this.vae = components.vae;
    this.textEncoder = components.textEncoder;
    this.tokenizer = components.tokenizer;
    this.device = components.device;
    this.dtype = components.dtype;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Image pixels per latent pixel (8 for the SD VAE). */
  get vaeScaleFactor(): number {
    return 8;
  }

  /**
   * Renders one video, or an array of videos when `seeds`, a prompt list or a
   * batch of latents/embeddings asks for several (one per seed/prompt, rendered in turn).
   */
  async generate(options: GenerateOptions & { outputType: 'latents' }): Promise<AnimateDiffLatentsOutput | AnimateDiffLatentsOutput[]>;
  async generate(options: GenerateOptions & { outputType: 'float' }): Promise<AnimateDiffPipelineOutput<Float32Array> | AnimateDiffPipelineOutput<Float32Array>[]>;
  async generate(options?: GenerateOptions & { outputType?: 'uint8' }): Promise<AnimateDiffPipelineOutput | AnimateDiffPipelineOutput[]>;
  async generate(options?: GenerateOptions): Promise<Result | Result[]>;
  async generate(options: GenerateOptions = {}): Promise<Result | Result[]> {
    this.ensureNotDisposed();
    // 1. Check inputs. Raise error if not correct
    const args = this.checkInputs(options);
    throwIfAborted(options.signal);

    // 2. Encode input prompt
    const conditioning = await this.prepareConditioning(options, args);
    const results: Result[] = [];
    try {
      for (let v = 0; v < args.numVideos; v++) {
        throwIfAborted(options.signal);
        const generator = options.generator ?? (args.seeds[v] !== undefined ? this.makeGenerator(args.seeds[v]!, options.generatorDevice) : undefined);
        // 3. Prepare timesteps
        const scheduler = this.makeScheduler(options.scheduler);
        try {
          scheduler.setTimesteps(args.steps);
          // 4. Prepare latent variables
          let latents = await this.prepareLatents(args, scheduler, generator, options.latents, v);
          // 5. Denoising loop
          latents = await this.denoise(latents, scheduler, conditioning[conditioning.length === 1 ? 0 : v]!, args, generator, options, v);
          const seed = options.generator || options.latents ? undefined : args.seeds[v];
          if (args.outputType === 'latents') {
            results.push({ latents, shape: latents.shape, ...(seed !== undefined && { seed }) });
            continue;
          }
          // 6. Decode latents + 7. Post-processing
          let video: VideoFrames<Uint8Array | Float32Array>;
          try {
            video = await this.decodeLatents(latents, {
              decodeChunkSize: args.decodeChunkSize,
              vaeTiling: args.vaeTiling,
              outputType: args.outputType,
              fps: args.fps,
              signal: options.signal,
              onProgress: options.onProgress && ((e) => options.onProgress!({ ...e, video: v, videos: args.numVideos })),
            });
          } catch (err) {
            if (err instanceof AbortError || (err as Error)?.name === 'AbortError' || options.signal?.aborted) {
              latents.dispose();
              throw err;
            }
            for (const r of results) if ('latents' in r) r.latents.dispose();
            throw new VaeDecodeError(latents, { cause: err });
          }
          latents.dispose();
          results.push({ ...video, ...(seed !== undefined && { seed }) } as Result);
        } finally {
          scheduler.dispose?.();
        }
      }
    } catch (err) {
      for (const r of results) if ('latents' in r && !(err instanceof VaeDecodeError && r.latents === err.latents)) r.latents.dispose();
      throw err;
    } finally {
      disposeConditioning(conditioning);
    }
    return args.numVideos === 1 && !Array.isArray(options.seeds) && !Array.isArray(options.prompt) ? results[0]! : results;
  }

  /**
   * Text embeddings, as diffusers' encode_prompt: `promptEmbeds` [P, 77, C] and,
   * with guidance, `negativePromptEmbeds` ('' unless given). The caller owns them.
   */
  async encodePrompt(prompt: string | string[], options: EncodePromptOptions = {}): Promise<{ promptEmbeds: Tensor; negativePromptEmbeds?: Tensor }> {
    this.ensureNotDisposed();
    const prompts = typeof prompt === 'string' ? [prompt] : prompt;
    if (!Array.isArray(prompts) || prompts.length === 0 || !prompts.every((p) => typeof p === 'string'))
      throw new InvalidParameterError('prompt', 'a string or a non-empty array of strings', prompt);
    const doCfg = options.doClassifierFreeGuidance ?? true;
    const negatives = options.negativePrompt === undefined ? [''] : typeof options.negativePrompt === 'string' ? [options.negativePrompt] : options.negativePrompt;
    if (!Array.isArray(negatives) || !negatives.every((p) => typeof p === 'string'))
      throw new InvalidParameterError('negativePrompt', 'a string or an array of strings', options.negativePrompt);
    if (negatives.length !== 1 && negatives.length !== prompts.length)
      throw new InvalidParameterError('negativePrompt', `1 or ${prompts.length} prompts (as many as prompt)`, `${negatives.length} prompts`);
    const clipSkip = options.clipSkip ?? 0;
    this.checkClipSkip(clipSkip);
    const promptEmbeds = await this.encodeTexts(prompts, clipSkip);
    if (!doCfg) return { promptEmbeds };
    try {
      let negativePromptEmbeds = await this.encodeTexts(negatives, clipSkip);
      if (negatives.length === 1 && prompts.length > 1) {
        const expanded = negativePromptEmbeds.expand([prompts.length, ...negativePromptEmbeds.shape.slice(1)]).contiguous();
        negativePromptEmbeds.dispose();
        negativePromptEmbeds = expanded;
      }
      return { promptEmbeds, negativePromptEmbeds };
    } catch (err) {
      promptEmbeds.dispose();
      throw err;
    }
  }

  /**
   * Latents [1, 4, F, h, w] (raw, as sampled) -> frames: divides by the VAE
   * scaling factor, decodes `decodeChunkSize` frames per call (tiled when
   * `vaeTiling` is set) and converts each chunk to frames as it goes. Not consumed.
   */
  async decodeLatents(latents: Tensor, options: DecodeLatentsOptions & { outputType: 'float' }): Promise<VideoFrames<Float32Array>>;
  async decodeLatents(latents: Tensor, options?: DecodeLatentsOptions & { outputType?: 'uint8' }): Promise<VideoFrames<Uint8Array>>;
  async decodeLatents(latents: Tensor, options?: DecodeLatentsOptions): Promise<VideoFrames<Uint8Array | Float32Array>>;
  async decodeLatents(latents: Tensor, options: DecodeLatentsOptions = {}): Promise<VideoFrames<Uint8Array | Float32Array>> {
    this.ensureNotDisposed();
    if (!(latents instanceof Tensor) || latents.disposed) throw new InvalidParameterError('latents', 'a Tensor [1, 4, F, h, w]', latents);
    const video = latents.ndim === 4 ? latents.unsqueeze(0) : latents;
    try {
      if (video.ndim !== 5 || video.shape[0] !== 1 || video.shape[1] !== this.manifest.inChannels)
        throw new InvalidParameterError('latents', `a [1, ${this.manifest.inChannels}, F, h, w] tensor (decode one video at a time)`, latents.shape);
      const outputType = options.outputType ?? 'uint8';
      assertOneOf('outputType', outputType, ['uint8', 'float'] as const);
      const chunkSize = options.decodeChunkSize ?? 16;
      assertInteger('decodeChunkSize', chunkSize, 1);
      const tiling = resolveTilingOptions(options.vaeTiling);
      const fps = options.fps ?? DEFAULT_FPS;
      assertNumber('fps', fps, Number.MIN_VALUE);
      const [, c, f, h, w] = video.shape as number[] as [number, number, number, number, number];
      // diffusers: latents = 1 / scaling_factor * latents, then [B, C, F, h, w] -> [B·F, C, h, w]
      const frames = tidy(() =>
        video
          .mul(1 / this.manifest.vae.scalingFactor)
          .permute([0, 2, 1, 3, 4])
          .reshape([f, c, h, w]),
      );
      const s = this.vaeScaleFactor;
      const buffer = new FrameBuffer(f, h * s, w * s, outputType);
      const tracker = new ProgressTracker(Math.ceil(f / chunkSize));
      try {
        await decodeFrames((z) => this.vae.forward(z) as Promise<Tensor>, frames, {
          chunkSize,
          tiling,
          signal: options.signal,
          onChunk: async (images) => {
            if (images.shape[2] !== buffer.height || images.shape[3] !== buffer.width) {
              throw new Error(`vae: expected images [n, 3, ${buffer.height}, ${buffer.width}] from latents ${h}x${w}, got [${images.shape.join(', ')}]`);
            }
            await buffer.append(images);
            emitProgress(options.onProgress, { stage: 'decode', ...tracker.tick(), video: 0, videos: 1 });
          },
        });
      } finally {
        frames.dispose();
      }
      return { frames: buffer.data, shape: buffer.shape, fps };
    } finally {
      if (video !== latents) video.dispose();
    }
  }

  /** Frees the models. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.unet.dispose();
    this.vae.dispose();
    this.textEncoder?.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  // ---------------------------------------------------------------------------
  // The numbered steps.

  /** 1. Validates every argument before any work, and resolves defaults. */
  checkInputs(o: GenerateOptions): Checked {
    if (!isPlainObject(o as unknown)) throw new InvalidParameterError('options', 'an options object', o);
    const m = this.manifest;
    const s = this.vaeScaleFactor;
    const height = o.height ?? m.sampleSize[0] * s;
    const width = o.width ?? m.sampleSize[1] * s;
    for (const [name, v] of [['height', height], ['width', width]] as const) {
      assertInteger(name, v, s);
      if (v % s !== 0) throw new InvalidParameterError(name, `a multiple of ${s}`, v);
    }
    const numFrames = o.numFrames ?? GENERATE_DEFAULTS.numFrames;
    assertInteger('numFrames', numFrames, 1);
    const steps = o.numInferenceSteps ?? GENERATE_DEFAULTS.numInferenceSteps;
    assertInteger('numInferenceSteps', steps, 1);
    const guidanceScale = o.guidanceScale ?? GENERATE_DEFAULTS.guidanceScale;
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
    if (maxFrames !== undefined && ctx.contextLength > maxFrames && numFrames > maxFrames)
      throw new InvalidParameterError('contextLength', `at most ${maxFrames} (the motion module's maximum frames)`, ctx.contextLength);
    const fuseMethod = o.contextFuseMethod ?? 'pyramid';
    assertOneOf('contextFuseMethod', fuseMethod, FUSE_METHODS);
    const clipSkip = o.clipSkip ?? 0;
    this.checkClipSkip(clipSkip);
    const fps = o.fps ?? DEFAULT_FPS;
    assertNumber('fps', fps, Number.MIN_VALUE);
    if (o.eta !== undefined) assertNumber('eta', o.eta, 0);
    if (o.generatorDevice !== undefined) {
      assertOneOf('generatorDevice', o.generatorDevice, ['cpu', 'cuda'] as const);
      if (o.generatorDevice === 'cuda' && !this.device.startsWith('cuda'))
        throw new InvalidParameterError('generatorDevice', `'cpu' (the pipeline runs on '${this.device}')`, o.generatorDevice);
    }
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function', o.onProgress);
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new InvalidParameterError('signal', 'an AbortSignal', o.signal);
    if (o.scheduler !== undefined) this.checkSchedulerChoice(o.scheduler);

    // Prompts and embeddings; each source says how many videos it describes (1 broadcasts).
    const counts: [string, number][] = [];
    const travel = isPromptMap(o.prompt) || isPromptMap(o.promptEmbeds);
    if (o.promptEmbeds !== undefined) {
      if (o.prompt !== undefined) throw new InvalidParameterError('prompt', 'to be left out when promptEmbeds is given', o.prompt);
      if (o.promptEmbeds instanceof Tensor) {
        this.checkEmbeds('promptEmbeds', o.promptEmbeds);
        counts.push(['promptEmbeds', o.promptEmbeds.shape[0]!]);
      } else if (isPlainObject(o.promptEmbeds)) {
        const keys = parsePromptMap(Object.fromEntries(Object.keys(o.promptEmbeds).map((k) => [k, ''])), numFrames, 'promptEmbeds');
        for (const k of keys) {
          const t = (o.promptEmbeds as Record<string, unknown>)[String(k.frame)] ?? (o.promptEmbeds as Record<string, unknown>)[k.frame];
          if (!(t instanceof Tensor)) throw new InvalidParameterError(`promptEmbeds[${k.frame}]`, 'a Tensor [1, T, C]', t);
          this.checkEmbeds(`promptEmbeds[${k.frame}]`, t);
          if (t.shape[0] !== 1) throw new InvalidParameterError(`promptEmbeds[${k.frame}]`, 'a Tensor [1, T, C]', t.shape);
        }
      } else throw new InvalidParameterError('promptEmbeds', 'a Tensor [N, T, C] or { frameIndex: Tensor [1, T, C] }', o.promptEmbeds);
      if (doCfg && o.negativePromptEmbeds === undefined && o.negativePrompt === undefined && !this.textEncoder)
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
      if (!this.textEncoder) throw new InvalidParameterError('prompt', `promptEmbeds: model '${m.name}' has no text encoder (exported without one)`, o.prompt);
    }
    const promptCount = counts.length ? counts[0]![1] : 1;
    if (o.negativePrompt !== undefined) {
      const negs = typeof o.negativePrompt === 'string' ? [o.negativePrompt] : o.negativePrompt;
      if (!Array.isArray(negs) || negs.length === 0 || !negs.every((p) => typeof p === 'string'))
        throw new InvalidParameterError('negativePrompt', 'a string or an array of strings', o.negativePrompt);
      if (negs.length !== 1 && negs.length !== promptCount)
        throw new InvalidParameterError('negativePrompt', `1 or ${promptCount} prompts (as many as prompt)`, `${negs.length} prompts`);
      if (o.negativePromptEmbeds !== undefined) throw new InvalidParameterError('negativePrompt', 'to be left out when negativePromptEmbeds is given', o.negativePrompt);
      if (!this.textEncoder) throw new InvalidParameterError('negativePrompt', `negativePromptEmbeds: model '${m.name}' has no text encoder`, o.negativePrompt);
    }
    if (o.negativePromptEmbeds !== undefined) {
      this.checkEmbeds('negativePromptEmbeds', o.negativePromptEmbeds);
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
      const shape = [this.manifest.inChannels, numFrames, height / s, width / s];
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
    };
  }

  /** 2. Text conditioning per video (one entry broadcasts to all). */
  private async prepareConditioning(o: GenerateOptions, args: Checked): Promise<Conditioning[]> {
    const owned: Tensor[] = [];
    const own = (t: Tensor): Tensor => (owned.push(t), t);
    try {
      let conds: Conditioning[];
      let negative: Tensor | undefined; // [1 or N, T, C]
      if (args.doCfg) {
        if (o.negativePromptEmbeds) negative = o.negativePromptEmbeds;
        else {
          const negs = o.negativePrompt === undefined ? [''] : typeof o.negativePrompt === 'string' ? [o.negativePrompt] : o.negativePrompt;
          negative = own(await this.encodeTexts(negs, args.clipSkip));
        }
      }
      const rowOf = (t: Tensor, i: number): Tensor => own(t.shape[0] === 1 ? t.clone() : t.narrow(0, i, 1).clone());

      if (isPromptMap(o.prompt) || (o.promptEmbeds !== undefined && !(o.promptEmbeds instanceof Tensor))) {
        // Prompt travel: one conditioning, keyframes encoded together.
        let keyframes: Keyframe<Tensor>[];
        if (o.promptEmbeds !== undefined) {
          const map = o.promptEmbeds as Record<string, Tensor>;
          keyframes = Object.keys(map)
            .map((k) => ({ frame: Number(k), value: own(map[k]!.clone()) }))
            .sort((a, b) => a.frame - b.frame);
        } else {
          const parsed = parsePromptMap(o.prompt as PromptMap, args.numFrames);
          const embeds = own(await this.encodeTexts(parsed.map((k) => k.value), args.clipSkip));
          keyframes = parsed.map((k, i) => ({ frame: k.frame, value: own(embeds.narrow(0, i, 1).clone()) }));
        }
        conds = [{ keyframes, uncond: negative && rowOf(negative, 0) }];
      } else {
        let positive: Tensor;
        if (o.promptEmbeds instanceof Tensor) positive = o.promptEmbeds;
        else {
          const prompts = typeof o.prompt === 'string' ? [o.prompt] : (o.prompt as string[]);
          positive = own(await this.encodeTexts(prompts, args.clipSkip));
        }
        const n = Math.max(positive.shape[0]!, negative?.shape[0] ?? 1);
        conds = Array.from({ length: n }, (_, i) => {
          const cond = rowOf(positive, i);
          const uncond = negative && rowOf(negative, i);
          return { cond, uncond, pair: uncond && own(cat([uncond, cond], 0)) };
        });
      }
      // Keep only what the conditionings reference.
      const used = new Set<Tensor>();
      for (const c of conds) for (const t of [c.cond, c.uncond, c.pair, ...(c.keyframes ?? []).map((k) => k.value)]) if (t) used.add(t);
      for (const t of owned) if (!used.has(t)) t.dispose();
      return conds;
    } catch (err) {
      for (const t of owned) t.dispose();
      throw err;
    }
  }

  /** 4. Initial noise [1, 4, F, h, w] × initNoiseSigma, float32 on the pipeline's device. */
  private async prepareLatents(args: Checked, scheduler: Scheduler, generator: Generator | undefined, given: Tensor | undefined, video: number): Promise<Tensor> {
    const s = this.vaeScaleFactor;
    const shape = [1, this.manifest.inChannels, args.numFrames, args.height / s, args.width / s];
    let noise: Tensor;
    if (given) {
      const row = given.shape[0] === 1 ? given : given.narrow(0, video, 1);
      noise = await row.to({ device: this.device, dtype: 'float32' });
      if (row !== given) row.dispose();
    } else if (generator) {
      // diffusers' randn_tensor: draw on the generator's device, then move.
      const drawn = randn(shape, { generator });
      if (sameDevice(drawn.device, this.device)) noise = drawn;
      else {
        try {
          noise = await drawn.to({ device: this.device });
        } finally {
          drawn.dispose();
        }
      }
    } else noise = randn(shape, { device: this.device });
    if (scheduler.initNoiseSigma === 1) return noise;
    const scaled = noise.mul(scheduler.initNoiseSigma);
    noise.dispose();
    return scaled;
  }

  /** 5. The denoising loop. Consumes `latents`; returns the final latents. */
  private async denoise(
    latents: Tensor,
    scheduler: Scheduler,
    cond: Conditioning,
    args: Checked,
    generator: Generator | undefined,
    o: GenerateOptions,
    video: number,
  ): Promise<Tensor> {
    const timesteps = scheduler.timesteps;
    const tracker = new ProgressTracker(timesteps.length);
    try {
      for (let i = 0; i < timesteps.length; i++) {
        throwIfAborted(o.signal);
        const t = timesteps[i]!;
        const eps = await this.predictNoise(latents, t, i, cond, scheduler, args, o.signal);
        let out: SchedulerOutput;
        try {
          out = await scheduler.step(eps, t, latents, { generator, ...(args.eta !== undefined && { eta: args.eta }) });
        } finally {
          eps.dispose();
        }
        const previewSource = out.predOriginalSample ?? out.prevSample;
        const preview = o.preview && o.onProgress ? await latentPreview(previewSource).catch(() => undefined) : undefined;
        for (const extra of new Set([out.predOriginalSample, out.denoised])) if (extra && extra !== out.prevSample && extra !== latents) extra.dispose();
        if (out.prevSample !== latents) latents.dispose();
        latents = out.prevSample;
        emitProgress(o.onProgress, { stage: 'denoise', ...tracker.tick(), timestep: t, video, videos: args.numVideos, ...(preview && { preview }) });
      }
      throwIfAborted(o.signal);
      return latents;
    } catch (err) {
      latents.dispose();
      throw err;
    }
  }

  /** The guided noise prediction for all frames, window by window when the video is longer than the context. */
  private async predictNoise(
    latents: Tensor,
    t: number,
    stepIndex: number,
    cond: Conditioning,
    scheduler: Scheduler,
    args: Checked,
    signal: AbortSignal | undefined,
  ): Promise<Tensor> {
    const numFrames = latents.shape[2]!;
    const scaled = scheduler.scaleModelInput(latents, t);
    try {
      if (numFrames <= args.contextLength) return await this.guidedUnet(scaled, t, cond, range(numFrames), numFrames, args);
      const windows = contextWindows(numFrames, {
        contextLength: args.contextLength,
        contextOverlap: args.contextOverlap,
        contextSchedule: args.contextSchedule,
        step: stepIndex,
      });
      const fuser = new ContextFuser(numFrames, args.fuseMethod);
      try {
        for (const w of windows) {
          throwIfAborted(signal);
          const x = gatherWindow(scaled, w);
          let eps: Tensor;
          try {
            eps = await this.guidedUnet(x, t, cond, w, numFrames, args);
          } finally {
            x.dispose();
          }
          try {
            fuser.add(w, eps);
          } finally {
            eps.dispose();
          }
        }
        return fuser.result();
      } finally {
        fuser.dispose();
      }
    } finally {
      if (scaled !== latents) scaled.dispose();
    }
  }

  /** One UNet call: batch [negative, positive] with guidance (eps = u + g (c − u)), else the positive alone. */
  private async guidedUnet(x: Tensor, t: number, cond: Conditioning, window: number[], numFrames: number, args: Checked): Promise<Tensor> {
    const temp: Tensor[] = [];
    try {
      let positive = cond.cond;
      if (cond.keyframes) {
        const centre = window[Math.floor(window.length / 2)]!;
        positive = interpolateEmbeddings(cond.keyframes, centre, { numFrames, loop: args.contextSchedule === 'looped' });
        temp.push(positive);
      }
      let context: Tensor;
      if (args.doCfg) {
        if (cond.pair && !cond.keyframes) context = cond.pair;
        else temp.push((context = cat([cond.uncond!, positive!], 0)));
      } else context = positive!;
      const b = args.doCfg ? 2 : 1;
      const input = args.doCfg ? cat([x, x], 0) : x;
      if (input !== x) temp.push(input);
      const ts = full([b], t, { device: this.device });
      temp.push(ts);
      const out = await this.unet.forward(input, ts, context);
      if (!(out instanceof Tensor)) throw new Error('unet: expected forward to return a Tensor');
      if (!args.doCfg) return out;
      temp.push(out);
      return tidy(() => {
        const [u, c] = out.chunk(2, 0) as [Tensor, Tensor];
        return u.add(c.sub(u).mul(args.guidanceScale));
      });
    } finally {
      for (const tt of temp) tt.dispose();
    }
  }

  // ---------------------------------------------------------------------------
  // Helpers.

  private async encodeTexts(texts: string[], clipSkip: number): Promise<Tensor> {
    if (!this.textEncoder || !this.tokenizer)
      throw new InvalidParameterError('prompt', `promptEmbeds: model '${this.manifest.name}' has no text encoder (exported without one)`, texts);
    // One text per call: a prompt's embedding then does not depend on the other prompts in the list
    // (batched BLAS kernels differ in the last bits), so a video is the same alone or in a batch.
    const rows: Tensor[] = [];
    try {
      for (const text of texts) rows.push(await this.encodeText(text, clipSkip));
      return rows.length === 1 ? rows.pop()! : cat(rows, 0);
    } finally {
      for (const r of rows) r.dispose();
    }
  }

  private async encodeText(text: string, clipSkip: number): Promise<Tensor> {
    const maxLength = this.manifest.textMaxLength;
    const { inputIds } = this.tokenizer!.encodeForModel(text, { maxLength });
    const ids = tensor(inputIds.flat(), [1, maxLength], { dtype: 'int64', device: this.device });
    try {
      const out = await this.textEncoder!.forward(ids, clipSkip);
      if (!(out instanceof Tensor)) throw new Error('text_encoder: expected forward to return a Tensor');
      if (out.ndim !== 3 || out.shape[2] !== this.manifest.crossAttentionDim) {
        const shape = out.shape;
        out.dispose();
        throw new Error(`text_encoder: expected [B, T, ${this.manifest.crossAttentionDim}] embeddings, got [${shape.join(', ')}]`);
      }
      return out;
    } finally {
      ids.dispose();
    }
  }

  private checkEmbeds(name: string, t: unknown): asserts t is Tensor {
    const c = this.manifest.crossAttentionDim;
    if (!(t instanceof Tensor) || t.disposed) throw new InvalidParameterError(name, `a Tensor [N, T, ${c}]`, t);
    if (t.ndim !== 3 || t.shape[2] !== c || t.shape[0]! < 1 || t.shape[1]! < 1)
      throw new InvalidParameterError(name, `shape [N, T, ${c}] (cross_attention_dim ${c})`, t.shape);
  }

  private checkClipSkip(clipSkip: number): void {
    const layers = this.manifest.textEncoder?.numLayers;
    assertInteger('clipSkip', clipSkip, 0, layers !== undefined ? layers - 1 : Infinity);
  }

  private checkSchedulerChoice(choice: unknown): void {
    if (typeof choice === 'string') return;
    if (isPlainObject(choice) && typeof choice.className === 'string') {
      if (choice.config !== undefined && !isPlainObject(choice.config)) throw new InvalidParameterError('scheduler.config', 'an object', choice.config);
      return;
    }
    if (typeof choice === 'object' && choice !== null && typeof (choice as Scheduler).step === 'function' && typeof (choice as Scheduler).setTimesteps === 'function') return;
    throw new InvalidParameterError('scheduler', 'a scheduler class name, { className, config } or a Scheduler', choice);
  }

  private makeScheduler(choice: SchedulerChoice | undefined): Scheduler {
    const base = this.manifest.scheduler as SchedulerConfig;
    if (choice === undefined) return createScheduler(base._class_name, base);
    if (typeof choice === 'string') return createScheduler(choice, base);
    if ('className' in choice && !('step' in choice)) return createScheduler(choice.className, { ...base, ...(choice.config ?? {}) });
    return choice as Scheduler;
  }

  private makeGenerator(seed: bigint, generatorDevice: 'cpu' | 'cuda' | undefined): Generator {
    return createGenerator(seed, generatorDevice === 'cuda' ? this.device : 'cpu');
  }

  private ensureNotDisposed(): void {
    if (this.disposedFlag) throw new Error('AnimateDiffPipeline: used after dispose()');
  }
}

/**
 * Loads an exported model folder (model.yaml + TorchScript files) onto `device`.
 * Folders exported with --no-text-encoder load too; pass promptEmbeds to them.
 */
export async function loadPipeline(modelDir: string, options: LoadPipelineOptions = {}): Promise<AnimateDiffPipeline> {
  const device = options.device ?? 'cpu';
  assertDevice('device', device);
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.verify !== undefined && typeof options.verify !== 'boolean') throw new InvalidParameterError('verify', 'a boolean', options.verify);
  throwIfAborted(options.signal);
  const manifest = await readModelManifest(modelDir);
  const modules = [manifest.unet.file, manifest.vae.file, ...(manifest.textEncoder ? [manifest.textEncoder.file] : [])];
  const problems = await checkModelFiles(manifest, { files: modules, sha256: options.verify === true, signal: options.signal });
  if (problems.length)
    throw new ModelManifestError(
      path.join(manifest.dir, MANIFEST_FILE),
      'files',
      `the folder does not match it; re-copy or re-export the model:\n  ${problems.join('\n  ')}`,
    );
  const dtype = options.dtype ?? (manifest.dtype as DType);
  assertDtypeSupported(device, dtype);
  const load = (file: string) => loadModule(file, { device, dtype: options.dtype, signal: options.signal });
  const settled = await Promise.allSettled(modules.map(load));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of settled) if (r.status === 'fulfilled') r.value?.dispose();
    throw failed.reason;
  }
  const [unet, vae, textEncoder] = settled.map((r) => (r as PromiseFulfilledResult<Module | undefined>).value);
  const tokenizer = textEncoder ? await loadClipTokenizer() : undefined;
  return new AnimateDiffPipeline({ manifest, unet: unet!, vae: vae!, textEncoder, tokenizer, device, dtype });
}

function disposeConditioning(conds: Conditioning[]): void {
  const seen = new Set<Tensor>();
  for (const c of conds) for (const t of [c.cond, c.uncond, c.pair, ...(c.keyframes ?? []).map((k) => k.value)]) if (t && !seen.has(t)) (seen.add(t), t.dispose());
}


const sameDevice = (a: Device, b: Device): boolean => a === b || (a === 'cuda' && b === 'cuda:0') || (a === 'cuda:0' && b === 'cuda');

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
