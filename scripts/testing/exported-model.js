// A random tiny model exported by scripts/export_random_model.py (TorchScript files, model.yaml,
// reference.json), cached in the temp folder per preset, seed, flags, exporter version and torch, so
// repeated runs do not export again. The one implementation behind the tests
// (test/utils/fixtures.ts) and the benchmarks (bench/*.mjs); plain CommonJS so both can load it.
'use strict';
const { execFile } = require('node:child_process');
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..', '..');

function exporterHash() {
  const dir = path.join(repoRoot, 'scripts', 'animatorch_export');
  const h = createHash('sha256').update(readFileSync(path.join(repoRoot, 'scripts', 'export_random_model.py')));
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.py')).sort()) h.update(f).update(readFileSync(path.join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

async function exportedModel({ python, torchVersion, preset = 'tiny-v2', seed = 0, flags = [] }) {
  const root = path.join(os.tmpdir(), 'animatorch-test-models');
  // Keyed by the exporting torch as well: an export by torch 2.x may not load in libtorch 1.13.
  const torch = torchVersion ?? (await run(python, ['-c', 'import torch; print(torch.__version__)'])).stdout.trim();
  const dir = path.join(root, `${preset}-seed${seed}${flags.join('')}-${exporterHash()}-torch${torch}-ref`);
  if (existsSync(path.join(dir, 'model.yaml'))) return dir;
  mkdirSync(root, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await run(python, [path.join(repoRoot, 'scripts', 'export_random_model.py'), '--preset', preset, '--seed', String(seed), '--out', tmp, '--quiet', ...flags], { maxBuffer: 64 << 20 });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return dir;
}

module.exports = { exportedModel, exporterHash, repoRoot };
