// FreeInit: generate({ freeInit }) against diffusers' AnimateDiffPipeline.enable_free_init on the tiny random
// model: test/fixtures/animatediff-free-init.json, written by scripts/reference/animatediff_free_init.py.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportedModel } from './utils/fixtures';
import { AbortError, InvalidParameterError } from '../lib/errors';
import { createGenerator } from '../lib/generator';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { applyFrequencyFilter, freeInitFilter, freeInitSteps, resolveFreeInit } from '../lib/pipelines/free-init';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import type { AnimateDiffLatentsOutput } from '../lib/pipelines/pipeline-output';
import type { DenoiseProgress } from '../lib/pipelines/progress';
import { randn } from '../lib/tensor-factories';

type Case = {
  free_init: { iterations: number; method: 'butterworth' | 'gaussian'; order: number; spatialStopFrequency: number; temporalStopFrequency: number; fastSampling: boolean };
  scheduler: { className: string; config: Record<string, unknown> };
  num_inference_steps: number;
  guidance_scale: number;
  shape: number[];
  latents: number[];
};
const ref = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'animatediff-free-init.json'), 'utf8')) as {
  export: { preset: string; seed: number; numerics: string };
  width: number;
  height: number;
  num_frames: number;
  prompt_embeds_seed: number;
  negative_prompt_embeds_seed: number;
  latents_seed: number;
  cases: Record<string, Case>;
};

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
    pipe = await loadPipeline(await exportedModel(ref.export.preset, ref.export.seed, ['--numerics', ref.export.numerics]));
  });
  afterAll(() => pipe?.dispose());

  const run = async (c: Case, extra: Partial<GenerateOptions> = {}) => {
    const shape = [1, 77, pipe.manifest.crossAttentionDim];
    const promptEmbeds = randn(shape, { generator: createGenerator(ref.prompt_embeds_seed) });
    const negativePromptEmbeds = randn(shape, { generator: createGenerator(ref.negative_prompt_embeds_seed) });
    try {
      return (await pipe.generate({
        freeInit: c.free_init,
        promptEmbeds,
        negativePromptEmbeds,
        width: ref.width,
        height: ref.height,
        numFrames: ref.num_frames,
        guidanceScale: c.guidance_scale,
        numInferenceSteps: c.num_inference_steps,
        scheduler: c.scheduler,
        seed: ref.latents_seed,
        outputType: 'latents',
        ...extra,
      })) as AnimateDiffLatentsOutput;
    } finally {
      promptEmbeds.dispose();
      negativePromptEmbeds.dispose();
    }
  };

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const r = await run(c);
      expect(r.shape).toEqual(c.shape);
      const got = (await r.latents.toArray()) as Float32Array;
      r.latents.dispose();
      expect(got.length).toBe(c.latents.length);
      const worst = Math.max(...c.latents.map((w, i) => Math.abs(got[i]! - w) / (1 + Math.abs(w))));
      if (process.env.ANIMATORCH_PRINT_DIFFS) console.log(`${name}: worst ${worst.toExponential(2)}, max |latent| ${Math.max(...c.latents.map(Math.abs)).toFixed(2)}`);
      expect(worst).toBeLessThan(1e-4);
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
