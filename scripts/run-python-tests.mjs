// Runs the Python export tests (scripts/tests, unittest) with a Python that
// imports torch, and ends with "python: N passed, N failed" for .ci/run.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const scripts = path.dirname(fileURLToPath(import.meta.url));
const { findTorchPython } = await import(path.join(scripts, '..', 'dist', 'python.js'));
const { executable } = await findTorchPython();
const r = spawnSync(executable, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], { cwd: scripts, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
const ran = Number(/Ran (\d+) tests?/.exec(r.stderr)?.[1] ?? 0);
const m = /FAILED \(([^)]*)\)/.exec(r.stderr);
const count = (k) => Number(new RegExp(`${k}=(\\d+)`).exec(m?.[1] ?? '')?.[1] ?? 0);
const failed = count('failures') + count('errors');
const skipped = Number(/skipped=(\d+)/.exec(r.stderr)?.[1] ?? 0);
console.log(`python: ${ran - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
process.exit(r.status === 0 ? 0 : 1);
