/**
 * The motion modules' options in the render front ends, FreeNoise and the motion scale: `render` flags,
 * prompt-config keys (free_noise with diffusers' enable_free_noise names in snake_case, motion_scale) and
 * recipes (generate()'s resolved options under `extra`).
 */
import { describe, InvalidParameterError } from '../errors';
import { FREE_NOISE_KEYS, type FreeNoiseOptions, type ResolvedFreeNoise, resolveFreeNoise } from '../pipelines/free-noise';
import { isPlainObject } from '../validate';

/** The `render` flags (lib/cli/motion-options.ts). */
export interface MotionFlags {
  motionScale?: number;
  freeNoise?: boolean;
  freeNoiseContextLength?: number;
  freeNoiseContextStride?: number;
  freeNoiseWeightingScheme?: string;
  freeNoiseNoiseType?: string;
}

const FLAG_OF: Record<keyof FreeNoiseOptions, string> = {
  contextLength: '--free-noise-context-length',
  contextStride: '--free-noise-context-stride',
  weightingScheme: '--free-noise-weighting-scheme',
  noiseType: '--free-noise-noise-type',
};
const FLAG_KEY: Record<keyof FreeNoiseOptions, keyof MotionFlags> = {
  contextLength: 'freeNoiseContextLength',
  contextStride: 'freeNoiseContextStride',
  weightingScheme: 'freeNoiseWeightingScheme',
  noiseType: 'freeNoiseNoiseType',
};

/** --free-noise and its option flags (any of which turns it on), resolved; errors name the flag. */
export function freeNoiseFromFlags(args: MotionFlags): ResolvedFreeNoise | undefined {
  const options: Record<string, unknown> = {};
  for (const k of FREE_NOISE_KEYS) if (args[FLAG_KEY[k]] !== undefined) options[k] = args[FLAG_KEY[k]];
  if (!args.freeNoise && Object.keys(options).length === 0) return undefined;
  if (args.freeNoise === false) throw new InvalidParameterError('--free-noise', 'on with its option flags', false);
  try {
    return resolveFreeNoise(options);
  } catch (err) {
    if (!(err instanceof InvalidParameterError)) throw err;
    const key = FREE_NOISE_KEYS.find((k) => err.parameter === `freeNoise.${k}`);
    throw new InvalidParameterError(key ? FLAG_OF[key] : '--free-noise', err.expected, err.actual);
  }
}

const CONFIG_KEYS: Record<string, keyof FreeNoiseOptions> = {
  context_length: 'contextLength',
  context_stride: 'contextStride',
  weighting_scheme: 'weightingScheme',
  noise_type: 'noiseType',
};

/** A prompt config's `free_noise`: true, false or { context_length, context_stride, weighting_scheme, noise_type }. */
export function freeNoiseFromConfig(v: unknown, fail: (key: string | undefined, detail: string) => never): ResolvedFreeNoise | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean' && !isPlainObject(v)) fail('free_noise', `expected true or { ${Object.keys(CONFIG_KEYS).join(', ')} }, got ${describe(v)}`);
  const options: Record<string, unknown> = {};
  if (isPlainObject(v))
    for (const [k, x] of Object.entries(v)) {
      if (!CONFIG_KEYS[k]) fail(`free_noise.${k}`, `unknown key (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
      options[CONFIG_KEYS[k]!] = typeof x === 'bigint' ? Number(x) : x; // YAML integers come as BigInt
    }
  try {
    return resolveFreeNoise(typeof v === 'boolean' ? v : options);
  } catch (err) {
    if (!(err instanceof InvalidParameterError)) throw err;
    const key = Object.entries(CONFIG_KEYS).find(([, camel]) => err.parameter === `freeNoise.${camel}`)?.[0];
    return fail(key ? `free_noise.${key}` : 'free_noise', `expected ${err.expected}, got ${describe(err.actual)}`);
  }
}

/** A recipe's extra.freeNoise (written resolved by a FreeNoise render), checked as generate() checks it. */
export function freeNoiseFromRecipe(v: unknown, file: string): ResolvedFreeNoise | undefined {
  try {
    return resolveFreeNoise(v);
  } catch (err) {
    if (err instanceof InvalidParameterError) throw new InvalidParameterError(`${file}: extra.${err.parameter}`, err.expected, err.actual);
    throw err;
  }
}

/** A recipe's extra.motionScale (absent: 1). */
export function motionScaleFromRecipe(v: unknown, file: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError(`${file}: extra.motionScale`, 'a finite number', v);
  return v;
}
