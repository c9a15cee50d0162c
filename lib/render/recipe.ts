/**
 * The reproducibility recipe: everything needed to render a video again
 * (prompt, exact 64-bit seed, scheduler, sizes, model files and versions).
 * It is stored in each output (PNG text / GIF comment / WebP XMP / MP4 comment)
 * and beside it as `<out>.json`; `render --recipe FILE` reads it back.
 */
import { readFile } from 'node:fs/promises';
import { parseSeed, type Seed } from '../generator';
import type { ModelManifest } from '../model-manifest';
import { animatorchVersion } from '../version';
import { writeFileAtomic } from '../video/writers';

/** The recipe format version this animatorch writes and reads. */
export const RECIPE_VERSION = 1;

/** Metadata key under which outputs carry the recipe JSON. */
export const RECIPE_METADATA_KEY = 'animatorch-recipe';

/** The numeric settings of one render (a recipe's, and a prompt config job's). */
export interface RenderSettings {
  steps: number;
  guidanceScale: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
}

export interface Recipe extends RenderSettings {
  /** Format version (RECIPE_VERSION). */
  animatorchRecipe: number;
  prompt: string;
  negativePrompt: string;
  /** Unsigned 64-bit seed as a decimal string (exact; never a JS number). */
  seed: string;
  /** The scheduler's diffusers class name and its config (snake_case keys, as scheduler_config.json). */
  scheduler: { className: string; config: Record<string, unknown> };
  model: {
    name: string;
    /** Folder the model was loaded from, as given (informative; files are matched by hash). */
    dir?: string;
    motionModuleVersion?: string;
    dtype?: string;
    numerics?: string;
    /** model.yaml `files`: relative path -> sha256 and size. */
    files: Record<string, { sha256: string; bytes: number }>;
  };
  versions: { animatorch: string; libtorch: string };
  /** Other generation settings (context_length, clip skip, LoRAs...), JSON values. */
  extra?: Record<string, unknown>;
  /** ISO time of the render (informative). */
  createdAt?: string;
}

export interface CreateRecipeOptions extends RenderSettings {
  prompt: string;
  negativePrompt?: string;
  seed: Seed;
  scheduler: { _class_name: string; [key: string]: unknown } | { className: string; config: Record<string, unknown> };
  /** The model manifest (readModelManifest), or a plain description. */
  model: ModelManifest | Recipe['model'];
  /** Default: versions().libtorch from the addon. */
  libtorchVersion?: string;
  extra?: Record<string, unknown>;
  createdAt?: Date | string | false;
}

function libtorchVersionFromAddon(): string {
  try {
    // Lazy: the addon loads only when a recipe is actually built without an explicit version.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { versions } = require('../device') as typeof import('../device');
    return versions().libtorch;
  } catch {
    return 'unknown';
  }
}

const isManifest = (m: CreateRecipeOptions['model']): m is ModelManifest => 'raw' in m && 'unet' in m;

/** Builds a recipe, validating every field (the same checks readRecipe applies). */
export function createRecipe(options: CreateRecipeOptions): Recipe {
  const sched = options.scheduler;
  const scheduler =
    'className' in sched && typeof sched.className === 'string'
      ? { className: sched.className, config: { ...(sched as { config: Record<string, unknown> }).config } }
      : (() => {
          const { _class_name, ...config } = sched as { _class_name: string; [k: string]: unknown };
          return { className: _class_name, config };
        })();
  const m = options.model;
  const model: Recipe['model'] = isManifest(m)
    ? {
        name: m.name,
        dir: m.dir,
        motionModuleVersion: m.motionModule.version,
        dtype: m.dtype,
        numerics: m.numerics,
        files: Object.fromEntries(Object.entries(m.files).map(([k, v]) => [k, { sha256: v.sha256, bytes: v.bytes }])),
      }
    : { ...m, files: { ...m.files } };
  const recipe: Recipe = {
    animatorchRecipe: RECIPE_VERSION,
    prompt: options.prompt,
    negativePrompt: options.negativePrompt ?? '',
    seed: parseSeed(options.seed).toString(),
    scheduler,
    steps: options.steps,
    guidanceScale: options.guidanceScale,
    width: options.width,
    height: options.height,
    frames: options.frames,
    fps: options.fps,
    model,
    versions: { animatorch: animatorchVersion(), libtorch: options.libtorchVersion ?? libtorchVersionFromAddon() },
    ...(options.extra ? { extra: options.extra } : {}),
    ...(options.createdAt === false ? {} : { createdAt: new Date(options.createdAt ?? Date.now()).toISOString() }),
  };
  return validateRecipe(JSON.parse(JSON.stringify(recipe)), '<recipe>');
}

/** A recipe file is invalid; the message names the file and the key. */
export class RecipeError extends Error {
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    message: string,
  ) {
    super(`${file}${key ? `: ${key}` : ''}: ${message}`);
    this.name = 'RecipeError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Checks a parsed recipe object; `file` names it in errors. Returns a clean copy. */
export function validateRecipe(raw: unknown, file: string): Recipe {
  const fail = (key: string | undefined, msg: string): never => {
    throw new RecipeError(file, key, msg);
  };
  if (!isObj(raw)) return fail(undefined, 'expected a JSON object');
  const r = raw;
  const version = r.animatorchRecipe;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    fail('animatorchRecipe', `expected the recipe format version (an integer >= 1), got ${show(version)}`);
  if ((version as number) > RECIPE_VERSION) fail('animatorchRecipe', `format ${version} is newer than this animatorch reads (${RECIPE_VERSION}); update animatorch`);
  const str = (o: Obj, key: string, prefix = '', allowEmpty = true): string => {
    const v = o[key];
    if (typeof v !== 'string' || (!allowEmpty && v === '')) fail(prefix + key, `expected a ${allowEmpty ? '' : 'non-empty '}string, got ${show(v)}`);
    return v as string;
  };
  const int = (key: string, min: number): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(key, `expected an integer >= ${min}, got ${show(v)}`);
    return v as number;
  };
  const num = (key: string, min: number, exclusive = false): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (exclusive && v === min))
      fail(key, `expected a number ${exclusive ? '>' : '>='} ${min}, got ${show(v)}`);
    return v as number;
  };

  const seedRaw = r.seed;
  if (typeof seedRaw !== 'string' || !/^\d+$/.test(seedRaw))
    fail('seed', `expected the seed as a decimal string (exact 64-bit value), got ${show(seedRaw)}${typeof seedRaw === 'number' ? ' (a JSON number loses digits above 2^53; quote it)' : ''}`);
  if (BigInt(seedRaw as string) >= 1n << 64n) fail('seed', `expected a value below 2^64, got ${seedRaw}`);

  const sched = r.scheduler;
  if (!isObj(sched)) fail('scheduler', `expected {className, config}, got ${show(sched)}`);
  const className = str(sched as Obj, 'className', 'scheduler.', false);
  if (!isObj((sched as Obj).config)) fail('scheduler.config', `expected an object, got ${show((sched as Obj).config)}`);

  const model = r.model;
  if (!isObj(model)) fail('model', `expected an object, got ${show(model)}`);
  const mo = model as Obj;
  const files = mo.files;
  if (!isObj(files)) fail('model.files', `expected an object of path -> {sha256, bytes}, got ${show(files)}`);
  const cleanFiles: Recipe['model']['files'] = {};
  for (const [k, v] of Object.entries(files as Obj)) {
    if (!isObj(v) || typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(v.sha256))
      fail(`model.files.${k}`, `expected {sha256: 64 hex digits, bytes}, got ${show(v)}`);
    const bytes = (v as Obj).bytes;
    if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0) fail(`model.files.${k}.bytes`, `expected an integer >= 0, got ${show(bytes)}`);
    cleanFiles[k] = { sha256: ((v as Obj).sha256 as string).toLowerCase(), bytes: bytes as number };
  }
  const optStr = (key: string): string | undefined => {
    const v = mo[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') fail(`model.${key}`, `expected a string, got ${show(v)}`);
    return v as string;
  };

  const versions = r.versions;
  if (!isObj(versions)) fail('versions', `expected {animatorch, libtorch}, got ${show(versions)}`);
  if (r.extra !== undefined && !isObj(r.extra)) fail('extra', `expected an object, got ${show(r.extra)}`);
  if (r.createdAt !== undefined && typeof r.createdAt !== 'string') fail('createdAt', `expected an ISO date string, got ${show(r.createdAt)}`);
  const known = new Set(['animatorchRecipe', 'prompt', 'negativePrompt', 'seed', 'scheduler', 'steps', 'guidanceScale', 'width', 'height', 'frames', 'fps', 'model', 'versions', 'extra', 'createdAt']);
  for (const k of Object.keys(r)) if (!known.has(k)) fail(k, `unknown key (known: ${[...known].join(', ')})`);

  const width = int('width', 8);
  const height = int('height', 8);
  if (width % 8 || height % 8) fail(width % 8 ? 'width' : 'height', `expected a multiple of 8, got ${width % 8 ? width : height}`);
  const out: Recipe = {
    animatorchRecipe: version as number,
    prompt: str(r, 'prompt'),
    negativePrompt: r.negativePrompt === undefined ? '' : str(r, 'negativePrompt'),
    seed: seedRaw as string,
    scheduler: { className, config: { ...((sched as Obj).config as Obj) } },
    steps: int('steps', 1),
    guidanceScale: num('guidanceScale', 0),
    width,
    height,
    frames: int('frames', 1),
    fps: num('fps', 0, true),
    model: {
      name: str(mo, 'name', 'model.', false),
      ...(optStr('dir') !== undefined ? { dir: optStr('dir') } : {}),
      ...(optStr('motionModuleVersion') !== undefined ? { motionModuleVersion: optStr('motionModuleVersion') } : {}),
      ...(optStr('dtype') !== undefined ? { dtype: optStr('dtype') } : {}),
      ...(optStr('numerics') !== undefined ? { numerics: optStr('numerics') } : {}),
      files: cleanFiles,
    },
    versions: { animatorch: str(versions as Obj, 'animatorch', 'versions.'), libtorch: str(versions as Obj, 'libtorch', 'versions.') },
    ...(r.extra !== undefined ? { extra: r.extra as Obj } : {}),
    ...(r.createdAt !== undefined ? { createdAt: r.createdAt as string } : {}),
  };
  return out;
}

/** The recipe's seed as an unsigned 64-bit BigInt (for createGenerator). */
export const recipeSeed = (recipe: Recipe): bigint => BigInt(recipe.seed);

/** The recipe as compact JSON, for embedding in outputs (metadata key RECIPE_METADATA_KEY). */
export const recipeToJson = (recipe: Recipe, pretty = false): string => JSON.stringify(recipe, null, pretty ? 2 : undefined);

/** Where the sidecar for `outPath` goes: `<outPath>.json` (a folder path loses its trailing separator first). */
export const recipeSidecarPath = (outPath: string): string => `${outPath.replace(/[\\/]+$/, '')}.json`;

/** Writes `<outPath>.json` atomically; returns its path. */
export async function writeRecipeSidecar(outPath: string, recipe: Recipe): Promise<string> {
  const file = recipeSidecarPath(outPath);
  await writeFileAtomic(file, `${recipeToJson(recipe, true)}\n`);
  return file;
}

/** Reads and validates a recipe file (a sidecar `.json`, or any JSON holding a recipe). */
export async function readRecipe(file: string): Promise<Recipe> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RecipeError(file, undefined, code === 'ENOENT' ? 'no such file' : `cannot read (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RecipeError(file, undefined, `invalid JSON: ${(err as Error).message}`);
  }
  return validateRecipe(raw, file);
}

/**
 * Compares a recipe's model files with a loaded model's manifest: returns one
 * line per difference (missing file, different sha256); empty when they match.
 */
export function compareRecipeModel(recipe: Recipe, manifest: Pick<ModelManifest, 'files'>): string[] {
  const problems: string[] = [];
  for (const [file, want] of Object.entries(recipe.model.files)) {
    const have = manifest.files[file];
    if (!have) problems.push(`${file}: in the recipe, not in this model`);
    else if (have.sha256.toLowerCase() !== want.sha256) problems.push(`${file}: sha256 ${have.sha256.slice(0, 12)}… differs from the recipe's ${want.sha256.slice(0, 12)}…`);
  }
  for (const file of Object.keys(manifest.files)) if (!(file in recipe.model.files)) problems.push(`${file}: in this model, not in the recipe`);
  return problems;
}

/** What this render has that may differ from the recipe's. */
export interface RecipeEnvironment {
  manifest: Pick<ModelManifest, 'files' | 'name' | 'dtype' | 'numerics'>;
  libtorch: string;
  animatorch: string;
  device: string;
  dtype: string;
}

/**
 * Every difference between a recipe and the environment that re-renders it (model files by sha256,
 * model name, dtype, numerics, libtorch and animatorch versions, device): one line each, empty when
 * nothing differs. Any of them can change the frames, so render --recipe warns about each.
 */
export function recipeDifferences(recipe: Recipe, env: RecipeEnvironment): string[] {
  const lines = compareRecipeModel(recipe, env.manifest).map((l) => `model file ${l}`);
  const differ = (what: string, was: unknown, now: unknown) => {
    if (was !== undefined && was !== now) lines.push(`${what}: the recipe has ${String(was)}, this render ${String(now)}`);
  };
  differ('model', recipe.model.name, env.manifest.name);
  differ('dtype', recipe.model.dtype, env.dtype);
  differ('numerics', recipe.model.numerics, env.manifest.numerics);
  differ('libtorch', recipe.versions.libtorch, env.libtorch);
  differ('animatorch', recipe.versions.animatorch, env.animatorch);
  differ('device', recipe.extra?.device, env.device);
  return lines;
}
