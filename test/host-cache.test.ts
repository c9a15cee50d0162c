// The host cache (lib/host-cache.ts, binding/host-cache.cc): freed CPU tensors' blocks are kept as free ranges,
// joined with their neighbours, that the next tensors of any size are cut out of; up to a cap, and handed back
// on request.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseHostMemory } from '../lib/device';
import { hostCacheStats, releaseHostCache, setHostCache } from '../lib/host-cache';
import { full, zeros } from '../lib/tensor-factories';
import { loadModule } from '../lib/torchscript-module';
import { exportedModel } from './utils/fixtures';
import { pageFaults } from './utils/page-faults';

const MiB = 2 ** 20;
const before = hostCacheStats();
afterAll(() => setHostCache(before.enabled, { maxFreeBytes: before.maxFreeBytes }));

describe('host cache', () => {
  it('cuts the next tensors out of a freed block, whatever their size: no fresh pages, counted as hits', () => {
    setHostCache(true, { maxFreeBytes: 256 * MiB });
    releaseHostCache();
    pageFaults(40);
    const s0 = hostCacheStats();
    expect(s0.freeBytes).toBe(40 * MiB); // whole pages, nothing over
    expect(pageFaults(39)).toBeLessThan(500);
    const s1 = hostCacheStats();
    expect(s1.hits).toBe(s0.hits + 1);
    expect(s1.misses).toBe(s0.misses);
    expect(s1.liveBytes).toBe(s0.liveBytes);
    expect(s1.freeBytes).toBe(40 * MiB); // the 39 MiB came back and joined the 1 MiB left over
  });

  it('joins freed neighbours, so two halves freed serve one tensor of the whole', () => {
    setHostCache(true, { maxFreeBytes: 256 * MiB });
    releaseHostCache();
    zeros([40 * 2 ** 18]).dispose(); // one free range of 40 MiB
    const a = zeros([20 * 2 ** 18]); // 20 MiB, cut from it
    const b = zeros([20 * 2 ** 18]); // the other 20 MiB
    const s0 = hostCacheStats();
    expect(s0.freeBytes).toBe(0);
    a.dispose();
    b.dispose();
    expect(pageFaults(40)).toBeLessThan(500);
    const s1 = hostCacheStats();
    expect(s1.misses).toBe(s0.misses);
    expect(s1.hits).toBe(s0.hits + 1);
  });

  it('hands out reused blocks with the values the new tensor asks for', async () => {
    setHostCache(true, { maxFreeBytes: 256 * MiB });
    const n = 2 ** 20; // 4 MiB
    full([n], 7).dispose();
    const z = zeros([n]);
    const data = (await z.toArray()) as Float32Array;
    z.dispose();
    expect(data.length).toBe(n);
    expect(data.every((v) => v === 0)).toBe(true);
    const f = full([n], 3);
    expect(((await f.toArray()) as Float32Array).every((v) => v === 3)).toBe(true);
    f.dispose();
  });

  it('keeps no more than maxFreeBytes, and releaseHostCache / releaseHostMemory hand the free blocks back', () => {
    setHostCache(true, { maxFreeBytes: 8 * MiB });
    releaseHostCache();
    pageFaults(40);
    expect(hostCacheStats().freeBytes).toBe(0); // over the cap: unmapped when freed
    expect(pageFaults(40)).toBeGreaterThan(9_000); // 10,240 fresh pages of 4 KiB

    setHostCache(true, { maxFreeBytes: 256 * MiB });
    pageFaults(40);
    expect(releaseHostCache()).toBeGreaterThanOrEqual(40 * MiB);
    expect(hostCacheStats().freeBytes).toBe(0);
    pageFaults(40);
    releaseHostMemory({ keepHostCache: true });
    expect(hostCacheStats().freeBytes).toBe(40 * MiB);
    expect(releaseHostMemory()).toBe(true);
    expect(hostCacheStats().freeBytes).toBe(0);
    expect(() => releaseHostMemory({ keepHostCache: 1 as unknown as boolean })).toThrow(/^keepHostCache: expected a boolean/);
  });

  it('leaves blocks under 256 KiB to malloc, and maps afresh when off', () => {
    setHostCache(true, { maxFreeBytes: 256 * MiB });
    releaseHostCache();
    const s0 = hostCacheStats();
    zeros([32 * 1024]).dispose(); // 128 KiB
    expect(hostCacheStats().hits + hostCacheStats().misses).toBe(s0.hits + s0.misses);

    setHostCache(false);
    expect(hostCacheStats().enabled).toBe(false);
    pageFaults(40);
    expect(hostCacheStats().freeBytes).toBe(0);
    // glibc's now: an earlier file in this process may have left 40 MiB free in a heap (under its trim
    // threshold), whose resident pages would serve the tensor; malloc_trim hands them back first
    releaseHostMemory();
    expect(pageFaults(40)).toBeGreaterThan(9_000);
  });

  it('tracks its peak of live and free bytes, resettable', () => {
    setHostCache(true, { maxFreeBytes: 256 * MiB });
    releaseHostCache();
    hostCacheStats({ resetPeak: true });
    const a = zeros([16 * 2 ** 18]);
    const b = zeros([16 * 2 ** 18]);
    a.dispose();
    b.dispose();
    expect(hostCacheStats().peakBytes).toBeGreaterThanOrEqual(32 * MiB);
    releaseHostCache();
    hostCacheStats({ resetPeak: true });
    expect(hostCacheStats().peakBytes).toBe(hostCacheStats().liveBytes);
  });

  it('refuses bad options, naming them', () => {
    expect(() => setHostCache('yes' as unknown as boolean)).toThrow(/^enabled: expected a boolean, got "yes"/);
    expect(() => setHostCache(true, { maxFreeBytes: -1 })).toThrow(/^maxFreeBytes: /);
    expect(() => setHostCache(true, { maxFreeBytes: 1.5 })).toThrow(/^maxFreeBytes: /);
  });

  it("loadModule({ hostCache: false }) puts a module's weights outside it: they take no free range, and freed go back to the OS", async () => {
    const file = path.join(await exportedModel(), 'text_encoder', 'model.pt'); // its token embedding: 49,408 x 32 floats, 6 MiB
    setHostCache(true, { maxFreeBytes: 256 * MiB });
    releaseHostCache();
    zeros([16 * 2 ** 18]).dispose(); // 16 MiB free
    const s0 = hostCacheStats();
    const outside = await loadModule(file, { hostCache: false });
    const s1 = hostCacheStats();
    expect([s1.liveBytes, s1.freeBytes, s1.hits]).toEqual([s0.liveBytes, 16 * MiB, s0.hits]);
    outside.dispose();
    expect(hostCacheStats().freeBytes).toBe(16 * MiB);
    const inside = await loadModule(file); // the default: its weight is cut out of the free range
    const s2 = hostCacheStats();
    expect(s2.liveBytes).toBeGreaterThanOrEqual(s0.liveBytes + 4 * MiB);
    expect(s2.freeBytes).toBeLessThanOrEqual(12 * MiB);
    inside.dispose();
    expect(hostCacheStats().freeBytes).toBe(16 * MiB); // freed back into it
    await expect(loadModule(file, { hostCache: 'no' as unknown as boolean })).rejects.toThrow(/hostCache/);
  });
});
