/**
 * diffusers-style configs (scheduler_config.json and friends): snake_case keys
 * exactly as diffusers writes them, resolved against a per-class spec.
 *
 * As in diffusers' ConfigMixin:
 * - `_class_name`, `_diffusers_version` and every other `_`-prefixed key are metadata and ignored;
 * - keys the class does not know (a config shared between schedulers, keys of a
 *   newer/older diffusers) are ignored, and reported in `ignored`;
 * - a missing key, or `null`, takes the class default.
 * Unlike diffusers, a known key with a value of the wrong type or outside its
 * allowed set is an InvalidParameterError naming the key.
 */
import { InvalidParameterError } from './errors';
import { isPlainObject } from './validate';

/** A config as read from JSON. */
export type RawConfig = Record<string, unknown>;

export interface KeySpec<T = unknown> {
  /** The value used when the key is missing or null. */
  readonly default: T;
  /** Returns the validated value or throws an InvalidParameterError naming `key`. */
  readonly parse: (key: string, value: unknown) => T;
}

export type ConfigSpec = Record<string, KeySpec>;

/** The resolved config type of a spec. */
export type ConfigOf<S extends ConfigSpec> = { readonly [K in keyof S]: S[K] extends KeySpec<infer T> ? T : never };

export interface ResolvedConfig<S extends ConfigSpec> {
  config: ConfigOf<S>;
  /** Keys present in the input that the class does not use (metadata keys excluded). */
  ignored: string[];
}

/** Value parsers for the specs. */
export const cfg = {
  int(defaultValue: number, min = -Infinity, max = Infinity): KeySpec<number> {
    return {
      default: defaultValue,
      parse: (key, v) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
          throw new InvalidParameterError(key, `an integer${range(min, max)}`, v);
        return v;
      },
    };
  },
  number(defaultValue: number, min = -Infinity, max = Infinity, exclusiveMin = false): KeySpec<number> {
    return {
      default: defaultValue,
      parse: (key, v) => {
        if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max || (exclusiveMin && v === min))
          throw new InvalidParameterError(key, `a number${exclusiveMin ? ` > ${min}` : range(min, max)}`, v);
        return v;
      },
    };
  },
  /** A number or null (null is a value here, e.g. sigma_min: null means "from the schedule"). */
  optionalNumber(min = -Infinity, exclusiveMin = false): KeySpec<number | null> {
    return {
      default: null,
      parse: (key, v) => {
        if (typeof v !== 'number' || Number.isNaN(v) || v < min || (exclusiveMin && v === min))
          throw new InvalidParameterError(key, `a number${exclusiveMin ? ` > ${min}` : range(min, Infinity)} or null`, v);
        return v;
      },
    };
  },
  bool(defaultValue: boolean): KeySpec<boolean> {
    return {
      default: defaultValue,
      parse: (key, v) => {
        if (typeof v !== 'boolean') throw new InvalidParameterError(key, 'true or false', v);
        return v;
      },
    };
  },
  oneOf<T extends string>(defaultValue: T, allowed: readonly T[]): KeySpec<T> {
    return {
      default: defaultValue,
      parse: (key, v) => {
        if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
          throw new InvalidParameterError(key, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
        return v as T;
      },
    };
  },
  /** null or a non-empty array of finite numbers. */
  numberArray(): KeySpec<number[] | null> {
    return {
      default: null,
      parse: (key, v) => {
        const arr = ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v;
        if (!Array.isArray(arr) || arr.length === 0 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x)))
          throw new InvalidParameterError(key, 'a non-empty array of finite numbers or null', v);
        return arr.slice();
      },
    };
  },
};

function range(min: number, max: number): string {
  if (min === -Infinity) return max === Infinity ? '' : ` <= ${max}`;
  return max === Infinity ? ` >= ${min}` : ` in [${min}, ${max}]`;
}

/** True for metadata keys such as `_class_name`, `_diffusers_version`, `_use_default_values`. */
export const isMetadataKey = (key: string): boolean => key.startsWith('_');

/**
 * Resolves `raw` against `spec`: defaults for missing/null keys, validation of
 * the known ones, unknown and metadata keys ignored.
 */
export function resolveConfig<S extends ConfigSpec>(raw: unknown, spec: S, name = 'config'): ResolvedConfig<S> {
  if (raw === undefined) raw = {};
  if (!isPlainObject(raw)) throw new InvalidParameterError(name, 'a plain object (e.g. the parsed scheduler_config.json)', raw);
  const config: Record<string, unknown> = {};
  for (const [key, keySpec] of Object.entries(spec)) {
    const v = raw[key];
    config[key] = v === undefined || v === null ? keySpec.default : keySpec.parse(key, v);
  }
  const ignored = Object.keys(raw).filter((k) => !isMetadataKey(k) && !(k in spec));
  return { config: Object.freeze(config) as ConfigOf<S>, ignored };
}

/** The `_class_name` of a diffusers config, or undefined. */
export function configClassName(raw: unknown): string | undefined {
  if (!isPlainObject(raw)) return undefined;
  const name = raw._class_name;
  return typeof name === 'string' ? name : undefined;
}
