// The motion scale: generate({ motionScale }) through the UNet's optional motion_scale input (scale 0 equal to
// the UNet without motion modules is checked against the eager module in scripts/tests/test_motion_args.py),
// `render --motion-scale`, prompt configs and recipes; exports without the input run at 1 and refuse others.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import { parsePromptConfig } from '../lib/render/prompt-config';
import { render } from '../lib/render/render';
import { exportedModel, repoRoot } from './utils/fixtures';
import { modelWithoutUnetInputs } from './utils/legacy-model';

// the demo model as exported before the UNet's optional inputs
const demo = modelWithoutUnetInputs(path.join(repoRoot, 'models', 'demo'));
const out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-motion-scale-'));
const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();

describe('motionScale', () => {
  let pipe: AnimateDiffPipeline;
  let model: string;
  beforeAll(async () => {
    model = await exportedModel('tiny-v2', 0);
    pipe = await loadPipeline(model);
  });
  afterAll(() => pipe?.dispose());

  const latents = async (motionScale?: number) => {
    const r = await pipe.generate({ prompt: 'a dot', numFrames: 4, width: 64, height: 64, numInferenceSteps: 2, seed: 1, outputType: 'latents', ...(motionScale !== undefined && { motionScale }) });
    try {
      return (await r.latents.toArray()) as Float32Array;
    } finally {
      r.latents.dispose();
    }
  };

  it('1 is the current output exactly; 0 and 2 change it, 0.5 lies apart from both ends', async () => {
    const plain = await latents();
    expect(Buffer.from((await latents(1)).buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    const dist = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    const [zero, half, two] = [await latents(0), await latents(0.5), await latents(2)];
    expect(dist(zero, plain)).toBeGreaterThan(1e-3);
    expect(dist(two, plain)).toBeGreaterThan(1e-3);
    expect(Math.min(dist(half, plain), dist(half, zero))).toBeGreaterThan(1e-4);
  });

  it('rejects a non-number, naming it', async () => {
    await expect(pipe.generate({ prompt: 'x', motionScale: Number.NaN })).rejects.toThrow(/^motionScale: expected a finite number/);
  });

  it('an export without the input (the demo model as exported before it) runs at 1 and refuses other scales clearly', async () => {
    const old = await loadPipeline(demo);
    try {
      expect(old.manifest.unet.inputs).toEqual([]);
      const r = await old.generate({ prompt: 'a red circle moving right', numInferenceSteps: 1, seed: 1, outputType: 'latents', motionScale: 1 });
      r.latents.dispose();
      await expect(old.generate({ prompt: 'x', motionScale: 0.5 })).rejects.toThrow(/^motionScale: expected 1 with model '.*' \(exported before the UNet's motion_scale input; export it again\)/);
    } finally {
      old.dispose();
    }
  });

  it('render --motion-scale records it in the recipe and re-renders the same frames; prompt configs read motion_scale', async () => {
    const [done] = await render({ model, prompt: 'a dot', steps: 1, frames: 4, width: 64, height: 64, seed: ['2'], motionScale: 0.5, out: path.join(out, 'ms.gif') }, quiet);
    expect(done!.recipe.extra?.motionScale).toBe(0.5);
    const again = await render({ recipe: `${done!.file}.json`, out: path.join(out, 'again.gif') }, quiet);
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(done!.file))).toBe(true);
    expect(parsePromptConfig('A:\n  prompt: [a]\n  motion_scale: 1.2\n', 'p.yaml')[0]!.motionScale).toBe(1.2);
    await expect(render({ model: demo, prompt: 'x', motionScale: 0, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/^--motion-scale: expected 1 with model/);
  });
});
