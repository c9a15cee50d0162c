// Init media reading (lib/video/read-frames.ts): GIF / WebP / PNG by sharp, MP4 by the real ffmpeg, folders
// of frames; resized to cover and centre-cropped, sampled evenly; errors naming the option.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../lib/errors';
import { readInitImage, readInitVideo, sampleFrameIndices } from '../lib/video/read-frames';
import { writeVideo } from '../lib/video/writers';

let dir: string;
const N = 8;
/** Frame k of the source clip: a solid grey level 20 + 25k, with a 16-px white bar on the left and a black one on the right. */
function sourceClip(w: number, h: number): Uint8Array {
  const out = new Uint8Array(N * h * w * 3);
  let i = 0;
  for (let k = 0; k < N; k++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[i++] = x < 16 ? 255 : x >= w - 16 ? 0 : 20 + 25 * k;
  return out;
}
const o = { width: 32, height: 32, name: '--init-video' };
/** The centre pixel's grey level of each frame. */
const centres = (frames: Uint8Array, f: number, w = 32, h = 32) => Array.from({ length: f }, (_, k) => frames[((k * h + h / 2) * w + w / 2) * 3]!);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-read-frames-'));
  // 96x32 frames: covering 32x32 scales by 1 and crops the centre, dropping both bars.
  const clip = sourceClip(96, 32);
  await writeVideo(clip, [N, 32, 96, 3], 8, path.join(dir, 'clip.gif'));
  await writeVideo(clip, [N, 32, 96, 3], 8, path.join(dir, 'clip.webp'));
  await writeVideo(clip, [N, 32, 96, 3], 8, path.join(dir, 'clip.mp4'));
  mkdirSync(path.join(dir, 'frames'));
  for (let k = 0; k < N; k++) {
    const frame = clip.subarray(k * 32 * 96 * 3, (k + 1) * 32 * 96 * 3);
    await sharp(frame, { raw: { width: 96, height: 32, channels: 3 } }).png().toFile(path.join(dir, 'frames', `frame${5 * k}.png`)); // as text, frame10 would sort before frame5
  }
  writeFileSync(path.join(dir, 'frames', 'notes.txt'), 'not a frame');
  writeFileSync(path.join(dir, 'broken.gif'), 'GIF89a but not really');
});

describe('readInitVideo / readInitImage', () => {
  it('samples evenly from the first frame', () => {
    expect(sampleFrameIndices(8, 4)).toEqual([0, 2, 4, 6]);
    expect(sampleFrameIndices(8, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(sampleFrameIndices(10, 3)).toEqual([0, 3, 6]);
  });

  for (const [name, file, tol] of [
    ['animated GIF (sharp)', 'clip.gif', 2],
    ['animated WebP (sharp)', 'clip.webp', 2],
    ['MP4 (ffmpeg)', 'clip.mp4', 6],
    ['folder of PNG frames, in natural order', 'frames', 0],
  ] as const) {
    it(`reads a ${name}: centre-cropped to 32x32, 4 of 8 frames`, async () => {
      const v = await readInitVideo(path.join(dir, file), 4, o);
      expect(v.shape).toEqual([4, 32, 32, 3]);
      expect(v.sourceFrames).toBe(N);
      expect(v.frames.length).toBe(4 * 32 * 32 * 3);
      const want = [0, 2, 4, 6].map((k) => 20 + 25 * k);
      centres(v.frames, 4).forEach((c, i) => expect(Math.abs(c - want[i]!), `frame ${i}`).toBeLessThanOrEqual(tol));
      // The bars are cropped away: the first and last columns are the frame's grey too.
      for (const x of [0, 31]) expect(Math.abs(v.frames[(16 * 32 + x) * 3]! - 20)).toBeLessThanOrEqual(tol + 4);
      if (file !== 'frames') expect(v.sha256).toBe(createHash('sha256').update(await import('node:fs').then((fs) => fs.readFileSync(path.join(dir, file)))).digest('hex'));
      else expect(v.sha256).toMatch(/^[0-9a-f]{64}$/);
    });
  }

  it('resizes to cover: a 96x32 frame into 16x16 keeps the centre 48x32 region scaled by 1/2', async () => {
    const v = await readInitVideo(path.join(dir, 'clip.gif'), 1, { ...o, width: 16, height: 16 });
    expect(v.shape).toEqual([1, 16, 16, 3]);
    expect(Math.abs(v.frames[(8 * 16 + 8) * 3]! - 20)).toBeLessThanOrEqual(2);
  });

  it('reads a still at the size asked (the first frame of an animation)', async () => {
    const img = await readInitImage(path.join(dir, 'frames', 'frame10.png'), { ...o, name: '--init-image' });
    expect(img.shape).toEqual([32, 32, 3]);
    expect(img.data[(16 * 32 + 16) * 3]).toBe(70);
    const first = await readInitImage(path.join(dir, 'clip.gif'), { ...o, name: '--init-image' });
    expect(Math.abs(first.data[(16 * 32 + 16) * 3]! - 20)).toBeLessThanOrEqual(2);
  });

  it('fails clearly, naming the option: too few frames, unreadable or missing files, a folder as an image', async () => {
    const fails = async (p: Promise<unknown>, re: RegExp) => {
      const e = (await p.catch((x: unknown) => x)) as Error;
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect(e.message).toMatch(re);
    };
    await fails(readInitVideo(path.join(dir, 'clip.gif'), 9, o), /^--init-video: expected at least 9 frames .*, got "8 frames in .*clip\.gif"/);
    await fails(readInitVideo(path.join(dir, 'clip.mp4'), 9, o), /^--init-video: expected at least 9 frames .*, got "8 frames in .*clip\.mp4"/);
    await fails(readInitVideo(path.join(dir, 'frames'), 9, o), /^--init-video: expected at least 9 frames .*, got "8 frames in /);
    await fails(readInitVideo(path.join(dir, 'broken.gif'), 1, o), /^--init-video: expected a readable GIF, WebP, PNG or JPEG image.*broken\.gif \(/);
    await fails(readInitVideo(path.join(dir, 'missing.mp4'), 1, o), /^--init-video: expected .*missing\.mp4 \(no such file or folder\)/);
    writeFileSync(path.join(dir, 'broken.mp4'), 'not a video');
    await fails(readInitVideo(path.join(dir, 'broken.mp4'), 1, o), /^--init-video: expected .*broken\.mp4 \(ffmpeg exit code 1: /);
    await fails(readInitVideo(path.join(dir, 'clip.mp4'), 1, { ...o, ffmpeg: path.join(dir, 'no-ffmpeg-here') }), /ffmpeg was not found/);
    await fails(readInitImage(path.join(dir, 'frames'), { ...o, name: '--init-image' }), /^--init-image: expected .*frames \(a folder; give one image file\)/);
    await fails(readInitImage(path.join(dir, 'nope.png'), { ...o, name: '--init-image' }), /^--init-image: expected .*nope\.png \(no such file\)/);
  });
});
