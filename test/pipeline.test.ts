import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAsReference, loadFixturePipeline, readDiffusersFixture, worstDifference } from './utils/diffusers-fixture';
import { exportedModel, python } from './utils/fixtures';
import { memoryStats } from '../lib/device';
import { AbortError, InvalidParameterError } from '../lib/errors';
import { createGenerator } from '../lib/generator';
import { checkModelFiles, ModelManifestError, readModelManifest } from '../lib/model-manifest';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import { type AnimateDiffLatentsOutput, type AnimateDiffPipelineOutput, VaeDecodeError } from '../lib/pipelines/pipeline-output';
import type { ProgressEvent } from '../lib/pipelines/progress';
import { Tensor } from '../lib/tensor';
import { full, randn } from '../lib/tensor-factories';
import type { ModuleInput } from '../lib/torchscript-module';

// ---- tiny exported models, cached in the OS temp dir by preset + seed + flags + exporter hash ----


// Small and fast: 64x64 pixels (8x8 latents), 4 frames, 2 steps.
const BASE = { prompt: 'a red fox running in the snow', width: 64, height: 64, numFrames: 4, numInferenceSteps: 2, seed: 42 } satisfies GenerateOptions;

type UnetCall = { sample: number[]; timestep: number[]; context: number[] };

/** Records each UNet call's input shapes (and optionally the first sample's data). */
function spyUnet(pipe: AnimateDiffPipeline, onCall?: (args: ModuleInput[]) => void | Promise<void>): { calls: UnetCall[]; restore: () => void } {
  const calls: UnetCall[] = [];
  const original = pipe.unet.forward;
  pipe.unet.forward = async (...args: ModuleInput[]) => {
    const [s, t, c] = args as Tensor[];
    calls.push({ sample: s!.shape, timestep: t!.shape, context: c!.shape });
    await onCall?.(args);
    return original.apply(pipe.unet, args);
  };
  return { calls, restore: () => void (pipe.unet.forward = original) };
}

const frames = (r: unknown) => (r as AnimateDiffPipelineOutput).frames;
const equalBytes = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v, i) => v === b[i]);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
/** Lets the GC finalize unreachable tensors (left over by earlier tests) so memory baselines are stable. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('model manifest', () => {
  it('reads model.yaml, resolving component files', async () => {
    const dir = await exportedModel();
    const m = await readModelManifest(dir);
    expect(m.unet.file).toBe(path.join(dir, 'unet', 'model.pt'));
    expect(m.vae).toMatchObject({ file: path.join(dir, 'vae', 'decoder.pt'), scalingFactor: 0.18215 });
    expect(m.textEncoder?.file).toBe(path.join(dir, 'text_encoder', 'model.pt'));
    expect(m.scheduler._class_name).toBe('DDIMScheduler');
    expect(m.sampleSize).toEqual([8, 8]);
    expect(m.crossAttentionDim).toBe(32);
    expect(m.motionModule.maxFrames).toBe(32);
  });

  it('names the missing or invalid key', async () => {
    const src = readFileSync(path.join(await exportedModel(), 'model.yaml'), 'utf8');
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-manifest-'));
    const check = async (yaml: string, key: RegExp) => {
      writeFileSync(path.join(tmp, 'model.yaml'), yaml);
      const err = await readModelManifest(tmp).catch((e) => e);
      expect(err).toBeInstanceOf(ModelManifestError);
      expect(err.message).toMatch(key);
    };
    await check(src.replace(/  scaling_factor: .*\n/, ''), /vae\.scaling_factor: missing/);
    await check(src.replace(/_class_name: DDIMScheduler/, '_class_name: ""'), /scheduler\._class_name/);
    await check(src.replace(/^sample_size:\n- 8\n- 8\n/m, 'sample_size: big\n'), /sample_size/);
    await check(src, /unet\.file: file '.*unet\/model\.pt' does not exist/); // files are not next to this copy
    await check('just: [unclosed', /invalid YAML/);
    await expect(readModelManifest(path.join(tmp, 'nope'))).rejects.toThrow(/model\.yaml: no such file/);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('loadPipeline refuses a folder whose files differ from model.yaml: sizes always, contents with verify', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-verify-'));
    cpSync(await exportedModel(), tmp, { recursive: true });
    expect(await checkModelFiles(await readModelManifest(tmp), { sha256: true })).toEqual([]);
    (await loadPipeline(tmp, { verify: true })).dispose();

    // Files the pipeline does not load are reported by a full check but do not stop it.
    rmSync(path.join(tmp, 'unet', 'config.json'));
    expect(await checkModelFiles(await readModelManifest(tmp))).toEqual(['unet/config.json: listed in model.yaml but missing']);
    (await loadPipeline(tmp, { verify: true })).dispose();

    // Same size, one byte changed: only the hash sees it.
    const vae = path.join(tmp, 'vae', 'decoder.pt');
    const bytes = readFileSync(vae);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(vae, bytes);
    expect(await checkModelFiles(await readModelManifest(tmp), { files: [vae] })).toEqual([]);
    const changed = await loadPipeline(tmp, { verify: true }).catch((e) => e);
    expect(changed).toBeInstanceOf(ModelManifestError);
    expect(changed.message).toMatch(/model\.yaml: files: the folder does not match it; re-copy or re-export the model:\n {2}vae\/decoder\.pt: sha256 [0-9a-f]{12}…, model\.yaml says [0-9a-f]{12}… \(modified or corrupt\)$/);

    // An interrupted copy: the size check catches it without verify, before torch reads a broken archive.
    const unet = path.join(tmp, 'unet', 'model.pt');
    truncateSync(unet, 1000);
    await expect(loadPipeline(tmp)).rejects.toThrow(/unet\/model\.pt: 1000 bytes, model\.yaml says \d+ \(truncated or replaced\?\)/);
    await expect(loadPipeline(tmp, { verify: 'yes' as unknown as boolean })).rejects.toThrow(/verify: expected a boolean, got "yes"/);
    await expect(loadPipeline(tmp, { devise: 'cpu' } as never)).rejects.toThrow("devise: unknown option of loadPipeline(); did you mean 'device'?");
    rmSync(tmp, { recursive: true, force: true });
  });
});

describe('AnimateDiffPipeline', () => {
  let pipe: AnimateDiffPipeline;
  beforeAll(async () => {
    pipe = await loadPipeline(await exportedModel('tiny-v2', 0));
  });
  afterAll(() => pipe?.dispose());

  it('renders uint8 RGB frames [F, H, W, 3] at 8 fps, with the seed', async () => {
    const r = (await pipe.generate(BASE)) as AnimateDiffPipelineOutput;
    expect(r.shape).toEqual([4, 64, 64, 3]);
    expect(r.frames).toBeInstanceOf(Uint8Array);
    expect(r.frames.length).toBe(4 * 64 * 64 * 3);
    expect(r.fps).toBe(8);
    expect(r.seed).toBe(42n);
    expect(new Set(r.frames).size).toBeGreaterThan(10);
  });

  it("'float' gives 0..1 frames whose rounding is the uint8 output", async () => {
    const u = (await pipe.generate(BASE)) as AnimateDiffPipelineOutput;
    const f = (await pipe.generate({ ...BASE, outputType: 'float' })) as AnimateDiffPipelineOutput<Float32Array>;
    expect(f.frames).toBeInstanceOf(Float32Array);
    expect(Math.min(...f.frames)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...f.frames)).toBeLessThanOrEqual(1);
    let mismatches = 0;
    // torch: float32 x * 255, then round half to even
    const round = (x: number) => {
      const y = Math.fround(x * 255);
      const r = Math.round(y);
      return r - y === 0.5 && r % 2 !== 0 ? r - 1 : r;
    };
    for (let i = 0; i < u.frames.length; i++) if (round(f.frames[i]!) !== u.frames[i]!) mismatches++;
    expect(mismatches).toBe(0);
  });

  describe('input checks come first, naming the parameter', () => {
    const cases: [string, Partial<GenerateOptions> | Record<string, unknown>, RegExp][] = [
      ['width not a multiple of 8', { width: 65 }, /width/],
      ['height too small', { height: 4 }, /height/],
      ['no frames', { numFrames: 0 }, /numFrames/],
      ['no steps', { numInferenceSteps: 0 }, /numInferenceSteps/],
      ['negative guidance', { guidanceScale: -1 }, /guidanceScale/],
      ['negative prompt count', { prompt: ['a', 'b'], negativePrompt: ['x', 'y', 'z'] }, /negativePrompt/],
      ['seeds vs prompts', { prompt: ['a', 'b'], seeds: [1, 2, 3] }, /seeds|prompt/],
      ['no prompt', { prompt: undefined }, /prompt/],
      ['prompt and embeds', { promptEmbeds: full([1, 77, 32], 0) }, /prompt/],
      ['embedding width', { prompt: undefined, promptEmbeds: full([1, 77, 16], 0) }, /promptEmbeds.*32/],
      ['embedding rank', { prompt: undefined, promptEmbeds: full([77, 32], 0) }, /promptEmbeds/],
      ['negative embeds shape', { prompt: undefined, promptEmbeds: full([1, 77, 32], 0), negativePromptEmbeds: full([1, 70, 32], 0) }, /negativePromptEmbeds/],
      ['latents shape', { latents: full([1, 4, 3, 8, 8], 0), seed: undefined }, /latents/],
      ['travel key', { prompt: { 9: 'late' } }, /prompt\["9"\]/],
      ['output type', { outputType: 'gif' }, /outputType/],
      ['seed and generator', { generator: createGenerator(1) }, /seed/],
      ['64-bit seed as number', { seed: 2 ** 60 }, /seed/],
      ['tiling', { vaeTiling: { tileSize: 0 } }, /vaeTiling\.tileSize/],
      ['context', { contextLength: 8, contextOverlap: 8 }, /contextOverlap/],
      ['scheduler', { scheduler: 'NoSuchScheduler' }, /className/],
      ['cuda noise on cpu', { generatorDevice: 'cuda' }, /generatorDevice/],
      ['clip skip', { clipSkip: 5 }, /clipSkip/],
      ['misspelled option', { numInferenceStep: 2 }, /^numInferenceStep: unknown option of generate\(\); did you mean 'numInferenceSteps'\?$/],
      ['fps 0', { fps: 0 }, /^fps: expected a number > 0, got 0$/],
    ];
    it.each(cases)('%s', async (_name, extra, message) => {
      const spy = spyUnet(pipe);
      try {
        const err = await pipe.generate({ ...BASE, ...(extra as GenerateOptions) }).catch((e) => e);
        expect(err).toBeInstanceOf(Error);
        expect(err.message).toMatch(message);
        expect(spy.calls).toHaveLength(0);
      } finally {
        spy.restore();
      }
    });
  });

  it('guidance runs ONE UNet call per step on the batch [negative, positive]; guidance <= 1 runs batch 1', async () => {
    let spy = spyUnet(pipe);
    await pipe.generate({ ...BASE, guidanceScale: 7.5, outputType: 'latents' }).then((r) => (r as AnimateDiffLatentsOutput).latents.dispose());
    spy.restore();
    expect(spy.calls).toHaveLength(2);
    expect(spy.calls[0]).toEqual({ sample: [2, 4, 4, 8, 8], timestep: [2], context: [2, 77, 32] });
    spy = spyUnet(pipe);
    await pipe.generate({ ...BASE, guidanceScale: 1, outputType: 'latents' }).then((r) => (r as AnimateDiffLatentsOutput).latents.dispose());
    spy.restore();
    expect(spy.calls.map((c) => c.sample[0])).toEqual([1, 1]);
  });

  it('guidance 1 equals an unguided run (positive prompt only) and differs from guided', async () => {
    const g1 = frames(await pipe.generate({ ...BASE, guidanceScale: 1 }));
    const g0 = frames(await pipe.generate({ ...BASE, guidanceScale: 0, negativePrompt: 'ignored when unguided' }));
    const g3 = frames(await pipe.generate({ ...BASE, guidanceScale: 3 }));
    expect(equalBytes(g1, g0)).toBe(true);
    expect(equalBytes(g1, g3)).toBe(false);
  });

  it('precomputed promptEmbeds replace prompts', async () => {
    const { promptEmbeds, negativePromptEmbeds } = await pipe.encodePrompt(BASE.prompt, { negativePrompt: 'ugly' });
    const a = frames(await pipe.generate({ ...BASE, negativePrompt: 'ugly' }));
    const b = frames(await pipe.generate({ ...BASE, prompt: undefined, promptEmbeds, negativePromptEmbeds }));
    expect(equalBytes(a, b)).toBe(true);
    expect(promptEmbeds.disposed).toBe(false); // not consumed
    promptEmbeds.dispose();
    negativePromptEmbeds!.dispose();
  });

  it('clipSkip changes the text embeddings', async () => {
    const a = await pipe.encodePrompt('a cat', { doClassifierFreeGuidance: false });
    const b = await pipe.encodePrompt('a cat', { doClassifierFreeGuidance: false, clipSkip: 1 });
    expect(a.negativePromptEmbeds).toBeUndefined();
    expect(Array.from((await a.promptEmbeds.toArray()) as Float32Array)).not.toEqual(Array.from((await b.promptEmbeds.toArray()) as Float32Array));
    a.promptEmbeds.dispose();
    b.promptEmbeds.dispose();
  });

  describe('determinism', () => {
    it('same seed -> identical frames; different seeds differ; 64-bit seeds as BigInt/string', async () => {
      const a = frames(await pipe.generate(BASE));
      const b = frames(await pipe.generate(BASE));
      const c = frames(await pipe.generate({ ...BASE, seed: 43 }));
      expect(equalBytes(a, b)).toBe(true);
      expect(equalBytes(a, c)).toBe(false);
      const big1 = frames(await pipe.generate({ ...BASE, seed: 10589116295929063558n }));
      const big2 = frames(await pipe.generate({ ...BASE, seed: '10589116295929063558' }));
      expect(equalBytes(big1, big2)).toBe(true);
    });

    it('renders one video per seed, each equal to its single-seed run', async () => {
      const many = await pipe.generateMany({ ...BASE, seed: undefined, seeds: [42, 7] });
      expect(many).toHaveLength(2);
      expect(many.map((v) => v.seed)).toEqual([42n, 7n]);
      expect(equalBytes(many[0]!.frames, frames(await pipe.generate(BASE)))).toBe(true);
      expect(equalBytes(many[1]!.frames, frames(await pipe.generate({ ...BASE, seed: 7 })))).toBe(true);
      const perPrompt = await pipe.generateMany({ ...BASE, prompt: [BASE.prompt, 'a blue bird'] });
      expect(perPrompt).toHaveLength(2);
      expect(equalBytes(perPrompt[0]!.frames, many[0]!.frames)).toBe(true);
      // One call, one result type: generate() is one video, generateMany() always an array.
      const one: AnimateDiffPipelineOutput[] = await pipe.generateMany(BASE);
      expect(one).toHaveLength(1);
      expect(equalBytes(one[0]!.frames, many[0]!.frames)).toBe(true);
      const single: AnimateDiffPipelineOutput = await pipe.generate({ ...BASE, seed: undefined, seeds: [7] });
      expect(equalBytes(single.frames, many[1]!.frames)).toBe(true);
      await expect(pipe.generate({ ...BASE, seed: undefined, seeds: [42, 7] })).rejects.toThrow(
        'seeds: expected one video per generate() call (generateMany() renders several and returns an array), got "2 videos"',
      );
      await expect(pipe.generate({ ...BASE, prompt: ['a', 'b'] })).rejects.toThrow(/^prompt: expected one video per generate\(\) call/);
    });

    it('draws the initial noise exactly as torch.randn(shape, generator=torch.Generator().manual_seed(seed))', async () => {
      let first: Float32Array | undefined;
      const spy = spyUnet(pipe, async (args) => {
        first ??= (await (args[0] as Tensor).toArray()) as Float32Array;
      });
      try {
        await pipe.generate({ ...BASE, seed: 1234, guidanceScale: 1, numInferenceSteps: 1, outputType: 'latents' }).then((r) => (r as AnimateDiffLatentsOutput).latents.dispose());
      } finally {
        spy.restore();
      }
      const stdout = await python(
        'import torch, json; print(json.dumps(torch.randn([1,4,4,8,8], generator=torch.Generator().manual_seed(1234)).flatten()[:16].tolist()))',
      );
      const expected = JSON.parse(stdout) as number[];
      expect(Array.from(first!.slice(0, 16))).toEqual(expected.map(Math.fround));
    });

    it('uses given latents (and a user generator) instead of seeds', async () => {
      const latents = randn([1, 4, 4, 8, 8], { generator: createGenerator(42) });
      const a = (await pipe.generate({ ...BASE, seed: undefined, latents })) as AnimateDiffPipelineOutput;
      expect(a.seed).toBeUndefined();
      expect(equalBytes(a.frames, frames(await pipe.generate(BASE)))).toBe(true);
      expect(latents.disposed).toBe(false);
      latents.dispose();
      const b = frames(await pipe.generate({ ...BASE, seed: undefined, generator: createGenerator(42) }));
      expect(equalBytes(b, a.frames)).toBe(true);
    });
  });

  describe('schedulers', () => {
    it('uses the manifest scheduler by default, another by name or with config overrides', async () => {
      const ddim = frames(await pipe.generate(BASE));
      const euler = frames(await pipe.generate({ ...BASE, scheduler: 'EulerDiscreteScheduler' }));
      const dpm = frames(await pipe.generate({ ...BASE, numInferenceSteps: 3, scheduler: { className: 'DPMSolverMultistepScheduler', config: { solver_order: 2 } } }));
      const ddimLinspace = frames(await pipe.generate({ ...BASE, scheduler: { className: 'DDIMScheduler', config: { timestep_spacing: 'linspace' } } }));
      expect(equalBytes(ddim, euler)).toBe(false);
      expect(equalBytes(ddim, ddimLinspace)).toBe(false);
      expect(dpm.length).toBe(ddim.length);
    });
  });

  describe('progress and abort', () => {
    it('reports every step with elapsed and eta, then decode chunks; previews are tiny RGB frames', async () => {
      const events: ProgressEvent[] = [];
      await pipe.generate({ ...BASE, numInferenceSteps: 3, decodeChunkSize: 2, preview: true, onProgress: (e) => void events.push(e) });
      const denoise = events.filter((e) => e.stage === 'denoise');
      expect(denoise.map((e) => [e.step, e.total])).toEqual([
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
      expect(denoise.every((e) => e.elapsedMs >= 0 && e.etaMs >= 0)).toBe(true);
      expect(denoise[2]!.etaMs).toBe(0);
      expect(denoise[0]!.preview!.shape).toEqual([4, 8, 8, 3]);
      expect(denoise[0]!.preview!.frames.length).toBe(4 * 8 * 8 * 3);
      expect(events.filter((e) => e.stage === 'decode').map((e) => e.step)).toEqual([1, 2]);
    });

    it('stops between steps when aborted: rejects with AbortError and frees its tensors', async () => {
      await pipe.generate(BASE); // warm up caches
      await settle();
      const baseline = memoryStats().hostBytes;
      const ac = new AbortController();
      const spy = spyUnet(pipe);
      const err = await pipe
        .generate({ ...BASE, numInferenceSteps: 5, signal: ac.signal, onProgress: (e) => e.step === 2 && ac.abort(new Error('user')) })
        .catch((e) => e);
      spy.restore();
      expect(err).toBeInstanceOf(AbortError);
      expect(spy.calls).toHaveLength(2);
      // no GC in between: every tensor of the run was disposed explicitly (GC could only lower the figure)
      expect(memoryStats().hostBytes).toBeLessThanOrEqual(baseline);
      // an already-aborted signal rejects before any work
      await expect(pipe.generate({ ...BASE, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
      expect(memoryStats().hostBytes).toBeLessThanOrEqual(baseline);
    });
  });

  it('stops within a step: between the UNet calls of context windows, and between VAE chunks', async () => {
    const ac = new AbortController();
    // 8 frames in windows of 4 (overlap 2): 3 UNet calls per step; abort during the first
    const spy = spyUnet(pipe, () => void (spy?.calls.length === 1 && ac.abort()));
    const err = await pipe.generate({ ...BASE, numFrames: 8, contextLength: 4, contextOverlap: 2, signal: ac.signal }).catch((e) => e);
    spy.restore();
    expect(err).toBeInstanceOf(AbortError);
    expect(spy.calls).toHaveLength(1);

    const ac2 = new AbortController();
    const original = pipe.vae.forward;
    let decodes = 0;
    pipe.vae.forward = (...a: ModuleInput[]) => (++decodes === 1 && ac2.abort(), original.apply(pipe.vae, a));
    try {
      const err2 = await pipe.generate({ ...BASE, decodeChunkSize: 1, signal: ac2.signal }).catch((e) => e);
      expect(err2).toBeInstanceOf(AbortError);
      expect(decodes).toBe(1); // of 4 chunks
    } finally {
      pipe.vae.forward = original;
    }
  });

  describe('decoding', () => {
    it("outputType 'latents' + decodeLatents equals the full run", async () => {
      const full = frames(await pipe.generate(BASE));
      const r = (await pipe.generate({ ...BASE, outputType: 'latents' })) as AnimateDiffLatentsOutput;
      expect(r.latents.shape).toEqual([1, 4, 4, 8, 8]);
      const decoded = await pipe.decodeLatents(r.latents);
      expect(equalBytes(decoded.frames, full)).toBe(true);
      // other VAE batch sizes: same up to BLAS noise, so at most 1 level after rounding
      const chunked = await pipe.decodeLatents(r.latents, { decodeChunkSize: 1 });
      expect(maxDiff(chunked.frames, full)).toBeLessThanOrEqual(1);
      r.latents.dispose();
    });

    it('a decode failure keeps the sampled latents on the error', async () => {
      const expected = frames(await pipe.generate(BASE));
      const original = pipe.vae.forward;
      pipe.vae.forward = async () => {
        throw new Error('CUDA out of memory (simulated)');
      };
      let err: VaeDecodeError;
      try {
        err = await pipe.generate(BASE).catch((e) => e);
      } finally {
        pipe.vae.forward = original;
      }
      expect(err).toBeInstanceOf(VaeDecodeError);
      expect(err.message).toMatch(/decode failed.*error\.latents.*out of memory/s);
      expect(err.latents.shape).toEqual([1, 4, 4, 8, 8]);
      const retry = await pipe.decodeLatents(err.latents);
      expect(equalBytes(retry.frames, expected)).toBe(true);
      err.latents.dispose();
    });

    it('decodes tiled with the given tile size', async () => {
      const shapes: number[][] = [];
      const original = pipe.vae.forward;
      pipe.vae.forward = (...a: ModuleInput[]) => (shapes.push((a[0] as Tensor).shape), original.apply(pipe.vae, a));
      try {
        const r = (await pipe.generate({ ...BASE, width: 96, vaeTiling: { tileSize: 8, overlap: 0.25 } })) as AnimateDiffPipelineOutput;
        expect(r.shape).toEqual([4, 64, 96, 3]);
      } finally {
        pipe.vae.forward = original;
      }
      expect(shapes).toEqual([
        [4, 4, 8, 8],
        [4, 4, 8, 6],
      ]);
    });
  });

  describe('context windows', () => {
    it('with frames <= contextLength equals the plain path exactly', async () => {
      const plain = frames(await pipe.generate(BASE));
      for (const contextLength of [4, 8, 32]) expect(equalBytes(frames(await pipe.generate({ ...BASE, contextLength })), plain)).toBe(true);
    });

    it('runs 2x contextLength frames window by window (uniform and looped)', async () => {
      for (const contextSchedule of ['uniform', 'looped'] as const) {
        const spy = spyUnet(pipe);
        const r = (await pipe.generate({ ...BASE, numFrames: 8, contextLength: 4, contextOverlap: 1, contextSchedule })) as AnimateDiffPipelineOutput;
        spy.restore();
        expect(r.shape).toEqual([8, 64, 64, 3]);
        expect(spy.calls.every((c) => c.sample[2] === 4 && c.sample[0] === 2)).toBe(true);
        // uniform: [0-3] [3-6] [4-7]; looped: [s..s+3], ... wrapping, 3 windows for 8 frames at stride 3
        expect(spy.calls).toHaveLength(2 * 3);
      }
      const a = frames(await pipe.generate({ ...BASE, numFrames: 8, contextLength: 4 }));
      const b = frames(await pipe.generate({ ...BASE, numFrames: 8, contextLength: 8 }));
      expect(equalBytes(a, b)).toBe(false);
    });

    it('rejects context windows longer than the motion module allows', async () => {
      await expect(pipe.generate({ ...BASE, numFrames: 40, contextLength: 40 })).rejects.toThrow(/contextLength.*32/);
    });
  });

  it('dispose() frees the models; later calls throw', async () => {
    const other = await loadPipeline(await exportedModel('tiny-v2', 0));
    await other[Symbol.asyncDispose]();
    expect(other.disposed).toBe(true);
    expect(other.unet.disposed).toBe(true);
    other.dispose();
    await expect(other.generate(BASE)).rejects.toThrow(/dispose/);
  });
});

// diffusers' AnimateDiffPipeline on the same tiny random model (weights mapped onto UNetMotionModel):
// test/fixtures/animatediff-pipeline.json, written by scripts/reference/animatediff_pipeline.py.
describe("against diffusers' AnimateDiffPipeline", () => {
  const ref = readDiffusersFixture('animatediff-pipeline.json');
  let pipe: AnimateDiffPipeline;
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
  });
  afterAll(() => pipe?.dispose());

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`guided latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const r = await generateAsReference(pipe, ref, c);
      expect(r.shape).toEqual(c.shape);
      expect(await worstDifference(r, c, name)).toBeLessThan(1e-4);
    });
  }
});

describe('a model folder without text encoder', () => {
  let pipe: AnimateDiffPipeline;
  beforeAll(async () => {
    pipe = await loadPipeline(await exportedModel('tiny-v2', 0, ['--no-text-encoder']));
  });
  afterAll(() => pipe?.dispose());

  it('renders from embeddings, and says to pass them when given text', async () => {
    expect(pipe.textEncoder).toBeUndefined();
    const promptEmbeds = randn([1, 77, 32], { generator: createGenerator(1) });
    const negativePromptEmbeds = randn([1, 77, 32], { generator: createGenerator(2) });
    const { prompt: _p, ...rest } = BASE;
    const r = (await pipe.generate({ ...rest, promptEmbeds, negativePromptEmbeds })) as AnimateDiffPipelineOutput;
    expect(r.shape).toEqual([4, 64, 64, 3]);
    const unguided = (await pipe.generate({ ...rest, promptEmbeds, guidanceScale: 1 })) as AnimateDiffPipelineOutput;
    expect(unguided.shape).toEqual([4, 64, 64, 3]);
    await expect(pipe.generate(BASE)).rejects.toThrow(/promptEmbeds/);
    await expect(pipe.generate({ ...rest, promptEmbeds })).rejects.toThrow(/negativePromptEmbeds/);
    const err = await pipe.encodePrompt('x').catch((e) => e);
    expect(err).toBeInstanceOf(InvalidParameterError);
    promptEmbeds.dispose();
    negativePromptEmbeds.dispose();
  });
});
