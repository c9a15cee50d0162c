/**
 * The typed surface of the compiled addon (binding/*.cc), as node-llama-cpp's AddonTypes.ts:
 * every export and method, so lib/ calls them by name, never through a string. dtypes cross
 * under libtorch's names ('Float', 'Half', ...); lib/tensor-options.ts translates.
 */
import type { NativeMappedSpec } from '../mapped-weights';

export type NativeTypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array;

export interface NativeTensorOptions {
  dtype?: string;
  device?: string;
}

/** Handles accepted where the addon wants a tensor: a NativeTensor or an object with `native`. */
export type TensorLike = NativeTensor | { readonly native: NativeTensor };
export type TensorOrScalar = TensorLike | number | boolean;

type Dims = number | number[];

/** A tensor handle (binding/tensor.cc). Every method throws synchronously on bad arguments or a torch error. */
export interface NativeTensor {
  readonly shape: number[];
  /** libtorch's name of the scalar type ('Float', 'Half', ...); lib/tensor-options.ts maps it. */
  readonly dtype: string;
  readonly device: string;
  readonly disposed: boolean;
  dispose(): void;
  toArray(): Promise<NativeTypedArray>;
  item(): Promise<number>;
  to(device?: string, dtype?: string): Promise<NativeTensor>;
  numel(): number;
  isContiguous(): boolean;
  // Elementwise, with a tensor or a scalar on the right.
  add(other: TensorOrScalar, alpha?: number): NativeTensor;
  sub(other: TensorOrScalar, alpha?: number): NativeTensor;
  mul(other: TensorOrScalar): NativeTensor;
  div(other: TensorOrScalar): NativeTensor;
  pow(exponent: TensorOrScalar): NativeTensor;
  maximum(other: TensorOrScalar): NativeTensor;
  minimum(other: TensorOrScalar): NativeTensor;
  remainder(other: TensorOrScalar): NativeTensor;
  atan2(other: TensorOrScalar): NativeTensor;
  eq(other: TensorOrScalar): NativeTensor;
  ne(other: TensorOrScalar): NativeTensor;
  gt(other: TensorOrScalar): NativeTensor;
  ge(other: TensorOrScalar): NativeTensor;
  lt(other: TensorOrScalar): NativeTensor;
  le(other: TensorOrScalar): NativeTensor;
  logicalAnd(other: TensorOrScalar): NativeTensor;
  logicalOr(other: TensorOrScalar): NativeTensor;
  // Unary.
  logicalNot(): NativeTensor;
  neg(): NativeTensor;
  abs(): NativeTensor;
  sqrt(): NativeTensor;
  rsqrt(): NativeTensor;
  exp(): NativeTensor;
  log(): NativeTensor;
  sin(): NativeTensor;
  cos(): NativeTensor;
  tanh(): NativeTensor;
  sigmoid(): NativeTensor;
  sign(): NativeTensor;
  floor(): NativeTensor;
  ceil(): NativeTensor;
  round(): NativeTensor;
  square(): NativeTensor;
  reciprocal(): NativeTensor;
  isnan(): NativeTensor;
  isfinite(): NativeTensor;
  contiguous(): NativeTensor;
  clone(): NativeTensor;
  clamp(min?: number, max?: number): NativeTensor;
  where(condition: TensorLike, other: TensorOrScalar): NativeTensor;
  lerp(end: TensorOrScalar, weight: TensorLike | number): NativeTensor;
  /** dtype: libtorch's name ('Float', ...). */
  astype(dtype: string): NativeTensor;
  matmul(other: TensorLike): NativeTensor;
  // Reductions: a missing dim reduces over all dims.
  mean(dim?: Dims, keepdim?: boolean): NativeTensor;
  sum(dim?: Dims, keepdim?: boolean): NativeTensor;
  std(dim: Dims | undefined, keepdim: boolean, unbiased: boolean): NativeTensor;
  amax(dim?: Dims, keepdim?: boolean): NativeTensor;
  amin(dim?: Dims, keepdim?: boolean): NativeTensor;
  argmax(dim?: number, keepdim?: boolean): NativeTensor;
  cumsum(dim: number): NativeTensor;
  // Shape and indexing.
  reshape(shape: number[]): NativeTensor;
  view(shape: number[]): NativeTensor;
  permute(dims: number[]): NativeTensor;
  transpose(dim0: number, dim1: number): NativeTensor;
  squeeze(dim?: number): NativeTensor;
  unsqueeze(dim: number): NativeTensor;
  flatten(startDim?: number, endDim?: number): NativeTensor;
  expand(shape: number[]): NativeTensor;
  repeat(repeats: number[]): NativeTensor;
  repeatInterleave(repeats: number, dim?: number): NativeTensor;
  narrow(dim: number, start: number, length: number): NativeTensor;
  slice(dim: number, start?: number, end?: number, step?: number): NativeTensor;
  select(dim: number, index: number): NativeTensor;
  indexSelect(dim: number, index: TensorLike): NativeTensor;
  flip(dims: number[]): NativeTensor;
  roll(shifts: number[], dims: number[]): NativeTensor;
  pad(pad: number[], mode: string, value: number): NativeTensor;
  interpolate(size: number[], mode: string, alignCorners: boolean): NativeTensor;
  chunk(chunks: number, dim?: number): NativeTensor[];
  split(splitSize: number | number[], dim?: number): NativeTensor[];
  unbind(dim?: number): NativeTensor[];
}

export interface NativeGenerator {
  readonly device: string;
  readonly initialSeed: bigint;
  manualSeed(seed: bigint): NativeGenerator;
  getState(): NativeTensor;
  setState(state: TensorLike): NativeGenerator;
}

export interface NativeParameterInfo {
  name: string;
  kind: 'parameter' | 'buffer';
  shape: number[];
  dtype: string;
  device: string;
}

export interface NativeModule {
  readonly path: string;
  readonly disposed: boolean;
  /** Runs a scripted method (forward, or another the module exports): TorchScript's own names. */
  call(method: string, inputs: unknown[]): Promise<unknown>;
  to(device?: string, dtype?: string): Promise<void>;
  methods(): string[];
  parameters(): NativeParameterInfo[];
  /** TorchScript's graph optimisations (with the profiling executor's profiling runs) for later calls. */
  setGraphOptimize(enabled: boolean): void;
  dispose(): void;
}

export interface NativeMemoryStats {
  hostBytes: number;
  cuda?: { allocated: number; reserved: number; peakAllocated: number; peakReserved: number };
}

export interface NativeBinding {
  /** Constructed only by the addon; lib/ uses them for instanceof. */
  NativeTensor: abstract new () => NativeTensor;
  NativeModule: abstract new () => NativeModule;
  NativeGenerator: new (seed: bigint, device?: string) => NativeGenerator;
  versions: { libtorch: string; libtorchSource: string; cudaBuild: boolean; cxx11Abi: boolean };
  fromData(data: NativeTypedArray, shape: number[], dtype?: string, device?: string): NativeTensor;
  zeros(shape: number[], options?: NativeTensorOptions): NativeTensor;
  ones(shape: number[], options?: NativeTensorOptions): NativeTensor;
  full(shape: number[], value: number, options?: NativeTensorOptions): NativeTensor;
  arange(start: number, end: number, step: number, options?: NativeTensorOptions): NativeTensor;
  linspace(start: number, end: number, steps: number, options?: NativeTensorOptions): NativeTensor;
  randn(shape: number[], options?: NativeTensorOptions, generator?: NativeGenerator): NativeTensor;
  rand(shape: number[], options?: NativeTensorOptions, generator?: NativeGenerator): NativeTensor;
  randperm(n: number, options?: NativeTensorOptions, generator?: NativeGenerator): NativeTensor;
  cat(tensors: TensorLike[], dim?: number): NativeTensor;
  stack(tensors: TensorLike[], dim?: number): NativeTensor;
  /** bypassHostCache: its weights are allocated outside the host cache (they go back to the OS when freed). */
  loadModule(path: string, device?: string, dtype?: string, mapped?: NativeMappedSpec, bypassHostCache?: boolean): Promise<NativeModule>;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  memoryStats(device?: number): NativeMemoryStats;
  resetPeakMemoryStats(device?: number): void;
  emptyCache(): void;
  synchronize(): Promise<void>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** openblas_set_num_threads(n): false where the process has no OpenBLAS. */
  setBlasNumThreads(n: number): boolean;
  /** openblas_get_num_threads(); null without OpenBLAS. */
  getBlasNumThreads(): number | null;
  missingKernels(device: string, dtype: string): string[];
  /** The host cache's free blocks (unless kept), then glibc's malloc_trim(0): true when pages went back to the OS. */
  releaseHostMemory(keepHostCache?: boolean): boolean;
  /** glibc's mallopt(M_MMAP_THRESHOLD | M_MMAP_MAX | M_TRIM_THRESHOLD, value): true when set. */
  setHostAllocator(option: 'mmapThreshold' | 'mmapMax' | 'trimThreshold', value: number): boolean;
  /** The caching CPU allocator (binding/host-cache.h): installed on the first call, then on or off. */
  setHostCache(enabled: boolean, maxFreeBytes: number): void;
  /** Its counters; `true` also starts a new peak window. */
  hostCacheStats(resetPeak?: boolean): NativeHostCacheStats;
  /** Unmaps its free blocks; the bytes unmapped. */
  releaseHostCache(): number;
  /**
   * Reads the chunks of `file` not in the page cache into it (binding/page-cache.h), unless they add up to
   * more than `maxBytes` (then `read` is 0), on a libuv thread. Nothing is mapped into the process.
   * cancel() stops it after the chunk being read (the promise then resolves with what was read).
   */
  readIntoPageCache(file: string, maxBytes: number): { promise: Promise<{ bytes: number; uncached: number; read: number }>; cancel(): void };
}

export interface NativeHostCacheStats {
  enabled: boolean;
  liveBytes: number;
  freeBytes: number;
  peakBytes: number;
  maxFreeBytes: number;
  hits: number;
  misses: number;
}
