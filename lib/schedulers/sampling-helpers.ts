/**
 * What the schedulers' step() and addNoise() share: argument checks, the model
 * output conversions (prediction_type), step-index lookup, and drawing noise
 * the way diffusers' randn_tensor does.
 */
import { InvalidParameterError } from '../errors';
import { Generator } from '../generator';
import { assertDevice, type DType, keep, Tensor, tidy } from '../tensor';
import { randn, tensor } from '../tensor-factories';
import { sameDevice } from '../tensor-options';

import { assertInteger, assertNumber, isPlainObject } from '../validate';
import { f32, type SchedulerOutput, sqrt32, type StepOptions } from './scheduling-utils';

// Arguments.

export function assertSteps(n: unknown, trainSteps: number, name = 'numInferenceSteps'): asserts n is number {
  assertInteger(name, n, 1, trainSteps);
}

export function checkSetTimestepsOptions(options: unknown): void {
  if (options === undefined) return;
  if (!isPlainObject(options)) throw new InvalidParameterError('options', 'an object such as { device }', options);
  if (options.device !== undefined) assertDevice('device', options.device);
}

export function checkStepArgs(modelOutput: unknown, timestep: unknown, sample: unknown, options: unknown): StepOptions {
  if (!(modelOutput instanceof Tensor)) throw new InvalidParameterError('modelOutput', 'a Tensor', modelOutput);
  if (!(sample instanceof Tensor)) throw new InvalidParameterError('sample', 'a Tensor', sample);
  assertNumber('timestep', timestep);
  if (options === undefined) return {};
  if (!isPlainObject(options)) throw new InvalidParameterError('options', 'an object such as { generator, eta }', options);
  if (options.generator !== undefined && !(options.generator instanceof Generator))
    throw new InvalidParameterError('generator', 'a Generator from createGenerator()', options.generator);
  return options as StepOptions;
}

export function assertTensor(name: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) throw new InvalidParameterError(name, 'a Tensor', v);
}

/** Integer training timestep for table lookups (alphas_cumprod[t]). */
export function trainIndex(t: number, trainSteps: number, name = 'timestep'): number {
  if (!Number.isInteger(t) || t < 0 || t >= trainSteps) throw new InvalidParameterError(name, `an integer timestep in [0, ${trainSteps - 1}]`, t);
  return t;
}

/** timesteps of addNoise as a list. */
export function timestepList(timesteps: unknown): number[] {
  const list = typeof timesteps === 'number' ? [timesteps] : timesteps;
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => typeof t === 'number' && Number.isFinite(t)))
    throw new InvalidParameterError('timesteps', 'a number or a non-empty array of numbers', timesteps);
  return list;
}

/**
 * Per-batch coefficients shaped [B, 1, ...] to broadcast against `like`, in its
 * dtype and on its device (a plain number when there is a single timestep).
 */
export function batchCoefficient(values: number[], like: Tensor): number | Tensor {
  if (values.length === 1) return values[0]!;
  const shape = [values.length, ...like.shape.slice(1).map(() => 1)];
  return tensor(Float64Array.from(values), shape, { dtype: like.dtype, device: like.device });
}

/** Rounds a coefficient the way torch would hold it in `dtype` (float32 → fround). */
export const inDtype = (dtype: DType, x: number): number => (dtype === 'float32' ? f32(x) : x);

/** forward diffusion for ᾱ-based schedulers: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε, computed in the sample's dtype as diffusers does. */
export function addNoiseAlphas(alphasCumprod: number[], original: Tensor, noise: Tensor, timesteps: unknown): Tensor {
  assertTensor('original', original);
  assertTensor('noise', noise);
  const ts = timestepList(timesteps).map((t) => trainIndex(t, alphasCumprod.length, 'timesteps'));
  const dt = original.dtype;
  return tidy(() => {
    const a = batchCoefficient(ts.map((t) => inDtype(dt, Math.sqrt(inDtype(dt, alphasCumprod[t]!)))), original);
    const b = batchCoefficient(ts.map((t) => inDtype(dt, Math.sqrt(inDtype(dt, 1 - inDtype(dt, alphasCumprod[t]!))))), original);
    return mulScalar(original, a).add(mulScalar(noise, b));
  });
}

const mulScalar = (t: Tensor, c: number | Tensor): Tensor => (typeof c === 'number' ? t.mul(c) : c.mul(t));

// ---------------------------------------------------------------------------
// Model output conversions (prediction_type).

/**
 * x̂0 from the model output where x_t = α x0 + σ ε (α = sqrt(ᾱ_t) and σ = sqrt(1 - ᾱ_t),
 * or DPM-Solver's α_t, σ_t). For 'sample' it is the model output itself (not a copy).
 */
export function predictOriginalSample(predictionType: string, modelOutput: Tensor, sample: Tensor, alpha: number, sigma: number): Tensor {
  if (predictionType === 'epsilon') return sample.sub(modelOutput.mul(sigma)).div(alpha);
  if (predictionType === 'sample') return modelOutput;
  return sample.mul(alpha).sub(modelOutput.mul(sigma));
}

/** ε̂ from the model output where x_t = α x0 + σ ε. For 'epsilon' it is the model output itself (not a copy). */
export function predictEpsilon(predictionType: string, modelOutput: Tensor, sample: Tensor, alpha: number, sigma: number): Tensor {
  if (predictionType === 'epsilon') return modelOutput;
  if (predictionType === 'sample') return sample.sub(modelOutput.mul(alpha)).div(sigma);
  return modelOutput.mul(alpha).add(sample.mul(sigma));
}

/**
 * x̂0 of the Karras-sigma (Euler-family) schedulers, where x = x0 + σ ε and the
 * model sees x / sqrt(σ² + 1). For 'sample' it is the model output itself (not a copy).
 */
export function sigmaPredictOriginalSample(predictionType: string, modelOutput: Tensor, sample: Tensor, sigma: number): Tensor {
  if (predictionType === 'epsilon') return sample.sub(modelOutput.mul(sigma));
  if (predictionType === 'sample') return modelOutput;
  const s2p1 = f32(f32(sigma * sigma) + 1);
  return modelOutput.mul(f32(-sigma / sqrt32(s2p1))).add(sample.div(s2p1));
}

// ---------------------------------------------------------------------------
// Step-index bookkeeping of the sigma-based schedulers.

/** diffusers' index_for_timestep: the match's position (the second one when the timestep repeats). */
export function indexForTimestep(timesteps: number[], t: number): number | undefined {
  const t32 = f32(t);
  const hits: number[] = [];
  for (let i = 0; i < timesteps.length && hits.length < 2; i++) if (timesteps[i] === t || timesteps[i] === t32) hits.push(i);
  return hits.length > 1 ? hits[1] : hits[0];
}

export function requireTimestepIndex(timesteps: number[], t: number): number {
  const i = indexForTimestep(timesteps, t);
  if (i === undefined) throw new InvalidParameterError('timestep', 'one of scheduler.timesteps', t);
  return i;
}

// ---------------------------------------------------------------------------
// Noise.


/**
 * `base + coef * noise` (then cast to `outDtype`), with noise drawn like
 * diffusers' randn_tensor(shape, generator, device, dtype): on the generator's
 * device (or the sample's without a generator), then moved. Synchronous unless
 * the generator lives on another device than `base`. Takes ownership of `base`.
 */
export function withNoise(
  base: Tensor,
  coef: number,
  noiseDtype: DType,
  generator: Generator | undefined,
  outDtype: DType = base.dtype,
): Tensor | Promise<Tensor> {
  const device = base.device;
  if (generator !== undefined && !sameDevice(generator.device, device)) {
    if (generator.device !== 'cpu') {
      base.dispose();
      throw new InvalidParameterError('generator', `a generator on 'cpu' or on the sample's device '${device}'`, `a generator on '${generator.device}'`);
    }
    // Drawn now, so the generator advances in step order; moved asynchronously.
    const drawn = keep(randn(base.shape, { generator, dtype: noiseDtype }));
    keep(base);
    return (async () => {
      try {
        const moved = await drawn.to({ device });
        try {
          return combine(base, coef, moved, outDtype);
        } finally {
          moved.dispose();
        }
      } finally {
        drawn.dispose();
        base.dispose();
      }
    })();
  }
  try {
    return tidy(() => combine(base, coef, randn(base.shape, { generator, dtype: noiseDtype, device: generator ? undefined : device }), outDtype));
  } finally {
    base.dispose();
  }
}

function combine(base: Tensor, coef: number, noise: Tensor, outDtype: DType): Tensor {
  return tidy(() => {
    const out = base.add(noise.mul(coef));
    return out.dtype === outDtype ? out : out.astype(outDtype);
  });
}

/** Builds the step output, resolving an asynchronous prevSample when there is one. */
export function stepOutput(prev: Tensor | Promise<Tensor>, extra: Omit<SchedulerOutput, 'prevSample'> = {}): SchedulerOutput | Promise<SchedulerOutput> {
  if (prev instanceof Promise) return prev.then((prevSample) => ({ prevSample, ...extra }));
  return { prevSample: prev, ...extra };
}

/** Casts when needed (keeps the tensor itself when the dtype already matches). */
export const castTo = (t: Tensor, dtype: DType): Tensor => (t.dtype === dtype ? t : t.astype(dtype));

/** Disposes a stored tensor if present. */
export function disposeAll(tensors: (Tensor | null | undefined)[]): void {
  const seen = new Set<Tensor>();
  for (const t of tensors) if (t && !seen.has(t)) {
    seen.add(t);
    t.dispose();
  }
}
