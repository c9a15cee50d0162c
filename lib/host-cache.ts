/**
 * The host cache: a caching allocator for torch's CPU tensors (binding/host-cache.cc). A denoising step
 * frees and allocates the same activation sizes thousands of times. Without it, glibc maps most of those
 * blocks afresh (its per-thread arenas cap their heaps at 64 MiB, and the torch thread is not the main
 * one), so a full-size SD1.5 step at 128 px faulted in ~1.2 million fresh pages (4-5 GB) and spent 3-4
 * s of CPU time in the kernel. With it, no step after the first maps anything; and since freed memory
 * serves any size, a render's first UNet call is cut out of the text encoder's freed weights.
 */
import { totalmem } from 'node:os';
import { InvalidParameterError } from './errors';
import { binding } from './native/binding';
import type { NativeHostCacheStats } from './native/types';
import { assertInteger } from './validate';

export type HostCacheStats = NativeHostCacheStats;

export interface HostCacheOptions {
  /** Free bytes kept at most; beyond it the longest free ranges are unmapped. Default: a quarter of RAM. */
  maxFreeBytes?: number;
}

let chosen = false;

const defaultMaxFreeBytes = (): number => Math.floor(totalmem() / 4);

/**
 * Turns the host cache on or off, process-wide (CPU tensors of 256 KiB and more; smaller ones stay with
 * malloc). Freed blocks are kept as free ranges, joined with their neighbours, and the next tensors of
 * any size are cut out of them (best fit), at most `maxFreeBytes` of them. Pipelines on CPU turn it on
 * when they load unless the app has called this. Within a render a stage keeps its free memory for the
 * next one (`StageModule.release(true)`); the render's end hands it back, and `releaseHostMemory()` does
 * too. Off, large tensors are unmapped when freed, as before.
 */
export function setHostCache(enabled: boolean, options: HostCacheOptions = {}): void {
  if (typeof enabled !== 'boolean') throw new InvalidParameterError('enabled', 'a boolean', enabled);
  const maxFreeBytes = options.maxFreeBytes ?? defaultMaxFreeBytes();
  assertInteger('maxFreeBytes', maxFreeBytes, 0, Number.MAX_SAFE_INTEGER);
  binding().setHostCache(enabled, maxFreeBytes);
  chosen = true;
}

/** What the host cache holds: live and free bytes, the peak of both (`resetPeak` starts a new window), hits, misses. */
export function hostCacheStats(options: { resetPeak?: boolean } = {}): HostCacheStats {
  return binding().hostCacheStats(options.resetPeak === true);
}

/** Unmaps the host cache's free blocks (tensors in use stay); returns the bytes handed back. */
export const releaseHostCache = (): number => binding().releaseHostCache();

/** The pipelines' default: on, unless the app chose with setHostCache(). */
export function useDefaultHostCache(): void {
  if (!chosen) setHostCache(true);
}
