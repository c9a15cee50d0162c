// The render farm in one process against a real redis-server: results and
// progress, cancellation, bad jobs, retries with backoff, bounded storage.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submit } from '../lib/cli/commands/submit';
import { createRenderQueue, memoryStats, runRenderWorker, type RenderProgress, type RenderQueue, type RenderWorker } from '../lib';
import { RedisServer } from './utils/redis-server';

let redis: RedisServer;
let out: string;
const small = { steps: 2, frames: 4, width: 64, height: 64 };
const quiet: string[] = [];
const log = (line: string) => void quiet.push(line);

beforeAll(async () => {
  // Small stream nodes, so that the events stream's approximate MAXLEN trims at this scale.
  redis = await RedisServer.start({ args: ['--stream-node-max-entries', '10'] });
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-farm-'));
});
afterAll(async () => {
  await redis?.stop();
  rmSync(out, { recursive: true, force: true });
});

async function farm(name: string, queueOpts: Partial<Parameters<typeof createRenderQueue>[0]> = {}, workerOpts: Partial<Parameters<typeof runRenderWorker>[0]> = {}) {
  const queue = createRenderQueue({ connection: redis.url, name, ...queueOpts });
  await queue.ready();
  const worker = runRenderWorker({ connection: redis.url, queue: name, outDir: path.join(out, name), log, ...workerOpts });
  await worker.ready();
  return { queue, worker, close: () => Promise.all([worker.close(), queue.close()]) };
}

const until = <T>(queue: RenderQueue, event: 'completed' | 'failed' | 'cancelled', jobId: string) =>
  new Promise<T>((resolve) => {
    const on = (id: string, v: unknown) => {
      if (id !== jobId) return;
      queue.off(event, on);
      resolve(v as T);
    };
    queue.on(event, on);
  });

describe('render farm (one process)', () => {
  it('renders a submitted request into the output folder; progress events carry numbers only', async () => {
    const { queue, close } = await farm('basic');
    try {
      const progress: RenderProgress[] = [];
      queue.on('progress', (_id, p) => progress.push(p));
      const job = await queue.submit({ prompt: 'a red circle moving right', seed: '10589116295929063558', ...small });
      const result = await queue.result(job);
      expect(result.file).toBe(path.join(out, 'basic', `${job.id}.gif`));
      expect(readdirSync(path.join(out, 'basic')).sort()).toEqual([`${job.id}.gif`, `${job.id}.gif.json`]);
      expect(result.recipe).toMatchObject({ prompt: 'a red circle moving right', seed: '10589116295929063558', steps: 2, frames: 4, model: { name: 'animatorch-demo' } });
      expect(progress.map((p) => `${p.stage} ${p.step}/${p.total}`)).toEqual(['denoise 1/2', 'denoise 2/2', 'decode 1/1']);
      for (const p of progress) for (const [k, v] of Object.entries(p)) expect(k === 'stage' ? typeof v : [k, typeof v]).toEqual(k === 'stage' ? 'string' : [k, 'number']);
      // The job's data is the request, small: no model, no frames.
      expect(JSON.stringify((await queue.getJob(job.id!))!.data).length).toBeLessThan(400);
    } finally {
      await close();
    }
  });

  it('submit() takes an AnimateDiff-style config (one job per prompt x seed) and a recipe (the same video again)', async () => {
    const { queue, close } = await farm('submit');
    try {
      const config = path.join(out, 'prompts.yaml');
      writeFileSync(config, ['Demo:', '  steps: 2', '  L: 4', '  seed: [5, 6]', '  prompt:', '    - "a red circle moving right"', '    - "a blue square moving up"'].join('\n'));
      const ids: string[] = [];
      const stdout = { write: (s: string) => ids.push(...s.trim().split('\n')) } as unknown as NodeJS.WritableStream;
      const logged: string[] = [];
      const log = { write: (s: string) => logged.push(s) } as unknown as NodeJS.WritableStream;
      // --context-length/--context-overlap are defaults under the entries, as for render --config
      const r = await submit({ redis: redis.url, queue: 'submit', config, out: 'demo.gif', wait: true, contextLength: 2, contextOverlap: 1 }, { stdout, log });
      expect(r).toEqual({ jobIds: ids, failed: 0 });
      const results = await Promise.all(ids.map(async (id) => (await queue.getJob(id))!.returnvalue));
      expect(results.map((x) => [path.basename(x.file), x.recipe.prompt, x.recipe.seed, x.recipe.frames, x.recipe.width, x.recipe.extra?.contextLength, x.recipe.extra?.contextOverlap])).toEqual([
        ['demo-0-5.gif', 'a red circle moving right', '5', 4, 64, 2, 1],
        ['demo-1-6.gif', 'a blue square moving up', '6', 4, 64, 2, 1],
      ]);
      expect(logged.join('')).toMatch(/100%  2\/2 done/);
      const again = await submit({ redis: redis.url, queue: 'submit', recipe: results[1]!.recipeFile, out: 'again.gif', wait: true }, { stdout, log });
      const rerun = (await queue.getJob(again.jobIds[0]!))!.returnvalue;
      expect(rerun.recipe.seed).toBe('6');
      const pixels = async (f: string) => (await import('sharp')).default(f, { pages: -1 }).raw().toBuffer();
      expect((await pixels(rerun.file)).equals(await pixels(results[1]!.file))).toBe(true);
    } finally {
      await close();
    }
  });

  it('fails bad jobs once, with the reason, without retries', async () => {
    const { queue, close } = await farm('bad', { attempts: 3, backoffMs: 100 });
    try {
      const jobs = [
        await queue.submit({ prompt: 'x', model: 'no-such-model', ...small }),
        await queue.submit({ prompt: 'x', ...small, width: 100 }),
        await queue.queue.add('render', { recipe: { seed: '1' } } as never),
      ];
      const reasons = await Promise.all(jobs.map((j) => queue.result(j).then(() => 'completed', (e: Error) => e.message)));
      expect(reasons[0]).toMatch(/unknown model "no-such-model" on this worker \(it has: animatorch-demo/);
      expect(reasons[1]).toMatch(/width: expected a multiple of 8, got 100/);
      expect(reasons[2]).toMatch(/prompt: expected a string/);
      for (const j of jobs) {
        const again = (await queue.getJob(j.id!))!;
        expect(await again.getState()).toBe('failed');
        expect(again.attemptsMade).toBe(1);
      }
    } finally {
      await close();
    }
  });

  it('retries a transient failure with exponential backoff, then completes', async () => {
    // The output folder's parent is a file at first (a shared disk not mounted yet), then becomes a folder.
    const blocker = path.join(out, 'blocked');
    writeFileSync(blocker, 'not a folder');
    const { queue, worker, close } = await farm('transient', { attempts: 3, backoffMs: 1500 }, { outDir: path.join(blocker, 'renders') });
    try {
      const times: { event: string; at: number }[] = [];
      worker.worker.on('failed', () => {
        times.push({ event: 'failed', at: Date.now() });
        rmSync(blocker);
      });
      worker.worker.on('active', () => times.push({ event: 'active', at: Date.now() }));
      const job = await queue.submit({ prompt: 'x', seed: 1, ...small });
      const result = await queue.result(job);
      expect(result.file).toBe(path.join(blocker, 'renders', `${job.id}.gif`));
      expect(times.map((t) => t.event)).toEqual(['active', 'failed', 'active']);
      expect(times[2]!.at - times[1]!.at).toBeGreaterThanOrEqual(1400);
      const done = (await queue.getJob(job.id!))!;
      expect(done.attemptsMade).toBe(2);
      expect(quiet.some((l) => l.includes(`job ${job.id}: failed:`) && l.includes('try 1 of 3; retrying with backoff'))).toBe(true);
    } finally {
      await close();
    }
  });

  it('cancel(jobId) removes a waiting job and stops a running one at the next step, freeing its memory, without retry', async () => {
    const { queue, worker, close } = await farm('cancel', { attempts: 3, backoffMs: 100 });
    try {
      // Warm up: the pipeline stays loaded, so host memory afterwards is the baseline.
      await queue.result(await queue.submit({ prompt: 'x', seed: 1, ...small }));
      const baseline = memoryStats().hostBytes;
      const job = await queue.submit({ prompt: 'x', seed: 2, ...small, steps: 200 });
      const waiting = await queue.submit({ prompt: 'y', seed: 3, ...small });
      const steps: number[] = [];
      let afterCancel = 0;
      let cancelled = false;
      const reason = until<string>(queue, 'cancelled', job.id!);
      await new Promise<void>((resolve) =>
        queue.on('progress', (id, p) => {
          if (id !== job.id) return;
          steps.push(p.step);
          if (cancelled) afterCancel++;
          if (p.step === 3 && !cancelled) {
            cancelled = true;
            resolve();
          }
        }),
      );
      expect(await queue.cancel(waiting.id!)).toBe('removed');
      expect(await queue.getJob(waiting.id!)).toBeUndefined();
      expect(await queue.cancel(job.id!)).toBe('cancelling');
      expect(await reason).toBe('cancelled: by request');
      expect(afterCancel).toBeLessThanOrEqual(2);
      expect(Math.max(...steps)).toBeLessThan(10);
      const j = (await queue.getJob(job.id!))!;
      expect(await j.getState()).toBe('failed');
      expect(j.failedReason).toBe('cancelled: by request');
      expect(j.attemptsMade).toBe(1);
      await new Promise((r) => setTimeout(r, 500)); // a retry would have started by now (backoff 100 ms)
      expect(await j.getState()).toBe('failed');
      expect(memoryStats().hostBytes).toBeLessThanOrEqual(baseline);
      expect(readdirSync(path.join(out, 'cancel'))).toHaveLength(2); // the warm-up's video and recipe only
      expect(await queue.cancel(job.id!)).toBe('finished');
      // A job taken by a worker between cancel()'s look and its removal: the worker finds the cancel key first.
      await worker.worker.pause();
      const raced = await queue.submit({ prompt: 'z', seed: 4, ...small });
      const client = new Redis(redis.port, '127.0.0.1');
      await client.set(`${queue.queue.qualifiedName}:animatorch:cancel:${raced.id}`, 'raced');
      client.disconnect();
      worker.worker.resume();
      await expect(queue.result(raced)).rejects.toThrow('cancelled: raced');
      expect(await queue.cancel('nope')).toBe('missing');
      expect(worker.device).toBe('cpu');
    } finally {
      await close();
    }
  });

  it('keeps storage bounded: finished jobs trimmed, events stream capped', async () => {
    const { queue, close } = await farm('bounded', { removeOnComplete: { count: 2 }, removeOnFail: { count: 1 }, eventsMaxLen: 10 }, { removeOnComplete: { count: 2 } });
    try {
      const jobs = [];
      for (let k = 0; k < 5; k++) jobs.push(await queue.submit({ prompt: 'x', seed: k, ...small, steps: 4 }));
      for (const j of jobs) await queue.result(j);
      for (const model of ['nope-1', 'nope-2']) await queue.result(await queue.submit({ prompt: 'x', model, ...small })).catch(() => undefined);
      const counts = await queue.queue.getJobCounts('completed', 'failed');
      expect(counts).toEqual({ completed: 2, failed: 1 });
      const client = new Redis(redis.port, '127.0.0.1');
      try {
        const len = await client.xlen(`${queue.queue.qualifiedName}:events`);
        expect(len).toBeGreaterThan(0);
        expect(len).toBeLessThanOrEqual(20); // ~10 (MAXLEN ~ trims whole nodes of 10); 5 jobs wrote > 40 events
      } finally {
        client.disconnect();
      }
    } finally {
      await close();
    }
  });
});
