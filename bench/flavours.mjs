// The UNet step on both libtorch flavours in one run: this checkout's addon (Debian's libtorch
// 1.13 in CI's first leg) and that of a checkout built against torch 2.x, BENCH_TORCH2_DIR
// (`TORCH2_KEEP=1 .ci/torch2` leaves one and prints where). Each runs bench/unet-step.mjs on the
// same TorchScript file, exported by this checkout's Python (a 1.13 export loads in 2.x, not the
// reverse), beside its own Python torch on that file. Prints figures only.
//   BENCH_TORCH2_DIR=/tmp/animatorch-torch2.X/src [BENCH_TORCH2_PYTHON=venv/bin/python] node bench/flavours.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import testing from '../scripts/testing/exported-model.js';

const root = testing.repoRoot;

const other = process.env.BENCH_TORCH2_DIR;
if (!other) {
  console.log('flavours: set BENCH_TORCH2_DIR to a checkout built against torch 2.x to compare the UNet step on both');
  process.exit(0);
}
const otherPython = process.env.BENCH_TORCH2_PYTHON ?? [path.join(other, '..', 'venv', 'bin', 'python')].find(existsSync);
const model = await testing.exportedModel({ python: process.env.ANIMATORCH_PYTHON ?? '/usr/bin/python3', preset: 'tiny-v2', seed: 0 });
const args = process.argv.slice(2);
for (const [name, dir, python] of [
  ['this checkout', root, process.env.ANIMATORCH_PYTHON],
  [`torch 2.x checkout (${other})`, other, otherPython],
]) {
  console.log(`\n#### ${name}`);
  const env = { ...process.env, ...(python ? { ANIMATORCH_PYTHON: python } : {}) };
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, 'bench', 'unet-step.mjs'), model, ...args], { cwd: dir, stdio: 'inherit', env });
  if (r.status !== 0) process.exitCode = 1;
}
