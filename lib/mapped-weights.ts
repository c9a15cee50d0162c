/**
 * Mapped weights: a module's parameters in `<name>.weights.bin` beside its `<name>.pt`, indexed by
 * `<name>.weights.json` (written by scripts/animatorch_export/mapped_weights.py). The addon maps the file
 * read-only and the scripted UNet releases each block's pages after the block runs, so a CPU render holds
 * one block's weights at a time; the rest stay in the kernel's page cache.
 */
import { readFile } from 'node:fs/promises';
import { freemem } from 'node:os';
import path from 'node:path';
import { binding } from './native/binding';

export const MAPPED_WEIGHTS_FORMAT = 'animatorch-mapped-weights';

export interface MappedWeightsIndex {
  /** The data file's absolute path. */
  file: string;
  bytes: number;
  segments: { name: string; offset: number; bytes: number }[];
  tensors: { name: string; offset: number; bytes: number; segment: number }[];
}

/** What the addon's loadModule takes. */
export interface NativeMappedSpec {
  file: string;
  names: string[];
  offsets: number[];
  bytes: number[];
  segments: number[];
}

/** `<dir>/<name>.weights.json` for `<dir>/<name>.pt`. */
export function mappedIndexPath(modulePath: string): string {
  const { dir, name } = path.parse(modulePath);
  return path.join(dir, `${name}.weights.json`);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The module's mapped-weights index, or undefined when it has none (its weights are in the .pt file). */
export async function readMappedWeights(modulePath: string): Promise<MappedWeightsIndex | undefined> {
  const indexPath = mappedIndexPath(modulePath);
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const bad = (what: string): Error => new Error(`mapped weights '${indexPath}': ${what}; export the model again`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw bad('not valid JSON');
  }
  if (raw.format !== MAPPED_WEIGHTS_FORMAT || raw.version !== 1) throw bad(`not a version 1 '${MAPPED_WEIGHTS_FORMAT}' index`);
  if (typeof raw.file !== 'string' || raw.file.includes('/') || raw.file.includes('\\') || !isCount(raw.bytes)) throw bad('no data file named');
  const segments = Array.isArray(raw.segments) ? (raw.segments as Record<string, unknown>[]) : [];
  const tensors = Array.isArray(raw.tensors) ? (raw.tensors as Record<string, unknown>[]) : [];
  for (const s of segments) if (typeof s.name !== 'string' || !isCount(s.offset) || !isCount(s.bytes)) throw bad('a segment without name, offset and bytes');
  for (const t of tensors) {
    if (typeof t.name !== 'string' || !isCount(t.offset) || !isCount(t.bytes) || !isCount(t.segment) || t.segment >= segments.length) {
      throw bad('a tensor without name, offset, bytes and segment');
    }
  }
  return {
    file: path.join(path.dirname(indexPath), raw.file),
    bytes: raw.bytes,
    segments: segments as MappedWeightsIndex['segments'],
    tensors: tensors as MappedWeightsIndex['tensors'],
  };
}

export function nativeMappedSpec(index: MappedWeightsIndex): NativeMappedSpec {
  return {
    file: index.file,
    names: index.tensors.map((t) => t.name),
    offsets: index.tensors.map((t) => t.offset),
    bytes: index.tensors.map((t) => t.bytes),
    segments: index.segments.flatMap((s) => [s.offset, s.bytes]),
  };
}

/** The weight bytes a CPU forward holds at once: the largest segment (each is released before the next runs). */
export function largestSegmentBytes(index: MappedWeightsIndex): number {
  return Math.max(0, ...index.segments.map((s) => s.bytes));
}

export interface ReadAhead {
  /** The weights file's size. */
  bytes: number;
  /** Bytes that were not in the page cache. */
  uncached: number;
  /** Bytes read: 0 when all were cached, or when the uncached part did not fit (see readAheadMappedWeights). */
  read: number;
}

/** Free memory, within a cgroup's limit where Node tells it (process.availableMemory: Node 20.13, 22). */
function availableBytes(): number {
  const p = process as { availableMemory?: () => number };
  return typeof p.availableMemory === 'function' ? p.availableMemory() : freemem();
}

/** A read ahead in progress: `done` resolves with what was read (undefined without mapped weights). */
export interface ReadingAhead {
  done: Promise<ReadAhead | undefined>;
  /** Stops it after the chunk being read; `done` then resolves with what was read. */
  cancel(): void;
}

/**
 * Reads a module's mapped weights file into the kernel's page cache, on a libuv thread, so that its
 * first CPU forward does not read it from disk fault by fault. After the file was evicted (other
 * processes' memory), that first UNet call of a full-size SD1.5 + motion module took 13.7-17.3 s against
 * 9-10 s for the next ones. Sequential reads also fill the cache in large folios, which the mapping's
 * faults then map whole. Reads only when the uncached part fits in half of the free memory: the other
 * half is the render's, and a file that does not fit would evict its own first pages before they run.
 */
export function readAheadMappedWeights(modulePath: string): ReadingAhead {
  let cancelled = false;
  let native: { cancel(): void } | undefined;
  const done = readMappedWeights(modulePath).then((index) => {
    if (!index || cancelled) return undefined;
    const reading = binding().readIntoPageCache(index.file, Math.floor(availableBytes() / 2));
    native = reading;
    return reading.promise;
  });
  return {
    done,
    cancel: () => {
      cancelled = true;
      native?.cancel();
    },
  };
}
