/**
 * EulerAncestralDiscreteScheduler: Euler steps with ancestral sampling (k-diffusion's
 * sample_euler_ancestral), numerically as diffusers' scheduling_euler_ancestral_discrete.py.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { type Tensor, tidy } from '../tensor';
import { EulerFamilyScheduler } from './euler-family-scheduler';
import { castTo, checkStepArgs, sigmaPredictOriginalSample, stepOutput, withNoise } from './sampling-helpers';
import { betaSpec, f32, PREDICTION_TYPES, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, sqrt32, type StepOptions, TIMESTEP_SPACINGS } from './scheduling-utils';

export const EULER_ANCESTRAL_CONFIG_SPEC = {
  ...betaSpec(),
  prediction_type: cfg.oneOf('epsilon', PREDICTION_TYPES),
  timestep_spacing: cfg.oneOf('linspace', TIMESTEP_SPACINGS),
  steps_offset: cfg.int(0, 0),
  rescale_betas_zero_snr: cfg.bool(false),
};
export type EulerAncestralDiscreteSchedulerConfig = ConfigOf<typeof EULER_ANCESTRAL_CONFIG_SPEC>;

export class EulerAncestralDiscreteScheduler extends EulerFamilyScheduler implements Scheduler {
  readonly className = 'EulerAncestralDiscreteScheduler';
  readonly order = 1;
  readonly config: EulerAncestralDiscreteSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, EULER_ANCESTRAL_CONFIG_SPEC);
    rejectUnsupported(c, [['prediction_type', (v) => v !== 'sample', "'epsilon' or 'v_prediction' (diffusers does not implement 'sample' here)"]]);
    super(c);
    this.config = c;
    this.ignoredConfigKeys = ignored;
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    const { timesteps, sigmas } = this.spacedSchedule(numInferenceSteps, options);
    this.timesteps = timesteps;
    this.sigmas = [...sigmas, 0].map(f32);
    this.numInferenceSteps = numInferenceSteps;
    this.resetStepIndex();
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    const i = this.sigmaStepIndex(timestep, this.sigmas);
    const sigma = this.sigmas[i]!;
    const sigmaTo = this.sigmas[i + 1]!;
    const s2 = f32(sigma * sigma);
    const t2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = sqrt32(f32(f32(t2 * f32(s2 - t2)) / s2));
    const sigmaDown = sqrt32(f32(t2 - f32(sigmaUp * sigmaUp)));
    const dt = f32(sigmaDown - sigma);
    const [det, x0] = tidy(() => {
      const x = castTo(sample, 'float32');
      const pred = sigmaPredictOriginalSample(this.config.prediction_type, modelOutput, x, sigma);
      const derivative = x.sub(pred).div(sigma);
      return [x.add(derivative.mul(dt)), pred] as const;
    });
    this.stepIndex = i + 1;
    // Noise in the model output's dtype, on the generator's device (randn_tensor), then cast back.
    return stepOutput(withNoise(det, sigmaUp, modelOutput.dtype, opts.generator, modelOutput.dtype), { predOriginalSample: x0 });
  }
}
