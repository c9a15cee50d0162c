// loadPipeline's keepModules: 'stage' holds only the current stage's model and renders what 'all' renders.
import { describe, expect, it } from 'vitest';
import { exportedModel } from './utils/fixtures';
import { pageFaults } from './utils/page-faults';
import { releaseHostMemory, setHostMemoryReuse, setHostMmapThreshold } from '../lib/device';
import { InvalidParameterError } from '../lib/errors';
import { hostCacheStats, releaseHostCache, setHostCache } from '../lib/host-cache';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import type { AnimateDiffPipelineOutput } from '../lib/pipelines/pipeline-output';
import type { ModuleInput } from '../lib/torchscript-module';

const BASE = { prompt: 'a red fox running in the snow', width: 64, height: 64, numFrames: 4, numInferenceSteps: 2, seed: 42 };

type Loaded = { unet: boolean; vae: boolean; text: boolean };
const loadedNow = (p: AnimateDiffPipeline): Loaded => ({ unet: p.unet.loaded, vae: p.vae.loaded, text: p.textEncoder!.loaded });

/** Which models are in memory at each call of each model (recorded from inside the forward). */
function watch(p: AnimateDiffPipeline): Record<'unet' | 'vae' | 'text', Loaded[]> {
  const seen = { unet: [] as Loaded[], vae: [] as Loaded[], text: [] as Loaded[] };
  for (const [key, m] of [['unet', p.unet], ['vae', p.vae], ['text', p.textEncoder!]] as const) {
    const original = m.forward.bind(m);
    m.forward = async (...args: ModuleInput[]) => {
      const out = await original(...args); // loads the module when needed
      seen[key].push(loadedNow(p));
      return out;
    };
  }
  return seen;
}

describe("loadPipeline({ keepModules: 'stage' })", () => {
  it('loads nothing up front, holds one model per stage, frees each when its stage ends, renders as keepModules all', async () => {
    const dir = await exportedModel();
    const stage = await loadPipeline(dir, { keepModules: 'stage' });
    const all = await loadPipeline(dir);
    try {
      expect(loadedNow(stage)).toEqual({ unet: false, vae: false, text: false });
      expect(loadedNow(all)).toEqual({ unet: true, vae: true, text: true });
      const seen = watch(stage);
      const a = (await stage.generate(BASE)) as AnimateDiffPipelineOutput;
      // the text encoder ran twice (prompt, '' negative) alone; the UNet twice (2 steps) alone; the VAE alone
      expect(seen.text).toEqual([{ unet: false, vae: false, text: true }, { unet: false, vae: false, text: true }]);
      expect(seen.unet).toEqual([{ unet: true, vae: false, text: false }, { unet: true, vae: false, text: false }]);
      expect(seen.vae).toEqual([{ unet: false, vae: true, text: false }]);
      expect(loadedNow(stage)).toEqual({ unet: false, vae: false, text: false });
      const b = (await all.generate(BASE)) as AnimateDiffPipelineOutput;
      expect(loadedNow(all)).toEqual({ unet: true, vae: true, text: true });
      expect(a.shape).toEqual([4, 64, 64, 3]);
      expect(Buffer.from(a.frames).equals(Buffer.from(b.frames))).toBe(true);
      // a second render loads them again and gives the same video
      const again = (await stage.generate(BASE)) as AnimateDiffPipelineOutput;
      expect(Buffer.from(again.frames).equals(Buffer.from(a.frames))).toBe(true);
      expect(seen.unet).toHaveLength(4);
    } finally {
      stage.dispose();
      all.dispose();
    }
    expect(stage.unet.disposed && stage.vae.disposed && stage.textEncoder!.disposed).toBe(true);
    await expect(stage.unet.load()).rejects.toThrow(/disposed/);
  });

  it("keeps the host cache's free memory from one stage for the next within a render, and hands it back at the end", async () => {
    const p = await loadPipeline(await exportedModel(), { keepModules: 'stage' });
    try {
      expect(hostCacheStats().enabled).toBe(true); // loadPipeline's default on CPU
      const freeAtStart: Record<'unet' | 'vae', number[]> = { unet: [], vae: [] };
      for (const key of ['unet', 'vae'] as const) {
        const m = p[key];
        const original = m.forward.bind(m);
        m.forward = async (...args: ModuleInput[]) => {
          freeAtStart[key].push(hostCacheStats().freeBytes);
          return original(...args);
        };
      }
      await p.generate(BASE);
      // the text encoder's token embedding (49,408 x its width, float32) at least, freed with it, waits for the UNet
      const embedding = 49_408 * 4 * p.manifest.crossAttentionDim;
      expect(freeAtStart.unet[0]).toBeGreaterThanOrEqual(embedding);
      expect(freeAtStart.vae[0]).toBeGreaterThan(0); // the UNet's, for the decode
      expect(hostCacheStats().freeBytes).toBe(0); // nothing held once the render is done
      // encodePrompt() alone is a whole stage: nothing kept after it
      const e = await p.encodePrompt('a cat');
      e.promptEmbeds.dispose();
      e.negativePromptEmbeds?.dispose();
      expect(hostCacheStats().freeBytes).toBe(0);
    } finally {
      p.dispose();
    }
  });

  it("keepModules 'all': the text encoder's weights live in the host cache until dispose(), which hands them back", async () => {
    releaseHostCache();
    const live0 = hostCacheStats().liveBytes;
    const p = await loadPipeline(await exportedModel());
    const embedding = 49_408 * 4 * p.manifest.crossAttentionDim; // in it: freed, they would serve the UNet's first step
    expect(hostCacheStats().liveBytes - live0).toBeGreaterThanOrEqual(embedding);
    p.dispose();
    expect(hostCacheStats()).toMatchObject({ liveBytes: live0, freeBytes: 0 });
  });

  it('frees the text encoder after encodePrompt() and the VAE after decodeLatents()', async () => {
    const p = await loadPipeline(await exportedModel(), { keepModules: 'stage' });
    try {
      const e = await p.encodePrompt('a cat', { doClassifierFreeGuidance: true });
      expect(e.promptEmbeds.shape[0]).toBe(1);
      expect(p.textEncoder!.loaded).toBe(false);
      const out = await p.generate({ ...BASE, promptEmbeds: e.promptEmbeds, negativePromptEmbeds: e.negativePromptEmbeds, prompt: undefined, outputType: 'latents' });
      expect(p.unet.loaded).toBe(false);
      await p.decodeLatents(out.latents);
      expect(p.vae.loaded).toBe(false);
      out.latents.dispose();
      e.promptEmbeds.dispose();
      e.negativePromptEmbeds?.dispose();
    } finally {
      p.dispose();
    }
  });

  it('rejects an unknown value naming the option', async () => {
    const dir = await exportedModel();
    await expect(loadPipeline(dir, { keepModules: 'none' as 'all' })).rejects.toThrow(InvalidParameterError);
    await expect(loadPipeline(dir, { keepModules: 'none' as 'all' })).rejects.toThrow(/keepModules/);
  });

  it('releaseHostMemory() reports a boolean (glibc: malloc_trim)', () => {
    expect(typeof releaseHostMemory()).toBe('boolean');
  });

  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;

  it('setHostMmapThreshold() sets glibc M_MMAP_THRESHOLD (true on glibc) and checks its bytes by name', () => {
    expect(setHostMmapThreshold(64 * 1024)).toBe(glibc);
    expect(() => setHostMmapThreshold(-1)).toThrow(/^bytes: expected an integer in \[0, 33554432\]/);
    expect(() => setHostMmapThreshold(2 ** 26)).toThrow(/bytes/);
  });

  it('setHostMemoryReuse(true) keeps the pages of a freed tensor for the next one; false maps large blocks afresh', () => {
    expect(() => setHostMemoryReuse(1 as unknown as boolean)).toThrow(/^reuse: expected a boolean, got 1/);
    if (!glibc) return expect(setHostMemoryReuse(true)).toBe(false);
    // Both sizes are over glibc's largest mmap threshold (32 MiB), so by default each gets a mapping of its
    // own. (The same size again would not show reuse: the aligned request is a few bytes larger than the
    // block freed.)
    // glibc's behaviour, so without the host cache (which the pipelines above turned on)
    const cache = hostCacheStats();
    setHostCache(false);
    try {
      expect(setHostMemoryReuse(true)).toBe(true);
      pageFaults(48); // grows the heap
      expect(pageFaults(40)).toBeLessThan(500);
      // larger than any block the heap holds free: with reuse off it is mapped apart and unmapped again
      expect(setHostMemoryReuse(false)).toBe(true);
      pageFaults(200);
      expect(pageFaults(200)).toBeGreaterThan(45_000); // 51,200 fresh pages of 4 KiB
    } finally {
      setHostMemoryReuse(false);
      setHostCache(cache.enabled, { maxFreeBytes: cache.maxFreeBytes });
    }
  });
});
