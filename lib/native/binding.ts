/**
 * Loads the compiled addon: a local build, or the prebuild that fits the libtorch on this
 * machine (./prebuilds.ts). When loading fails, one Error explains the likely cause and how
 * to fix it, as sharp's loader does.
 */
import path from 'node:path';
import { NativeLoadError } from '../errors';
import { chooseAddon, type AddonChoice } from './prebuilds';
import type { NativeBinding } from './types';

/** The package root: lib/native and dist/native are both two levels down. */
export const packageRoot = path.resolve(__dirname, '..', '..');

let cached: NativeBinding | undefined;
let chosen: AddonChoice | undefined;

export function binding(): NativeBinding {
  if (!cached) cached = load();
  return cached;
}

/** Which addon file this process loaded (a local build or a prebuild) and why; loads it if needed. */
export function addonInfo(): AddonChoice {
  binding();
  return chosen!;
}

function load(): NativeBinding {
  try {
    const choice = chooseAddon(packageRoot);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(choice.path) as NativeBinding;
    chosen = choice;
    return addon;
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
    lines.splice(lines.length - 1, 0, ...text.split('\n').slice(1));
    lines.push('The addon has not been built for this platform and libtorch.');
    solutions.push('Install the libtorch a prebuild was made for (Debian/Ubuntu: apt-get install libtorch1.13 for the linux-x64 CPU prebuild).');
    solutions.push('Or build it from source against your libtorch: npm rebuild animatorch (needs cmake, g++ and libtorch; see below).');
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
