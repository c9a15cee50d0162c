/** The typed surface of the compiled addon (binding/*.cc). lib/ wraps all of it. */

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

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
  readonly disposed: boolean;
  dispose(): void;
  toArray(): Promise<NativeTypedArray>;
  item(): Promise<number>;
  to(device?: string, dtype?: string): Promise<NativeTensor>;
  numel(): number;
  isContiguous(): boolean;
  add(other: TensorOrScalar, alpha?: number): NativeTensor;
  sub(other: TensorOrScalar, alpha?: number): NativeTensor;
  [binary: string]: unknown;
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
  call(method: string, inputs: unknown[]): Promise<unknown>;
  to(device?: string, dtype?: string): Promise<void>;
  methods(): string[];
  parameters(): NativeParameterInfo[];
  dispose(): void;
}

export interface NativeMemoryStats {
  hostBytes: number;
  cuda?: { allocated: number; reserved: number; peakAllocated: number; peakReserved: number };
}

export interface NativeBinding {
  NativeTensor: Function;
  NativeModule: Function;
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
  cat(tensors: TensorLike[], dim?: number): NativeTensor;
  stack(tensors: TensorLike[], dim?: number): NativeTensor;
  loadModule(path: string, device?: string, dtype?: string): Promise<NativeModule>;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  memoryStats(device?: number): NativeMemoryStats;
  resetPeakMemoryStats(device?: number): void;
  emptyCache(): void;
  synchronize(): Promise<void>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  missingKernels(device: string, dtype: string): string[];
}
