/** Random tiny ControlNets and SparseCtrls for the tests (scripts/export_controlnet.py --random-tiny), exported once per seed. */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findTorchPython } from '../../lib/python';
import { exporterHash, repoRoot } from '../../scripts/testing/exported-model';

/** A random tiny ControlNet from scripts/export_controlnet.py --random-tiny, cached per seed, exporter and torch. */
export async function exportedControlNet(seed: number): Promise<string> {
  return exportCached(`controlnet-tiny-seed${seed}`, ['--random-tiny', '--seed', String(seed)]);
}

/** A random tiny SparseCtrl (--random-tiny-sparse rgb | scribble), cached likewise. */
export async function exportedSparseCtrl(kind: 'rgb' | 'scribble', seed: number, numerics: 'animatediff' | 'diffusers' = 'diffusers'): Promise<string> {
  return exportCached(`sparsectrl-${kind}-tiny-seed${seed}-${numerics}`, ['--random-tiny-sparse', kind, '--seed', String(seed), '--numerics', numerics]);
}

async function exportCached(name: string, args: string[]): Promise<string> {
  const { executable, torchVersion } = await findTorchPython();
  const dir = path.join(os.tmpdir(), 'animatorch-test-models', `${name}-${exporterHash()}-torch${torchVersion}`);
  if (existsSync(path.join(dir, 'controlnet.yaml'))) return dir;
  mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await promisify(execFile)(executable, [path.join(repoRoot, 'scripts', 'export_controlnet.py'), ...args, '--out', tmp, '--quiet']);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
