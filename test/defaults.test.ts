// Defaults in one place: the API and the CLI render a model the same way from a prompt and a seed
// alone (call option -> model.yaml `defaults` -> AnimateDiff's), and the VAE's scale factor comes from the model.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPipeline } from '../lib';
import { DEMO_MODEL_DIR, render } from '../lib/render/render';
import { python, repoRoot } from './utils/fixtures';

const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
let out: string;
beforeAll(() => {
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-defaults-'));
});

describe('defaults', () => {
  it('the API and the CLI give identical frames for a prompt and a seed alone (the demo model: 8 frames, 20 steps, 6.0)', async () => {
    const folder = path.join(out, 'cli-frames'); // PNG frames: lossless
    const [done] = await render({ prompt: 'a red circle moving right', seed: ['5'], out: folder }, quiet);
    expect(done!.recipe).toMatchObject({ frames: 8, steps: 20, guidanceScale: 6, width: 64, height: 64, fps: 8 });
    const pngs = readdirSync(folder).filter((f) => f.endsWith('.png')).sort();
    expect(pngs).toHaveLength(8);
    const cli = Buffer.concat(await Promise.all(pngs.map((f) => sharp(path.join(folder, f)).removeAlpha().raw().toBuffer())));

    const pipe = await loadPipeline(DEMO_MODEL_DIR);
    try {
      const v = await pipe.generate({ prompt: 'a red circle moving right', seed: 5 });
      expect(v.shape).toEqual([8, 64, 64, 3]);
      expect(v.fps).toBe(8);
      expect(Buffer.from(v.frames).equals(cli)).toBe(true);
    } finally {
      pipe.dispose();
    }
  });

  it('takes the VAE scale factor from the model (a 3-level VAE: 4 pixels per latent pixel)', async () => {
    const dir = path.join(out, 'vae4');
    await python(
      [
        'import sys',
        `sys.path.insert(0, ${JSON.stringify(path.join(repoRoot, 'scripts'))})`,
        'from export_random_model import build_random_models',
        'from animatorch_export.configs import VAEConfig',
        'from animatorch_export.reference import randomize_weights_',
        'from animatorch_export.torchscript_export import export_model',
        'from animatorch_export.vae import AutoencoderKL',
        "p, unet, _, text = build_random_models('tiny-v2', 0)",
        'vae = randomize_weights_(AutoencoderKL(VAEConfig.tiny(block_out_channels=(32, 32, 64))), 1).eval()',
        `export_model(unet, vae, text, ${JSON.stringify(dir)}, name='vae4', log=lambda m: None)`,
      ].join('\n'),
    );
    expect(existsSync(path.join(dir, 'model.yaml'))).toBe(true);
    const pipe = await loadPipeline(dir);
    try {
      expect(pipe.vaeScaleFactor).toBe(4);
      const r = await pipe.generate({ prompt: 'x', seed: 1, width: 36, height: 32, numFrames: 2, numInferenceSteps: 1 });
      expect(r.shape).toEqual([2, 32, 36, 3]);
      await expect(pipe.generate({ prompt: 'x', width: 34, numFrames: 2, numInferenceSteps: 1 })).rejects.toThrow('width: expected a multiple of 4, got 34');
    } finally {
      pipe.dispose();
    }
  });
});
