/** The free functions that make tensors, named as torch names them: tensor(), zeros, randn, cat, ... */
import { InvalidParameterError } from './errors';
import type { Generator } from './generator';
import { binding } from './native/binding';
import { Tensor, type TensorOrScalar, type TypedArray } from './tensor';
import { assertDevice, assertDtype, DEFAULT_DTYPE, type DType, type TensorOptions, torchDtype } from './tensor-options';
import { assertInteger, assertNumber, assertShape } from './validate';

const TYPED_ARRAY_DTYPE: Record<string, DType> = {
  Float32Array: 'float32',
  Float64Array: 'float64',
  Int32Array: 'int32',
  Int16Array: 'int16',
  Int8Array: 'int8',
  Uint8Array: 'uint8',
  Uint8ClampedArray: 'uint8',
  BigInt64Array: 'int64',
};

/**
 * A tensor from host data. Typed arrays keep their type unless `dtype` says
 * otherwise; number/boolean arrays default to float32 / bool.
 */
export function tensor(data: TypedArray | Uint8ClampedArray | readonly number[] | readonly boolean[], shape: number[], options: TensorOptions = {}): Tensor {
  assertShape('shape', shape);
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.device !== undefined) assertDevice('device', options.device);
  let typed: TypedArray;
  let dtype = options.dtype;
  if (Array.isArray(data)) {
    if (data.every((v) => typeof v === 'boolean')) {
      typed = Uint8Array.from(data as boolean[], (b) => (b ? 1 : 0));
      dtype ??= data.length ? 'bool' : DEFAULT_DTYPE;
    } else if (data.every((v) => typeof v === 'number')) {
      typed = Float64Array.from(data as number[]);
      dtype ??= DEFAULT_DTYPE;
    } else {
      throw new InvalidParameterError('data', 'an array of numbers or of booleans', data);
    }
  } else if (ArrayBuffer.isView(data) && TYPED_ARRAY_DTYPE[data.constructor.name]) {
    typed = data instanceof Uint8ClampedArray ? new Uint8Array(data.buffer, data.byteOffset, data.length) : (data as TypedArray);
    dtype ??= TYPED_ARRAY_DTYPE[data.constructor.name];
  } else {
    throw new InvalidParameterError('data', 'a typed array (Float32Array, Float64Array, Int32Array, Int16Array, Int8Array, Uint8Array, BigInt64Array) or an array of numbers', data);
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  if (typed.length !== numel)
    throw new InvalidParameterError('data', `${numel} elements for shape [${shape.join(', ')}]`, `${typed.length} elements`);
  return new Tensor(binding().fromData(typed, shape, torchDtype(dtype!), options.device));
}

function factoryOptions(options: TensorOptions): { dtype: string; device: string } {
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.device !== undefined) assertDevice('device', options.device);
  return { dtype: torchDtype(options.dtype ?? DEFAULT_DTYPE), device: options.device ?? 'cpu' };
}

export function zeros(shape: number[], options: TensorOptions = {}): Tensor {
  assertShape('shape', shape);
  return new Tensor(binding().zeros(shape, factoryOptions(options)));
}

export function ones(shape: number[], options: TensorOptions = {}): Tensor {
  assertShape('shape', shape);
  return new Tensor(binding().ones(shape, factoryOptions(options)));
}

export function full(shape: number[], value: number, options: TensorOptions = {}): Tensor {
  assertShape('shape', shape);
  assertNumber('value', value);
  return new Tensor(binding().full(shape, value, factoryOptions(options)));
}

export const zerosLike = (t: Tensor): Tensor => zeros(t.shape, { dtype: t.dtype, device: t.device });
export const onesLike = (t: Tensor): Tensor => ones(t.shape, { dtype: t.dtype, device: t.device });
export const fullLike = (t: Tensor, value: number): Tensor => full(t.shape, value, { dtype: t.dtype, device: t.device });

/** arange(end) or arange(start, end, step?), as torch.arange; float32 unless `dtype` says otherwise. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  assertNumber('start', start);
  assertNumber('end', end);
  assertNumber('step', step);
  if (step === 0) throw new InvalidParameterError('step', 'a non-zero number', step);
  return new Tensor(binding().arange(start, end, step, factoryOptions(options)));
}

export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  assertNumber('start', start);
  assertNumber('end', end);
  assertInteger('steps', steps, 0);
  return new Tensor(binding().linspace(start, end, steps, factoryOptions(options)));
}

export interface RandomOptions extends TensorOptions {
  /**
   * Draws from this generator, on the generator's device: a CPU generator gives
   * exactly torch.randn(..., generator=torch.Generator().manual_seed(seed)).
   * Move the result with `await t.to({ device })`.
   */
  generator?: Generator;
}

function random(kind: 'randn' | 'rand', shape: number[], options: RandomOptions): Tensor {
  assertShape('shape', shape);
  const { generator, ...rest } = options;
  if (generator && rest.device !== undefined && rest.device !== generator.device && !(rest.device === 'cuda' && generator.device === 'cuda:0'))
    throw new InvalidParameterError('device', `the generator's device '${generator.device}' (draw there, then await t.to({ device }))`, rest.device);
  const b = binding();
  return new Tensor((kind === 'randn' ? b.randn : b.rand).call(b, shape, factoryOptions(rest), generator?.native));
}

/** Standard normal samples (torch.randn). */
export const randn = (shape: number[], options: RandomOptions = {}): Tensor => random('randn', shape, options);
/** Uniform samples in [0, 1) (torch.rand). */
export const rand = (shape: number[], options: RandomOptions = {}): Tensor => random('rand', shape, options);

/** A random permutation of 0..n-1, int64 (torch.randperm; with a CPU generator, equal to Python's draw). */
export function randperm(n: number, options: Omit<RandomOptions, 'dtype'> = {}): Tensor {
  assertInteger('n', n, 0);
  const { generator, ...rest } = options;
  if (generator && rest.device !== undefined && rest.device !== generator.device)
    throw new InvalidParameterError('device', `the generator's device '${generator.device}'`, rest.device);
  return new Tensor(binding().randperm(n, factoryOptions(rest), generator?.native));
}

function assertTensors(name: string, tensors: unknown): asserts tensors is Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0 || !tensors.every((t) => t instanceof Tensor))
    throw new InvalidParameterError(name, 'a non-empty array of Tensors', tensors);
}

export function cat(tensors: Tensor[], dim = 0): Tensor {
  assertTensors('tensors', tensors);
  return new Tensor(binding().cat(tensors, dim));
}

export function stack(tensors: Tensor[], dim = 0): Tensor {
  assertTensors('tensors', tensors);
  return new Tensor(binding().stack(tensors, dim));
}

/** torch.where(condition, a, b). */
export function where(condition: Tensor, a: Tensor, b: TensorOrScalar): Tensor {
  return a.where(condition, b);
}
