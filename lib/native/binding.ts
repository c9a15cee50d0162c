/**
 * Loads the compiled addon (build/Release or prebuilds/<platform>-<arch>, via
 * node-gyp-build). When loading fails, one Error explains the likely cause and
 * how to fix it, as sharp's loader does.
 */
import path from 'node:path';
import { NativeLoadError } from '../errors';
import type { NativeBinding } from './types';

/** The package root: lib/native and dist/native are both two levels down. */
export const packageRoot = path.resolve(__dirname, '..', '..');

let cached: NativeBinding | undefined;

export function binding(): NativeBinding {
  if (!cached) cached = load();
  return cached;
}

function load(): NativeBinding {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (err) {
    throw new NativeLoadError(explainLoadFailure(err), { cause: err });
  }
}

/** Turns a dlopen/require failure into causes and "Possible solutions", picked by the error text. */
export function explainLoadFailure(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = [`Could not load the animatorch native addon for ${process.platform}-${process.arch}, Node ${process.version}.`, '', text.split('\n')[0] ?? text, ''];
  const solutions: string[] = [];
  if (/No native build was found/.test(text)) {
    lines.push('The addon has not been built for this platform.');
    solutions.push('Build it from source: npm rebuild animatorch (needs cmake, g++ and libtorch; see below).');
  }
  if (/lib(torch|c10|torch_cpu|torch_cuda)[\w.]*\.so/.test(text) && /cannot open shared object/.test(text)) {
    lines.push('A libtorch library the addon was built against cannot be found (moved, uninstalled, or a different Python environment).');
    solutions.push('Reinstall the libtorch the addon was built with, or rebuild against the one you have: npm rebuild animatorch');
    solutions.push('Point the build at a libtorch explicitly: LIBTORCH=/path/to/libtorch npm rebuild animatorch');
  }
  if (/lib(cudart|cublas|cudnn|nvrtc|cuda)[\w.]*\.so/.test(text) || /CUDA driver version is insufficient|libcuda\.so/.test(text)) {
    lines.push('The addon was built against a CUDA libtorch, and this machine lacks the CUDA libraries or driver it needs.');
    solutions.push('Install the NVIDIA driver and CUDA runtime matching that libtorch, or rebuild against a CPU libtorch: apt-get install libtorch-dev && npm rebuild animatorch');
  }
  if (/GLIBCXX_|CXXABI_|undefined symbol/.test(text)) {
    lines.push('The addon and the libtorch found at run time disagree on the C++ ABI or version (built against one libtorch, loading another).');
    solutions.push('Rebuild against the libtorch you will run with: npm rebuild animatorch (LIBTORCH=... to choose it).');
  }
  if (solutions.length === 0) solutions.push('Rebuild the addon: npm rebuild animatorch, and check its output for errors.');
  solutions.push('libtorch is found in this order: LIBTORCH=/path/to/libtorch, a Python torch (pip install torch), Debian/Ubuntu apt-get install libtorch-dev.');
  return [...lines, 'Possible solutions:', ...solutions.map((s) => `- ${s}`)].join('\n');
}
