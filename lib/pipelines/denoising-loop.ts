/**
 * Step 5 of generate(): the denoising loop (diffusers' `for i, t in enumerate(timesteps)`), with
 * FreeInit's iterations around it, sliding context windows inside each step, and one guided
 * UNet call per window (the batch [negative, positive]).
 */
import { throwIfAborted } from '../errors';
import type { Generator } from '../generator';
import type { Scheduler, SchedulerOutput } from '../schedulers/scheduling-utils';
import { type Device, Tensor, tidy } from '../tensor';
import { cat, full } from '../tensor-factories';
import type { Module, ModuleInput } from '../torchscript-module';
import { latentPreview } from '../video/latent-preview';
import type { CheckedInputs, GenerateOptions } from './animatediff-inputs';
import type { Conditioning } from './conditioning';
import type { FreeNoiseRun } from './free-noise';

/** One video's conditioning, with its per-frame FreeNoise inputs when FreeNoise is on. */
export type VideoConditioning = Conditioning & { freeNoise?: FreeNoiseRun };
import { ContextFuser, contextWindows, gatherWindow } from './context-windows';
import { controlResiduals, type ControlState } from './controlnet';
import { freeInitSteps, reinitializeNoise } from './free-init';
import { drawNoise } from './noise';
import { emitProgress, ProgressTracker } from './progress';
import { interpolateEmbeddings } from './prompt-travel';

/** What the loop needs of the pipeline. */
export interface DenoiseContext {
  readonly unet: Pick<Module, 'forward'>;
  readonly device: Device;
  /** The call's ControlNets, when it has any. */
  readonly control?: ControlState;
}

/** Where a step stands in its loop (ControlNets' guidanceStart/End are fractions of it). */
export interface StepPosition {
  stepIndex: number;
  numSteps: number;
}

/**
 * 5 with FreeInit (diffusers' FreeInitMixin): iteration 0 denoises the initial noise; each later one starts
 * from the previous result diffused back to the last training timestep with that noise, low-pass filtered
 * and topped up with fresh high-frequency noise from `generator`. Consumes `latents`.
 */
export async function freeInitDenoise(
  ctx: DenoiseContext,
  latents: Tensor,
  scheduler: Scheduler,
  cond: VideoConditioning,
  args: CheckedInputs,
  generator: Generator | undefined,
  o: GenerateOptions,
  video: number,
): Promise<Tensor> {
  const fi = args.freeInit!;
  let initialNoise: Tensor;
  try {
    initialNoise = latents.clone();
  } catch (err) {
    latents.dispose();
    throw err;
  }
  try {
    for (let it = 0; it < fi.iterations; it++) {
      if (it > 0) {
        try {
          throwIfAborted(o.signal);
          const zRand = await drawNoise(latents.shape, generator, ctx.device);
          try {
            const mixed = reinitializeNoise(latents, initialNoise, zRand, scheduler, fi, ctx.device);
            latents.dispose();
            latents = mixed;
          } finally {
            zRand.dispose();
          }
        } catch (err) {
          latents.dispose();
          throw err;
        }
      }
      scheduler.setTimesteps(freeInitSteps(args.steps, fi, it));
      latents = await denoise(ctx, latents, scheduler, scheduler.timesteps, cond, args, generator, o, video, { iteration: it, iterations: fi.iterations });
    }
    return latents;
  } finally {
    initialNoise.dispose();
  }
}

/** 5. The denoising loop over `timesteps`. Consumes `latents`; returns the final latents. */
export async function denoise(
  ctx: DenoiseContext,
  latents: Tensor,
  scheduler: Scheduler,
  timesteps: number[],
  cond: VideoConditioning,
  args: CheckedInputs,
  generator: Generator | undefined,
  o: GenerateOptions,
  video: number,
  freeInit?: { iteration: number; iterations: number },
  /** Rewrites the latents after step i (image-to-video's first-frame anchor); returns a new tensor. */
  afterStep?: (latents: Tensor, i: number) => Tensor,
): Promise<Tensor> {
  const tracker = new ProgressTracker(timesteps.length);
  try {
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(o.signal);
      const t = timesteps[i]!;
      const eps = await predictNoise(ctx, latents, t, i, cond, scheduler, args, o.signal, timesteps.length);
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
      if (afterStep) {
        const next = afterStep(latents, i);
        latents.dispose();
        latents = next;
      }
      emitProgress(o.onProgress, {
        stage: 'denoise',
        ...tracker.tick(),
        timestep: t,
        video,
        videos: args.numVideos,
        ...(freeInit && { freeInitIteration: freeInit.iteration, freeInitIterations: freeInit.iterations }),
        ...(preview && { preview }),
      });
    }
    throwIfAborted(o.signal);
    return latents;
  } catch (err) {
    latents.dispose();
    throw err;
  }
}

/** The guided noise prediction for all frames, window by window when the video is longer than the context. */
export async function predictNoise(
  ctx: DenoiseContext,
  latents: Tensor,
  t: number,
  stepIndex: number,
  cond: VideoConditioning,
  scheduler: Scheduler,
  args: CheckedInputs,
  signal: AbortSignal | undefined,
  numSteps = stepIndex + 1,
): Promise<Tensor> {
  const step: StepPosition = { stepIndex, numSteps };
  const numFrames = latents.shape[2]!;
  const scaled = scheduler.scaleModelInput(latents, t);
  try {
    if (numFrames <= args.contextLength || cond.freeNoise) return await guidedUnet(ctx, scaled, t, cond, range(numFrames), numFrames, args, step);
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
          eps = await guidedUnet(ctx, x, t, cond, w, numFrames, args, step);
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
export async function guidedUnet(
  ctx: DenoiseContext,
  x: Tensor,
  t: number,
  cond: VideoConditioning,
  window: number[],
  numFrames: number,
  args: CheckedInputs,
  step?: StepPosition,
): Promise<Tensor> {
  const temp: Tensor[] = [];
  try {
    let positive = cond.cond;
    if (cond.freeNoise) positive = undefined;
    else if (cond.keyframes) {
      const centre = window[Math.floor(window.length / 2)]!;
      positive = interpolateEmbeddings(cond.keyframes, centre, { numFrames, loop: args.contextSchedule === 'looped' });
      temp.push(positive);
    }
    let context: Tensor;
    if (cond.freeNoise) context = cond.freeNoise.context;
    else if (args.doCfg) {
      if (cond.pair && !cond.keyframes) context = cond.pair;
      else temp.push((context = cat([cond.uncond!, positive!], 0)));
    } else context = positive!;
    const b = args.doCfg ? 2 : 1;
    const input = args.doCfg ? cat([x, x], 0) : x;
    if (input !== x) temp.push(input);
    const ts = full([b], t, { device: ctx.device });
    temp.push(ts);
    let residuals: Tensor[] | undefined;
    if (ctx.control && step) {
      const ts1 = args.doCfg ? full([1], t, { device: ctx.device }) : ts;
      if (ts1 !== ts) temp.push(ts1);
      residuals = await controlResiduals(ctx.control, { ...step, x, input, ts, ts1, context, positive: positive!, doCfg: args.doCfg, window });
      if (residuals) temp.push(...residuals);
    }
    const out = await ctx.unet.forward(input, ts, context, ...unetExtras(cond, args, residuals));
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

/**
 * The UNet's optional inputs after the three required ones (model.yaml unet.inputs: ControlNet residuals,
 * motion_scale, free_noise_windows, free_noise_weights), up to the last one used: older exports lack them.
 */
function unetExtras(cond: VideoConditioning, args: CheckedInputs, residuals?: Tensor[]): ModuleInput[] {
  const extras: ModuleInput[] = [residuals ? residuals.slice(0, -1) : null, residuals ? residuals.at(-1)! : null, args.motionScale];
  if (cond.freeNoise) extras.push(cond.freeNoise.starts, cond.freeNoise.weights);
  while (extras.length && (extras.at(-1) === null || (extras.length === 3 && extras[2] === 1))) extras.pop();
  return extras;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
