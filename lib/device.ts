/** Devices, threads and memory. */
import { InvalidParameterError } from './errors';
import { binding } from './native/binding';
import type { Device } from './tensor-options';
import { assertInteger } from './validate';

export const cuda = {
  /** Whether this libtorch has CUDA and a GPU is visible. */
  isAvailable: (): boolean => binding().cudaIsAvailable(),
  deviceCount: (): number => binding().cudaDeviceCount(),
  /** Waits for all queued CUDA work (off the main thread). Resolves at once on CPU-only builds. */
  synchronize: (): Promise<void> => binding().synchronize(),
  /** Returns cached, unused CUDA memory to the driver. */
  emptyCache: (): void => binding().emptyCache(),
  resetPeakMemoryStats: (device = 0): void => binding().resetPeakMemoryStats(device),
};

export interface MemoryStats {
  /** Host bytes held by live tensors (each storage counted once). */
  hostBytes: number;
  /** CUDA caching-allocator figures for the device, in bytes (CUDA builds with a GPU only). */
  cuda?: { allocated: number; reserved: number; peakAllocated: number; peakReserved: number };
}

export function memoryStats(device = 0): MemoryStats {
  assertInteger('device', device, 0);
  return binding().memoryStats(device);
}

/** Threads libtorch uses for intra-op parallelism (torch.set_num_threads). */
export function setNumThreads(n: number): void {
  assertInteger('n', n, 1);
  binding().setNumThreads(n);
}

export const getNumThreads = (): number => binding().getNumThreads();

/** libtorch's version, where it was found at build time, and whether the addon is a CUDA build. */
export const versions = (): { libtorch: string; libtorchSource: string; cudaBuild: boolean; cxx11Abi: boolean } => binding().versions;

/** A CUDA device asked of a build or machine without one fails here, naming the option (the addon does not check). */
export function assertDeviceAvailable(name: string, device: Device): void {
  if (device.startsWith('cuda') && !cuda.isAvailable())
    throw new InvalidParameterError(name, "'cpu': CUDA was requested but is not available (this libtorch has no CUDA, or no GPU is visible)", device);
}
