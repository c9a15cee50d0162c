import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePromptConfig, PromptConfigError, readPromptConfig } from '../lib/render/prompt-config';

// Shaped like AnimateDiff's configs/prompts/1-ToonYou.yaml (the original, mapping layout).

const temps: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const TOONYOU = `
ToonYou:
  motion_module:
    - "models/Motion_Module/mm_sd_v14.ckpt"
    - "models/Motion_Module/mm_sd_v15.ckpt"

  dreambooth_path: "models/DreamBooth_LoRA/toonyou_beta3.safetensors"
  lora_model_path: ""

  seed:           [10788741199826055526, 6520604954829636163, 6519455744612555650, 16372571278361863751]
  steps:          25
  guidance_scale: 7.5

  prompt:
    - "best quality, masterpiece, 1girl, looking at viewer"
    - "masterpiece, best quality, 1girl, solo, cherry blossoms"
    - "best quality, masterpiece, 1boy, formal, abstract"
    - "best quality, masterpiece, 1girl, cloudy sky, dandelion"

  n_prompt:
    - ""
    - "badhandv4,easynegative,ng_deepnegative_v1_75t"
    - ""
    - ""
`;

// Shaped like the later list layout (configs/prompts/v2/v2-2-RealisticVision-MotionLoRA.yaml, v3-1-T2V.yaml), plus our keys.
const LIST = `# ZoomIn
- inference_config: "configs/inference/inference-v2.yaml"
  motion_module:    "models/Motion_Module/mm_sd_v15_v2.ckpt"
  motion_module_lora_configs:
    - path:  "models/MotionLoRA/v2_lora_ZoomIn.ckpt"
      alpha: 1.0
  dreambooth_path: "models/DreamBooth_LoRA/realisticVisionV60B1_v51VAE.safetensors"
  lora_model_path: "models/DreamBooth_LoRA/some_kohya.safetensors"
  lora_alpha: 0.6
  seed:           43242532350557906
  steps:          25
  guidance_scale: 8
  prompt:
    - "photo of coastline, rocks, storm weather"
    - "photo of a lighthouse"
  n_prompt:
    - "blur, haze"


# animatorch
- model: exported/rv-v2
  adapter_lora_path: "models/Motion_Module/v3_sd15_adapter.ckpt"
  domain_lora_scale: 0.5
  W: 384
  H: 256
  L: 24
  fps: 12
  scheduler: EulerDiscreteScheduler
  context_length: 16
  context_overlap: 4
  seed: -1
  prompt: "one prompt, not a list"
`;

const base = '/repo';

describe('prompt configs', () => {
  it('expands the mapping layout: motion module × (prompt_i, n_prompt_i, seed_i), exact 64-bit seeds', () => {
    const jobs = parsePromptConfig(TOONYOU, 'prompts.yaml', { baseDir: base });
    expect(jobs).toHaveLength(8);
    expect(jobs.map((j) => j.seed.toString())).toEqual([
      '10788741199826055526',
      '6520604954829636163',
      '6519455744612555650',
      '16372571278361863751',
      '10788741199826055526',
      '6520604954829636163',
      '6519455744612555650',
      '16372571278361863751',
    ]);
    expect(typeof jobs[0]!.seed).toBe('bigint');
    expect(jobs[0]).toMatchObject({
      source: { file: 'prompts.yaml', entry: 'ToonYou', entryIndex: 0, promptIndex: 0 },
      prompt: 'best quality, masterpiece, 1girl, looking at viewer',
      negativePrompt: '',
      steps: 25,
      guidanceScale: 7.5,
      width: 512,
      height: 512,
      frames: 16,
      fps: 8,
      base: '/repo/models/DreamBooth_LoRA/toonyou_beta3.safetensors',
      motionModule: '/repo/models/Motion_Module/mm_sd_v14.ckpt',
      motionLoras: [],
      randomSeed: false,
    });
    expect(jobs[0]!.lora).toBeUndefined(); // lora_model_path: "" means none
    expect(jobs[1]!.negativePrompt).toBe('badhandv4,easynegative,ng_deepnegative_v1_75t');
    expect(jobs[4]!.motionModule).toBe('/repo/models/Motion_Module/mm_sd_v15.ckpt');
  });

  it('expands the list layout, names entries by their comment, reuses one seed/n_prompt, reads our keys', () => {
    let n = 0n;
    const jobs = parsePromptConfig(LIST, 'list.yaml', { baseDir: base, randomSeed: () => (n += 1n) });
    expect(jobs).toHaveLength(3);
    expect(jobs[0]!.source.entry).toBe('ZoomIn');
    expect(jobs[2]!.source.entry).toBe('animatorch');
    expect(jobs[0]!.seed).toBe(43242532350557906n);
    expect(jobs[1]!.seed).toBe(43242532350557906n); // one seed, reused for every prompt
    expect(jobs[1]!.negativePrompt).toBe('blur, haze');
    expect(jobs[0]!.guidanceScale).toBe(8);
    expect(jobs[0]!.motionLoras).toEqual([{ path: '/repo/models/MotionLoRA/v2_lora_ZoomIn.ckpt', alpha: 1 }]);
    expect(jobs[0]!.lora).toEqual({ path: '/repo/models/DreamBooth_LoRA/some_kohya.safetensors', alpha: 0.6 });
    expect(jobs[0]!.inferenceConfig).toBe('/repo/configs/inference/inference-v2.yaml');
    expect(jobs[2]).toMatchObject({
      model: '/repo/exported/rv-v2',
      adapterLora: { path: '/repo/models/Motion_Module/v3_sd15_adapter.ckpt', alpha: 0.5 },
      width: 384,
      height: 256,
      frames: 24,
      fps: 12,
      scheduler: 'EulerDiscreteScheduler',
      contextLength: 16,
      contextOverlap: 4,
      prompt: 'one prompt, not a list',
      negativePrompt: '',
      seed: 1n,
      randomSeed: true,
    });
  });

  it('applies defaults from the CLI and resolves paths against the current folder by default', () => {
    const jobs = parsePromptConfig('a:\n  prompt: [x]\n  motion_module: mm.ckpt\n', 'p.yaml', { defaults: { steps: 10, width: 256, fps: 4 } });
    expect(jobs[0]).toMatchObject({ steps: 10, width: 256, height: 512, fps: 4, motionModule: path.resolve('mm.ckpt') });
  });

  it("takes a key the entry leaves out from the CLI, then the model's defaults, then AnimateDiff's", () => {
    const asked: Array<string | undefined> = [];
    const modelDefaults = (m: string | undefined) => {
      asked.push(m);
      return { width: 64, height: 64, frames: 8, steps: 20, guidanceScale: 6 };
    };
    const yaml = 'a:\n  prompt: [x]\n  steps: 3\nb:\n  prompt: [y]\n  model: m\nc:\n  prompt: [z]\n  motion_module: mm.ckpt\n';
    const [a, b, c] = parsePromptConfig(yaml, 'p.yaml', { defaults: { width: 128 }, modelDefaults });
    expect(a).toMatchObject({ steps: 3, width: 128, height: 64, frames: 8, guidanceScale: 6, fps: 8 });
    expect(b).toMatchObject({ steps: 20, width: 128, height: 64, model: path.resolve('m') });
    // c exports a model from a motion module: real AnimateDiff weights, AnimateDiff's defaults
    expect(c).toMatchObject({ steps: 25, width: 128, height: 512, frames: 16, guidanceScale: 7.5 });
    expect(asked).toEqual([undefined, path.resolve('m')]);
  });

  it('names the file, the entry and the key in each error', () => {
    const bad = (yaml: string) => () => parsePromptConfig(yaml, 'prompts.yaml');
    expect(bad('ToonYou:\n  prompt: [a]\n  steps: ten\n')).toThrow('prompts.yaml: entry "ToonYou": steps: expected an integer >= 1, got "ten"');
    expect(bad('ToonYou:\n  prompt: [a]\n  steps: 0\n')).toThrow('prompts.yaml: entry "ToonYou": steps: expected an integer >= 1, got 0');
    expect(bad('A:\n  prompt: [a]\n  W: 500\n')).toThrow('prompts.yaml: entry "A": W: expected a multiple of 8, got 500');
    expect(bad('A:\n  prompt: [a, b]\n  seed: [1, 2, 3]\n')).toThrow(
      'prompts.yaml: entry "A": seed: expected 1 seed or one per prompt (2), got 3 (AnimateDiff\'s animate.py pairs prompt, n_prompt and seed with zip() and silently renders only the first 2; make the lists the same length)',
    );
    expect(bad('A:\n  prompt: [a]\n  seed: [1.5]\n')).toThrow('prompts.yaml: entry "A": seed[0]: expected an integer');
    expect(bad('A:\n  prompt: [a]\n  seed: 18446744073709551616\n')).toThrow('entry "A": seed: expected an integer in [-2^63, 2^64)');
    expect(bad('A:\n  prompt: [a, b]\n  n_prompt: [x, y, z]\n')).toThrow('entry "A": n_prompt: expected 1 negative prompt or one per prompt (2), got 3 (AnimateDiff\'s animate.py pairs prompt, n_prompt and seed with zip()');
    expect(bad('A:\n  steps: 3\n')).toThrow('entry "A": prompt: missing');
    expect(bad('A:\n  prompt: [a, 3]\n')).toThrow('entry "A": prompt[1]: expected a string, got 3');
    expect(bad('A:\n  prompt: [a]\n  guidance_scale: high\n')).toThrow('entry "A": guidance_scale: expected a number >= 0, got "high"');
    // configs/inference/inference-v2.yaml, passed as a prompt config
    expect(bad('unet_additional_kwargs:\n  use_motion_module: true\nnoise_scheduler_kwargs:\n  beta_start: 0.00085\n')).toThrow(
      'prompts.yaml: this is an AnimateDiff inference config (unet_additional_kwargs, noise_scheduler_kwargs), not a prompt config. Pass a prompt config (configs/prompts/*.yaml) to --config',
    );
    expect(bad('A:\n  prompt: [a]\n  stepz: 3\n')).toThrow(/entry "A": stepz: unknown key \(known: prompt, n_prompt/);
    expect(bad('A:\n  prompt: [a]\n  controlnet_path: x.ckpt\n')).toThrow('entry "A": controlnet_path: AnimateDiff\'s SparseCtrl keys (controlnet_*) are not read: export the SparseCtrl');
    expect(bad('A:\n  prompt: [a]\n  motion_module_lora_configs:\n    - alpha: 1\n')).toThrow('entry "A": motion_module_lora_configs[0].path: missing');
    expect(bad('A:\n  prompt: [a]\n  context_length: 8\n  context_overlap: 8\n')).toThrow('entry "A": context_overlap: expected less than context_length (8), got 8');
    expect(bad('- prompt: [a]\n- prompt: [b]\n  fps: 0\n')).toThrow('prompts.yaml: entry "#2": fps: expected a number > 0, got 0');
    expect(bad('just a string')).toThrow('prompts.yaml: expected a mapping of named entries');
    expect(bad('A: [unclosed')).toThrow(/prompts.yaml: invalid YAML/);
    expect(bad('A:\n  prompt: [a]\n  steps: 3\n  steps: 4\n')).toThrow(/invalid YAML/);
    try {
      bad('A:\n  prompt: [a]\n  L: -1\n')();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PromptConfigError);
      expect(err).toMatchObject({ file: 'prompts.yaml', entry: 'A', key: 'L' });
    }
  });

  it('reads free_init (true or diffusers\' enable_free_init names) with its defaults resolved, naming bad keys', () => {
    const [a] = parsePromptConfig('A:\n  prompt: [a]\n  free_init: true\n', 'p.yaml');
    expect(a!.freeInit).toEqual({ iterations: 3, method: 'butterworth', order: 4, spatialStopFrequency: 0.25, temporalStopFrequency: 0.25, fastSampling: false });
    const [b] = parsePromptConfig('A:\n  prompt: [a]\n  free_init: { iterations: 2, method: gaussian, spatial_stop_frequency: 0.4, fast_sampling: true }\n', 'p.yaml');
    expect(b!.freeInit).toMatchObject({ iterations: 2, method: 'gaussian', spatialStopFrequency: 0.4, fastSampling: true });
    expect(parsePromptConfig('A:\n  prompt: [a]\n', 'p.yaml')[0]!.freeInit).toBeUndefined();
    const bad = (yaml: string) => () => parsePromptConfig(yaml, 'p.yaml');
    expect(bad('A:\n  prompt: [a]\n  free_init: { method: box }\n')).toThrow(`entry "A": free_init.method: expected one of 'butterworth', 'gaussian', 'ideal', got "box"`);
    expect(bad('A:\n  prompt: [a]\n  free_init: { iterations: 0 }\n')).toThrow('entry "A": free_init.iterations: expected an integer >= 1, got 0');
    expect(bad('A:\n  prompt: [a]\n  free_init: { num_iters: 2 }\n')).toThrow(/entry "A": free_init\.num_iters: unknown key \(known: iterations, method/);
    expect(bad('A:\n  prompt: [a]\n  free_init: often\n')).toThrow(/entry "A": free_init: expected true or \{ iterations/);
  });

  it('negative seeds wrap as torch.manual_seed does; quoted seeds are accepted', () => {
    const jobs = parsePromptConfig('A:\n  prompt: [a, b]\n  seed: [-2, "12345678901234567890"]\n', 'p.yaml');
    expect(jobs.map((j) => j.seed)).toEqual([(1n << 64n) - 2n, 12345678901234567890n]);
  });

  it('reads a file from disk and reports a missing one', async () => {
    const dir = tempDir('animatorch-prompts-');
    const file = path.join(dir, 'prompts.yaml');
    writeFileSync(file, TOONYOU);
    expect(await readPromptConfig(file, { baseDir: dir })).toHaveLength(8);
    await expect(readPromptConfig(path.join(dir, 'nope.yaml'))).rejects.toThrow(/nope.yaml: no such file/);
  });
});
