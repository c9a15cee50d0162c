/** Devices, threads and memory. */
import { InvalidParameterError } from './errors';
import { binding } from './native/binding';
import { torchDtype, type Device, type DType } from './tensor-options';
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

/**
 * CPU threads of every op: libtorch's intra-op threads (torch.set_num_threads) and, with Debian's
 * libtorch, OpenBLAS's own pool, which runs the Linear and matmul GEMMs and otherwise takes as many
 * threads as the machine has CPUs. An OPENBLAS_NUM_THREADS in the environment is kept: it is the
 * user's choice for OpenBLAS alone.
 */
export function setNumThreads(n: number): void {
  assertInteger('n', n, 1);
  binding().setNumThreads(n);
  if (process.env.OPENBLAS_NUM_THREADS === undefined) binding().setBlasNumThreads(n);
}

/** OpenBLAS's thread count (Debian's libtorch); null where libtorch uses another BLAS (PyPI's: MKL). */
export const getBlasNumThreads = (): number | null => binding().getBlasNumThreads();

export const getNumThreads = (): number => binding().getNumThreads();

/**
 * Hands free host memory back to the OS: the host cache's free memory (`setHostCache`; kept with
 * `keepHostCache`), then the C allocator's free pages (glibc's malloc_trim). Freed weights otherwise
 * stay in its arenas, counted in the process's resident set. True when some went back.
 */
export function releaseHostMemory(options: { keepHostCache?: boolean } = {}): boolean {
  const keep = options.keepHostCache ?? false;
  if (typeof keep !== 'boolean') throw new InvalidParameterError('keepHostCache', 'a boolean', keep);
  return binding().releaseHostMemory(keep);
}

/**
 * Host allocations of at least `bytes` get a mapping of their own, returned to the OS when freed
 * (glibc's M_MMAP_THRESHOLD, what MALLOC_MMAP_THRESHOLD_ sets at start-up). glibc otherwise raises its
 * threshold up to 32 MiB after large frees, so tensors share the heap, which keeps the pages freed
 * between them. At 64 KiB a one-shot SD1.5 render (128 px, 8 frames) peaks ~490 MiB lower, but each
 * step is ~30% slower (fresh pages per tensor): a choice for the app, so nothing sets it by default.
 * Call it before loading. False where there is no such call.
 */
export function setHostMmapThreshold(bytes: number): boolean {
  assertInteger('bytes', bytes, 0, 2 ** 25); // glibc caps the threshold at 32 MiB on 64-bit
  return binding().setHostAllocator('mmapThreshold', bytes);
}

// glibc's limit on separate mappings (malloc.c: DEFAULT_MMAP_MAX), and the mmap threshold its dynamic
// one reaches after the first large frees (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit), with the trim threshold
// it then sets (twice that)
const GLIBC_MMAP_MAX = 65536;
const GLIBC_MMAP_THRESHOLD_MAX = 32 * 2 ** 20;

/**
 * Keeps the host memory that tensors free in the C allocator, for the next tensors of the same
 * sizes, instead of handing it back to the OS at once (glibc: no separate mappings, M_MMAP_MAX 0,
 * and no trimming of the heap's top below 2 GiB, M_TRIM_THRESHOLD). A CPU denoising step allocates
 * and frees the same few GB of activations and temporary buffers (oneDNN's copies of the convolution
 * weights among them) on every call; by default glibc maps every block over its threshold (at most
 * 32 MiB) afresh and unmaps it when freed, so a full-size step at 128 px took 0.7-1.2M page faults
 * here, a fifth to a quarter of its CPU time spent in the kernel. Off by default: the steps gained
 * 0-8% here, less than the noise, and the peaks rose by up to ~100 MiB (denoising) and ~300 MiB
 * (decoding). `releaseHostMemory()` (called between stages under `keepModules: 'stage'`) still hands
 * the free pages back. `false` goes back to glibc's behaviour in a long render: blocks of 32 MiB or
 * more mapped apart, where its dynamic threshold ends up (once set, glibc no longer adapts it).
 * Process-wide. False where there is no such call (not glibc).
 */
export function setHostMemoryReuse(reuse: boolean): boolean {
  if (typeof reuse !== 'boolean') throw new InvalidParameterError('reuse', 'a boolean', reuse);
  const b = binding();
  if (reuse) return [b.setHostAllocator('mmapMax', 0), b.setHostAllocator('trimThreshold', 2 ** 31 - 1)].every(Boolean);
  return [
    b.setHostAllocator('mmapMax', GLIBC_MMAP_MAX),
    b.setHostAllocator('mmapThreshold', GLIBC_MMAP_THRESHOLD_MAX),
    b.setHostAllocator('trimThreshold', 2 * GLIBC_MMAP_THRESHOLD_MAX),
  ].every(Boolean);
}

/** libtorch's version, where it was found at build time, and whether the addon is a CUDA build. */
export const versions = (): { libtorch: string; libtorchSource: string; cudaBuild: boolean; cxx11Abi: boolean } => binding().versions;

/** A CUDA device asked of a build or machine without one fails here, naming the option (the addon does not check). */
export function assertDeviceAvailable(name: string, device: Device): void {
  if (device.startsWith('cuda') && !cuda.isAvailable())
    throw new InvalidParameterError(name, "'cpu': CUDA was requested but is not available (this libtorch has no CUDA, or no GPU is visible)", device);
}

/**
 * Refuses a dtype the device cannot run the models in, before anything loads: one line
 * naming the dtype, the device and the missing kernels (libtorch 1.13 has no float16
 * LayerNorm or convolution on CPU; torch 2.x has them). A CUDA device that is not
 * there is left to the load, which says so.
 */
export function assertDtypeSupported(device: string, dtype: string): void {
  if (dtype === 'float32' || (device.startsWith('cuda') && !cuda.isAvailable())) return;
  const missing = binding().missingKernels(device, torchDtype(dtype as DType));
  if (missing.length === 0) return;
  const alternatives = ['float32', 'bfloat16', 'float16'].filter((d) => d !== dtype && binding().missingKernels(device, torchDtype(d as DType)).length === 0);
  throw new Error(
    `dtype: ${dtype} is not supported on ${device} by libtorch ${versions().libtorch} (no ${dtype} kernel for ${missing.join(', ')}); ` +
      `use ${alternatives.join(' or ')}, or a libtorch from torch 2.x`,
  );
}
