/**
 * EulerDiscreteScheduler (Karras et al., arXiv 2206.00364, Algorithm 2 without
 * churn), numerically as diffusers' scheduling_euler_discrete.py.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { type Tensor, tidy } from '../tensor';
import { EulerFamilyScheduler } from './euler-family-scheduler';
import { castTo, checkStepArgs, sigmaPredictOriginalSample } from './sampling-helpers';
import { karrasSigmas, sigmasToTimesteps, withFinalSigma } from './schedule-tables';
import { betaSpec, f32, PREDICTION_TYPES, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, type StepOptions, TIMESTEP_SPACINGS } from './scheduling-utils';

export const EULER_CONFIG_SPEC = {
  ...betaSpec(),
  prediction_type: cfg.oneOf('epsilon', PREDICTION_TYPES),
  interpolation_type: cfg.oneOf('linear', ['linear', 'log_linear'] as const),
  use_karras_sigmas: cfg.bool(false),
  use_exponential_sigmas: cfg.bool(false),
  use_beta_sigmas: cfg.bool(false),
  sigma_min: cfg.optionalNumber(0, true),
  sigma_max: cfg.optionalNumber(0, true),
  timestep_spacing: cfg.oneOf('linspace', TIMESTEP_SPACINGS),
  timestep_type: cfg.oneOf('discrete', ['discrete', 'continuous'] as const),
  steps_offset: cfg.int(0, 0),
  rescale_betas_zero_snr: cfg.bool(false),
  final_sigmas_type: cfg.oneOf('zero', ['zero', 'sigma_min'] as const),
};
export type EulerDiscreteSchedulerConfig = ConfigOf<typeof EULER_CONFIG_SPEC>;

export class EulerDiscreteScheduler extends EulerFamilyScheduler implements Scheduler {
  readonly className = 'EulerDiscreteScheduler';
  readonly order = 1;
  readonly config: EulerDiscreteSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, EULER_CONFIG_SPEC);
    rejectUnsupported(c, [
      ['interpolation_type', (v) => v === 'linear', "'linear' ('log_linear' is not implemented)"],
      ['use_exponential_sigmas', (v) => v === false, 'false (exponential sigmas are not implemented)'],
      ['use_beta_sigmas', (v) => v === false, 'false (beta sigmas are not implemented)'],
    ]);
    super(c);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    if (this.continuousTimesteps) this.timesteps = continuousTimesteps(this.sigmas);
  }

  /** diffusers: timestep_type 'continuous' applies to v-prediction only (SVD's EDM-style config); other models keep discrete timesteps. */
  private get continuousTimesteps(): boolean {
    return this.config.timestep_type === 'continuous' && this.config.prediction_type === 'v_prediction';
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    const c = this.config;
    const n = numInferenceSteps;
    let { timesteps, sigmas } = this.spacedSchedule(n, options);
    if (c.use_karras_sigmas) {
      sigmas = karrasSigmas(c.sigma_min ?? sigmas[sigmas.length - 1]!, c.sigma_max ?? sigmas[0]!, n);
      timesteps = sigmasToTimesteps(sigmas, this.trainSigmas).map(f32);
    }
    this.sigmas = withFinalSigma(sigmas, c.final_sigmas_type, this.trainSigmas);
    this.timesteps = this.continuousTimesteps ? continuousTimesteps(this.sigmas) : timesteps;
    this.numInferenceSteps = n;
    this.resetStepIndex();
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput {
    checkStepArgs(modelOutput, timestep, sample, options);
    const i = this.sigmaStepIndex(timestep, this.sigmas);
    const sigma = this.sigmas[i]!;
    const dt = f32(this.sigmas[i + 1]! - sigma);
    const out = tidy(() => {
      // diffusers upcasts the sample to float32 (and casts the result back to the model output's dtype).
      const x = castTo(sample, 'float32');
      const x0 = sigmaPredictOriginalSample(this.config.prediction_type, modelOutput, x, sigma);
      const derivative = x.sub(x0).div(sigma);
      const prev = castTo(x.add(derivative.mul(dt)), modelOutput.dtype);
      return { prevSample: prev === sample ? prev.clone() : prev, predOriginalSample: x0 === modelOutput ? x0.clone() : x0 };
    });
    this.stepIndex = i + 1;
    return out;
  }

  /** @internal */
  get _stepIndex(): number | null {
    return this.stepIndex;
  }
  /** @internal */
  get _beginIndex(): number | null {
    return this.beginIndex;
  }
}

/** The timesteps the UNet sees with continuous timesteps: 0.25·log(σ) of each sigma but the final one, float32 as torch computes it. */
function continuousTimesteps(sigmasWithFinal: number[]): number[] {
  return sigmasWithFinal.slice(0, -1).map((s) => f32(0.25 * f32(Math.log(s))));
}
