/**
 * EulerAncestralDiscreteScheduler: Euler steps with ancestral sampling (k-diffusion's
 * sample_euler_ancestral), numerically as diffusers' scheduling_euler_ancestral_discrete.py.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { eulerAlphasCumprod, eulerTimesteps, sigmaAddNoise } from './euler-discrete';
import {
  assertSteps,
  assertTensor,
  betaSpec,
  castTo,
  checkSetTimestepsOptions,
  checkStepArgs,
  f32,
  interpIndex,
  rejectUnsupported,
  requireTimestepIndex,
  type Scheduler,
  type SchedulerOutput,
  type SetTimestepsOptions,
  sigmasFromAlphasCumprod,
  sqrt32,
  stepOutput,
  type StepOptions,
  TIMESTEP_SPACINGS,
  withNoise,
} from './scheduling-utils';

export const EULER_ANCESTRAL_CONFIG_SPEC = {
  ...betaSpec(),
  prediction_type: cfg.oneOf('epsilon', ['epsilon', 'v_prediction', 'sample'] as const),
  timestep_spacing: cfg.oneOf('linspace', TIMESTEP_SPACINGS),
  steps_offset: cfg.int(0, 0),
  rescale_betas_zero_snr: cfg.bool(false),
};
export type EulerAncestralDiscreteSchedulerConfig = ConfigOf<typeof EULER_ANCESTRAL_CONFIG_SPEC>;

export class EulerAncestralDiscreteScheduler implements Scheduler {
  readonly className = 'EulerAncestralDiscreteScheduler';
  readonly order = 1;
  readonly config: EulerAncestralDiscreteSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  timesteps: number[];
  sigmas: number[];
  numInferenceSteps: number | null = null;
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  private readonly trainSigmas: number[];

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, EULER_ANCESTRAL_CONFIG_SPEC);
    rejectUnsupported(c, [['prediction_type', (v) => v !== 'sample', "'epsilon' or 'v_prediction' (diffusers does not implement 'sample' here)"]]);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = eulerAlphasCumprod(c);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    this.sigmas = [...this.trainSigmas].reverse().concat([0]);
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.config.timestep_spacing === 'leading' ? sqrt32(f32(f32(max * max) + 1)) : max;
  }

  setBeginIndex(beginIndex = 0): void {
    this.beginIndex = beginIndex;
  }
  get currentStepIndex(): number | null {
    return this.stepIndex;
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    const c = this.config;
    assertSteps(numInferenceSteps, c.num_train_timesteps);
    checkSetTimestepsOptions(options);
    this.timesteps = eulerTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset);
    this.sigmas = [...this.timesteps.map((t) => interpIndex(t, this.trainSigmas)), 0].map(f32);
    this.numInferenceSteps = numInferenceSteps;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  private initStepIndex(timestep: number): number {
    this.stepIndex = this.beginIndex ?? requireTimestepIndex(this.timesteps, timestep);
    return this.stepIndex;
  }

  scaleModelInput(sample: Tensor, timestep: number): Tensor {
    assertTensor('sample', sample);
    const i = this.stepIndex ?? this.initStepIndex(timestep);
    const s = this.sigmas[i]!;
    return sample.div(sqrt32(f32(f32(s * s) + 1)));
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    const i = this.stepIndex ?? this.initStepIndex(timestep);
    if (i + 1 >= this.sigmas.length) throw new InvalidParameterError('step', 'no more calls than scheduler.timesteps has entries (call setTimesteps to restart)');
    const sigma = this.sigmas[i]!;
    const sigmaTo = this.sigmas[i + 1]!;
    const s2 = f32(sigma * sigma);
    const t2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = sqrt32(f32(f32(t2 * f32(s2 - t2)) / s2));
    const sigmaDown = sqrt32(f32(t2 - f32(sigmaUp * sigmaUp)));
    const dt = f32(sigmaDown - sigma);
    const pt = this.config.prediction_type;
    const [det, x0] = tidy(() => {
      const x = castTo(sample, 'float32');
      const pred =
        pt === 'epsilon'
          ? x.sub(modelOutput.mul(sigma))
          : modelOutput.mul(f32(-sigma / sqrt32(f32(s2 + 1)))).add(x.div(f32(s2 + 1)));
      const derivative = x.sub(pred).div(sigma);
      return [x.add(derivative.mul(dt)), pred] as const;
    });
    this.stepIndex = i + 1;
    // Noise in the model output's dtype, on the generator's device (randn_tensor), then cast back.
    return stepOutput(withNoise(det, sigmaUp, modelOutput.dtype, opts.generator, modelOutput.dtype), { predOriginalSample: x0 });
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return sigmaAddNoise({ timesteps: this.timesteps, sigmas: this.sigmas, _stepIndex: this.stepIndex, _beginIndex: this.beginIndex }, original, noise, timesteps);
  }

  dispose(): void {}
}
