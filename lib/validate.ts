/** Small predicates for validating public arguments (lib/ checks, C++ trusts). */
import { InvalidParameterError } from './errors';

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

export function assertInteger(name: string, v: unknown, min = -Infinity, max = Infinity): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = min === -Infinity ? (max === Infinity ? '' : ` <= ${max}`) : max === Infinity ? ` >= ${min}` : ` in [${min}, ${max}]`;
    throw new InvalidParameterError(name, `an integer${range}`, v);
  }
}

export function assertNumber(name: string, v: unknown, min = -Infinity, max = Infinity): asserts v is number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max) {
    const range = min === -Infinity ? (max === Infinity ? '' : ` <= ${max}`) : max === Infinity ? ` >= ${min}` : ` in [${min}, ${max}]`;
    throw new InvalidParameterError(name, `a number${range}`, v);
  }
}

export function assertShape(name: string, v: unknown): asserts v is number[] {
  if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && d >= 0))
    throw new InvalidParameterError(name, 'an array of non-negative integers', v);
}

export function assertOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): asserts v is T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new InvalidParameterError(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
}

/** A finite number > 0 (e.g. fps). */
export function assertPositive(name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidParameterError(name, 'a number > 0', v);
}
