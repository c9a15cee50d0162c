/**
 * Which BLAS library libtorch loaded, and how it runs its threads (Linux: read from the process's
 * memory map). Debian's libtorch takes OpenBLAS through the libblas.so.3 alternative. Its
 * libopenblas0-pthread build runs the GEMMs in a thread pool of its own beside libtorch's OpenMP
 * team: on 2 cores the two pools spin against each other between ops (a biased [1024, 640] x 640
 * Linear at 64 GFLOP/s against 149 with libopenblas0-openmp, which shares libtorch's team).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { binding } from './native/binding';

export type BlasThreading = 'openmp' | 'pthread' | 'serial' | 'unknown';

export interface BlasLibrary {
  /** The loaded OpenBLAS (or other BLAS) shared object. */
  path: string;
  /** Debian's three OpenBLAS builds live in openblas-{openmp,pthread,serial}/. */
  threading: BlasThreading;
}

// The shared object that does the work: OpenBLAS itself before the libblas.so.3 wrapper around it
const BLAS_FILES = [/^libopenblas.*\.so/, /^libblis.*\.so/, /^libblas\.so/];

/**
 * The BLAS in a /proc/PID/maps text, or null where none is a separate library (PyPI's torch links MKL
 * into libtorch_cpu) or there is no such file (not Linux).
 */
export function findBlasLibrary(maps: string): BlasLibrary | null {
  const files = new Set<string>();
  for (const line of maps.split('\n')) {
    const i = line.indexOf(' /');
    if (i >= 0) files.add(line.slice(i + 1).trim());
  }
  for (const pattern of BLAS_FILES) {
    for (const file of files) {
      if (!pattern.test(path.basename(file))) continue;
      const dir = /^openblas-(openmp|pthread|serial)$/.exec(path.basename(path.dirname(file)));
      return { path: file, threading: dir ? (dir[1] as BlasThreading) : 'unknown' };
    }
  }
  return null;
}

/** The BLAS this process's libtorch loaded (the addon is loaded first); null if none is found. */
export function blasLibrary(): BlasLibrary | null {
  binding();
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return null;
  }
  return findBlasLibrary(maps);
}

/**
 * Shell commands that switch Debian's OpenBLAS alternatives to the OpenMP build, for a pthread one at
 * `loaded` (…/<multiarch>/openblas-pthread/…): libtorch loads libblas.so.3, liblapack.so.3 and
 * libopenblas.so.0, and all three must come from the same build.
 */
export function openmpBlasCommands(loaded: BlasLibrary): string {
  const libDir = path.dirname(path.dirname(loaded.path));
  const arch = path.basename(libDir);
  const links = ['libblas.so.3', 'liblapack.so.3', 'libopenblas.so.0'].join(' ');
  return (
    `sudo apt-get install libopenblas0-openmp && for l in ${links}; do ` +
    `sudo update-alternatives --set $l-${arch} ${libDir}/openblas-openmp/$l; done`
  );
}
