// FreeInit: generate({ freeInit }) against diffusers' AnimateDiffPipeline.enable_free_init on the tiny random
// model: test/fixtures/animatediff-free-init.json, written by scripts/reference/animatediff_free_init.py.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersCase, generateAsReference, loadFixturePipeline, readDiffusersFixture, worstDifference } from './utils/diffusers-fixture';
import { AbortError, InvalidParameterError } from '../lib/errors';
import { createGenerator } from '../lib/generator';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { applyFrequencyFilter, freeInitFilter, freeInitSteps, resolveFreeInit } from '../lib/pipelines/free-init';
import type { DenoiseProgress } from '../lib/pipelines/progress';
import { randn } from '../lib/tensor-factories';

type Case = DiffusersCase & {
  free_init: { iterations: number; method: 'butterworth' | 'gaussian'; order: number; spatialStopFrequency: number; temporalStopFrequency: number; fastSampling: boolean };
};
const ref = readDiffusersFixture<Case>('animatediff-free-init.json');

describe('FreeInit pieces', () => {
  it('fast sampling runs floor(steps / iterations · (i + 1)) steps, at least 1', () => {
    const f = resolveFreeInit({ iterations: 3, fastSampling: true })!;
    expect([0, 1, 2].map((i) => freeInitSteps(4, f, i))).toEqual([1, 2, 4]);
    expect([0, 1, 2].map((i) => freeInitSteps(2, f, i))).toEqual([1, 1, 2]);
    expect(freeInitSteps(25, resolveFreeInit(true)!, 0)).toBe(25);
  });

  it('the filter is 1 at the centre (zero frequency after fftshift) and falls off; ideal is a box', () => {
    const m = freeInitFilter(4, 8, 8, resolveFreeInit({ method: 'butterworth' })!);
    expect(m[(2 * 8 + 4) * 8 + 4]).toBe(1);
    expect(m[0]!).toBeLessThan(0.01);
    const ideal = freeInitFilter(4, 8, 8, resolveFreeInit({ method: 'ideal' })!);
    expect(new Set(ideal)).toEqual(new Set([0, 1]));
    expect(freeInitFilter(4, 8, 8, resolveFreeInit({ spatialStopFrequency: 0 })!).every((v) => v === 0)).toBe(true);
  });

  it('an all-pass mask returns x, an all-stop mask returns the noise (the DFT round trip is exact to 1e-6)', async () => {
    const x = randn([1, 2, 4, 6, 8], { generator: createGenerator(3) });
    const n = randn([1, 2, 4, 6, 8], { generator: createGenerator(4) });
    const pass = applyFrequencyFilter(x, n, new Float32Array(4 * 6 * 8).fill(1), 'cpu');
    const stop = applyFrequencyFilter(x, n, new Float32Array(4 * 6 * 8), 'cpu');
    const [xa, na, pa, sa] = (await Promise.all([x, n, pass, stop].map((t) => t.toArray()))) as Float32Array[];
    expect(Math.max(...pa!.map((v, i) => Math.abs(v - xa![i]!)))).toBeLessThan(1e-6);
    expect(Math.max(...sa!.map((v, i) => Math.abs(v - na![i]!)))).toBeLessThan(1e-6);
    for (const t of [x, n, pass, stop]) t.dispose();
  });

  it('rejects bad options naming them', () => {
    expect(() => resolveFreeInit({ method: 'box' })).toThrow(/^freeInit\.method: expected one of/);
    expect(() => resolveFreeInit({ iterations: 0 })).toThrow(/^freeInit\.iterations: expected an integer >= 1/);
    expect(() => resolveFreeInit({ spatialStopFrequency: 2 })).toThrow(/^freeInit\.spatialStopFrequency: expected a number in \[0, 1\]/);
    expect(() => resolveFreeInit({ fastSampling: 1 })).toThrow(/^freeInit\.fastSampling: expected a boolean/);
    expect(() => resolveFreeInit({ iteration: 2 })).toThrow(/did you mean 'iterations'/);
    expect(() => resolveFreeInit('yes')).toThrow(InvalidParameterError);
  });
});

describe("FreeInit against diffusers' enable_free_init", () => {
  let pipe: AnimateDiffPipeline;
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
  });
  afterAll(() => pipe?.dispose());

  const run = (c: Case, extra: Partial<GenerateOptions> = {}) => generateAsReference(pipe, ref, c, { freeInit: c.free_init, ...extra });

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const r = await run(c);
      expect(r.shape).toEqual(c.shape);
      expect(await worstDifference(r, c, name)).toBeLessThan(1e-4);
    });
  }

  it('progress says which iteration runs, with its own step count', async () => {
    const c = ref.cases.butterworth_fast!;
    const events: DenoiseProgress[] = [];
    const r = await run(c, { onProgress: (e) => void (e.stage === 'denoise' && events.push(e)) });
    r.latents.dispose();
    expect(events.map((e) => [e.freeInitIteration, e.freeInitIterations, e.step, e.total])).toEqual([
      [0, 3, 1, 1],
      [1, 3, 1, 2],
      [1, 3, 2, 2],
      [2, 3, 1, 4],
      [2, 3, 2, 4],
      [2, 3, 3, 4],
      [2, 3, 4, 4],
    ]);
  });

  for (const at of [0, 1, 2]) {
    it(`aborts inside iteration ${at}`, async () => {
      const c = ref.cases.butterworth_fast!;
      const ac = new AbortController();
      const seen: number[] = [];
      const err = await run(c, {
        signal: ac.signal,
        onProgress: (e) => {
          if (e.stage !== 'denoise') return;
          seen.push(e.freeInitIteration!);
          if (e.freeInitIteration === at) ac.abort();
        },
      }).catch((x) => x);
      expect(err).toBeInstanceOf(AbortError);
      expect(Math.max(...seen)).toBe(at);
    });
  }

  it('is refused with video, naming freeInit', async () => {
    const video = { frames: new Uint8Array(4 * 64 * 64 * 3), shape: [4, 64, 64, 3] as [number, number, number, 3] };
    await expect(pipe.generate({ prompt: 'x', video, freeInit: true })).rejects.toThrow(/^freeInit: expected to be left out with video/);
  });
});
