// The render farm across processes against a real redis-server: a lock kept
// through long steps, a worker killed with SIGKILL mid-render, a Redis restart
// with AOF, and the worker/submit/queue commands.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRenderQueue, runRenderWorker, type RenderWorkerOptions } from '../lib';
import { render } from '../lib/render/render';
import { RedisServer } from './utils/redis-server';
import { repoRoot } from './utils/fixtures';

const run = promisify(execFile);
const entry = path.join(repoRoot, 'dist', 'index.js');
const cli = path.join(repoRoot, 'bin', 'animatorch.js');
let redis: RedisServer;
let out: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!existsSync(entry)) throw new Error('dist/ is missing: run `npm run build:ts` (npm test does it)');
  redis = await RedisServer.start();
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-farmp-'));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await redis?.stop();
  rmSync(out, { recursive: true, force: true });
});

interface Spawned {
  child: ChildProcess;
  lines: string[];
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<string>;
}

function watch(child: ChildProcess): Spawned {
  const lines: string[] = [];
  let buf = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.re.test(line)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(line);
    }
  };
  child.stderr?.on('data', onData);
  child.stdout?.on('data', onData);
  const waitFor = (re: RegExp, timeoutMs = 60_000) => {
    const hit = lines.find((l) => re.test(l));
    if (hit) return Promise.resolve(hit);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; got:\n${lines.join('\n')}`)), timeoutMs);
      waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  };
  return { child, lines, waitFor };
}

/** runRenderWorker in a separate Node process, loading the built package as an app would. */
function spawnWorker(options: Omit<RenderWorkerOptions, 'log'>): Spawned {
  const script = `require(${JSON.stringify(entry)}).runRenderWorker(JSON.parse(process.env.WORKER_OPTIONS));`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, WORKER_OPTIONS: JSON.stringify(options) }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return watch(child);
}

const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();

describe('render farm (several processes)', () => {
  it('keeps the job lock through denoising steps longer than lockDuration', async () => {
    const name = 'lock';
    const queue = createRenderQueue({ connection: redis.url, name });
    await queue.ready();
    // 2 s: BullMQ renews at half of it, so a renewal must be late by a whole second to lapse; 1 s lapsed on a machine at load 15.
    const lockDuration = 2000;
    const a = spawnWorker({ connection: redis.url, queue: name, name: 'long', outDir: path.join(out, name), lockDuration, stalledInterval: 500, threads: 1 });
    const checker: string[] = [];
    try {
      await a.waitFor(/worker long on cpu/);
      const stalled: string[] = [];
      queue.events.on('stalled', ({ jobId }) => stalled.push(jobId));
      const stepAt: number[] = [];
      queue.on('progress', (_id, p) => p.stage === 'denoise' && stepAt.push(Date.now()));
      // Steps of several seconds on an idle machine too (32 frames at 256 px took 1.98 s there: shorter than the lock).
      const job = await queue.submit({ prompt: 'a red circle', seed: 5, steps: 3, frames: 48, width: 320, height: 320 });
      await a.waitFor(/started/);
      // A second worker in this process checks for stalled jobs every 200 ms: a lapsed lock would hand it the job.
      const b = runRenderWorker({ connection: redis.url, queue: name, name: 'checker', outDir: path.join(out, name), stalledInterval: 200, lockDuration, log: (l) => checker.push(l) });
      try {
        const result = await queue.result(job).catch((e) => {
          throw new Error(`${e.message}\nworker:\n${a.lines.join('\n')}\nchecker:\n${checker.join('\n')}`);
        });
        expect(result.worker).toBe('long');
        const gaps = stepAt.slice(1).map((t, k) => t - stepAt[k]!);
        expect(gaps.length).toBe(2);
        for (const g of gaps) expect(g).toBeGreaterThan(lockDuration); // else the test would prove nothing
        const done = (await queue.getJob(job.id!))!;
        expect(done.attemptsStarted).toBe(1);
        expect(done.stalledCounter).toBe(0);
        expect(stalled).toEqual([]);
        expect(checker.filter((l) => l.includes('started'))).toEqual([]);
      } finally {
        await b.close();
      }
    } finally {
      a.child.kill('SIGTERM');
      await queue.close();
    }
  }, 300_000);

  it('a worker killed with SIGKILL mid-render loses nothing: another finishes the job, same frames, one output', async () => {
    const name = 'kill';
    const dir = path.join(out, name);
    const queue = createRenderQueue({ connection: redis.url, name });
    await queue.ready();
    const a = spawnWorker({ connection: redis.url, queue: name, name: 'doomed', outDir: dir, lockDuration: 1000, threads: 1 });
    try {
      await a.waitFor(/worker doomed on cpu/);
      const stalled: string[] = [];
      queue.events.on('stalled', ({ jobId }) => stalled.push(jobId));
      const job = await queue.submit({ prompt: 'a blue square moving up', seed: '10589116295929063558', steps: 6, frames: 8, width: 128, height: 128 });
      await new Promise<void>((resolve) => queue.on('progress', (id, p) => id === job.id && p.stage === 'denoise' && p.step === 2 && resolve()));
      a.child.kill('SIGKILL');
      mkdirSync(dir, { recursive: true });
      // What a writer killed mid-write would leave (atomicWrite's temp name): the next worker removes it.
      writeFileSync(path.join(dir, `.${job.id}.gif.${a.child.pid}-deadbeef.tmp`), 'half a GIF');
      const b = runRenderWorker({ connection: redis.url, queue: name, name: 'survivor', outDir: dir, stalledInterval: 300, log: () => undefined });
      try {
        const result = await queue.result(job);
        expect(result.worker).toBe('survivor');
        expect(stalled).toEqual([job.id]);
        const done = (await queue.getJob(job.id!))!;
        expect(done.attemptsStarted).toBe(2);
        expect(readdirSync(dir).sort()).toEqual([`${job.id}.gif`, `${job.id}.gif.json`]);
        // An uninterrupted render of the same recipe (render --recipe) gives the same frames.
        const [ref] = await render({ recipe: result.recipeFile, out: path.join(out, 'kill-ref.gif') }, { log: { write: () => true } as unknown as NodeJS.WritableStream });
        expect(ref!.recipe.seed).toBe('10589116295929063558');
        expect((await gifPixels(result.file)).equals(await gifPixels(ref!.file))).toBe(true);
      } finally {
        await b.close();
      }
    } finally {
      await queue.close();
    }
  }, 300_000);

  it('waits for an unreachable Redis with a clear log line, reconnects, and jobs survive a restart with AOF', async () => {
    const aof = await RedisServer.start({ aof: true });
    const name = 'restart';
    const lines: string[] = [];
    const queue = createRenderQueue({ connection: aof.url, name });
    try {
      await queue.ready();
      const jobs = [await queue.submit({ prompt: 'x', seed: 11, steps: 2, frames: 4 }), await queue.submit({ prompt: 'y', seed: 12, steps: 2, frames: 4 })];
      await aof.kill();
      const worker = runRenderWorker({ connection: aof.url, queue: name, outDir: path.join(out, name), log: (l) => lines.push(l) });
      try {
        const seen = async (re: RegExp) => {
          for (let t = 0; t < 300 && !lines.some((l) => re.test(l)); t++) await new Promise((r) => setTimeout(r, 100));
          return lines.find((l) => re.test(l));
        };
        expect(await seen(/^redis: cannot reach redis:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\); jobs wait, retrying until it is back$/)).toBeDefined();
        await aof.restart();
        expect(await seen(/^redis: reconnected to redis:\/\/127\.0\.0\.1:\d+$/)).toBeDefined();
        for (const [k, j] of jobs.entries()) {
          let state = '';
          for (let t = 0; t < 600 && state !== 'completed'; t++) {
            state = await queue.getJob(j.id!).then((x) => x?.getState() ?? 'missing');
            if (state !== 'completed') await new Promise((r) => setTimeout(r, 100));
          }
          expect(state).toBe('completed');
          const done = (await queue.getJob(j.id!))!;
          expect(done.returnvalue.recipe.seed).toBe(String(11 + k));
          expect(existsSync(done.returnvalue.file)).toBe(true);
        }
        expect(lines.filter((l) => l.startsWith('redis: cannot reach'))).toHaveLength(1); // one line per outage, not one per retry
        // Restarted under a connected, idle worker: it reconnects and takes the next job.
        await aof.kill();
        await aof.restart();
        const next = await queue.submit({ prompt: 'z', seed: 13, steps: 2, frames: 4 });
        let state = '';
        for (let t = 0; t < 600 && state !== 'completed'; t++) {
          state = await queue.getJob(next.id!).then((x) => x?.getState() ?? 'missing');
          if (state !== 'completed') await new Promise((r) => setTimeout(r, 100));
        }
        expect(state).toBe('completed');
        expect(lines.filter((l) => l.startsWith('redis: cannot reach'))).toHaveLength(2);
        expect(lines.filter((l) => l.startsWith('redis: reconnected'))).toHaveLength(2);
      } finally {
        await worker.close();
      }
    } finally {
      await queue.close();
      await aof.stop();
    }
  });

  it('runs as commands: worker, submit --wait with a progress bar, queue with failures and reasons', async () => {
    const dir = path.join(out, 'cli');
    const w = watch(spawn(process.execPath, [cli, 'worker', '--redis', redis.url, '--queue', 'cli', '--out', dir, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    children.push(w.child);
    await w.waitFor(/on cpu: queue cli at redis:/);
    const args = ['submit', '--redis', redis.url, '--queue', 'cli'];
    const ok = await run(process.execPath, [cli, ...args, '--prompt', 'a dot', '--steps', '2', '--frames', '4', '--seed', '3', '--seed', '4', '--out', 'clip.gif', '--wait']);
    const ids = ok.stdout.trim().split('\n');
    expect(ids).toHaveLength(2);
    expect(ok.stderr).toMatch(/\[#{30}\] 100%  2\/2 done/);
    expect(readdirSync(dir).sort()).toEqual(['clip-0-3.gif', 'clip-0-3.gif.json', 'clip-1-4.gif', 'clip-1-4.gif.json']);
    const bad = await run(process.execPath, [cli, ...args, '--prompt', 'x', '--model', 'nope', '--wait']).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown model "nope"/);
    const q = await run(process.execPath, [cli, 'queue', '--redis', redis.url, '--queue', 'cli']);
    expect(q.stdout).toMatch(/completed\s+2\n/);
    expect(q.stdout).toMatch(/failed\s+1\n/);
    expect(q.stdout).toContain(`${bad.stdout.trim()}  after 1 try: unknown model "nope"`);
    const down = await run(process.execPath, [cli, 'queue', '--redis', 'redis://127.0.0.1:1']).catch((e) => e);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^animatorch: cannot reach redis:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED.*\); is redis-server running\?/);
    const exited = new Promise((r) => w.child.once('exit', (code) => r(code)));
    w.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(w.lines.some((l) => l.includes(`job ${ids[0]}: wrote ${path.join(dir, 'clip-0-3.gif')}`))).toBe(true);
  });
});
