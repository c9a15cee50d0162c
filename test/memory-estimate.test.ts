// Sizes are checked against memory before anything loads: a render whose estimated peak exceeds the
// free host RAM (or --max-memory) is refused with what to change.
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readModelManifest, type ModelManifest } from '../lib/model-manifest';
import { checkInputs, type GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import type { ResolvedControlNet } from '../lib/pipelines/controlnet';
import { readControlNetManifest } from '../lib/pipelines/controlnet-model';
import { estimateRenderMemory, MemoryLimitError, parseBytes, readArchitecture, readControlNetSizes, type ModelArchitecture } from '../lib/pipelines/memory-estimate';
import { render } from '../lib/render/render';
import { exportedControlNet, exportedSparseCtrl } from './utils/controlnet-fixture';
import { exportedModel } from './utils/fixtures';

let model: string;
let out: string;
let manifest: ModelManifest;
let arch: ModelArchitecture;
const logged: string[] = [];
const io = { log: { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream };
const estimate = (o: GenerateOptions) =>
  estimateRenderMemory(manifest, arch, checkInputs({ manifest, device: 'cpu', vaeScaleFactor: 8, textEncoder: manifest.textEncoder }, { prompt: 'x', ...o }), 'float32');

beforeAll(async () => {
  model = await exportedModel('tiny-v2', 0);
  manifest = await readModelManifest(model);
  arch = await readArchitecture(manifest);
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-memory-'));
});

describe('memory estimate', () => {
  it('refuses render --width 100000 before loading, with the estimate and what to change', async () => {
    logged.length = 0;
    const err = await render({ model, prompt: 'x', seed: ['1'], width: 100000, height: 512, frames: 16, out: path.join(out, 'wide.gif') }, io).catch((e) => e);
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.message).toMatch(/^seed 1: a 100000x512 render of 16 frames needs about [\d.]+ TB at its peak \(weights [\d.]+ MB, one UNet call [\d.]+ [GT]B, one VAE decode [\d.]+ [GT]B\), more than the [\d.]+ [GM]B of free host RAM\. /);
    expect(err.message).toContain('Try --vae-tiling (decode in tiles), or a smaller --decode-chunk-size (now 16), or a smaller --width/--height (now 100000x512); --max-memory SIZE overrides this check.');
    expect(err.limit).toBeLessThanOrEqual(os.totalmem());
    expect(logged.join('')).not.toMatch(/loading/);
  });

  it('takes --max-memory as the limit instead of the free memory', async () => {
    const small = { model, prompt: 'x', seed: ['1'], steps: 1, frames: 2, width: 64, height: 64 };
    const err = await render({ ...small, maxMemory: '1MB', out: path.join(out, 'a.gif') }, io).catch((e) => e);
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.message).toMatch(/more than the 1\.00 MB that --max-memory allows\. /);
    await expect(render({ ...small, maxMemory: 'lots', out: path.join(out, 'a.gif') }, io)).rejects.toThrow(/^--max-memory: expected a size such as 8GB/);
    const [done] = await render({ ...small, maxMemory: '64GiB', out: path.join(out, 'a.gif') }, io);
    expect(done!.recipe.width).toBe(64);
  });

  it('parses sizes in decimal and binary units', () => {
    expect(parseBytes('8GB')).toBe(8e9);
    expect(parseBytes('512MiB')).toBe(512 * 2 ** 20);
    expect(parseBytes('1.5g')).toBe(1.5e9);
    expect(parseBytes('2000')).toBe(2000);
    expect(() => parseBytes('-1GB')).toThrow(/maxMemory/);
  });

  it('follows what each option changes: tiles and chunks shrink the VAE part, context windows the UNet part', () => {
    const base = estimate({ width: 512, height: 512, numFrames: 32 });
    expect(base.total).toBe(base.weights + base.latents + Math.max(base.unet, base.vae) + base.frames);
    const big = estimate({ width: 1024, height: 1024, numFrames: 32 });
    expect(estimate({ width: 1024, height: 1024, numFrames: 32, vaeTiling: true }).vae).toBeLessThan(big.vae / 2);
    expect(estimate({ width: 512, height: 512, numFrames: 32, decodeChunkSize: 2 }).vae).toBeLessThan(base.vae / 4);
    // below the attention slice (2^24 scores), the UNet part scales with the frames per call
    const small = estimate({ width: 64, height: 64, numFrames: 32 });
    expect(estimate({ width: 64, height: 64, numFrames: 32, contextLength: 8, contextOverlap: 2 }).unet / small.unet).toBeCloseTo(0.5, 6);
    expect(estimate({ width: 64, height: 64, numFrames: 32, guidanceScale: 1 }).unet / small.unet).toBeCloseTo(0.5, 6);
    const wide = estimate({ width: 128, height: 64, numFrames: 32 });
    expect(wide.unet).toBeGreaterThan(small.unet * 1.9);
    expect(wide.vae).toBeGreaterThan(small.vae * 1.9);
  });

  it("counts one attention slice as the export slices it (model.yaml's attention_slice_elements; 2^28 before it)", () => {
    // a fresh export records the math path's slice: 2^24 score elements
    expect(manifest.raw.attention_slice_elements).toBe(2 ** 24);
    expect(manifest.attentionSliceElements).toBe(2 ** 24);
    const at = (attentionSliceElements: number) => {
      const m = { ...manifest, attentionSliceElements };
      return estimateRenderMemory(m, arch, checkInputs({ manifest: m, device: 'cpu', vaeScaleFactor: 8, textEncoder: m.textEncoder }, { prompt: 'x', width: 512, height: 512, numFrames: 16 }), 'float32');
    };
    const [sliced, old] = [at(2 ** 24), at(2 ** 28)];
    // the VAE's attention at 64x64 latents, 16 frames: 16 x 4096^2 scores (2^28) against one 2^24 slice, each
    // element counted as its scores, float32 softmax and cast back (3 x 4 bytes)
    expect(old.vae - sliced.vae).toBe((2 ** 28 - 2 ** 24) * 12);
    expect(sliced.unet).toBeLessThan(old.unet);
  });

  it('counts ControlNets: their weights, conditioning frames and the residuals held through the UNet call', async () => {
    const dir = await exportedControlNet(3);
    const sizes = await readControlNetSizes([{ model: dir } as ResolvedControlNet]);
    expect(sizes).toEqual([{ weightBytes: statSync((await readControlNetManifest(dir)).file).size, residualChannels: [32, 32, 32, 64, 64], condition: 'frames', conditioningChannels: 3, keyframes: 0 }]);
    const inputs = checkInputs({ manifest, device: 'cpu', vaeScaleFactor: 8, textEncoder: manifest.textEncoder }, { prompt: 'x', width: 128, height: 128, numFrames: 8 });
    const plain = estimateRenderMemory(manifest, arch, inputs, 'float32');
    const one = estimateRenderMemory(manifest, arch, inputs, 'float32', sizes);
    expect(one.weights - plain.weights).toBe(sizes[0]!.weightBytes);
    // frames [1, 3, 8, 128, 128] float32 and their CFG batch [2, 3, 8, 128, 128] (one window: no slice)
    expect(one.latents - plain.latents).toBe((8 + 16) * 3 * 128 * 128 * 4);
    // context windows of 4: + the window's slice [1, 3, 4, ...], and the CFG batch is of the window's 4 frames
    const windowed = checkInputs({ manifest, device: 'cpu', vaeScaleFactor: 8, textEncoder: manifest.textEncoder }, { prompt: 'x', width: 128, height: 128, numFrames: 8, contextLength: 4, contextOverlap: 1 });
    expect(estimateRenderMemory(manifest, arch, windowed, 'float32', sizes).latents - estimateRenderMemory(manifest, arch, windowed, 'float32').latents).toBe((8 + 4 + 8) * 3 * 128 * 128 * 4);
    // 16 rows (CFG x 8 frames) of float32: conv_in and one layer at 16x16, the downsampler (32 ch) and one layer
    // (64 ch) at 8x8, the mid block (64 ch) at 8x8
    const residuals = 16 * 4 * (2 * 32 * 256 + 32 * 64 + 64 * 64 + 64 * 64);
    expect(one.unet - plain.unet).toBe(residuals);
    // two ControlNets: two sets of weights, and the sum holds a second set of residuals
    const two = estimateRenderMemory(manifest, arch, inputs, 'float32', [...sizes, ...sizes]);
    expect(two.weights - plain.weights).toBe(2 * sizes[0]!.weightBytes);
    expect(two.unet - plain.unet).toBe(4 * residuals);
    await expect(readControlNetSizes([{ model: path.join(out, 'missing') } as ResolvedControlNet])).rejects.toThrow(/controlnet\.model/);
  });

  it("counts a SparseCtrl's keyframes, condition and mask at the size its kind allocates (RGB: latents, scribble: pixels)", async () => {
    const [rgb, scribble] = await readControlNetSizes([
      { model: await exportedSparseCtrl('rgb', 0), kind: 'sparsectrl', frameIndices: [0, 5] } as ResolvedControlNet,
      { model: await exportedSparseCtrl('scribble', 0), kind: 'sparsectrl', frameIndices: [0, 5] } as ResolvedControlNet,
    ]);
    expect(rgb).toMatchObject({ condition: 'latents', conditioningChannels: 4, keyframes: 2 });
    expect(scribble).toMatchObject({ condition: 'pixels', conditioningChannels: 3, keyframes: 2 });
    const context = { manifest, device: 'cpu' as const, vaeScaleFactor: 8, textEncoder: manifest.textEncoder };
    const whole = checkInputs(context, { prompt: 'x', width: 128, height: 128, numFrames: 8 });
    const windowed = checkInputs(context, { prompt: 'x', width: 128, height: 128, numFrames: 8, contextLength: 4, contextOverlap: 1 });
    const extra = (net: typeof rgb, inputs: typeof whole, dtype: string) =>
      estimateRenderMemory(manifest, arch, inputs, dtype, [net!]).latents - estimateRenderMemory(manifest, arch, inputs, dtype).latents;
    // RGB at 128x128 -> 16x16 latents: the posterior's mean and logvar [2, 4, 16, 16] (pipeline dtype), the
    // condition [1, 4, 8, 16, 16] and mask [1, 1, 8, 16, 16] float32; no CFG copy
    expect(extra(rgb, whole, 'float32')).toBe(2 * 2 * 4 * 256 * 4 + 8 * (4 + 1) * 256 * 4);
    expect(extra(rgb, whole, 'float16')).toBe(2 * 2 * 4 * 256 * 2 + 8 * (4 + 1) * 256 * 4);
    // + the window's slice of condition and mask [1, 4 + 1, 4, 16, 16]
    expect(extra(rgb, windowed, 'float32')).toBe(2 * 2 * 4 * 256 * 4 + (8 + 4) * (4 + 1) * 256 * 4);
    // scribble, in pixels: the keyframes [1, 3, 2, 128, 128], the condition [1, 3, 8, 128, 128] and mask [1, 1, 8, 128, 128] float32
    expect(extra(scribble, whole, 'float32')).toBe(2 * 3 * 128 * 128 * 4 + 8 * (3 + 1) * 128 * 128 * 4);
    expect(extra(scribble, windowed, 'float32')).toBe(2 * 3 * 128 * 128 * 4 + (8 + 4) * (3 + 1) * 128 * 128 * 4);
    // the residuals it hands the UNet are counted as a ControlNet's
    const [cn] = await readControlNetSizes([{ model: await exportedControlNet(3) } as ResolvedControlNet]);
    expect(rgb!.residualChannels).toEqual(cn!.residualChannels);
    expect(estimateRenderMemory(manifest, arch, whole, 'float32', [rgb!]).unet).toBe(estimateRenderMemory(manifest, arch, whole, 'float32', [cn!]).unet);
  });
});
