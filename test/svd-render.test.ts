// `animatorch render --image` with a Stable Video Diffusion model: the image read, one file per seed with an
// SVD recipe, re-rendering from that recipe, the CLI flags, and errors in the user's own terms.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { render } from '../lib/render/render';
import { readImage } from '../lib/video/read-image';
import { repoRoot } from './utils/fixtures';
import { exportedSvdModel } from './utils/svd-model';

const run = promisify(execFile);
const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
let model: string;
let out: string;
let png: string;
let pixels: Uint8Array;

beforeAll(async () => {
  model = await exportedSvdModel(0);
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-svd-render-'));
  pixels = new Uint8Array(48 * 64 * 3).map((_, i) => (i * 37) % 251);
  png = path.join(out, 'in.png');
  await sharp(Buffer.from(pixels), { raw: { width: 64, height: 48, channels: 3 } }).png().toFile(png);
}, 180_000);

const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();

describe('render --image (Stable Video Diffusion)', () => {
  it('reads PNG pixels exactly, and resizes to --width/--height', async () => {
    const img = await readImage(png);
    expect(img.shape).toEqual([48, 64, 3]);
    expect(Buffer.from(img.data).equals(Buffer.from(pixels))).toBe(true);
    expect((await readImage(png, { size: [32, 40] })).shape).toEqual([32, 40, 3]);
    await expect(readImage(path.join(out, 'none.png'), { name: '--image' })).rejects.toThrow(/--image: expected an image file/);
  });

  it('writes one GIF per seed with an SVD recipe, and re-renders it from the recipe', async () => {
    const done = await render({ model, image: png, frames: 3, steps: 2, seed: ['5', '6'], motionBucketId: 40, out: path.join(out, 'v.gif') }, quiet);
    expect(done.map((d) => path.basename(d.file))).toEqual(['v-0-5.gif', 'v-1-6.gif']);
    const recipe = JSON.parse(readFileSync(`${done[0]!.file}.json`, 'utf8'));
    expect(recipe).toMatchObject({ seed: '5', steps: 2, frames: 3, width: 64, height: 48, fps: 7, guidanceScale: 3, scheduler: { className: 'EulerDiscreteScheduler' } });
    expect(recipe.extra).toMatchObject({ family: 'svd', image: png, motionBucketId: 40, noiseAugStrength: 0.02, minGuidanceScale: 1 });
    expect(recipe.extra.imageSha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await sharp(done[0]!.file, { pages: -1 }).metadata()).pages).toBe(3);

    const again = await render({ recipe: `${done[1]!.file}.json`, out: path.join(out, 'again.gif') }, quiet);
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(done[1]!.file))).toBe(true);
    expect((await gifPixels(done[0]!.file)).equals(await gifPixels(done[1]!.file))).toBe(false);
  }, 180_000);

  it('names what is wrong', async () => {
    await expect(render({ model, prompt: 'a cat', out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--prompt\/--config: expected nothing with a Stable Video Diffusion model/);
    await expect(render({ model, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--image: expected the image to animate/);
    await expect(render({ model, image: png, width: 64, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--height: expected given together/);
    await expect(render({ model, image: png, width: 60, height: 48, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/width: expected a multiple of 8/);
  });

  it('the CLI: render --model --image --frames --fps --motion-bucket-id --out', async () => {
    const file = path.join(out, 'cli.gif');
    const { stderr } = await run(process.execPath, [
      path.join(repoRoot, 'bin', 'animatorch.js'), 'render', '--model', model, '--image', png, '--frames', '2', '--fps', '7', '--motion-bucket-id', '127',
      '--steps', '1', '--seed', '3', '--device', 'cpu', '--out', file,
    ]);
    expect(stderr).toContain(`wrote ${file} (2 frames, 64x48, seed 3)`);
    expect(JSON.parse(readFileSync(`${file}.json`, 'utf8')).extra).toMatchObject({ family: 'svd', motionBucketId: 127 });
  }, 180_000);
});
