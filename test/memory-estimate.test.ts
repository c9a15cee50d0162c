// Sizes are checked against memory before anything loads: a render whose estimated peak exceeds the
// free host RAM (or --max-memory) is refused with what to change.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readModelManifest, type ModelManifest } from '../lib/model-manifest';
import { checkInputs, type GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { estimateRenderMemory, MemoryLimitError, parseBytes, readArchitecture, type ModelArchitecture } from '../lib/pipelines/memory-estimate';
import { render } from '../lib/render/render';
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
    // below the attention slice cap (2^28 scores), the UNet part scales with the frames per call
    const small = estimate({ width: 128, height: 128, numFrames: 32 });
    expect(estimate({ width: 128, height: 128, numFrames: 32, contextLength: 8, contextOverlap: 2 }).unet / small.unet).toBeCloseTo(0.5, 6);
    expect(estimate({ width: 128, height: 128, numFrames: 32, guidanceScale: 1 }).unet / small.unet).toBeCloseTo(0.5, 6);
    const wide = estimate({ width: 256, height: 128, numFrames: 32 });
    expect(wide.unet).toBeGreaterThan(small.unet * 1.9);
    expect(wide.vae).toBeGreaterThan(small.vae * 1.9);
  });
});
