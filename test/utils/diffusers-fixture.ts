/**
 * The fixtures scripts/reference/*.py record from diffusers' own pipelines on the tiny random model:
 * the same export, seeded prompt embeddings and latents seed, and one final-latents array per case.
 * One reader, one generate() call and one tolerance for every test that compares with them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createGenerator } from '../../lib/generator';
import type { AnimateDiffPipeline } from '../../lib/pipelines/animatediff';
import type { GenerateOptions } from '../../lib/pipelines/animatediff-inputs';
import { loadPipeline } from '../../lib/pipelines/load-pipeline';
import type { AnimateDiffLatentsOutput } from '../../lib/pipelines/pipeline-output';
import { randn } from '../../lib/tensor-factories';
import { exportedModel } from './fixtures';

export interface DiffusersCase {
  scheduler: { className: string; config: Record<string, unknown> };
  num_inference_steps: number;
  guidance_scale: number;
  shape: number[];
  latents: number[];
}

export interface DiffusersFixture<C extends DiffusersCase> {
  export: { preset: string; seed: number; numerics: string };
  width: number;
  height: number;
  num_frames: number;
  prompt_embeds_seed: number;
  negative_prompt_embeds_seed: number;
  latents_seed: number;
  cases: Record<string, C>;
}

export function readDiffusersFixture<C extends DiffusersCase = DiffusersCase>(file: string): DiffusersFixture<C> {
  return JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', file), 'utf8')) as DiffusersFixture<C>;
}

/** The fixture's model, exported as the reference script built it. */
export async function loadFixturePipeline(ref: DiffusersFixture<DiffusersCase>): Promise<AnimateDiffPipeline> {
  return loadPipeline(await exportedModel(ref.export.preset, ref.export.seed, ['--numerics', ref.export.numerics]));
}

/** generate() with the reference script's seeded embeddings (torch's CPU stream), sizes, scheduler and guidance. */
export async function generateAsReference(pipe: AnimateDiffPipeline, ref: DiffusersFixture<DiffusersCase>, c: DiffusersCase, extra: Partial<GenerateOptions> = {}): Promise<AnimateDiffLatentsOutput> {
  const shape = [1, 77, pipe.manifest.crossAttentionDim];
  const promptEmbeds = randn(shape, { generator: createGenerator(ref.prompt_embeds_seed) });
  const negativePromptEmbeds = randn(shape, { generator: createGenerator(ref.negative_prompt_embeds_seed) });
  try {
    return (await pipe.generate({
      promptEmbeds,
      negativePromptEmbeds,
      width: ref.width,
      height: ref.height,
      numFrames: ref.num_frames,
      guidanceScale: c.guidance_scale,
      numInferenceSteps: c.num_inference_steps,
      scheduler: c.scheduler,
      seed: ref.latents_seed,
      outputType: 'latents',
      ...extra,
    })) as AnimateDiffLatentsOutput;
  } finally {
    promptEmbeds.dispose();
    negativePromptEmbeds.dispose();
  }
}

/**
 * The largest |ours - diffusers| / (1 + |diffusers|): 1e-4 absolute plus 1e-4 relative, as the scheduler
 * goldens, since the random UNet's latents reach |100|. Disposes the output's latents.
 */
export async function worstDifference(out: AnimateDiffLatentsOutput, c: DiffusersCase, name: string): Promise<number> {
  const got = (await out.latents.toArray()) as Float32Array;
  out.latents.dispose();
  if (got.length !== c.latents.length) throw new Error(`${name}: ${got.length} latents, the fixture has ${c.latents.length}`);
  const worst = Math.max(...c.latents.map((w, i) => Math.abs(got[i]! - w) / (1 + Math.abs(w))));
  if (process.env.ANIMATORCH_PRINT_DIFFS) console.log(`${name}: worst ${worst.toExponential(2)}, max |latent| ${Math.max(...c.latents.map(Math.abs)).toFixed(2)}`);
  return worst;
}
