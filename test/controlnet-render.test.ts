// animatorch render --controlnet: the spec, inputs from a folder of images / a video / one image (resized,
// optionally Canny), the recipe's sha256 of them, and a recipe re-render giving the same frames.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../lib/errors';
import { loadControlInput, parseControlNetSpec } from '../lib/render/controlnet-input';
import { render } from '../lib/render/render';
import { cannyFrames } from '../lib/video/control-preprocess';
import { exportedControlNet, exportedSparseCtrl } from './utils/controlnet-fixture';
import { exportedModel } from './utils/fixtures';

const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
let tmp: string;
let model: string;
let controlnet: string;
let sparsectrl: string;

/** A 40x24 RGB frame: a bright square at x = 4 + 6k on a dark ground. */
function frame(k: number): Buffer {
  const px = Buffer.alloc(40 * 24 * 3, 20);
  for (let y = 6; y < 16; y++) for (let x = 4 + 6 * k; x < 14 + 6 * k; x++) px.fill(230, 3 * (y * 40 + x), 3 * (y * 40 + x) + 3);
  return px;
}

/** A prompt config (in tmp/dir) rendering "a square" at 64x64, 4 frames, with one `controlnet` entry. */
function squareConfig(dir: string, controlnetEntry: string): string {
  mkdirSync(path.join(tmp, dir), { recursive: true });
  const config = path.join(tmp, dir, 'prompts.yaml');
  const lines = ['Square:', `  model: ${JSON.stringify(model)}`, '  prompt: ["a square"]', '  seed: 3', '  steps: 2', '  L: 4', '  W: 64', '  H: 64', '  controlnet:', `    - ${controlnetEntry}`, ''];
  writeFileSync(config, lines.join('\n'));
  return config;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-cn-render-'));
  mkdirSync(path.join(tmp, 'frames'));
  for (let k = 0; k < 5; k++) await sharp(frame(k), { raw: { width: 40, height: 24, channels: 3 } }).png().toFile(path.join(tmp, 'frames', `f${k}.png`));
  model = await exportedModel('tiny-v2', 0, ['--numerics', 'diffusers']);
  controlnet = await exportedControlNet(3);
  sparsectrl = await exportedSparseCtrl('rgb', 5);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('--controlnet', () => {
  it('parses specs, keeping commas inside values and naming bad keys', () => {
    expect(parseControlNetSpec('path=a,input=b,scale=0.5,start=0.1,end=0.9,guess,preprocess=canny,low=50,high=150')).toEqual({
      path: 'a', input: 'b', scale: 0.5, start: 0.1, end: 0.9, guess: true, preprocess: 'canny', low: 50, high: 150,
    });
    expect(() => parseControlNetSpec('path=a')).toThrow(/--controlnet input/);
    expect(() => parseControlNetSpec('path=a,input=b,scael=1')).toThrow(/--controlnet scael: expected one of the keys/);
    // SparseCtrl keyframes: bare numbers after frames= continue its list
    expect(parseControlNetSpec('path=a,input=b.png;c.png,frames=0,8,scale=0.7,seed=5')).toEqual({ path: 'a', input: 'b.png;c.png', frames: [0, 8], scale: 0.7, seed: '5' });
    // 64-bit keyframe seeds are kept exact (never through a JS number)
    expect(parseControlNetSpec('path=a,input=b.png,seed=18446744073709551615').seed).toBe('18446744073709551615');
    expect(() => parseControlNetSpec('path=a,input=b,seed=18446744073709551616')).toThrow(/--controlnet seed/);
    expect(() => parseControlNetSpec('path=a,input=b,frames=0,x')).toThrow(/--controlnet frames: expected keyframe numbers/);
    expect(() => parseControlNetSpec('path=a,input=b,seed=-1')).toThrow(/--controlnet seed/);
    expect(() => parseControlNetSpec('path=a,input=b,scale=x')).toThrow(InvalidParameterError);
  });

  it('reads a folder of images (sorted, the first numFrames), one image for every frame, and a video; resizes; hashes what it read', async () => {
    const r = { numFrames: 4, width: 40, height: 24 };
    const dir = await loadControlInput({ path: 'x', input: path.join(tmp, 'frames') }, r);
    expect(dir.shape).toEqual([4, 24, 40, 3]);
    expect(Buffer.from(dir.frames.subarray(3 * 40 * 24, 6 * 40 * 24))).toEqual(frame(1));
    const one = await loadControlInput({ path: 'x', input: path.join(tmp, 'frames', 'f2.png') }, { ...r, numFrames: 2 });
    expect(Buffer.from(one.frames.subarray(40 * 24 * 3))).toEqual(frame(2));
    const canny = await loadControlInput({ path: 'x', input: path.join(tmp, 'frames'), preprocess: 'canny' }, r);
    expect(canny.frames).toEqual(cannyFrames(dir.frames, dir.shape));
    expect(canny.sha256).toBe(dir.sha256);
    const small = await loadControlInput({ path: 'x', input: path.join(tmp, 'frames') }, { numFrames: 2, width: 20, height: 12 });
    expect(small.shape).toEqual([2, 12, 20, 3]);
    await expect(loadControlInput({ path: 'x', input: path.join(tmp, 'frames') }, { ...r, numFrames: 9 })).rejects.toThrow(/at least 9 images/);
    // a video, through ffmpeg
    const gif = path.join(tmp, 'clip.gif');
    await sharp(Buffer.concat([0, 1, 2, 3].map(frame)), { raw: { width: 40, height: 24 * 4, channels: 3, pageHeight: 24 } }).gif().toFile(gif);
    const video = await loadControlInput({ path: 'x', input: gif }, { numFrames: 3, width: 40, height: 24 });
    expect(video.shape).toEqual([3, 24, 40, 3]);
    expect(video.frames.some((v) => v > 200)).toBe(true);
  });

  it('renders with a ControlNet, records its input by sha256, and re-renders the recipe to the same frames', async () => {
    const out = path.join(tmp, 'cn.gif');
    const spec = `path=${controlnet},input=${path.join(tmp, 'frames')},scale=0.8,preprocess=canny`;
    const args = { model, prompt: 'a square', seed: ['3'], steps: 2, frames: 4, width: 64, height: 64 };
    const [done] = await render({ ...args, controlnet: [spec], out }, quiet);
    const extra = JSON.parse(readFileSync(`${out}.json`, 'utf8')).extra as { controlnet: { sha256: string; scale: number; preprocess: string }[] };
    expect(extra.controlnet).toHaveLength(1);
    expect(extra.controlnet[0]).toMatchObject({ scale: 0.8, preprocess: 'canny' });
    expect(extra.controlnet[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const [plain] = await render({ ...args, out: path.join(tmp, 'plain.gif') }, quiet);
    const pixels = (f: string) => sharp(f, { pages: -1 }).raw().toBuffer();
    expect(await pixels(done!.file)).not.toEqual(await pixels(plain!.file));
    const logged: string[] = [];
    const [again] = await render({ recipe: `${out}.json`, out: path.join(tmp, 'again.gif') }, { log: { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream });
    expect(await pixels(again!.file)).toEqual(await pixels(done!.file));
    expect(logged.join('')).not.toMatch(/ControlNet input/);
    // a changed input is warned about
    writeFileSync(path.join(tmp, 'frames', 'f0.png'), await sharp(frame(4), { raw: { width: 40, height: 24, channels: 3 } }).png().toBuffer());
    await render({ recipe: `${out}.json`, out: path.join(tmp, 'changed.gif') }, { log: { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream });
    expect(logged.join('')).toMatch(/ControlNet input .* has sha256 .*the recipe's was/);
  });

  it('prompt configs take `controlnet` (spec strings or mappings; paths resolved as its other paths), and name a bad key', async () => {
    const config = squareConfig('cfg', `{path: ${JSON.stringify(controlnet)}, input: ${JSON.stringify(path.join(tmp, 'frames'))}, scale: 0.5, guess: true}`);
    const [done] = await render({ config, out: path.join(tmp, 'cfg-out') }, quiet);
    const extra = JSON.parse(readFileSync(`${done!.file}.json`, 'utf8')).extra as { controlnet: { path: string; input: string; scale: number; guess: boolean }[] };
    expect(extra.controlnet[0]).toMatchObject({ path: controlnet, input: path.join(tmp, 'frames'), scale: 0.5, guess: true });
    writeFileSync(config, readFileSync(config, 'utf8').replace('scale: 0.5', 'scael: 0.5'));
    await expect(render({ config, out: path.join(tmp, 'cfg-out2') }, quiet)).rejects.toThrow(/controlnet\[0\] scael/);
  });

  it('names the flag in errors (a bad scale range, a missing input)', async () => {
    const args = { model, prompt: 'a square', seed: ['3'], steps: 2, frames: 4, width: 64, height: 64, out: path.join(tmp, 'bad.gif') };
    await expect(render({ ...args, controlnet: [`path=${controlnet},input=${path.join(tmp, 'frames')},start=0.9,end=0.2`] }, quiet)).rejects.toThrow(/--controlnet\[0\]\.guidanceStart|--controlnet\.guidanceStart/);
    await expect(render({ ...args, controlnet: [`path=${controlnet},input=${path.join(tmp, 'nope')}`] }, quiet)).rejects.toThrow(/--controlnet\.input: expected a folder of images/);
  });

  it('SparseCtrl: keyframes from a;b or a folder on frames=, recorded by sha256 with the frames; a recipe renders the same again', async () => {
    const f = (k: number) => path.join(tmp, 'frames', `f${k}.png`);
    const args = { model, prompt: 'a square', seed: ['3'], steps: 2, frames: 4, width: 64, height: 64 };
    const out = path.join(tmp, 'sc.gif');
    const [done] = await render({ ...args, controlnet: [`path=${sparsectrl},input=${f(1)};${f(3)},frames=0,3,scale=0.9`], out }, quiet);
    const extra = JSON.parse(readFileSync(`${out}.json`, 'utf8')).extra as { controlnet: { input: string; frames: number[]; scale: number; sha256: string }[] };
    expect(extra.controlnet[0]).toMatchObject({ input: `${f(1)};${f(3)}`, frames: [0, 3], scale: 0.9 });
    expect(extra.controlnet[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const pixels = (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();
    const [plain] = await render({ ...args, out: path.join(tmp, 'sc-plain.gif') }, quiet);
    expect(await pixels(done!.file)).not.toEqual(await pixels(plain!.file));
    const [again] = await render({ recipe: `${out}.json`, out: path.join(tmp, 'sc-again.gif') }, quiet);
    expect(await pixels(again!.file)).toEqual(await pixels(done!.file));
    // another keyframe seed (the RGB VAE sample) renders differently; a folder gives its first images by name
    const [seeded] = await render({ ...args, controlnet: [`path=${sparsectrl},input=${f(1)};${f(3)},frames=0,3,scale=0.9,seed=11`], out: path.join(tmp, 'sc-seed.gif') }, quiet);
    expect(await pixels(seeded!.file)).not.toEqual(await pixels(done!.file));
    const [dir] = await render({ ...args, controlnet: [`path=${sparsectrl},input=${path.join(tmp, 'frames')},frames=2`], out: path.join(tmp, 'sc-dir.gif') }, quiet);
    const rec = JSON.parse(readFileSync(`${dir!.file}.json`, 'utf8')).extra.controlnet[0];
    expect(rec).toMatchObject({ frames: [2], input: path.join(tmp, 'frames') });
  });

  it('SparseCtrl errors name the flag: image count, frames on a ControlNet, a frame past the end', async () => {
    const f = (k: number) => path.join(tmp, 'frames', `f${k}.png`);
    const args = { model, prompt: 'a square', seed: ['3'], steps: 2, frames: 4, width: 64, height: 64, out: path.join(tmp, 'bad-sc.gif') };
    await expect(render({ ...args, controlnet: [`path=${sparsectrl},input=${f(1)},frames=0,3`] }, quiet)).rejects.toThrow(/--controlnet\.input: expected one image per keyframe \(2: frames=0,3\)/);
    await expect(render({ ...args, controlnet: [`path=${controlnet},input=${f(1)},frames=0`] }, quiet)).rejects.toThrow(/--controlnet\.frames: expected to be left out: .* is a ControlNet/);
    await expect(render({ ...args, controlnet: [`path=${sparsectrl},input=${f(1)},frames=4`] }, quiet)).rejects.toThrow(/frameIndices: expected frame numbers 0\.\.3/);
  });

  it('prompt configs take a SparseCtrl as a mapping with lists (input: [a, b], frames: [0, 3])', async () => {
    const keyframes = [1, 3].map((k) => JSON.stringify(path.join(tmp, 'frames', `f${k}.png`)));
    const config = squareConfig('cfg-sc', `{path: ${JSON.stringify(sparsectrl)}, input: [${keyframes.join(', ')}], frames: [0, 3]}`);
    const [done] = await render({ config, out: path.join(tmp, 'cfg-sc-out') }, quiet);
    const extra = JSON.parse(readFileSync(`${done!.file}.json`, 'utf8')).extra as { controlnet: { input: string; frames: number[] }[] };
    expect(extra.controlnet[0]).toMatchObject({ input: `${path.join(tmp, 'frames', 'f1.png')};${path.join(tmp, 'frames', 'f3.png')}`, frames: [0, 3] });
  });
});
