// Render-farm throughput on CPU: the same 8 demo-model jobs rendered by 1 worker
// process, then by 2 (each with cores/workers libtorch threads), against a
// redis-server started on a free port. Wall time from submit to the last result,
// model loading included (each worker loads once, on its first job).
// BENCH_JOBS (8), BENCH_STEPS (10), BENCH_ROUNDS (1: 1 then 2 workers; more alternate).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist', 'index.js');
const { createRenderQueue } = await import(entry);
const JOBS = Number(process.env.BENCH_JOBS ?? 8);
const STEPS = Number(process.env.BENCH_STEPS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const cores = os.availableParallelism();

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-bench-farm-'));
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
const redisFailed = new Promise((resolve) => redis.once('error', resolve));
const up = await Promise.race([
  redisFailed.then(() => false),
  (async () => {
    for (let t = 0; t < 100; t++) {
      const ok = await new Promise((r) => net.connect(port, '127.0.0.1').once('connect', function () { this.end(); r(true); }).once('error', () => r(false)));
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  })(),
]);
if (!up) {
  console.log('redis-server is not installed or did not start: skipped (apt-get install redis-server)');
  process.exit(0);
}
const url = `redis://127.0.0.1:${port}`;

function startWorker(queue, threads, k) {
  const options = { connection: url, queue, name: `w${k}`, threads, outDir: path.join(dir, 'out') };
  const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(entry)}).runRenderWorker(JSON.parse(process.env.WORKER_OPTIONS))`], {
    env: { OPENBLAS_NUM_THREADS: '1', ...process.env, WORKER_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ready = new Promise((resolve, reject) => {
    let text = '';
    child.stderr.on('data', (d) => {
      text += d;
      if (/ on cpu: queue /.test(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${text}`)));
  });
  return { child, ready };
}

async function measure(workers, round) {
  const threads = Math.max(1, Math.floor(cores / workers));
  const name = `bench-${workers}-${round}`;
  const queue = createRenderQueue({ connection: url, name });
  await queue.ready();
  const procs = Array.from({ length: workers }, (_, k) => startWorker(name, threads, k));
  try {
    await Promise.all(procs.map((p) => p.ready)); // processes up, libtorch loaded; models load on the first job
    const t0 = performance.now();
    const jobs = [];
    for (let k = 0; k < JOBS; k++) jobs.push(await queue.submit({ prompt: 'a red circle moving right', seed: k, steps: STEPS }));
    const results = await Promise.all(jobs.map((j) => queue.result(j)));
    const secs = (performance.now() - t0) / 1000;
    const per = {};
    for (const r of results) per[r.worker] = (per[r.worker] ?? 0) + 1;
    return { workers, threads, secs, per: Object.values(per).join('+') };
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await queue.close();
  }
}

try {
  console.log(`farm throughput: ${JOBS} jobs of the demo model (64x64, 8 frames, ${STEPS} steps) on ${cores} cores (${os.cpus()[0]?.model ?? 'cpu'})`);
  const rows = [];
  for (let round = 0; round < ROUNDS; round++) for (const workers of round % 2 ? [2, 1] : [1, 2]) rows.push(await measure(workers, round));
  console.log('| workers | threads each | jobs per worker | wall s | jobs/min |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.workers} | ${r.threads} | ${r.per} | ${r.secs.toFixed(1)} | ${((JOBS / r.secs) * 60).toFixed(1)} |`);
  const best = (w) => Math.min(...rows.filter((r) => r.workers === w).map((r) => r.secs));
  console.log(`2 workers vs 1: ${(best(1) / best(2)).toFixed(2)}x the throughput (best of ${ROUNDS} each)`);
} finally {
  redis.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
