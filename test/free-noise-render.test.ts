// FreeNoise in the front ends: render flags, prompt-config keys and recipes (re-rendering the same frames),
// and a clear refusal from exports made before the UNet took FreeNoise's inputs (the bundled demo model as it was).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePromptConfig } from '../lib/render/prompt-config';
import { render, type RenderArgs } from '../lib/render/render';
import { exportedModel, repoRoot } from './utils/fixtures';
import { modelWithoutUnetInputs } from './utils/legacy-model';

let model: string;
const out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-free-noise-'));
const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
const small = { steps: 2, frames: 8, width: 64, height: 64, prompt: 'a red circle moving right' } satisfies Partial<RenderArgs>;
const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();

beforeAll(async () => {
  model = await exportedModel('tiny-v2', 0);
});

describe('FreeNoise in render, prompt configs and recipes', () => {
  it('reads free_noise (true or diffusers\' enable_free_noise names) with its defaults resolved, naming bad keys', () => {
    const [a] = parsePromptConfig('A:\n  prompt: [a]\n  free_noise: true\n', 'p.yaml');
    expect(a!.freeNoise).toEqual({ contextLength: 16, contextStride: 4, weightingScheme: 'pyramid', noiseType: 'shuffle_context' });
    const [b] = parsePromptConfig('A:\n  prompt: [a]\n  free_noise: { context_length: 8, weighting_scheme: flat, noise_type: random }\n', 'p.yaml');
    expect(b!.freeNoise).toMatchObject({ contextLength: 8, weightingScheme: 'flat', noiseType: 'random' });
    const bad = (yaml: string) => () => parsePromptConfig(yaml, 'p.yaml');
    expect(bad('A:\n  prompt: [a]\n  free_noise: { weighting_scheme: box }\n')).toThrow(/entry "A": free_noise\.weighting_scheme: expected one of 'flat', 'pyramid'/);
    expect(bad('A:\n  prompt: [a]\n  free_noise: { stride: 2 }\n')).toThrow(/entry "A": free_noise\.stride: unknown key \(known: context_length/);
  });

  it('renders with the flags, records freeNoise in the recipe and re-renders the same frames from it', async () => {
    const flags = { freeNoiseContextLength: 4, freeNoiseContextStride: 2 };
    const [done] = await render({ ...small, ...flags, model, seed: ['3'], out: path.join(out, 'fn.gif') }, quiet);
    expect(done!.recipe.extra?.freeNoise).toEqual({ contextLength: 4, contextStride: 2, weightingScheme: 'pyramid', noiseType: 'shuffle_context' });
    const plain = await render({ ...small, contextLength: 4, model, seed: ['3'], out: path.join(out, 'plain.gif') }, quiet);
    expect((await gifPixels(plain[0]!.file)).equals(await gifPixels(done!.file))).toBe(false);
    const again = await render({ recipe: `${done!.file}.json`, out: path.join(out, 'again.gif') }, quiet);
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(done!.file))).toBe(true);
  });

  it('renders a config entry with free_noise', async () => {
    const config = path.join(out, 'free-noise.yaml');
    writeFileSync(config, ['FreeNoise:', `  model: ${JSON.stringify(model)}`, '  steps: 1', '  W: 64', '  H: 64', '  L: 6', '  seed: 5', '  prompt: ["a dot"]', '  free_noise: { context_length: 4, context_stride: 1 }'].join('\n'));
    const [done] = await render({ config, out: path.join(out, 'cfg') }, quiet);
    expect(done!.recipe.extra?.freeNoise).toMatchObject({ contextLength: 4, contextStride: 1 });
  });

  it('names the flag of a bad option, and refuses models exported before FreeNoise', async () => {
    await expect(render({ ...small, model, freeNoiseContextLength: 16, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--frames: expected at least freeNoise\.contextLength \(16\)/);
    await expect(render({ ...small, model, freeNoiseContextStride: 0, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/^--free-noise-context-stride: expected an integer >= 1/);
    const demo = modelWithoutUnetInputs(path.join(repoRoot, 'models', 'demo'));
    await expect(render({ ...small, model: demo, freeNoise: true, freeNoiseContextLength: 8, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(
      /--free-noise: expected a model exported with FreeNoise inputs \(model '.*' predates them; export it again\)/,
    );
  });
});
