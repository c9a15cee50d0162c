/**
 * What a render-farm job carries and how a worker turns it into a file.
 * A job's data is a recipe (the format `render --recipe` reads), or a request
 * the worker completes into one from the model's model.yaml defaults; models
 * are named, never carried. This is the one farm file that imports the CLI's
 * recipe, prompt-config and render helpers.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidParameterError } from '../errors';
import { parseSeed, randomSeed, type Seed } from '../generator';
import { ModelManifestError, readModelManifest, type ModelManifest } from '../model-manifest';
import type { AnimateDiffPipeline } from '../pipelines/animatediff';
import { DEFAULT_FPS, GENERATE_DEFAULTS } from '../pipelines/animatediff-inputs';
import type { ProgressEvent } from '../pipelines/progress';
import { videoFormatFor, writeVideo } from '../video/writers';
import { DEMO_MODEL_DIR } from '../render/render';
import { readPromptConfig, PromptConfigError, type PromptConfigDefaults, type RenderJob as ConfigJob } from '../render/prompt-config';
import { type FreeInitOptions, resolveFreeInit } from '../pipelines/free-init';
import { type FreeNoiseOptions, resolveFreeNoise } from '../pipelines/free-noise';
import { createRecipe, readRecipe, RECIPE_METADATA_KEY, RecipeError, validateRecipe, writeRecipeSidecar, type Recipe } from '../render/recipe';
import { describeModels, findModel, findModelByFiles, type KnownModel } from './models';

export type { Recipe } from '../render/recipe';

/** A render to be completed by the worker from the model's defaults (what `submit --prompt` sends). */
export interface RenderRequest {
  prompt: string;
  negativePrompt?: string;
  /** Drawn at submit time when absent, so that a retried job renders the same video. */
  seed?: Seed;
  /** A model folder path on the workers, the sha256 (or an 8+ digit prefix) of its model.yaml, or its manifest name. Default: the bundled demo model. */
  model?: string;
  steps?: number;
  guidanceScale?: number;
  width?: number;
  height?: number;
  frames?: number;
  fps?: number;
  /** A diffusers scheduler class name, or { className, config } over the model's config. */
  scheduler?: string | { className: string; config?: Record<string, unknown> };
  contextLength?: number;
  contextOverlap?: number;
  /** FreeInit: true (diffusers' defaults) or its options, as generate() takes them. */
  freeInit?: boolean | FreeInitOptions;
  /** FreeNoise: true or its options, as generate() takes them. */
  freeNoise?: boolean | FreeNoiseOptions;
  /** Factor on the motion modules' residual (default 1). */
  motionScale?: number;
}

/** A request as stored in Redis: JSON-safe (the seed as a decimal string). */
export type StoredRequest = Omit<RenderRequest, 'seed'> & { seed: string };

export interface RenderJobData {
  recipe: Recipe | StoredRequest;
  /** Output path relative to the worker's output directory; its extension picks the format. Default `<jobId>.gif`. */
  output?: string;
}

export interface RenderResult {
  /** The video (absolute path on the worker's output directory). */
  file: string;
  /** `<file>.json`, the recipe beside it. */
  recipeFile: string;
  files: string[];
  /** What ran, exactly: `render --recipe` renders it again. */
  recipe: Recipe;
  worker: string;
  renderMs: number;
}

/** Numbers only: what a job reports per step (never frames or previews). */
export interface RenderProgress {
  stage: ProgressEvent['stage'];
  step: number;
  total: number;
  elapsedMs: number;
  etaMs: number;
}

export const isRecipe = (r: RenderJobData['recipe'] | RenderRequest): r is Recipe => typeof r === 'object' && r !== null && 'animatorchRecipe' in r;

/** An output name must stay inside the output directory. */
export function checkOutputName(output: string): string {
  const norm = path.normalize(output);
  if (path.isAbsolute(output) || norm.startsWith('..') || norm === '.') throw new InvalidParameterError('output', 'a path relative to the workers\' output directory, without ..', output);
  videoFormatFor(norm);
  return norm;
}

/** Submit side: checks what needs no model (the worker checks the rest) and fixes the seed. */
export function toJobData(input: Recipe | RenderRequest, output?: string): RenderJobData {
  if (typeof input !== 'object' || input === null) throw new InvalidParameterError('recipe', 'a recipe or { prompt, ... }', input);
  const out = output === undefined ? {} : { output: checkOutputName(output) };
  if (isRecipe(input)) {
    const recipe = validateRecipe(JSON.parse(JSON.stringify(input)), 'recipe');
    checkFarmExtra(recipe, 'recipe');
    return { recipe, ...out };
  }
  if (typeof input.prompt !== 'string') throw new InvalidParameterError('prompt', 'a string', input.prompt);
  requestExtra(input); // FreeInit, FreeNoise and motion scale fail here rather than on a worker
  const seed = parseSeed(input.seed ?? randomSeed(), 'seed').toString();
  return { recipe: JSON.parse(JSON.stringify({ ...input, seed })) as StoredRequest, ...out };
}

/**
 * Options that read local files (init media, ControlNet inputs) do not travel to the workers yet:
 * a recipe recording one is refused by name rather than rendered without it.
 */
const LOCAL_FILE_EXTRAS = ['initVideo', 'initImage', 'strength', 'anchorFirstFrame', 'controlnet'] as const;

function checkFarmExtra(recipe: Recipe, where: string): void {
  for (const k of LOCAL_FILE_EXTRAS)
    if (recipe.extra?.[k] !== undefined)
      throw new RecipeError(where, `extra.${k}`, 'the render farm does not take init media or ControlNet inputs yet (they are local files); render it with `animatorch render --recipe`');
}

/** A request's FreeInit, FreeNoise and motion scale, resolved as the recipe records them (as `render` does). */
function requestExtra(r: Pick<RenderRequest, 'freeInit' | 'freeNoise' | 'motionScale'>): Record<string, unknown> {
  const freeInit = resolveFreeInit(r.freeInit);
  const freeNoise = resolveFreeNoise(r.freeNoise);
  if (r.motionScale !== undefined && (typeof r.motionScale !== 'number' || !Number.isFinite(r.motionScale)))
    throw new InvalidParameterError('motionScale', 'a finite number', r.motionScale);
  return {
    ...(freeInit ? { freeInit } : {}),
    ...(freeNoise ? { freeNoise } : {}),
    ...(r.motionScale !== undefined && r.motionScale !== 1 ? { motionScale: r.motionScale } : {}),
  };
}

/** The prompt-config key of an option the farm refuses (see LOCAL_FILE_EXTRAS), or undefined. */
function localFileKey(j: ConfigJob): string | undefined {
  if (j.init?.initVideo !== undefined) return 'init_video';
  if (j.init?.initImage !== undefined) return 'init_image';
  if (j.init?.strength !== undefined) return 'strength';
  if (j.init?.anchorFirstFrame !== undefined) return 'anchor_first_frame';
  if (j.controlnet?.length) return 'controlnet';
  return undefined;
}

/** `submit --recipe FILE`: the recipe of an earlier render. */
export async function requestFromRecipeFile(file: string): Promise<Recipe> {
  const recipe = await readRecipe(file);
  checkFarmExtra(recipe, file);
  return recipe;
}

function manifestDefaults(manifest: ModelManifest): Record<string, number> {
  const d = manifest.raw.defaults;
  if (d === null || typeof d !== 'object') return {};
  return Object.fromEntries(Object.entries(d as Record<string, unknown>).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

/** `submit --config prompts.yaml`: one request per prompt x seed; keys left out come from the model when it is readable here. */
export async function requestsFromConfig(file: string, defaults: PromptConfigDefaults = {}): Promise<RenderRequest[]> {
  // First pass: which model folders the entries use and that are readable here.
  const dirs = new Set<string>();
  const collect = (m: string | undefined): undefined => {
    const dir = m ?? DEMO_MODEL_DIR;
    if (existsSync(path.join(dir, 'model.yaml'))) dirs.add(dir);
    return undefined;
  };
  await readPromptConfig(file, { defaults, randomSeed: () => 0n, modelDefaults: collect });
  const byDir = new Map<string, PromptConfigDefaults>();
  for (const dir of dirs) {
    const d = manifestDefaults(await readModelManifest(dir));
    byDir.set(dir, { width: d.width, height: d.height, frames: d.num_frames, steps: d.num_inference_steps, guidanceScale: d.guidance_scale, fps: d.fps });
  }
  const jobs = await readPromptConfig(file, { defaults, modelDefaults: (m) => byDir.get(m ?? DEMO_MODEL_DIR) });
  return jobs.map((j) => {
    if (!j.model && (j.base || j.motionModule))
      throw new PromptConfigError(file, j.source.entry, 'path', 'the farm renders exported models only: run `animatorch export` and name the folder with `model:`');
    const local = localFileKey(j);
    if (local)
      throw new PromptConfigError(file, j.source.entry, local, 'the render farm does not take init media or ControlNet inputs yet (they are local files); render this entry with `animatorch render --config`');
    return {
      prompt: j.prompt,
      negativePrompt: j.negativePrompt,
      seed: j.seed,
      ...(j.model ? { model: j.model } : {}),
      steps: j.steps,
      guidanceScale: j.guidanceScale,
      width: j.width,
      height: j.height,
      frames: j.frames,
      fps: j.fps,
      ...(j.scheduler ? { scheduler: j.scheduler } : {}),
      ...(j.contextLength !== undefined ? { contextLength: j.contextLength } : {}),
      ...(j.contextOverlap !== undefined ? { contextOverlap: j.contextOverlap } : {}),
      ...(j.freeInit ? { freeInit: j.freeInit } : {}),
      ...(j.freeNoise ? { freeNoise: j.freeNoise } : {}),
      ...(j.motionScale !== undefined ? { motionScale: j.motionScale } : {}),
    };
  });
}

/** A job that can never succeed (bad recipe, unknown model): the worker fails it once, without retries. */
export function isPermanentError(err: unknown): boolean {
  return err instanceof RecipeError || err instanceof InvalidParameterError || err instanceof ModelManifestError || err instanceof UnknownModelError;
}

export class UnknownModelError extends Error {
  constructor(ref: string, known: KnownModel[]) {
    super(`unknown model ${JSON.stringify(ref)} on this worker (it has: ${describeModels(known)})`);
    this.name = 'UnknownModelError';
  }
}

export interface PreparedJob {
  model: KnownModel;
  /** The recipe to render, complete; the written one adds the device and time. */
  recipe: Recipe;
  output: string;
}

/** Worker side: validates the job's data and resolves its model and every setting. */
export async function prepareJob(data: unknown, jobId: string, known: KnownModel[]): Promise<PreparedJob> {
  if (typeof data !== 'object' || data === null || typeof (data as RenderJobData).recipe !== 'object' || (data as RenderJobData).recipe === null)
    throw new RecipeError(`job ${jobId}`, 'recipe', `expected a recipe or { prompt, ... }, got ${JSON.stringify(data)}`);
  const d = data as RenderJobData;
  const output = checkOutputName(d.output ?? `${jobId}.gif`);
  if (isRecipe(d.recipe)) {
    const recipe = validateRecipe(d.recipe, `job ${jobId}`);
    checkFarmExtra(recipe, `job ${jobId}`);
    const model =
      findModelByFiles(known, recipe.model.files) ?? (recipe.model.dir ? await findModel(known, recipe.model.dir) : undefined);
    if (!model || !findModelByFiles([model], recipe.model.files)) throw new UnknownModelError(`${recipe.model.name} with the recipe's file hashes`, known);
    return { model, recipe, output };
  }
  const r = d.recipe;
  if (typeof r.prompt !== 'string') throw new RecipeError(`job ${jobId}`, 'prompt', `expected a string, got ${JSON.stringify(r.prompt)}`);
  const ref = r.model ?? DEMO_MODEL_DIR;
  if (typeof ref !== 'string') throw new RecipeError(`job ${jobId}`, 'model', `expected a path, model.yaml hash or name, got ${JSON.stringify(ref)}`);
  const model = await findModel(known, ref);
  if (!model) throw new UnknownModelError(ref, known);
  const m = model.manifest;
  const defaults = manifestDefaults(m);
  const { _class_name, ...base } = m.scheduler;
  const sched = r.scheduler;
  const scheduler =
    sched === undefined
      ? { className: _class_name, config: base }
      : typeof sched === 'string'
        ? { className: sched, config: base }
        : { className: sched.className, config: { ...base, ...sched.config } };
  const recipe = createRecipe({
    prompt: r.prompt,
    negativePrompt: r.negativePrompt ?? '',
    seed: r.seed,
    scheduler,
    steps: r.steps ?? defaults.num_inference_steps ?? GENERATE_DEFAULTS.numInferenceSteps,
    guidanceScale: r.guidanceScale ?? defaults.guidance_scale ?? GENERATE_DEFAULTS.guidanceScale,
    width: r.width ?? defaults.width ?? m.sampleSize[1] * 8,
    height: r.height ?? defaults.height ?? m.sampleSize[0] * 8,
    frames: r.frames ?? defaults.num_frames ?? GENERATE_DEFAULTS.numFrames,
    fps: r.fps ?? defaults.fps ?? DEFAULT_FPS,
    model: m,
    extra: {
      ...(r.contextLength !== undefined ? { contextLength: r.contextLength } : {}),
      ...(r.contextOverlap !== undefined ? { contextOverlap: r.contextOverlap } : {}),
      ...requestExtra(r),
    },
    createdAt: false,
  });
  return { model, recipe, output };
}

/** Removes temporary files a killed worker left for `target` (atomicWrite's `.<name>.<pid>-<hex>.tmp*`). */
async function sweepTemps(target: string): Promise<void> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(prefix) && /\.\d+-[0-9a-f]+\.tmp/.test(n.slice(prefix.length - 1))).map((n) => rm(path.join(dir, n), { recursive: true, force: true })));
}

export interface RenderJobOptions {
  outDir: string;
  device: string;
  signal?: AbortSignal;
  onProgress?: (p: RenderProgress) => void;
}

/** Renders a prepared job and writes the video and its recipe atomically under `outDir`. */
export async function renderPrepared(pipeline: AnimateDiffPipeline, job: PreparedJob, opts: RenderJobOptions): Promise<Omit<RenderResult, 'worker' | 'renderMs'>> {
  const r = job.recipe;
  const extra = r.extra ?? {};
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const video = await pipeline.generate({
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    seed: BigInt(r.seed),
    width: r.width,
    height: r.height,
    numFrames: r.frames,
    numInferenceSteps: r.steps,
    guidanceScale: r.guidanceScale,
    fps: r.fps,
    scheduler: r.scheduler,
    contextLength: num(extra.contextLength),
    contextOverlap: num(extra.contextOverlap),
    freeInit: resolveFreeInit(extra.freeInit),
    freeNoise: resolveFreeNoise(extra.freeNoise),
    motionScale: num(extra.motionScale),
    signal: opts.signal,
    onProgress: (e) => opts.onProgress?.({ stage: e.stage, step: e.step, total: e.total, elapsedMs: Math.round(e.elapsedMs), etaMs: Math.round(e.etaMs) }),
    outputType: 'uint8',
  });
  const v = Array.isArray(video) ? video[0]! : video;
  const recipe = createRecipe({ ...r, model: job.model.manifest, extra: { ...extra, device: opts.device }, createdAt: undefined });
  const file = path.resolve(opts.outDir, job.output);
  await sweepTemps(file);
  await writeVideo(v.frames, v.shape, v.fps, file, { metadata: { [RECIPE_METADATA_KEY]: JSON.stringify(recipe) }, signal: opts.signal });
  const recipeFile = await writeRecipeSidecar(file, recipe);
  return { file, recipeFile, files: [file, recipeFile], recipe };
}
