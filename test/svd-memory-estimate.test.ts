// Stable Video Diffusion renders are checked against memory before anything loads, as AnimateDiff's are:
// the estimate's byte counts by hand on the tiny SVD model, and real refusals through render() and the CLI.
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { readModelManifest, type ModelManifest } from '../lib/model-manifest';
import { MemoryLimitError } from '../lib/pipelines/memory-estimate';
import { checkSvdInputs, type SvdGenerateOptions } from '../lib/pipelines/svd-inputs';
import { estimateSvdRenderMemory, readSvdArchitecture, type SvdArchitecture } from '../lib/pipelines/svd-memory-estimate';
import { readSvdSettings } from '../lib/pipelines/svd-settings';
import { render } from '../lib/render/render';
import { repoRoot } from './utils/fixtures';
import { exportedSvdModel } from './utils/svd-model';

const run = promisify(execFile);
let model: string;
let manifest: ModelManifest;
let arch: SvdArchitecture;
let out: string;
let png: string;
const logged: string[] = [];
const io = { log: { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream };

/** The estimate of generate() with these options on a 64x64 image (checkSvdInputs resolves the defaults). */
const estimate = (o: Partial<SvdGenerateOptions> = {}) => {
  const settings = readSvdSettings(manifest);
  const image = { data: new Uint8Array(64 * 64 * 3), shape: [64, 64, 3] };
  const ctx = { manifest, numFrames: settings.numFrames, imageEmbedDim: settings.projectionDim, vaeScaleFactor: 8 };
  return estimateSvdRenderMemory(manifest, arch, checkSvdInputs(ctx, { image, seed: 1, ...o }), 'float32');
};

beforeAll(async () => {
  model = await exportedSvdModel(0);
  manifest = await readModelManifest(model);
  arch = await readSvdArchitecture(manifest);
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-svd-memory-'));
  png = path.join(out, 'in.png');
  const pixels = new Uint8Array(48 * 64 * 3).map((_, i) => (i * 37) % 251);
  await sharp(Buffer.from(pixels), { raw: { width: 64, height: 48, channels: 3 } }).png().toFile(png);
}, 180_000);

describe('SVD memory estimate', () => {
  it('reads the architecture from the exported configs and the four module files', () => {
    const files = ['unet/model.pt', 'vae/decoder.pt', 'vae/encoder.pt', 'image_encoder/model.pt'].map((f) => statSync(path.join(model, f)).size);
    // tiny: UNet (32, 64) with a CrossAttn level 0 and the mid block's transformer at level 1, heads (2, 4)
    expect(arch).toEqual({
      unet: { blockOutChannels: [32, 64], attentionLevels: [0, 1], heads: [2, 4], layersPerBlock: 1 },
      vae: { blockOutChannels: [32, 32, 64, 64] },
      weightBytes: files.reduce((a, b) => a + b, 0),
    });
  });

  it('counts the bytes of a 64x64 render of 4 frames, CFG on, decoded 2 frames at a time', () => {
    const e = estimate({ numFrames: 4, decodeChunkSize: 2 });
    expect(e.weights).toBe(arch.weightBytes);
    // [1, 4, 4, 8, 8] float32 = 4096 B: latents, guided prediction, scheduler output + per CFG row (2) the image
    // latents, the 8-channel UNet input and its output; the image, its noise and the noised image [1, 3, 64, 64]
    expect(e.latents).toBe(4096 * (3 + 2 * 4) + 3 * 3 * 64 * 64 * 4);
    // 8 rows (CFG x 4 frames). Level 0: 32 ch x 64 tokens, 2 x 2 skips + 12 working maps; level 1: 64 ch x 16 tokens
    const map0 = 8 * 32 * 64 * 4;
    const map1 = 8 * 64 * 16 * 4;
    const conv = 16 * map0 + 16 * map1;
    // level 0's transformer: spatial scores of 8 rows x 2 heads of 64 x 64 (12 B each: scores, float32 softmax, cast)
    // beat the temporal ones (2 x 64 tokens x 2 heads of 4 x 4); + q, k, v, output; + 4 held maps
    const spatial = 8 * 2 * 64 * 64 * 12;
    expect(spatial).toBeGreaterThan(2 * 64 * 2 * 4 * 4 * 12);
    expect(spatial + 4 * map0).toBeGreaterThan(12 * map0); // attention beats the feed-forward here
    expect(e.unet).toBe(conv + spatial + 4 * map0 + 4 * map0);
    // the decoder's largest level: 2 frames x 32 ch at 64 x 64, 12 maps; its mid attention: 2 frames of 64 x 64 scores
    expect(e.vae).toBe(2 * 32 * 64 * 64 * 4 * 12 + 2 * 64 * 64 * 12);
    // uint8 frames [4, 64, 64, 3] and one decoded float chunk [2, 3, 64, 64]
    expect(e.frames).toBe(4 * 64 * 64 * 3 + 2 * 3 * 64 * 64 * 4);
    expect(e.total).toBe(e.weights + e.latents + Math.max(e.unet, e.vae) + e.frames);
  });

  it('follows what each option changes: CFG and frames the UNet part, the decode chunk the VAE part', () => {
    const base = estimate({ numFrames: 8 });
    // the UNet's default frame count (4 for the tiny model), all of them in one decode
    expect(estimate().vae).toBe(estimate({ numFrames: 4, decodeChunkSize: 4 }).vae);
    expect(estimate({ numFrames: 8, maxGuidanceScale: 1 }).unet / base.unet).toBeCloseTo(0.5, 6);
    expect(estimate({ numFrames: 16 }).unet).toBeGreaterThan(1.9 * base.unet);
    expect(estimate({ numFrames: 8, decodeChunkSize: 2 }).vae).toBeLessThan(base.vae / 3.9);
    expect(estimate({ numFrames: 8, decodeChunkSize: 2 }).unet).toBe(base.unet);
  });

  it('refuses a render over --max-memory before loading, naming what to change', async () => {
    logged.length = 0;
    const small = { model, image: png, frames: 4, steps: 1, seed: ['1'] };
    const err = await render({ ...small, maxMemory: '1MB', out: path.join(out, 'a.gif') }, io).catch((e) => e);
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.message).toMatch(
      /^seed 1: a 64x48 render of 4 frames needs about [\d.]+ MB at its peak \(weights [\d.]+ MB, one UNet call [\d.]+ [KM]B, one VAE decode [\d.]+ MB\), more than the 1\.00 MB that --max-memory allows\. /,
    );
    expect(err.message).toContain('Try a smaller --decode-chunk-size (now 4), or fewer --frames (now 4), or a smaller --width/--height (now 64x48; the image is resized); --max-memory SIZE overrides this check.');
    expect(err.estimate).toEqual(estimateSvdRenderMemory(manifest, arch, { width: 64, height: 48, numFrames: 4, decodeChunkSize: 4, doCfg: true }, 'float32'));
    expect(err.limit).toBe(1e6);
    expect(logged.join('')).not.toMatch(/loading/);
    await expect(render({ ...small, maxMemory: 'lots', out: path.join(out, 'a.gif') }, io)).rejects.toThrow(/^--max-memory: expected a size such as 8GB/);
    const [done] = await render({ ...small, frames: 2, maxMemory: '64GiB', out: path.join(out, 'a.gif') }, io);
    expect(done!.recipe.frames).toBe(2);
  }, 180_000);

  it('refuses a size that does not fit in the free memory before resizing the image', async () => {
    logged.length = 0;
    const err = await render({ model, image: png, width: 100000, height: 512, steps: 1, seed: ['2'], out: path.join(out, 'wide.gif') }, io).catch((e) => e);
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.message).toMatch(/^seed 2: a 100000x512 render of 4 frames needs about [\d.]+ [GT]B at its peak .*, more than the [\d.]+ [GM]B of free host RAM\. /);
    expect(err.limit).toBeLessThanOrEqual(os.totalmem());
    expect(logged.join('')).not.toMatch(/loading/);
  });

  it('the CLI: render --max-memory exits with the refusal', async () => {
    const file = path.join(out, 'cli.gif');
    const args = [path.join(repoRoot, 'bin', 'animatorch.js'), 'render', '--model', model, '--image', png, '--frames', '3', '--decode-chunk-size', '1', '--max-memory', '2MB', '--device', 'cpu', '--out', file];
    const err = await run(process.execPath, args).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/^animatorch: seed \d+: a 64x48 render of 3 frames needs about [\d.]+ MB .*more than the 2\.00 MB that --max-memory allows\. Try fewer --frames \(now 3\), or a smaller --width\/--height/m);
    expect(err.stderr).not.toMatch(/loading/);
  }, 60_000);
});
