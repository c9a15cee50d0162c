// SparseCtrl: generate({ controlnet: [{ model, images, frameIndices }] }) against diffusers'
// AnimateDiffSparseControlNetPipeline on the tiny random model and random tiny SparseCtrls (RGB and scribble):
// test/fixtures/animatediff-sparsectrl.json, written by scripts/reference/animatediff_sparsectrl.py.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportModel } from '../lib/model-export';
import { repoRoot } from '../scripts/testing/exported-model';
import { python } from './utils/fixtures';
import { type DiffusersCase, generateAsReference, loadFixturePipeline, readDiffusersFixture, worstDifference } from './utils/diffusers-fixture';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { ControlNetOptions } from '../lib/pipelines/controlnet';
import { type ControlNet, loadControlNet, readControlNetManifest } from '../lib/pipelines/controlnet-model';
import { createGenerator } from '../lib/generator';
import { randn } from '../lib/tensor-factories';
import { exportedControlNet, exportedSparseCtrl } from './utils/controlnet-fixture';

type Case = DiffusersCase & { guess_mode: boolean; kind: 'rgb' | 'scribble'; frame_indices: number[]; scale: number };
const ref = readDiffusersFixture<Case>('animatediff-sparsectrl.json') as ReturnType<typeof readDiffusersFixture<Case>> & { sparsectrl_seed: number; keyframe_seed: number };

/** The reference script's keyframe_images(): uint8 [K, H, W, 3]. */
function keyframeImages(count: number, h: number, w: number): { frames: Uint8Array; shape: number[] } {
  const out = new Uint8Array(count * h * w * 3);
  let i = 0;
  for (let k = 0; k < count; k++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[i++] = (37 * k + 5 * y + 9 * x + 70 * c + ((x * y) % 7) * 11) % 256;
  return { frames: out, shape: [count, h, w, 3] };
}

async function latentsOf(r: { latents: { toArray(): Promise<unknown>; dispose(): void } }): Promise<Float32Array> {
  const a = (await r.latents.toArray()) as Float32Array;
  r.latents.dispose();
  return a;
}

const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

describe("SparseCtrl against diffusers' AnimateDiffSparseControlNetPipeline", () => {
  let pipe: AnimateDiffPipeline;
  const nets = new Map<string, ControlNet>();
  const dirs = new Map<string, string>();
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
    for (const kind of ['rgb', 'scribble'] as const) {
      dirs.set(kind, await exportedSparseCtrl(kind, ref.sparsectrl_seed));
      nets.set(kind, await loadControlNet(dirs.get(kind)!, { device: pipe.device }));
    }
  });
  afterAll(() => {
    pipe?.dispose();
    for (const n of nets.values()) n.dispose();
  });

  const control = (c: Case, extra: Partial<ControlNetOptions> = {}): ControlNetOptions => ({
    model: nets.get(c.kind)!,
    images: keyframeImages(c.frame_indices.length, ref.height, ref.width),
    frameIndices: c.frame_indices,
    scale: c.scale,
    guessMode: c.guess_mode,
    ...extra,
  });

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const r = await generateAsReference(pipe, ref, c, { controlnet: [control(c)] });
      expect(r.shape).toEqual(c.shape);
      expect(await worstDifference(r, c, name)).toBeLessThan(1e-4);
    });
  }

  it('keyframeSeed: the default is the video seed; another seed samples the RGB keyframes differently, by path too', async () => {
    const c = ref.cases['rgb_frames_0_7']!;
    const same = await generateAsReference(pipe, ref, c, { controlnet: control(c, { model: dirs.get('rgb')!, keyframeSeed: ref.keyframe_seed }) });
    expect(await worstDifference(same, c, 'explicit seed, by path')).toBeLessThan(1e-4);
    const other = await latentsOf(await generateAsReference(pipe, ref, c, { controlnet: control(c, { keyframeSeed: 7 }) }));
    expect(maxDiff(other, Float32Array.from(c.latents))).toBeGreaterThan(1e-3);
  });

  it("keyframeSeed with the caller's generator: its initial seed, read without drawing from it", async () => {
    const c = ref.cases['rgb_frames_0_7']!;
    // the generator seeded like the reference (latents and keyframes from 42): diffusers' latents, so the
    // keyframes were sampled with 42 and the denoising noise is what that generator gives without them
    const asRef = await generateAsReference(pipe, ref, c, { seed: undefined, generator: createGenerator(ref.latents_seed), controlnet: control(c) });
    expect(await worstDifference(asRef, c, 'generator, no keyframeSeed')).toBeLessThan(1e-4);
    // fixed starting latents (DDIM, eta 0: nothing else is drawn): the keyframe latents are all that differs
    const latents = randn([1, 4, ref.num_frames, ref.height / 8, ref.width / 8], { generator: createGenerator(9) });
    try {
      const run = async (o: Partial<Parameters<typeof generateAsReference>[3]>, extra: Partial<ControlNetOptions> = {}) =>
        latentsOf(await generateAsReference(pipe, ref, c, { seed: undefined, latents, controlnet: control(c, extra), ...o }));
      const a = await run({ generator: createGenerator(11) });
      expect(await run({ generator: createGenerator(11) })).toEqual(a);
      expect(await run({}, { keyframeSeed: 11 })).toEqual(a);
      const b = await run({ generator: createGenerator(12) });
      expect(maxDiff(a, b)).toBeGreaterThan(1e-3);
      expect(await run({}, { keyframeSeed: 12 })).toEqual(b);
      // an explicit keyframeSeed still wins over the generator's; 0 (the old fallback) is another sample
      const zero = await run({ generator: createGenerator(11) }, { keyframeSeed: 0 });
      expect(maxDiff(a, zero)).toBeGreaterThan(1e-3);
      expect(await run({}, { keyframeSeed: 0 })).toEqual(zero);
    } finally {
      latents.dispose();
    }
  });

  it('steers: without it, or at scale 0, the render differs / is the plain one', async () => {
    const c = ref.cases['rgb_frames_0_7']!;
    const plain = await latentsOf(await generateAsReference(pipe, ref, c));
    const zero = await latentsOf(await generateAsReference(pipe, ref, c, { controlnet: control(c, { scale: 0 }) }));
    expect(zero).toEqual(plain);
    expect(maxDiff(plain, Float32Array.from(c.latents))).toBeGreaterThan(0.05);
  });

  it('slices the condition and mask per context window: disjoint windows render frames 4..7 as a 4-frame video of them', async () => {
    const c = ref.cases['scribble_frames_0_7']!;
    const latents = randn([1, 4, ref.num_frames, ref.height / 8, ref.width / 8], { generator: createGenerator(5) });
    const tail = latents.narrow(2, 4, 4).contiguous();
    const windowed = await generateAsReference(pipe, ref, c, { controlnet: control(c), latents, contextLength: 4, contextOverlap: 0 });
    // frame 7's keyframe (the second image) lands on frame 3 of the 4-frame video
    const img = keyframeImages(2, ref.height, ref.width);
    const second = { frames: img.frames.slice(ref.height * ref.width * 3), shape: [1, ref.height, ref.width, 3] };
    const short = await generateAsReference(pipe, ref, c, { controlnet: control(c, { images: second, frameIndices: [3] }), latents: tail, numFrames: 4 });
    const got = windowed.latents.narrow(2, 4, 4).contiguous();
    const [a, b] = (await Promise.all([got.toArray(), short.latents.toArray()])) as Float32Array[];
    expect(maxDiff(a!, b!)).toBeLessThan(1e-5);
    for (const t of [latents, tail, got, windowed.latents, short.latents]) t.dispose();
  });

  it('resizes keyframe images of another size to the render size (nearest, as diffusers resizes arrays)', async () => {
    const c = ref.cases['scribble_frames_0_7']!;
    const small = keyframeImages(2, ref.height / 2, ref.width / 2);
    const big = new Uint8Array(2 * ref.height * ref.width * 3);
    for (let k = 0; k < 2; k++)
      for (let y = 0; y < ref.height; y++)
        for (let x = 0; x < ref.width; x++)
          for (let ch = 0; ch < 3; ch++) big[((k * ref.height + y) * ref.width + x) * 3 + ch] = small.frames[((k * (ref.height / 2) + (y >> 1)) * (ref.width / 2) + (x >> 1)) * 3 + ch]!;
    const a = await latentsOf(await generateAsReference(pipe, ref, c, { controlnet: control(c, { images: small }) }));
    const b = await latentsOf(await generateAsReference(pipe, ref, c, { controlnet: control(c, { images: { frames: big, shape: [2, ref.height, ref.width, 3] } }) }));
    expect(a).toEqual(b);
  });

  it('mixes with a ControlNet (residuals summed, as MultiControlNet): differs from the SparseCtrl alone', async () => {
    const c = ref.cases['rgb_frames_0']!;
    const cn = await exportedControlNet(3);
    const frames = { frames: new Uint8Array(ref.num_frames * ref.height * ref.width * 3).fill(128), shape: [ref.num_frames, ref.height, ref.width, 3] };
    const both = await latentsOf(await generateAsReference(pipe, ref, c, { controlnet: [control(c), { model: cn, frames }] }));
    expect(maxDiff(both, Float32Array.from(c.latents))).toBeGreaterThan(1e-3);
  });

  it('animatorch export --controlnet reads the original AnimateDiff v3 .ckpt layout (--numerics diffusers) and renders the same', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-sc-'));
    try {
      const ckpt = path.join(tmp, 'v3_sd15_sparsectrl_rgb.ckpt');
      await python(`import sys, torch; sys.path.insert(0, ${JSON.stringify(path.join(repoRoot, 'scripts'))})
from export_controlnet import random_tiny_sparsectrl
from animatorch_export.motion_module import sinusoidal_table
sd = dict(random_tiny_sparsectrl('rgb', ${ref.sparsectrl_seed}, 'diffusers').state_dict())
for k in [k for k in sd if k.endswith('temporal_transformer.norm.weight')]:
    sd[k[:-len('norm.weight')] + 'transformer_blocks.0.attention_blocks.0.pos_encoder.pe'] = sinusoidal_table(32, sd[k].shape[0])
torch.save({'state_dict': sd}, ${JSON.stringify(ckpt)})`);
      let log = '';
      const code = await exportModel({ controlnet: ckpt, out: path.join(tmp, 'sc'), numerics: 'diffusers' }, { onOutput: (t) => void (log += t) });
      expect(code, log).toBe(0);
      const c = ref.cases['rgb_frames_0']!;
      const r = await generateAsReference(pipe, ref, c, { controlnet: control(c, { model: path.join(tmp, 'sc') }) });
      expect(await worstDifference(r, c, 'exported from .ckpt')).toBeLessThan(1e-4);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('reads controlnet.yaml (kind sparsectrl)', async () => {
    expect(await readControlNetManifest(dirs.get('rgb')!)).toMatchObject({ kind: 'sparsectrl', condition: 'latents', conditioningChannels: 4, maxFrames: 32 });
    expect(await readControlNetManifest(dirs.get('scribble')!)).toMatchObject({ kind: 'sparsectrl', condition: 'pixels', conditioningChannels: 3 });
  });

  it('rejects bad options by name, before any work', async () => {
    const c = ref.cases['rgb_frames_0_7']!;
    const two = keyframeImages(2, ref.height, ref.width);
    const cn = await loadControlNet(await exportedControlNet(3), { device: pipe.device });
    try {
      const bad: [Partial<ControlNetOptions>, RegExp][] = [
        [{ model: nets.get('rgb')!, images: two }, /controlnet\.frameIndices: expected the frame of each of the 2 images/],
        [{ model: nets.get('rgb')!, images: two, frameIndices: [0, 8] }, /frameIndices: expected frame numbers 0\.\.7/],
        [{ model: nets.get('rgb')!, images: two, frameIndices: [3, 3] }, /distinct/],
        [{ model: nets.get('rgb')!, images: two, frameIndices: [1] }, /one frame number per image/],
        [{ model: nets.get('rgb')!, frames: two, images: two, frameIndices: [0, 1] }, /controlnet\.frames: expected to be left out/],
        [{ model: cn, images: two, frameIndices: [0, 7] }, /controlnet\.model: expected a SparseCtrl for images \+ frameIndices/],
        [{ model: nets.get('rgb')!, frames: { frames: new Uint8Array(8 * 64 * 64 * 3), shape: [8, 64, 64, 3] } }, /controlnet\.model: expected a ControlNet for per-frame frames/],
        [{ model: dirs.get('rgb')!, frames: { frames: new Uint8Array(8 * 64 * 64 * 3), shape: [8, 64, 64, 3] } }, /controlnet\.model: expected a ControlNet/],
      ];
      for (const [o, re] of bad) await expect(generateAsReference(pipe, ref, c, { controlnet: o as ControlNetOptions })).rejects.toThrow(re);
      // diffusers' SparseCtrl pipeline has no FreeNoise (the SparseCtrl's motion modules would see every frame)
      await expect(generateAsReference(pipe, ref, c, { controlnet: control(c), freeNoise: { contextLength: 4, contextStride: 2 } })).rejects.toThrow(/^freeNoise: expected to be left out with a SparseCtrl \(controlnet\)/);
    } finally {
      cn.dispose();
    }
  });
});
