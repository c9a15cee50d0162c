/** DDIMScheduler (Song et al., arXiv 2010.02502), numerically as diffusers' scheduling_ddim.py. */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { assertNumber } from '../validate';
import {
  addNoiseAlphas,
  assertSteps,
  betaSpec,
  checkSetTimestepsOptions,
  checkStepArgs,
  f32,
  makeAlphasCumprod,
  notThresholding,
  PREDICTION_TYPES,
  rejectUnsupported,
  type Scheduler,
  type SchedulerOutput,
  type SetTimestepsOptions,
  spacedTimesteps,
  sqrt32,
  stepOutput,
  type StepOptions,
  TIMESTEP_SPACINGS,
  trainIndex,
  withNoise,
} from './scheduling-utils';

export const DDIM_CONFIG_SPEC = {
  ...betaSpec(),
  clip_sample: cfg.bool(true),
  set_alpha_to_one: cfg.bool(true),
  steps_offset: cfg.int(0, 0),
  prediction_type: cfg.oneOf('epsilon', PREDICTION_TYPES),
  thresholding: cfg.bool(false),
  dynamic_thresholding_ratio: cfg.number(0.995, 0, 1),
  clip_sample_range: cfg.number(1.0, 0, Infinity, true),
  sample_max_value: cfg.number(1.0, 0),
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
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    assertSteps(numInferenceSteps, this.config.num_train_timesteps);
    checkSetTimestepsOptions(options);
    this.numInferenceSteps = numInferenceSteps;
    this.timesteps = spacedTimesteps(this.config.timestep_spacing, this.config.num_train_timesteps, numInferenceSteps, this.config.steps_offset);
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
      let x0: Tensor;
      let eps: Tensor;
      if (c.prediction_type === 'epsilon') {
        x0 = sample.sub(modelOutput.mul(sb)).div(sa);
        eps = modelOutput;
      } else if (c.prediction_type === 'sample') {
        x0 = modelOutput;
        eps = sample.sub(x0.mul(sa)).div(sb);
      } else {
        x0 = sample.mul(sa).sub(modelOutput.mul(sb));
        eps = modelOutput.mul(sa).add(sample.mul(sb));
      }
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
