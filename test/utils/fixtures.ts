/** Builds the small TorchScript modules the native tests use, once per test run. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findTorchPython } from '../../lib/python';

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

function exporterHash(): string {
  const dir = path.join(repoRoot, 'scripts', 'animatorch_export');
  const h = createHash('sha256').update(readFileSync(path.join(repoRoot, 'scripts', 'export_random_model.py')));
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.py')).sort()) h.update(f).update(readFileSync(path.join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

/**
 * A random tiny model exported by scripts/export_random_model.py (TorchScript
 * files, model.yaml, reference.json). Cached in the temp folder per preset,
 * seed, flags and exporter version, so repeated runs do not export again.
 */
export async function exportedModel(preset = 'tiny-v2', seed = 0, flags: string[] = []): Promise<string> {
  const root = path.join(os.tmpdir(), 'animatorch-test-models');
  // Keyed by the exporting torch too: each flavour (1.13, 2.x) tests its own exports.
  const { executable, torchVersion } = await findTorchPython();
  const dir = path.join(root, `${preset}-seed${seed}${flags.join('')}-${exporterHash()}-torch${torchVersion}-ref`);
  if (existsSync(path.join(dir, 'model.yaml'))) return dir;
  mkdirSync(root, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await run(executable, [path.join(repoRoot, 'scripts', 'export_random_model.py'), '--preset', preset, '--seed', String(seed), '--out', tmp, '--quiet', ...flags], { maxBuffer: 64 << 20 });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return dir;
}
