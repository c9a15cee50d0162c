/**
 * Seeded random generators. Seeds are 64-bit: AnimateDiff's configs use seeds
 * above 2^63, so they are taken as BigInt or decimal strings and never pass
 * through a JS number.
 */
import { randomBytes } from 'node:crypto';
import { assertDeviceAvailable } from './device';
import { InvalidParameterError } from './errors';
import { binding } from './native/binding';
import type { NativeGenerator } from './native/types';
import { assertDevice, type Device, Tensor } from './tensor';

export type Seed = number | bigint | string;

const U64 = 1n << 64n;

/**
 * A seed as an unsigned 64-bit BigInt. Negative seeds wrap to 2^64 + seed, as
 * torch.manual_seed does; numbers must be safe integers (above 2^53 they have
 * already lost digits: pass a BigInt or a string).
 */
export function parseSeed(seed: Seed, name = 'seed'): bigint {
  let value: bigint;
  if (typeof seed === 'bigint') value = seed;
  else if (typeof seed === 'string' && /^\s*-?\d+\s*$/.test(seed)) value = BigInt(seed.trim());
  else if (typeof seed === 'number' && Number.isSafeInteger(seed)) value = BigInt(seed);
  else if (typeof seed === 'number' && Number.isInteger(seed))
    throw new InvalidParameterError(name, 'a safe integer, a BigInt or a decimal string (numbers above 2^53 lose digits)', seed);
  else throw new InvalidParameterError(name, 'an integer, a BigInt or a decimal string', seed);
  if (value < -(1n << 63n) || value >= U64) throw new InvalidParameterError(name, 'a value in [-2^63, 2^64)', seed);
  return value < 0n ? value + U64 : value;
}

/** A fresh random seed (below 2^63, so it also fits tools that take signed 64-bit seeds). */
export function randomSeed(): bigint {
  return randomBytes(8).readBigUInt64BE() & ((1n << 63n) - 1n);
}

export class Generator {
  /** The addon's handle. Internal. */
  readonly native: NativeGenerator;

  /** @internal use createGenerator(). */
  constructor(native: NativeGenerator) {
    this.native = native;
  }
  get device(): Device {
    return this.native.device;
  }
  /** The seed it was last seeded with, as an unsigned 64-bit BigInt. */
  get initialSeed(): bigint {
    return this.native.initialSeed;
  }
  /** Reseeds it (torch.Generator.manual_seed). */
  manualSeed(seed: Seed): this {
    this.native.manualSeed(parseSeed(seed));
    return this;
  }
  /** Its state as a uint8 tensor (torch.Generator.get_state). */
  getState(): Tensor {
    return new Tensor(this.native.getState());
  }
  setState(state: Tensor): this {
    this.native.setState(state);
    return this;
  }
}

/**
 * A libtorch generator seeded with `seed`. On 'cpu' (the default) randn with it
 * equals Python's torch.randn(..., generator=torch.Generator().manual_seed(seed))
 * bit for bit; on 'cuda' it replays torch.manual_seed(seed) followed by draws on CUDA.
 */
export function createGenerator(seed: Seed, device: Device = 'cpu'): Generator {
  const value = parseSeed(seed);
  assertDevice('device', device);
  assertDeviceAvailable('device', device);
  return new Generator(new (binding().NativeGenerator)(value, device));
}
