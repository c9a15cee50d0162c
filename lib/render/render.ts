/**
 * render(): prompt(s) → video file(s), through the programmatic API (`animatorch render` calls it).
 * Jobs come from flags (prompt × seeds), an AnimateDiff-style YAML config, or a
 * recipe of an earlier render. Every output is written atomically with its
 * recipe inside (where the format allows) and beside it as `<out>.json`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cuda, setNumThreads, versions } from '../device';
import { AbortError, InvalidParameterError } from '../errors';
import { parseSeed, randomSeed } from '../generator';
import { readModelManifest, type ModelManifest } from '../model-manifest';
import { packageRoot } from '../native/binding';
import type { AnimateDiffPipeline } from '../pipelines/animatediff';
import { modelDefaults } from '../pipelines/animatediff-inputs';
import { freeNoiseFromFlags, type MotionFlags } from './motion-options';
import { loadPipeline } from '../pipelines/load-pipeline';
import type { ProgressEvent } from '../pipelines/progress';
import { assertDevice, assertDtype, type DType } from '../tensor';
import { assertInteger } from '../validate';
import { checkJobs, CONFIG_KEYS, flagName, type Job } from './check-jobs';
import { PromptConfigError, type PromptConfigDefaults, readPromptConfig, type RenderJob } from './prompt-config';
import type { JobInit } from './init-media';
import { createRecipe, RECIPE_METADATA_KEY, recipeDifferences, writeRecipeSidecar, type Recipe } from './recipe';
import { animatorchVersion } from '../version';
import { checkOutputPath, videoFormatFor, writeGrid, writeVideo } from '../video/writers';
import { exportModel } from '../model-export';
import { parseControlNetSpec, type RecordedControlNet } from './controlnet-input';
import { isSvdRender, renderSvd } from './render-svd';
import { jobsFromRecipe } from './recipe-jobs';

export const DEMO_MODEL_DIR = path.join(packageRoot, 'models', 'demo');

export interface RenderArgs extends MotionFlags {
  prompt?: string;
  negativePrompt?: string;
  /** An exported model folder (model.yaml). Default: the bundled demo model. */
  model?: string;
  steps?: number;
  guidanceScale?: number;
  frames?: number;
  width?: number;
  height?: number;
  /** One video per seed; decimal strings keep 64-bit seeds exact. */
  seed?: (string | number | bigint)[];
  scheduler?: string;
  fps?: number;
  /** 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'. */
  device?: string;
  dtype?: DType;
  /** CPU threads for libtorch (setNumThreads). Default: torch's, the number of physical cores. */
  threads?: number;
  /** Hash the model's files against model.yaml before loading (loadPipeline's `verify`). */
  verify?: boolean;
  contextLength?: number;
  contextOverlap?: number;
  /** Decode in spatial tiles (less memory for large sizes). */
  vaeTiling?: boolean;
  /** Frames per VAE call (default 16). */
  decodeChunkSize?: number;
  /** The memory a render may use ('8GB', '512MiB', bytes) instead of the free host RAM / VRAM. */
  maxMemory?: string | number;
  /** With --recipe: replace an existing output. */
  force?: boolean;
  /** .gif, .webp, .mp4, or a folder for PNG frames; with --config, the output folder. */
  out?: string;
  config?: string;
  recipe?: string;
  /** Video-to-video: a GIF / WebP / PNG / video file (ffmpeg) or a folder of frames, resized and sampled to the render. */
  initVideo?: string;
  /** Image-to-video: a still repeated over the frames. */
  initImage?: string;
  /** With initVideo / initImage: how far it is re-noised, 0..1 (default 0.8). */
  strength?: number;
  /** With initImage: keep the first frame on the image. */
  anchorFirstFrame?: boolean;
  /** path=CONTROLNET_DIR,input=FRAMES[,scale=..] (repeatable; see lib/render/controlnet-input.ts). */
  controlnet?: string[];
  /** Image-to-video with a Stable Video Diffusion model (render-svd.ts): the image to animate. */
  image?: string;
  motionBucketId?: number;
  noiseAugStrength?: number;
  minGuidanceScale?: number;
  maxGuidanceScale?: number;
}

export interface RenderIO {
  /** Progress and messages. Default process.stderr. */
  log?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
}

export interface RenderedVideo {
  file: string;
  recipe: Recipe;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'video';
}

/** Output path of video k of n: the --out path itself when there is one video. */
function outputFor(out: string, k: number, n: number, seed: bigint): string {
  if (n === 1) return out;
  const ext = path.extname(out);
  return ext ? `${out.slice(0, -ext.length)}-${k}-${seed}${ext}` : path.join(out, `${k}-${seed}`);
}

function jobsFromFlags(args: RenderArgs): Job[] {
  if (!args.prompt) throw new InvalidParameterError('--prompt', 'a prompt (or --config FILE, or --recipe FILE)');
  // -1 asks for a random seed, as in prompt configs (AnimateDiff's torch.seed()).
  const seeds = (args.seed?.length ? args.seed : [-1]).map((s) => (String(s).trim() === '-1' ? randomSeed() : parseSeed(s, '--seed')));
  const out = args.out ?? 'animatorch.gif';
  return seeds.map((seed, k) => ({
    prompt: args.prompt!,
    negativePrompt: args.negativePrompt ?? '',
    seed,
    model: args.model ?? DEMO_MODEL_DIR,
    steps: args.steps,
    guidanceScale: args.guidanceScale,
    frames: args.frames,
    width: args.width,
    height: args.height,
    fps: args.fps,
    scheduler: args.scheduler,
    contextLength: args.contextLength,
    contextOverlap: args.contextOverlap,
    init: flagInit(args),
    ...(args.controlnet?.length && { controlnet: args.controlnet.map((c) => parseControlNetSpec(c)) }),
    freeNoise: freeNoiseFromFlags(args),
    motionScale: args.motionScale,
    out: outputFor(out, k, seeds.length, seed),
    label: `seed ${seed}`,
    nameOf: flagName,
  }));
}

/** The init flags of a render from flags; both media at once are refused before anything is read. */
function flagInit(args: RenderArgs): JobInit | undefined {
  if (args.initVideo !== undefined && args.initImage !== undefined) throw new InvalidParameterError('--init-video/--init-image', 'only one of them', `${args.initVideo} and ${args.initImage}`);
  const init: JobInit = {
    ...(args.initVideo !== undefined && { initVideo: args.initVideo }),
    ...(args.initImage !== undefined && { initImage: args.initImage }),
    ...(args.strength !== undefined && { strength: args.strength }),
    ...(args.anchorFirstFrame !== undefined && { anchorFirstFrame: args.anchorFirstFrame }),
  };
  return Object.keys(init).length ? init : undefined;
}

/**
 * A config entry naming a base model and motion module (as AnimateDiff's configs do) is exported
 * once into a cache folder keyed by its sources and LoRA weights, then reused.
 */
async function exportModelForJob(j: RenderJob, log: RenderIO['log'], signal?: AbortSignal): Promise<string> {
  if (!j.base) throw new InvalidParameterError(`${j.source.file}: entry "${j.source.entry}": path`, 'a base model (path / dreambooth_path) to go with motion_module, or our key `model`');
  const sources = { base: j.base, motionModule: j.motionModule, lora: j.lora, motionLoras: j.motionLoras, adapterLora: j.adapterLora };
  const key = createHash('sha256').update(JSON.stringify(sources)).digest('hex').slice(0, 16);
  const dir = path.join(process.env.ANIMATORCH_CACHE ?? path.join(os.homedir(), '.cache', 'animatorch'), 'models', key);
  if (existsSync(path.join(dir, 'model.yaml'))) return dir;
  log?.write(`exporting ${j.base} + ${j.motionModule ?? '(no motion module)'} to ${dir}\n`);
  const weighted = (w: { path: string; alpha: number }) => `${w.path}:${w.alpha}`;
  const code = await exportModel(
    {
      base: j.base,
      out: dir,
      motionModule: j.motionModule,
      lora: j.lora ? [weighted(j.lora)] : undefined,
      motionLora: j.motionLoras.map(weighted),
      adapterLora: j.adapterLora ? weighted(j.adapterLora) : undefined,
    },
    { signal, onOutput: (chunk) => log?.write(chunk) },
  );
  if (code !== 0) throw new Error(`export of ${j.base} + ${j.motionModule} failed (exit code ${code}); see the output above`);
  return dir;
}

/** model.yaml `defaults` in the prompt config's terms. */
function promptConfigDefaults(manifest: ModelManifest): PromptConfigDefaults {
  const d = modelDefaults(manifest);
  return { width: d.width, height: d.height, frames: d.numFrames, steps: d.numInferenceSteps, guidanceScale: d.guidanceScale, fps: d.fps };
}

/** Every path every entry names, checked before any export or render: all the missing ones in one error. */
function checkConfigPaths(file: string, jobs: RenderJob[]): void {
  const missing = new Set<string>();
  for (const j of jobs) {
    const paths: [string, string | undefined][] = [
      ['model', j.model],
      ['path / dreambooth_path', j.base],
      ['motion_module', j.motionModule],
      ['lora_model_path', j.lora?.path],
      ['adapter_lora_path', j.adapterLora?.path],
      ...j.motionLoras.map((l): [string, string] => ['motion_module_lora_configs', l.path]),
    ];
    for (const [key, p] of paths) if (p !== undefined && !existsSync(p)) missing.add(`entry ${JSON.stringify(j.source.entry)}: ${key}: ${p}`);
  }
  if (missing.size)
    throw new PromptConfigError(file, undefined, undefined, `${missing.size === 1 ? 'a path does' : `${missing.size} paths do`} not exist (nothing was exported or rendered; --model MODEL renders every entry with one exported model instead):\n  ${[...missing].join('\n  ')}`);
}

async function jobsFromConfig(file: string, args: RenderArgs, io: RenderIO): Promise<Job[]> {
  // A key the file leaves out comes from the flags, then from the model's model.yaml `defaults`, then AnimateDiff's.
  const defaults: PromptConfigDefaults = {
    steps: args.steps,
    guidanceScale: args.guidanceScale,
    width: args.width,
    height: args.height,
    frames: args.frames,
    fps: args.fps,
  };
  const defaultModel = path.resolve(args.model ?? DEMO_MODEL_DIR);
  if (args.model !== undefined) {
    // --model replaces every entry's model (and what it would export): its model.yaml defaults come second to the flags for all
    const modelDefs = promptConfigDefaults(await readModelManifest(defaultModel));
    for (const k of Object.keys(modelDefs) as (keyof PromptConfigDefaults)[]) if (defaults[k] === undefined) (defaults as Record<string, unknown>)[k] = modelDefs[k];
  }
  const models = new Set<string>();
  const firstPass = await readPromptConfig(file, { defaults, randomSeed: () => 0n, modelDefaults: (m) => void models.add(args.model !== undefined ? defaultModel : m ?? defaultModel) });
  if (args.model === undefined) checkConfigPaths(file, firstPass);
  const byModel = new Map<string, PromptConfigDefaults>();
  for (const m of models) byModel.set(m, promptConfigDefaults(await readModelManifest(m)));
  const parsed: RenderJob[] = await readPromptConfig(file, { defaults, modelDefaults: (m) => byModel.get(args.model !== undefined ? defaultModel : m ?? defaultModel) });
  if (args.model !== undefined)
    for (const entry of new Set(parsed.filter((j) => j.model || j.base || j.motionModule).map((j) => j.source.entry)))
      io.log?.write(`note: ${file}: entry ${JSON.stringify(entry)}: --model ${args.model} replaces its model (and any motion module or LoRA it names)\n`);
  const outDir = args.out ?? path.join('samples', `${path.basename(file).replace(/\.ya?ml$/, '')}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const jobs: Job[] = [];
  for (const [k, j] of parsed.entries()) {
    const model = args.model ?? j.model ?? (j.base || j.motionModule ? await exportModelForJob(j, io.log ?? process.stderr, io.signal) : DEMO_MODEL_DIR);
    jobs.push({
      prompt: j.prompt,
      negativePrompt: j.negativePrompt,
      seed: j.seed,
      model,
      steps: j.steps,
      guidanceScale: j.guidanceScale,
      frames: j.frames,
      width: j.width,
      height: j.height,
      fps: j.fps,
      scheduler: j.scheduler ?? args.scheduler,
      contextLength: j.contextLength ?? args.contextLength,
      contextOverlap: j.contextOverlap ?? args.contextOverlap,
      freeInit: j.freeInit,
      init: j.init,
      ...(j.controlnet && { controlnet: j.controlnet }),
      freeNoise: j.freeNoise ?? freeNoiseFromFlags(args),
      motionScale: j.motionScale ?? args.motionScale,
      out: path.join(outDir, `${k}-${slug(j.prompt)}.gif`),
      label: `${j.source.entry} #${j.source.promptIndex}`,
      nameOf: (option) => `${j.source.file}: entry ${JSON.stringify(j.source.entry)}: ${CONFIG_KEYS[option] ?? option}`,
    });
  }
  return jobs;
}

export function progressPrinter(log: RenderIO['log'], label: string): (e: ProgressEvent) => void {
  const tty = !!log?.isTTY;
  return (e) => {
    if (!log) return;
    const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
    const name = e.stage === 'denoise' && e.freeInitIterations ? `${label} FreeInit ${e.freeInitIteration! + 1}/${e.freeInitIterations}` : label;
    const line = `${name} ${e.stage} ${e.step}/${e.total} ${secs(e.elapsedMs)} ETA ${secs(e.etaMs)}`;
    if (!tty) {
      log.write(`${line}\n`);
      return;
    }
    const width = 24;
    const filled = Math.round((e.step / e.total) * width);
    log.write(`\r${name} ${e.stage} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${e.step}/${e.total} ${secs(e.elapsedMs)} ETA ${secs(e.etaMs)}   `);
    if (e.step === e.total) log.write('\n');
  };
}

function resolveDevice(device: string | undefined): string {
  if (device === undefined || device === 'auto') return cuda.isAvailable() ? 'cuda' : 'cpu';
  assertDevice('--device', device);
  return device;
}

/** --device, --threads and --dtype, checked and applied (both families): the device to render on. */
export function setUpDevice(args: Pick<RenderArgs, 'device' | 'threads' | 'dtype'>): string {
  const device = resolveDevice(args.device);
  if (args.threads !== undefined) {
    assertInteger('--threads', args.threads, 1);
    setNumThreads(args.threads);
  }
  if (args.dtype !== undefined) assertDtype('--dtype', args.dtype);
  return device;
}

/** Renders every job; resolves to the files written. Rejects with AbortError when `io.signal` fires. */
export async function render(args: RenderArgs, io: RenderIO = {}): Promise<RenderedVideo[]> {
  if (await isSvdRender(args)) return renderSvd(args, io);
  const log = io.log ?? process.stderr;
  const device = setUpDevice(args);
  if ([args.config, args.recipe, args.prompt].filter((x) => x !== undefined).length > 1)
    throw new InvalidParameterError('--prompt/--config/--recipe', 'only one of them');
  for (const [flag, v] of [['--init-video', args.initVideo], ['--init-image', args.initImage], ['--strength', args.strength], ['--anchor-first-frame', args.anchorFirstFrame]] as const)
    if (v !== undefined && (args.config || args.recipe))
      throw new InvalidParameterError(flag, `to be left out with ${args.config ? '--config (an entry\'s init_video / init_image / strength / anchor_first_frame keys)' : '--recipe (it records its own)'}`, v);
  const jobs = args.config ? await jobsFromConfig(args.config, args, io) : args.recipe ? await jobsFromRecipe(args.recipe, args, DEMO_MODEL_DIR) : jobsFromFlags(args);
  // A bad --out fails before any work: the format, and that its folder can take files.
  for (const dir of new Set(jobs.map((j) => path.dirname(path.resolve(j.out))))) {
    const first = jobs.find((j) => path.dirname(path.resolve(j.out)) === dir)!;
    await checkOutputPath(first.out, '--out');
  }
  for (const j of jobs) videoFormatFor(j.out, '--out');
  const checked = await checkJobs(jobs, device, args);
  for (const { job, manifest, controlnet } of checked) {
    if (!job.recipe) continue;
    for (const [i, c] of (controlnet ?? []).entries()) {
      const was = (job.controlnet as RecordedControlNet[] | undefined)?.[i]?.sha256;
      if (was !== c.sha256) log.write(`warning: ${job.label}: ControlNet input ${c.input} has sha256 ${c.sha256.slice(0, 12)}…, the recipe's was ${String(was).slice(0, 12)}…; the frames may differ
`);
    }
    // Re-rendering a recipe never replaces a file silently (by default its out is the original video).
    if (existsSync(job.out) && args.force !== true)
      throw new InvalidParameterError('--out', `a path that does not exist yet (${job.out} exists; --force overwrites it)`, job.out);
    const env = { manifest, libtorch: versions().libtorch, animatorch: animatorchVersion(), device, dtype: args.dtype ?? manifest.dtype };
    for (const d of recipeDifferences(job.recipe, env)) log.write(`warning: ${job.label}: ${d}; the frames may differ\n`);
  }

  const done: RenderedVideo[] = [];
  const videos: { frames: Uint8Array; shape: [number, number, number, 3] }[] = []; // for the config grid
  const pipelines = new Map<string, AnimateDiffPipeline>();
  try {
    for (const { job, manifest, options, inputs, init, controlnet } of checked) {
      if (io.signal?.aborted) throw new AbortError('render was aborted', { cause: io.signal.reason });
      let pipeline = pipelines.get(job.model);
      if (!pipeline) {
        log.write(`loading ${manifest.name} from ${manifest.dir} on ${device}\n`);
        // One video of this model: hold only the running stage's model (the peak is then the UNet's
        // weights and activations); several: keep them all, not to load each one per video.
        const keepModules = checked.filter((c) => c.job.model === job.model).length === 1 ? 'stage' : 'all';
        pipeline = await loadPipeline(job.model, { device, dtype: args.dtype, signal: io.signal, verify: args.verify === true, keepModules });
        pipelines.set(job.model, pipeline);
      }
      const scheduler = options.scheduler as { className: string; config: Record<string, unknown> };
      const v = await pipeline.generate({ ...options, outputType: 'uint8', onProgress: progressPrinter(log, job.label), signal: io.signal });
      const [frames, height, width] = v.shape;
      const recipe = createRecipe({
        prompt: job.prompt,
        negativePrompt: job.negativePrompt,
        seed: job.seed,
        scheduler,
        steps: inputs.steps,
        guidanceScale: inputs.guidanceScale,
        width,
        height,
        frames,
        fps: v.fps,
        model: manifest,
        extra: {
          device,
          ...(job.contextLength !== undefined ? { contextLength: job.contextLength } : {}),
          ...(job.contextOverlap !== undefined ? { contextOverlap: job.contextOverlap } : {}),
          ...(job.freeInit ? { freeInit: job.freeInit } : {}),
          ...init,
          ...(controlnet ? { controlnet } : {}),
          ...(job.freeNoise ? { freeNoise: job.freeNoise } : {}),
          ...(job.motionScale !== undefined && job.motionScale !== 1 ? { motionScale: job.motionScale } : {}),
        },
      });
      await mkdir(path.dirname(path.resolve(job.out)), { recursive: true });
      await writeVideo(v.frames, v.shape, v.fps, job.out, { metadata: { [RECIPE_METADATA_KEY]: JSON.stringify(recipe) }, signal: io.signal });
      await writeRecipeSidecar(job.out, recipe);
      log.write(`wrote ${job.out} (${frames} frames, ${width}x${height}, seed ${job.seed})\n`);
      done.push({ file: job.out, recipe });
      if (args.config) videos.push(v);
    }
    if (args.config && done.length > 1) {
      const grid = path.join(path.dirname(done[0]!.file), 'sample.gif');
      await writeGrid(videos, Math.ceil(Math.sqrt(videos.length)), grid, { signal: io.signal });
      log.write(`wrote ${grid} (grid of ${videos.length})\n`);
    }
    return done;
  } finally {
    for (const pipeline of pipelines.values()) pipeline.dispose();
  }
}
