// Image-to-video: generate({ image, strength }) is video-to-video of the still repeated over the frames
// (stable-diffusion.cpp's semantics); anchorFirstFrame keeps frame 0 on the image's re-noised latent.
// On the tiny random model of the video-to-video fixture (its export, embeddings, seed and schedulers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAsReference, loadFixturePipeline, readDiffusersFixture, type DiffusersCase } from './utils/diffusers-fixture';
import { InvalidParameterError } from '../lib/errors';
import { createGenerator } from '../lib/generator';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { repeatImage } from '../lib/pipelines/image-to-video';
import { createScheduler } from '../lib/schedulers';
import type { Scheduler } from '../lib/schedulers/scheduling-utils';
import { Tensor } from '../lib/tensor';
import { randn, tensor } from '../lib/tensor-factories';
import { loadModule } from '../lib/torchscript-module';

const ref = readDiffusersFixture<DiffusersCase & { strength: number }>('animatediff-video2video.json');
const { width: W, height: H, num_frames: F } = ref;

/** A still with structure in every channel: uint8 [H, W, 3]. */
function still(): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  let i = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) out[i++] = (7 * y + 3 * x + 90 * c + ((x ^ y) % 5) * 13) % 256;
  return out;
}

const maxAbsDiff = async (a: Tensor, b: Tensor) => {
  const x = (await a.toArray()) as Float32Array;
  const y = (await b.toArray()) as Float32Array;
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
};

describe('image-to-video (generate({ image, strength }))', () => {
  let pipe: AnimateDiffPipeline;
  const image = { data: still(), shape: [H, W, 3] as [number, number, number] };
  const ddim = ref.cases['ddim_strength_0.6']!;
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
  });
  afterAll(() => pipe?.dispose());

  const run = (extra: Partial<GenerateOptions>, c: DiffusersCase = ddim) => generateAsReference(pipe, ref, c, { strength: 0.6, ...extra });

  it('equals video-to-video of the still repeated over the frames (bit for bit), from { data, shape } or a Tensor', async () => {
    const video = repeatImage(image, F) as { frames: Uint8Array; shape: number[] };
    expect(video.shape).toEqual([F, H, W, 3]);
    const v2v = await run({ video });
    const i2v = await run({ image });
    const t = tensor(image.data, [H, W, 3]);
    const i2vTensor = await run({ image: t });
    expect(i2v.shape).toEqual([1, 4, F, H / 8, W / 8]);
    expect(await i2v.latents.toArray()).toEqual(await v2v.latents.toArray());
    expect(await i2vTensor.latents.toArray()).toEqual(await v2v.latents.toArray());
    expect(t.disposed).toBe(false); // not consumed
    for (const x of [v2v.latents, i2v.latents, i2vTensor.latents, t]) x.dispose();
  });

  for (const name of ['ddim_strength_0.6', 'euler_strength_0.6'] as const) {
    it(`anchorFirstFrame: frame 0 enters every step as the image latent re-noised to that timestep, and ends as the image latent (${name})`, async () => {
      const c = ref.cases[name]!;
      // The expected anchor, computed apart from the pipeline: the VAE posterior of the repeated still sampled with
      // the seed's first draw [F, 4, h, w] (one chunk), times the scaling factor; then the noise [1, F, 4, h, w].
      const encoder = await loadModule(pipe.manifest.vae.encoderFile!);
      const pixels = tensor(image.data, [1, H, W, 3]).astype('float32').div(255).mul(2).sub(1).permute([0, 3, 1, 2]).contiguous();
      const [mean, logvar] = (await encoder.call('moments', pixels)) as Tensor[];
      const gen = createGenerator(ref.latents_seed);
      const eps = randn([F, 4, H / 8, W / 8], { generator: gen });
      const noise = randn([1, F, 4, H / 8, W / 8], { generator: gen });
      const imageLatent = mean!.add(logvar!.mul(0.5).exp().mul(eps.narrow(0, 0, 1))).mul(pipe.manifest.vae.scalingFactor).unsqueeze(2); // [1, 4, 1, h, w]
      const noise0 = noise.narrow(1, 0, 1).permute([0, 2, 1, 3, 4]).contiguous();

      // Record what each scheduler step sees.
      const scheduler = createScheduler(c.scheduler.className, { ...(pipe.manifest.scheduler as Record<string, unknown>), ...c.scheduler.config }) as Scheduler;
      const seen: { t: number; first: Tensor; rest: Tensor }[] = [];
      const step = scheduler.step.bind(scheduler);
      scheduler.step = (eps, t, sample, o) => {
        seen.push({ t, first: sample.narrow(2, 0, 1).clone(), rest: sample.narrow(2, 1, F - 1).clone() });
        return step(eps, t, sample, o);
      };
      const anchored = await run({ image, anchorFirstFrame: true, scheduler }, c);
      const plain = await run({ image }, c);
      try {
        if (name.startsWith('ddim')) expect(seen.map((s) => s.t)).toEqual([401, 201, 1]);
        expect(seen.length).toBe(3);
        for (const [i, s] of seen.entries()) {
          const want = scheduler.addNoise(imageLatent, noise0, s.t);
          expect(await maxAbsDiff(s.first, want), `step ${i} (t=${s.t})`).toBeLessThan(1e-5);
          want.dispose();
        }
        // After the last step, frame 0 is the clean image latent.
        const last = anchored.latents.narrow(2, 0, 1);
        expect(await maxAbsDiff(last, imageLatent)).toBeLessThan(1e-5);
        // Unanchored, frame 0 is denoised freely and leaves the image latent; the anchor also moves the other frames
        // (the motion module attends across frames), which plain i2v leaves alone.
        const plainFirst = plain.latents.narrow(2, 0, 1);
        expect(await maxAbsDiff(plainFirst, imageLatent)).toBeGreaterThan(1e-2);
        expect(await maxAbsDiff(anchored.latents.narrow(2, 1, F - 1), plain.latents.narrow(2, 1, F - 1))).toBeGreaterThan(1e-4);
      } finally {
        for (const s of seen) (s.first.dispose(), s.rest.dispose());
        for (const x of [anchored.latents, plain.latents, pixels, mean!, logvar!, eps, noise, imageLatent, noise0]) x.dispose();
        encoder.dispose();
        scheduler.dispose?.();
      }
    });
  }

  it('rejects bad image options with errors naming them', async () => {
    const base = { prompt: 'x', numInferenceSteps: 4, width: W, height: H, numFrames: F } satisfies GenerateOptions;
    const fails = async (o: GenerateOptions, re: RegExp) => {
      const e = await pipe.generate(o).catch((x) => x);
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect(e.message).toMatch(re);
    };
    const video = repeatImage(image, F);
    await fails({ ...base, image, video }, /^image: expected to be left out when video is given/);
    await fails({ ...base, anchorFirstFrame: true }, /^anchorFirstFrame: expected to be given with image/);
    await fails({ ...base, image, anchorFirstFrame: 'yes' as never }, /^anchorFirstFrame: expected a boolean/);
    await fails({ ...base, image, width: 128 }, /^image: expected pixels of 128x64 \(width x height\), got "?64x64/);
    await fails({ ...base, image: { data: image.data, shape: [H, W] } as never }, /^image: expected an RGB image \[H, W, 3\]/);
    await fails({ ...base, image: { data: new Uint8Array(9), shape: [H, W, 3] } }, /^image: expected data of length H·W·3/);
    await fails({ ...base, image, strength: 1.5 }, /^strength: expected a number in \[0, 1\]/);
    await fails({ ...base, image, freeInit: true }, /^freeInit: expected to be left out with video or image/);
  });
});
