/** Builds the small TorchScript modules the native tests use, once per test run. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findTorchPython } from '../../lib/python';
import { exportedModel as exportModelOnce } from '../../scripts/testing/exported-model';

const run = promisify(execFile);
export const repoRoot = path.resolve(__dirname, '..', '..');

let modulesDir: Promise<string> | undefined;

/** A temp folder holding scripts/testing/build_test_modules.py's output. */
export function testModules(): Promise<string> {
  modulesDir ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-modules-'));
    const { executable } = await findTorchPython();
    await run(executable, [path.join(repoRoot, 'scripts', 'testing', 'build_test_modules.py'), dir]);
    if (!existsSync(path.join(dir, 'conv_attn.pt'))) throw new Error('build_test_modules.py wrote nothing');
    return dir;
  })();
  return modulesDir;
}

/** Runs Python code with torch and returns its stdout. */
export async function python(code: string): Promise<string> {
  const { executable } = await findTorchPython();
  const { stdout } = await run(executable, ['-c', code], { maxBuffer: 64 << 20 });
  return stdout;
}

/**
 * A random tiny model exported by scripts/export_random_model.py (TorchScript
 * files, model.yaml, reference.json), with the Python findTorchPython finds;
 * cached by scripts/testing/exported-model.js, which the benchmarks share.
 */
export async function exportedModel(preset = 'tiny-v2', seed = 0, flags: string[] = []): Promise<string> {
  // Keyed by the exporting torch too: each flavour (1.13, 2.x) tests its own exports.
  const { executable, torchVersion } = await findTorchPython();
  return exportModelOnce({ python: executable, torchVersion, preset, seed, flags });
}
