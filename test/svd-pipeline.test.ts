/**
 * StableVideoDiffusionPipeline against diffusers' own (test/fixtures/stable-video-diffusion.json, written by
 * scripts/reference/stable_video_diffusion.py on the tiny random SVD model): UNet outputs at two continuous
 * timesteps, the chunked temporal decoding and the whole pipeline's latents, each within 1e-4.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '../lib/errors';
import { createGenerator } from '../lib/generator';
import { EulerDiscreteScheduler } from '../lib/schedulers/euler-discrete';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import type { StableVideoDiffusionPipeline } from '../lib/pipelines/stable-video-diffusion';
import type { DenoiseProgress, ProgressEvent } from '../lib/pipelines/progress';
import { imageToTensor } from '../lib/pipelines/svd-image';
import { Tensor } from '../lib/tensor';
import { full, randn, tensor } from '../lib/tensor-factories';
import { exportedSvdModel } from './utils/svd-model';

interface SvdFixture {
  height: number;
  width: number;
  num_frames: number;
  unet: { sample_seed: number; embeds_seed: number; shape: number[]; added_time_ids: number[][]; timesteps: number[]; outputs: number[][] };
  decoder: { latents_seed: number; shape: number[]; decode_chunk_size: number; frames_shape: number[]; frames: number[] };
  pipeline: {
    fps: number; motion_bucket_id: number; noise_aug_strength: number; min_guidance_scale: number; max_guidance_scale: number;
    num_inference_steps: number; latents_seed: number; scheduler: Record<string, unknown>; sigmas: number[]; timesteps: number[];
    shape: number[]; latents: number[];
  };
}

const ref = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'stable-video-diffusion.json'), 'utf8')) as SvdFixture;
const TOLERANCE = 1e-4;

/** |ours − diffusers| / (1 + |diffusers|), the worst over all values. */
function worst(got: ArrayLike<number>, want: number[]): number {
  expect(got.length).toBe(want.length);
  let w = 0;
  for (let i = 0; i < want.length; i++) w = Math.max(w, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  if (process.env.ANIMATORCH_PRINT_DIFFS) console.log(`worst ${w.toExponential(2)}`);
  return w;
}

/** The reference script's IMAGE formula, uint8 [H, W, 3]. */
function image(height: number, width: number): { data: Uint8Array; shape: number[] } {
  const data = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (7 * x + 3 * y) % 256;
      data[o + 1] = (5 * x * y + 11) % 256;
      data[o + 2] = ((x ^ y) * 3) % 256;
    }
  return { data, shape: [height, width, 3] };
}

let pipe: StableVideoDiffusionPipeline;
beforeAll(async () => {
  pipe = await loadPipeline(await exportedSvdModel(0), { family: 'svd' });
}, 180_000);
afterAll(() => pipe?.dispose());

const p = ref.pipeline;
const settings = () => ({
  image: image(ref.height, ref.width), numFrames: ref.num_frames, numInferenceSteps: p.num_inference_steps, fps: p.fps,
  motionBucketId: p.motion_bucket_id, noiseAugStrength: p.noise_aug_strength, minGuidanceScale: p.min_guidance_scale,
  maxGuidanceScale: p.max_guidance_scale, seed: p.latents_seed,
});

describe('Stable Video Diffusion against diffusers', () => {
  it("EulerDiscrete with SVD's config: Karras sigmas from sigma_max 700, continuous timesteps 0.25·log σ", () => {
    const s = new EulerDiscreteScheduler(p.scheduler);
    s.setTimesteps(p.num_inference_steps);
    expect(worst(s.sigmas, p.sigmas)).toBeLessThan(1e-6);
    expect(worst(s.timesteps, p.timesteps)).toBeLessThan(1e-6);
    expect(s.initNoiseSigma).toBeCloseTo(Math.sqrt(700 * 700 + 1), 3);
  });

  it('UNet outputs at two timesteps', async () => {
    const u = ref.unet;
    const sample = randn(u.shape, { generator: createGenerator(u.sample_seed) });
    const embeds = randn([u.shape[0]!, 1, 32], { generator: createGenerator(u.embeds_seed) });
    const ids = tensor(new Float32Array(u.added_time_ids.flat()), [u.shape[0]!, 3]);
    try {
      for (let k = 0; k < 2; k++) {
        const ts = full([u.shape[0]!], u.timesteps[k]!);
        const out = (await pipe.unet.forward(sample, ts, embeds, ids)) as Tensor;
        ts.dispose();
        expect(out.shape).toEqual([2, 3, 4, 4, 6]);
        expect(worst((await out.toArray()) as Float32Array, u.outputs[k]!)).toBeLessThan(TOLERANCE);
        out.dispose();
      }
    } finally {
      for (const t of [sample, embeds, ids]) t.dispose();
    }
  });

  it('decodes latents in chunks of decodeChunkSize frames, each with num_frames = its length', async () => {
    const d = ref.decoder;
    const z = randn(d.shape, { generator: createGenerator(d.latents_seed) });
    try {
      const video = await pipe.decodeLatents(z, { decodeChunkSize: d.decode_chunk_size, outputType: 'float' });
      expect([1, ...video.shape]).toEqual(d.frames_shape);
      expect(worst(video.frames, d.frames)).toBeLessThan(TOLERANCE);
      // one chunk of all 4 frames mixes them differently: the chunking is really applied
      const whole = await pipe.decodeLatents(z, { decodeChunkSize: 4, outputType: 'float' });
      expect(worst(whole.frames, d.frames)).toBeGreaterThan(1e-3);
    } finally {
      z.dispose();
    }
  });

  it("the whole pipeline's latents for a fixed image, seed and 4 steps", async () => {
    const out = await pipe.generate({ ...settings(), outputType: 'latents' });
    expect(out.shape).toEqual(p.shape);
    expect(out.seed).toBe(BigInt(p.latents_seed));
    expect(worst((await out.latents.toArray()) as Float32Array, p.latents)).toBeLessThan(TOLERANCE);
    out.latents.dispose();
  }, 120_000);

  it('imageEmbeds + imageLatents instead of the image give the same latents', async () => {
    const img = await imageToTensor(image(ref.height, ref.width), 'cpu');
    const imageEmbeds = await pipe.encodeImage(img);
    img.dispose();
    expect(imageEmbeds.shape).toEqual([1, 1, 32]);
    const { image: _unused, ...rest } = settings();
    void _unused;
    // imageLatents: encoded from the noise-augmented image, as generate() does (same generator draw first)
    const g = createGenerator(p.latents_seed);
    const noise = randn([1, 3, ref.height, ref.width], { generator: g });
    const img2 = await imageToTensor(image(ref.height, ref.width), 'cpu');
    const augmented = img2.mul(2).sub(1).add(noise.mul(p.noise_aug_strength));
    const imageLatents = (await pipe.vaeEncoder.forward(augmented)) as Tensor;
    for (const t of [noise, img2, augmented]) t.dispose();
    try {
      const out = await pipe.generate({ ...rest, imageEmbeds, imageLatents, outputType: 'latents' });
      expect(worst((await out.latents.toArray()) as Float32Array, p.latents)).toBeLessThan(TOLERANCE);
      out.latents.dispose();
    } finally {
      imageEmbeds.dispose();
      imageLatents.dispose();
    }
  }, 120_000);
});

describe('StableVideoDiffusionPipeline.generate()', () => {
  it('decodes to uint8 frames with progress, latent previews and the seed', async () => {
    const events: ProgressEvent[] = [];
    const out = await pipe.generate({ ...settings(), numInferenceSteps: 2, decodeChunkSize: 3, preview: true, onProgress: (e) => events.push(e) });
    expect(out.shape).toEqual([4, ref.height, ref.width, 3]);
    expect(out.frames).toBeInstanceOf(Uint8Array);
    expect(out.fps).toBe(7);
    const denoise = events.filter((e): e is DenoiseProgress => e.stage === 'denoise');
    expect(denoise.map((e) => e.step)).toEqual([1, 2]);
    expect(denoise[0]!.preview!.shape).toEqual([4, ref.height / 8, ref.width / 8, 3]);
    expect(events.filter((e) => e.stage === 'decode').map((e) => e.total)).toEqual([2, 2]);
  }, 120_000);

  it('stops on abort with an AbortError', async () => {
    const ctrl = new AbortController();
    const run = pipe.generate({ ...settings(), signal: ctrl.signal, onProgress: () => ctrl.abort() });
    await expect(run).rejects.toBeInstanceOf(AbortError);
  }, 120_000);

  it('names the option at fault', async () => {
    await expect(pipe.generate({ ...settings(), motionBucketID: 3 } as never)).rejects.toThrow(/motionBucketID.*motionBucketId/);
    await expect(pipe.generate({ ...settings(), width: 64 })).rejects.toThrow(/width.*704×64/);
    await expect(pipe.generate({ numFrames: 4 })).rejects.toThrow(/image/);
    await expect(pipe.generate({ ...settings(), imageEmbeds: full([1, 1, 7], 0) })).rejects.toThrow(/imageEmbeds/);
  });
});
