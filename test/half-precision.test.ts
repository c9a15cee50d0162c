// Half precision on CPU. Where this libtorch has the kernels (bfloat16 on 1.13 and 2.x,
// float16 on 2.x), an exported model and the demo model render in that dtype, close to
// float32; where it lacks them (float16 on 1.13), loadPipeline refuses in one line that
// names the dtype, the device and the missing kernels, before any module loads.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { versions } from '../lib';
import { binding } from '../lib/native/binding';
import { torchDtype } from '../lib/tensor-options';
import type { AnimateDiffPipelineOutput } from '../lib/pipelines/pipeline-output';
import type { GenerateOptions } from '../lib/pipelines/animatediff-inputs';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import { exportedModel, repoRoot } from './utils/fixtures';

const BASE = { prompt: 'a red fox running in the snow', width: 64, height: 64, numFrames: 4, numInferenceSteps: 3, seed: 7, outputType: 'float' } satisfies GenerateOptions;

async function render(dir: string, dtype: 'float32' | 'float16' | 'bfloat16', seed = BASE.seed): Promise<Float32Array> {
  const pipe = await loadPipeline(dir, { dtype });
  try {
    expect(pipe.dtype).toBe(dtype);
    return ((await pipe.generate({ ...BASE, seed })) as AnimateDiffPipelineOutput<Float32Array>).frames;
  } finally {
    pipe.dispose();
  }
}

// The demo model (trained, tiny) drifts far from its float32 render in bfloat16 on libtorch
// 1.13 over a few steps, so for it only "renders" is asserted (it crashed before: its integer
// token_embedding.id_map was cast to the float dtype); closeness is checked on the export.
describe.each([
  ['an export (tiny-v2)', () => exportedModel('tiny-v2', 0), true],
  ['the demo model', async () => path.join(repoRoot, 'models', 'demo'), false],
])('half precision on CPU: %s', (_, folder, close) => {
  it.each(['bfloat16', 'float16'] as const)('%s renders where the kernels exist (close to float32 for the export), else is refused up front', async (dtype) => {
    const dir = await folder();
    const missing = binding().missingKernels('cpu', torchDtype(dtype));
    if (missing.length) {
      // libtorch 1.13: float16 has no CPU LayerNorm, convolution, ...
      expect(versions().libtorch.startsWith('1.')).toBe(true);
      const err = (await loadPipeline(dir, { dtype }).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(new RegExp(`^dtype: ${dtype} is not supported on cpu by libtorch \\S+ \\(no ${dtype} kernel for .*layer_norm.*\\); use float32`));
      expect(err.message).not.toMatch(/\n/);
      return;
    }
    const [ref, half] = [await render(dir, 'float32'), await render(dir, dtype)];
    expect(half.length).toBe(ref.length);
    expect(half.every((v) => v >= 0 && v <= 1)).toBe(true);
    if (!close) return;
    const other = await render(dir, 'float32', BASE.seed + 1);
    const meanAbs = (a: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - ref[i]!), 0) / a.length;
    expect(meanAbs(half)).toBeGreaterThan(0); // it did compute in another dtype
    // The same video, rounded: far closer to float32's than another seed's video is.
    expect(meanAbs(half)).toBeLessThan(0.5 * meanAbs(other));
  });
});

it('torch 2.x has every kernel the models use in float16 and bfloat16 on CPU', (ctx) => {
  if (versions().libtorch.startsWith('1.')) ctx.skip();
  expect(binding().missingKernels('cpu', torchDtype('float16'))).toEqual([]);
  expect(binding().missingKernels('cpu', torchDtype('bfloat16'))).toEqual([]);
});
