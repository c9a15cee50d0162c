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
import { AbortError, DisposedError, InvalidParameterError, throwIfAborted } from '../errors';
import { createGenerator, type Generator } from '../generator';
import { releaseHostCache } from '../host-cache';
import type { ModelManifest, SchedulerConfig } from '../model-manifest';
import { createScheduler } from '../schedulers';
import type { Scheduler } from '../schedulers/scheduling-utils';
import { type Device, type DType, Tensor, tidy } from '../tensor';
import type { CLIPTokenizer } from '../tokenizers/clip';
import { loadModule, type Module } from '../torchscript-module';
import { assertInteger, assertOneOf, assertPositive } from '../validate';
import { FrameBuffer } from '../video/video-processor';
import { decodeFrames, resolveTilingOptions } from '../video/vae-tiling';
import {
  checkInputs,
  type CheckedInputs,
  DEFAULT_FPS,
  type DecodeLatentsOptions,
  type EncodePromptOptions,
  type GenerateOptions,
  type SchedulerChoice,
} from './animatediff-inputs';
import { disposeConditioning, encodePrompt, prepareConditioning } from './conditioning';
import { ControlState } from './controlnet';
import { denoise, freeInitDenoise, type VideoConditioning } from './denoising-loop';
import { startFreeNoise } from './free-noise';
import type { AnimateDiffLatentsOutput, AnimateDiffPipelineOutput, VideoFrames } from './pipeline-output';
import { VaeDecodeError } from './pipeline-output';
import { emitProgress, ProgressTracker } from './progress';
import { drawNoise } from './noise';
import { FirstFrameAnchor, repeatImage } from './image-to-video';
import { encodeVideoLatents, preprocessVideo, strengthTimesteps, type VideoInput } from './video-to-video';
import { StageModule } from './stage-module';

export interface AnimateDiffComponents {
  manifest: ModelManifest;
  /** Loaded Modules are held until dispose(); loadPipeline() passes StageModules (its keepModules option). */
  unet: Module | StageModule;
  vae: Module | StageModule;
  textEncoder?: Module | StageModule;
  tokenizer?: CLIPTokenizer;
  /** The VAE encoder (video-to-video); loaded from model.yaml's vae.encoder_file on first use when absent. */
  vaeEncoder?: Module;
  device: Device;
  dtype: DType;
}

type Result = AnimateDiffPipelineOutput<Uint8Array> | AnimateDiffPipelineOutput<Float32Array> | AnimateDiffLatentsOutput;

export class AnimateDiffPipeline {
  readonly manifest: ModelManifest;
  readonly unet: StageModule;
  readonly vae: StageModule;
  readonly textEncoder?: StageModule;
  readonly tokenizer?: CLIPTokenizer;
  readonly device: Device;
  readonly dtype: DType;
  private vaeEncoder?: Module;
  private disposedFlag = false;

  /** Takes ownership of the modules (dispose() frees them). Use loadPipeline() to load a folder. */
  constructor(components: AnimateDiffComponents) {
    this.manifest = components.manifest;
    const stage = (m: Module | StageModule): StageModule => (m instanceof StageModule ? m : StageModule.resident(m));
    this.unet = stage(components.unet);
    this.vae = stage(components.vae);
    this.textEncoder = components.textEncoder && stage(components.textEncoder);
    this.tokenizer = components.tokenizer;
    this.device = components.device;
    this.dtype = components.dtype;
    this.vaeEncoder = components.vaeEncoder;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Image pixels per latent pixel (8 for the SD VAE), from the model's VAE. */
  get vaeScaleFactor(): number {
    return this.manifest.vae.scaleFactor;
  }

  /**
   * Renders one video: one prompt (or prompt map), one seed. For several videos (a list of seeds or
   * prompts, a batch of latents or embeddings) use generateMany(), which always returns an array.
   */
  async generate(options: GenerateOptions & { outputType: 'latents' }): Promise<AnimateDiffLatentsOutput>;
  async generate(options: GenerateOptions & { outputType: 'float' }): Promise<AnimateDiffPipelineOutput<Float32Array>>;
  async generate(options?: GenerateOptions & { outputType?: 'uint8' }): Promise<AnimateDiffPipelineOutput>;
  async generate(options?: GenerateOptions): Promise<Result>;
  async generate(options: GenerateOptions = {}): Promise<Result> {
    return (await this.run(options, true))[0]!;
  }

  /** Renders one video per seed / prompt / batch row, one after another; always an array (of one for a single video). */
  async generateMany(options: GenerateOptions & { outputType: 'latents' }): Promise<AnimateDiffLatentsOutput[]>;
  async generateMany(options: GenerateOptions & { outputType: 'float' }): Promise<AnimateDiffPipelineOutput<Float32Array>[]>;
  async generateMany(options?: GenerateOptions & { outputType?: 'uint8' }): Promise<AnimateDiffPipelineOutput[]>;
  async generateMany(options?: GenerateOptions): Promise<Result[]>;
  async generateMany(options: GenerateOptions = {}): Promise<Result[]> {
    return this.run(options, false);
  }

  private async run(options: GenerateOptions, single: boolean): Promise<Result[]> {
    this.ensureNotDisposed();
    // 1. Check inputs. Raise error if not correct
    const args = checkInputs(this, options);
    if (single && args.numVideos > 1) {
      const source = (['seeds', 'prompt', 'promptEmbeds', 'latents'] as const).find((k) => {
        const v = options[k] as unknown;
        return Array.isArray(v) ? v.length > 1 : v instanceof Tensor && v.shape[0]! > 1;
      });
      throw new InvalidParameterError(source ?? 'options', `one video per generate() call (generateMany() renders several and returns an array)`, `${args.numVideos} videos`);
    }
    throwIfAborted(options.signal);
    // on CPU the UNet's mapped weights are read into the page cache while the prompt encodes (when
    // evicted since: else step 1 reads them from disk); its load waits for the rest
    this.unet.readAhead();

    // 2. Encode input prompt (keepModules 'stage': the text encoder is freed before the UNet loads; on CPU
    // the host cache keeps its freed weights' pages for the UNet's tensors)
    let conditioning;
    try {
      conditioning = await prepareConditioning(this, options, args);
    } finally {
      this.textEncoder?.release(conditioning !== undefined);
      if (conditioning === undefined) this.unet.cancelReadAhead();
    }
    const results: Result[] = [];
    const anchors: (FirstFrameAnchor | undefined)[] = []; // image-to-video with anchorFirstFrame, one per video
    let control: ControlState | undefined;
    try {
      if (args.controlnet) control = await ControlState.prepare({ manifest: this.manifest, device: this.device, dtype: this.dtype, encodeMoments: (x) => this.vaeMoments(x, options.signal) }, args.controlnet, { height: args.height, width: args.width }, options.signal);
      const ctx = control ? { unet: this.unet, device: this.device, control } : this;
      for (let v = 0; v < args.numVideos; v++) {
        throwIfAborted(options.signal);
        const generator = options.generator ?? (args.seeds[v] !== undefined ? this.makeGenerator(args.seeds[v]!, options.generatorDevice) : undefined);
        // a caller's generator: its initial seed is the keyframe seed (read, not drawn: the noise stays as it was)
        await control?.startVideo(args.numFrames, args.seeds[v] ?? options.generator?.initialSeed, this.manifest.vae.scalingFactor, this.device);
        // 3. Prepare timesteps
        const scheduler = this.makeScheduler(options.scheduler);
        try {
          let timesteps: number[];
          let latents: Tensor;
          if (args.videoToVideo) {
            // video-to-video (image-to-video: the still repeated): the timesteps strength keeps; 4. the encoded video, noised to the first of them
            const { strength, enforceInferenceSteps } = args.videoToVideo;
            timesteps = strengthTimesteps(scheduler, args.steps, strength, enforceInferenceSteps);
            const video = options.image !== undefined ? repeatImage(options.image, args.numFrames) : options.video!;
            const anchor = args.imageToVideo?.anchorFirstFrame;
            try {
              latents = await this.prepareVideoLatents(video, args, scheduler, timesteps[0]!, generator, options.signal, anchor ? (i, n) => (anchors[v] = FirstFrameAnchor.fromEncoding(i, n)) : undefined);
            } finally {
              if (video !== options.video && video instanceof Tensor) video.dispose();
            }
          } else {
            scheduler.setTimesteps(args.steps);
            timesteps = scheduler.timesteps;
            // 4. Prepare latent variables
            latents = await this.prepareLatents(args, scheduler, generator, options.latents, v);
          }
          // 5. Denoising loop (with FreeInit: once per iteration, the noise re-initialised in between)
          let cond: VideoConditioning = conditioning[conditioning.length === 1 ? 0 : v]!;
          // FreeNoise: shuffled noise and per-frame prompts for its windowed motion modules
          if (args.freeNoise)
            ({ latents, cond } = await startFreeNoise(args.freeNoise, latents, cond, { generator, givenLatents: !!options.latents, numFrames: args.numFrames, doCfg: args.doCfg, device: this.device }));
          await this.unet.load(options.signal); // before step 1, so that its time is not the step's
          try {
            latents = args.freeInit
              ? await freeInitDenoise(ctx, latents, scheduler, cond, args, generator, options, v)
              : await denoise(ctx, latents, scheduler, timesteps, cond, args, generator, options, v, undefined, anchors[v] && ((x, i) => anchors[v]!.afterStep(x, scheduler, timesteps, i)));
          } finally {
            cond.freeNoise?.dispose();
            this.unet.release(args.outputType !== 'latents'); // its free pages serve the decode
          }
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
          anchors[v]?.dispose();
        }
      }
    } catch (err) {
      for (const r of results) if ('latents' in r && !(err instanceof VaeDecodeError && r.latents === err.latents)) r.latents.dispose();
      throw err;
    } finally {
      disposeConditioning(conditioning);
      control?.dispose();
      this.unet.cancelReadAhead(); // an error before the UNet's stage: the read is not needed now
      releaseHostCache(); // what a stage kept for the next and no stage took (an error, latents out)
    }
    return results;
  }

  /**
   * Text embeddings, as diffusers' encode_prompt: `promptEmbeds` [P, 77, C] and,
   * with guidance, `negativePromptEmbeds` ('' unless given). The caller owns them.
   */
  async encodePrompt(prompt: string | string[], options: EncodePromptOptions = {}): Promise<{ promptEmbeds: Tensor; negativePromptEmbeds?: Tensor }> {
    this.ensureNotDisposed();
    try {
      return await encodePrompt(this, prompt, options);
    } finally {
      this.textEncoder?.release();
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
      assertPositive('fps', fps);
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
      this.vae.release();
    }
  }

  /** Frees the models. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.unet.dispose();
    this.vae.dispose();
    this.textEncoder?.dispose();
    this.vaeEncoder?.dispose();
    releaseHostCache(); // the freed weights that went through it (the text encoder's)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  // ---------------------------------------------------------------------------
  // The numbered steps (1. checkInputs and 2. prepareConditioning have their own files).

  /** 1. Validates every argument before any work, and resolves defaults. */
  checkInputs(o: GenerateOptions): CheckedInputs {
    return checkInputs(this, o);
  }

  /** 4. Initial noise [1, 4, F, h, w] × initNoiseSigma, float32 on the pipeline's device. */
  private async prepareLatents(args: CheckedInputs, scheduler: Scheduler, generator: Generator | undefined, given: Tensor | undefined, video: number): Promise<Tensor> {
    const s = this.vaeScaleFactor;
    const shape = [1, this.manifest.inChannels, args.numFrames, args.height / s, args.width / s];
    let noise: Tensor;
    if (given) {
      const row = given.shape[0] === 1 ? given : given.narrow(0, video, 1);
      noise = await row.to({ device: this.device, dtype: 'float32' });
      if (row !== given) row.dispose();
    } else noise = await drawNoise(shape, generator, this.device);
    if (scheduler.initNoiseSigma === 1) return noise;
    const scaled = noise.mul(scheduler.initNoiseSigma);
    noise.dispose();
    return scaled;
  }

  /** 4 (video-to-video). The init video encoded (posterior sampled) and noised to `timestep`: [1, 4, F, h, w]. */
  private async prepareVideoLatents(
    video: VideoInput,
    args: CheckedInputs,
    scheduler: Scheduler,
    timestep: number,
    generator: Generator | undefined,
    signal: AbortSignal | undefined,
    onEncoded?: (init: Tensor, noise: Tensor) => void,
  ): Promise<Tensor> {
    this.vaeEncoder ??= await loadModule(this.manifest.vae.encoderFile!, { device: this.device, dtype: this.dtype, signal });
    const images = await preprocessVideo(video, this.device);
    try {
      return await encodeVideoLatents(this.vaeEncoder, images, {
        chunkSize: args.decodeChunkSize,
        scalingFactor: this.manifest.vae.scalingFactor,
        scheduler,
        timestep,
        generator,
        device: this.device,
        signal,
        onEncoded,
      });
    } finally {
      images.dispose();
    }
  }

  /** The VAE posterior (mean, logvar) of images [N, 3, H, W] in [-1, 1], in one batch (SparseCtrl keyframes). */
  private async vaeMoments(images: Tensor, signal: AbortSignal | undefined): Promise<[Tensor, Tensor]> {
    this.vaeEncoder ??= await loadModule(this.manifest.vae.encoderFile!, { device: this.device, dtype: this.dtype, signal });
    const out = await this.vaeEncoder.call('moments', images);
    if (!Array.isArray(out) || !(out[0] instanceof Tensor) || !(out[1] instanceof Tensor)) throw new Error('vae encoder: expected moments() to return (mean, logvar)');
    return [out[0], out[1]];
  }

  // ---------------------------------------------------------------------------
  // Helpers.

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
    if (this.disposedFlag) throw new DisposedError('AnimateDiffPipeline');
  }
}
