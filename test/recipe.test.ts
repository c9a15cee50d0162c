import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compareRecipeModel,
  createRecipe,
  readRecipe,
  recipeSeed,
  recipeSidecarPath,
  RecipeError,
  validateRecipe,
  writeRecipeSidecar,
} from '../lib/render/recipe';
import { animatorchVersion } from '../lib/version';
import { validateModelManifest } from '../lib/model-manifest';


const temps: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

const manifest = validateModelManifest(
  {
    name: 'toonyou-v2',
    dtype: 'float16',
    numerics: 'animatediff',
    sample_size: 64,
    cross_attention_dim: 768,
    motion_module: { version: 'v2', max_frames: 32 },
    unet: { file: 'unet/model.pt' },
    vae: { file: 'vae/model.pt', scaling_factor: 0.18215 },
    text_encoder: { file: 'text_encoder/model.pt' },
    scheduler: { _class_name: 'DDIMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'linear', steps_offset: 1, clip_sample: false },
    files: { 'unet/model.pt': { sha256: SHA_A, bytes: 10 }, 'vae/model.pt': { sha256: SHA_B, bytes: 20 } },
  },
  '/models/toonyou-v2/model.yaml',
);

const base = () =>
  createRecipe({
    prompt: 'a cat',
    negativePrompt: 'blurry',
    seed: 10589116295929063558n,
    scheduler: manifest.scheduler,
    steps: 25,
    guidanceScale: 7.5,
    width: 512,
    height: 512,
    frames: 16,
    fps: 8,
    model: manifest,
    libtorchVersion: '2.5.1',
    extra: { contextLength: 16 },
    createdAt: '2026-01-02T03:04:05.000Z',
  });

describe('recipe', () => {
  it('records the exact 64-bit seed as a decimal string, scheduler, sizes, model files and versions', () => {
    const r = base();
    expect(r.seed).toBe('10589116295929063558');
    expect(recipeSeed(r)).toBe(10589116295929063558n);
    expect(r.scheduler).toEqual({
      className: 'DDIMScheduler',
      config: { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'linear', steps_offset: 1, clip_sample: false },
    });
    expect(r.model).toEqual({
      name: 'toonyou-v2',
      dir: '/models/toonyou-v2',
      motionModuleVersion: 'v2',
      dtype: 'float16',
      numerics: 'animatediff',
      files: { 'unet/model.pt': { sha256: SHA_A, bytes: 10 }, 'vae/model.pt': { sha256: SHA_B, bytes: 20 } },
    });
    expect(r.versions).toEqual({ animatorch: JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version, libtorch: '2.5.1' });
    expect(animatorchVersion()).toMatch(/^\d+\.\d+\.\d+/);
    expect(r).toMatchObject({ prompt: 'a cat', negativePrompt: 'blurry', steps: 25, guidanceScale: 7.5, width: 512, height: 512, frames: 16, fps: 8, animatorchRecipe: 1 });
    // negative seeds wrap to unsigned, as torch.manual_seed
    expect(createRecipe({ ...baseOptions(), seed: -1n }).seed).toBe('18446744073709551615');
    expect(() => createRecipe({ ...baseOptions(), seed: 2 ** 60 })).toThrow(/safe integer/);
  });

  it('writes <out>.json atomically and reads it back identical; the seed survives as a string', async () => {
    const dir = tempDir('animatorch-recipe-');
    const out = path.join(dir, 'video.gif');
    const file = await writeRecipeSidecar(out, base());
    expect(file).toBe(`${out}.json`);
    expect(recipeSidecarPath(path.join(dir, 'frames') + path.sep)).toBe(path.join(dir, 'frames.json'));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('"seed": "10589116295929063558"');
    expect(await readRecipe(file)).toEqual(base());
    expect(readdirSync(dir)).toEqual(['video.gif.json']);
  });

  it('rejects invalid recipes naming the file and the key', async () => {
    const dir = tempDir('animatorch-recipe-');
    const write = (obj: unknown, name = 'r.json') => {
      const f = path.join(dir, name);
      writeFileSync(f, typeof obj === 'string' ? obj : JSON.stringify(obj));
      return f;
    };
    const good = base() as unknown as Record<string, unknown>;
    await expect(readRecipe(write({ ...good, seed: 1234 }))).rejects.toThrow(/r\.json: seed: expected the seed as a decimal string/);
    await expect(readRecipe(write({ ...good, seed: '18446744073709551616' }))).rejects.toThrow(/seed: expected a value below 2\^64/);
    await expect(readRecipe(write({ ...good, steps: 0 }))).rejects.toThrow(/r\.json: steps: expected an integer >= 1, got 0/);
    await expect(readRecipe(write({ ...good, width: 500 }))).rejects.toThrow(/width: expected a multiple of 8/);
    await expect(readRecipe(write({ ...good, fps: 0 }))).rejects.toThrow(/fps: expected a number > 0/);
    await expect(readRecipe(write({ ...good, scheduler: { config: {} } }))).rejects.toThrow(/scheduler\.className/);
    await expect(readRecipe(write({ ...good, model: { ...(good.model as object), files: { x: { sha256: 'nope', bytes: 1 } } } }))).rejects.toThrow(/model\.files\.x/);
    await expect(readRecipe(write({ ...good, animatorchRecipe: 99 }))).rejects.toThrow(/newer than this animatorch reads/);
    await expect(readRecipe(write({ ...good, stepz: 3 }))).rejects.toThrow(/stepz: unknown key/);
    await expect(readRecipe(write('{not json'))).rejects.toThrow(/r\.json: invalid JSON/);
    await expect(readRecipe(path.join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: no such file/);
    expect(() => validateRecipe([], 'x')).toThrow(RecipeError);
  });

  it('compares a recipe with a model by file hashes', () => {
    const r = base();
    expect(compareRecipeModel(r, manifest)).toEqual([]);
    const changed = { files: { 'unet/model.pt': { sha256: SHA_B, bytes: 10 }, 'text_encoder/model.pt': { sha256: SHA_A, bytes: 1 } } };
    const problems = compareRecipeModel(r, changed);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/unet\/model\.pt: sha256 bbbbbbbbbbbb… differs/);
  });
});

function baseOptions() {
  return {
    prompt: 'a',
    seed: 1 as number | bigint,
    scheduler: { className: 'DDIMScheduler', config: {} },
    steps: 1,
    guidanceScale: 1,
    width: 64,
    height: 64,
    frames: 1,
    fps: 8,
    model: { name: 'm', files: {} },
    libtorchVersion: 'x',
    createdAt: false as const,
  };
}
