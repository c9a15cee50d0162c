/** The tiny random SVD-shaped model (scripts/export_svd.py --tiny-random SEED), exported once per exporter version and torch. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findTorchPython } from '../../lib/python';
import { exporterHash, repoRoot } from '../../scripts/testing/exported-model';

const run = promisify(execFile);
const SCRIPT = path.join(repoRoot, 'scripts', 'export_svd.py');

export async function exportedSvdModel(seed = 0): Promise<string> {
  const { executable, torchVersion } = await findTorchPython();
  const hash = createHash('sha256').update(exporterHash()).update(readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  const root = path.join(os.tmpdir(), 'animatorch-test-models');
  const dir = path.join(root, `svd-tiny-seed${seed}-${hash}-torch${torchVersion}`);
  if (existsSync(path.join(dir, 'model.yaml'))) return dir;
  mkdirSync(root, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await run(executable, [SCRIPT, '--tiny-random', String(seed), '--out', tmp, '--quiet'], { maxBuffer: 64 << 20 });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return dir;
}
