/** DDPMScheduler (Ho et al., arXiv 2006.11239), numerically as diffusers' scheduling_ddpm.py. */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { type Tensor, tidy } from '../tensor';
import { addNoiseAlphas, checkStepArgs, predictOriginalSample, stepOutput, trainIndex, withNoise } from './sampling-helpers';
import { makeAlphasCumprod, setSpacedTimesteps, trainingTimesteps } from './schedule-tables';
import { BETA_SCHEDULES, betaSpec, f32, notThresholding, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, sqrt32, type StepOptions, TIMESTEP_SPACINGS, x0PredictionSpec } from './scheduling-utils';

const VARIANCE_TYPES = ['fixed_small', 'fixed_small_log', 'fixed_large', 'fixed_large_log', 'learned', 'learned_range'] as const;
const SUPPORTED_VARIANCE_TYPES = ['fixed_small', 'fixed_small_log', 'fixed_large'];

export const DDPM_CONFIG_SPEC = {
  ...betaSpec({}, [...BETA_SCHEDULES, 'sigmoid', 'laplace']),
  variance_type: cfg.oneOf('fixed_small', VARIANCE_TYPES),
  clip_sample: cfg.bool(true),
  ...x0PredictionSpec(),
  timestep_spacing: cfg.oneOf('leading', TIMESTEP_SPACINGS),
  steps_offset: cfg.int(0, 0),
  rescale_betas_zero_snr: cfg.bool(false),
};
export type DDPMSchedulerConfig = ConfigOf<typeof DDPM_CONFIG_SPEC>;

/**
 * Ancestral DDPM sampling: posterior mean of q(x_{t-1} | x_t, x̂0) plus noise
 * with the configured variance. Without setTimesteps it steps the training
 * schedule one timestep at a time, as diffusers does.
 */
export class DDPMScheduler implements Scheduler {
  readonly className = 'DDPMScheduler';
  readonly order = 1;
  readonly config: DDPMSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  readonly initNoiseSigma = 1.0;
  timesteps: number[];
  numInferenceSteps: number | null = null;

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, DDPM_CONFIG_SPEC);
    rejectUnsupported(c, [
      notThresholding,
      ['variance_type', (v) => SUPPORTED_VARIANCE_TYPES.includes(v as string), `one of ${SUPPORTED_VARIANCE_TYPES.map((s) => `'${s}'`).join(', ')} (learned variances are not implemented)`],
    ]);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = makeAlphasCumprod(c);
    this.timesteps = trainingTimesteps(c.num_train_timesteps);
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    this.timesteps = setSpacedTimesteps(this.config, numInferenceSteps, options);
    this.numInferenceSteps = numInferenceSteps;
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    return sample;
  }

  /** The timestep after `t` in the schedule (-1 after the last), or t - 1 on the training schedule. */
  previousTimestep(t: number): number {
    if (this.numInferenceSteps === null) return t - 1;
    const i = this.timesteps.indexOf(t);
    if (i < 0) throw new RangeError(`timestep ${t} is not in scheduler.timesteps`);
    return i === this.timesteps.length - 1 ? -1 : this.timesteps[i + 1]!;
  }

  /** The noise scale of step t as diffusers' _get_variance (standard deviation for 'fixed_small_log', else variance). */
  getVariance(t: number): number {
    const prevT = this.previousTimestep(t);
    const a = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1.0;
    const beta = f32(1 - f32(a / aPrev));
    let variance = f32(f32(f32(1 - aPrev) / f32(1 - a)) * beta);
    variance = Math.max(variance, f32(1e-20));
    switch (this.config.variance_type) {
      case 'fixed_small_log':
        return f32(Math.exp(f32(0.5 * f32(Math.log(variance)))));
      case 'fixed_large':
        return beta;
      default:
        return variance;
    }
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    const c = this.config;
    const t = trainIndex(timestep, c.num_train_timesteps);
    const prevT = this.previousTimestep(t);
    const a = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1.0;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    const curAlpha = f32(a / aPrev);
    const curBeta = f32(1 - curAlpha);
    const sa = sqrt32(a);
    const sb = sqrt32(b);
    const x0Coef = f32(f32(sqrt32(aPrev) * curBeta) / b);
    const xtCoef = f32(f32(sqrt32(curAlpha) * bPrev) / b);
    const [mean, pred] = tidy(() => {
      let x0 = predictOriginalSample(c.prediction_type, modelOutput, sample, sa, sb);
      if (c.clip_sample) x0 = x0.clamp(-c.clip_sample_range, c.clip_sample_range);
      return [x0.mul(x0Coef).add(sample.mul(xtCoef)), x0 === modelOutput ? x0.clone() : x0] as const;
    });
    if (t > 0) {
      const v = this.getVariance(t);
      const std = c.variance_type === 'fixed_small_log' ? v : sqrt32(v);
      return stepOutput(withNoise(mean, std, modelOutput.dtype, opts.generator), { predOriginalSample: pred });
    }
    return { prevSample: mean, predOriginalSample: pred };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return addNoiseAlphas(this.alphasCumprod, original, noise, timesteps);
  }

  dispose(): void {}
}
