/**
 * AnimateDiff prompt configs (configs/prompts/*.yaml): either a top-level
 * mapping of named entries (the original layout, `ToonYou: {...}`) or a
 * top-level list of entries (the later layout; an entry's name is the comment
 * above it, else its position). Each entry expands into render jobs as
 * scripts/animate.py does: for every motion module, prompt i pairs with
 * n_prompt i and seed i, and a single n_prompt or seed is reused for all prompts.
 *
 * Integers are parsed as BigInt so seeds above 2^53 stay exact.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { describe, InvalidParameterError } from '../errors';
import { randomSeed } from '../generator';
import { type FreeInitOptions, type ResolvedFreeInit, resolveFreeInit } from '../pipelines/free-init';
import { initFromConfig, type JobInit } from './init-media';
import type { ResolvedFreeNoise } from '../pipelines/free-noise';
import { freeNoiseFromConfig } from './motion-options';
import type { RenderSettings } from './recipe';
import { type ControlNetSpec, controlNetsFromConfig } from './controlnet-input';

export interface WeightedPath {
  path: string;
  alpha: number;
}

export interface RenderJob extends RenderSettings {
  /** Where the job came from, for messages and output names. */
  source: { file: string; entry: string; entryIndex: number; promptIndex: number };
  prompt: string;
  negativePrompt: string;
  /** Unsigned 64-bit seed. A `-1` in the file becomes a fresh random seed (recorded here, so the recipe is exact). */
  seed: bigint;
  /** True when the file asked for a random seed (-1 or no seed). */
  randomSeed: boolean;
  scheduler?: string;
  contextLength?: number;
  contextOverlap?: number;
  /** FreeInit (`free_init: true` or { iterations, method, order, spatial_stop_frequency, temporal_stop_frequency, fast_sampling }), defaults resolved. */
  freeInit?: ResolvedFreeInit;
  /** `init_video` / `init_image` (paths), `strength`, `anchor_first_frame`: video-to-video and image-to-video. */
  init?: JobInit;
  /** Our key `controlnet`: a list of --controlnet specs ("path=..,input=..") or mappings of the same keys. */
  controlnet?: ControlNetSpec[];
  /** FreeNoise (`free_noise: true` or { context_length, context_stride, weighting_scheme, noise_type }), defaults resolved. */
  freeNoise?: ResolvedFreeNoise;
  /** `motion_scale`: the factor on the motion modules' residual (default 1). */
  motionScale?: number;
  /** An exported animatorch model folder (our key `model`). */
  model?: string;
  /** Base model: `dreambooth_path` / `path` (a single file or a diffusers folder). */
  base?: string;
  motionModule?: string;
  /** Kohya image LoRA (`lora_model_path`, `lora_alpha`, default 0.8). */
  lora?: WeightedPath;
  motionLoras: WeightedPath[];
  /** v3 domain adapter (`adapter_lora_path`, `adapter_lora_scale` / `domain_lora_scale`, default 1.0). */
  adapterLora?: WeightedPath;
  /** `inference_config`, kept for reference (animatorch reads the model's own config). */
  inferenceConfig?: string;
}

/** A prompt config value is invalid; the message names the file, the entry and the key. */
export class PromptConfigError extends Error {
  constructor(
    readonly file: string,
    readonly entry: string | undefined,
    readonly key: string | undefined,
    detail: string,
  ) {
    super(`${file}${entry !== undefined ? `: entry ${JSON.stringify(entry)}` : ''}${key ? `: ${key}` : ''}: ${detail}`);
    this.name = 'PromptConfigError';
  }
}

export type PromptConfigDefaults = Partial<
  Pick<RenderJob, 'steps' | 'guidanceScale' | 'width' | 'height' | 'frames' | 'fps' | 'scheduler' | 'model'>
>;

export interface PromptConfigOptions {
  /** Folder that relative paths in the file resolve against (default: the current directory, as AnimateDiff runs from its repo root). */
  baseDir?: string;
  /** Defaults for keys an entry leaves out (the CLI's flags). */
  defaults?: PromptConfigDefaults;
  /**
   * Second-rank defaults of an entry that renders with an exported model folder: its `model`, or undefined
   * for the default model (the CLI passes model.yaml's `defaults`). Not asked for entries that export a
   * model from `path` / `motion_module`; AnimateDiff's own defaults (512x512, 16 frames, 25 steps, 7.5) come last.
   */
  modelDefaults?: (model: string | undefined) => PromptConfigDefaults | undefined;
  /** Source of random seeds for `-1` (default: crypto). */
  randomSeed?: () => bigint;
}

const KNOWN_KEYS = [
  'prompt',
  'n_prompt',
  'steps',
  'guidance_scale',
  'seed',
  'W',
  'H',
  'L',
  'motion_module',
  'path',
  'dreambooth_path',
  'base',
  'lora_model_path',
  'lora_alpha',
  'motion_module_lora_configs',
  'adapter_lora_path',
  'adapter_lora_scale',
  'domain_lora_scale',
  'inference_config',
  'scheduler',
  'fps',
  'context_length',
  'context_overlap',
  'free_init',
  'init_video',
  'init_image',
  'strength',
  'anchor_first_frame',
  'free_noise',
  'motion_scale',
  'model',
  'controlnet',
] as const;

const SPARSECTRL_KEYS = `AnimateDiff's SparseCtrl keys (controlnet_*) are not read: export the SparseCtrl (animatorch export --controlnet v3_sd15_sparsectrl_rgb.ckpt --out DIR) and give controlnet: ["path=DIR,input=a.png;b.png,frames=0,8"]`;

/** Keys of AnimateDiff features animatorch does not implement: an entry using them is an error, not silently different. */
const UNSUPPORTED_KEYS: Record<string, string> = {
  controlnet_path: SPARSECTRL_KEYS,
  controlnet_config: SPARSECTRL_KEYS,
  controlnet_images: SPARSECTRL_KEYS,
  controlnet_image_indexs: SPARSECTRL_KEYS,
};

const U64 = 1n << 64n;

/** Reads and expands a prompt config file into render jobs. */
export async function readPromptConfig(file: string, options: PromptConfigOptions = {}): Promise<RenderJob[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PromptConfigError(file, undefined, undefined, code === 'ENOENT' ? 'no such file' : `cannot read (${(err as Error).message})`);
  }
  return parsePromptConfig(text, file, options);
}

/** Parses prompt config YAML text; `file` names it in errors. */
export function parsePromptConfig(text: string, file: string, options: PromptConfigOptions = {}): RenderJob[] {
  const doc = parseDocument(text, { intAsBigInt: true, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) throw new PromptConfigError(file, undefined, undefined, `invalid YAML: ${doc.errors[0]!.message}`);
  const root = doc.contents;
  const js: unknown = doc.toJS({ maxAliasCount: 1000 });
  const entries: Array<{ name: string; value: unknown }> = [];
  if (isMap(root) && isObj(js)) {
    for (const [name, value] of Object.entries(js)) entries.push({ name, value });
  } else if (isSeq(root) && Array.isArray(js)) {
    root.items.forEach((item, i) => {
      const comment = (item as { commentBefore?: string | null }).commentBefore ?? (i === 0 ? doc.commentBefore : null);
      const name = comment?.trim().split('\n').pop()?.trim() || `#${i + 1}`;
      entries.push({ name, value: js[i] });
    });
  } else {
    throw new PromptConfigError(file, undefined, undefined, 'expected a mapping of named entries (or a list of entries) at the top level');
  }
  if (entries.length === 0) throw new PromptConfigError(file, undefined, undefined, 'no entries');
  const inferenceKeys = entries.map((e) => e.name).filter((n) => INFERENCE_CONFIG_KEYS.includes(n));
  if (inferenceKeys.length)
    throw new PromptConfigError(
      file,
      undefined,
      undefined,
      `this is an AnimateDiff inference config (${inferenceKeys.join(', ')}), not a prompt config. Pass a prompt config ` +
        '(configs/prompts/*.yaml) to --config; an inference config belongs in an entry\'s `inference_config:` key, and animatorch ' +
        'takes its settings from the exported model (model.yaml: motion module version, scheduler), so it can simply be left out',
    );
  // Names from comments can repeat; keep them unique for messages and output names.
  const seen = new Map<string, number>();
  for (const e of entries) {
    const n = seen.get(e.name) ?? 0;
    seen.set(e.name, n + 1);
    if (n > 0) e.name = `${e.name} (${n + 1})`;
  }
  const jobs: RenderJob[] = [];
  entries.forEach((e, i) => jobs.push(...expandEntry(e.value, file, e.name, i, options)));
  return jobs;
}

/** What the original AnimateDiff does with lists of different lengths, for the mismatch errors. */
const zipNote = (prompts: number, other: number): string =>
  ` (AnimateDiff's animate.py pairs prompt, n_prompt and seed with zip() and silently renders only the first ${Math.min(prompts, other)}; make the lists the same length)`;

/** Keys of AnimateDiff's inference configs (configs/inference/*.yaml), which are not prompt configs. */
const INFERENCE_CONFIG_KEYS = ['unet_additional_kwargs', 'noise_scheduler_kwargs'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function expandEntry(value: unknown, file: string, entry: string, entryIndex: number, options: PromptConfigOptions): RenderJob[] {
  const fail = (key: string | undefined, detail: string): never => {
    throw new PromptConfigError(file, entry, key, detail);
  };
  const got = (v: unknown): string => `got ${typeof v === 'bigint' ? String(v) : describe(v)}`;
  if (!isObj(value)) return fail(undefined, `expected a mapping of settings, ${got(value)}`);
  const e = value;
  for (const key of Object.keys(e)) {
    if (key in UNSUPPORTED_KEYS) fail(key, UNSUPPORTED_KEYS[key]!);
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) fail(key, `unknown key (known: ${KNOWN_KEYS.join(', ')})`);
  }
  const baseDir = options.baseDir ?? process.cwd();
  const defaults = options.defaults ?? {};

  const int = (key: string, min: number, fallback: number | undefined): number | undefined => {
    const v = e[key];
    if (v === undefined || v === null) return fallback;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) fail(key, `expected an integer >= ${min}, ${got(v)}`);
    return n as number;
  };
  const num = (key: string, min: number, exclusive: boolean, fallback: number | undefined): number | undefined => {
    const v = e[key];
    if (v === undefined || v === null) return fallback;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min || (exclusive && n === min)) fail(key, `expected a number ${exclusive ? '>' : '>='} ${min}, ${got(v)}`);
    return n as number;
  };
  const str = (key: string): string | undefined => {
    const v = e[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') fail(key, `expected a string, ${got(v)}`);
    return v as string;
  };
  const pathOf = (key: string, v: unknown = e[key]): string | undefined => {
    if (v === undefined || v === null || v === '') return undefined; // AnimateDiff writes "" for "none"
    if (typeof v !== 'string') fail(key, `expected a file path, ${got(v)}`);
    return path.resolve(baseDir, v as string);
  };
  const stringList = (key: string, required: boolean): string[] => {
    const v = e[key];
    if (v === undefined || v === null) {
      if (required) fail(key, 'missing (expected a list of strings)');
      return [];
    }
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0) fail(key, `expected a string or a non-empty list of strings, ${got(v)}`);
    (list as unknown[]).forEach((s, i) => {
      if (typeof s !== 'string') fail(`${key}[${i}]`, `expected a string, ${got(s)}`);
    });
    return list as string[];
  };

  const prompts = stringList('prompt', true);
  const nPromptsRaw = stringList('n_prompt', false);
  if (nPromptsRaw.length > 1 && nPromptsRaw.length !== prompts.length)
    fail('n_prompt', `expected 1 negative prompt or one per prompt (${prompts.length}), got ${nPromptsRaw.length}${zipNote(prompts.length, nPromptsRaw.length)}`);
  const nPrompts = nPromptsRaw.length === 0 ? prompts.map(() => '') : nPromptsRaw.length === 1 ? prompts.map(() => nPromptsRaw[0]!) : nPromptsRaw;

  // Seeds: one integer or a list; -1 means random (AnimateDiff: torch.seed()).
  const seedRaw = e.seed;
  const seedList: unknown[] = seedRaw === undefined || seedRaw === null ? [-1n] : Array.isArray(seedRaw) ? seedRaw : [seedRaw];
  if (seedList.length === 0) fail('seed', 'expected an integer or a non-empty list of integers, got []');
  if (seedList.length > 1 && seedList.length !== prompts.length)
    fail('seed', `expected 1 seed or one per prompt (${prompts.length}), got ${seedList.length}${zipNote(prompts.length, seedList.length)}`);
  const random = options.randomSeed ?? randomSeed;
  const seeds = seedList.map((s, i): bigint | 'random' => {
    const key = Array.isArray(seedRaw) ? `seed[${i}]` : 'seed';
    if (typeof s === 'string' && /^-?\d+$/.test(s.trim())) s = BigInt(s.trim()); // quoted seeds are fine
    if (typeof s !== 'bigint') return fail(key, `expected an integer (up to 2^64-1; -1 for random), ${got(s)}`);
    if (s === -1n) return 'random';
    if (s < -(1n << 63n) || s >= U64) return fail(key, `expected an integer in [-2^63, 2^64), got ${s}`);
    return s < 0n ? s + U64 : s; // negatives wrap as torch.manual_seed does
  });
  // A single seed is reused for every prompt; -1 draws a fresh seed for each render, as AnimateDiff's torch.seed() does.
  const seedFor = (i: number): { seed: bigint; randomSeed: boolean } => {
    const s = seeds.length === 1 ? seeds[0]! : seeds[i]!;
    return s === 'random' ? { seed: random(), randomSeed: true } : { seed: s, randomSeed: false };
  };

  if (e.path !== undefined && e.dreambooth_path !== undefined && e.path !== '' && e.dreambooth_path !== '')
    fail('path', 'give either path or dreambooth_path, not both');
  const base = pathOf('dreambooth_path') ?? pathOf('path') ?? pathOf('base');
  const model = pathOf('model') ?? defaults.model;
  const exportsModel = base !== undefined || (e.motion_module !== undefined && e.motion_module !== null && e.motion_module !== '');
  const md = (!exportsModel && options.modelDefaults?.(model)) || {};

  const width = int('W', 8, defaults.width ?? md.width ?? 512)!;
  const height = int('H', 8, defaults.height ?? md.height ?? 512)!;
  if (width % 8) fail('W', `expected a multiple of 8, got ${width}`);
  if (height % 8) fail('H', `expected a multiple of 8, got ${height}`);
  const frames = int('L', 1, defaults.frames ?? md.frames ?? 16)!;
  const steps = int('steps', 1, defaults.steps ?? md.steps ?? 25)!;
  const guidanceScale = num('guidance_scale', 0, false, defaults.guidanceScale ?? md.guidanceScale ?? 7.5)!;
  const fps = num('fps', 0, true, defaults.fps ?? md.fps ?? 8)!;
  const contextLength = int('context_length', 1, undefined);
  const contextOverlap = int('context_overlap', 0, undefined);
  if (contextLength !== undefined && contextOverlap !== undefined && contextOverlap >= contextLength)
    fail('context_overlap', `expected less than context_length (${contextLength}), got ${contextOverlap}`);
  const scheduler = str('scheduler') ?? defaults.scheduler ?? md.scheduler;
  const freeInit = freeInitOf(e.free_init, fail);
  const init = initFromConfig(e, baseDir, (key, detail) => fail(key, detail));
  const controlnet = controlNetsFromConfig(e.controlnet, fail, (k, v) => pathOf(k, v)!);
  const freeNoise = freeNoiseFromConfig(e.free_noise, fail);
  const motionScale = num('motion_scale', -Infinity, false, undefined);

  const mmRaw = e.motion_module;
  let motionModules: Array<string | undefined>;
  if (mmRaw === undefined || mmRaw === null || mmRaw === '') motionModules = [undefined];
  else if (Array.isArray(mmRaw)) {
    if (mmRaw.length === 0) fail('motion_module', 'expected a path or a non-empty list of paths, got []');
    motionModules = mmRaw.map((m, i) => pathOf(`motion_module[${i}]`, m));
  } else motionModules = [pathOf('motion_module')];

  const loraPath = pathOf('lora_model_path');
  const lora = loraPath ? { path: loraPath, alpha: num('lora_alpha', -Infinity, false, 0.8)! } : undefined;
  if (!loraPath) num('lora_alpha', -Infinity, false, 0.8); // still validated

  const mlRaw = e.motion_module_lora_configs;
  const motionLoras: WeightedPath[] = [];
  if (mlRaw !== undefined && mlRaw !== null) {
    if (!Array.isArray(mlRaw)) fail('motion_module_lora_configs', `expected a list of {path, alpha}, ${got(mlRaw)}`);
    (mlRaw as unknown[]).forEach((item, i) => {
      const key = `motion_module_lora_configs[${i}]`;
      if (!isObj(item)) return fail(key, `expected {path, alpha}, ${got(item)}`);
      for (const k of Object.keys(item)) if (k !== 'path' && k !== 'alpha') fail(`${key}.${k}`, 'unknown key (known: path, alpha)');
      const p = pathOf(`${key}.path`, item.path);
      if (!p) return fail(`${key}.path`, 'missing (expected a MotionLoRA file path)');
      const a = item.alpha === undefined ? 1 : typeof item.alpha === 'bigint' ? Number(item.alpha) : item.alpha;
      if (typeof a !== 'number' || !Number.isFinite(a)) fail(`${key}.alpha`, `expected a number, ${got(item.alpha)}`);
      motionLoras.push({ path: p, alpha: a as number });
    });
  }

  const adapterPath = pathOf('adapter_lora_path');
  if (e.adapter_lora_scale !== undefined && e.domain_lora_scale !== undefined) fail('adapter_lora_scale', 'give either adapter_lora_scale or domain_lora_scale, not both');
  const adapterScale = num('adapter_lora_scale', -Infinity, false, undefined) ?? num('domain_lora_scale', -Infinity, false, 1)!;
  const adapterLora = adapterPath ? { path: adapterPath, alpha: adapterScale } : undefined;
  const inferenceConfig = pathOf('inference_config');

  const jobs: RenderJob[] = [];
  for (const motionModule of motionModules) {
    prompts.forEach((prompt, i) => {
      const { seed, randomSeed } = seedFor(i);
      jobs.push({
        source: { file, entry, entryIndex, promptIndex: i },
        prompt,
        negativePrompt: nPrompts[i]!,
        seed,
        randomSeed,
        steps,
        guidanceScale,
        width,
        height,
        frames,
        fps,
        ...(scheduler !== undefined ? { scheduler } : {}),
        ...(contextLength !== undefined ? { contextLength } : {}),
        ...(contextOverlap !== undefined ? { contextOverlap } : {}),
        ...(freeInit ? { freeInit: { ...freeInit } } : {}),
        ...(init ? { init: { ...init } } : {}),
        ...(controlnet ? { controlnet } : {}),
        ...(freeNoise ? { freeNoise: { ...freeNoise } } : {}),
        ...(motionScale !== undefined ? { motionScale } : {}),
        ...(model !== undefined ? { model } : {}),
        ...(base !== undefined ? { base } : {}),
        ...(motionModule !== undefined ? { motionModule } : {}),
        ...(lora ? { lora } : {}),
        motionLoras: motionLoras.map((m) => ({ ...m })),
        ...(adapterLora ? { adapterLora } : {}),
        ...(inferenceConfig !== undefined ? { inferenceConfig } : {}),
      });
    });
  }
  return jobs;
}

const FREE_INIT_KEYS: Record<string, keyof FreeInitOptions> = {
  iterations: 'iterations',
  method: 'method',
  order: 'order',
  spatial_stop_frequency: 'spatialStopFrequency',
  temporal_stop_frequency: 'temporalStopFrequency',
  fast_sampling: 'fastSampling',
};

/** `free_init`: true, false or an object with diffusers' enable_free_init names (num_iters as `iterations`). */
function freeInitOf(v: unknown, fail: (key: string | undefined, detail: string) => never): ResolvedFreeInit | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean' && !isObj(v)) fail('free_init', `expected true or { ${Object.keys(FREE_INIT_KEYS).join(', ')} }, got ${describe(v)}`);
  const options: Record<string, unknown> = {};
  if (isObj(v))
    for (const [k, x] of Object.entries(v)) {
      if (!FREE_INIT_KEYS[k]) fail(`free_init.${k}`, `unknown key (known: ${Object.keys(FREE_INIT_KEYS).join(', ')})`);
      options[FREE_INIT_KEYS[k]!] = typeof x === 'bigint' ? Number(x) : x; // YAML integers come as BigInt
    }
  try {
    return resolveFreeInit(typeof v === 'boolean' ? v : options);
  } catch (err) {
    if (!(err instanceof InvalidParameterError)) throw err;
    const key = Object.entries(FREE_INIT_KEYS).find(([, camel]) => err.parameter === `freeInit.${camel}`)?.[0];
    return fail(key ? `free_init.${key}` : 'free_init', `expected ${err.expected}, got ${describe(err.actual)}`);
  }
}
