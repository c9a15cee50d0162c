// FreeNoise: generate({ freeNoise }) against diffusers' AnimateDiffPipeline.enable_free_noise on the tiny random
// model: test/fixtures/animatediff-free-noise.json, written by scripts/reference/animatediff_free_noise.py.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersCase, generateAsReference, loadFixturePipeline, readDiffusersFixture, worstDifference } from './utils/diffusers-fixture';
import { createGenerator } from '../lib/generator';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import { freeNoiseEmbeddings, freeNoiseFrameWeights, freeNoiseLatents, freeNoiseWindows, resolveFreeNoise, type ResolvedFreeNoise } from '../lib/pipelines/free-noise';
import { arange, randn, randperm } from '../lib/tensor-factories';
import type { Tensor } from '../lib/tensor';
import { python } from './utils/fixtures';

type Case = DiffusersCase & { free_noise: ResolvedFreeNoise; prompt_seeds: Record<string, number> };
const ref = readDiffusersFixture<Case>('animatediff-free-noise.json');

describe('FreeNoise pieces', () => {
  it("window weights are diffusers' _get_frame_weights", () => {
    expect(freeNoiseFrameWeights(4, 'pyramid')).toEqual([1, 2, 2, 1]);
    expect(freeNoiseFrameWeights(5, 'pyramid')).toEqual([1, 2, 3, 2, 1]);
    expect(freeNoiseFrameWeights(4, 'delayed_reverse_sawtooth')).toEqual([0.01, 2, 2, 1]);
    expect(freeNoiseFrameWeights(5, 'delayed_reverse_sawtooth')).toEqual([0.01, 0.01, 3, 2, 1]);
    expect(freeNoiseFrameWeights(3, 'flat')).toEqual([1, 1, 1]);
  });

  it('windows start every stride; a last window ends on the last frame and only adds its new frames', () => {
    const f = resolveFreeNoise({ contextLength: 4, contextStride: 3, weightingScheme: 'pyramid' })!;
    const { starts, weights } = freeNoiseWindows(8, f);
    expect(starts).toEqual([0, 3, 4]);
    // the last window's 1 new frame: its output weight 1, and the count weight of position 4 - 1 (diffusers' weights[:, -1])
    expect(weights.slice(16)).toEqual([0, 0, 0, 1, 0, 0, 0, 1]);
    expect(freeNoiseWindows(16, resolveFreeNoise({ contextLength: 8, contextStride: 4 })!).starts).toEqual([0, 4, 8]);
  });

  it('randperm with a seeded generator equals torch.randperm after the same randn', async () => {
    const g = createGenerator(42);
    randn([1, 4, 16, 8, 8], { generator: g }).dispose();
    const ours = await Promise.all([4, 4, 7].map(async (n) => Array.from((await randperm(n, { generator: g }).toArray()) as BigInt64Array, Number)));
    const theirs = JSON.parse(
      await python('import torch, json\ng = torch.Generator().manual_seed(42)\ntorch.randn((1, 4, 16, 8, 8), generator=g)\nprint(json.dumps([torch.randperm(n, generator=g).tolist() for n in (4, 4, 7)]))'),
    );
    expect(ours).toEqual(theirs);
  });

  it("'repeat_context' repeats the first window; 'random' keeps the noise", async () => {
    const noise = () => arange(0, 10).reshape([1, 1, 10, 1, 1]);
    const f = resolveFreeNoise({ contextLength: 4, noiseType: 'repeat_context' })!;
    const rep = await freeNoiseLatents(noise(), f, undefined);
    expect(Array.from((await rep.toArray()) as Float32Array)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    const rnd = await freeNoiseLatents(noise(), { ...f, noiseType: 'random' }, undefined);
    expect(Array.from((await rnd.toArray()) as Float32Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    rep.dispose();
    rnd.dispose();
  });

  it('prompts are interpolated per frame from frame 0 to the last frame', async () => {
    const a = arange(0, 2).reshape([1, 2]);
    const b = arange(10, 12).reshape([1, 2]);
    const e = freeNoiseEmbeddings([{ frame: 0, value: a }, { frame: 2, value: b }], 5);
    expect(Array.from((await e.toArray()) as Float32Array)).toEqual([0, 1, 5, 6, 10, 11, 10, 11, 10, 11]);
    expect(() => freeNoiseEmbeddings([{ frame: 1, value: a }], 5)).toThrow(/^prompt: expected a keyframe at frame 0/);
    for (const t of [a, b, e]) t.dispose();
  });

  it('rejects bad options naming them', () => {
    expect(() => resolveFreeNoise({ weightingScheme: 'box' })).toThrow(/^freeNoise\.weightingScheme: expected one of/);
    expect(() => resolveFreeNoise({ noiseType: 'shuffle' })).toThrow(/^freeNoise\.noiseType: expected one of/);
    expect(() => resolveFreeNoise({ contextStride: 0 })).toThrow(/^freeNoise\.contextStride: expected an integer >= 1/);
    expect(() => resolveFreeNoise({ contextLenght: 8 })).toThrow(/did you mean 'contextLength'/);
  });
});

describe("FreeNoise against diffusers' enable_free_noise", () => {
  let pipe: AnimateDiffPipeline;
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
  });
  afterAll(() => pipe?.dispose());

  const embeds = (seed: number): Tensor => randn([1, 77, pipe.manifest.crossAttentionDim], { generator: createGenerator(seed) });

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const keys = Object.entries(c.prompt_seeds);
      const map = keys.length > 1 ? Object.fromEntries(keys.map(([k, s]) => [k, embeds(s)])) : undefined;
      try {
        const r = await generateAsReference(pipe, ref, c, { freeNoise: c.free_noise, ...(map && { promptEmbeds: map }) });
        expect(r.shape).toEqual(c.shape);
        expect(await worstDifference(r, c, name)).toBeLessThan(1e-4);
      } finally {
        for (const t of Object.values(map ?? {})) t.dispose();
      }
    });
  }

  it('is refused with fewer frames than its windows, naming numFrames', async () => {
    await expect(pipe.generate({ prompt: 'x', numFrames: 4, freeNoise: { contextLength: 8 } })).rejects.toThrow(/^numFrames: expected at least freeNoise\.contextLength \(8\)/);
  });
});
