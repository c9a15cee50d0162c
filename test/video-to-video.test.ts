// Video-to-video: generate({ video, strength }) against diffusers' AnimateDiffVideoToVideoPipeline on the
// tiny random model (UNet and VAE weights mapped onto diffusers' models): test/fixtures/animatediff-video2video.json,
// written by scripts/reference/animatediff_video2video.py.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersCase, generateAsReference, loadFixturePipeline, readDiffusersFixture, worstDifference } from './utils/diffusers-fixture';
import { AbortError, InvalidParameterError } from '../lib/errors';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { tensor } from '../lib/tensor-factories';

type Case = DiffusersCase & { strength: number; enforce_inference_steps: boolean; decode_chunk_size: number };
const ref = readDiffusersFixture<Case>('animatediff-video2video.json');

/** The reference script's input_frames(): uint8 [F, H, W, 3]. */
function inputFrames(f: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(f * h * w * 3);
  let i = 0;
  for (let k = 0; k < f; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[i++] = (37 * k + 5 * y + 3 * x + 80 * c + ((x * y) % 7) * 11) % 256;
  return out;
}

describe("video-to-video against diffusers' AnimateDiffVideoToVideoPipeline", () => {
  let pipe: AnimateDiffPipeline;
  const video = { frames: inputFrames(ref.num_frames, ref.height, ref.width), shape: [ref.num_frames, ref.height, ref.width, 3] as [number, number, number, 3] };
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
  });
  afterAll(() => pipe?.dispose());

  const run = (c: Case, extra: Partial<GenerateOptions> = {}) =>
    generateAsReference(pipe, ref, c, { video, strength: c.strength, enforceInferenceSteps: c.enforce_inference_steps, decodeChunkSize: c.decode_chunk_size, ...extra });

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const r = await run(c);
      expect(r.shape).toEqual(c.shape);
      expect(await worstDifference(r, c, name)).toBeLessThan(1e-4);
    });
  }

  it('takes the video as a uint8 Tensor [F, H, W, 3] too, with the same result', async () => {
    const c = ref.cases['ddim_strength_0.6']!;
    const t = tensor(video.frames, [...video.shape]);
    const a = await run(c);
    const b = await run(c, { video: t });
    expect(await b.latents.toArray()).toEqual(await a.latents.toArray());
    for (const x of [a.latents, b.latents, t]) x.dispose();
  });

  it('runs only the steps strength keeps, and progress counts them', async () => {
    const c = ref.cases['ddim_strength_0.6']!;
    const steps: number[] = [];
    const r = await run(c, { onProgress: (e) => void (e.stage === 'denoise' && steps.push(e.timestep!)) });
    r.latents.dispose();
    expect(steps).toEqual([401, 201, 1]); // DDIM leading + steps_offset 1 over 5 steps: 801..1; strength 0.6 keeps the last 3
  });

  it('aborts between steps and frees everything', async () => {
    const c = ref.cases['ddim_strength_0.6']!;
    const ac = new AbortController();
    const err = await run(c, { signal: ac.signal, onProgress: () => ac.abort() }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
  });

  it('rejects bad video options with errors naming them', async () => {
    const base = { prompt: 'x', video, numInferenceSteps: 4 } satisfies GenerateOptions;
    const fails = async (o: GenerateOptions, re: RegExp) => {
      const e = await pipe.generate(o).catch((x) => x);
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect(e.message).toMatch(re);
    };
    await fails({ ...base, strength: 1.5 }, /^strength: expected a number in \[0, 1\], got 1\.5/);
    await fails({ ...base, strength: -0.1 }, /^strength: expected a number in \[0, 1\]/);
    await fails({ ...base, strength: 0.2 }, /^strength: .*1 \/ numInferenceSteps/);
    await fails({ ...base, numFrames: 8 }, /^video: expected 8 frames \(numFrames\), got "?4 frames/);
    await fails({ ...base, width: 128 }, /^video: expected frames of 128x64 \(width x height\), got "?64x64/);
    await fails({ ...base, video: { frames: new Uint8Array(10), shape: [4, 64, 64, 3] } }, /^video: expected frames of length/);
    await fails({ ...base, video: { frames: video.frames, shape: [4, 64, 64] } as never }, /^video: expected frames \[F, H, W, 3\]/);
    await fails({ prompt: 'x', strength: 0.5 }, /^strength: expected to be given with video/);
    await fails({ ...base, enforceInferenceSteps: 'yes' as never }, /^enforceInferenceSteps: expected a boolean/);
  });
});
