/**
 * LCMScheduler (Latent Consistency Models, Luo et al., arXiv 2310.04378),
 * numerically as diffusers' scheduling_lcm.py. Each step predicts the clean
 * sample (`denoised`) and, except on the last step, re-noises it to the next
 * timestep with fresh noise.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { assertInteger } from '../validate';
import { addNoiseAlphas, checkSetTimestepsOptions, checkStepArgs, predictOriginalSample, stepOutput, trainIndex, withNoise } from './sampling-helpers';
import { makeAlphasCumprod, npLinspace, trainingTimesteps } from './schedule-tables';
import { betaSpec, f32, notThresholding, PREDICTION_TYPES, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, sqrt32, type StepOptions, TIMESTEP_SPACINGS } from './scheduling-utils';
import { StepIndexScheduler } from './step-index-scheduler';

export const LCM_CONFIG_SPEC = {
  ...betaSpec({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' }),
  original_inference_steps: cfg.int(50, 1),
  clip_sample: cfg.bool(false),
  clip_sample_range: cfg.number(1.0, 0, Infinity, true),
  set_alpha_to_one: cfg.bool(true),
  steps_offset: cfg.int(0, 0),
  prediction_type: cfg.oneOf('epsilon', PREDICTION_TYPES),
  thresholding: cfg.bool(false),
  dynamic_thresholding_ratio: cfg.number(0.995, 0, 1),
  sample_max_value: cfg.number(1.0, 0),
  // Unused by LCM's set_timesteps (kept for config compatibility, as in diffusers).
  timestep_spacing: cfg.oneOf('leading', TIMESTEP_SPACINGS),
  timestep_scaling: cfg.number(10.0),
  rescale_betas_zero_snr: cfg.bool(false),
};
export type LCMSchedulerConfig = ConfigOf<typeof LCM_CONFIG_SPEC>;

export interface LCMSetTimestepsOptions extends SetTimestepsOptions {
  /** Overrides config.original_inference_steps (the LCM training schedule length). */
  originalInferenceSteps?: number;
  /** img2img strength in (0, 1]; default 1. */
  strength?: number;
}

export class LCMScheduler extends StepIndexScheduler implements Scheduler {
  readonly className = 'LCMScheduler';
  readonly order = 1;
  readonly config: LCMSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  readonly finalAlphaCumprod: number;
  readonly initNoiseSigma = 1.0;
  timesteps: number[];
  numInferenceSteps: number | null = null;

  constructor(config: unknown = {}) {
    super();
    const { config: c, ignored } = resolveConfig(config, LCM_CONFIG_SPEC);
    rejectUnsupported(c, [notThresholding]);
    if (c.original_inference_steps > c.num_train_timesteps)
      throw new InvalidParameterError('original_inference_steps', `at most num_train_timesteps (${c.num_train_timesteps})`, c.original_inference_steps);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = makeAlphasCumprod(c);
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1.0 : this.alphasCumprod[0]!;
    this.timesteps = trainingTimesteps(c.num_train_timesteps);
  }

  setTimesteps(numInferenceSteps: number, options: LCMSetTimestepsOptions = {}): void {
    checkSetTimestepsOptions({ device: options?.device });
    const c = this.config;
    const T = c.num_train_timesteps;
    const originalSteps = options.originalInferenceSteps ?? c.original_inference_steps;
    assertInteger('originalInferenceSteps', originalSteps, 1, T);
    const strength = options.strength ?? 1.0;
    if (typeof strength !== 'number' || !(strength > 0 && strength <= 1)) throw new InvalidParameterError('strength', 'a number in (0, 1]', strength);
    const available = Math.trunc(originalSteps * strength);
    assertInteger('numInferenceSteps', numInferenceSteps, 1, T);
    if (numInferenceSteps > available)
      throw new InvalidParameterError(
        'numInferenceSteps',
        `at most original_inference_steps x strength = ${available} (LCM picks its steps from that schedule)`,
        numInferenceSteps,
      );
    const k = Math.floor(T / originalSteps);
    // [k-1, 2k-1, ..., available*k - 1], reversed, then evenly spaced picks.
    const origin = Array.from({ length: available }, (_, i) => (available - i) * k - 1);
    const indices = npLinspace(0, origin.length, numInferenceSteps, false).map(Math.floor);
    this.timesteps = indices.map((i) => origin[i]!);
    this.numInferenceSteps = numInferenceSteps;
    this.resetStepIndex();
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    return sample;
  }

  /** c_skip and c_out of the consistency boundary condition (sigma_data = 0.5). */
  scalings(timestep: number): [cSkip: number, cOut: number] {
    const sigmaData = 0.5;
    const scaled = timestep * this.config.timestep_scaling;
    const cSkip = sigmaData ** 2 / (scaled ** 2 + sigmaData ** 2);
    const cOut = scaled / (scaled ** 2 + sigmaData ** 2) ** 0.5;
    return [cSkip, cOut];
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    if (this.numInferenceSteps === null) throw new InvalidParameterError('setTimesteps', 'to be called before step');
    const c = this.config;
    const t = trainIndex(timestep, c.num_train_timesteps);
    const i = this.currentIndex(t);
    const prevT = i + 1 < this.timesteps.length ? this.timesteps[i + 1]! : t;
    const a = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    const [cSkip, cOut] = this.scalings(t);
    const denoised = tidy(() => {
      let x0 = predictOriginalSample(c.prediction_type, modelOutput, sample, sqrt32(a), sqrt32(b));
      if (c.clip_sample) x0 = x0.clamp(-c.clip_sample_range, c.clip_sample_range);
      return x0.mul(cOut).add(sample.mul(cSkip));
    });
    const last = i === this.numInferenceSteps - 1;
    this.stepIndex = i + 1;
    // A copy, so disposing `denoised` never frees the returned sample.
    if (last) return { prevSample: tidy(() => denoised.clone()), denoised, predOriginalSample: denoised };
    const base = tidy(() => denoised.mul(sqrt32(aPrev)));
    return stepOutput(withNoise(base, sqrt32(bPrev), denoised.dtype, opts.generator), { denoised, predOriginalSample: denoised });
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return addNoiseAlphas(this.alphasCumprod, original, noise, timesteps);
  }

  dispose(): void {}
}
