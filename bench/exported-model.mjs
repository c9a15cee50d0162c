// A random tiny model for the benchmarks, exported once per machine and
// exporter version into the same temp cache the tests use (test/utils/fixtures.ts).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function exportedModel(preset = 'tiny-v2', seed = 0) {
  const src = path.join(root, 'scripts', 'animatorch_export');
  const h = createHash('sha256').update(readFileSync(path.join(root, 'scripts', 'export_random_model.py')));
  for (const f of readdirSync(src).filter((f) => f.endsWith('.py')).sort()) h.update(f).update(readFileSync(path.join(src, f)));
  const cache = path.join(os.tmpdir(), 'animatorch-test-models');
  const python = process.env.ANIMATORCH_PYTHON ?? '/usr/bin/python3';
  // Keyed by the exporting torch as the tests' cache is: an export by 2.x may not load in 1.13.
  const torch = execFileSync(python, ['-c', 'import torch; print(torch.__version__)']).toString().trim();
  const dir = path.join(cache, `${preset}-seed${seed}-${h.digest('hex').slice(0, 12)}-torch${torch}-ref`);
  if (existsSync(path.join(dir, 'model.yaml'))) return dir;
  mkdirSync(cache, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  execFileSync(python, [path.join(root, 'scripts', 'export_random_model.py'), '--preset', preset, '--seed', String(seed), '--out', tmp, '--quiet']);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return dir;
}
