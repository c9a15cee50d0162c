// The render farm carries every option `render --config` honours: FreeInit, FreeNoise and the motion
// scale render the same frames on a worker (real redis-server); options that read local files
// (init media, ControlNet inputs) are refused at submit by name, never dropped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submit } from '../lib/cli/commands/submit';
import { createRenderQueue, runRenderWorker } from '../lib';
import { render } from '../lib/render/render';
import { createRecipe } from '../lib/render/recipe';
import { readModelManifest } from '../lib/model-manifest';
import { exportedModel } from './utils/fixtures';
import { RedisServer } from './utils/redis-server';

let redis: RedisServer;
let out: string;
let model: string;
const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();
const sink = (lines: string[]) => ({ write: (s: string) => lines.push(s) }) as unknown as NodeJS.WritableStream;

beforeAll(async () => {
  redis = await RedisServer.start();
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-farm-options-'));
  model = await exportedModel('tiny-v2', 0);
});
afterAll(async () => {
  await redis?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('render farm: the options of render --config', () => {
  it('renders free_init, free_noise and motion_scale as render --config does (same pixels, same recipe), and again from its recipe', async () => {
    const config = path.join(out, 'motion.yaml');
    writeFileSync(
      config,
      [
        'Motion:',
        `  model: ${JSON.stringify(model)}`,
        '  steps: 2',
        '  L: 8',
        '  W: 64',
        '  H: 64',
        '  seed: 3',
        '  free_init: { iterations: 2, method: gaussian }',
        '  free_noise: { context_length: 4, context_stride: 2 }',
        '  motion_scale: 0.5',
        '  prompt: ["a red circle moving right"]',
      ].join('\n'),
    );
    const [local] = await render({ config, out: path.join(out, 'local') }, { log: sink([]) });
    const extra = local!.recipe.extra!;
    expect(extra.freeInit).toMatchObject({ iterations: 2, method: 'gaussian' });
    expect(extra.freeNoise).toMatchObject({ contextLength: 4, contextStride: 2 });
    expect(extra.motionScale).toBe(0.5);

    const queue = createRenderQueue({ connection: redis.url, name: 'options' });
    await queue.ready();
    const worker = runRenderWorker({ connection: redis.url, queue: 'options', models: [model], outDir: path.join(out, 'farm'), log: () => undefined });
    await worker.ready();
    try {
      const ids: string[] = [];
      const stdout = { write: (s: string) => ids.push(...s.trim().split('\n')) } as unknown as NodeJS.WritableStream;
      const r = await submit({ redis: redis.url, queue: 'options', config, out: 'motion.gif', wait: true }, { stdout, log: sink([]) });
      expect(r).toEqual({ jobIds: ids, failed: 0 });
      const farmed = (await queue.getJob(ids[0]!))!.returnvalue;
      for (const k of ['freeInit', 'freeNoise', 'motionScale']) expect([k, farmed.recipe.extra?.[k]]).toEqual([k, extra[k]]);
      expect((await gifPixels(farmed.file)).equals(await gifPixels(local!.file))).toBe(true);
      // Without the options the frames differ: the comparison above can fail.
      const [plain] = await render({ model, prompt: 'a red circle moving right', steps: 2, frames: 8, width: 64, height: 64, seed: ['3'], out: path.join(out, 'plain.gif') }, { log: sink([]) });
      expect((await gifPixels(plain!.file)).equals(await gifPixels(local!.file))).toBe(false);

      // submit --recipe of the farm's own result renders the same frames again.
      const again = await submit({ redis: redis.url, queue: 'options', recipe: farmed.recipeFile, out: 'again.gif', wait: true }, { stdout, log: sink([]) });
      const rerun = (await queue.getJob(again.jobIds[0]!))!.returnvalue;
      expect(rerun.recipe.extra?.freeInit).toEqual(extra.freeInit);
      expect((await gifPixels(rerun.file)).equals(await gifPixels(local!.file))).toBe(true);

      // A job put on the queue past submit's check fails on the worker, once, naming the key.
      const direct = await queue.queue.add('render', { recipe: { ...farmed.recipe, extra: { ...farmed.recipe.extra, controlnet: [{ path: 'cn', input: 'edges', sha256: '0'.repeat(64) }] } } } as never);
      await expect(queue.result(direct)).rejects.toThrow(/extra\.controlnet: the render farm does not take init media or ControlNet inputs yet/);
      expect((await queue.getJob(direct.id!))!.attemptsMade).toBe(1);
    } finally {
      await Promise.all([worker.close(), queue.close()]);
    }
  });

  it('refuses init media and ControlNet inputs by name at submit (nothing is queued), in configs and recipes', async () => {
    const entries: Record<string, string[]> = {
      init_video: ['  init_video: clip.gif', '  strength: 0.6'],
      init_image: ['  init_image: still.png'],
      strength: ['  strength: 0.6'],
      controlnet: ['  controlnet: ["path=cn,input=edges", "path=sc,input=a.png;b.png,frames=0,8"]'],
    };
    const queue = createRenderQueue({ connection: redis.url, name: 'refused' });
    await queue.ready();
    try {
      for (const [key, lines] of Object.entries(entries)) {
        const config = path.join(out, `${key}.yaml`);
        writeFileSync(config, ['Local:', '  prompt: ["x"]', ...lines].join('\n'));
        const ids: string[] = [];
        await expect(submit({ redis: redis.url, queue: 'refused', config }, { stdout: sink(ids), log: sink([]) })).rejects.toThrow(
          new RegExp(`entry "Local": ${key}: the render farm does not take init media or ControlNet inputs yet`),
        );
        expect(ids).toEqual([]);
      }
      const manifest = await readModelManifest(model);
      const base = { prompt: 'x', negativePrompt: '', seed: 1n, scheduler: { className: 'DDIMScheduler', config: {} }, steps: 1, guidanceScale: 7.5, width: 64, height: 64, frames: 4, fps: 8, model: manifest };
      const recipe = createRecipe({ ...base, extra: { initVideo: { path: '/tmp/clip.gif', sha256: '0'.repeat(64) }, strength: 0.6 } });
      await expect(queue.submit(recipe)).rejects.toThrow(/recipe: extra\.initVideo: the render farm does not take init media/);
      // a SparseCtrl's keyframes are local files too
      const sparse = createRecipe({ ...base, extra: { controlnet: [{ path: '/tmp/sc', input: '/tmp/a.png;/tmp/b.png', frames: [0, 3], sha256: '0'.repeat(64) }] } });
      await expect(queue.submit(sparse)).rejects.toThrow(/recipe: extra\.controlnet: the render farm does not take init media or ControlNet inputs/);
      expect(await queue.queue.getJobCounts('waiting', 'active', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0 });
    } finally {
      await queue.close();
    }
  });
});
