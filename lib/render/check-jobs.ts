/**
 * Render jobs and their checks: every job's options are checked against its model before anything
 * loads (render() calls checkJobs first), with errors in the user's own names (flags or config keys).
 */
import { InvalidParameterError } from '../errors';
import { type ModelManifest, readModelManifest } from '../model-manifest';
import { checkInputs, type CheckedInputs, type GenerateOptions } from '../pipelines/animatediff-inputs';
import {
  estimateRenderMemory,
  memoryLimit,
  memoryLimitError,
  memorySuggestions,
  type ModelArchitecture,
  readArchitecture,
  readControlNetSizes,
} from '../pipelines/memory-estimate';
import type { ResolvedFreeInit } from '../pipelines/free-init';
import { type ControlNetSpec, controlNetOptions, type RecordedControlNet } from './controlnet-input';
import type { ResolvedFreeNoise } from '../pipelines/free-noise';
import { createScheduler } from '../schedulers';
import { type InitRecord, initOptions, type JobInit, readJobInit } from './init-media';
import type { Recipe } from './recipe';
import type { RenderArgs } from './render';

export interface Job {
  prompt: string;
  negativePrompt: string;
  seed: bigint;
  model: string;
  steps?: number;
  guidanceScale?: number;
  frames?: number;
  width?: number;
  height?: number;
  fps?: number;
  scheduler?: string | { className: string; config: Record<string, unknown> };
  contextLength?: number;
  contextOverlap?: number;
  freeInit?: ResolvedFreeInit;
  /** Video-to-video / image-to-video: the init media, strength and anchoring. */
  init?: JobInit;
  /** --controlnet specs (their inputs are read while checking, at the resolved size). */
  controlnet?: ControlNetSpec[];
  freeNoise?: ResolvedFreeNoise;
  motionScale?: number;
  out: string;
  label: string;
  /** The recipe a --recipe job re-renders (its differences from this render are warned about). */
  recipe?: Recipe;
  /** The user's name for a generate() option (`--steps` for numInferenceSteps), for error messages. */
  nameOf: (option: string) => string;
}

/** The flag each generate() option comes from. */
const FLAG_NAMES: Record<string, string> = {
  prompt: '--prompt',
  negativePrompt: '--negative-prompt',
  numInferenceSteps: '--steps',
  guidanceScale: '--guidance-scale',
  numFrames: '--frames',
  width: '--width',
  height: '--height',
  seed: '--seed',
  scheduler: '--scheduler',
  className: '--scheduler',
  fps: '--fps',
  contextLength: '--context-length',
  contextOverlap: '--context-overlap',
  vaeTiling: '--vae-tiling',
  decodeChunkSize: '--decode-chunk-size',
  video: '--init-video',
  image: '--init-image',
  strength: '--strength',
  anchorFirstFrame: '--anchor-first-frame',
  controlnet: '--controlnet',
  freeNoise: '--free-noise',
  motionScale: '--motion-scale',
};
/** The prompt-config key each generate() option comes from. */
export const CONFIG_KEYS: Record<string, string> = {
  prompt: 'prompt',
  negativePrompt: 'n_prompt',
  numInferenceSteps: 'steps',
  guidanceScale: 'guidance_scale',
  numFrames: 'L',
  width: 'W',
  height: 'H',
  seed: 'seed',
  scheduler: 'scheduler',
  className: 'scheduler',
  fps: 'fps',
  contextLength: 'context_length',
  contextOverlap: 'context_overlap',
  freeInit: 'free_init',
  video: 'init_video',
  image: 'init_image',
  strength: 'strength',
  anchorFirstFrame: 'anchor_first_frame',
  freeNoise: 'free_noise',
  motionScale: 'motion_scale',
};
export const flagName = (option: string) => FLAG_NAMES[option] ?? option;


/** The scheduler a job runs with: the manifest's config under the requested class, as the pipeline builds it. */
export function resolveScheduler(manifest: ModelManifest, choice: Job['scheduler']): { className: string; config: Record<string, unknown> } {
  const { _class_name, ...base } = manifest.scheduler;
  if (choice === undefined) return { className: _class_name, config: base };
  if (typeof choice === 'string') return { className: choice, config: base };
  return { className: choice.className, config: { ...base, ...choice.config } };
}

export interface CheckedJob {
  job: Job;
  manifest: ModelManifest;
  /** generate()'s options (without progress and signal), as the recipe records them. */
  options: GenerateOptions;
  inputs: CheckedInputs;
  /** What the recipe records of the init media (with the strength that ran). */
  init?: InitRecord;
  /** The ControlNets' specs with the sha256 of their inputs (for the recipe). */
  controlnet?: RecordedControlNet[];
}

/**
 * Checks every job's options against its model's manifest before anything loads, with the pipeline's own
 * checkInputs; defaults resolve there (flag → model.yaml `defaults` → AnimateDiff's), as in the API.
 * Errors name the flag or config key the user wrote (--steps, not numInferenceSteps).
 */
export async function checkJobs(jobs: Job[], device: string, args: RenderArgs): Promise<CheckedJob[]> {
  const manifests = new Map<string, ModelManifest>();
  const architectures = new Map<string, ModelArchitecture>();
  const limit = await memoryLimit(args.maxMemory, device);
  const checked: CheckedJob[] = [];
  for (const job of jobs) {
    let manifest = manifests.get(job.model);
    if (!manifest) manifests.set(job.model, (manifest = await readModelManifest(job.model)));
    const options: GenerateOptions = {
      prompt: job.prompt,
      negativePrompt: job.negativePrompt,
      seed: job.seed,
      width: job.width,
      height: job.height,
      numFrames: job.frames,
      numInferenceSteps: job.steps,
      guidanceScale: job.guidanceScale,
      fps: job.fps,
      // Everything the recipe records is resolved here, so it says exactly what ran.
      scheduler: resolveScheduler(manifest, job.scheduler),
      contextLength: job.contextLength,
      contextOverlap: job.contextOverlap,
      freeInit: job.freeInit,
      ...initOptions(job.init),
      freeNoise: job.freeNoise,
      motionScale: job.motionScale,
      vaeTiling: args.vaeTiling,
      decodeChunkSize: args.decodeChunkSize,
    };
    for (const k of Object.keys(options) as (keyof GenerateOptions)[]) if (options[k] === undefined) delete options[k];
    try {
      const { className, config } = options.scheduler as { className: string; config: Record<string, unknown> };
      createScheduler(className, config).dispose?.();
      const context = { manifest, device, vaeScaleFactor: manifest.vae.scaleFactor, textEncoder: manifest.textEncoder };
      // Init media is read at the size and frame count the render resolves to without it.
      const { strength: _s, anchorFirstFrame: _a, ...plain } = options;
      const init = job.init && (await readJobInit(job.init, checkInputs(context, plain)));
      if (init) Object.assign(options, init.options);
      const inputs = checkInputs(context, options);
      let controlnet: RecordedControlNet[] | undefined;
      if (job.controlnet?.length) {
        // the inputs are read at the resolved size, then checked with everything else
        const control = await controlNetOptions(job.controlnet, inputs, 'controlnet');
        options.controlnet = control.options;
        controlnet = control.recorded;
      }
      const strength = inputs.videoToVideo?.strength;
      checked.push({
        job,
        manifest,
        options,
        inputs: options.controlnet ? checkInputs(context, options) : inputs,
        ...(init && { init: { ...init.record, ...(strength !== undefined && { strength }) } }),
        ...(controlnet && { controlnet }),
      });
    } catch (err) {
      if (!(err instanceof InvalidParameterError)) throw err;
      const top = err.parameter.split(/[.[]/)[0]!;
      const renamed = new InvalidParameterError(job.nameOf(top) + err.parameter.slice(top.length), err.expected, err.actual);
      if (err.message.startsWith(`${err.parameter}: `)) renamed.message = `${renamed.parameter}: ${err.message.slice(err.parameter.length + 2)}`;
      throw renamed;
    }
    // The largest size is the one that fits in memory: refuse before loading, saying what to change.
    const { inputs } = checked[checked.length - 1]!;
    let arch = architectures.get(job.model);
    if (!arch) architectures.set(job.model, (arch = await readArchitecture(manifest, device)));
    const e = estimateRenderMemory(manifest, arch, inputs, args.dtype ?? manifest.dtype, await readControlNetSizes(inputs.controlnet));
    if (limit && e.total > limit.bytes) throw memoryLimitError(job.label, inputs, e, limit, memorySuggestions(e, inputs, manifest.vae.scaleFactor));
  }
  return checked;
}
