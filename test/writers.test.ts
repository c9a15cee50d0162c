import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { addPngText, crc32, readPngText } from '../lib/video/png-text';
import {
  addGifComment,
  atomicWrite,
  composeGrid,
  FFMPEG_MISSING_MESSAGE,
  readGifComments,
  videoFormatFor,
  writeFileAtomic,
  writeGrid,
  writeVideo,
  xmpToMetadata,
} from '../lib/video/writers';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-writers-'));
afterAll(() => execFileSync('rm', ['-rf', tmp]));

const F = 4;
const H = 24;
const W = 32;

/** Smooth, distinct frames: gradients that shift per frame (palette-friendly for GIF). */
function makeFrames(f = F, h = H, w = W): Uint8Array {
  const out = new Uint8Array(f * h * w * 3);
  for (let k = 0; k < f; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = ((k * h + y) * w + x) * 3;
        out[i] = (x * 8 + k * 40) & 255;
        out[i + 1] = (y * 10) & 255;
        out[i + 2] = k * 60;
      }
  return out;
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/** Decodes every page of an animated image to RGB [F,H,W,3]. */
async function decodeAnimated(file: string): Promise<{ data: Uint8Array; pages: number; delay?: number[]; loop?: number }> {
  const meta = await sharp(file, { animated: true }).metadata();
  const { data } = await sharp(file, { animated: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), pages: meta.pages ?? 1, delay: meta.delay, loop: meta.loop };
}

const recipe = JSON.stringify({ prompt: 'a cat, "quoted" & <tagged>', seed: '10589116295929063558', note: 'ünïcödé ✓' });

describe('png-text', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
  });

  it('inserts tEXt (Latin-1) and iTXt (UTF-8) before IEND; the PNG still decodes', async () => {
    const png = await sharp(Buffer.alloc(4 * 4 * 3, 128), { raw: { width: 4, height: 4, channels: 3 } }).png().toBuffer();
    const withText = addPngText(png, { plain: 'hello', unicode: 'ünï ✓' });
    expect(readPngText(withText)).toEqual({ plain: 'hello', unicode: 'ünï ✓' });
    expect(withText.subarray(-12, -8).readUInt32BE(0)).toBe(0); // IEND still last
    expect(withText.toString('latin1', withText.length - 8, withText.length - 4)).toBe('IEND');
    const { info } = await sharp(withText).raw().toBuffer({ resolveWithObject: true }); // still a valid PNG
    expect([info.width, info.height]).toEqual([4, 4]);
    expect(() => addPngText(png, { '': 'x' })).toThrow(/keyword/);
  });
});

describe('writeVideo', () => {
  const frames = makeFrames();
  const shape = [F, H, W, 3] as const;

  it('picks the format from the path', () => {
    expect(videoFormatFor('a/b.GIF')).toBe('gif');
    expect(videoFormatFor('a/b.webp')).toBe('webp');
    expect(videoFormatFor('a/b.mp4')).toBe('mp4');
    expect(videoFormatFor('a/frames')).toBe('png');
    expect(videoFormatFor('a/frames.d/')).toBe('png');
    expect(() => videoFormatFor('a/b.avi')).toThrow(/\.gif, \.webp or \.mp4/);
  });

  it('rejects frames that do not match the shape', async () => {
    await expect(writeVideo(frames.subarray(1), shape, 8, path.join(tmp, 'bad.gif'))).rejects.toThrow(/bytes for shape/);
    await expect(writeVideo(frames, [F, H, W, 4], 8, path.join(tmp, 'bad.gif'))).rejects.toThrow(/shape/);
    await expect(writeVideo(frames, shape, 0, path.join(tmp, 'bad.gif'))).rejects.toThrow('fps: expected a number in (0, 1000], got 0');
  });

  it('names the output, not its hidden temp file, when the folder takes no files', async () => {
    // sysfs takes no new files, even from root
    const err = await writeVideo(frames, shape, 8, '/sys/animatorch-out.gif').catch((e) => e);
    expect(err.message).toMatch(/^cannot write \/sys\/animatorch-out\.gif: E[A-Z]+$/);
  });

  it('writes an animated GIF: all frames, looping, 1000/fps delays, pixels close, recipe in a comment', async () => {
    const out = path.join(tmp, 'video.gif');
    await writeVideo(frames, shape, 8, out, { metadata: { 'animatorch-recipe': recipe } });
    const d = await decodeAnimated(out);
    expect(d.pages).toBe(F);
    expect(d.loop).toBe(0);
    // 125 ms at 8 fps in centiseconds: 120/130 alternate so the average stays 125
    expect(d.delay!.reduce((a, b) => a + b, 0)).toBe(F * 125);
    expect(meanAbsDiff(d.data, frames)).toBeLessThan(6); // palette quantisation + dither
    const comments = readGifComments(readFileSync(out));
    expect(comments).toEqual([`animatorch-recipe=${recipe}`]);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('GIF comments longer than one sub-block round-trip', async () => {
    const gif = await sharp(Buffer.alloc(2 * 2 * 3), { raw: { width: 2, height: 2, channels: 3 } }).gif().toBuffer();
    const long = 'x'.repeat(1000) + 'é';
    expect(readGifComments(addGifComment(gif, long))).toEqual([long]);
  });

  it('writes an animated lossless WebP with the recipe in XMP', async () => {
    const out = path.join(tmp, 'video.webp');
    await writeVideo(frames, shape, 10, out, { metadata: { 'animatorch-recipe': recipe } });
    const d = await decodeAnimated(out);
    expect(d.pages).toBe(F);
    expect(d.loop).toBe(0);
    expect(d.delay).toEqual([100, 100, 100, 100]);
    expect(meanAbsDiff(d.data, frames)).toBeLessThan(0.5);
    const meta = await sharp(out).metadata();
    expect(xmpToMetadata(meta.xmpAsString ?? meta.xmp!.toString())['animatorch-recipe']).toBe(recipe);
  });

  it('writes a folder of PNG frames with the recipe in a tEXt/iTXt chunk', async () => {
    const out = path.join(tmp, 'frames');
    await writeVideo(frames, shape, 8, out, { metadata: { 'animatorch-recipe': recipe, seed: '10589116295929063558' } });
    const files = readdirSync(out).sort();
    expect(files).toEqual(['frame_0000.png', 'frame_0001.png', 'frame_0002.png', 'frame_0003.png']);
    for (let k = 0; k < F; k++) {
      const buf = readFileSync(path.join(out, files[k]!));
      expect(readPngText(buf)).toEqual({ 'animatorch-recipe': recipe, seed: '10589116295929063558' });
      const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([W, H, 3]);
      expect(Buffer.compare(data, Buffer.from(frames.subarray(k * H * W * 3, (k + 1) * H * W * 3)))).toBe(0); // lossless
    }
    // the seed (Latin-1) is a plain tEXt chunk
    expect(readFileSync(path.join(out, files[0]!)).includes(Buffer.from('tEXtseed\u000010589116295929063558', 'latin1'))).toBe(true);
    // a non-empty folder is not overwritten
    await expect(writeVideo(frames, shape, 8, out)).rejects.toThrow(/not empty/);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('is atomic: a failing write leaves neither the target nor a temp file', async () => {
    const dir = path.join(tmp, 'atomic');
    mkdirSync(dir);
    // an existing output survives a failed overwrite untouched
    writeFileSync(path.join(dir, 'keep.webp'), 'old');
    await expect(writeVideo(frames, shape, 8, path.join(dir, 'keep.webp'), { metadata: { 'not an xml name': 'x' } })).rejects.toThrow(/metadata key/);
    expect(readFileSync(path.join(dir, 'keep.webp'), 'utf8')).toBe('old');
    // the producer fails after writing part of the temp file
    await expect(
      atomicWrite(path.join(dir, 'keep.webp'), async (temp) => {
        writeFileSync(temp, 'partial');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readFileSync(path.join(dir, 'keep.webp'), 'utf8')).toBe('old');
    // aborted before it starts
    const ac = new AbortController();
    ac.abort();
    await expect(writeVideo(frames, shape, 8, path.join(dir, 'aborted.webp'), { signal: ac.signal })).rejects.toThrow(/abort/i);
    // PNG metadata with an invalid keyword fails mid-folder: no folder appears
    await expect(writeVideo(frames, shape, 8, path.join(dir, 'pngs'), { metadata: { '': 'x' } })).rejects.toThrow(/keyword/);
    expect(existsSync(path.join(dir, 'pngs'))).toBe(false);
    // ffmpeg that does not exist: clear message, no file
    await expect(writeVideo(frames, shape, 8, path.join(dir, 'x.mp4'), { ffmpeg: path.join(dir, 'no-such-ffmpeg') })).rejects.toThrow(FFMPEG_MISSING_MESSAGE);
    expect(existsSync(path.join(dir, 'x.mp4'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['keep.webp']);
    await writeFileAtomic(path.join(dir, 'sub', 'a.txt'), 'ok');
    expect(readFileSync(path.join(dir, 'sub', 'a.txt'), 'utf8')).toBe('ok');
  });

  const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
  it.skipIf(!hasFfmpeg && !process.env.CI)('writes an H.264 MP4 via ffmpeg with the recipe as the comment tag (odd sizes padded)', async () => {
    const f = makeFrames(F, 23, 31);
    const out = path.join(tmp, 'video.mp4');
    await writeVideo(f, [F, 23, 31, 3], 8, out, { metadata: { 'animatorch-recipe': recipe } });
    const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,pix_fmt,width,height,nb_frames,r_frame_rate:format_tags=comment', '-of', 'json', out], {
      encoding: 'utf8',
    });
    const info = JSON.parse(probe);
    expect(info.streams[0]).toMatchObject({ codec_name: 'h264', pix_fmt: 'yuv420p', width: 32, height: 24, nb_frames: String(F), r_frame_rate: '8/1' });
    expect(info.format.tags.comment).toBe(`animatorch-recipe=${recipe}`);
    // aborted while ffmpeg runs: AbortError, no file, no temp file
    const ac = new AbortController();
    const big = makeFrames(48, 64, 64);
    const pending = writeVideo(big, [48, 64, 64, 3], 8, path.join(tmp, 'aborted.mp4'), { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(pending).rejects.toThrow(/abort/i);
    expect(readdirSync(tmp).filter((n) => n.includes('aborted'))).toEqual([]);
    // decode back and compare (yuv420p chroma subsampling: loose tolerance)
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', out, '-vf', 'format=rgb24,crop=31:23:0:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 24 });
    expect(raw.length).toBe(f.length);
    expect(meanAbsDiff(new Uint8Array(raw), f)).toBeLessThan(12);
  });
});

describe('writeGrid', () => {
  it('tiles videos like torchvision make_grid (padding 2, black) and writes them', async () => {
    const a = { frames: new Uint8Array(2 * 2 * 3 * 3).fill(100), shape: [2, 2, 3, 3] };
    const b = { frames: new Uint8Array(2 * 2 * 3 * 3).fill(200), shape: [2, 2, 3, 3] };
    const c = { frames: new Uint8Array(2 * 2 * 3 * 3).fill(50), shape: [2, 2, 3, 3] };
    const grid = composeGrid([a, b, c], 2);
    expect(grid.shape).toEqual([2, 2 * (2 + 2) + 2, 2 * (3 + 2) + 2, 3]);
    const [, gh, gw] = grid.shape;
    const px = (f: number, y: number, x: number) => grid.frames[((f * gh + y) * gw + x) * 3];
    expect(px(0, 0, 0)).toBe(0); // border
    expect(px(1, 2, 2)).toBe(100);
    expect(px(1, 2, 7)).toBe(200);
    expect(px(0, 6, 2)).toBe(50);
    expect(px(0, 6, 7)).toBe(0); // empty cell
    expect(() => composeGrid([a, { frames: new Uint8Array(3 * 2 * 3 * 3), shape: [3, 2, 3, 3] }], 2)).toThrow(/videos\[1\]/);
    const out = path.join(tmp, 'grid.gif');
    await writeGrid([a, b, c], 2, out, { padding: 0 });
    const meta = await sharp(out, { animated: true }).metadata();
    expect([meta.width, meta.pageHeight, meta.pages]).toEqual([6, 4, 2]);
  });
});
