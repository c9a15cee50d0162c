/**
 * TorchScript modules. Loading (on libuv's pool), forward and moving (on the
 * addon's torch thread) run off the event loop in inference mode, so it stays
 * free during a long forward.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { assertDeviceAvailable } from './device';
import { DisposedError, InvalidParameterError, throwIfAborted } from './errors';
import { nativeMappedSpec, readMappedWeights } from './mapped-weights';
import { binding } from './native/binding';
import { nativeError } from './native/native-error';
import type { NativeModule } from './native/types';
import { assertDevice, assertDtype, type Device, type DType, Tensor } from './tensor';
import { dtypeFromTorch, torchDtype } from './tensor-options';

/** What forward resolves to: tensors, and tuples/lists/dicts of them, mapped to arrays and records. */
export type ModuleOutput = Tensor | number | boolean | string | null | ModuleOutput[] | { [key: string]: ModuleOutput };
/** Inputs: tensors, numbers, booleans, strings, null (None), arrays (lists/tuples) and records (Dict[str, Tensor]). */
export type ModuleInput = Tensor | number | boolean | string | null | undefined | ModuleInput[] | { [key: string]: Tensor };

export interface LoadModuleOptions {
  /** Default 'cpu'. */
  device?: Device;
  /** Casts floating-point parameters and buffers after loading (e.g. 'float16' on CUDA). */
  dtype?: DType;
  /** Rejects with an AbortError if aborted before loading finishes (the load itself runs to its end). */
  signal?: AbortSignal;
  /**
   * false: its weights are allocated outside the host cache (setHostCache), so they do not take the free
   * memory the cache holds, and go back to the OS when freed rather than into the cache. Default true.
   */
  hostCache?: boolean;
}

export interface ParameterInfo {
  name: string;
  kind: 'parameter' | 'buffer';
  shape: number[];
  dtype: DType;
  device: Device;
}

export class Module {
  /** The addon's handle. Internal. */
  readonly native: NativeModule;
  readonly path: string;

  /** @internal use loadModule(). */
  constructor(native: NativeModule, modulePath: string) {
    this.native = native;
    this.path = modulePath;
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Runs `forward` off the event loop (on the torch thread). */
  forward(...inputs: ModuleInput[]): Promise<ModuleOutput> {
    return this.call('forward', ...inputs);
  }

  /** Runs another method of the scripted module. */
  async call(method: string, ...inputs: ModuleInput[]): Promise<ModuleOutput> {
    if (typeof method !== 'string') throw new InvalidParameterError('method', 'a method name', method);
    const caller = new Error();
    const native = this.live();
    return wrapOutput(await native.call(method, inputs).catch((err: unknown) => Promise.reject(nativeError(err, caller))));
  }

  /** Moves/casts parameters and buffers in place; waits for running forwards first. */
  async to(options: { device?: Device; dtype?: DType }): Promise<this> {
    if (options.device !== undefined) assertDevice('device', options.device);
    if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
    if (options.device !== undefined) assertDeviceAvailable('device', options.device);
    const caller = new Error();
    await this.live()
      .to(options.device, options.dtype && torchDtype(options.dtype))
      .catch((err: unknown) => Promise.reject(nativeError(err, caller)));
    return this;
  }

  /**
   * TorchScript's graph optimisations for later calls (default: torch's, on). Off, the graph runs as
   * scripted: no profiling runs, so the first calls cost what later ones do. On CPU they find nothing
   * to fuse in a UNet or VAE, so off costs nothing there.
   */
  setGraphOptimization(enabled: boolean): this {
    if (typeof enabled !== 'boolean') throw new InvalidParameterError('enabled', 'a boolean', enabled);
    this.live().setGraphOptimize(enabled);
    return this;
  }

  /** The scripted methods (forward and any exported ones). */
  methods(): string[] {
    return this.live().methods();
  }

  /** Parameters and buffers with their shapes, dtypes and devices. */
  parameters(): ParameterInfo[] {
    return this.live()
      .parameters()
      .map((p) => ({ ...p, dtype: dtypeFromTorch(p.dtype) }));
  }

  /** Frees the module's weights (a forward in flight finishes first). Idempotent. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The native handle, or a DisposedError when the module was disposed. */
  private live(): NativeModule {
    if (this.native.disposed) throw new DisposedError('Module');
    return this.native;
  }
}

function wrapOutput(value: unknown): ModuleOutput {
  if (value instanceof binding().NativeTensor) return new Tensor(value);
  if (Array.isArray(value)) return value.map(wrapOutput);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, ModuleOutput> = {};
    for (const [k, v] of Object.entries(value)) out[k] = wrapOutput(v);
    return out;
  }
  return value as ModuleOutput;
}

/**
 * Under Electron, libtorch cannot read inside app.asar: use the unpacked copy
 * (asarUnpack puts it at the same path under app.asar.unpacked).
 */
export function unpackedPath(p: string): string {
  return process.versions.electron ? p.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2') : p;
}

/**
 * Loads a TorchScript file (torch.jit.save output), mapping its weights file when it has one (mapped-weights.ts).
 * Rejects with an Error naming the path if it is missing or corrupt.
 */
export async function loadModule(modulePath: string, options: LoadModuleOptions = {}): Promise<Module> {
  if (typeof modulePath !== 'string' || modulePath === '') throw new InvalidParameterError('path', 'a path to a TorchScript file', modulePath);
  if (options.device !== undefined) assertDevice('device', options.device);
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.device !== undefined) assertDeviceAvailable('device', options.device);
  if (options.hostCache !== undefined && typeof options.hostCache !== 'boolean') throw new InvalidParameterError('hostCache', 'a boolean', options.hostCache);
  throwIfAborted(options.signal);
  const resolved = unpackedPath(path.resolve(modulePath));
  try {
    await access(resolved);
  } catch {
    throw new Error(`cannot load TorchScript module '${resolved}': no such file`);
  }
  const mapped = await readMappedWeights(resolved);
  const caller = new Error();
  const native = await binding()
    .loadModule(resolved, options.device, options.dtype && torchDtype(options.dtype), mapped && nativeMappedSpec(mapped), options.hostCache === false)
    .catch((err: unknown) => Promise.reject(nativeError(err, caller)));
  if (options.signal?.aborted) {
    native.dispose();
    throwIfAborted(options.signal);
  }
  return new Module(native, resolved);
}
