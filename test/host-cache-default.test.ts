// loadPipeline's default for the host cache (lib/host-cache.ts): on for a CPU pipeline, int8 weights too,
// unless the app chose with setHostCache(). A file of its own: the "app chose" flag is module state.
import { appendFileSync, cpSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportedModel } from './utils/fixtures';
import { hostCacheStats, setHostCache } from '../lib/host-cache';
import { binding } from '../lib/native/binding';
import { loadPipeline } from '../lib/pipelines/load-pipeline';

const before = hostCacheStats();
afterAll(() => binding().setHostCache(before.enabled, before.maxFreeBytes));

async function load(dir: string): Promise<void> {
  (await loadPipeline(dir, { keepModules: 'stage' })).dispose();
}

describe('host cache default', () => {
  it('loadPipeline on CPU turns it on, for int8 weights too; an app that chose keeps its choice', async () => {
    const fp32 = await exportedModel();
    const int8 = path.join(mkdtempSync(path.join(os.tmpdir(), 'animatorch-cache-')), 'model');
    cpSync(fp32, int8, { recursive: true });
    appendFileSync(path.join(int8, 'model.yaml'), 'weights: int8\n'); // the flag quantize_exported.py writes

    binding().setHostCache(false, 0); // off in the addon, without the app's choice in lib/
    await load(int8);
    expect(hostCacheStats().enabled).toBe(true);
    expect(hostCacheStats().maxFreeBytes).toBe(Math.floor(os.totalmem() / 4));

    setHostCache(false);
    await load(fp32);
    expect(hostCacheStats().enabled).toBe(false);
  });
});
