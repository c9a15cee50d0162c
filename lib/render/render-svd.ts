/**
 * Image-to-video renders with a Stable Video Diffusion model (model.yaml `family: svd`): render() hands
 * over here for --image, for an SVD --model, and for a recipe written by an SVD render. One video per
 * seed, written atomically with its recipe (extra.family 'svd', the image's path and sha256, and the SVD
 * settings), so --recipe renders it again.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { versions } from '../device';
import { AbortError, InvalidParameterError } from '../errors';
import { parseSeed, randomSeed } from '../generator';
import { type ModelManifest, readModelManifest } from '../model-manifest';
import { loadPipeline } from '../pipelines/load-pipeline';
import { memoryLimit, memoryLimitError } from '../pipelines/memory-estimate';
import { SVD_DEFAULTS } from '../pipelines/svd-inputs';
import { estimateSvdRenderMemory, readSvdArchitecture, svdMemorySuggestions } from '../pipelines/svd-memory-estimate';
import { readSvdSettings } from '../pipelines/svd-settings';
import { animatorchVersion } from '../version';
import { readImage } from '../video/read-image';
import { checkOutputPath, videoFormatFor, writeVideo } from '../video/writers';
import { createRecipe, RECIPE_METADATA_KEY, readRecipe, type Recipe, recipeDifferences, writeRecipeSidecar } from './recipe';
import { progressPrinter, type RenderArgs, type RenderedVideo, type RenderIO, setUpDevice } from './render';

/** Whether render() should hand these arguments to renderSvd(): --image, an SVD --model, or an SVD recipe. */
export async function isSvdRender(args: RenderArgs): Promise<boolean> {
  if (args.image !== undefined) return true;
  if (args.recipe !== undefined) {
    const r = await readRecipe(args.recipe).catch(() => undefined);
    if (r) return r.extra?.family === 'svd';
  }
  if (args.model !== undefined && args.config === undefined) {
    const m = await readModelManifest(args.model).catch(() => undefined);
    return m?.family === 'svd';
  }
  return false;
}

interface SvdJob {
  seed: bigint;
  out: string;
  image: string;
  settings: { steps: number; frames?: number; fps: number; motionBucketId: number; noiseAugStrength: number; minGuidanceScale: number; maxGuidanceScale: number; decodeChunkSize?: number; width?: number; height?: number };
  recipe?: Recipe;
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

function outputFor(out: string, k: number, n: number, seed: bigint): string {
  if (n === 1) return out;
  const ext = path.extname(out);
  return ext ? `${out.slice(0, -ext.length)}-${k}-${seed}${ext}` : path.join(out, `${k}-${seed}`);
}

async function jobsFromArgs(args: RenderArgs, log: NodeJS.WritableStream): Promise<{ jobs: SvdJob[]; model: string }> {
  if (args.prompt !== undefined || args.config !== undefined || args.negativePrompt !== undefined)
    throw new InvalidParameterError('--prompt/--config', 'nothing with a Stable Video Diffusion model: it animates --image');
  if (args.recipe !== undefined) {
    const r = await readRecipe(args.recipe);
    const x = r.extra ?? {};
    const num = (k: string, d: number) => (typeof x[k] === 'number' ? (x[k] as number) : d);
    const image = args.image ?? (typeof x.image === 'string' ? x.image : undefined);
    if (!image) throw new InvalidParameterError('--image', `the recipe's image (extra.image) or --image`, undefined);
    if (typeof x.imageSha256 === 'string' && existsSync(image) && (await sha256(image)) !== x.imageSha256)
      log.write(`warning: ${image} differs from the image of the recipe (sha256); the frames will differ\n`);
    const out = args.out ?? args.recipe.replace(/\.json$/, '');
    const settings = {
      steps: r.steps, frames: r.frames, fps: r.fps, width: r.width, height: r.height, minGuidanceScale: num('minGuidanceScale', SVD_DEFAULTS.minGuidanceScale),
      maxGuidanceScale: r.guidanceScale, motionBucketId: num('motionBucketId', SVD_DEFAULTS.motionBucketId),
      noiseAugStrength: num('noiseAugStrength', SVD_DEFAULTS.noiseAugStrength), decodeChunkSize: typeof x.decodeChunkSize === 'number' ? x.decodeChunkSize : undefined,
    };
    return { jobs: [{ seed: BigInt(r.seed), out, image, settings, recipe: r }], model: args.model ?? r.model.dir ?? '' };
  }
  if (!args.model) throw new InvalidParameterError('--model', 'a Stable Video Diffusion model folder (animatorch export --svd) to go with --image', undefined);
  if (!args.image) throw new InvalidParameterError('--image', 'the image to animate (a Stable Video Diffusion model turns an image into a video)', undefined);
  const seeds = (args.seed?.length ? args.seed : [-1]).map((s) => (String(s).trim() === '-1' ? randomSeed() : parseSeed(s, '--seed')));
  const out = args.out ?? 'animatorch.mp4';
  const settings = {
    steps: args.steps ?? SVD_DEFAULTS.numInferenceSteps, frames: args.frames, fps: args.fps ?? SVD_DEFAULTS.fps, width: args.width, height: args.height,
    motionBucketId: args.motionBucketId ?? SVD_DEFAULTS.motionBucketId, noiseAugStrength: args.noiseAugStrength ?? SVD_DEFAULTS.noiseAugStrength,
    minGuidanceScale: args.minGuidanceScale ?? SVD_DEFAULTS.minGuidanceScale, maxGuidanceScale: args.maxGuidanceScale ?? args.guidanceScale ?? SVD_DEFAULTS.maxGuidanceScale,
    decodeChunkSize: args.decodeChunkSize,
  };
  return { jobs: seeds.map((seed, k) => ({ seed, out: outputFor(out, k, seeds.length, seed), image: args.image!, settings })), model: args.model };
}

/** Refuses, before anything loads, a video whose estimated peak memory is over --max-memory (default: the free memory). */
async function checkSvdMemory(jobs: SvdJob[], manifest: ModelManifest, size: { width: number; height: number }, device: string, args: RenderArgs): Promise<void> {
  const limit = await memoryLimit(args.maxMemory, device);
  if (!limit) return;
  const arch = await readSvdArchitecture(manifest);
  const { numFrames: unetFrames } = readSvdSettings(manifest);
  for (const j of jobs) {
    // the defaults checkSvdInputs resolves: the UNet's frame count, all frames in one decode, guidance when max > 1
    const numFrames = j.settings.frames ?? unetFrames;
    const inputs = { ...size, numFrames, decodeChunkSize: j.settings.decodeChunkSize ?? numFrames, doCfg: j.settings.maxGuidanceScale > 1 };
    const e = estimateSvdRenderMemory(manifest, arch, inputs, args.dtype ?? manifest.dtype);
    if (e.total > limit.bytes) throw memoryLimitError(`seed ${j.seed}`, inputs, e, limit, svdMemorySuggestions(e, inputs));
  }
}

/** Renders every seed of an SVD render; resolves to the files written. */
export async function renderSvd(args: RenderArgs, io: RenderIO = {}): Promise<RenderedVideo[]> {
  const log = io.log ?? process.stderr;
  const device = setUpDevice(args);
  const { jobs, model } = await jobsFromArgs(args, log);
  const manifest = await readModelManifest(model);
  if (manifest.family !== 'svd') throw new InvalidParameterError('--model', `a Stable Video Diffusion model (family: svd) to animate --image; ${model} is '${manifest.family}'`, model);
  for (const j of jobs) {
    videoFormatFor(j.out, '--out');
    await checkOutputPath(j.out, '--out');
    if (j.recipe) {
      if (existsSync(j.out) && args.force !== true) throw new InvalidParameterError('--out', `a path that does not exist yet (${j.out} exists; --force overwrites it)`, j.out);
      const env = { manifest, libtorch: versions().libtorch, animatorch: animatorchVersion(), device, dtype: args.dtype ?? manifest.dtype };
      for (const d of recipeDifferences(j.recipe, env)) log.write(`warning: recipe: ${d}; the frames may differ\n`);
    }
  }
  const s0 = jobs[0]!.settings;
  if ((s0.width === undefined) !== (s0.height === undefined))
    throw new InvalidParameterError(s0.width === undefined ? '--width' : '--height', 'given together with the other (the image is resized to width × height), or neither (its own size)', undefined);
  const size: [number, number] | undefined = s0.width !== undefined ? [s0.height!, s0.width] : undefined;
  // the image at its own size is cheap to read; resizing it to a size that cannot fit is not, so the memory check comes first
  let image = size ? undefined : await readImage(jobs[0]!.image, { name: '--image' });
  const [height, width] = size ?? image!.shape;
  await checkSvdMemory(jobs, manifest, { width, height }, device, args);
  image ??= await readImage(jobs[0]!.image, { size, name: '--image' });
  const imageSha256 = await sha256(jobs[0]!.image);
  const base = manifest.scheduler;
  const { _class_name, ...schedulerConfig } = base;
  const scheduler = { className: args.scheduler ?? _class_name, config: schedulerConfig };
  log.write(`loading ${manifest.name} from ${manifest.dir} on ${device}\n`);
  const pipeline = await loadPipeline(model, { family: 'svd', device, dtype: args.dtype, signal: io.signal, verify: args.verify === true });
  const done: RenderedVideo[] = [];
  try {
    for (const j of jobs) {
      if (io.signal?.aborted) throw new AbortError('render was aborted', { cause: io.signal.reason });
      const s = j.settings;
      const v = await pipeline.generate({
        image, seed: j.seed, numInferenceSteps: s.steps, numFrames: s.frames, fps: s.fps, motionBucketId: s.motionBucketId, noiseAugStrength: s.noiseAugStrength,
        minGuidanceScale: s.minGuidanceScale, maxGuidanceScale: s.maxGuidanceScale, decodeChunkSize: s.decodeChunkSize, scheduler,
        outputType: 'uint8', onProgress: progressPrinter(log, `seed ${j.seed}`), signal: io.signal,
      });
      const [frames, height, width] = v.shape;
      const recipe = createRecipe({
        prompt: '', seed: j.seed, scheduler, steps: s.steps, guidanceScale: s.maxGuidanceScale, width, height, frames, fps: v.fps, model: manifest,
        extra: {
          family: 'svd', image: path.resolve(j.image), imageSha256, motionBucketId: s.motionBucketId, noiseAugStrength: s.noiseAugStrength,
          minGuidanceScale: s.minGuidanceScale, ...(s.decodeChunkSize !== undefined ? { decodeChunkSize: s.decodeChunkSize } : {}), device,
        },
      });
      await mkdir(path.dirname(path.resolve(j.out)), { recursive: true });
      await writeVideo(v.frames, v.shape, v.fps, j.out, { metadata: { [RECIPE_METADATA_KEY]: JSON.stringify(recipe) }, signal: io.signal });
      await writeRecipeSidecar(j.out, recipe);
      log.write(`wrote ${j.out} (${frames} frames, ${width}x${height}, seed ${j.seed})\n`);
      done.push({ file: j.out, recipe });
    }
    return done;
  } finally {
    pipeline.dispose();
  }
}
