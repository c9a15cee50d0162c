import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportedModel } from './utils/fixtures';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import type { AnimateDiffPipelineOutput } from '../lib/pipelines/pipeline-output';
import { frameEmbeddings, interpolateEmbeddings, keyframeMix, parsePromptMap } from '../lib/pipelines/prompt-travel';
import { type Tensor } from '../lib/tensor';
import { tensor } from '../lib/tensor-factories';
import type { ModuleInput } from '../lib/torchscript-module';

// ---- tiny exported models, cached in the OS temp dir by preset + seed + flags + exporter hash ----


const values = async (t: Tensor) => Array.from((await t.toArray()) as Float32Array);
const equalBytes = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v, i) => v === b[i]);

describe('prompt maps', () => {
  it('sorts keyframes and checks frame indices', () => {
    expect(parsePromptMap({ 8: 'b', 0: 'a', '4': 'm' }, 16)).toEqual([
      { frame: 0, value: 'a' },
      { frame: 4, value: 'm' },
      { frame: 8, value: 'b' },
    ]);
    expect(() => parsePromptMap({ 16: 'x' }, 16)).toThrow(/prompt\["16"\].*\[0, 15\]/);
    expect(() => parsePromptMap({ '-1': 'x' }, 16)).toThrow(/frame index/);
    expect(() => parsePromptMap({ 1.5: 'x' }, 16)).toThrow(/frame index/);
    expect(() => parsePromptMap({ 0: 3 as never }, 16)).toThrow(/prompt\[0\]/);
    expect(() => parsePromptMap({}, 16)).toThrow(/at least one keyframe/);
  });

  it('finds the surrounding keyframes and the mix between them', () => {
    const frames = [2, 6, 10];
    expect(keyframeMix(frames, 4, { numFrames: 16 })).toEqual({ from: 0, to: 1, t: 0.5 });
    expect(keyframeMix(frames, 6, { numFrames: 16 })).toEqual({ from: 1, to: 2, t: 0 });
    expect(keyframeMix(frames, 9, { numFrames: 16 })).toEqual({ from: 1, to: 2, t: 0.75 });
    // before the first / after the last keyframe the nearest holds...
    expect(keyframeMix(frames, 0, { numFrames: 16 })).toEqual({ from: 0, to: 0, t: 0 });
    expect(keyframeMix(frames, 15, { numFrames: 16 })).toEqual({ from: 2, to: 2, t: 0 });
    // ...unless looped: 10 -> (wrap) -> 2 spans 8 frames
    expect(keyframeMix(frames, 14, { numFrames: 16, loop: true })).toEqual({ from: 2, to: 0, t: 0.5 });
    expect(keyframeMix(frames, 0, { numFrames: 16, loop: true })).toEqual({ from: 2, to: 0, t: 0.75 });
    expect(keyframeMix([5], 12, { numFrames: 16, loop: true })).toEqual({ from: 0, to: 0, t: 0 });
  });
});

describe('embedding interpolation', () => {
  const a = tensor([0, 0, 10, 100], [1, 2, 2]);
  const b = tensor([4, 8, 20, 0], [1, 2, 2]);
  const keys = [
    { frame: 0, value: a },
    { frame: 8, value: b },
  ];

  it('one keyframe gives its embedding unchanged for every frame', async () => {
    for (const f of [0, 3, 15]) expect(await values(interpolateEmbeddings([{ frame: 5, value: b }], f, { numFrames: 16 }))).toEqual(await values(b));
  });

  it('two keyframes interpolate linearly, then hold', async () => {
    expect(await values(interpolateEmbeddings(keys, 0, { numFrames: 16 }))).toEqual([0, 0, 10, 100]);
    expect(await values(interpolateEmbeddings(keys, 4, { numFrames: 16 }))).toEqual([2, 4, 15, 50]);
    expect(await values(interpolateEmbeddings(keys, 6, { numFrames: 16 }))).toEqual([3, 6, 17.5, 25]);
    expect(await values(interpolateEmbeddings(keys, 12, { numFrames: 16 }))).toEqual([4, 8, 20, 0]);
    // looped: from frame 8 back to frame 0 (= 16) over 8 frames
    expect(await values(interpolateEmbeddings(keys, 12, { numFrames: 16, loop: true }))).toEqual([2, 4, 15, 50]);
  });

  it('frameEmbeddings stacks every frame', async () => {
    const all = frameEmbeddings(keys, { numFrames: 10 });
    expect(all.shape).toEqual([10, 1, 2, 2]);
    expect((await values(all)).filter((_, i) => i % 4 === 0)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4]);
  });
});

describe('prompt travel in the pipeline', () => {
  let pipe: AnimateDiffPipeline;
  const BASE = { width: 64, height: 64, numFrames: 8, numInferenceSteps: 2, seed: 5 };
  beforeAll(async () => {
    pipe = await loadPipeline(await exportedModel('tiny-v2', 0));
  });
  afterAll(() => pipe?.dispose());

  const render = async (o: object) => ((await pipe.generate({ ...BASE, ...o })) as AnimateDiffPipelineOutput).frames;

  it('one keyframe equals the plain prompt', async () => {
    const plain = await render({ prompt: 'a snowy forest' });
    expect(equalBytes(await render({ prompt: { 0: 'a snowy forest' } }), plain)).toBe(true);
    expect(equalBytes(await render({ prompt: { 5: 'a snowy forest' } }), plain)).toBe(true);
    // with context windows too
    const windowed = await render({ prompt: 'a snowy forest', contextLength: 4, contextOverlap: 1 });
    expect(equalBytes(await render({ prompt: { 3: 'a snowy forest' }, contextLength: 4, contextOverlap: 1 }), windowed)).toBe(true);
  });

  it('two keyframes condition each window on the interpolation at its centre frame', async () => {
    const contexts: Float32Array[] = [];
    const original = pipe.unet.forward;
    pipe.unet.forward = async (...args: ModuleInput[]) => {
      contexts.push((await (args[2] as Tensor).toArray()) as Float32Array);
      return original.apply(pipe.unet, args);
    };
    let travel: Uint8Array;
    try {
      travel = await render({ prompt: { 0: 'spring meadow', 7: 'winter night' }, numInferenceSteps: 1, guidanceScale: 1, contextLength: 4, contextOverlap: 2 });
    } finally {
      pipe.unet.forward = original;
    }
    const { promptEmbeds: a } = await pipe.encodePrompt('spring meadow', { doClassifierFreeGuidance: false });
    const { promptEmbeds: b } = await pipe.encodePrompt('winter night', { doClassifierFreeGuidance: false });
    const [va, vb] = [await values(a), await values(b)];
    // windows [0-3] [2-5] [4-7]: centres 2, 4, 6 -> t = 2/7, 4/7, 6/7
    expect(contexts).toHaveLength(3);
    contexts.forEach((ctx, k) => {
      const t = (2 + 2 * k) / 7;
      for (let i = 0; i < va.length; i += 97) expect(ctx[i]).toBeCloseTo(va[i]! + t * (vb[i]! - va[i]!), 5);
    });
    const onlyA = await render({ prompt: 'spring meadow', numInferenceSteps: 1, guidanceScale: 1, contextLength: 4, contextOverlap: 2 });
    const onlyB = await render({ prompt: 'winter night', numInferenceSteps: 1, guidanceScale: 1, contextLength: 4, contextOverlap: 2 });
    expect(equalBytes(travel!, onlyA)).toBe(false);
    expect(equalBytes(travel!, onlyB)).toBe(false);
    a.dispose();
    b.dispose();
  });

  it('accepts keyframed embeddings (no text encoder needed) and checks them', async () => {
    const { promptEmbeds: a, negativePromptEmbeds: n } = await pipe.encodePrompt('a snowy forest');
    const fromText = await render({ prompt: { 0: 'a snowy forest' } });
    expect(equalBytes(await render({ promptEmbeds: { 0: a }, negativePromptEmbeds: n }), fromText)).toBe(true);
    await expect(pipe.generate({ ...BASE, promptEmbeds: { 0: a, 20: a } })).rejects.toThrow(/promptEmbeds\["20"\]/);
    await expect(pipe.generateMany({ ...BASE, seed: undefined, prompt: { 0: 'x' }, seeds: [1, 2] })).resolves.toHaveLength(2);
    a.dispose();
    n!.dispose();
  });
});
