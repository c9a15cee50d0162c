import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { randn, tensor } from '../lib';
import { repoRoot, testModules } from './utils/fixtures';

// Workers load the compiled package (dist/), as an app would; `npm test` builds it first.
const entry = path.join(repoRoot, 'dist', 'index.js');
let modules: string;
beforeAll(async () => {
  if (!existsSync(entry)) throw new Error('dist/ is missing: run `npm run build:ts` (npm test does it)');
  modules = await testModules();
});

const script = `
const { parentPort, workerData } = require('node:worker_threads');
const at = require(workerData.entry);
(async () => {
  const t = at.tensor([1, 2, 3], [3]).mul(workerData.k);
  const m = await at.loadModule(workerData.module);
  const y = await m.forward(at.randn([1, 32, 8, 8], { generator: at.createGenerator(5) }));
  parentPort.postMessage({ values: Array.from(await t.toArray()), shape: y.shape, sum: await y.sum().item() });
})().catch((e) => parentPort.postMessage({ error: e.message }));
`;

function runWorker(k: number): Promise<{ values: number[]; shape: number[]; sum: number; error?: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { eval: true, workerData: { entry, k, module: path.join(modules, 'conv_attn.pt') } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

describe('worker_threads', () => {
  it('loads the addon in several workers at once, each with its own state', async () => {
    const results = await Promise.all([runWorker(2), runWorker(3)]);
    for (const r of results) expect(r.error).toBeUndefined();
    expect(results[0]!.values).toEqual([2, 4, 6]);
    expect(results[1]!.values).toEqual([3, 6, 9]);
    expect(results[0]!.shape).toEqual([1, 32, 8, 8]);
    expect(results[0]!.sum).toBeCloseTo(results[1]!.sum, 4); // same seed, same module
    // The main thread's instance keeps working alongside.
    expect(Array.from((await tensor([1], [1]).add(1).toArray()) as ArrayLike<number>)).toEqual([2]);
  });

  it('survives workers terminated while loading the addon and while computing', async () => {
    for (const delay of [20, 400]) {
      const w = new Worker(
        `const at = require(${JSON.stringify(entry)}); for (;;) { at.randn([64, 64]).matmul(at.randn([64, 64])); }`,
        { eval: true },
      );
      await new Promise((r) => setTimeout(r, delay));
      await w.terminate();
    }
    expect(Array.from((await randn([2]).mul(0).abs().toArray()) as ArrayLike<number>)).toEqual([0, 0]);
  });
});
