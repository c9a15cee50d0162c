/**
 * StableVideoDiffusionPipeline: image-to-video with an exported SVD / SVD-XT folder (model.yaml `family: svd`).
 *
 * generate() follows diffusers' StableVideoDiffusionPipeline.__call__: 3. CLIP image embeddings (zeros as the
 * negative), fps − 1; 4. the image for the VAE (2x − 1) plus noise_aug_strength × randn (the call's generator,
 * drawn first), encoded to its latent mode (zeros as the negative); 5. added_time_ids [fps − 1, motion bucket,
 * noise aug]; 6. timesteps; 7. latents (randn × init_noise_sigma); 8. guidance ramped per frame from min to max;
 * 9. per step: scale_model_input, image latents concatenated on channels, one UNet call on [negative, positive],
 * guidance, scheduler step; then decode_latents in chunks, each chunk's frame count given to the temporal decoder.
 */
import { AbortError, DisposedError, throwIfAborted } from '../errors';
import { createGenerator, type Generator } from '../generator';
import type { ModelManifest, SchedulerConfig } from '../model-manifest';
import { createScheduler } from '../schedulers';
import type { Scheduler } from '../schedulers/scheduling-utils';
import { type Device, type DType, Tensor, tidy } from '../tensor';
import { cat, full, linspace, tensor, zeros } from '../tensor-factories';
import type { Module } from '../torchscript-module';
import { latentPreview } from '../video/latent-preview';
import { FrameBuffer } from '../video/video-processor';
import type { SchedulerChoice } from './animatediff-inputs';
import { drawNoise } from './noise';
import type { AnimateDiffLatentsOutput, AnimateDiffPipelineOutput, VideoFrames } from './pipeline-output';
import { VaeDecodeError } from './pipeline-output';
import { emitProgress, type ProgressCallback, ProgressTracker } from './progress';
import { clipPixelValues, type ImageInput, imageToTensor } from './svd-image';
import { checkSvdInputs, type SvdCheckedInputs, type SvdGenerateOptions } from './svd-inputs';
import { readSvdSettings, type SvdSettings } from './svd-settings';

export interface SvdComponents {
  manifest: ModelManifest;
  unet: Module;
  vae: Module;
  vaeEncoder: Module;
  imageEncoder: Module;
  device: Device;
  dtype: DType;
}

type Result = AnimateDiffPipelineOutput<Uint8Array> | AnimateDiffPipelineOutput<Float32Array> | AnimateDiffLatentsOutput;

export class StableVideoDiffusionPipeline {
  readonly family = 'svd';
  readonly manifest: ModelManifest;
  readonly settings: SvdSettings;
  readonly unet: Module;
  readonly vae: Module;
  readonly vaeEncoder: Module;
  readonly imageEncoder: Module;
  readonly device: Device;
  readonly dtype: DType;
  private disposedFlag = false;

  /** Takes ownership of the modules (dispose() frees them). Use loadPipeline() to load a folder. */
  constructor(c: SvdComponents) {
    this.manifest = c.manifest;
    this.settings = readSvdSettings(c.manifest);
    this.unet = c.unet;
    this.vae = c.vae;
    this.vaeEncoder = c.vaeEncoder;
    this.imageEncoder = c.imageEncoder;
    this.device = c.device;
    this.dtype = c.dtype;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  get vaeScaleFactor(): number {
    return this.manifest.vae.scaleFactor;
  }

  /** One video from one image. */
  async generate(options: SvdGenerateOptions & { outputType: 'latents' }): Promise<AnimateDiffLatentsOutput>;
  async generate(options: SvdGenerateOptions & { outputType: 'float' }): Promise<AnimateDiffPipelineOutput<Float32Array>>;
  async generate(options: SvdGenerateOptions & { outputType?: 'uint8' }): Promise<AnimateDiffPipelineOutput>;
  async generate(options: SvdGenerateOptions): Promise<Result>;
  async generate(options: SvdGenerateOptions): Promise<Result> {
    this.ensureNotDisposed();
    const args = checkSvdInputs({ manifest: this.manifest, numFrames: this.settings.numFrames, imageEmbedDim: this.settings.projectionDim, vaeScaleFactor: this.vaeScaleFactor }, options);
    throwIfAborted(options.signal);
    const generator = options.generator ?? (args.seed !== undefined ? createGenerator(args.seed) : undefined);
    const temp: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (temp.push(t), t);
    const scheduler = this.makeScheduler(options.scheduler);
    let latents: Tensor | undefined;
    try {
      const image = options.image !== undefined ? keep(await imageToTensor(options.image, this.device)) : undefined;
      // 3. Encode input image (CLIP), the negative being zeros
      const embeds = options.imageEmbeds ? keep(await options.imageEmbeds.to({ device: this.device, dtype: 'float32' })) : keep(await this.encodeImage(image!));
      const embeds3 = embeds.ndim === 2 ? keep(embeds.unsqueeze(1)) : embeds;
      const context = args.doCfg ? keep(cat([keep(zeros(embeds3.shape, { device: this.device })), embeds3], 0)) : embeds3;
      // 4. Encode input image using VAE: noise augmentation from the call's generator (drawn even when imageLatents is given)
      const imageLatents = keep(await this.encodeVaeImage(image, options.imageLatents, args, generator, keep));
      const b = args.doCfg ? 2 : 1;
      const condLatents = keep(
        tidy(() => {
          const both = args.doCfg ? cat([zeros(imageLatents.shape, { device: this.device }), imageLatents], 0) : imageLatents;
          return both.unsqueeze(1).repeat([1, args.numFrames, 1, 1, 1]);
        }),
      );
      // 5. Get Added Time IDs (fps − 1: SVD was conditioned on it)
      const ids = [args.fps - 1, args.motionBucketId, args.noiseAugStrength];
      const addedTimeIds = keep(tensor(new Float32Array(Array.from({ length: b }, () => ids).flat()), [b, 3], { device: this.device }));
      // 6. Prepare timesteps
      scheduler.setTimesteps(args.steps);
      // 7. Prepare latent variables
      latents = await this.prepareLatents(args, scheduler, generator, options.latents);
      // 8. Prepare guidance scale: linspace(min, max, F) per frame
      const guidance = keep(tidy(() => linspace(args.minGuidanceScale, args.maxGuidanceScale, args.numFrames, { device: this.device }).reshape([1, args.numFrames, 1, 1, 1])));
      // 9. Denoising loop
      latents = await this.denoise(latents, scheduler, context, condLatents, addedTimeIds, guidance, args, options);
      if (args.outputType === 'latents') {
        const out = latents;
        latents = undefined;
        return { latents: out, shape: out.shape, ...(args.seed !== undefined && { seed: args.seed }) };
      }
      let video: VideoFrames<Uint8Array | Float32Array>;
      try {
        video = await this.decodeLatents(latents, { decodeChunkSize: args.decodeChunkSize, outputType: args.outputType, fps: args.fps, signal: options.signal, onProgress: options.onProgress });
      } catch (err) {
        if (err instanceof AbortError || (err as Error)?.name === 'AbortError' || options.signal?.aborted) throw err;
        const kept = latents;
        latents = undefined;
        throw new VaeDecodeError(kept, { cause: err });
      }
      return { ...video, ...(args.seed !== undefined && { seed: args.seed }) } as Result;
    } finally {
      latents?.dispose();
      for (const t of new Set(temp)) t.dispose();
      scheduler.dispose?.();
    }
  }

  /** _encode_image: [1, 3, H, W] in [0, 1] -> CLIP image embeddings [1, 1, D]. The caller owns the result. */
  async encodeImage(image01: Tensor): Promise<Tensor> {
    this.ensureNotDisposed();
    const s = this.settings;
    const pixels = clipPixelValues(image01, s.imageSize, s.imageMean, s.imageStd);
    try {
      const out = await this.imageEncoder.forward(pixels);
      if (!(out instanceof Tensor)) throw new Error('image_encoder: expected forward to return a Tensor');
      try {
        return tidy(() => out.astype('float32').unsqueeze(1));
      } finally {
        out.dispose();
      }
    } finally {
      pixels.dispose();
    }
  }

  /** 4. Noise-augmented image -> VAE latent mode [1, 4, h, w] (or the given imageLatents, the noise still drawn). */
  private async encodeVaeImage(image: Tensor | undefined, given: Tensor | undefined, args: SvdCheckedInputs, generator: Generator | undefined, keep: (t: Tensor) => Tensor): Promise<Tensor> {
    const noise = keep(await drawNoise([1, 3, args.height, args.width], generator, this.device));
    if (given) return given.to({ device: this.device, dtype: 'float32' });
    const x = keep(tidy(() => image!.mul(2).sub(1).add(noise.mul(args.noiseAugStrength))));
    const out = await this.vaeEncoder.forward(x);
    if (!(out instanceof Tensor)) throw new Error('vae encoder: expected forward to return a Tensor');
    return out;
  }

  /** 7. randn [1, F, 4, h, w] × init_noise_sigma (or the given latents). */
  private async prepareLatents(args: SvdCheckedInputs, scheduler: Scheduler, generator: Generator | undefined, given: Tensor | undefined): Promise<Tensor> {
    const s = this.vaeScaleFactor;
    const noise = given ? await given.to({ device: this.device, dtype: 'float32' }) : await drawNoise([1, args.numFrames, 4, args.height / s, args.width / s], generator, this.device);
    try {
      return noise.mul(scheduler.initNoiseSigma);
    } finally {
      noise.dispose();
    }
  }

  /** 9. The loop; consumes `latents`. */
  private async denoise(latents: Tensor, scheduler: Scheduler, context: Tensor, condLatents: Tensor, addedTimeIds: Tensor, guidance: Tensor, args: SvdCheckedInputs, o: SvdGenerateOptions): Promise<Tensor> {
    const timesteps = scheduler.timesteps;
    const tracker = new ProgressTracker(timesteps.length);
    const b = args.doCfg ? 2 : 1;
    try {
      for (let i = 0; i < timesteps.length; i++) {
        throwIfAborted(o.signal);
        const t = timesteps[i]!;
        const pred = await this.guidedUnet(latents, t, b, scheduler, context, condLatents, addedTimeIds, guidance);
        let out;
        try {
          out = await scheduler.step(pred, t, latents);
        } finally {
          pred.dispose();
        }
        const preview = o.preview && o.onProgress ? await this.preview(out.predOriginalSample ?? out.prevSample) : undefined;
        for (const extra of new Set([out.predOriginalSample, out.denoised])) if (extra && extra !== out.prevSample && extra !== latents) extra.dispose();
        if (out.prevSample !== latents) latents.dispose();
        latents = out.prevSample;
        emitProgress(o.onProgress, { stage: 'denoise', ...tracker.tick(), timestep: t, video: 0, videos: 1, ...(preview && { preview }) });
      }
      throwIfAborted(o.signal);
      return latents;
    } catch (err) {
      latents.dispose();
      throw err;
    }
  }

  private async guidedUnet(latents: Tensor, t: number, b: number, scheduler: Scheduler, context: Tensor, condLatents: Tensor, ids: Tensor, guidance: Tensor): Promise<Tensor> {
    const input = tidy(() => {
      const doubled = b === 2 ? cat([latents, latents], 0) : latents;
      const scaled = scheduler.scaleModelInput(doubled, t);
      return cat([scaled, condLatents], 2);
    });
    const ts = full([b], t, { device: this.device });
    let out;
    try {
      out = await this.unet.forward(input, ts, context, ids);
    } finally {
      input.dispose();
      ts.dispose();
    }
    if (!(out instanceof Tensor)) throw new Error('unet: expected forward to return a Tensor');
    if (b === 1) return out;
    try {
      return tidy(() => {
        const [u, c] = out.chunk(2, 0) as [Tensor, Tensor];
        return u.add(guidance.mul(c.sub(u)));
      });
    } finally {
      out.dispose();
    }
  }

  private async preview(latents: Tensor) {
    const video = latents.permute([0, 2, 1, 3, 4]); // [1, F, 4, h, w] -> the [B, 4, F, h, w] latentPreview takes
    try {
      return await latentPreview(video).catch(() => undefined);
    } finally {
      video.dispose();
    }
  }

  /**
   * decode_latents: latents [1, F, 4, h, w] (raw) divided by the scaling factor, decoded `decodeChunkSize`
   * frames per call with num_frames = the chunk's length. Not consumed.
   */
  async decodeLatents(latents: Tensor, options: { decodeChunkSize?: number; outputType?: 'uint8' | 'float'; fps?: number; signal?: AbortSignal; onProgress?: ProgressCallback } = {}): Promise<VideoFrames<Uint8Array | Float32Array>> {
    this.ensureNotDisposed();
    const [, f, c, h, w] = latents.shape as [number, number, number, number, number];
    const chunk = options.decodeChunkSize ?? f;
    const s = this.vaeScaleFactor;
    const buffer = new FrameBuffer(f, h * s, w * s, options.outputType ?? 'uint8');
    const tracker = new ProgressTracker(Math.ceil(f / chunk));
    const frames = tidy(() => latents.reshape([f, c, h, w]).mul(1 / this.manifest.vae.scalingFactor));
    try {
      for (let i = 0; i < f; i += chunk) {
        throwIfAborted(options.signal);
        const n = Math.min(chunk, f - i);
        const z = frames.narrow(0, i, n);
        let images;
        try {
          images = await this.vae.forward(z, n);
        } finally {
          z.dispose();
        }
        if (!(images instanceof Tensor)) throw new Error('vae: expected forward to return a Tensor');
        try {
          await buffer.append(images);
        } finally {
          images.dispose();
        }
        emitProgress(options.onProgress, { stage: 'decode', ...tracker.tick(), video: 0, videos: 1 });
      }
    } finally {
      frames.dispose();
    }
    return { frames: buffer.data, shape: buffer.shape, fps: options.fps ?? this.settings.defaultFps };
  }

  /** Frees the models. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const m of [this.unet, this.vae, this.vaeEncoder, this.imageEncoder]) m.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  private makeScheduler(choice: SchedulerChoice | undefined): Scheduler {
    const base = this.manifest.scheduler as SchedulerConfig;
    if (choice === undefined) return createScheduler(base._class_name, base);
    if (typeof choice === 'string') return createScheduler(choice, base);
    if ('className' in choice && !('step' in choice)) return createScheduler(choice.className, { ...base, ...(choice.config ?? {}) });
    return choice as Scheduler;
  }

  private ensureNotDisposed(): void {
    if (this.disposedFlag) throw new DisposedError('StableVideoDiffusionPipeline');
  }
}

export type { ImageInput };
