/**
 * Tensor: a libtorch tensor owned by JavaScript. Math is synchronous, as in
 * PyTorch (on CUDA it only enqueues kernels); anything that moves data between
 * host and device is async: `toArray()`, `item()`, `to()`. The functions that make
 * tensors (tensor(), zeros, randn, cat, ...) are in tensor-factories.ts.
 */
import { DisposedError, InvalidParameterError } from './errors';
import { binding } from './native/binding';
import { nativeError } from './native/native-error';
import type { NativeTensor, NativeTypedArray } from './native/types';
import { assertDevice, assertDtype, type Device, dtypeFromTorch, type DType, type TensorOptions, torchDtype } from './tensor-options';
import { assertOneOf, assertShape } from './validate';

export { assertDevice, assertDtype, DTYPES, sameDevice } from './tensor-options';
export type { Device, DType, TensorOptions } from './tensor-options';

export type TypedArray = NativeTypedArray;

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;
type Dims = number | number[];

// Tensors created inside tidy() are recorded here and disposed when it ends.
const scopes: Set<Tensor>[] = [];

export class Tensor {
  /** The addon's handle. Internal: use the methods. */
  readonly native: NativeTensor;

  /** @internal Wraps a native handle; use tensor(), zeros(), ... to make tensors. */
  constructor(native: NativeTensor) {
    this.native = native;
    scopes[scopes.length - 1]?.add(this);
  }

  get shape(): number[] {
    return this.native.shape;
  }
  get dtype(): DType {
    return dtypeFromTorch(this.native.dtype);
  }
  get device(): Device {
    return this.native.device;
  }
  get ndim(): number {
    return this.native.shape.length;
  }
  get numel(): number {
    return this.native.numel();
  }
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Frees the tensor's memory now (the finalizer would otherwise do it after GC). Idempotent. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Copies the data to the host: Float32Array for float16/bfloat16, Uint8Array for bool, BigInt64Array for int64. */
  async toArray(): Promise<TypedArray> {
    const caller = new Error();
    return this.live().toArray().catch((err: unknown) => Promise.reject(nativeError(err, caller)));
  }
  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    const caller = new Error();
    return this.live().item().catch((err: unknown) => Promise.reject(nativeError(err, caller)));
  }
  /** A copy on another device and/or dtype. */
  async to(options: TensorOptions): Promise<Tensor> {
    if (options.device !== undefined) assertDevice('device', options.device);
    if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
    const caller = new Error();
    const native = this.live();
    return new Tensor(await native.to(options.device, options.dtype && torchDtype(options.dtype)).catch((err: unknown) => Promise.reject(nativeError(err, caller))));
  }
  /** Same device, another dtype (synchronous, like `t.to(dtype)` in PyTorch). */
  astype(dtype: DType): Tensor {
    assertDtype('dtype', dtype);
    return this.wrap(this.live().astype(torchDtype(dtype)));
  }

  // Elementwise, with broadcasting and PyTorch's type promotion (numbers act as Python scalars).
  add(other: TensorOrScalar, alpha?: number): Tensor {
    return this.wrap(this.live().add(other, alpha));
  }
  sub(other: TensorOrScalar, alpha?: number): Tensor {
    return this.wrap(this.live().sub(other, alpha));
  }
  mul(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().mul(other));
  }
  div(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().div(other));
  }
  pow(exponent: TensorOrScalar): Tensor {
    return this.wrap(this.live().pow(exponent));
  }
  maximum(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().maximum(other));
  }
  minimum(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().minimum(other));
  }
  remainder(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().remainder(other));
  }
  atan2(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().atan2(other));
  }
  eq(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().eq(other));
  }
  ne(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().ne(other));
  }
  gt(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().gt(other));
  }
  ge(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().ge(other));
  }
  lt(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().lt(other));
  }
  le(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().le(other));
  }
  logicalAnd(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().logicalAnd(other));
  }
  logicalOr(other: TensorOrScalar): Tensor {
    return this.wrap(this.live().logicalOr(other));
  }
  logicalNot(): Tensor {
    return this.wrap(this.live().logicalNot());
  }
  neg(): Tensor {
    return this.wrap(this.live().neg());
  }
  abs(): Tensor {
    return this.wrap(this.live().abs());
  }
  sqrt(): Tensor {
    return this.wrap(this.live().sqrt());
  }
  rsqrt(): Tensor {
    return this.wrap(this.live().rsqrt());
  }
  exp(): Tensor {
    return this.wrap(this.live().exp());
  }
  log(): Tensor {
    return this.wrap(this.live().log());
  }
  sin(): Tensor {
    return this.wrap(this.live().sin());
  }
  cos(): Tensor {
    return this.wrap(this.live().cos());
  }
  tanh(): Tensor {
    return this.wrap(this.live().tanh());
  }
  sigmoid(): Tensor {
    return this.wrap(this.live().sigmoid());
  }
  sign(): Tensor {
    return this.wrap(this.live().sign());
  }
  floor(): Tensor {
    return this.wrap(this.live().floor());
  }
  ceil(): Tensor {
    return this.wrap(this.live().ceil());
  }
  round(): Tensor {
    return this.wrap(this.live().round());
  }
  square(): Tensor {
    return this.wrap(this.live().square());
  }
  reciprocal(): Tensor {
    return this.wrap(this.live().reciprocal());
  }
  isnan(): Tensor {
    return this.wrap(this.live().isnan());
  }
  isfinite(): Tensor {
    return this.wrap(this.live().isfinite());
  }
  /** Clamps to [min, max]; either bound may be omitted (null/undefined). */
  clamp(min?: number | null, max?: number | null): Tensor {
    return this.wrap(this.live().clamp(min ?? undefined, max ?? undefined));
  }
  /** torch.where(condition, this, other). */
  where(condition: Tensor, other: TensorOrScalar): Tensor {
    return this.wrap(this.live().where(condition, other));
  }
  /** this + weight * (end - this). */
  lerp(end: TensorOrScalar, weight: Tensor | number): Tensor {
    return this.wrap(this.live().lerp(end, weight));
  }
  matmul(other: Tensor): Tensor {
    return this.wrap(this.live().matmul(other));
  }

  // Reductions: over all elements when `dim` is omitted.
  mean(dim?: Dims, keepdim = false): Tensor {
    return this.wrap(this.live().mean(dim, keepdim));
  }
  sum(dim?: Dims, keepdim = false): Tensor {
    return this.wrap(this.live().sum(dim, keepdim));
  }
  /** Standard deviation, unbiased (Bessel's correction) by default as in PyTorch. */
  std(dim?: Dims, options: { keepdim?: boolean; unbiased?: boolean } = {}): Tensor {
    return this.wrap(this.live().std(dim, options.keepdim ?? false, options.unbiased ?? true));
  }
  /** Maximum values over `dim` (torch.amax), or the overall maximum. */
  max(dim?: Dims, keepdim = false): Tensor {
    return this.wrap(this.live().amax(dim, keepdim));
  }
  min(dim?: Dims, keepdim = false): Tensor {
    return this.wrap(this.live().amin(dim, keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return this.wrap(this.live().argmax(dim, keepdim));
  }
  cumsum(dim: number): Tensor {
    return this.wrap(this.live().cumsum(dim));
  }

  // Shape and views.
  reshape(shape: number[]): Tensor {
    return this.wrap(this.live().reshape(shape));
  }
  view(shape: number[]): Tensor {
    return this.wrap(this.live().view(shape));
  }
  permute(dims: number[]): Tensor {
    return this.wrap(this.live().permute(dims));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return this.wrap(this.live().transpose(dim0, dim1));
  }
  squeeze(dim?: number): Tensor {
    return this.wrap(this.live().squeeze(dim));
  }
  unsqueeze(dim: number): Tensor {
    return this.wrap(this.live().unsqueeze(dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return this.wrap(this.live().flatten(startDim, endDim));
  }
  expand(shape: number[]): Tensor {
    return this.wrap(this.live().expand(shape));
  }
  repeat(repeats: number[]): Tensor {
    return this.wrap(this.live().repeat(repeats));
  }
  repeatInterleave(repeats: number, dim?: number): Tensor {
    return this.wrap(this.live().repeatInterleave(repeats, dim));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return this.wrap(this.live().narrow(dim, start, length));
  }
  /** Python's t[..., start:end:step] along `dim`; negative indices count from the end. */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return this.wrap(this.live().slice(dim, start, end, step));
  }
  /** t.select(dim, index): removes `dim`. */
  select(dim: number, index: number): Tensor {
    return this.wrap(this.live().select(dim, index));
  }
  indexSelect(dim: number, index: Tensor | number[]): Tensor {
    const idx = Array.isArray(index) ? new Tensor(binding().fromData(Float64Array.from(index), [index.length], torchDtype('int64'), this.device)) : index;
    try {
      return this.wrap(this.live().indexSelect(dim, idx));
    } finally {
      if (idx !== index) idx.dispose();
    }
  }
  flip(dims: Dims): Tensor {
    return this.wrap(this.live().flip(typeof dims === 'number' ? [dims] : dims));
  }
  roll(shifts: Dims, dims: Dims): Tensor {
    return this.wrap(this.live().roll(typeof shifts === 'number' ? [shifts] : shifts, typeof dims === 'number' ? [dims] : dims));
  }
  contiguous(): Tensor {
    return this.wrap(this.live().contiguous());
  }
  clone(): Tensor {
    return this.wrap(this.live().clone());
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return this.live().chunk(chunks, dim).map((n) => new Tensor(n));
  }
  split(splitSize: number | number[], dim = 0): Tensor[] {
    return this.live().split(splitSize, dim).map((n) => new Tensor(n));
  }
  unbind(dim = 0): Tensor[] {
    return this.live().unbind(dim).map((n) => new Tensor(n));
  }
  isContiguous(): boolean {
    return this.native.isContiguous();
  }

  /**
   * F.pad: `pad` lists (left, right) pairs from the last dimension backwards.
   * Modes 'constant' (with `value`), 'reflect', 'replicate', 'circular'.
   */
  pad(pad: number[], options: { mode?: 'constant' | 'reflect' | 'replicate' | 'circular'; value?: number } = {}): Tensor {
    if (!Array.isArray(pad) || pad.length % 2 !== 0 || !pad.every(Number.isInteger))
      throw new InvalidParameterError('pad', 'an even-length array of integers', pad);
    return this.wrap(this.live().pad(pad, options.mode ?? 'constant', options.value ?? 0));
  }

  /**
   * F.interpolate over the trailing spatial dims ([N,C,H,W], or [N,C,D,H,W] for nearest).
   * Give `size` or `scaleFactor` (output = floor(input * scale), as PyTorch computes it).
   */
  interpolate(options: { size?: number[]; scaleFactor?: number | number[]; mode?: 'nearest' | 'bilinear'; alignCorners?: boolean }): Tensor {
    const mode = options.mode ?? 'nearest';
    assertOneOf('mode', mode, ['nearest', 'bilinear'] as const);
    const spatial = this.shape.slice(2);
    let size = options.size;
    if (size === undefined) {
      const sf = options.scaleFactor;
      if (sf === undefined) throw new InvalidParameterError('interpolate', 'size or scaleFactor');
      const factors = typeof sf === 'number' ? spatial.map(() => sf) : sf;
      if (factors.length !== spatial.length) throw new InvalidParameterError('scaleFactor', `${spatial.length} factors`, sf);
      size = spatial.map((d, k) => Math.floor(d * factors[k]!));
    }
    assertShape('size', size);
    return this.wrap(this.live().interpolate(size, mode, options.alignCorners ?? false));
  }

  toString(): string {
    return this.disposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** The native handle, or a DisposedError when the tensor was disposed. */
  private live(): NativeTensor {
    if (this.native.disposed) throw new DisposedError('Tensor');
    return this.native;
  }
  private wrap(native: NativeTensor): Tensor {
    return new Tensor(native);
  }
}

/**
 * Runs `fn` and disposes every tensor created during it except those it
 * returns (found in the result, its arrays and plain objects) and those passed
 * to keep(). `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new InvalidParameterError('fn', 'a synchronous function (tidy cannot track async work)');
  const keepers = new Set<Tensor>();
  collect(result, keepers);
  for (const t of scope) if (!keepers.has(t)) t.dispose();
  // Returned tensors belong to the enclosing scope, if any.
  const outer = scopes[scopes.length - 1];
  if (outer) for (const t of keepers) outer.add(t);
  return result;
}

/** Exempts a tensor from the enclosing tidy() scopes. */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) into.add(value);
  else if (depth < 8 && Array.isArray(value)) for (const v of value) collect(v, into, depth + 1);
  else if (depth < 8 && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collect(v, into, depth + 1);
}
