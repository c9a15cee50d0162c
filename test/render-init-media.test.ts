// `animatorch render --init-video / --init-image --strength` end to end on the tiny random model: the
// recipe records the init media by path and sha256 and re-renders the same frames; a changed file is refused;
// prompt configs take the same keys; every bad combination names its flag.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { render, type RenderArgs } from '../lib/render/render';
import { parsePromptConfig } from '../lib/render/prompt-config';
import { writeVideo } from '../lib/video/writers';
import { exportedModel, repoRoot } from './utils/fixtures';

const run = promisify(execFile);
let model: string;
let dir: string;
const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
const small = { steps: 3, frames: 4, width: 64, height: 64, seed: ['11'] } satisfies Partial<RenderArgs>;
const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();

/** 6 frames of 80x64: a disc moving right on a gradient. */
function clip(): Uint8Array {
  const [f, h, w] = [6, 64, 80];
  const out = new Uint8Array(f * h * w * 3);
  let i = 0;
  for (let k = 0; k < f; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const inside = (x - 15 - 10 * k) ** 2 + (y - 32) ** 2 < 100;
        out[i++] = inside ? 230 : 2 * x;
        out[i++] = inside ? 30 : 3 * y;
        out[i++] = inside ? 40 : 90;
      }
  return out;
}

beforeAll(async () => {
  model = await exportedModel('tiny-v2', 0);
  dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-render-init-'));
  await writeVideo(clip(), [6, 64, 80, 3], 8, path.join(dir, 'in.gif'));
  await writeVideo(clip(), [6, 64, 80, 3], 8, path.join(dir, 'in.mp4'));
  await sharp(Buffer.from(clip().subarray(0, 64 * 80 * 3)), { raw: { width: 80, height: 64, channels: 3 } }).png().toFile(path.join(dir, 'still.png'));
});

describe('render with init media', () => {
  it('--init-video: records path, sha256 and strength; --recipe re-renders the same frames; a changed file is a sha256 mismatch', async () => {
    const input = path.join(dir, 'copy.gif');
    copyFileSync(path.join(dir, 'in.gif'), input);
    const [done] = await render({ ...small, model, prompt: 'a dot', initVideo: input, strength: 0.6, out: path.join(dir, 'v2v.gif') }, quiet);
    const sha = (await import('node:crypto')).createHash('sha256').update(readFileSync(input)).digest('hex');
    expect(done!.recipe.extra).toMatchObject({ initVideo: { path: input, sha256: sha }, strength: 0.6 });
    expect(JSON.parse(readFileSync(`${done!.file}.json`, 'utf8')).extra.initVideo.sha256).toBe(sha);
    // Not text-to-video, nor the same video at another strength.
    const t2v = await render({ ...small, model, prompt: 'a dot', out: path.join(dir, 't2v.gif') }, quiet);
    const other = await render({ ...small, model, prompt: 'a dot', initVideo: input, strength: 1, out: path.join(dir, 's1.gif') }, quiet);
    expect((await gifPixels(t2v[0]!.file)).equals(await gifPixels(done!.file))).toBe(false);
    expect((await gifPixels(other[0]!.file)).equals(await gifPixels(done!.file))).toBe(false);

    const again = await render({ recipe: `${done!.file}.json`, out: path.join(dir, 'again.gif') }, quiet);
    expect(again[0]!.recipe.extra).toMatchObject({ initVideo: { path: input, sha256: sha }, strength: 0.6 });
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(done!.file))).toBe(true);

    await writeVideo(clip().map((v) => 255 - v), [6, 64, 80, 3], 8, input); // same path, other frames
    const changed = (await import('node:crypto')).createHash('sha256').update(readFileSync(input)).digest('hex');
    await expect(render({ recipe: `${done!.file}.json`, out: path.join(dir, 'changed.gif') }, quiet)).rejects.toThrow(
      `${done!.file}.json: init_video: sha256 mismatch: ${input} now has sha256 ${changed}, the recipe recorded ${sha}; the file changed since that render, so the frames would differ`,
    );
  });

  it('--init-video reads an MP4 with ffmpeg', async () => {
    const [done] = await render({ ...small, model, prompt: 'a dot', initVideo: path.join(dir, 'in.mp4'), strength: 0.5, out: path.join(dir, 'mp4.gif') }, quiet);
    expect(done!.recipe.extra).toMatchObject({ initVideo: { path: path.join(dir, 'in.mp4') }, strength: 0.5 });
    expect(done!.recipe.frames).toBe(4);
  });

  it('--init-image with --anchor-first-frame: recorded, re-rendered from the recipe, and different from unanchored', async () => {
    const image = path.join(dir, 'still.png');
    const [anchored] = await render({ ...small, model, prompt: 'a dot', initImage: image, strength: 0.7, anchorFirstFrame: true, out: path.join(dir, 'i2v-a.gif') }, quiet);
    const [plain] = await render({ ...small, model, prompt: 'a dot', initImage: image, strength: 0.7, out: path.join(dir, 'i2v.gif') }, quiet);
    expect(anchored!.recipe.extra).toMatchObject({ initImage: { path: image, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }, strength: 0.7, anchorFirstFrame: true });
    expect(plain!.recipe.extra?.anchorFirstFrame).toBeUndefined();
    expect((await gifPixels(anchored!.file)).equals(await gifPixels(plain!.file))).toBe(false);
    const again = await render({ recipe: `${anchored!.file}.json`, out: path.join(dir, 'i2v-again.gif') }, quiet);
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(anchored!.file))).toBe(true);
  });

  it('takes the same keys in prompt configs (paths relative to the working directory, as AnimateDiff)', async () => {
    const config = path.join(dir, 'init.yaml');
    writeFileSync(config, ['I2V:', `  model: ${JSON.stringify(model)}`, '  steps: 3', '  W: 64', '  H: 64', '  L: 4', '  seed: 11', '  prompt: ["a dot"]', `  init_image: ${JSON.stringify(path.join(dir, 'still.png'))}`, '  strength: 0.7', '  anchor_first_frame: true'].join('\n'));
    const [done] = await render({ config, out: path.join(dir, 'cfg') }, quiet);
    const [flags] = await render({ ...small, model, prompt: 'a dot', initImage: path.join(dir, 'still.png'), strength: 0.7, anchorFirstFrame: true, out: path.join(dir, 'flags.gif') }, quiet);
    expect(done!.recipe.extra).toMatchObject({ initImage: { path: path.join(dir, 'still.png') }, strength: 0.7, anchorFirstFrame: true });
    expect((await gifPixels(done!.file)).equals(await gifPixels(flags!.file))).toBe(true);
    const jobs = parsePromptConfig('a:\n  prompt: x\n  init_video: clips/in.gif\n  strength: 1\n', 'c.yaml', { baseDir: '/base' });
    expect(jobs[0]!.init).toEqual({ initVideo: '/base/clips/in.gif', strength: 1 });
    expect(() => parsePromptConfig('a:\n  prompt: x\n  init_video: a.gif\n  init_image: b.png\n', 'c.yaml')).toThrow('c.yaml: entry "a": init_image: give either init_video or init_image, not both');
    expect(() => parsePromptConfig('a:\n  prompt: x\n  init_video: a.gif\n  strength: 2\n', 'c.yaml')).toThrow('c.yaml: entry "a": strength: expected a number in [0, 1], got 2');
    writeFileSync(config, ['a:', `  model: ${JSON.stringify(model)}`, '  prompt: ["x"]', '  strength: 0.5'].join('\n'));
    await expect(render({ config, out: path.join(dir, 'cfg2') }, quiet)).rejects.toThrow(/^.*init\.yaml: entry "a": strength: expected to be given with video/);
  });

  it('names the flag of every bad combination, before loading anything', async () => {
    const base = { ...small, model, prompt: 'a dot', out: path.join(dir, 'never.gif') };
    const gif = path.join(dir, 'in.gif');
    const fails = (a: Partial<RenderArgs>, re: RegExp) => expect(render({ ...base, ...a }, quiet)).rejects.toThrow(re);
    await fails({ initVideo: gif, strength: 1.5 }, /^--strength: expected a number in \[0, 1\], got 1\.5$/);
    await fails({ initImage: path.join(dir, 'still.png'), strength: -0.2 }, /^--strength: expected a number in \[0, 1\]/);
    await fails({ strength: 0.5 }, /^--strength: expected to be given with video \(video-to-video\) or image/);
    await fails({ anchorFirstFrame: true }, /^--anchor-first-frame: expected to be given with image/);
    await fails({ initVideo: gif, anchorFirstFrame: true }, /^--anchor-first-frame: expected to be given with image/);
    await fails({ initVideo: gif, initImage: path.join(dir, 'still.png') }, /^--init-video\/--init-image: expected only one of them/);
    await fails({ initVideo: gif, frames: 7 }, /^--init-video: expected at least 7 frames .*got "6 frames in .*in\.gif"$/);
    await fails({ initVideo: path.join(dir, 'missing.gif') }, /^--init-video: expected a readable .*missing\.gif \(no such file or folder\)/);
    await fails({ initImage: path.join(dir, 'in.mp4') }, /^--init-image: expected a readable .*in\.mp4 \(/);
    await fails({ recipe: 'x.json', prompt: undefined, initVideo: gif }, /^--init-video: expected to be left out with --recipe/);
  });

  it('the CLI passes the flags through and names them in its errors', async () => {
    const cli = path.join(repoRoot, 'bin', 'animatorch.js');
    const err = await run(process.execPath, [cli, 'render', '--model', model, '-p', 'x', '--init-video', path.join(dir, 'in.gif'), '--strength', '2', '--out', path.join(dir, 'n.gif')]).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toBe('animatorch: --strength: expected a number in [0, 1], got 2\n');
  });
});
