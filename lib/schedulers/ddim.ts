/** DDIMScheduler (Song et al., arXiv 2010.02502), numerically as diffusers' scheduling_ddim.py. */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { assertNumber } from '../validate';
import { addNoiseAlphas, checkStepArgs, predictEpsilon, predictOriginalSample, stepOutput, trainIndex, withNoise } from './sampling-helpers';
import { makeAlphasCumprod, setSpacedTimesteps, trainingTimesteps } from './schedule-tables';
import { betaSpec, f32, notThresholding, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, sqrt32, type StepOptions, TIMESTEP_SPACINGS, x0PredictionSpec } from './scheduling-utils';

export const DDIM_CONFIG_SPEC = {
  ...betaSpec(),
  clip_sample: cfg.bool(true),
  set_alpha_to_one: cfg.bool(true),
  steps_offset: cfg.int(0, 0),
  ...x0PredictionSpec(),
  timestep_spacing: cfg.oneOf('leading', TIMESTEP_SPACINGS),
  rescale_betas_zero_snr: cfg.bool(false),
};
export type DDIMSchedulerConfig = ConfigOf<typeof DDIM_CONFIG_SPEC>;

/**
 * x_{t-1} = sqrt(ᾱ_prev) x̂0 + sqrt(1 - ᾱ_prev - σ²) ε̂ (+ σ z when eta > 0).
 * As in diffusers, the previous timestep is always t - num_train_timesteps // steps.
 */
export class DDIMScheduler implements Scheduler {
  readonly className = 'DDIMScheduler';
  readonly order = 1;
  readonly config: DDIMSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  readonly finalAlphaCumprod: number;
  readonly initNoiseSigma = 1.0;
  timesteps: number[];
  numInferenceSteps: number | null = null;

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, DDIM_CONFIG_SPEC);
    rejectUnsupported(c, [notThresholding]);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = makeAlphasCumprod(c);
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1.0 : this.alphasCumprod[0]!;
    this.timesteps = trainingTimesteps(c.num_train_timesteps);
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    this.timesteps = setSpacedTimesteps(this.config, numInferenceSteps, options);
    this.numInferenceSteps = numInferenceSteps;
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    return sample;
  }

  /** The variance σ_t² of the DDIM paper's eq. 16 for eta = 1 (float32 as diffusers). */
  getVariance(timestep: number, prevTimestep: number): number {
    const a = this.alphasCumprod[timestep]!;
    const aPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep]! : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    return f32(f32(bPrev / b) * f32(1 - f32(a / aPrev)));
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    if (this.numInferenceSteps === null) throw new InvalidParameterError('setTimesteps', 'to be called before step');
    const eta = opts.eta ?? 0;
    assertNumber('eta', eta, 0);
    const c = this.config;
    const t = trainIndex(timestep, c.num_train_timesteps);
    const prevT = t - Math.floor(c.num_train_timesteps / this.numInferenceSteps);
    const a = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const sa = sqrt32(a);
    const sb = sqrt32(b);
    const variance = this.getVariance(t, prevT);
    const std = f32(eta * sqrt32(variance));
    const dirCoef = sqrt32(f32(f32(1 - aPrev) - f32(std * std)));
    const [prev, pred] = tidy(() => {
      let x0 = predictOriginalSample(c.prediction_type, modelOutput, sample, sa, sb);
      const eps = predictEpsilon(c.prediction_type, modelOutput, sample, sa, sb);
      if (c.clip_sample) x0 = x0.clamp(-c.clip_sample_range, c.clip_sample_range);
      // use_clipped_model_output is diffusers' opt-in; the default (false) keeps the model's epsilon.
      const prevSample = x0.mul(sqrt32(aPrev)).add(eps.mul(dirCoef));
      return [prevSample, x0 === modelOutput ? x0.clone() : x0] as const;
    });
    if (eta > 0) return stepOutput(withNoise(prev, std, modelOutput.dtype, opts.generator), { predOriginalSample: pred });
    return { prevSample: prev, predOriginalSample: pred };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return addNoiseAlphas(this.alphasCumprod, original, noise, timesteps);
  }

  dispose(): void {}
}
