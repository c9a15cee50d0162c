// `npm run bench`: runs every benchmark in this folder in turn; each prints its own table.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// OpenBLAS keeps its own thread pool beside torch's OpenMP threads; in Python at 2 threads the two
// oversubscribe the cores (tiny UNet step: 314 ms vs 119 ms with OPENBLAS_NUM_THREADS=1), which would
// flatter the addon. Both sides of every table run with one BLAS thread unless the caller says otherwise;
// except beside sd.cpp (sdcpp.mjs), which runs animatorch as `render --threads N` runs: N BLAS threads.
const oneBlasThread = { OPENBLAS_NUM_THREADS: '1', ...process.env };
const only = process.argv.slice(2);
for (const file of readdirSync(here).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs').sort()) {
  if (only.length && !only.some((o) => file.includes(o))) continue;
  console.log(`\n### ${file}`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(here, file)], { stdio: 'inherit', env: file === 'sdcpp.mjs' ? process.env : oneBlasThread });
  if (r.status !== 0) process.exitCode = 1;
}
